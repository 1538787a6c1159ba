//! The container process's privileges: user, capabilities, no_new_privs, seccomp,
//! rlimits, hostname, oomScoreAdj. (Sysctls are written by `setup_rootfs`, once /proc
//! is the container's.)
use super::error::{StageError, StageResult};
use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, PosixRlimitType, Process, Spec};
use std::sync::Mutex;

/// The seccomp config remembered by `apply_container_settings` for `finalize_process`,
/// which only gets the `Process`.
static SECCOMP: Mutex<Option<LinuxSeccomp>> = Mutex::new(None);

fn perr(op: impl Into<String>, e: Errno) -> StageError {
    StageError::new("process", op, None, Some(e as i32))
}

/// Before the user process is prepared, still privileged in the container's namespaces:
/// hostname, domainname, oomScoreAdj, rlimits. Also remembers `linux.seccomp` for
/// `finalize_process`.
pub fn apply_container_settings(spec: &Spec) -> StageResult<()> {
    let linux = spec.linux().as_ref();
    let new_uts = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
    for (what, value) in [("hostname", spec.hostname()), ("domainname", spec.domainname())] {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        if !new_uts {
            return Err(StageError::msg(
                "process",
                format!("cannot set {what} {value:?} without a private UTS namespace"),
            )
            .with_hint("add {\"type\": \"uts\"} to linux.namespaces"));
        }
        let r = if what == "hostname" {
            nix::unistd::sethostname(value)
        } else {
            // SAFETY: pointer and length of a live byte slice.
            Errno::result(unsafe { libc::setdomainname(value.as_ptr().cast(), value.len()) }).map(drop)
        };
        r.map_err(|e| StageError::new("process", format!("set {what}"), Some(value.to_string()), Some(e as i32)))?;
    }
    if let Some(p) = spec.process() {
        if let Some(adj) = p.oom_score_adj() {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
                StageError::new(
                    "process",
                    format!("set oomScoreAdj {adj} in"),
                    Some("/proc/self/oom_score_adj".into()),
                    e.raw_os_error(),
                )
                .with_hint("lowering oomScoreAdj needs CAP_SYS_RESOURCE on the host")
            })?;
        }
        apply_rlimits(p)?;
    }
    *SECCOMP.lock().unwrap_or_else(|e| e.into_inner()) = linux.and_then(|l| l.seccomp().clone());
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// setrlimit for each `process.rlimits` entry (also for `exec`ed processes).
pub fn apply_rlimits(p: &Process) -> StageResult<()> {
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        let lim = libc::rlimit { rlim_cur: r.soft(), rlim_max: r.hard() };
        // SAFETY: a valid rlimit struct.
        let res = unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) };
        if res != 0 {
            let e = Errno::last();
            let name =
                serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let mut err = StageError::new(
                "process",
                format!("setrlimit {name} soft={} hard={}", r.soft(), r.hard()),
                None,
                Some(e as i32),
            );
            if e == Errno::EPERM {
                err = err.with_hint("raising a hard limit above the caller's needs CAP_SYS_RESOURCE on the host");
            }
            return Err(err);
        }
    }
    Ok(())
}

/// The last step before execve: umask, additional gids, setresgid/setresuid keeping the
/// configured capabilities, the five capability sets, noNewPrivileges, seccomp (the
/// `linux.seccomp` remembered by `apply_container_settings`).
pub fn finalize_process(process: &Process) -> StageResult<()> {
    let seccomp = SECCOMP.lock().unwrap_or_else(|e| e.into_inner()).clone();
    finalize_process_with_seccomp(process, seccomp.as_ref())
}

/// Make `finalize_process` load `seccomp` (for `exec`, which has no
/// `apply_container_settings` call: pass the container's `linux.seccomp`).
pub fn remember_seccomp(seccomp: Option<&LinuxSeccomp>) {
    *SECCOMP.lock().unwrap_or_else(|e| e.into_inner()) = seccomp.cloned();
}

fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() == "deny").unwrap_or(false)
}

fn prctl(op: libc::c_int, arg: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    Errno::result(unsafe { libc::prctl(op, arg, 0, 0, 0) }).map(drop)
}

/// `finalize_process` with an explicit seccomp config (for `exec`, which has no
/// `apply_container_settings` call).
///
/// Order: rlimits (again: `exec`ed processes carry their own, and raising one needs
/// CAP_SYS_RESOURCE, gone later); umask; seccomp here already when noNewPrivileges is off (loading a filter
/// then needs CAP_SYS_ADMIN, which is gone after the switch); bounding set (needs
/// CAP_SETPCAP); groups; setresgid/setresuid with PR_SET_KEEPCAPS; inheritable,
/// effective, permitted, ambient; no_new_privs; seccomp last when noNewPrivileges is on.
pub fn finalize_process_with_seccomp(process: &Process, seccomp: Option<&LinuxSeccomp>) -> StageResult<()> {
    apply_rlimits(process)?;
    let user = process.user();
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    if let Some(s) = seccomp.filter(|_| !nnp) {
        super::seccomp::load(s, false)?;
    }
    if let Some(c) = process.capabilities() {
        super::caps::apply_bounding(c)?;
    }

    let gids: Vec<nix::unistd::Gid> =
        user.additional_gids().as_deref().unwrap_or(&[]).iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
    if setgroups_denied() {
        if !gids.is_empty() {
            return Err(StageError::msg(
                "process",
                "cannot set additional groups: setgroups is denied in this user namespace",
            )
            .with_hint("map the groups through newgidmap (subordinate ids) or remove user.additionalGids"));
        }
    } else {
        nix::unistd::setgroups(&gids).map_err(|e| perr("setgroups", e))?;
    }

    prctl(libc::PR_SET_KEEPCAPS, 1).map_err(|e| perr("prctl(PR_SET_KEEPCAPS)", e))?;
    let (uid, gid) = (user.uid(), user.gid());
    let hint = "the id must be mapped in the container's user namespace";
    let g = nix::unistd::Gid::from_raw(gid);
    nix::unistd::setresgid(g, g, g).map_err(|e| perr(format!("setresgid {gid}"), e).with_hint(hint))?;
    let u = nix::unistd::Uid::from_raw(uid);
    nix::unistd::setresuid(u, u, u).map_err(|e| perr(format!("setresuid {uid}"), e).with_hint(hint))?;
    prctl(libc::PR_SET_KEEPCAPS, 0).map_err(|e| perr("prctl(PR_SET_KEEPCAPS)", e))?;

    if let Some(c) = process.capabilities() {
        super::caps::apply_sets(c)?;
    }
    if nnp {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(|e| perr("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
        if let Some(s) = seccomp {
            super::seccomp::load(s, true)?;
        }
    }
    Ok(())
}
