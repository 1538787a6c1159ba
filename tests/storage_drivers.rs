//! Storage drivers mounted for real, as root and as the unprivileged test user (in a
//! user namespace it makes itself), on overlay, fuse-overlayfs and vfs.
mod common;

use minirun::paths::Paths;
use minirun::storage::changes::{Change, ChangeKind, changes};
use minirun::storage::driver::{Driver, RootfsPlan, choose, mount_rootfs, prepare_container_layer, unmount_rootfs};
use minirun::storage::fuse::find_daemon;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmpdir(rootless: bool) -> Tmp {
    let d = tempfile::Builder::new().prefix("minirun-drv-").tempdir_in("/tmp").unwrap().keep();
    if rootless {
        let (uid, gid) = common::test_user_ids();
        std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
    }
    Tmp(d)
}

fn chown_r(p: &Path, rootless: bool) {
    if rootless {
        let (uid, gid) = common::test_user_ids();
        let st = std::process::Command::new("chown").arg("-hR").arg(format!("{uid}:{gid}")).arg(p).status().unwrap();
        assert!(st.success());
    }
}

fn set_opaque(p: &Path, rootless: bool) {
    let name = if rootless { "user.overlay.opaque" } else { "trusted.overlay.opaque" };
    minirun::storage::vfs::set_xattr(p, name, b"y").unwrap();
}

fn whiteout(p: &Path) {
    nix::sys::stat::mknod(p, nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::from_bits_truncate(0o600), 0)
        .unwrap();
}

/// Two layers: a file, a 0:0 whiteout, an opaque dir.
fn small_layers(base: &Path, rootless: bool) -> Vec<PathBuf> {
    let (l1, l2) = (base.join("layers/1/diff"), base.join("layers/2/diff"));
    for d in [l1.join("etc"), l1.join("opq"), l2.join("opq"), l2.join("etc")] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(l1.join("etc/file"), "one").unwrap();
    std::fs::write(l1.join("gone"), "x").unwrap();
    std::fs::write(l1.join("keep"), "k").unwrap();
    std::fs::write(l1.join("opq/hidden"), "h").unwrap();
    std::fs::write(l2.join("opq/new"), "n").unwrap();
    std::fs::write(l2.join("etc/file2"), "two").unwrap();
    whiteout(&l2.join("gone"));
    set_opaque(&l2.join("opq"), rootless);
    chown_r(base, rootless);
    vec![l1, l2]
}

fn many_layers(base: &Path, n: usize, rootless: bool) -> Vec<PathBuf> {
    let v: Vec<PathBuf> = (0..n)
        .map(|i| {
            let d = base.join(format!("layers/{:064x}/diff", i));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("f{i}")), i.to_string()).unwrap();
            std::fs::write(d.join("shared"), i.to_string()).unwrap();
            d
        })
        .collect();
    chown_r(base, rootless);
    v
}

/// Run `f` in a forked child with its own mount namespace; rootless, the child first
/// becomes the test user and maps itself to 0 in a new user namespace.
/// Forks are serialized: a lock held by another test thread at fork time would stay
/// held forever in the child.
static FORK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn in_child(rootless: bool, f: impl FnOnce() -> Result<(), String>) {
    let _g = FORK.lock().unwrap_or_else(|e| e.into_inner());
    let (mut rd, mut wr) = std::io::pipe().unwrap();
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let r = (|| -> Result<(), String> {
                use nix::sched::{CloneFlags, unshare};
                if rootless {
                    let (uid, gid) = common::test_user_ids();
                    nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
                    let (g, u) = (nix::unistd::Gid::from_raw(gid), nix::unistd::Uid::from_raw(uid));
                    nix::unistd::setresgid(g, g, g).map_err(|e| format!("setresgid: {e}"))?;
                    nix::unistd::setresuid(u, u, u).map_err(|e| format!("setresuid: {e}"))?;
                    // Changing credentials made us non-dumpable: /proc/self would stay root's.
                    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
                    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| format!("unshare user: {e}"))?;
                    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups deny: {e}"))?;
                    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).map_err(|e| format!("uid_map: {e}"))?;
                    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).map_err(|e| format!("gid_map: {e}"))?;
                }
                unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare mount: {e}"))?;
                nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .map_err(|e| format!("make private: {e}"))?;
                f()
            })();
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    let _ = wr.write_all(e.as_bytes());
                    1
                }
            };
            drop(wr);
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            rd.read_to_string(&mut msg).unwrap();
            let st = nix::sys::wait::waitpid(child, None).unwrap();
            assert!(matches!(st, nix::sys::wait::WaitStatus::Exited(_, 0)), "child failed ({st:?}): {msg}");
        }
    }
}

