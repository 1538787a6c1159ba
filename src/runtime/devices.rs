//! Device nodes in the container's /dev: the default six plus `linux.devices`, and the
//! /dev symlinks (ptmx, fd, stdin/out/err). As real root they are created with mknod;
//! rootless (no mknod in a user namespace) each is an empty file with the host's device
//! bind-mounted on it, like runc and crun do.
use super::error::{StageError, StageResult};
use super::inroot::{Root, fd_path};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::path::{Path, PathBuf};

/// One device to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// null, zero, full, random, urandom, tty: what every container gets.
pub fn default_devices() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(n, major, minor)| Device {
            path: PathBuf::from("/dev").join(n),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

/// A `linux.devices` entry as a `Device`.
pub fn from_spec(d: &LinuxDevice) -> StageResult<Device> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(StageError::msg(
                "devices",
                format!("device {}: type \"a\" cannot be created", d.path().display()),
            )
            .with_hint("use c, b, u or p in linux.devices"));
        }
    };
    Ok(Device {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

fn err(op: &str, path: &Path, e: Errno) -> StageError {
    StageError::errno("devices", op, path.display().to_string(), e)
}

/// Create `dev` inside the root: mknod as real root, a bind of the host node rootless
/// (or when mknod is refused, e.g. as root of a user namespace).
pub fn create(root: &Root, dev: &Device, rootless: bool) -> StageResult<()> {
    let dotdot = dev.path.components().any(|c| matches!(c, std::path::Component::ParentDir));
    if !dev.path.is_absolute() || !dev.path.starts_with("/dev") || dotdot {
        return Err(StageError::msg("devices", format!("device {}: not a path under /dev", dev.path.display())));
    }
    let (parent, name) = root.parent_and_name(&dev.path).map_err(|e| err("create device", &dev.path, e))?;
    // A previous file or symlink in the image's /dev is replaced; unlinkat never follows.
    let _ = nix::unistd::unlinkat(&parent, &name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    if !rootless {
        let r = nix::sys::stat::mknodat(
            &parent,
            &name,
            dev.kind,
            Mode::from_bits_truncate(dev.mode),
            nix::sys::stat::makedev(dev.major, dev.minor),
        );
        match r {
            Ok(()) => {
                // mknod obeys the umask; set the exact mode and owner (without following).
                let fd = root.resolve_nofollow(&dev.path).map_err(|e| err("create device", &dev.path, e))?;
                let p = fd_path(&fd);
                let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(dev.mode))
                    .map_err(|e| err("chmod device", &dev.path, io(e)))?;
                std::os::unix::fs::chown(&p, Some(dev.uid), Some(dev.gid))
                    .map_err(|e| err("chown device", &dev.path, io(e)))?;
                return Ok(());
            }
            Err(Errno::EPERM) => {
                tracing::debug!("mknod {} refused, bind-mounting the host device", dev.path.display());
            }
            Err(e) => return Err(err("mknod", &dev.path, e)),
        }
    }
    let fd = root.create_file(&dev.path).map_err(|e| err("create device", &dev.path, e))?;
    nix::mount::mount(Some(&dev.path), &fd_path(&fd), None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| err("bind mount device", &dev.path, e))
}

/// /dev/ptmx -> pts/ptmx and the /proc/self/fd links; /dev/shm exists.
pub fn create_symlinks(root: &Root) -> StageResult<()> {
    let links = [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    let dev = root.mkdir_all(Path::new("/dev")).map_err(|e| err("create", Path::new("/dev"), e))?;
    for (name, target) in links {
        let path = Path::new("/dev").join(name);
        if name == "ptmx" {
            // A node or file from the image would shadow the devpts instance's ptmx.
            let _ = nix::unistd::unlinkat(&dev, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(err("create symlink", &path, e)),
        }
    }
    root.mkdir_all(Path::new("/dev/shm")).map_err(|e| err("create", Path::new("/dev/shm"), e))?;
    Ok(())
}

/// An empty /dev/console for `bind_console` (created while the rootfs is still writable).
pub fn create_console(root: &Root) -> StageResult<()> {
    let p = Path::new("/dev/console");
    root.create_file(p).map(drop).map_err(|e| err("create", p, e))
}

/// After `setup_rootfs`, with a terminal: bind the pty slave onto /dev/console (as runc
/// does), so programs that open /dev/console reach the container's terminal.
pub fn bind_console(slave: &impl std::os::fd::AsRawFd) -> StageResult<()> {
    let p = Path::new("/dev/console");
    let root = Root::open(Path::new("/")).map_err(|e| err("bind console on", p, e))?;
    let target = root.resolve(p).map_err(|e| err("bind console on", p, e))?;
    let src = PathBuf::from(format!("/proc/self/fd/{}", slave.as_raw_fd()));
    nix::mount::mount(Some(&src), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| err("bind console on", p, e))
}
