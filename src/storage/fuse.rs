//! fuse-overlayfs: the same overlay semantics from a user-space daemon.
//!
//! The daemon is started from the container's mount namespace, in a mount namespace
//! of its own whose mount propagates back (so the container's pivot_root does not
//! move the daemon's root); it keeps its namespace alive and cannot notice the
//! container is gone. Its pid is kept in
//! `<container>/fuse-overlayfs.pid` and [`stop_daemon`] ends it when the container
//! stops (SIGTERM: libfuse unmounts and exits).

use super::driver::{Driver, RootfsPlan};
use super::overlay::common_dir;
use crate::paths::Paths;
use crate::runtime::error::{StageError, StageResult};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

const PIDFILE: &str = "fuse-overlayfs.pid";

/// Path of the fuse-overlayfs binary, or an error saying how to install it.
pub fn binary() -> Result<PathBuf> {
    crate::idmap::which("fuse-overlayfs")
        .context("fuse-overlayfs not found in PATH: install it with: apt-get install fuse-overlayfs")
}

/// Check that /dev/fuse can be opened read-write.
pub fn check_dev_fuse() -> Result<()> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "cannot open /dev/fuse ({e}): fuse-overlayfs needs it; as root run `chmod 0666 /dev/fuse` \
             (scripts/setup.sh does) or `modprobe fuse`"
        ),
    }
}

/// Probe fuse-overlayfs with a real mount (see `overlay::probe_mount`).
pub fn probe(paths: &Paths, rootless: bool) -> Result<String> {
    let bin = binary()?;
    check_dev_fuse()?;
    super::overlay::probe_mount(paths, rootless, Driver::FuseOverlayfs)?;
    Ok(format!("fuse-overlayfs {} works", bin.display()))
}

/// Start fuse-overlayfs on `plan.merged` in the current mount namespace and record
/// the daemon's pid. Lower dirs are passed relative to their common parent (the
/// daemon runs there), so any number of layers fits.
pub fn mount(plan: &RootfsPlan) -> StageResult<()> {
    let fail = |msg: String| StageError::msg("rootfs", format!("fuse-overlayfs on {}: {msg}", plan.merged.display()));
    let bin = binary().map_err(|e| fail(format!("{e:#}")))?;
    check_dev_fuse().map_err(|e| fail(format!("{e:#}")))?;
    let base = common_dir(&plan.lowers);
    let lowers: Vec<String> =
        plan.lowers.iter().rev().map(|l| l.strip_prefix(&base).unwrap_or(l).display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},allow_other",
        lowers.join(":"),
        plan.upper.display(),
        plan.work.display()
    );
    // The daemon gets a mount namespace of its own, joined to ours through a shared
    // bind mount of `merged`: its mount still appears here, but the container's
    // pivot_root (which moves the root of every process of the namespace) leaves it
    // alone, so its /proc and paths keep working.
    share_mountpoint(&plan.merged).map_err(|e| fail(format!("{e:#}")))?;
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(&bin);
    // SAFETY: unshare is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let out = cmd
        .current_dir(&base)
        .arg("-o")
        .arg(&opts)
        .arg(&plan.merged)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("running {}: {e}", bin.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = err.lines().filter(|l| !l.starts_with("unknown argument ignored")).collect();
        return Err(fail(format!("{} failed ({}): {}", bin.display(), out.status, err.join("; "))));
    }
    // The foreground process exits once the mount is up; the daemon carries on.
    match find_daemon(&plan.merged) {
        Some(pid) => {
            let pf = plan.container_dir().join(PIDFILE);
            std::fs::write(&pf, pid.to_string()).map_err(|e| fail(format!("writing {}: {e}", pf.display())))?;
        }
        None => tracing::warn!("fuse-overlayfs daemon for {} not found after mounting", plan.merged.display()),
    }
    Ok(())
}

/// Bind `dir` on itself and make it a shared mount, so a mount made on it in a copy
/// of this namespace propagates back here.
fn share_mountpoint(dir: &Path) -> Result<()> {
    use nix::mount::{MsFlags, mount};
    mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("bind-mounting {} on itself", dir.display()))?;
    mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED, None::<&str>)
        .with_context(|| format!("making {} a shared mount", dir.display()))
}

fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
        })
        .unwrap_or_default()
}

fn is_daemon_for(pid: i32, merged: &Path) -> bool {
    let args = cmdline(pid);
    args.first().is_some_and(|a| a.ends_with("fuse-overlayfs"))
        && args.last().is_some_and(|a| Path::new(a) == merged)
        && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_none_or(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// The pid of the live fuse-overlayfs daemon serving `merged`, if any.
pub fn find_daemon(merged: &Path) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|&pid| is_daemon_for(pid, merged))
}

/// Stop the fuse-overlayfs daemon of `plan` (if alive) and wait until it is gone.
pub fn stop_daemon(plan: &RootfsPlan) -> Result<()> {
    let pf = plan.container_dir().join(PIDFILE);
    let pid = match std::fs::read_to_string(&pf) {
        Ok(s) => s.trim().parse::<i32>().ok(),
        Err(_) => find_daemon(&plan.merged),
    };
    if let Some(pid) = pid.filter(|&p| is_daemon_for(p, &plan.merged)) {
        use nix::sys::signal::{Signal, kill};
        let p = nix::unistd::Pid::from_raw(pid);
        let _ = kill(p, Signal::SIGTERM);
        // Not our child: watch /proc until it is gone (or a zombie), then insist.
        let mut gone = false;
        for _ in 0..500 {
            if !is_daemon_for(pid, &plan.merged) {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if !gone {
            let _ = kill(p, Signal::SIGKILL);
        }
    }
    match std::fs::remove_file(&pf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", pf.display())),
    }
}
