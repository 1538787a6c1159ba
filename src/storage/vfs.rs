//! The vfs driver's full copies, and the tree copy volumes use: owners, modes,
//! symlinks, device nodes, xattrs and mtimes preserved; whiteouts and opaque
//! directories applied when flattening layers.

use anyhow::{Context, Result};
use std::ffi::{CString, OsStr};
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Opaque-directory xattr read by kernel overlay as root.
pub const OPAQUE_XATTR_ROOT: &str = "trusted.overlay.opaque";
/// Opaque-directory xattr read by kernel overlay with `userxattr` (rootless).
pub const OPAQUE_XATTR_USER: &str = "user.overlay.opaque";
const OPAQUE_XATTR_FUSE: &str = "user.fuseoverlayfs.opaque";
/// fuse-overlayfs may keep whiteouts as `.wh.NAME` files when it cannot mknod.
pub const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// True for the names fuse-overlayfs uses to mark a directory opaque
/// (`.wh..wh..opq`, and a 0:0 device `.wh..opq`): markers, not whiteouts.
pub fn is_opaque_marker(name: &[u8]) -> bool {
    name == OPAQUE_MARKER.as_bytes() || name == b".wh..opq"
}

/// True for a 0:0 character device: an overlay whiteout.
pub fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// True when the directory `p` is marked opaque (any of the xattrs overlay and
/// fuse-overlayfs use, or a kept `.wh..wh..opq` marker).
pub fn is_opaque(p: &Path) -> bool {
    [OPAQUE_XATTR_ROOT, OPAQUE_XATTR_USER, OPAQUE_XATTR_FUSE].iter().any(|x| get_xattr(p, x).is_some_and(|v| v == b"y"))
        || p.join(OPAQUE_MARKER).symlink_metadata().is_ok()
        || p.join(".wh..opq").symlink_metadata().is_ok()
}

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// Read one xattr of `p` without following a symlink.
pub fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let (cp, cn) = (c(p), CString::new(name).ok()?);
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid C strings and a buffer of the given size.
        let n = unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            return Some(buf);
        }
        if nix::errno::Errno::last() != nix::errno::Errno::ERANGE || buf.len() > 1 << 20 {
            return None;
        }
        buf.resize(buf.len() * 4, 0);
    }
}

