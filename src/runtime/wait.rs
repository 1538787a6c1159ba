//! The caller's side after the container runs: pid files, waiting for the container
//! process while forwarding signals, the exit status convention.
use anyhow::{Context, Result, bail};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::path::Path;

/// Signals a foreground `run` forwards to the container.
pub fn forwarded() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCHLD,
    ] {
        s.add(sig);
    }
    s
}

/// Write a pid file atomically, without a trailing newline (runc, crun).
pub fn write_pid_file(p: Option<&Path>, pid: i32) -> Result<()> {
    if let Some(p) = p {
        let p = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) };
        crate::fsutil::atomic_write(&p, pid.to_string().as_bytes())
            .with_context(|| format!("writing pid file {}", p.display()))?;
    }
    Ok(())
}

/// Wait for `pid` (our child) with the forwarded signals blocked; forward them;
/// return its exit status, 128+N after signal N.
pub fn wait_forwarding(pid: i32) -> Result<i32> {
    let set = forwarded();
    loop {
        // Reap first: the child may already be gone before a SIGCHLD is waited for.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => return Ok(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => return Ok(128 + s as i32),
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(nix::errno::Errno::ECHILD) => bail!("container process {pid} is not our child"),
                Err(e) => return Err(e).context("waitpid"),
            }
        }
        let sig = set.wait().context("sigwait")?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    }
}
