//! User-namespace id mappings for rootless operation.
//!
//! Rootless minirun behaves like podman: every command that touches the store runs
//! inside a user namespace where the caller is uid 0 and the caller's subordinate ids
//! (/etc/subuid, /etc/subgid) are mapped from 1 up, so a file owned by uid 999 in an
//! image is owned by a sub-id on disk and by 999 in the container. Without ranges we
//! fall back to a single mapping (everything belongs to the caller) and say so.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// One contiguous range: ids `container..container+size` map to `host..host+size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The uid and gid maps of a user namespace, with why they look as they do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
    /// Set when only the caller's own id could be mapped; says why and how to fix it.
    pub single_id_reason: Option<String>,
}

impl IdMapping {
    /// True when only one id is mapped (no subordinate ranges).
    pub fn is_single(&self) -> bool {
        self.uids.len() <= 1 && self.gids.len() <= 1 && self.uids.iter().all(|r| r.size == 1)
    }
}

/// Env var set in the re-executed child: the mapping it runs under (JSON).
pub const ENV_IDMAP: &str = "_MINIRUN_IDMAP";
const ENV_HOST_UID: &str = "_MINIRUN_HOST_UID";
const ENV_HOST_GID: &str = "_MINIRUN_HOST_GID";

/// The caller's uid on the host, also when we run re-executed inside our own userns.
pub fn host_uid() -> u32 {
    std::env::var(ENV_HOST_UID).ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| nix::unistd::getuid().as_raw())
}

/// The caller's gid on the host.
pub fn host_gid() -> u32 {
    std::env::var(ENV_HOST_GID).ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| nix::unistd::getgid().as_raw())
}

/// True when we are not real root: a non-zero euid, or uid 0 inside a user namespace
/// that does not map the whole id space (podman rootless runs its runtime like that).
pub fn is_rootless() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return true;
    }
    in_user_namespace()
}

/// True when /proc/self/uid_map is not the initial namespace's identity map.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(s) => {
            let f: Vec<&str> = s.split_whitespace().collect();
            !(f.len() == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
        }
        Err(_) => false,
    }
}

/// The mapping we run under when re-executed into our own user namespace.
pub fn current_mapping() -> Option<IdMapping> {
    std::env::var(ENV_IDMAP).ok().and_then(|v| serde_json::from_str(&v).ok())
}

/// Ranges for `name` or `uid` in a subordinate id file (`/etc/subuid` format).
pub fn subid_ranges(file: &str, name: &str, uid: u32) -> Vec<(u32, u32)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let uid_s = uid.to_string();
    text.lines()
        .filter_map(|l| {
            let mut it = l.trim().split(':');
            let (who, start, count) = (it.next()?, it.next()?, it.next()?);
            if who != name && who != uid_s {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .filter(|&(_, c): &(u32, u32)| c > 0)
        .collect()
}

/// The mapping a rootless caller gets: itself as 0, its sub-ids from 1 up.
pub fn rootless_mapping(uid: u32, gid: u32) -> IdMapping {
    let name =
        nix::unistd::User::from_uid(uid.into()).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string());
    let have_helpers = which("newuidmap").is_some() && which("newgidmap").is_some();
    let subu = subid_ranges("/etc/subuid", &name, uid);
    let subg = subid_ranges("/etc/subgid", &name, uid);
    let single = |reason: String| IdMapping {
        uids: vec![IdRange { container: 0, host: uid, size: 1 }],
        gids: vec![IdRange { container: 0, host: gid, size: 1 }],
        single_id_reason: Some(reason),
    };
    if subu.is_empty() || subg.is_empty() {
        return single(format!(
            "no range for {name} in /etc/subuid or /etc/subgid: every file belongs to you; \
             add ranges with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}"
        ));
    }
    if !have_helpers {
        return single(
            "newuidmap/newgidmap not found: every file belongs to you; install them with: apt-get install uidmap"
                .into(),
        );
    }
    let ranges = |host: u32, sub: &[(u32, u32)]| {
        let mut v = vec![IdRange { container: 0, host, size: 1 }];
        let mut next = 1u32;
        for &(start, count) in sub {
            v.push(IdRange { container: next, host: start, size: count });
            next = next.saturating_add(count);
        }
        v
    };
    IdMapping { uids: ranges(uid, &subu), gids: ranges(gid, &subg), single_id_reason: None }
}

/// Find an executable in PATH (and the usual sbin dirs, which PATH may lack).
pub fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

fn map_line(ranges: &[IdRange]) -> String {
    ranges.iter().map(|r| format!("{} {} {}\n", r.container, r.host, r.size)).collect()
}

/// Write the uid/gid maps of process `pid` (which has just unshared its user namespace).
/// A single own-id mapping is written directly; ranges go through newuidmap/newgidmap,
/// whose exit status and message are checked.
pub fn write_maps(pid: i32, m: &IdMapping) -> Result<()> {
    if m.is_single() && !nix::unistd::geteuid().is_root() {
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
            .with_context(|| format!("writing /proc/{pid}/setgroups"))?;
        std::fs::write(format!("/proc/{pid}/uid_map"), map_line(&m.uids))
            .with_context(|| format!("writing /proc/{pid}/uid_map"))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map_line(&m.gids))
            .with_context(|| format!("writing /proc/{pid}/gid_map"))?;
        return Ok(());
    }
    if nix::unistd::geteuid().is_root() && !in_user_namespace() {
        // Real root may write any map itself.
        std::fs::write(format!("/proc/{pid}/uid_map"), map_line(&m.uids))
            .with_context(|| format!("writing /proc/{pid}/uid_map"))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map_line(&m.gids))
            .with_context(|| format!("writing /proc/{pid}/gid_map"))?;
        return Ok(());
    }
    for (helper, ranges) in [("newuidmap", &m.uids), ("newgidmap", &m.gids)] {
        let exe = which(helper).with_context(|| {
            format!("{helper} not found: it is needed to map subordinate ids; install it with: apt-get install uidmap")
        })?;
        let mut cmd = Command::new(&exe);
        cmd.arg(pid.to_string());
        for r in ranges.iter() {
            cmd.args([r.container.to_string(), r.host.to_string(), r.size.to_string()]);
        }
        let out = cmd.output().with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{helper} {pid} failed ({}): {}; check the ranges in /etc/sub{}id",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                if helper == "newuidmap" { "u" } else { "g" }
            );
        }
    }
    Ok(())
}