/// Set one xattr of `p` without following a symlink.
pub fn set_xattr(p: &Path, name: &str, val: &[u8]) -> std::io::Result<()> {
    let (cp, cn) = (c(p), CString::new(name)?);
    // SAFETY: valid C strings and value buffer.
    let r = unsafe { libc::lsetxattr(cp.as_ptr(), cn.as_ptr(), val.as_ptr().cast(), val.len(), 0) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// The xattr names of `p` (not following a symlink).
pub fn list_xattrs(p: &Path) -> Vec<String> {
    let cp = c(p);
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: valid C string and a buffer of the given size.
        let n = unsafe { libc::llistxattr(cp.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        if nix::errno::Errno::last() != nix::errno::Errno::ERANGE || buf.len() > 1 << 20 {
            return Vec::new();
        }
        buf.resize(buf.len() * 4, 0);
    }
    buf.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn is_overlay_private(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") || name.starts_with("user.fuseoverlayfs.")
}

/// Copy owner, mode, xattrs (minus overlay-private ones) and times from `md`/`src` to `dst`.
fn copy_meta(src: &Path, dst: &Path, md: &Metadata) -> Result<()> {
    let is_link = md.file_type().is_symlink();
    // Owners first: chown clears setuid/setgid bits, chmod puts them back. With a
    // single-id mapping, ids we cannot map are kept as ours.
    if let Err(e) = std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid())) {
        tracing::debug!("chown {}: {e}", dst.display());
    }
    if !is_link {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .with_context(|| format!("chmod {}", dst.display()))?;
    }
    for name in list_xattrs(src) {
        if is_overlay_private(&name) {
            continue;
        }
        if let Some(v) = get_xattr(src, &name)
            && let Err(e) = set_xattr(dst, &name, &v)
        {
            tracing::debug!("xattr {name} on {}: {e}", dst.display());
        }
    }
    let ts = [
        nix::sys::time::TimeSpec::new(md.atime(), md.atime_nsec()),
        nix::sys::time::TimeSpec::new(md.mtime(), md.mtime_nsec()),
    ];
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        dst,
        &ts[0],
        &ts[1],
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

fn remove_any(p: &Path) -> Result<()> {
    match p.symlink_metadata() {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display())),
        Ok(_) => std::fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
    }
}

fn copy_leaf(src: &Path, dst: &Path, md: &Metadata) -> Result<()> {
    let ft = md.file_type();
    if ft.is_file() {
        std::fs::copy(src, dst).with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    } else if ft.is_symlink() {
        let t = std::fs::read_link(src).with_context(|| format!("reading link {}", src.display()))?;
        std::os::unix::fs::symlink(&t, dst).with_context(|| format!("creating symlink {}", dst.display()))?;
    } else {
        let kind = if ft.is_char_device() {
            nix::sys::stat::SFlag::S_IFCHR
        } else if ft.is_block_device() {
            nix::sys::stat::SFlag::S_IFBLK
        } else if ft.is_fifo() {
            nix::sys::stat::SFlag::S_IFIFO
        } else {
            nix::sys::stat::SFlag::S_IFSOCK
        };
        let mode = nix::sys::stat::Mode::from_bits_truncate(md.mode() & 0o7777);
        if let Err(e) = nix::sys::stat::mknod(dst, kind, mode, md.rdev()) {
            tracing::warn!("skipping device {}: {e}", dst.display());
            return Ok(());
        }
    }
    copy_meta(src, dst, md)
}

/// Copy the directory `src` over `dst` (merging into what is there). With
/// `layer` set, `src` is a layer: whiteouts delete, opaque dirs replace.
fn apply_dir(src: &Path, dst: &Path, layer: bool) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", src.display()))?;
    names.sort();
    for name in names {
        let (s, d) = (src.join(&name), dst.join(&name));
        let md = s.symlink_metadata().with_context(|| format!("stat {}", s.display()))?;
        if layer {
            let n = name.as_bytes();
            if is_opaque_marker(n) {
                continue;
            }
            if is_whiteout(&md) {
                remove_any(&d)?;
                continue;
            }
            if let Some(target) = n.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
                remove_any(&dst.join(OsStr::from_bytes(target)))?;
                continue;
            }
        }
        if md.is_dir() {
            let existing = d.symlink_metadata().ok();
            if existing.as_ref().is_some_and(|m| !m.is_dir()) || (layer && existing.is_some() && is_opaque(&s)) {
                remove_any(&d)?;
            }
            if d.symlink_metadata().is_err() {
                std::fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
            }
            apply_dir(&s, &d, layer)?;
            copy_meta(&s, &d, &md)?;
        } else {
            remove_any(&d)?;
            copy_leaf(&s, &d, &md)?;
        }
    }
    Ok(())
}

/// Flatten layer directories (bottom → top) into the empty directory `dst`.
pub fn flatten_into(lowers: &[std::path::PathBuf], dst: &Path) -> Result<()> {
    for l in lowers {
        apply_dir(l, dst, true)?;
        let md = l.symlink_metadata().with_context(|| format!("stat {}", l.display()))?;
        copy_meta(l, dst, &md)?;
    }
    Ok(())
}

/// Copy the tree `src` into the directory `dst` (which exists), preserving owners,
/// modes, symlinks, device nodes, xattrs and times; `dst` takes `src`'s metadata.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    apply_dir(src, dst, false)?;
    let md = src.symlink_metadata().with_context(|| format!("stat {}", src.display()))?;
    copy_meta(src, dst, &md)
}
