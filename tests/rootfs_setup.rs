//! Library-level tests of the rootfs stage: each runs in a forked child in fresh
//! namespaces (as root, and as the unprivileged test user inside its own user
//! namespace), calls setup_rootfs directly and checks the result from inside.
mod common;
#[macro_use]
mod rootfs_support;

use minirun::runtime::rootfs::{RootfsCtx, setup_rootfs};
use minirun::runtime::security::apply_container_settings;
use minirun::runtime::specgen::default_spec;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Mount, Spec};
use rootfs_support::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A private copy of the fixture rootfs (every test may scribble on it).
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// Rootless, the copy belongs to the test user, as an unpacked image would.
    fn new(rootless: bool) -> Bundle {
        let dir = tempfile::Builder::new().prefix("minirun-rootfs-t").tempdir().unwrap();
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(common::fixture("rootfs"))
            .arg(dir.path().join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
        if rootless {
            let (uid, gid) = common::test_user_ids();
            let st = std::process::Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(dir.path().join("rootfs"))
                .status()
                .unwrap();
            assert!(st.success());
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Bundle { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

/// What every container must look like after setup_rootfs with the default spec.
fn check_container_view(rootless: bool) -> Check {
    ensure!(std::env::current_dir().unwrap() == Path::new("/"), "cwd is not /");
    ensure!(Path::new("/bin/busybox").exists(), "rootfs content missing");
    ensure!(!Path::new("/work").exists(), "host /work visible in the container");
    ensure!(std::fs::read_to_string("/proc/self/status").is_ok(), "/proc/self/status unreadable");
    for (dev, rdev) in [("/dev/null", (1, 3)), ("/dev/zero", (1, 5)), ("/dev/urandom", (1, 9)), ("/dev/tty", (5, 0))] {
        let m = std::fs::metadata(dev).map_err(|e| format!("{dev}: {e}"))?;
        ensure!(m.file_type().is_char_device(), "{dev} is not a char device");
        let (ma, mi) = (libc::major(m.rdev()), libc::minor(m.rdev()));
        ensure!((ma, mi) == rdev, "{dev} is {ma}:{mi}");
    }
    std::fs::write("/dev/null", b"x").map_err(|e| format!("write /dev/null: {e}"))?;
    ensure!(
        std::fs::read_link("/dev/ptmx").ok() == Some(PathBuf::from("pts/ptmx")),
        "/dev/ptmx is not a link to pts/ptmx"
    );
    ensure!(std::fs::read_link("/dev/fd").ok() == Some(PathBuf::from("/proc/self/fd")), "/dev/fd link");
    ensure!(std::fs::read_link("/dev/stderr").ok() == Some(PathBuf::from("/proc/self/fd/2")), "/dev/stderr link");
    ensure!(Path::new("/dev/pts/ptmx").exists(), "no devpts instance");
    ensure!(Path::new("/dev/shm").is_dir(), "/dev/shm missing");
    // maskedPaths: /proc/timer_list reads empty, /sys/firmware is an empty directory.
    let masked = std::fs::read("/proc/timer_list").map_err(|e| format!("read /proc/timer_list: {e}"))?;
    ensure!(masked.is_empty(), "/proc/timer_list not masked");
    if Path::new("/sys/firmware").exists() {
        let n = std::fs::read_dir("/sys/firmware").map_err(|e| format!("/sys/firmware: {e}"))?.count();
        ensure!(n == 0, "/sys/firmware not masked ({n} entries)");
    }
    // readonlyPaths: /proc/sys is read-only.
    let e = std::fs::write("/proc/sys/kernel/hostname", "x").expect_err("/proc/sys writable");
    ensure!(errno_of(e) == libc::EROFS, "/proc/sys write did not fail with EROFS");
    // /sys is read-only (sysfs ro, or the rootless ro bind of the host's).
    let st = nix::sys::statvfs::statvfs("/sys").map_err(|e| format!("statvfs /sys: {e}"))?;
    ensure!(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY), "/sys is writable");
    let magic = nix::sys::statfs::statfs("/sys").map_err(|e| format!("statfs /sys: {e}"))?.filesystem_type();
    ensure!(magic == nix::sys::statfs::SYSFS_MAGIC, "/sys is not sysfs");
    ensure!(Path::new("/dev/mqueue").is_dir(), "/dev/mqueue missing");
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    ensure!(mi.lines().any(|l| l.contains(" /dev/mqueue ") && l.contains(" mqueue ")), "mqueue not mounted:\n{mi}");
    let _ = rootless;
    Ok(())
}

fn setup(spec: &Spec, b: &Bundle, rootless: bool) -> Check {
    apply_container_settings(spec).map_err(|e| format!("apply_container_settings: {e}"))?;
    let rootfs = b.rootfs();
    let ctx = RootfsCtx { spec, rootfs: &rootfs, bundle: b.path(), rootless, no_pivot: false };
    setup_rootfs(&ctx).map_err(|e| format!("setup_rootfs: {e}"))
}

const NS: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC);

#[test]
fn default_spec_rootfs_as_root() {
    let b = Bundle::new(false);
    let spec = default_spec(false);
    in_child(|w| {
        unshare(NS | CloneFlags::CLONE_NEWNET)?;
        fork_and_wait(w, || {
            setup(&spec, &b, false)?;
            check_container_view(false)?;
            let h = nix::unistd::gethostname().unwrap();
            ensure!(h == "minirun", "hostname {h:?}");
            Ok(())
        })
    })
    .unwrap();
    assert!(common::mounts_under(b.path()).is_empty());
}

#[test]
fn default_spec_rootfs_rootless() {
    let b = Bundle::new(true);
    let spec = default_spec(true);
    in_child(|w| {
        become_rootless(NS)?;
        fork_and_wait(w, || {
            setup(&spec, &b, true)?;
            check_container_view(true)
        })
    })
    .unwrap();
}

/// A rootfs whose /dev, /proc and mount destinations are symlinks pointing at host
/// directories (absolute and via ../..) must not get anything created or mounted there.
fn hostile_symlinks(rootless: bool) {
    let b = Bundle::new(rootless);
    let host = tempfile::Builder::new().prefix("minirun-host-t").tempdir().unwrap();
    std::fs::set_permissions(host.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for d in ["dev", "proc", "data", "rel"] {
        std::fs::create_dir(host.path().join(d)).unwrap();
        std::fs::set_permissions(host.path().join(d), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let r = b.rootfs();
    std::fs::remove_dir(r.join("dev")).unwrap();
    std::fs::remove_dir(r.join("proc")).unwrap();
    std::os::unix::fs::symlink(host.path().join("dev"), r.join("dev")).unwrap();
    std::os::unix::fs::symlink(host.path().join("proc"), r.join("proc")).unwrap();
    std::os::unix::fs::symlink(host.path().join("data"), r.join("data")).unwrap();
    let rel = format!("../../../../../../../../..{}", host.path().join("rel").display());
    std::os::unix::fs::symlink(&rel, r.join("rel")).unwrap();
    std::os::unix::fs::symlink("/etc", r.join("etcdata")).unwrap();
    let vol = b.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("hello"), "hi").unwrap();
    std::fs::set_permissions(&vol, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(vol.join("hello"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let host_etc_before: Vec<_> = std::fs::read_dir("/etc").unwrap().map(|e| e.unwrap().file_name()).collect();

    let mut spec = default_spec(rootless);
    let mut mounts = spec.mounts().clone().unwrap();
    for (dst, opts) in [("/data/sub", "rbind,ro"), ("/rel/x", "bind"), ("/etcdata/minirun-t", "bind")] {
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": dst, "type": "bind", "source": "vol", "options": opts.split(',').collect::<Vec<_>>()
        }))
        .unwrap();
        mounts.push(m);
    }
    spec.set_mounts(Some(mounts));
    in_child(|w| {
        if rootless {
            become_rootless(NS)?;
        } else {
            unshare(NS | CloneFlags::CLONE_NEWNET)?;
        }
        fork_and_wait(w, || {
            setup(&spec, &b, rootless)?;
            ensure!(Path::new("/dev/null").exists() && Path::new("/proc/self").exists(), "no /dev or /proc");
            ensure!(std::fs::read_to_string("/data/sub/hello").ok().as_deref() == Some("hi"), "/data/sub bind");
            let e = std::fs::write("/data/sub/new", "x").expect_err("ro bind writable");
            ensure!(errno_of(e) == libc::EROFS, "ro bind: not EROFS");
            ensure!(Path::new("/rel/x/hello").exists(), "/rel/x bind");
            ensure!(Path::new("/etc/minirun-t/hello").exists(), "/etcdata bind not inside the rootfs");
            Ok(())
        })
    })
    .unwrap();
    for d in ["dev", "proc", "data", "rel"] {
        let n = std::fs::read_dir(host.path().join(d)).unwrap().count();
        assert_eq!(n, 0, "something was created in host {d}");
    }
    let host_etc_after: Vec<_> = std::fs::read_dir("/etc").unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(host_etc_before, host_etc_after, "host /etc changed");
    assert!(common::mounts_under(host.path()).is_empty());
    // The symlinks were followed inside the rootfs instead.
    let inside = r.join(host.path().strip_prefix("/").unwrap());
    assert!(inside.join("dev").is_dir() && inside.join("data/sub").is_dir() && inside.join("rel/x").is_dir());
}

#[test]
fn symlinked_dev_proc_and_destinations_as_root() {
    hostile_symlinks(false);
}

#[test]
fn symlinked_dev_proc_and_destinations_rootless() {
    hostile_symlinks(true);
}

fn bind_mount(dst: &str, src: &str, opts: &str) -> Mount {
    serde_json::from_value(serde_json::json!({
        "destination": dst, "type": "bind", "source": src,
        "options": opts.split(',').filter(|o| !o.is_empty()).collect::<Vec<_>>()
    }))
    .unwrap()
}

fn flags_of(p: &str) -> Result<nix::sys::statvfs::FsFlags, String> {
    Ok(nix::sys::statvfs::statvfs(p).map_err(|e| format!("statvfs {p}: {e}"))?.flags())
}

/// Bind options: ro (also over a source whose nosuid/nodev the kernel locks when
/// rootless), nosuid/noexec, a file bind, a relative source, propagation; sysctls;
/// readonly root; --no-pivot.
fn bind_options(rootless: bool, no_pivot: bool) {
    use nix::sys::statvfs::FsFlags;
    let b = Bundle::new(rootless);
    let (uid, gid) = if rootless { common::test_user_ids() } else { (0, 0) };
    // The child mounts a nosuid,nodev tmpfs here (in its own mount namespace): the
    // rootless user namespace then sees those flags locked, and a ro remount must keep them.
    let locked = tempfile::Builder::new().prefix("minirun-locked-t").tempdir().unwrap();
    std::fs::set_permissions(locked.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(b.path().join("vol")).unwrap();
    std::fs::write(b.path().join("vol/hello"), "hi").unwrap();
    std::fs::write(b.path().join("single"), "one file").unwrap();
    std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(b.path().join("vol"))
        .status()
        .unwrap();
    std::process::Command::new("chmod").arg("-R").arg("a+rX").arg(b.path()).status().unwrap();

    let mut spec = default_spec(rootless);
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(bind_mount("/locked", locked.path().to_str().unwrap(), "bind,ro"));
    mounts.push(bind_mount("/vol", "vol", "rbind,nosuid,noexec,nodev,rprivate"));
    mounts.push(bind_mount("/vol-ro", "vol", "bind,ro,relatime"));
    mounts.push(bind_mount("/etc/single", "single", "bind,ro"));
    mounts.push(
        serde_json::from_value(serde_json::json!({
            "destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=1777"]
        }))
        .unwrap(),
    );
    spec.set_mounts(Some(mounts));
    if !rootless {
        let mut linux = spec.linux().clone().unwrap();
        linux.set_sysctl(Some([("kernel.msgmax".to_string(), "4096".to_string())].into_iter().collect()));
        linux.set_rootfs_propagation(Some("rprivate".into()));
        spec.set_linux(Some(linux));
    }
    let mut root = spec.root().clone().unwrap();
    root.set_readonly(Some(true));
    spec.set_root(Some(root));

    let res = in_child(|w| {
        unshare(CloneFlags::CLONE_NEWNS)?;
        let private = nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE;
        nix::mount::mount(None::<&str>, "/", None::<&str>, private, None::<&str>).map_err(|e| format!("{e}"))?;
        let fl = nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV;
        nix::mount::mount(Some("tmpfs"), locked.path(), Some("tmpfs"), fl, Some("mode=755"))
            .map_err(|e| format!("mount locked tmpfs: {e}"))?;
        std::fs::write(locked.path().join("f"), "locked").map_err(|e| format!("{e}"))?;
        if rootless {
            become_rootless(NS)?;
        } else {
            unshare(NS | CloneFlags::CLONE_NEWNET)?;
        }
        fork_and_wait(w, || {
            apply_container_settings(&spec).map_err(|e| format!("apply_container_settings: {e}"))?;
            let rootfs = b.rootfs();
            let ctx = RootfsCtx { spec: &spec, rootfs: &rootfs, bundle: b.path(), rootless, no_pivot };
            setup_rootfs(&ctx).map_err(|e| format!("setup_rootfs: {e}"))?;
            let f = flags_of("/locked")?;
            ensure!(f.contains(FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV), "/locked flags {f:?}");
            ensure!(std::fs::read_to_string("/locked/f").ok().as_deref() == Some("locked"), "/locked content");
            let f = flags_of("/vol")?;
            ensure!(f.contains(FsFlags::ST_NOSUID | FsFlags::ST_NOEXEC | FsFlags::ST_NODEV), "/vol flags {f:?}");
            ensure!(!f.contains(FsFlags::ST_RDONLY), "/vol is read-only");
            std::fs::write("/vol/new", "x").map_err(|e| format!("write /vol/new: {e}"))?;
            ensure!(flags_of("/vol-ro")?.contains(FsFlags::ST_RDONLY), "/vol-ro writable");
            ensure!(std::fs::read_to_string("/etc/single").ok().as_deref() == Some("one file"), "file bind");
            ensure!(flags_of("/scratch")?.contains(FsFlags::ST_NOSUID), "/scratch flags");
            std::fs::write("/scratch/x", "x").map_err(|e| format!("write /scratch/x: {e}"))?;
            let e = std::fs::write("/newfile", "x").expect_err("readonly root writable");
            ensure!(errno_of(e) == libc::EROFS, "readonly root: not EROFS");
            if !rootless {
                let v = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap_or_default();
                ensure!(v.trim() == "4096", "sysctl kernel.msgmax = {v:?}");
                let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
                let rootline = mi.lines().find(|l| l.split(' ').nth(4) == Some("/")).unwrap_or("");
                ensure!(!rootline.contains("shared:") && !rootline.contains("master:"), "root not private: {rootline}");
            }
            check_container_view(rootless)
        })
    });
    // Everything happened in the child's mount namespace: the host is untouched.
    assert!(common::mounts_under(locked.path()).is_empty());
    assert!(!locked.path().join("new").exists());
    res.unwrap();
    assert!(b.path().join("vol/new").exists(), "the rw bind did not reach the source");
    assert!(b.rootfs().join("etc/single").is_file(), "file destination not created as a file");
}

#[test]
fn bind_options_sysctls_readonly_root_as_root() {
    bind_options(false, false);
}

#[test]
fn bind_options_readonly_root_rootless() {
    bind_options(true, false);
}

#[test]
fn no_pivot_as_root() {
    bind_options(false, true);
}

/// Errors name the stage, the operation and the container path.
#[test]
fn mount_errors_name_the_destination() {
    let b = Bundle::new(false);
    let mut spec = default_spec(false);
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.push(bind_mount("/data", "does-not-exist", "bind"));
    spec.set_mounts(Some(mounts));
    in_child(|w| {
        unshare(NS)?;
        fork_and_wait(w, || {
            let rootfs = b.rootfs();
            let ctx = RootfsCtx { spec: &spec, rootfs: &rootfs, bundle: b.path(), rootless: false, no_pivot: false };
            let e = setup_rootfs(&ctx).expect_err("missing bind source must fail");
            ensure!(e.stage == "mounts", "stage {}", e.stage);
            ensure!(e.errno == Some(libc::ENOENT), "errno {:?}", e.errno);
            ensure!(e.to_string().contains("does-not-exist"), "message: {e}");
            Ok(())
        })
    })
    .unwrap();
}

/// With process.terminal, /dev/console exists after setup_rootfs and bind_console puts
/// the pty slave (of the container's devpts instance) there.
#[test]
fn console_is_the_pty_slave() {
    for rootless in [false, true] {
        let b = Bundle::new(rootless);
        let mut spec = default_spec(rootless);
        let mut p = spec.process().clone().unwrap();
        p.set_terminal(Some(true));
        spec.set_process(Some(p));
        in_child(|w| {
            if rootless {
                become_rootless(NS)?;
            } else {
                unshare(NS | CloneFlags::CLONE_NEWNET)?;
            }
            fork_and_wait(w, || {
                setup(&spec, &b, rootless)?;
                ensure!(Path::new("/dev/console").is_file(), "/dev/console not prepared");
                // SAFETY: plain pty syscalls on fds owned here.
                let slave = unsafe {
                    let m = libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
                    ensure!(m >= 0, "open /dev/ptmx failed");
                    ensure!(libc::unlockpt(m) == 0, "unlockpt");
                    libc::ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY)
                };
                ensure!(slave >= 0, "no pty slave");
                let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
                minirun::runtime::devices::bind_console(&fd).map_err(|e| format!("bind_console: {e}"))?;
                let m = std::fs::metadata("/dev/console").map_err(|e| format!("{e}"))?;
                ensure!(m.file_type().is_char_device(), "/dev/console is not a tty");
                ensure!(libc::major(m.rdev()) == 136, "/dev/console major {}", libc::major(m.rdev()));
                Ok(())
            })
        })
        .unwrap_or_else(|e| panic!("rootless={rootless}: {e}"));
    }
}
