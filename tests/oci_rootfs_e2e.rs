//! End-to-end tests of the rootfs and process-security stages through `minirun oci run`,
//! on bundles made from the busybox fixture rootfs with `minirun oci spec`, as root and
//! as the unprivileged test user.
mod common;
mod oci_support;

use common::Env;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn bundle(env: &Env, name: &str) -> PathBuf {
    oci_support::spec_bundle(env, name)
}

fn edit(dir: &Path, f: impl FnOnce(&mut Value)) {
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn set_args(dir: &Path, script: &str) {
    edit(dir, |v| v["process"]["args"] = json!(["sh", "-c", script]));
}

/// `oci run` the bundle and return (exit code, stdout, stderr).
fn run(env: &Env, dir: &Path, id: &str) -> (i32, String, String) {
    let o = env.run(&["oci", "run", "--bundle", dir.to_str().unwrap(), id]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn run_ok(env: &Env, dir: &Path, id: &str) -> String {
    let (code, out, err) = run(env, dir, id);
    assert_eq!(code, 0, "[{}] run failed:\nstdout: {out}\nstderr: {err}", env.label());
    out
}

fn status_field(out: &str, key: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap_or_else(|| panic!("{key} in {out}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

const CAP_NET_RAW: u64 = 1 << 13;

#[test]
fn default_spec_runs_with_mounts_devices_masks_and_limits() {
    for env in Env::both() {
        let dir = bundle(&env, "b");
        set_args(
            &dir,
            "id -u; hostname; ulimit -n; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; \
             test -c /dev/null && test -c /dev/urandom && test -L /dev/ptmx && test -e /dev/pts/ptmx && echo devs-ok; \
             test -z \"$(cat /proc/timer_list)\" && echo masked-ok; \
             echo x > /proc/sys/kernel/hostname 2>/dev/null || echo procsys-ro; \
             touch /rootfile 2>/dev/null || echo root-ro; \
             grep -q ' /dev/mqueue ' /proc/self/mountinfo && echo mqueue-ok; \
             test -d /sys/class && echo sys-ok",
        );
        let out = run_ok(&env, &dir, "c1");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(&lines[..3], &["0", "minirun", "1024"], "[{}] {out}", env.label());
        assert_eq!(status_field(&out, "CapEff") & CAP_NET_RAW, 0, "[{}] NET_RAW effective", env.label());
        assert_eq!(status_field(&out, "CapBnd") & CAP_NET_RAW, 0);
        assert_eq!(status_field(&out, "NoNewPrivs"), 1);
        assert_eq!(status_field(&out, "Seccomp"), 2);
        for want in ["devs-ok", "masked-ok", "procsys-ro", "root-ro", "mqueue-ok", "sys-ok"] {
            assert!(out.contains(want), "[{}] missing {want} in:\n{out}", env.label());
        }
    }
}

#[test]
fn capabilities_are_dropped_as_configured() {
    for env in Env::both() {
        let dir = bundle(&env, "caps");
        set_args(&dir, "grep -E '^(CapEff|CapBnd):' /proc/self/status");
        let with = ["CAP_NET_RAW", "CAP_KILL"];
        edit(&dir, |v| {
            for set in ["bounding", "effective", "permitted"] {
                v["process"]["capabilities"][set] = json!(with);
            }
        });
        let out = run_ok(&env, &dir, "c2");
        assert_ne!(status_field(&out, "CapEff") & CAP_NET_RAW, 0, "[{}] NET_RAW not granted", env.label());
        edit(&dir, |v| {
            for set in ["bounding", "effective", "permitted"] {
                v["process"]["capabilities"][set] = json!(["CAP_KILL"]);
            }
        });
        let out = run_ok(&env, &dir, "c3");
        assert_eq!(status_field(&out, "CapEff") & CAP_NET_RAW, 0, "[{}] NET_RAW kept", env.label());
        assert_eq!(status_field(&out, "CapBnd") & CAP_NET_RAW, 0);
    }
}

/// The default profile denies mount(2) even with CAP_SYS_ADMIN, and new user
/// namespaces; without the profile, the same mount works.
#[test]
fn seccomp_profile_denies_syscalls() {
    for env in Env::both() {
        let dir = bundle(&env, "sc");
        set_args(&dir, "mount -t tmpfs none /tmp && echo mounted; unshare -U true && echo userns");
        edit(&dir, |v| {
            for set in ["bounding", "effective", "permitted"] {
                v["process"]["capabilities"][set] = json!(["CAP_SYS_ADMIN"]);
            }
        });
        let (_, out, err) = run(&env, &dir, "s1");
        assert!(!out.contains("mounted") && !out.contains("userns"), "[{}] not denied: {out}", env.label());
        assert!(err.contains("Operation not permitted") || err.contains("permission"), "[{}] {err}", env.label());
        edit(&dir, |v| v["linux"].as_object_mut().unwrap().remove("seccomp").map(drop).unwrap_or(()));
        let (_, out, err) = run(&env, &dir, "s2");
        assert!(out.contains("mounted"), "[{}] mount without seccomp failed: {out} {err}", env.label());
    }
}

#[test]
fn rlimits_and_user_switch() {
    for env in Env::both() {
        let dir = bundle(&env, "rl");
        set_args(&dir, "ulimit -n; id -u; id -g; id -G");
        edit(&dir, |v| {
            v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100}]);
            if !env.rootless {
                v["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
            }
        });
        let out = run_ok(&env, &dir, "r1");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "100", "[{}] {out}", env.label());
        if env.rootless {
            assert_eq!(&lines[1..3], &["0", "0"]);
        } else {
            assert_eq!(&lines[1..4], &["1000", "1000", "1000 10"], "{out}");
        }
    }
}

/// Binds: ro, nosuid/noexec, relative sources, file binds; destinations behind
/// symlinks in the image land inside the rootfs; /dev and /proc symlinked to host dirs
/// get nothing created or mounted on the host.
#[test]
fn bind_mounts_and_hostile_symlinks_stay_inside() {
    for env in Env::both() {
        let dir = bundle(&env, "bind");
        let host = env.scratch("hostdir");
        for d in ["dev", "proc", "data"] {
            std::fs::create_dir_all(host.join(d)).unwrap();
        }
        let r = dir.join("rootfs");
        std::fs::remove_dir(r.join("dev")).unwrap();
        std::fs::remove_dir(r.join("proc")).unwrap();
        for (name, target) in [("dev", host.join("dev")), ("proc", host.join("proc")), ("data", host.join("data"))] {
            std::os::unix::fs::symlink(&target, r.join(name)).unwrap();
            let _ = std::os::unix::fs::lchown(r.join(name), Some(env.uid), Some(env.gid));
        }
        std::os::unix::fs::symlink("../../../../../../etc", r.join("up")).unwrap();
        let _ = std::os::unix::fs::lchown(r.join("up"), Some(env.uid), Some(env.gid));
        std::fs::create_dir(dir.join("vol")).unwrap();
        std::fs::write(dir.join("vol/hello"), "hi\n").unwrap();
        std::fs::write(dir.join("one"), "file\n").unwrap();
        std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", env.uid, env.gid))
            .arg(&dir)
            .status()
            .unwrap();
        let etc_before: Vec<_> = std::fs::read_dir("/etc").unwrap().map(|e| e.unwrap().file_name()).collect();
        set_args(
            &dir,
            "cat /data/v/hello /up/minirun-vol/hello /one; touch /data/v/new 2>/dev/null || echo ro-ok; \
             touch /rw/new && echo rw-ok; grep -E ' /rw ' /proc/self/mountinfo | grep -q nosuid && echo nosuid-ok; \
             test -c /dev/null && test -e /proc/self && echo devproc-ok",
        );
        edit(&dir, |v| {
            let m = v["mounts"].as_array_mut().unwrap();
            m.push(json!({"destination": "/data/v", "type": "bind", "source": "vol", "options": ["rbind", "ro"]}));
            m.push(json!({"destination": "/up/minirun-vol", "type": "bind", "source": "vol", "options": ["bind"]}));
            m.push(
                json!({"destination": "/rw", "type": "bind", "source": "vol", "options": ["bind", "nosuid", "noexec"]}),
            );
            m.push(json!({"destination": "/one", "type": "bind", "source": "one", "options": ["bind", "ro"]}));
        });
        let out = run_ok(&env, &dir, "b1");
        assert_eq!(out.lines().take(3).collect::<Vec<_>>(), vec!["hi", "hi", "file"], "[{}] {out}", env.label());
        for want in ["ro-ok", "rw-ok", "nosuid-ok", "devproc-ok"] {
            assert!(out.contains(want), "[{}] missing {want} in:\n{out}", env.label());
        }
        for d in ["dev", "proc", "data"] {
            let n = std::fs::read_dir(host.join(d)).unwrap().count();
            assert_eq!(n, 0, "[{}] created in host {d}", env.label());
        }
        let etc_after: Vec<_> = std::fs::read_dir("/etc").unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(etc_before, etc_after, "host /etc changed");
        assert!(common::mounts_under(&host).is_empty());
        assert!(dir.join("vol/new").exists(), "[{}] rw bind did not write through", env.label());
    }
}

#[test]
fn mount_failure_is_reported_with_stage_and_path() {
    for env in Env::both() {
        let dir = bundle(&env, "err");
        edit(&dir, |v| {
            v["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data", "type": "bind", "source": "/nonexistent-minirun", "options": ["bind"]
            }));
        });
        let (code, _, err) = run(&env, &dir, "e1");
        assert_ne!(code, 0);
        assert!(err.contains("/nonexistent-minirun") && err.contains("no such file"), "[{}] {err}", env.label());
    }
}

/// linux.devices: created with mknod as root, bound from the host rootless, nested
/// paths included.
#[test]
fn config_devices_are_created() {
    for env in Env::both() {
        let dir = bundle(&env, "dev");
        set_args(&dir, "stat -c '%F %t:%T %a' /dev/fuse /dev/net/tun");
        edit(&dir, |v| {
            v["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 384, "uid": 0, "gid": 0}
            ]);
        });
        let out = run_ok(&env, &dir, "d1");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            vec!["character special file a:e5 666", "character special file a:c8 600"],
            "[{}]",
            env.label()
        );
    }
}
