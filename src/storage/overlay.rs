//! Kernel overlayfs: the mount itself (new mount API with one `lowerdir+` per layer,
//! so any number of layers fits) and the once-per-host probe shared with fuse-overlayfs.

use super::driver::{Driver, RootfsPlan};
use super::vfs::{OPAQUE_XATTR_ROOT, OPAQUE_XATTR_USER, is_whiteout, set_xattr};
use crate::paths::Paths;
use crate::runtime::error::{StageError, StageResult};
use anyhow::{Context, Result, bail};
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn last_errno() -> nix::errno::Errno {
    nix::errno::Errno::last()
}

/// The messages the kernel left in an fs context (read(2) on the fsopen fd).
fn fs_log(fd: &OwnedFd) -> Option<String> {
    use std::os::fd::AsRawFd;
    let mut msgs = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..8 {
        // SAFETY: reading into a local buffer from an fd we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        msgs.push(String::from_utf8_lossy(&buf[..n as usize]).trim().to_string());
    }
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

fn fsconfig(fd: &OwnedFd, cmd: libc::c_uint, key: Option<&str>, val: Option<&CString>) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let key = key.map(|k| CString::new(k).unwrap());
    let kp = key.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
    let vp = val.map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: fsconfig with valid NUL-terminated strings (or null where allowed).
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fd.as_raw_fd(), cmd, kp, vp, 0) };
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

/// Why the new mount API could not be used, so the caller may fall back.
enum NewApi {
    Unsupported,
    Failed(StageError),
}

fn mount_new_api(plan: &RootfsPlan) -> Result<(), NewApi> {
    let err = |op: &str, e: nix::errno::Errno, fd: Option<&OwnedFd>| {
        let mut se =
            StageError::errno("rootfs", format!("mount overlay ({op}) on"), plan.merged.display().to_string(), e);
        if let Some(h) = fd.and_then(fs_log) {
            se = se.with_hint(h);
        }
        NewApi::Failed(se)
    };
    let name = CString::new("overlay").unwrap();
    // SAFETY: fsopen with a valid string; the returned fd is owned below.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    if r < 0 {
        return match last_errno() {
            nix::errno::Errno::ENOSYS => Err(NewApi::Unsupported),
            e => Err(err("fsopen", e, None)),
        };
    }
    // SAFETY: r is a fresh fd.
    let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
    // lowerdir+ appends below the previous ones: give the topmost layer first.
    for (i, l) in plan.lowers.iter().rev().enumerate() {
        if let Err(e) = fsconfig(&fd, FSCONFIG_SET_STRING, Some("lowerdir+"), Some(&cstr(l))) {
            if i == 0 && e == nix::errno::Errno::EINVAL {
                return Err(NewApi::Unsupported); // kernel < 6.8
            }
            return Err(err(&format!("lowerdir+ {}", l.display()), e, Some(&fd)));
        }
    }
    fsconfig(&fd, FSCONFIG_SET_STRING, Some("upperdir"), Some(&cstr(&plan.upper)))
        .map_err(|e| err("upperdir", e, Some(&fd)))?;
    fsconfig(&fd, FSCONFIG_SET_STRING, Some("workdir"), Some(&cstr(&plan.work)))
        .map_err(|e| err("workdir", e, Some(&fd)))?;
    if plan.rootless {
        fsconfig(&fd, FSCONFIG_SET_FLAG, Some("userxattr"), None).map_err(|e| err("userxattr", e, Some(&fd)))?;
    }
    fsconfig(&fd, FSCONFIG_CMD_CREATE, None, None).map_err(|e| err("create", e, Some(&fd)))?;
    use std::os::fd::AsRawFd;
    // SAFETY: fsmount on our configured context.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fd.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        return Err(err("fsmount", last_errno(), Some(&fd)));
    }
    // SAFETY: m is a fresh fd.
    let mfd = unsafe { OwnedFd::from_raw_fd(m as i32) };
    let target = cstr(&plan.merged);
    let empty = CString::new("").unwrap();
    // SAFETY: move_mount of our detached mount onto an existing directory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mfd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(err("move_mount", last_errno(), None));
    }
    Ok(())
}

/// The longest directory every path starts with.
pub(super) fn common_dir(paths: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for p in paths {
        let parent = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        common = Some(match common {
            None => parent,
            Some(c) => {
                let mut out = PathBuf::new();
                for (a, b) in c.components().zip(parent.components()) {
                    if a != b {
                        break;
                    }
                    out.push(a.as_os_str());
                }
                out
            }
        });
    }
    common.unwrap_or_else(|| PathBuf::from("/"))
}

/// Legacy mount(2): the whole option string must fit in one page, so the lower
/// dirs are given relative to their common parent after a chdir there.
fn mount_legacy(plan: &RootfsPlan) -> StageResult<()> {
    let base = common_dir(&plan.lowers);
    let lowers: Vec<String> =
        plan.lowers.iter().rev().map(|l| l.strip_prefix(&base).unwrap_or(l).display().to_string()).collect();
    let mut data =
        format!("lowerdir={},upperdir={},workdir={}", lowers.join(":"), plan.upper.display(), plan.work.display());
    if plan.rootless {
        data.push_str(",userxattr");
    }
    let fail = |e| StageError::errno("rootfs", "mount overlay on", plan.merged.display().to_string(), e);
    if data.len() >= 4096 {
        return Err(fail(nix::errno::Errno::E2BIG).with_hint(format!(
            "{} layers do not fit in one page of mount options on this kernel; kernel >= 6.8 or --storage-driver fuse-overlayfs",
            plan.lowers.len()
        )));
    }
    let old = std::env::current_dir().ok();
    nix::unistd::chdir(&base).map_err(|e| StageError::errno("rootfs", "chdir to", base.display().to_string(), e))?;
    let r = nix::mount::mount(
        Some("overlay"),
        &plan.merged,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    );
    if let Some(o) = old {
        let _ = nix::unistd::chdir(&o);
    }
    r.map_err(fail)
}