/// Re-execute this very command inside a new user namespace with `mapping`, wait
/// for it while forwarding signals, and return its exit status. The child sees
/// itself as uid 0 with full capabilities over the mapped ids.
///
/// With `join`, the child enters the user namespace of that process instead of making
/// a new one: every minirun of one user shares the namespace its running containers
/// live in (we own it, so we may join it), so signals and `exec` reach them whatever
/// uid the container runs as.
pub fn reexec_in_userns(mapping: &IdMapping, join: Option<i32>) -> Result<i32> {
    if let Some(pid) = join
        && let Ok(f) = std::fs::File::open(format!("/proc/{pid}/ns/user"))
    {
        return reexec_joining(mapping, f);
    }
    let (rd, mut wr) = std::io::pipe().context("pipe")?;
    let (mut ack_rd, ack_wr) = std::io::pipe().context("pipe")?;
    let mut cmd = same_command(mapping)?;
    // Forwarded signals are taken from a blocked set, so block them before spawning
    // and let the child start with a clean mask.
    let fwd = crate::runtime::wait::forwarded();
    fwd.thread_block().context("sigprocmask")?;
    let ack_wr_fd = std::os::fd::AsRawFd::as_raw_fd(&ack_wr);
    let rd_fd = std::os::fd::AsRawFd::as_raw_fd(&rd);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut all);
            libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Tell the parent our pid: it cannot learn it from spawn(), which only
            // returns after exec, i.e. after the maps are written.
            let pid = libc::getpid().to_ne_bytes();
            libc::write(ack_wr_fd, pid.as_ptr().cast(), pid.len());
            let mut b = [0u8; 1];
            if libc::read(rd_fd, b.as_mut_ptr().cast(), 1) != 1 || b[0] != b'1' {
                return Err(std::io::Error::other("user namespace maps were not written"));
            }
            if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // A helper thread writes the maps while spawn() waits for the child's exec
    // (signals stay blocked in it; it is joined before anything else happens).
    let helper_mapping = mapping.clone();
    let helper = std::thread::spawn(move || -> Result<()> {
        let mut b = [0u8; 4];
        ack_rd.read_exact(&mut b).context("the child died before creating its user namespace")?;
        let res = write_maps(i32::from_ne_bytes(b), &helper_mapping);
        let _ = wr.write_all(if res.is_ok() { b"1" } else { b"0" });
        res
    });
    let spawned = cmd.spawn();
    drop(ack_wr);
    drop(rd);
    let res = helper.join().unwrap_or_else(|_| Err(anyhow::anyhow!("user namespace helper panicked")));
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = fwd.thread_unblock();
            if let Err(m) = res {
                return Err(m);
            }
            return Err(e).context("creating a user namespace (is kernel.unprivileged_userns_clone enabled?)");
        }
    };
    if let Err(e) = res {
        let _ = child.wait();
        let _ = fwd.thread_unblock();
        return Err(e);
    }
    wait_forwarding(child, fwd)
}

