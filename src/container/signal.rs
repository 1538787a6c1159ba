//! `stop`, `kill` and `wait`: signals go to the container's init, identified by pid
//! and start time so a recycled pid is never hit.
use super::record::{ContainerRecord, ContainerStore, Status};
use crate::cli::Ctx;
use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// A signal by name (`KILL`, `SIGKILL`, `kill`) or number (`9`).
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("invalid signal number {n}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    name.parse::<Signal>()
        .map_err(|_| anyhow::anyhow!("invalid signal {s:?}: use a name like TERM or a number like 15"))
}

fn send(rec: &ContainerRecord, sig: Signal) -> Result<()> {
    let init = rec.init.filter(|p| p.alive());
    match init {
        Some(p) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), sig)
            .with_context(|| format!("sending {sig} to container {} (pid {})", rec.name, p.pid)),
        None => bail!("container {} is not running", rec.name),
    }
}

/// Send `sig` to a running container.
pub fn kill(ctx: &Ctx, key: &str, sig: Signal) -> Result<()> {
    let rec = super::resolve(ctx, key)?;
    if rec.live_status() != Status::Running {
        bail!("cannot kill container {}: it is not running", rec.name);
    }
    send(&rec, sig)
}

/// Wait until the container's init is gone and (if it has one) its monitor recorded
/// the exit; true if that happened before `timeout`.
fn wait_gone(ctx: &Ctx, rec: &ContainerRecord, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let store = ContainerStore::open(&ctx.paths).ok();
    loop {
        let init_alive = rec.init.map(|p| p.alive()).unwrap_or(false);
        let mon_alive = rec.monitor.map(|p| p.alive()).unwrap_or(false);
        if !init_alive {
            // Give the monitor the moment it needs to record the exit status.
            let recorded =
                store.as_ref().and_then(|s| s.load(&rec.id).ok()).map(|r| r.status != Status::Running).unwrap_or(true);
            if recorded || !mon_alive {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Record an exit that nobody recorded (the monitor or foreground minirun was killed).
fn settle(ctx: &Ctx, rec: &ContainerRecord) -> Result<()> {
    let store = ContainerStore::open(&ctx.paths)?;
    store.update(&rec.id, |r| {
        if r.status != Status::Exited {
            r.status = Status::Exited;
            r.init = r.init.or(rec.init);
            r.finished_at.get_or_insert_with(|| chrono::Utc::now().to_rfc3339());
        }
    })?;
    Ok(())
}

/// Stop: StopSignal (or SIGTERM), then SIGKILL after `timeout`.
pub fn stop(ctx: &Ctx, key: &str, timeout: Duration) -> Result<()> {
    let rec = super::resolve(ctx, key)?;
    if rec.live_status() != Status::Running {
        return Ok(());
    }
    let sig = parse_signal(&rec.stop_signal).unwrap_or(Signal::SIGTERM);
    let _ = send(&rec, sig);
    if !wait_gone(ctx, &rec, timeout) {
        let _ = send(&rec, Signal::SIGKILL);
        if !wait_gone(ctx, &rec, Duration::from_secs(10)) {
            bail!("container {} did not stop after SIGKILL", rec.name);
        }
    }
    settle(ctx, &rec)
}

/// SIGKILL and wait (for `rm -f`).
pub(super) fn kill_and_reap(ctx: &Ctx, rec: &ContainerRecord) -> Result<()> {
    let _ = send(rec, Signal::SIGKILL);
    if !wait_gone(ctx, rec, Duration::from_secs(10)) {
        bail!("container {} did not die after SIGKILL", rec.name);
    }
    settle(ctx, rec)
}

/// Block until the container is not running; its exit code (-1 if unknown).
pub fn wait(ctx: &Ctx, key: &str) -> Result<i32> {
    let rec = super::resolve(ctx, key)?;
    let store = ContainerStore::open(&ctx.paths)?;
    loop {
        match store.load(&rec.id) {
            Ok(r)
                if r.live_status() == Status::Running
                    || r.status == Status::Created && r.monitor.map(|m| m.alive()).unwrap_or(false) => {}
            Ok(r) => {
                if r.status == Status::Running {
                    settle(ctx, &r)?;
                }
                return Ok(r.exit_code.unwrap_or(-1));
            }
            // Removed meanwhile (--rm): the exit code went with it.
            Err(_) => return Ok(rec.exit_code.unwrap_or(0)),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("10").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
