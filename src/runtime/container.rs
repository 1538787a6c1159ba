//! Creating a container: the builder the CLI and `minirun run IMAGE` share, and the
//! process model (see runtime-notes and sync.rs for the message order):
//!
//! P0 (caller) forks P1, which joins/creates the namespaces (user first; the caller
//! writes the maps), runs the pre-rootfs hook in the new mount namespace and forks
//! P2 (pid 1 of a new pid namespace), reports its pid and exits. P0 is a child
//! subreaper, so P2 becomes P0's child. P2 applies the container settings, builds
//! the rootfs, says Ready, waits (create: on exec.fifo until `start`) and execs.
//!
//! /proc/self/exe protection: P2 only ever runs the runtime's image until its execve
//! of the user program, P1 has exited by then and P0 is outside the container's pid
//! namespace (and has exited for `create`); the runtime re-execs nothing, so no
//! process in the container can reach our binary through /proc/PID/exe.
use super::error::{StageError, StageResult};
use super::namespaces::{self, Plan};
use super::state::{Private, Record, State, Status, Store};
use super::sync::{self, Chan, Msg, Sequence};
use super::wait::{forwarded, wait_forwarding, write_pid_file};
use super::{console, freezer, hooks, init};
use anyhow::{Context, Result, anyhow, bail};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Runs in the new mount namespace, in P1, before the container process is forked:
/// the high-level path mounts the overlay rootfs here (a fuse daemon started here
/// stays outside the container's pid namespace).
pub type PreRootfs = Box<dyn FnOnce(&Path) -> StageResult<()>>;