/// This very command line again, told the mapping and the caller's host ids.
fn same_command(mapping: &IdMapping) -> Result<Command> {
    let exe = std::fs::read_link("/proc/self/exe").context("reading /proc/self/exe")?;
    let mut cmd = Command::new(&exe);
    cmd.args(std::env::args_os().skip(1));
    cmd.arg0(std::env::args_os().next().unwrap_or_default());
    cmd.env(ENV_IDMAP, serde_json::to_string(mapping)?);
    cmd.env(ENV_HOST_UID, host_uid().to_string());
    cmd.env(ENV_HOST_GID, host_gid().to_string());
    Ok(cmd)
}

/// Re-execute inside the existing user namespace `ns` (an open /proc/PID/ns/user).
fn reexec_joining(mapping: &IdMapping, ns: std::fs::File) -> Result<i32> {
    let mut cmd = same_command(mapping)?;
    let fwd = crate::runtime::wait::forwarded();
    fwd.thread_block().context("sigprocmask")?;
    let ns_fd = std::os::fd::AsRawFd::as_raw_fd(&ns);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut all);
            libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
            if libc::setns(ns_fd, libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = fwd.thread_unblock();
            return Err(e).context("joining minirun's user namespace");
        }
    };
    drop(ns);
    wait_forwarding(child, fwd)
}

/// Wait for `child`, forwarding the blocked signals in `fwd` to it; its exit status.
fn wait_forwarding(mut child: std::process::Child, fwd: nix::sys::signal::SigSet) -> Result<i32> {
    use nix::sys::signal::Signal;
    let pid = child.id() as i32;
    loop {
        let sig = fwd.wait().context("sigwait")?;
        if sig == Signal::SIGCHLD {
            if let Some(st) = child.try_wait().context("waitpid")? {
                let _ = fwd.thread_unblock();
                use std::os::unix::process::ExitStatusExt;
                return Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
        } else {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }
}

/// Marks a process that lives in minirun's user namespace while a container runs
/// (a monitor or a foreground `run`): `<run>/holders/<id>` holds "pid start_time".
/// Removed when dropped.
pub struct Holder(std::path::PathBuf);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Register this process as a holder of our user namespace (rootless only).
pub fn register_holder(run: &std::path::Path, id: &str) -> Option<Holder> {
    current_mapping()?;
    let dir = run.join("holders");
    std::fs::create_dir_all(&dir).ok()?;
    let pid = std::process::id() as i32;
    let start = crate::container::record::proc_start_time(pid)?;
    let path = dir.join(id);
    crate::fsutil::atomic_write(&path, format!("{pid} {start}").as_bytes()).ok()?;
    Some(Holder(path))
}

/// A live holder's pid, whose user namespace a new minirun should join.
pub fn find_holder(run: &std::path::Path) -> Option<i32> {
    let rd = std::fs::read_dir(run.join("holders")).ok()?;
    for e in rd.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        let mut it = text.split_whitespace();
        let (Some(pid), Some(start)) = (it.next().and_then(|p| p.parse::<i32>().ok()), it.next()) else {
            continue;
        };
        if crate::container::record::proc_start_time(pid).map(|s| s.to_string()).as_deref() == Some(start) {
            return Some(pid);
        }
        let _ = std::fs::remove_file(e.path());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_file_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("subuid");
        std::fs::write(&f, "alice:100000:65536\n1001:200000:10\nbob:1:0\n").unwrap();
        let f = f.to_str().unwrap();
        assert_eq!(subid_ranges(f, "alice", 1000), vec![(100000, 65536)]);
        assert_eq!(subid_ranges(f, "carol", 1001), vec![(200000, 10)]);
        assert!(subid_ranges(f, "bob", 5).is_empty());
    }

    #[test]
    fn single_mapping_detection() {
        let m = IdMapping {
            uids: vec![IdRange { container: 0, host: 1000, size: 1 }],
            gids: vec![IdRange { container: 0, host: 1000, size: 1 }],
            single_id_reason: Some("x".into()),
        };
        assert!(m.is_single());
        assert_eq!(map_line(&m.uids), "0 1000 1\n");
    }
}
