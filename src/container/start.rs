//! Starting containers: attached (this process supervises the container) or
//! detached (a small monitor process outlives `run -d`, reaps the container, keeps its
//! log and records its exit), and `exec` into a running one.

use super::engine;
use super::record::{ContainerRecord, ContainerStore, ProcRef, Status};
use super::supervise::{Supervision, supervise};
use crate::cli::Ctx;
use crate::error::{EXIT_RUNTIME, ExitError};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn startable(rec: &ContainerRecord) -> Result<()> {
    if rec.live_status() == Status::Running {
        bail!("container {} is already running", rec.name);
    }
    Ok(())
}

/// Record that the container runs.
fn mark_running(store: &ContainerStore, id: &str, init: ProcRef, monitor: Option<ProcRef>) -> Result<()> {
    store.update(id, |r| {
        r.status = Status::Running;
        r.init = Some(init);
        r.monitor = monitor;
        r.exit_code = None;
        r.error = None;
        r.started_at = Some(now());
        r.finished_at = None;
    })?;
    Ok(())
}

/// Record the exit; with --rm remove the container and its anonymous volumes.
fn finish(ctx: &Ctx, store: &ContainerStore, id: &str, code: i32) -> Result<()> {
    engine::cleanup(ctx, id);
    let updated = store.update(id, |r| {
        r.status = Status::Exited;
        r.exit_code = Some(code);
        r.finished_at = Some(now());
    });
    let rec = match updated {
        Ok(r) => r,
        // Removed meanwhile (`rm -f` from another shell): nothing left to record.
        Err(_) if !store.dir_of(id).join("container.json").exists() => return Ok(()),
        Err(e) => return Err(e),
    };
    if rec.auto_remove {
        super::remove(ctx, id, true, true)?;
    }
    Ok(())
}

/// Record a start that failed before the user process ran.
fn fail(store: &ContainerStore, id: &str, e: &anyhow::Error) {
    let msg = crate::error::report(e);
    let _ = store.update(id, |r| {
        r.status = Status::Exited;
        r.error = Some(msg);
        r.exit_code = Some(crate::error::exit_code_of(e, EXIT_RUNTIME));
        r.finished_at = Some(now());
    });
}

/// Run a created container in the foreground: stdio (or a terminal) connected,
/// signals forwarded, and the container's exit status returned.
pub fn run_attached(ctx: &Ctx, id: &str) -> Result<i32> {
    let store = ContainerStore::open(&ctx.paths)?;
    let rec = store.load(id)?;
    startable(&rec)?;
    // Orphaned container processes must come back to us, so we can reap the init.
    set_subreaper()?;
    // A signal arriving once the container runs but before supervision starts must
    // wait for us (and be forwarded), not kill us: block them now. The engine clears
    // the mask for the container's process before its exec.
    super::supervise::block_signals()?;
    let launched = match engine::launch(ctx, &rec, engine::Stdio::Inherit) {
        Ok(l) => l,
        Err(e) => {
            fail(&store, id, &e);
            engine::cleanup(ctx, id);
            if rec.auto_remove {
                let _ = super::remove(ctx, id, true, true);
            }
            return Err(e);
        }
    };
    let init = ProcRef::of(launched.pid).unwrap_or(ProcRef { pid: launched.pid, start_time: 0 });
    let holder = crate::idmap::register_holder(&ctx.paths.run, id);
    mark_running(&store, id, init, None)?;
    let code = supervise(Supervision {
        pid: launched.pid,
        tty_master: launched.tty_master,
        relay_stdin: rec.interactive,
        log: None,
    })?;
    drop(holder);
    finish(ctx, &store, id, code)?;
    Ok(code)
}

