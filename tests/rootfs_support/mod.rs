//! Helpers shared by the rootfs_* tests: run a check in a forked child (in new
//! namespaces, optionally as the test user inside its own user namespace).
#![allow(dead_code)]

use nix::sched::CloneFlags;
use std::io::Read;
use std::os::fd::OwnedFd;

/// A check's verdict: the error text says what was wrong.
pub type Check = Result<(), String>;

/// Return an error made of the message when the condition is false.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Run `f` in a forked child; its error text comes back through a pipe.
pub fn in_child(f: impl FnOnce(&OwnedFd) -> Check) -> Check {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only runs `f` and exits; glibc keeps malloc usable after fork.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&w)))
                .unwrap_or_else(|_| Err("child panicked".into()));
            let code = match res {
                Ok(()) => 0,
                Err(e) => {
                    let _ = nix::unistd::write(&w, e.as_bytes());
                    1
                }
            };
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut msg = String::new();
            std::fs::File::from(r).read_to_string(&mut msg).unwrap();
            let st = nix::sys::wait::waitpid(child, None).unwrap();
            match st {
                nix::sys::wait::WaitStatus::Exited(_, 0) if msg.is_empty() => Ok(()),
                st => Err(format!("child {st:?}: {msg}")),
            }
        }
    }
}

/// Fork again (after unsharing a pid namespace the grandchild is its pid 1) and pass the
/// grandchild's verdict on.
pub fn fork_and_wait(w: &OwnedFd, f: impl FnOnce() -> Check) -> Check {
    // SAFETY: as in `in_child`.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        nix::unistd::ForkResult::Child => {
            let code = match f() {
                Ok(()) => 0,
                Err(e) => {
                    let _ = nix::unistd::write(w, e.as_bytes());
                    1
                }
            };
            // SAFETY: as in `in_child`.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            // The grandchild wrote its reason to the pipe already.
            Ok(_) => Err(String::new()),
            Err(e) => Err(format!("waitpid: {e}")),
        },
    }
}

pub fn errno_of(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

pub fn unshare(flags: CloneFlags) -> Check {
    nix::sched::unshare(flags).map_err(|e| format!("unshare {flags:?}: {e}"))
}

/// Become the test user inside a new user namespace of its own (single id map), as
/// rootless minirun runs.
pub fn become_rootless(extra: CloneFlags) -> Check {
    let (uid, gid) = crate::common::test_user_ids();
    nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setresgid(gid.into(), gid.into(), gid.into()).map_err(|e| format!("setresgid: {e}"))?;
    nix::unistd::setresuid(uid.into(), uid.into(), uid.into()).map_err(|e| format!("setresuid: {e}"))?;
    // Changing uid away from root clears "dumpable", which makes /proc/self/* root's.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    unshare(CloneFlags::CLONE_NEWUSER | extra)?;
    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups deny: {e}"))?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).map_err(|e| format!("uid_map: {e}"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).map_err(|e| format!("gid_map: {e}"))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into()).map_err(|e| format!("setresuid 0: {e}"))?;
    nix::unistd::setresgid(0.into(), 0.into(), 0.into()).map_err(|e| format!("setresgid 0: {e}"))
}

pub fn proc_status(key: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).unwrap_or("").trim().to_string()
}

pub fn cap_mask(caps: &[caps::Capability]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | c.bitmask()))
}
