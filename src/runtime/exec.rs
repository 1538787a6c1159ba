//! `exec`: run another process in a running container. P1 joins the container's
//! namespaces through /proc/<init>/ns/* (user first), forks P2 (so it lands in the
//! container's pid namespace), which enters the container's root, and execs.
use super::console;
use super::error::{StageError, StageResult};
use super::state::{Status, Store};
use super::sync::{self, Chan, Msg, Sequence};
use super::{freezer, init};
use anyhow::{Context, Result, anyhow, bail};
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;
use oci_spec::runtime::Process;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How to run the extra process.
pub struct ExecOptions {
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
}

/// Run `opts.process` in container `id`. Detached: returns 0 once the program runs
/// (pid file written); otherwise waits and returns its exit status.
pub fn exec(root: &Path, id: &str, opts: ExecOptions) -> Result<i32> {
    let store = Store::open(root)?;
    let r = store.load(id)?;
    let st = store.live(&r);
    if !matches!(st.status, Status::Running | Status::Created) {
        bail!("cannot exec in a {} container", st.status);
    }
    let terminal = opts.process.terminal() == Some(true);
    if terminal && opts.console_socket.is_none() {
        bail!("exec --tty needs --console-socket PATH");
    }
    let pid = st.pid;
    let mut join: Vec<(CloneFlags, OwnedFd, String)> = Vec::new();
    for name in ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt"] {
        let theirs = format!("/proc/{pid}/ns/{name}");
        if super::namespaces::same_ns(&theirs, &format!("/proc/self/ns/{name}")) {
            continue;
        }
        let flag = match name {
            "user" => CloneFlags::CLONE_NEWUSER,
            "ipc" => CloneFlags::CLONE_NEWIPC,
            "uts" => CloneFlags::CLONE_NEWUTS,
            "net" => CloneFlags::CLONE_NEWNET,
            "pid" => CloneFlags::CLONE_NEWPID,
            "cgroup" => CloneFlags::CLONE_NEWCGROUP,
            _ => CloneFlags::CLONE_NEWNS,
        };
        let f = std::fs::File::open(&theirs).with_context(|| format!("opening {theirs}"))?;
        join.push((flag, f.into(), theirs));
    }
    let rootdir =
        std::fs::File::open(format!("/proc/{pid}/root")).with_context(|| format!("opening /proc/{pid}/root"))?;
    // The init may have died while we opened its namespaces: check it is still the same process.
    if store.live(&r).status == Status::Stopped {
        bail!("container {id} stopped");
    }
    let (parent, child) = sync::pair().context("socketpair")?;
    let foreground = !opts.detach;
    if foreground {
        forwarded_block()?;
    }
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let fz = r.minirun.freezer.clone();
    let orig_cg = fz.as_ref().and_then(|_| freezer::current());
    if let Some(f) = &fz {
        freezer::join(f, 0)?;
    }
    // SAFETY: the caller is single-threaded.
    let p1 = match unsafe { nix::unistd::fork() }.context("fork")? {
        ForkResult::Child => {
            drop(parent);
            let e = match p1_main(&join, &rootdir, &opts, &child) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child.send(&Msg::Error { error: e }, None);
            // SAFETY: leave without destructors.
            unsafe { libc::_exit(1) }
        }
        ForkResult::Parent { child } => child,
    };
    if let (Some(_), Some(o)) = (&fz, &orig_cg) {
        let _ = freezer::join(o, 0);
    }
    drop(child);
    let mut seq = Sequence::new(false, terminal);
    let mut p2: Option<i32> = None;
    let res = (|| -> Result<()> {
        loop {
            let msg = parent.recv().context("sync: receiving from exec setup")?;
            let Some((m, fd)) = msg else {
                if seq.done() {
                    return Ok(());
                }
                bail!("the exec setup process exited without a message");
            };
            seq.accept(&m).map_err(|e| anyhow!(e))?;
            match m {
                Msg::Pid { pid } => {
                    p2 = Some(pid);
                    let _ = waitpid(p1, None);
                    parent.send(&Msg::PidAck, None).context("sync: sending pid_ack")?;
                }
                Msg::Pty => {
                    let fd = fd.context("sync: pty message without fd")?;
                    console::send_to_socket(opts.console_socket.as_deref().expect("checked"), fd.as_raw_fd())?;
                }
                Msg::Error { error } => return Err(anyhow::Error::new(error)),
                _ => {}
            }
        }
    })();
    if let Err(e) = res {
        let _ = waitpid(p1, None);
        if let Some(p) = p2 {
            let _ = waitpid(nix::unistd::Pid::from_raw(p), None);
        }
        if foreground {
            forwarded_unblock();
        }
        return Err(e);
    }
    let p2 = p2.expect("pid known");
    super::wait::write_pid_file(opts.pid_file.as_deref(), p2)?;
    if opts.detach {
        return Ok(0);
    }
    let code = super::wait::wait_forwarding(p2);
    forwarded_unblock();
    code
}

fn forwarded_block() -> Result<()> {
    super::wait::forwarded().thread_block().context("sigprocmask")
}

fn forwarded_unblock() {
    init::reset_signals();
}

fn p1_main(
    join: &[(CloneFlags, OwnedFd, String)],
    rootdir: &std::fs::File,
    opts: &ExecOptions,
    chan: &Chan,
) -> StageResult<std::convert::Infallible> {
    super::namespaces::join_all(join)?;
    init::fork_p2(chan, "exec", "exec process", || p2_main(rootdir, opts, chan))
}

fn p2_main(rootdir: &std::fs::File, opts: &ExecOptions, chan: &Chan) -> StageResult<std::convert::Infallible> {
    // The ack first: a failure sent while it sat unread would be lost to a reset.
    chan.stage_expect("pid_ack")?;
    // Enter the container's root whether it pivoted or chrooted.
    nix::unistd::fchdir(rootdir).map_err(|e| StageError::errno("exec", "fchdir", "container root", e))?;
    nix::unistd::chroot(".").map_err(|e| StageError::errno("exec", "chroot", "container root", e))?;
    let cwd = opts.process.cwd();
    nix::unistd::chdir(cwd).map_err(|e| StageError::errno("exec", "chdir to cwd", cwd.display().to_string(), e))?;
    nix::unistd::setsid().map_err(|e| StageError::errno("exec", "setsid", "", e))?;
    if opts.process.terminal() == Some(true) {
        let master = console::open_pty_as_stdio()?;
        chan.stage_send(&Msg::Pty, Some(master.as_raw_fd()))?;
    }
    chan.stage_send(&Msg::Ready, None)?;
    Err(init::exec_process(&opts.process, opts.preserve_fds))
}
