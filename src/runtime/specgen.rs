//! What `spec [--rootless]` writes: a config.json like `runc spec`, with a Docker-like
//! default seccomp profile.
//!
//! Choices (documented differences from `runc spec`):
//! - `process.terminal` is false (runc: true), so the bundle runs from scripts and
//!   tests without a console socket.
//! - The seccomp profile is a deny list (defaultAction SCMP_ACT_ALLOW, listed syscalls
//!   fail with EPERM) rather than Docker's allow list: a new or unknown syscall keeps
//!   working, while the dangerous ones (keyring, kexec, modules, mount, new user
//!   namespaces, bpf, perf, reboot, clock, swap, …) are denied. clone3 returns ENOSYS
//!   (its flags live in memory seccomp cannot read), so libc falls back to clone, whose
//!   CLONE_NEWUSER flag is filtered.
//! - Rootless (like `runc spec --rootless`): a user namespace mapping the current uid
//!   and gid to 0, no network namespace (the host network stays usable), /sys as a
//!   read-only rbind of the host's, no cgroup mount, devpts without gid=5, no resources.
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxNamespaceType, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg,
    LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall, Spec,
};

/// The syscalls the default profile denies with EPERM.
pub const DENIED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "_sysctl",
    "syslog",
    "umount",
    "umount2",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

fn deny(names: &[&str], errno: u32, args: Option<Vec<LinuxSeccompArg>>) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(LinuxSeccompAction::ScmpActErrno);
    s.set_errno_ret(Some(errno));
    s.set_args(args);
    s
}

/// A Docker-like default profile in deny-list form (see the module doc).
pub fn default_seccomp() -> LinuxSeccomp {
    let newuser = libc::CLONE_NEWUSER as u64;
    let flag = LinuxSeccompArgBuilder::default()
        .index(0usize)
        .value(newuser)
        .value_two(newuser)
        .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
        .build()
        .expect("all fields set");
    let eperm = libc::EPERM as u32;
    let mut s = LinuxSeccomp::default();
    s.set_default_action(LinuxSeccompAction::ScmpActAllow);
    s.set_architectures(Some(vec![
        oci_spec::runtime::Arch::ScmpArchX86_64,
        oci_spec::runtime::Arch::ScmpArchX86,
        oci_spec::runtime::Arch::ScmpArchX32,
    ]));
    s.set_syscalls(Some(vec![
        deny(DENIED_SYSCALLS, eperm, None),
        // New user namespaces: unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER, …)
        // (flags are argument 0 of both on x86).
        deny(&["unshare", "clone"], eperm, Some(vec![flag])),
        deny(&["clone3"], libc::ENOSYS as u32, None),
    ]));
    s
}

/// runc's default capability set (`runc spec`): bounding, effective and permitted.
fn default_caps() -> LinuxCapabilities {
    let set: oci_spec::runtime::Capabilities =
        [Capability::AuditWrite, Capability::Kill, Capability::NetBindService].into_iter().collect();
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    c.set_effective(Some(set.clone()));
    c.set_permitted(Some(set));
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

/// The config.json `spec [--rootless]` writes (see the module doc for the choices).
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("minirun".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(false));
        p.set_capabilities(Some(default_caps()));
        p.set_no_new_privileges(Some(true));
        p.set_env(Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "TERM=xterm".into(),
        ]));
    }
    if rootless && let Some(m) = spec.mounts_mut() {
        m.retain(|m| m.typ().as_deref() != Some("cgroup"));
    }
    if let Some(l) = spec.linux_mut() {
        l.set_seccomp(Some(default_seccomp()));
        if !rootless {
            // A network namespace keeps the container off the host's interfaces.
            debug_assert!(
                l.namespaces().as_ref().is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Network))
            );
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_spec_maps_the_caller_and_binds_sys() {
        let s = default_spec(true);
        let l = s.linux().as_ref().unwrap();
        let ns: Vec<_> = l.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        assert!(ns.contains(&LinuxNamespaceType::User));
        assert!(!ns.contains(&LinuxNamespaceType::Network));
        let m = &l.uid_mappings().as_ref().unwrap()[0];
        assert_eq!((m.container_id(), m.host_id(), m.size()), (0, nix::unistd::getuid().as_raw(), 1));
        let sys = s.mounts().as_ref().unwrap().iter().find(|m| m.destination().to_str() == Some("/sys")).unwrap();
        assert!(sys.options().as_ref().unwrap().contains(&"rbind".to_string()));
        assert!(!s.mounts().as_ref().unwrap().iter().any(|m| m.typ().as_deref() == Some("cgroup")));
        assert_eq!(s.hostname().as_deref(), Some("minirun"));
    }

    #[test]
    fn seccomp_profile_builds_and_round_trips() {
        let s = default_spec(false);
        let json = serde_json::to_string(&s).unwrap();
        let back: Spec = serde_json::from_str(&json).unwrap();
        let sc = back.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        assert!(json.contains("\"keyctl\""));
        crate::runtime::seccomp::build(sc, true).unwrap();
    }
}