/// Builds and starts one container from a config.
pub struct ContainerBuilder {
    id: String,
    bundle: PathBuf,
    spec: Spec,
    state_root: PathBuf,
    pre_rootfs: Option<PreRootfs>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    no_pivot: bool,
    preserve_fds: u32,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Mode {
    Create,
    Run { detach: bool },
}

/// Removes a half-created container unless disarmed.
struct Undo {
    dir: Option<PathBuf>,
    pid: Option<i32>,
    freezer: Option<PathBuf>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(f) = &self.freezer {
            freezer::remove(f);
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl ContainerBuilder {
    /// A container `id` from `spec`, with relative paths resolved against `bundle`,
    /// its state kept under `state_root` (runc's `--root`).
    pub fn new(id: &str, bundle: &Path, spec: Spec, state_root: &Path) -> Self {
        ContainerBuilder {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            spec,
            state_root: state_root.to_path_buf(),
            pre_rootfs: None,
            pid_file: None,
            console_socket: None,
            no_pivot: false,
            preserve_fds: 0,
        }
    }

    /// Run `f(rootfs)` in the new mount namespace before the rootfs is set up.
    pub fn pre_rootfs(mut self, f: PreRootfs) -> Self {
        self.pre_rootfs = Some(f);
        self
    }

    /// Write the container's host pid here (no newline) before returning.
    pub fn pid_file(mut self, p: Option<PathBuf>) -> Self {
        self.pid_file = p;
        self
    }

    /// Send the pty master to this AF_UNIX socket (needed when process.terminal).
    pub fn console_socket(mut self, p: Option<PathBuf>) -> Self {
        self.console_socket = p;
        self
    }

    /// chroot instead of pivot_root.
    pub fn no_pivot(mut self, v: bool) -> Self {
        self.no_pivot = v;
        self
    }

    /// Pass fds 3..3+n to the container.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.preserve_fds = n;
        self
    }

    /// `create`: the container process waits on exec.fifo until `start`. Returns its pid.
    pub fn create(self) -> Result<i32> {
        self.launch(Mode::Create)
    }

    /// `run`: create and start; with `detach` return once the program runs (status 0),
    /// otherwise wait, forward signals, delete the container and return its exit
    /// status (128+N after signal N). A failed exec comes back as an error holding a
    /// `StageError` (`init::exec_exit_code` maps it to 126/127).
    /// The caller must be single-threaded (the runtime forks).
    pub fn run(self, detach: bool) -> Result<i32> {
        self.launch(Mode::Run { detach })
    }

    fn launch(mut self, mode: Mode) -> Result<i32> {
        let rootless = crate::idmap::is_rootless();
        let store = Store::open(&self.state_root)?;
        let dir = store.create_dir(&self.id)?;
        let mut undo = Undo { dir: Some(dir.clone()), pid: None, freezer: None };
        let lock = store.lock(&self.id)?;
        // The container's root (uid 0 in its user namespace) must reach exec.fifo.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
        let bundle = std::fs::canonicalize(&self.bundle)
            .with_context(|| format!("bundle {} does not exist", self.bundle.display()))?;
        let root_path = self.spec.root().as_ref().map(|r| r.path().clone()).context("the config has no root.path")?;
        let rootfs = std::fs::canonicalize(bundle.join(&root_path))
            .with_context(|| format!("rootfs {} does not exist", bundle.join(&root_path).display()))?;
        let process = self.spec.process().clone().context("the config has no process")?;
        let terminal = process.terminal() == Some(true);
        if terminal && self.console_socket.is_none() {
            bail!(
                "process.terminal is true but no --console-socket was given: pass one, or set \"terminal\": false in config.json"
            );
        }
        let plan = namespaces::plan(&self.spec, rootless)?;
        if self.spec.linux().as_ref().and_then(|l| l.resources().as_ref()).is_some() {
            super::log::debug("linux.resources is accepted but not applied (cgroups come later)");
        }
        let fifo = store.fifo(&self.id);
        if mode == Mode::Create {
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .with_context(|| format!("mkfifo {}", fifo.display()))?;
            if let Some(m) = &plan.userns {
                let host = |r: &[crate::idmap::IdRange]| r.iter().find(|r| r.container == 0).map(|r| r.host);
                if let (Some(u), Some(g)) = (host(&m.uids), host(&m.gids)) {
                    std::os::unix::fs::chown(&fifo, Some(u), Some(g))
                        .with_context(|| format!("chown {}", fifo.display()))?;
                }
            }
        }
        let dirfd: OwnedFd = nix::fcntl::open(
            &dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .with_context(|| format!("opening {}", dir.display()))?;
        let fz = freezer::plan(&self.id, rootless);
        if let Some(f) = &fz {
            freezer::create(f)?;
            undo.freezer = Some(f.clone());
        }
        let (parent, child) = sync::pair().context("socketpair")?;
        let foreground = mode == Mode::Run { detach: false };
        if foreground {
            forwarded().thread_block().context("sigprocmask")?;
        }
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let orig_cg = fz.as_ref().and_then(|_| freezer::current());
        if let Some(f) = &fz {
            // Join before forking so every container process starts inside.
            freezer::join(f, 0)?;
        }
        let ctx = StageCtx {
            spec: &self.spec,
            rootfs: &rootfs,
            bundle: &bundle,
            rootless,
            no_pivot: self.no_pivot,
            create: mode == Mode::Create,
            terminal,
            preserve_fds: self.preserve_fds,
            dirfd: &dirfd,
        };
        // SAFETY: the caller is single-threaded (documented requirement of the builder).
        let p1 = match unsafe { nix::unistd::fork() }.context("fork")? {
            ForkResult::Child => {
                drop(parent);
                // The flock lives on the open file: this copy must not keep it held.
                drop(lock);
                let e = match p1_main(&ctx, &plan, self.pre_rootfs.take(), &child) {
                    Ok(never) => match never {},
                    Err(e) => e,
                };
                let _ = child.send(&Msg::Error { error: e }, None);
                // SAFETY: leave without running the caller's destructors.
                unsafe { libc::_exit(1) }
            }
            ForkResult::Parent { child } => child,
        };
        if let (Some(_), Some(o)) = (&fz, &orig_cg) {
            let _ = freezer::join(o, 0);
        }
        drop(child);
        let res = self.talk(&parent, p1, &plan, &mut undo);
        if let Err(e) = res {
            let _ = nix::sys::signal::kill(p1, Signal::SIGKILL);
            let _ = waitpid(p1, None);
            if foreground {
                let _ = forwarded().thread_unblock();
            }
            return Err(e);
        }
        let pid = undo.pid.expect("pid known after ready");
        let _lock = lock;
        let (start_time, _) =
            super::state::proc_start(pid).ok_or_else(|| anyhow!("container process {pid} vanished"))?;
        let mut rec = Record {
            state: State {
                oci_version: super::state::OCI_VERSION.into(),
                id: self.id.clone(),
                pid,
                status: Status::Created,
                bundle: bundle.clone(),
                rootfs: rootfs.clone(),
                created: super::state::now_rfc3339(),
                annotations: self.spec.annotations().clone().filter(|a| !a.is_empty()),
                owner: String::new(),
            },
            minirun: Private {
                start_time,
                config: self.spec.clone(),
                rootless,
                no_pivot: self.no_pivot,
                freezer: fz.clone(),
            },
        };
        store.save(&rec)?;
        let state_json = serde_json::to_string(&rec.state)?;
        let h = self.spec.hooks().clone().unwrap_or_default();
        #[allow(deprecated)]
        hooks::run_all("prestart", h.prestart().as_ref(), &state_json)?;
        hooks::run_all("createRuntime", h.create_runtime().as_ref(), &state_json)?;
        rec.state.status = Status::Running;
        let running_json = serde_json::to_string(&rec.state)?;
        parent
            .send(&Msg::Continue { created: state_json, state: running_json.clone() }, None)
            .context("sync: sending continue")?;
        // The createContainer hooks run in the container; their failure fails create.
        match parent.recv().context("sync: waiting for the createContainer hooks")? {
            Some((Msg::Created, _)) => {}
            Some((Msg::Error { error }, _)) => {
                if foreground {
                    let _ = forwarded().thread_unblock();
                }
                return Err(anyhow::Error::new(error));
            }
            other => bail!("sync: expected created, got {other:?}"),
        }
        if mode == Mode::Create {
            write_pid_file(self.pid_file.as_deref(), pid)?;
            undo.dir = None;
            undo.pid = None;
            undo.freezer = None;
            return Ok(pid);
        }
        // run: EOF on the socket means the execve succeeded.
        if let Some((Msg::Error { error }, _)) = parent.recv().context("sync: waiting for exec")? {
            if foreground {
                let _ = forwarded().thread_unblock();
            }
            return Err(anyhow::Error::new(error));
        }
        write_pid_file(self.pid_file.as_deref(), pid)?;
        hooks::run_all("poststart", h.poststart().as_ref(), &running_json)?;
        if !foreground {
            undo.dir = None;
            undo.pid = None;
            undo.freezer = None;
            return Ok(0);
        }
        let code = wait_forwarding(pid)?;
        let _ = forwarded().thread_unblock();
        undo.pid = None;
        undo.dir = None;
        undo.freezer = None;
        drop(_lock);
        // Like runc: a foreground container is deleted once it exits (poststop hooks,
        // any processes left in it, its state).
        super::ops::delete(&self.state_root, &self.id, true)?;
        Ok(code)
    }

    /// P0's side of the sync protocol until Ready.
    fn talk(&self, chan: &Chan, p1: Pid, plan: &Plan, undo: &mut Undo) -> Result<()> {
        let terminal = self.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
        let mut seq = Sequence::new(plan.userns.is_some(), terminal);
        while !seq.done() {
            let Some((m, fd)) = chan.recv().context("sync: receiving from the container setup")? else {
                bail!("the container setup process exited without a message");
            };
            seq.accept(&m).map_err(|e| anyhow!(e))?;
            match m {
                Msg::UsernsReady => {
                    crate::idmap::write_maps(p1.as_raw(), plan.userns.as_ref().expect("userns planned"))?;
                    chan.send(&Msg::MapsWritten, None).context("sync: sending maps_written")?;
                }
                Msg::Pid { pid } => {
                    undo.pid = Some(pid);
                    let _ = waitpid(p1, None);
                    chan.send(&Msg::PidAck, None).context("sync: sending pid_ack")?;
                }
                Msg::Pty => {
                    let fd = fd.context("sync: pty message without a file descriptor")?;
                    let sock = self.console_socket.as_deref().expect("checked with terminal");
                    console::send_to_socket(sock, fd.as_raw_fd())?;
                }
                Msg::Error { error } => return Err(anyhow::Error::new(error)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// What the stages need, borrowed from the builder.
struct StageCtx<'a> {
    spec: &'a Spec,
    rootfs: &'a Path,
    bundle: &'a Path,
    rootless: bool,
    no_pivot: bool,
    create: bool,
    terminal: bool,
    preserve_fds: u32,
    dirfd: &'a OwnedFd,
}

fn name_process(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME with a NUL-terminated string.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
}

/// P1: namespaces, pre-rootfs hook, fork of the container process.
fn p1_main(ctx: &StageCtx, plan: &Plan, pre: Option<PreRootfs>, chan: &Chan) -> StageResult<std::convert::Infallible> {
    name_process(c"minirun:setup");
    namespaces::join_all(&plan.join)?;
    if plan.userns.is_some() {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| StageError::errno("userns", "unshare", "user namespace", e))?;
        chan.stage_send(&Msg::UsernsReady, None)?;
        chan.stage_expect("maps_written")?;
        namespaces::become_root()?;
    }
    // The pid namespace comes after the pre-rootfs hook: a helper it starts (the
    // fuse-overlayfs daemon) would otherwise become that namespace's pid 1, and its
    // exit would leave a namespace nobody can fork into.
    let rest = plan.unshare - CloneFlags::CLONE_NEWUSER - CloneFlags::CLONE_NEWPID;
    if !rest.is_empty() {
        nix::sched::unshare(rest).map_err(|e| StageError::errno("namespaces", "unshare", format!("{rest:?}"), e))?;
    }
    if rest.contains(CloneFlags::CLONE_NEWNS) {
        // Nothing mounted from here on may propagate back to the host.
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
            None::<&str>,
        )
        .map_err(|e| StageError::errno("mounts", "make rslave", "/", e))?;
    }
    if let Some(f) = pre {
        if !rest.contains(CloneFlags::CLONE_NEWNS) {
            // Its mounts would land in the caller's (maybe the host's) mount namespace.
            return Err(StageError::msg("rootfs", "a pre-rootfs hook needs a new mount namespace in the config"));
        }
        f(ctx.rootfs)?;
    }
    if plan.unshare.contains(CloneFlags::CLONE_NEWPID) {
        nix::sched::unshare(CloneFlags::CLONE_NEWPID)
            .map_err(|e| StageError::errno("namespaces", "unshare", "pid namespace", e))?;
    }
    init::fork_p2(chan, "process", "container process", || p2_main(ctx, chan))
}

/// P2, the container's pid 1: settings, rootfs, cwd, pty, ready, wait, exec.
fn p2_main(ctx: &StageCtx, chan: &Chan) -> StageResult<std::convert::Infallible> {
    name_process(c"minirun:init");
    // Take the parent's ack before anything can fail: an error sent while the ack
    // sits unread would reach the parent as a connection reset instead of the error.
    chan.stage_expect("pid_ack")?;
    nix::unistd::setsid().map_err(|e| StageError::errno("process", "setsid", "", e))?;
    super::security::apply_container_settings(ctx.spec)?;
    let rctx = super::rootfs::RootfsCtx {
        spec: ctx.spec,
        rootfs: ctx.rootfs,
        bundle: ctx.bundle,
        rootless: ctx.rootless,
        no_pivot: ctx.no_pivot,
    };
    super::rootfs::setup_rootfs(&rctx)?;
    let process = ctx.spec.process().as_ref().expect("checked by the caller");
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(StageError::msg("process", format!("process.cwd {} is not absolute", cwd.display())));
    }
    // After pivot_root (or chroot) the rootfs is `/`: a cwd cannot leave it.
    nix::unistd::chdir(cwd).map_err(|e| StageError::errno("process", "chdir to cwd", cwd.display().to_string(), e))?;
    if ctx.terminal {
        let master = console::open_pty_as_stdio()?;
        // Programs that open /dev/console reach the container's terminal (runc does this).
        super::devices::bind_console(&std::io::stdin())?;
        chan.stage_send(&Msg::Pty, Some(master.as_raw_fd()))?;
    }
    chan.stage_send(&Msg::Ready, None)?;
    let Msg::Continue { created, state } = chan.stage_expect("continue")? else { unreachable!() };
    // createContainer: in the container's namespaces, after pivot_root, before start.
    if let Some(h) = ctx.spec.hooks().as_ref().and_then(|h| h.create_container().as_ref()) {
        hooks::run_all("createContainer", Some(h), &created).map_err(|e| StageError::msg("hooks", format!("{e:#}")))?;
    }
    chan.stage_send(&Msg::Created, None)?;
    if ctx.create {
        // Blocks until `start` opens the fifo for reading.
        let fd = nix::fcntl::openat(
            ctx.dirfd,
            "exec.fifo",
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| StageError::errno("start", "open", "exec.fifo", e))?;
        let _ = nix::unistd::write(&fd, b"0");
        drop(fd);
    }
    if let Some(h) = ctx.spec.hooks().as_ref().and_then(|h| h.start_container().as_ref()) {
        hooks::run_all("startContainer", Some(h), &state).map_err(|e| StageError::msg("hooks", format!("{e:#}")))?;
    }
    Err(init::exec_process(process, ctx.preserve_fds))
}
