//! Operations on an existing container: state, start, kill, delete, list, ps,
//! pause/resume. Each takes the state root (runc's `--root`) and the id.
pub use super::exec::{ExecOptions, exec};
use super::freezer;
use super::hooks;
use super::state::{Record, State, Status, Store};
use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The live state of `id`.
pub fn state(root: &Path, id: &str) -> Result<State> {
    let store = Store::open(root)?;
    let r = store.load(id)?;
    Ok(store.live(&r))
}

/// All containers, live states.
pub fn list(root: &Path) -> Result<Vec<State>> {
    let store = Store::open(root)?;
    let mut v = Vec::new();
    for id in store.ids()? {
        if let Ok(r) = store.load(&id) {
            v.push(store.live(&r));
        }
    }
    Ok(v)
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: the fd is new and ours.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Wait until process `pid` has exited (zombie or gone), up to ~10 s.
fn wait_gone(pid: i32) {
    let Some(fd) = pidfd_open(pid) else { return };
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 10_000) };
}

/// `start`: let a created container's process exec its program.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let store = Store::open(root)?;
    let r = store.load(id)?;
    let _l = store.lock(id)?;
    let st = store.live(&r);
    match st.status {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        _ => bail!("cannot start an already running container"),
    }
    let fifo = store.fifo(id);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .with_context(|| format!("opening {}", fifo.display()))?;
    // The init is blocked opening the fifo for writing; our open released it and it
    // writes one byte. Poll for it, checking that the init is still alive.
    loop {
        let mut p = libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 100) };
        if n > 0 {
            break;
        }
        if store.live(&r).status == Status::Stopped {
            bail!("container {id} died before it could start");
        }
    }
    let _ = std::fs::remove_file(&fifo);
    drop(f);
    let mut s = store.live(&r);
    s.status = Status::Running;
    let h = r.minirun.config.hooks().clone().unwrap_or_default();
    hooks::run_all("poststart", h.poststart().as_ref(), &serde_json::to_string(&s)?)?;
    Ok(())
}

fn has_own_pid_ns(r: &Record) -> bool {
    r.minirun
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|v| v.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()))
}

/// Host pids of every process of the container (init first).
pub fn pids(r: &Record, st: &State) -> Vec<i32> {
    if st.status == Status::Stopped {
        return Vec::new();
    }
    let init = st.pid;
    let mut out = vec![init];
    if let Some(f) = &r.minirun.freezer {
        out.extend(freezer::pids(f).into_iter().filter(|&p| p != init));
        return out;
    }
    let procs: Vec<i32> = std::fs::read_dir("/proc")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    if has_own_pid_ns(r) {
        let ns = format!("/proc/{init}/ns/pid");
        out.extend(
            procs.into_iter().filter(|&p| p != init && super::namespaces::same_ns(&format!("/proc/{p}/ns/pid"), &ns)),
        );
    } else {
        // Shared pid namespace: the init's descendants.
        let ppid = |p: i32| -> Option<i32> {
            let s = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            s[s.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
        };
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(
                procs.iter().copied().filter(|&p| ppid(p) == Some(parent) && !out.contains(&p)).collect::<Vec<_>>(),
            );
            i += 1;
        }
    }
    out
}

/// `kill`: signal the init (or every process with `all`); `None` only checks it exists.
pub fn kill(root: &Path, id: &str, sig: Option<Signal>, all: bool) -> Result<()> {
    let store = Store::open(root)?;
    let r = store.load(id)?;
    let st = store.live(&r);
    if st.status == Status::Stopped {
        if all {
            return Ok(());
        }
        bail!("container not running");
    }
    let targets = if all { pids(&r, &st) } else { vec![st.pid] };
    for p in targets {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(e).with_context(|| format!("sending {sig:?} to pid {p}")),
        }
    }
    Ok(())
}

/// `delete`: a stopped (or created) container is removed; a running one only with
/// `force` (its processes are killed). A missing id with `force` is fine (runc).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let store = Store::open(root)?;
    super::state::validate_id(id)?;
    if !store.dir(id).join("state.json").exists() {
        if force {
            // A half-created directory (no state.json) is ours to remove too.
            let _ = std::fs::remove_dir_all(store.dir(id));
            return Ok(());
        }
        bail!("container {id} does not exist");
    }
    let r = store.load(id)?;
    let _l = store.lock(id)?;
    let st = store.live(&r);
    match st.status {
        Status::Stopped => {}
        Status::Created => kill_all_and_wait(&r, &st),
        Status::Running | Status::Paused | Status::Creating => {
            if !force {
                bail!("cannot delete container {id} that is not stopped: {}", st.status);
            }
            kill_all_and_wait(&r, &st);
        }
    }
    let mut s = st.clone();
    s.status = Status::Stopped;
    let h = r.minirun.config.hooks().clone().unwrap_or_default();
    if let Err(e) = hooks::run_all("poststop", h.poststop().as_ref(), &serde_json::to_string(&s)?) {
        super::log::warn(&format!("{e:#}"));
    }
    if let Some(f) = &r.minirun.freezer {
        freezer::remove(f);
    }
    crate::fsutil::remove_dir_all_if_exists(&store.dir(id))
}

fn kill_all_and_wait(r: &Record, st: &State) {
    if let Some(f) = &r.minirun.freezer {
        // A frozen process cannot die.
        let _ = freezer::set(Some(f), false);
    }
    let ps = pids(r, st);
    for &p in &ps {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
    }
    for p in ps {
        wait_gone(p);
    }
}

/// `ps`: host pids of the container's processes.
pub fn ps(root: &Path, id: &str) -> Result<Vec<i32>> {
    let store = Store::open(root)?;
    let r = store.load(id)?;
    let st = store.live(&r);
    Ok(pids(&r, &st))
}

/// `pause` (frozen = true) / `resume`.
pub fn set_paused(root: &Path, id: &str, frozen: bool) -> Result<()> {
    let store = Store::open(root)?;
    let r = store.load(id)?;
    let st = store.live(&r);
    match (st.status, frozen) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (s, true) => bail!("cannot pause container {id}: it is {s}"),
        (s, false) => bail!("cannot resume container {id}: it is {s}, not paused"),
    }
    freezer::set(r.minirun.freezer.as_deref(), frozen)
}

use std::os::unix::fs::OpenOptionsExt;