fn paths_in(base: &Path) -> Paths {
    Paths { data: base.join("data"), run: base.join("run") }
}

fn ensure(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))
}

fn no_mounts_under(base: &Path) {
    assert!(common::mounts_under(base).is_empty(), "mounts left under {}", base.display());
}

fn small_case(driver: Driver, rootless: bool) {
    let tmp = tmpdir(rootless);
    let base = tmp.0.clone();
    let lowers = small_layers(&base, rootless);
    std::fs::create_dir_all(base.join("data")).unwrap();
    chown_r(&base.join("data"), rootless);
    let paths = paths_in(&base);
    let plan_file = base.join("plan.json");
    let (pf, lw) = (plan_file.clone(), lowers.clone());
    in_child(rootless, move || {
        let plan = prepare_container_layer(&paths, "c1", driver, &lw, rootless).map_err(|e| format!("{e:#}"))?;
        std::fs::write(&pf, serde_json::to_vec(&plan).unwrap()).map_err(|e| e.to_string())?;
        mount_rootfs(&plan).map_err(|e| format!("mount_rootfs: {e}"))?;
        let m = &plan.merged;
        ensure(read(&m.join("etc/file"))? == "one", "lower file content")?;
        ensure(read(&m.join("etc/file2"))? == "two", "upper lower file content")?;
        ensure(m.join("gone").symlink_metadata().is_err(), "whiteout must hide /gone")?;
        ensure(!m.join("opq/hidden").exists(), "opaque dir must hide lower content")?;
        ensure(m.join("opq/new").exists(), "opaque dir keeps its own content")?;
        std::fs::write(m.join("etc/file"), "changed").map_err(|e| format!("write: {e}"))?;
        std::fs::remove_file(m.join("keep")).map_err(|e| format!("rm keep: {e}"))?;
        std::fs::create_dir(m.join("newdir")).map_err(|e| format!("mkdir: {e}"))?;
        std::fs::write(m.join("newdir/f"), "new").map_err(|e| format!("write new: {e}"))?;
        ensure(read(&lw[0].join("etc/file"))? == "one", "lower layer must stay unchanged")?;
        ensure(lw[0].join("keep").exists(), "lower file must survive deletion in merged")?;
        if driver != Driver::Vfs {
            ensure(read(&plan.upper.join("etc/file"))? == "changed", "write must land in the upper dir")?;
        }
        // The fuse daemon is left running on purpose: the host side stops it below.
        if driver != Driver::FuseOverlayfs {
            unmount_rootfs(&plan).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    });
    let plan: RootfsPlan = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    if driver == Driver::FuseOverlayfs {
        // The daemon outlives the namespace's other processes (it is one of them)...
        assert!(find_daemon(&plan.merged).is_some(), "fuse-overlayfs daemon expected alive until stopped");
        unmount_rootfs(&plan).unwrap();
        // ...and is gone once the host side stops it.
        assert!(find_daemon(&plan.merged).is_none(), "fuse-overlayfs daemon still alive after unmount_rootfs");
    }
    let got: Vec<String> = changes(&plan).unwrap().iter().map(Change::to_string).collect();
    assert_eq!(got, ["C /etc", "C /etc/file", "D /keep", "A /newdir", "A /newdir/f"], "{driver:?} rootless={rootless}");
    assert_eq!(std::fs::read_to_string(lowers[0].join("etc/file")).unwrap(), "one");
    in_child(rootless, move || minirun::storage::driver::remove_container_layer(&plan).map_err(|e| format!("{e:#}")));
    no_mounts_under(&base);
}

fn many_case(driver: Driver, rootless: bool) {
    let tmp = tmpdir(rootless);
    let base = tmp.0.clone();
    let lowers = many_layers(&base, 130, rootless);
    std::fs::create_dir_all(base.join("data")).unwrap();
    chown_r(&base.join("data"), rootless);
    let paths = paths_in(&base);
    in_child(rootless, move || {
        let plan = prepare_container_layer(&paths, "big", driver, &lowers, rootless).map_err(|e| format!("{e:#}"))?;
        mount_rootfs(&plan).map_err(|e| format!("mount_rootfs with 130 lowers: {e}"))?;
        for i in [0, 64, 129] {
            ensure(read(&plan.merged.join(format!("f{i}")))? == i.to_string(), "layer file visible")?;
        }
        ensure(read(&plan.merged.join("shared"))? == "129", "topmost layer wins")?;
        unmount_rootfs(&plan).map_err(|e| format!("{e:#}"))?;
        ensure(find_daemon(&plan.merged).is_none(), "fuse daemon gone")?;
        minirun::storage::driver::remove_container_layer(&plan).map_err(|e| format!("{e:#}"))
    });
    no_mounts_under(&base);
}

#[test]
fn overlay_root() {
    small_case(Driver::Overlay, false);
}
#[test]
fn overlay_rootless() {
    small_case(Driver::Overlay, true);
}
#[test]
fn fuse_root() {
    small_case(Driver::FuseOverlayfs, false);
}
#[test]
fn fuse_rootless() {
    small_case(Driver::FuseOverlayfs, true);
}
#[test]
fn vfs_root() {
    small_case(Driver::Vfs, false);
}
#[test]
fn vfs_rootless() {
    small_case(Driver::Vfs, true);
}
#[test]
fn many_lowers_all_drivers() {
    for d in [Driver::Overlay, Driver::FuseOverlayfs, Driver::Vfs] {
        for rootless in [false, true] {
            many_case(d, rootless);
        }
    }
}

#[test]
fn choose_probes_once_and_validates_overrides() {
    for rootless in [false, true] {
        let tmp = tmpdir(rootless);
        let base = tmp.0.clone();
        std::fs::create_dir_all(base.join("data")).unwrap();
        chown_r(&base.join("data"), rootless);
        let paths = paths_in(&base);
        in_child(rootless, move || {
            let c = choose(&paths, rootless, None).map_err(|e| format!("{e:#}"))?;
            ensure(c.driver == Driver::Overlay, &format!("overlay expected, got {c:?}"))?;
            let want = if rootless { "kernel overlay with userxattr works" } else { "kernel overlay works" };
            ensure(c.reason.contains(want), &c.reason)?;
            ensure(paths.data.join("storage-driver.json").exists(), "cache written")?;
            let again = choose(&paths, rootless, None).map_err(|e| format!("{e:#}"))?;
            ensure(again == c, "cached choice")?;
            let f = choose(&paths, rootless, Some("fuse-overlayfs")).map_err(|e| format!("{e:#}"))?;
            ensure(f.driver == Driver::FuseOverlayfs && f.reason.contains("forced"), &f.reason)?;
            let v = choose(&paths, rootless, Some("vfs")).map_err(|e| format!("{e:#}"))?;
            ensure(v.driver == Driver::Vfs, "vfs forced")?;
            let e = format!("{:#}", choose(&paths, rootless, Some("zfs")).unwrap_err());
            ensure(e.contains("\"zfs\"") && e.contains("overlay, fuse-overlayfs, vfs"), &e)?;
            ensure(std::fs::read_dir(paths.tmp()).map(|d| d.count() == 0).unwrap_or(true), "probe dirs cleaned")?;
            Ok(())
        });
        no_mounts_under(&base);
    }
}

#[test]
fn changes_reports_opaque_replacement() {
    let tmp = tmpdir(false);
    let base = tmp.0.clone();
    let lowers = small_layers(&base, false);
    let upper = base.join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    set_opaque(&upper.join("etc"), false);
    std::fs::write(upper.join("etc/file2"), "replaced").unwrap();
    std::fs::write(upper.join("etc/brandnew"), "b").unwrap();
    let plan = RootfsPlan {
        driver: Driver::Overlay,
        lowers,
        upper,
        work: base.join("work"),
        merged: base.join("merged"),
        rootless: false,
    };
    let got: Vec<(ChangeKind, String)> = changes(&plan).unwrap().into_iter().map(|c| (c.kind, c.path)).collect();
    use ChangeKind::*;
    assert_eq!(
        got,
        [(C, "/etc".into()), (A, "/etc/brandnew".into()), (D, "/etc/file".into()), (C, "/etc/file2".into())]
    );
}
