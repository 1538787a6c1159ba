//! Where an entry goes: names normalized, parent directories resolved inside the
//! layer root (cached), missing parents made, and what was in the way removed.
use super::{MAX_CACHED_DIRS, Unpacker, lossy};
use crate::storage::inroot::{self, Kind, cstr};
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// `a/b/c` -> (`a/b`, `c`); a top-level name has an empty parent.
pub(super) fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Strip leading `/` and `./`, drop empty and `.` components, refuse `..`.
/// The result is `/`-joined and relative; empty means the layer root itself.
pub(super) fn normalize(name: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    for comp in name.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => bail!("path escapes the layer"),
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(comp);
            }
        }
    }
    Ok(out)
}

impl Unpacker<'_> {
    /// The directory that holds `path`'s last component, resolved inside the root.
    /// With `create`, missing directories are made and non-directories on the way
    /// (e.g. an earlier whiteout) are replaced by directories.
    pub(super) fn parent_fd(&mut self, parent: &[u8], create: bool) -> Result<Rc<OwnedFd>> {
        if parent.is_empty() {
            return Ok(self.root_dir.clone());
        }
        if let Some(fd) = self.dirs.get(parent) {
            return Ok(fd.clone());
        }
        let fd = match self.root.open_dir(parent) {
            Ok(fd) => Rc::new(fd),
            Err(e) if create && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                self.make_dirs(parent)?
            }
            Err(e) => {
                return Err(e).with_context(|| format!("resolving {:?} inside the layer", lossy(parent)));
            }
        };
        if self.dirs.len() >= MAX_CACHED_DIRS {
            self.dirs.clear();
        }
        self.dirs.insert(parent.to_vec(), fd.clone());
        Ok(fd)
    }

    /// Slow path of parent_fd: walk the components, creating or replacing as needed.
    fn make_dirs(&mut self, parent: &[u8]) -> Result<Rc<OwnedFd>> {
        let mut cur = self.root_dir.clone();
        let mut end = 0;
        for comp in parent.split(|&c| c == b'/') {
            let start = if end == 0 { 0 } else { end + 1 };
            end = start + comp.len();
            let prefix = &parent[..end];
            match self.root.open_dir(prefix) {
                Ok(fd) => {
                    cur = Rc::new(fd);
                    continue;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("resolving {:?} inside the layer", lossy(prefix)));
                }
            }
            let c = cstr(comp)?;
            let ctx = || format!("creating directory {:?}", lossy(prefix));
            match inroot::kind_at(cur.as_raw_fd(), &c).with_context(ctx)? {
                None => {}
                Some(Kind::Symlink) => {
                    bail!("parent {:?} is a symlink that does not lead to a directory inside the layer", lossy(prefix))
                }
                Some(Kind::Dir) => bail!("cannot open directory {:?}", lossy(prefix)),
                Some(_) => {
                    inroot::unlink(cur.as_raw_fd(), &c, false).with_context(ctx)?;
                    self.removed(prefix);
                }
            }
            inroot::mkdir(cur.as_raw_fd(), &c, 0o755).with_context(ctx)?;
            cur = Rc::new(inroot::open_subdir(cur.as_raw_fd(), &c).with_context(ctx)?);
        }
        Ok(cur)
    }

    /// Forget everything known about `path` and below after it was removed.
    pub(super) fn removed(&mut self, path: &[u8]) {
        self.dirs.clear();
        let under = |set: &mut BTreeSet<Vec<u8>>| {
            let mut hi = path.to_vec();
            hi.push(b'/' + 1);
            let doomed: Vec<Vec<u8>> = set
                .range(path.to_vec()..hi)
                .filter(|p| p.len() == path.len() || p[path.len()] == b'/' || path.is_empty())
                .cloned()
                .collect();
            for d in doomed {
                set.remove(&d);
            }
        };
        under(&mut self.opaque);
        under(&mut self.whiteouts);
    }

    /// Make room for a new non-directory (or a directory over a non-directory) at
    /// `path`: whatever is there goes, a directory with its subtree.
    pub(super) fn clear_name(&mut self, dir: RawFd, path: &[u8], c: &CString) -> Result<()> {
        let ctx = || format!("removing the existing {:?}", lossy(path));
        match inroot::kind_at(dir, c).with_context(ctx)? {
            None => return Ok(()),
            Some(Kind::Dir) => inroot::remove_all(dir, c).with_context(ctx)?,
            Some(_) => inroot::unlink(dir, c, false).with_context(ctx)?,
        }
        self.removed(path);
        Ok(())
    }
}
