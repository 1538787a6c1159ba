//! Library-level tests of the process-security stage (apply_container_settings,
//! finalize_process) in forked children, as root and rootless.
mod common;
#[macro_use]
mod rootfs_support;

use minirun::runtime::security::{apply_container_settings, finalize_process};
use minirun::runtime::specgen::default_spec;
use nix::sched::CloneFlags;
use rootfs_support::*;

/// finalize_process as root: user switch, groups, capabilities (CAP_NET_RAW gone),
/// no_new_privs, rlimits, and the default seccomp profile denying keyctl, mount and new
/// user namespaces.
#[test]
fn finalize_process_switches_user_and_drops_privileges() {
    let mut spec = default_spec(false);
    let mut p = spec.process().clone().unwrap();
    let proc_json = serde_json::json!({
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 63},
        "cwd": "/",
        "args": ["sh"],
        "noNewPrivileges": true,
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}],
        "capabilities": {
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        }
    });
    p = serde_json::from_value(proc_json).unwrap_or(p);
    spec.set_process(Some(p.clone()));
    in_child(|_| {
        unshare(CloneFlags::CLONE_NEWUTS)?;
        apply_container_settings(&spec).map_err(|e| format!("apply_container_settings: {e}"))?;
        finalize_process(&p).map_err(|e| format!("finalize_process: {e}"))?;
        ensure!(nix::unistd::getresuid().unwrap().effective.as_raw() == 1000, "uid not 1000");
        ensure!(nix::unistd::getresgid().unwrap().saved.as_raw() == 1000, "gid not 1000");
        let groups: Vec<u32> = nix::unistd::getgroups().unwrap().iter().map(|g| g.as_raw()).collect();
        ensure!(groups == vec![10, 20], "groups {groups:?}");
        use caps::Capability::*;
        let eff = cap_mask(&[CAP_KILL, CAP_NET_BIND_SERVICE]);
        ensure!(proc_status("CapEff") == eff, "CapEff {} != {eff}", proc_status("CapEff"));
        ensure!(proc_status("CapPrm") == eff, "CapPrm {}", proc_status("CapPrm"));
        let bnd = cap_mask(&[CAP_KILL, CAP_NET_BIND_SERVICE, CAP_CHOWN]);
        ensure!(proc_status("CapBnd") == bnd, "CapBnd {}", proc_status("CapBnd"));
        ensure!(proc_status("CapAmb") == cap_mask(&[CAP_KILL]), "CapAmb {}", proc_status("CapAmb"));
        ensure!(!caps::has_cap(None, caps::CapSet::Bounding, CAP_NET_RAW).unwrap(), "CAP_NET_RAW kept");
        ensure!(proc_status("NoNewPrivs") == "1", "no_new_privs not set");
        ensure!(proc_status("Seccomp") == "2", "no seccomp filter");
        let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        ensure!((soft, hard) == (256, 512), "RLIMIT_NOFILE {soft}/{hard}");
        ensure!(nix::unistd::gethostname().unwrap() == "minirun", "hostname not set");
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        ensure!(old.bits() == 0o077, "umask {:o}", old.bits());
        // SAFETY: raw syscalls with integer arguments that the filter must refuse.
        let r = unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) };
        ensure!(r == -1 && nix::errno::Errno::last() == nix::errno::Errno::EPERM, "keyctl not denied");
        let r = unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) };
        ensure!(r == -1 && nix::errno::Errno::last() == nix::errno::Errno::EPERM, "unshare(NEWUSER) not denied");
        let e = nix::mount::mount(Some("none"), "/tmp", Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>);
        ensure!(e == Err(nix::errno::Errno::EPERM), "mount not denied: {e:?}");
        // Still allowed: an ordinary unshare of a namespace the caps would refuse anyway.
        ensure!(std::fs::read_to_string("/proc/self/status").is_ok(), "open denied");
        Ok(())
    })
    .unwrap();
}

/// Rootless: the single mapped id stays 0, setgroups is denied (empty list skipped),
/// and the bounding set is still reduced.
#[test]
fn finalize_process_rootless_single_id() {
    let spec = default_spec(true);
    let p = spec.process().clone().unwrap();
    in_child(|_| {
        become_rootless(CloneFlags::CLONE_NEWUTS)?;
        apply_container_settings(&spec).map_err(|e| format!("apply_container_settings: {e}"))?;
        finalize_process(&p).map_err(|e| format!("finalize_process: {e}"))?;
        ensure!(nix::unistd::getuid().as_raw() == 0, "uid changed");
        ensure!(!caps::has_cap(None, caps::CapSet::Bounding, caps::Capability::CAP_NET_RAW).unwrap(), "NET_RAW");
        ensure!(proc_status("Seccomp") == "2", "no seccomp filter");
        let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        ensure!(soft == 1024, "RLIMIT_NOFILE {soft}");
        Ok(())
    })
    .unwrap();
}

/// An rlimit the caller may not raise fails naming the limit.
#[test]
fn rlimit_error_names_the_limit() {
    let mut spec = default_spec(true);
    let p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": u32::MAX, "soft": u32::MAX}]
    }))
    .unwrap();
    spec.set_process(Some(p));
    spec.set_hostname(None);
    in_child(|_| {
        become_rootless(CloneFlags::empty())?;
        let e = apply_container_settings(&spec).expect_err("raising NOFILE above the hard limit must fail");
        ensure!(e.to_string().contains("RLIMIT_NOFILE"), "error does not name the limit: {e}");
        Ok(())
    })
    .unwrap();
}

/// Without noNewPrivileges the filter is loaded before the privileges are dropped
/// (loading needs CAP_SYS_ADMIN then) and no_new_privs stays off.
#[test]
fn seccomp_without_no_new_privileges() {
    let mut spec = default_spec(false);
    let mut p = spec.process().clone().unwrap();
    p.set_no_new_privileges(Some(false));
    let mut u = p.user().clone();
    u.set_uid(1000);
    u.set_gid(1000);
    p.set_user(u);
    spec.set_process(Some(p.clone()));
    in_child(|_| {
        unshare(CloneFlags::CLONE_NEWUTS)?;
        apply_container_settings(&spec).map_err(|e| format!("apply_container_settings: {e}"))?;
        finalize_process(&p).map_err(|e| format!("finalize_process: {e}"))?;
        ensure!(proc_status("NoNewPrivs") == "0", "no_new_privs set");
        ensure!(proc_status("Seccomp") == "2", "no seccomp filter");
        ensure!(nix::unistd::getuid().as_raw() == 1000, "uid");
        // SAFETY: a raw syscall the filter must refuse.
        let r = unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) };
        ensure!(r == -1 && nix::errno::Errno::last() == nix::errno::Errno::EPERM, "keyctl not denied");
        Ok(())
    })
    .unwrap();
}
