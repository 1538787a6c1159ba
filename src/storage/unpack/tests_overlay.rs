//! The converted whiteouts read by the real kernel overlay: as root with trusted
//! xattrs, and rootless (uid 1001 in its own user namespace) with `userxattr`.
use super::tests::{Tar, opts};
use super::*;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

/// Unmounts on drop, so a failed assertion never leaves a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn lower_tar() -> Tar {
    let mut t = Tar::new();
    t.dir("etc").file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n").file("etc/gone", b"old");
    t.dir("opq").file("opq/old1", b"1").dir("opq/sub").file("opq/sub/old2", b"2");
    t.dir("keep").file("keep/a", b"a").dir("gonedir").file("gonedir/f", b"f");
    t
}

fn upper_tar() -> Tar {
    let mut t = Tar::new();
    t.file("etc/.wh.gone", b"").file("opq/.wh.old1", b"");
    t.file("opq/.wh..wh..opq", b"").file("opq/new", b"new");
    t.dir("keep").file("keep/b", b"b").file(".wh.gonedir", b"");
    t
}

/// Layers in `base/{lower,upper}`, mounted read-only at `base/merged`; returns an
/// error message instead of panicking so the rootless child can report it.
fn mount_and_check(base: &Path, extra: &str) -> std::result::Result<(), String> {
    let merged = base.join("merged");
    let data = format!("lowerdir={}:{}{extra}", base.join("upper").display(), base.join("lower").display());
    nix::mount::mount(Some("overlay"), &merged, Some("overlay"), nix::mount::MsFlags::MS_RDONLY, Some(data.as_str()))
        .map_err(|e| format!("mount overlay {data}: {e}"))?;
    let _guard = Mounted(merged.clone());
    let list = |d: &str| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(merged.join(d))
            .map(|r| r.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    check(list("etc") == ["passwd"], &format!("etc shows {:?}", list("etc")))?;
    check(list("opq") == ["new"], &format!("opaque opq shows {:?}", list("opq")))?;
    check(list("keep") == ["a", "b"], &format!("keep shows {:?}", list("keep")))?;
    check(!merged.join("gonedir").exists(), "gonedir is still visible")?;
    check(fs::read(merged.join("opq/new")).ok().as_deref() == Some(b"new"), "opq/new content")?;
    Ok(())
}

#[test]
fn kernel_overlay_reads_whiteouts_as_root() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    for d in ["lower", "upper", "merged"] {
        fs::create_dir(base.join(d)).unwrap();
    }
    unpack_layer(&lower_tar().bytes()[..], &base.join("lower"), &opts()).unwrap();
    unpack_layer(&upper_tar().bytes()[..], &base.join("upper"), &opts()).unwrap();
    let gone = fs::symlink_metadata(base.join("upper/etc/gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert!(fs::symlink_metadata(base.join("upper/opq/old1")).is_err());
    mount_and_check(base, "").unwrap();
    assert_eq!(fs::read_dir(base.join("merged")).unwrap().count(), 0, "unmounted");
}

/// Run `f` in a forked child that becomes uid 1001, then root of its own user and
/// mount namespace with the single-id map it writes itself ("0 1001 1").
fn as_rootless_child(f: impl FnOnce() -> std::result::Result<(), String>) -> std::result::Result<(), String> {
    let (rd, wr) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only runs the test body and _exits; no locks of other test
    // threads are needed for that (glibc malloc is fork-safe).
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> std::result::Result<(), String> {
                enter_userns().map_err(|e| format!("entering the user namespace: {e}"))?;
                f()
            }))
            .unwrap_or_else(|_| Err("panicked".into()));
            let code = match res {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = nix::unistd::write(&wr, msg.as_bytes());
                    1
                }
            };
            // SAFETY: leave the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            fs::File::from(rd).read_to_string(&mut msg).unwrap();
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(format!("child {other:?}: {msg}")),
            }
        }
    }
}

