//! `features`: what this runtime supports, in the shape of `runc features`.
use serde_json::{Value, json};

/// The JSON `minirun oci features` prints.
pub fn features_json() -> Value {
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    let mut opts: Vec<&str> = super::mounts::KNOWN_OPTIONS.to_vec();
    opts.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": opts,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": false, "v2": false, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "knownFlags": [],
                "supportedFlags": []
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.minirun.version": env!("CARGO_PKG_VERSION")
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_seccomp_caps_and_mount_options() {
        let f = super::features_json();
        assert_eq!(f["linux"]["seccomp"]["enabled"], true);
        let caps = f["linux"]["capabilities"].as_array().unwrap();
        assert!(caps.iter().any(|c| c == "CAP_NET_RAW"));
        let opts = f["mountOptions"].as_array().unwrap();
        assert!(opts.iter().any(|o| o == "rbind") && opts.iter().any(|o| o == "nosuid"));
    }
}