/// Start a container in the background under a monitor process; returns once the
/// container's process runs (or with the error that kept it from running).
pub fn start_detached(ctx: &Ctx, id: &str) -> Result<()> {
    let store = ContainerStore::open(&ctx.paths)?;
    let rec = store.load(id)?;
    startable(&rec)?;
    let (mut rd, wr) = std::io::pipe().context("pipe")?;
    // SAFETY: minirun is single-threaded here (no progress bar, no pools), so the
    // child may keep running Rust code after fork.
    match unsafe { nix::unistd::fork() }.context("forking the container monitor")? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let code = match monitor(ctx, &store, &rec, wr) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            unsafe { libc::_exit(code) };
        }
        nix::unistd::ForkResult::Parent { .. } => {
            drop(wr);
            let mut msg = String::new();
            rd.read_to_string(&mut msg).context("reading from the container monitor")?;
            if msg == "ok" {
                return Ok(());
            }
            match msg.split_once(' ') {
                Some((code, text)) => Err(ExitError::new(code.parse().unwrap_or(EXIT_RUNTIME), text.to_string())),
                None => bail!("the container monitor of {} died before the container started", rec.name),
            }
        }
    }
}

/// The monitor: detached from the caller's session and stdio, it starts the
/// container with its output going into the log, reports success or the error
/// through `report`, then reaps the container and records the exit.
fn monitor(ctx: &Ctx, store: &ContainerStore, rec: &ContainerRecord, mut report: std::io::PipeWriter) -> Result<()> {
    let _ = nix::unistd::setsid();
    set_name("minirun:monitor");
    let dir = super::bundle_dir(ctx, &rec.id);
    redirect_stdio(&dir.join("monitor.log"));
    set_subreaper()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(super::logs::log_path(ctx, &rec.id))
        .context("opening the container log")?;
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = std::io::pipe()?;
    let launched = engine::launch(ctx, rec, engine::Stdio::Pipes { stdout: out_w.into(), stderr: err_w.into() });
    let launched = match launched {
        Ok(l) => l,
        Err(e) => {
            fail(store, &rec.id, &e);
            engine::cleanup(ctx, &rec.id);
            let code = crate::error::exit_code_of(&e, EXIT_RUNTIME);
            let _ = write!(report, "{code} {}", crate::error::report(&e));
            if rec.auto_remove {
                let _ = super::remove(ctx, &rec.id, true, true);
            }
            return Err(e);
        }
    };
    let me = ProcRef::of(std::process::id() as i32);
    let init = ProcRef::of(launched.pid).unwrap_or(ProcRef { pid: launched.pid, start_time: 0 });
    let holder = crate::idmap::register_holder(&ctx.paths.run, &rec.id);
    mark_running(store, &rec.id, init, me)?;
    let _ = report.write_all(b"ok");
    drop(report);
    let out_r: OwnedFd = out_r.into();
    let err_r: OwnedFd = err_r.into();
    let code = supervise(Supervision {
        pid: launched.pid,
        tty_master: None,
        relay_stdin: false,
        log: Some((out_r, err_r, log)),
    })?;
    drop(holder);
    finish(ctx, store, &rec.id, code)
}

/// Make this process the reaper of orphaned descendants (the container's init).
fn set_subreaper() -> Result<()> {
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_CHILD_SUBREAPER)");
    }
    Ok(())
}

/// Name the process so `ps` explains itself.
fn set_name(name: &str) {
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr(), 0, 0, 0) };
    }
}

/// stdin from /dev/null, stdout and stderr into `log`: the monitor must not hold the
/// caller's pipes open (a caller reading them to EOF would wait for the container).
fn redirect_stdio(log: &std::path::Path) {
    let null = std::fs::File::open("/dev/null");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log);
    // SAFETY: dup2 on fds we own.
    unsafe {
        if let Ok(n) = &null {
            libc::dup2(n.as_raw_fd(), 0);
        }
        if let Ok(o) = &out {
            libc::dup2(o.as_raw_fd(), 1);
            libc::dup2(o.as_raw_fd(), 2);
        }
    }
}

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
}

/// Run a command in a running container; its exit status (126/127 when it cannot be run).
pub fn exec(ctx: &Ctx, key: &str, o: ExecOptions) -> Result<i32> {
    let rec = super::resolve(ctx, key)?;
    if rec.live_status() != Status::Running {
        bail!("container {} is not running", rec.name);
    }
    engine::exec(ctx, &rec, &o)
}

/// Remove what the engine keeps for a container (its OCI state).
pub fn cleanup_engine_state(ctx: &Ctx, id: &str) {
    engine::cleanup(ctx, id);
}