fn enter_userns() -> nix::Result<()> {
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
    let (uid, gid) = (Uid::from_raw(1001), Gid::from_raw(1001));
    setgroups(&[])?;
    setresgid(gid, gid, gid)?;
    setresuid(uid, uid, uid)?;
    // Changing uid cleared "dumpable", which makes /proc/self/* root-owned.
    nix::sys::prctl::set_dumpable(true)?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS)?;
    let w = |p: &str, s: &str| fs::write(p, s).map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)));
    w("/proc/self/setgroups", "deny")?;
    w("/proc/self/uid_map", "0 1001 1")?;
    w("/proc/self/gid_map", "0 1001 1")?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

fn lgetxattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    let c = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let k = CString::new(key).unwrap();
    let mut buf = vec![0u8; 64];
    // SAFETY: C strings and a buffer with its length.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

#[test]
fn kernel_overlay_reads_whiteouts_rootless() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    for d in ["lower", "upper", "merged"] {
        fs::create_dir(base.join(d)).unwrap();
    }
    for p in [base.clone(), base.join("lower"), base.join("upper"), base.join("merged")] {
        std::os::unix::fs::chown(&p, Some(1001), Some(1001)).unwrap();
    }
    let b = base.clone();
    as_rootless_child(move || {
        let o = UnpackOptions {
            opaque_xattr: "user.overlay.opaque".into(),
            ignore_chown_errors: true,
            create_devices: false,
            ..opts()
        };
        let mut lower = lower_tar();
        lower.raw(b"owned", EntryType::Regular, b"x", b"", 0o4755, 1000);
        lower.raw(b"dev-null", EntryType::Char, b"", b"", 0o666, 0);
        let st = unpack_layer(&lower.bytes()[..], &b.join("lower"), &o).map_err(|e| format!("{e:#}"))?;
        if st.warnings.len() != 2 {
            return Err(format!("warnings: {:?}", st.warnings));
        }
        unpack_layer(&upper_tar().bytes()[..], &b.join("upper"), &o).map_err(|e| format!("{e:#}"))?;
        mount_and_check(&b, ",userxattr")?;
        // Without ignore_chown_errors an unmapped owner is an error naming the entry.
        fs::create_dir(b.join("strict")).map_err(|e| e.to_string())?;
        let mut t = Tar::new();
        t.raw(b"owned", EntryType::Regular, b"x", b"", 0o644, 1000);
        let strict = UnpackOptions { ignore_chown_errors: false, ..o.clone() };
        match unpack_layer(&t.bytes()[..], &b.join("strict"), &strict) {
            Err(e) if format!("{e:#}").contains("entry \"owned\": chown to 1000:1000") => {}
            other => return Err(format!("strict chown: {other:?}")),
        }
        // trusted.* is refused in a user namespace: not a user./security. warning.
        fs::create_dir(b.join("trusted")).map_err(|e| e.to_string())?;
        let mut t = Tar::new();
        t.pax(&[("SCHILY.xattr.trusted.x", b"v")]).file("f", b"x");
        match unpack_layer(&t.bytes()[..], &b.join("trusted"), &o) {
            Err(e) if format!("{e:#}").contains("setting xattr trusted.x") => Ok(()),
            other => Err(format!("trusted xattr rootless: {other:?}")),
        }
    })
    .unwrap();
    // Seen from the host: owned by uid 1001, 0:0 device, user.overlay.opaque.
    let gone = fs::symlink_metadata(base.join("upper/etc/gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert_eq!(gone.uid(), 1001);
    assert_eq!(lgetxattr(&base.join("upper/opq"), "user.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert_eq!(lgetxattr(&base.join("upper/opq"), "trusted.overlay.opaque"), None);
    let owned = fs::metadata(base.join("lower/owned")).unwrap();
    assert_eq!((owned.uid(), owned.mode() & 0o7777), (1001, 0o4755), "own owner kept, mode applied");
    assert!(fs::symlink_metadata(base.join("lower/dev-null")).is_err());
    assert_eq!(fs::read_dir(base.join("merged")).unwrap().count(), 0, "unmounted");
}