/// Mount the kernel overlay described by `plan` at `plan.merged`.
pub fn mount(plan: &RootfsPlan) -> StageResult<()> {
    match mount_new_api(plan) {
        Ok(()) => Ok(()),
        Err(NewApi::Failed(e)) => Err(e),
        Err(NewApi::Unsupported) => mount_legacy(plan),
    }
}

/// Probe the kernel overlay with a real mount.
pub fn probe(paths: &Paths, rootless: bool) -> Result<String> {
    probe_mount(paths, rootless, Driver::Overlay)?;
    Ok(if rootless { "kernel overlay with userxattr works".into() } else { "kernel overlay works".into() })
}

fn mknod_whiteout(p: &Path) -> Result<()> {
    nix::sys::stat::mknod(p, nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::from_bits_truncate(0o600), 0)
        .with_context(|| format!("mknod 0:0 whiteout {}", p.display()))
}

/// A real test mount in `<data>/tmp`: two lowers, a 0:0 whiteout, an opaque dir;
/// checks the whiteout and the opaque dir hide lower files, then deletes a lower
/// file in `merged` to prove copy-up and whiteout creation. Runs in a forked child
/// with its own mount namespace so nothing leaks into ours.
pub(super) fn probe_mount(paths: &Paths, rootless: bool, driver: Driver) -> Result<()> {
    std::fs::create_dir_all(paths.tmp()).with_context(|| format!("creating {}", paths.tmp().display()))?;
    let dir = paths.tmp().join(format!("probe-{}-{}", driver.name(), &crate::fsutil::random_id()[..12]));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let res = (|| -> Result<()> {
        let (l1, l2) = (dir.join("l1"), dir.join("l2"));
        for d in ["l1", "l2", "upper", "work", "merged", "l1/opq", "l2/opq"] {
            std::fs::create_dir(dir.join(d)).with_context(|| format!("creating {}", dir.join(d).display()))?;
        }
        for f in ["gone", "keep", "del", "opq/hidden"] {
            std::fs::write(l1.join(f), f).with_context(|| format!("writing {}", l1.join(f).display()))?;
        }
        std::fs::write(l2.join("opq/new"), "new")?;
        mknod_whiteout(&l2.join("gone"))?;
        let xattr = if rootless { OPAQUE_XATTR_USER } else { OPAQUE_XATTR_ROOT };
        set_xattr(&l2.join("opq"), xattr, b"y").with_context(|| format!("setting {xattr} on {}", l2.display()))?;
        let plan = RootfsPlan {
            driver,
            lowers: vec![l1, l2],
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            rootless,
        };
        run_in_private_mount_ns(|| probe_checks(&plan))
    })();
    let _ = crate::fsutil::remove_dir_all_if_exists(&dir);
    res
}

fn probe_checks(plan: &RootfsPlan) -> Result<()> {
    super::driver::mount_rootfs(plan).map_err(|e| anyhow::anyhow!("{e}"))?;
    let m = &plan.merged;
    let res = (|| -> Result<()> {
        if !m.join("keep").exists() {
            bail!("a lower file is missing from the merged view");
        }
        if m.join("gone").symlink_metadata().is_ok() {
            bail!("a 0:0 whiteout does not hide the lower file");
        }
        if m.join("opq/hidden").exists() || !m.join("opq/new").exists() {
            bail!("the opaque directory does not hide the lower content");
        }
        std::fs::remove_file(m.join("del")).context("deleting a lower file in merged (copy-up/whiteout)")?;
        std::fs::write(m.join("written"), "x").context("writing a file in merged")?;
        let up = plan.upper.join("del").symlink_metadata();
        let whiteout = up.as_ref().is_ok_and(is_whiteout) || plan.upper.join(".wh.del").exists();
        if !whiteout || !plan.upper.join("written").exists() {
            bail!("deleting a lower file did not leave a whiteout in the upper dir");
        }
        Ok(())
    })();
    let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    res
}

/// Run `f` in a forked child that unshares a mount namespace (made private), and
/// return its result. The caller's namespace is never touched.
pub(super) fn run_in_private_mount_ns(f: impl FnOnce() -> Result<()>) -> Result<()> {
    use std::io::{Read, Write};
    let (mut rd, mut wr) = std::io::pipe().context("pipe")?;
    // SAFETY: the child only runs `f` and exits; glibc keeps malloc usable after fork.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let r = (|| -> Result<()> {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
                nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .context("making / private")?;
                f()
            })();
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    let _ = wr.write_all(format!("{e:#}").as_bytes());
                    1
                }
            };
            drop(wr);
            // SAFETY: leave without running the parent's destructors or atexit handlers.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            let _ = rd.read_to_string(&mut msg);
            let st = nix::sys::wait::waitpid(child, None).context("waitpid")?;
            match st {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                _ if !msg.is_empty() => bail!("{msg}"),
                other => bail!("probe process ended with {other:?}"),
            }
        }
    }
}

/// True when `p` is a character device 0:0 (an overlay whiteout).
pub fn is_whiteout_path(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.file_type().is_char_device() && is_whiteout(&m))
}
