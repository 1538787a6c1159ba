//! The one place the high-level containers call the OCI engine (`crate::runtime`):
//! the same builder `minirun oci run` uses, with the writable layer mounted by a
//! pre-rootfs hook inside the container's new mount namespace.
use super::record::{ContainerRecord, MountRecord};
use super::start::ExecOptions;
use crate::cli::Ctx;
use crate::runtime::container::ContainerBuilder;
use crate::runtime::error::StageError;
use crate::storage::driver::{self, RootfsPlan};
use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where the container's stdio goes.
pub enum Stdio {
    /// Ours (a foreground `run`): the container reads and writes our terminal or pipes.
    Inherit,
    /// A detached container: stdin /dev/null, stdout and stderr into these pipes.
    Pipes { stdout: OwnedFd, stderr: OwnedFd },
}

/// A started container.
pub struct Launched {
    pub pid: i32,
    pub tty_master: Option<OwnedFd>,
}

/// The engine's exit status for an error: 126/127 when the program could not be run.
fn with_exit_code(e: anyhow::Error) -> anyhow::Error {
    let code = e.chain().find_map(|c| c.downcast_ref::<StageError>()).map(crate::runtime::init::exec_exit_code);
    match code {
        Some(c) if c == 126 || c == 127 => {
            let msg = crate::error::report(&e);
            crate::error::ExitError::new(c, msg)
        }
        _ => e,
    }
}

