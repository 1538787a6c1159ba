//! One tar entry of each type written inside the layer, with its owner, mode, times
//! and xattrs.
use super::resolve::{normalize, split_last};
use super::{DirMeta, Unpacker, lossy};
use crate::storage::inroot::{self, Kind, cstr};
use anyhow::{Context, Result, anyhow, bail};
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use tar::EntryType;

/// Owner, mode, times and xattrs of one entry.
pub(super) struct Meta {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mode: u32,
    pub(super) atime: (i64, u32),
    pub(super) mtime: (i64, u32),
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

/// Parse a PAX time ("1700000000.123456789", possibly negative).
fn pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    for (i, d) in frac.bytes().take(9).enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        nanos += (d - b'0') as u32 * 10u32.pow(8 - i as u32);
    }
    // "-1.25" is 1.25 s before the epoch: (-2 s, 0.75 s) as a timespec.
    if s.starts_with('-') && nanos > 0 {
        return Some((secs - 1, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

/// A numeric header field; an empty one (all NUL or spaces, as some writers leave
/// them) reads as 0 like Go's archive/tar does.
fn numeric(v: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match v {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        v => v,
    }
}

/// Overlay's own xattrs must never come from image content: they would forge
/// whiteouts, opaque dirs or redirects in the merged view.
fn is_overlay_xattr(key: &[u8]) -> bool {
    key.starts_with(b"trusted.overlay.") || key.starts_with(b"user.overlay.") || key.starts_with(b"user.fuseoverlayfs.")
}

impl Unpacker<'_> {
    pub(super) fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = entry.header();
        let old = h.as_old();
        let id = |v: io::Result<u64>, raw: &[u8], what: &str| -> Result<u32> {
            let v = numeric(v, raw).with_context(|| format!("bad {what} in header"))?;
            u32::try_from(v).map_err(|_| anyhow!("{what} {v} is out of range"))
        };
        let uid = id(h.uid(), &old.uid, "uid")?;
        let gid = id(h.gid(), &old.gid, "gid")?;
        let mode = numeric(h.mode().map(u64::from), &old.mode).context("bad mode in header")? as u32 & 0o7777;
        let mut mtime = (numeric(h.mtime(), &old.mtime).context("bad mtime in header")? as i64, 0);
        let mut atime = None;
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().context("reading PAX headers")? {
            for ext in exts {
                let ext = ext.context("reading PAX headers")?;
                let key = ext.key_bytes();
                if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                    if !is_overlay_xattr(x) {
                        xattrs.push((cstr(x)?, ext.value_bytes().to_vec()));
                    }
                } else if key == b"mtime" {
                    mtime = pax_time(ext.value_bytes()).context("bad PAX mtime")?;
                } else if key == b"atime" {
                    atime = pax_time(ext.value_bytes());
                }
            }
        }
        Ok(Meta { uid, gid, mode, atime: atime.unwrap_or(mtime), mtime, xattrs })
    }

    pub(super) fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        // Created with its final permission bits, so the common file (root-owned,
        // 0644/0755, no special bits) needs neither chown nor chmod.
        let perm = m.mode & 0o777;
        let mut f = match inroot::create_file(dir.as_raw_fd(), c, perm) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.clear_name(dir.as_raw_fd(), path, c)?;
                inroot::create_file(dir.as_raw_fd(), c, perm)
            }
            r => r,
        }
        .context("creating file")?;
        let want = entry.size();
        let mut got = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.stream_error(e)),
            };
            got += n as u64;
            // Sparse entries expand: what is written is bounded too, not just the stream.
            if self.stats.bytes + got > self.opts.max_bytes {
                bail!(super::LimitExceeded(self.opts.max_bytes));
            }
            f.write_all(&self.buf[..n]).context("writing file")?;
        }
        if got != want {
            bail!("the stream ends inside the file ({got} of {want} bytes): the layer is truncated");
        }
        self.stats.bytes += got;
        let fd = f.as_raw_fd();
        if self.own_ids != Some((m.uid, m.gid)) {
            self.owner_result(inroot::fchown(fd, m.uid, m.gid), &m, name)?;
        }
        // chmod after chown: chown clears setuid/setgid.
        if m.mode != perm || self.umask.is_none_or(|u| perm & u != 0) {
            inroot::fchmod(fd, m.mode).context("chmod")?;
        }
        for (k, v) in &m.xattrs {
            let r = inroot::fsetxattr(fd, k, v);
            self.xattr_result(r, k, name)?;
        }
        inroot::futimes(fd, m.atime, m.mtime).context("setting times")?;
        Ok(())
    }

    pub(super) fn dir<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        // An existing directory (made for an earlier child, or listed twice) keeps
        // its content and gets this entry's metadata.
        let fresh = match inroot::mkdir(dir.as_raw_fd(), c, 0o700) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                if inroot::kind_at(dir.as_raw_fd(), c).context("inspecting existing entry")? == Some(Kind::Dir) {
                    false
                } else {
                    self.clear_name(dir.as_raw_fd(), path, c)?;
                    inroot::mkdir(dir.as_raw_fd(), c, 0o700).context("creating directory")?;
                    true
                }
            }
            Err(e) => return Err(e).context("creating directory"),
        };
        if !fresh || self.own_ids != Some((m.uid, m.gid)) {
            self.set_owner(dir.as_raw_fd(), c, m.uid, m.gid, name)?;
        }
        self.set_xattrs_dir(dir.as_raw_fd(), c, &m.xattrs, name)?;
        self.deferred.push(DirMeta { path: path.to_vec(), mode: m.mode, atime: m.atime, mtime: m.mtime });
        Ok(())
    }

    pub(super) fn symlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let target = entry.link_name_bytes().context("symlink without a target")?;
        let target = cstr(&target).context("symlink target")?;
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        let fd = dir.as_raw_fd();
        match inroot::symlink(&target, fd, c) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.clear_name(fd, path, c)?;
                inroot::symlink(&target, fd, c)
            }
            r => r,
        }
        .context("creating symlink")?;
        if self.own_ids != Some((m.uid, m.gid)) {
            self.set_owner(fd, c, m.uid, m.gid, name)?;
        }
        for (k, v) in &m.xattrs {
            let r = inroot::lsetxattr_at(fd, c, k, v);
            self.xattr_result(r, k, name)?;
        }
        inroot::utimes(fd, c, m.atime, m.mtime).context("setting times")?;
        Ok(())
    }

    /// A hardlink to an earlier entry of this layer. The target's parent is resolved
    /// inside the root and linkat does not follow a symlink target, so the link always
    /// names an inode inside the layer. The inode's metadata came with its first entry.
    pub(super) fn hardlink<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, path: &[u8], c: &CString) -> Result<()> {
        let raw = entry.link_name_bytes().context("hardlink without a target")?;
        let target = normalize(&raw).with_context(|| format!("hardlink target {:?}", lossy(&raw)))?;
        if target.is_empty() {
            bail!("hardlink to the layer root");
        }
        if target == path {
            return Ok(());
        }
        let (tparent, tbase) = split_last(&target);
        let missing = || format!("hardlink target {:?} is not an earlier entry of this layer", lossy(&raw));
        let tdir = self.parent_fd(tparent, false).with_context(missing)?;
        let tc = cstr(tbase)?;
        if inroot::kind_at(tdir.as_raw_fd(), &tc).with_context(missing)?.is_none() {
            bail!(missing());
        }
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        let fd = dir.as_raw_fd();
        match inroot::hardlink(tdir.as_raw_fd(), &tc, fd, c) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.clear_name(fd, path, c)?;
                // The removal may have closed cached fds; resolve the target again.
                let tdir = self.parent_fd(tparent, false).with_context(missing)?;
                inroot::hardlink(tdir.as_raw_fd(), &tc, fd, c)
            }
            r => r,
        }
        .with_context(|| format!("linking to {:?}", lossy(&raw)))
    }

    pub(super) fn node<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        et: EntryType,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let h = entry.header();
        let (kind, dev) = match et {
            EntryType::Fifo => (libc::S_IFIFO, 0),
            _ => {
                if !self.opts.create_devices {
                    self.skipped_devices.add(|| lossy(name));
                    return Ok(());
                }
                let major = h.device_major().context("bad device major")?.unwrap_or(0);
                let minor = h.device_minor().context("bad device minor")?.unwrap_or(0);
                let kind = if et == EntryType::Char { libc::S_IFCHR } else { libc::S_IFBLK };
                (kind, libc::makedev(major, minor))
            }
        };
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        let fd = dir.as_raw_fd();
        match inroot::mknod(fd, c, kind | 0o600, dev) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.clear_name(fd, path, c)?;
                inroot::mknod(fd, c, kind | 0o600, dev)
            }
            r => r,
        }
        .context("creating device node or fifo")?;
        if self.own_ids != Some((m.uid, m.gid)) {
            self.set_owner(fd, c, m.uid, m.gid, name)?;
        }
        inroot::chmod_nofollow(fd, c, m.mode).context("chmod")?;
        for (k, v) in &m.xattrs {
            let r = inroot::lsetxattr_at(fd, c, k, v);
            self.xattr_result(r, k, name)?;
        }
        inroot::utimes(fd, c, m.atime, m.mtime).context("setting times")?;
        Ok(())
    }

    pub(super) fn set_owner(&mut self, dir: RawFd, c: &CString, uid: u32, gid: u32, name: &[u8]) -> Result<()> {
        let r = inroot::chown(dir, c, uid, gid);
        let m = Meta { uid, gid, mode: 0, atime: (0, 0), mtime: (0, 0), xattrs: Vec::new() };
        self.owner_result(r, &m, name)
    }

    /// A failed chown is fatal unless the caller runs with a single id, where it is
    /// expected: the file keeps our own owner and the layer gets one warning.
    pub(super) fn owner_result(&mut self, r: io::Result<()>, m: &Meta, name: &[u8]) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if self.opts.ignore_chown_errors && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) => {
                self.chown_failed.add(|| format!("{} ({}:{})", lossy(name), m.uid, m.gid));
                Ok(())
            }
            Err(e) => Err(e).with_context(|| {
                format!("chown to {}:{} (rootless with a single id: ignore chown errors)", m.uid, m.gid)
            }),
        }
    }

    pub(super) fn set_xattrs_dir(
        &mut self,
        dir: RawFd,
        c: &CString,
        xattrs: &[(CString, Vec<u8>)],
        name: &[u8],
    ) -> Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let d = inroot::open_dir_rd(dir, c).context("opening directory for xattrs")?;
        for (k, v) in xattrs {
            let r = inroot::fsetxattr(d.as_raw_fd(), k, v);
            self.xattr_result(r, k, name)?;
        }
        Ok(())
    }

    /// `user.` and `security.` xattrs a filesystem refuses become one warning; any
    /// other failure is an error.
    pub(super) fn xattr_result(&mut self, r: io::Result<()>, key: &CString, name: &[u8]) -> Result<()> {
        let Err(e) = r else { return Ok(()) };
        let k = key.to_bytes();
        let soft = k.starts_with(b"user.") || k.starts_with(b"security.");
        if soft && matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP | libc::EACCES)) {
            self.xattr_refused.add(|| format!("{} on {}: {e}", lossy(k), lossy(name)));
            return Ok(());
        }
        Err(e).with_context(|| format!("setting xattr {}", lossy(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::pax_time;

    #[test]
    fn pax_times() {
        assert_eq!(pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(pax_time(b"1700000000.123456789123"), Some((1_700_000_000, 123_456_789)));
        assert_eq!(pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(pax_time(b"12x"), None);
        assert_eq!(pax_time(b"1.2x"), None);
    }
}
