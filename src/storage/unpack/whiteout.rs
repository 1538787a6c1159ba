//! Whiteouts in a layer tar, converted to the form kernel overlay reads:
//! `dir/.wh.NAME` becomes a character device 0:0 at `dir/NAME`, and
//! `dir/.wh..wh..opq` becomes the opaque xattr (value `y`) on `dir`.
//!
//! Rules (as umoci learned them): an opaque marker removes the plain whiteouts this
//! layer already made beneath that directory (files the layer added stay); plain
//! whiteouts inside a directory this layer marked opaque are skipped; a non-directory
//! on the way to a whiteout (an earlier whiteout) is replaced by a directory.
use super::resolve::split_last;
use super::{Unpacker, lossy};
use crate::storage::inroot::{self, Kind, cstr};
use anyhow::{Context, Result, bail};
use std::os::fd::AsRawFd;

/// Name of the marker that makes its directory opaque.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

impl Unpacker<'_> {
    /// Handle `parent/.wh.<rest>`.
    pub(super) fn whiteout(&mut self, parent: &[u8], rest: &[u8], name: &[u8]) -> Result<()> {
        if rest == &OPAQUE_MARKER[4..] {
            return self.opaque_marker(parent);
        }
        if rest.starts_with(b".wh.") {
            // Other `.wh..wh.*` names are aufs bookkeeping (e.g. `.wh..wh.plnk`).
            self.aufs_meta.add(|| lossy(name));
            return Ok(());
        }
        if rest.is_empty() || rest == b"." || rest == b".." {
            bail!("whiteout names no file (path escapes the layer or is malformed)");
        }
        if self.inside_opaque(parent) {
            return Ok(());
        }
        let mut path = parent.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(rest);
        let dir = self.parent_fd(parent, true)?;
        let c = cstr(rest)?;
        // Whatever this layer already put at NAME goes: the whiteout replaces it.
        self.clear_name(dir.as_raw_fd(), &path, &c)?;
        let dir = self.parent_fd(parent, true)?;
        inroot::mknod(dir.as_raw_fd(), &c, libc::S_IFCHR, 0).with_context(|| {
            format!("creating whiteout device 0:0 at {:?} (overlay whiteouts need mknod of 0:0)", lossy(&path))
        })?;
        self.whiteouts.insert(path);
        Ok(())
    }

    /// Is `dir` (or a directory above it) marked opaque by this layer?
    fn inside_opaque(&self, dir: &[u8]) -> bool {
        if self.opaque.is_empty() {
            return false;
        }
        if self.opaque.contains(&b""[..]) || self.opaque.contains(dir) {
            return true;
        }
        dir.iter().enumerate().filter(|(_, c)| **c == b'/').any(|(i, _)| self.opaque.contains(&dir[..i]))
    }

    /// Handle `dir/.wh..wh..opq`.
    fn opaque_marker(&mut self, dir: &[u8]) -> Result<()> {
        let key = cstr(self.opts.opaque_xattr.as_bytes())?;
        let (parent, base) = split_last(dir);
        let d = if dir.is_empty() {
            inroot::open_dir_rd(self.root_dir.as_raw_fd(), &cstr(b".")?)
        } else {
            // parent_fd of `dir/x` creates `dir` (replacing a non-directory there).
            let pfd = self.parent_fd(parent, true)?;
            let c = cstr(base)?;
            match inroot::kind_at(pfd.as_raw_fd(), &c).context("inspecting the opaque directory")? {
                Some(Kind::Dir) => {}
                None => inroot::mkdir(pfd.as_raw_fd(), &c, 0o755).context("creating the opaque directory")?,
                Some(_) => {
                    self.clear_name(pfd.as_raw_fd(), dir, &c)?;
                    let pfd = self.parent_fd(parent, true)?;
                    inroot::mkdir(pfd.as_raw_fd(), &c, 0o755).context("creating the opaque directory")?;
                }
            }
            let pfd = self.parent_fd(parent, true)?;
            inroot::open_dir_rd(pfd.as_raw_fd(), &c)
        }
        .context("opening the opaque directory")?;
        inroot::fsetxattr(d.as_raw_fd(), &key, b"y").with_context(|| {
            format!(
                "setting {} on {:?} (trusted.* needs root; rootless uses user.overlay.opaque)",
                self.opts.opaque_xattr,
                lossy(dir)
            )
        })?;
        self.opaque.insert(dir.to_vec());
        self.drop_whiteouts_under(dir)
    }

    /// Remove the 0:0 devices this layer made beneath `dir`: the opaque directory
    /// already hides everything below it.
    fn drop_whiteouts_under(&mut self, dir: &[u8]) -> Result<()> {
        let doomed: Vec<Vec<u8>> = if dir.is_empty() {
            self.whiteouts.iter().cloned().collect()
        } else {
            let mut lo = dir.to_vec();
            lo.push(b'/');
            let mut hi = dir.to_vec();
            hi.push(b'/' + 1);
            self.whiteouts.range(lo..hi).cloned().collect()
        };
        for w in doomed {
            self.whiteouts.remove(&w);
            let (parent, base) = split_last(&w);
            let Ok(pfd) = self.parent_fd(parent, false) else {
                continue;
            };
            let c = cstr(base)?;
            if inroot::kind_at(pfd.as_raw_fd(), &c)? == Some(Kind::Whiteout) {
                inroot::unlink(pfd.as_raw_fd(), &c, false)
                    .with_context(|| format!("removing whiteout {:?} under an opaque directory", lossy(&w)))?;
            }
        }
        Ok(())
    }
}