/// A listening console socket at a short path (sun_path holds 108 bytes, container
/// directories can be longer); removed when dropped.
struct ConsoleSocket {
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleSocket {
    fn new() -> Result<ConsoleSocket> {
        let path = std::env::temp_dir().join(format!("minirun-cs-{}.sock", &crate::fsutil::random_id()[..16]));
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .with_context(|| format!("creating console socket {}", path.display()))?;
        Ok(ConsoleSocket { path, listener })
    }

    /// The pty master the engine sent (its connection is already queued).
    fn receive(&self) -> Result<OwnedFd> {
        let (conn, _) = self.listener.accept().context("accepting the console connection")?;
        let mut buf = [0u8; 256];
        let (_, fd) = crate::runtime::sync::recv_raw(conn.as_raw_fd(), &mut buf).context("receiving the pty master")?;
        fd.context("the runtime sent no pty master")
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Mount the writable layer, then fill empty volumes with the image's files at their
/// destinations (Docker's copy-up), before the engine sets up the rest.
/// The working directory is created when missing (as Docker and runc do), inside the rootfs.
fn pre_rootfs(
    ctx: &Ctx,
    plan: RootfsPlan,
    mounts: Vec<MountRecord>,
    cwd: PathBuf,
) -> crate::runtime::container::PreRootfs {
    let paths = ctx.paths.clone();
    Box::new(move |_rootfs: &Path| {
        driver::mount_rootfs(&plan)?;
        crate::runtime::inroot::Root::open(&plan.merged)
            .and_then(|r| r.mkdir_all(&cwd))
            .map_err(|e| StageError::errno("process", "create working directory", cwd.display().to_string(), e))?;
        for m in mounts.iter().filter(|m| m.copy_up) {
            copy_up(&paths, &plan.merged, m).map_err(|e| {
                StageError::msg("volumes", format!("copying the image's {} into volume: {e:#}", m.destination))
            })?;
        }
        Ok(())
    })
}

fn copy_up(paths: &crate::paths::Paths, merged: &Path, m: &MountRecord) -> Result<()> {
    let vols = crate::volume::VolumeStore::open(paths)?;
    let Some(name) = &m.name else { return Ok(()) };
    let Some(vol) = vols.get(name)? else { return Ok(()) };
    if !vols.is_empty(&vol)? {
        return Ok(());
    }
    // Resolve the destination inside the rootfs: an image symlink never leads out.
    let root = crate::storage::inroot::Root::open(merged)?;
    let rel = m.destination.trim_start_matches('/');
    let Ok(dir) = root.open_dir(rel.as_bytes()) else { return Ok(()) };
    let md = nix::sys::stat::fstat(&dir).context("stat of the image directory")?;
    if md.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Ok(());
    }
    // Through the descriptor: the kernel resolves below the directory already opened
    // inside the rootfs (entries are copied as they are, links as links).
    let src = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    crate::storage::vfs::copy_tree(&src, &vol.mountpoint)
        .with_context(|| format!("copying {} into volume {}", m.destination, vol.name))?;
    // `_data` takes the image directory's owner and mode, as Docker does.
    std::os::unix::fs::chown(&vol.mountpoint, Some(md.st_uid), Some(md.st_gid))
        .with_context(|| format!("chown {}", vol.mountpoint.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&vol.mountpoint, std::fs::Permissions::from_mode(md.st_mode & 0o7777))
        .with_context(|| format!("chmod {}", vol.mountpoint.display()))
}

fn load(ctx: &Ctx, id: &str) -> Result<(PathBuf, Spec, RootfsPlan)> {
    let dir = super::bundle_dir(ctx, id);
    let spec = Spec::load(dir.join("config.json")).context("reading the container's config.json")?;
    let plan: RootfsPlan = crate::fsutil::read_json(&dir.join("rootfs-plan.json"))?;
    Ok((dir, spec, plan))
}

/// Create and start the container's init (no exec.fifo: like `runc run -d`).
pub fn launch(ctx: &Ctx, rec: &ContainerRecord, stdio: Stdio) -> Result<Launched> {
    let (dir, mut spec, plan) = load(ctx, &rec.id)?;
    let console = if rec.tty { Some(ConsoleSocket::new()?) } else { None };
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(rec.tty));
    }
    // A previous run's engine state must not block this one.
    cleanup(ctx, &rec.id);
    let pid_file = dir.join("init.pid");
    let _ = std::fs::remove_file(&pid_file);
    let cwd = spec.process().as_ref().map(|p| p.cwd().clone()).unwrap_or_else(|| PathBuf::from("/"));
    let builder = ContainerBuilder::new(&rec.id, &dir, spec, &ctx.paths.oci_state())
        .pre_rootfs(pre_rootfs(ctx, plan, rec.mounts.clone(), cwd))
        .pid_file(Some(pid_file.clone()))
        .console_socket(console.as_ref().map(|c| c.path.clone()));
    let res = match stdio {
        Stdio::Inherit => builder.run(true),
        Stdio::Pipes { stdout, stderr } => with_stdio(&stdout, &stderr, || builder.run(true)),
    };
    res.map_err(with_exit_code)?;
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .context("reading the container's pid file")?
        .trim()
        .parse()
        .context("parsing the container's pid file")?;
    let tty_master = match &console {
        Some(c) => Some(c.receive()?),
        None => None,
    };
    Ok(Launched { pid, tty_master })
}

/// Run `f` with stdin on /dev/null and stdout/stderr on the given pipes (inherited by
/// the container), then put ours back.
fn with_stdio<T>(out: &OwnedFd, err: &OwnedFd, f: impl FnOnce() -> T) -> T {
    // SAFETY: dup/dup2 on fds we own; the saved copies are restored and closed.
    unsafe {
        let saved = [libc::dup(0), libc::dup(1), libc::dup(2)];
        if let Ok(null) = std::fs::File::open("/dev/null") {
            libc::dup2(null.as_raw_fd(), 0);
        }
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(err.as_raw_fd(), 2);
        let r = f();
        for (i, s) in saved.iter().enumerate() {
            if *s >= 0 {
                libc::dup2(*s, i as i32);
                libc::close(*s);
            }
        }
        r
    }
}

/// Run `o` inside the running container; its exit status.
pub fn exec(ctx: &Ctx, rec: &ContainerRecord, o: &ExecOptions) -> Result<i32> {
    let (_, spec, _) = load(ctx, &rec.id)?;
    let mut process = spec.process().clone().context("the container's config has no process")?;
    process.set_args(Some(o.cmd.clone()));
    process.set_terminal(Some(o.tty));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in &o.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    process.set_env(Some(env));
    if let Some(w) = &o.workdir {
        process.set_cwd(PathBuf::from(w));
    }
    if let Some(u) = &o.user {
        let init = rec.init.map(|p| p.pid).unwrap_or(0);
        let root = PathBuf::from(format!("/proc/{init}/root"));
        let read = |p: &str| read_in_root(&root, p);
        let ru = crate::spec::resolve_user(u, &read)?;
        let mut user = process.user().clone();
        user.set_uid(ru.uid);
        user.set_gid(ru.gid);
        user.set_additional_gids(Some(ru.additional_gids));
        process.set_user(user);
    }
    let console = if o.tty { Some(ConsoleSocket::new()?) } else { None };
    let pid_file = super::bundle_dir(ctx, &rec.id).join(format!("exec-{}.pid", &crate::fsutil::random_id()[..8]));
    let opts = crate::runtime::exec::ExecOptions {
        process,
        detach: o.detach || o.tty,
        pid_file: Some(pid_file.clone()),
        console_socket: console.as_ref().map(|c| c.path.clone()),
        preserve_fds: 0,
    };
    let res = crate::runtime::exec::exec(&ctx.paths.oci_state(), &rec.id, opts).map_err(with_exit_code);
    if console.is_none() || o.detach {
        let _ = std::fs::remove_file(&pid_file);
        return res;
    }
    res?;
    // With a terminal, we relay it and reap the process ourselves.
    let pid: i32 = std::fs::read_to_string(&pid_file)?.trim().parse().context("parsing the exec pid file")?;
    let _ = std::fs::remove_file(&pid_file);
    let master = console.as_ref().map(|c| c.receive()).transpose()?;
    super::supervise::supervise(super::supervise::Supervision {
        pid,
        tty_master: master,
        relay_stdin: o.interactive,
        log: None,
    })
}

/// Read a small file inside a container's root, never following a link out of it.
fn read_in_root(root: &Path, path: &str) -> Option<String> {
    let r = crate::storage::inroot::Root::open_following(root).ok()?;
    let rel = path.trim_start_matches('/');
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let d = r.open_dir(if dir.is_empty() { b"." } else { dir.as_bytes() }).ok()?;
    let c = crate::storage::inroot::cstr(name.as_bytes()).ok()?;
    // SAFETY: openat on a valid dirfd; ownership moves into the File.
    let fd = unsafe { libc::openat(d.as_raw_fd(), c.as_ptr(), libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let mut s = String::new();
    unsafe { std::fs::File::from_raw_fd(fd) }.take(1 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Forget the engine's state of a container (like `runc delete --force`) and stop a
/// fuse-overlayfs daemon if one serves it; never fails.
pub fn cleanup(ctx: &Ctx, id: &str) {
    let _ = crate::runtime::ops::delete(&ctx.paths.oci_state(), id, true);
    if let Ok((_, _, plan)) = load(ctx, id) {
        let _ = driver::unmount_rootfs(&plan);
    }
}
