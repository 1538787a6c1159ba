//! Safe unpacking of one layer tar into its own directory, converting whiteouts to the
//! form kernel overlay reads (0:0 character devices and the opaque xattr).
//!
//! Every parent directory is resolved inside `dest` with openat2(`RESOLVE_IN_ROOT`), and
//! the final component of every entry is created or changed without following it, so a
//! hostile tar (`..`, absolute names, symlinks pointing out, hardlinks through symlinks)
//! cannot touch anything outside `dest`.
use super::inroot::{self, Kind, Root, cstr};
use anyhow::{Context, Result, anyhow, bail};
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::rc::Rc;
use tar::EntryType;

/// How a layer is written to disk.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// xattr that marks an opaque directory: `trusted.overlay.opaque` as root,
    /// `user.overlay.opaque` rootless (kernel overlay with `userxattr`).
    pub opaque_xattr: String,
    /// Refuse the layer once its uncompressed stream (content, headers and padding)
    /// exceeds this many bytes.
    pub max_bytes: u64,
    /// Single-id mapping: chown to ids we cannot map fails; keep our own owner instead.
    pub ignore_chown_errors: bool,
    /// Create device nodes (root); rootless skips them with a warning.
    pub create_devices: bool,
}

/// What unpacking one layer did.
#[derive(Debug, Clone, Default)]
pub struct UnpackStats {
    /// Tar entries processed (whiteouts and skipped entries included).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Things that were degraded or skipped, one line per kind.
    pub warnings: Vec<String>,
}

/// Size of the buffer regular file content is copied through.
const COPY_BUF: usize = 1 << 20;
/// Open parent directory fds kept between entries.
const MAX_CACHED_DIRS: usize = 256;

/// Unpack an (already decompressed) layer tar stream into the empty directory `dest`.
/// Nothing is ever created, changed or removed outside `dest`. The stream is read to its
/// end, past the tar's end-of-archive marker, so a caller hashing it sees every byte.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let count = Cell::new(0u64);
    let limited = Limited {
        inner: reader,
        count: &count,
        limit: opts.max_bytes,
    };
    let root =
        Root::open(dest).with_context(|| format!("opening layer directory {}", dest.display()))?;
    let mut u = Unpacker::new(root, opts)
        .with_context(|| format!("opening layer directory {}", dest.display()))?;
    let mut archive = tar::Archive::new(limited);
    let limit_err = |e: anyhow::Error, u: &Unpacker| {
        if count.get() > opts.max_bytes {
            let at = u
                .last_name
                .as_deref()
                .map(|n| format!(" (at entry {:?})", lossy(n)))
                .unwrap_or_default();
            anyhow!(
                "layer exceeds the limit of {} bytes uncompressed{at}",
                opts.max_bytes
            )
        } else {
            e
        }
    };
    if let Err(e) = u.run(&mut archive) {
        return Err(limit_err(e, &u));
    }
    // Whatever follows the end-of-archive blocks (record padding) is part of the blob.
    let mut rest = archive.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(limit_err(
                    anyhow!(e).context("reading the layer stream after the end of the tar"),
                    &u,
                ));
            }
        }
    }
    u.finish()?;
    Ok(u.stats)
}

/// Counts every byte of the stream and fails once the limit is passed.
struct Limited<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
    limit: u64,
}

impl<R: Read> Read for Limited<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        if self.count.get() > self.limit {
            return Err(io::Error::other("layer size limit exceeded"));
        }
        Ok(n)
    }
}

/// A name for messages: tar names are bytes, shown lossily.
pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `a/b/c` -> (`a/b`, `c`); a top-level name has an empty parent.
pub(super) fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Strip leading `/` and `./`, drop empty and `.` components, refuse `..`.
/// The result is `/`-joined and relative; empty means the layer root itself.
fn normalize(name: &[u8]) -> Result<Vec<u8>> {
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

/// Owner, mode, times and xattrs of one entry.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    atime: (i64, u32),
    mtime: (i64, u32),
    xattrs: Vec<(CString, Vec<u8>)>,
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
    key.starts_with(b"trusted.overlay.")
        || key.starts_with(b"user.overlay.")
        || key.starts_with(b"user.fuseoverlayfs.")
}

/// Deferred metadata of a directory: applied after all its children exist.
struct DirMeta {
    path: Vec<u8>,
    mode: u32,
    atime: (i64, u32),
    mtime: (i64, u32),
}

/// A count of something degraded, with the first entry it happened to.
#[derive(Default)]
pub(super) struct Tally {
    count: u64,
    first: String,
}

impl Tally {
    pub(super) fn add(&mut self, what: impl FnOnce() -> String) {
        if self.count == 0 {
            self.first = what();
        }
        self.count += 1;
    }
}

/// The state of one layer being unpacked.
pub(super) struct Unpacker<'o> {
    pub(super) root: Root,
    pub(super) root_dir: Rc<OwnedFd>,
    pub(super) opts: &'o UnpackOptions,
    pub(super) stats: UnpackStats,
    /// Parent directories already resolved, by normalized path.
    dirs: HashMap<Vec<u8>, Rc<OwnedFd>>,
    /// Directories marked opaque by this layer.
    pub(super) opaque: BTreeSet<Vec<u8>>,
    /// Whiteout devices this layer created.
    pub(super) whiteouts: BTreeSet<Vec<u8>>,
    deferred: Vec<DirMeta>,
    pub(super) last_name: Option<Vec<u8>>,
    buf: Vec<u8>,
    skipped_devices: Tally,
    chown_failed: Tally,
    xattr_refused: Tally,
    unsupported: Tally,
    pub(super) aufs_meta: Tally,
}

impl<'o> Unpacker<'o> {
    fn new(root: Root, opts: &'o UnpackOptions) -> io::Result<Self> {
        let root_dir = Rc::new(root.open_dir(b".")?);
        Ok(Unpacker {
            root,
            root_dir,
            opts,
            stats: UnpackStats::default(),
            dirs: HashMap::new(),
            opaque: BTreeSet::new(),
            whiteouts: BTreeSet::new(),
            deferred: Vec::new(),
            last_name: None,
            buf: vec![0u8; COPY_BUF],
            skipped_devices: Tally::default(),
            chown_failed: Tally::default(),
            xattr_refused: Tally::default(),
            unsupported: Tally::default(),
            aufs_meta: Tally::default(),
        })
    }

    fn run<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<()> {
        let entries = archive.entries().context("reading the layer tar")?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.stream_error(e))?;
            let name = entry.path_bytes().into_owned();
            self.stats.entries += 1;
            let res = self.entry(&mut entry, &name);
            self.last_name = Some(name);
            res.with_context(|| {
                format!(
                    "entry {:?}",
                    lossy(self.last_name.as_deref().unwrap_or_default())
                )
            })?;
        }
        Ok(())
    }

    /// A tar-level read error: the stream is truncated or corrupt.
    fn stream_error(&self, e: io::Error) -> anyhow::Error {
        let after = match &self.last_name {
            Some(n) => format!(" after entry {:?}", lossy(n)),
            None => " at its first entry".into(),
        };
        anyhow!("reading the layer tar{after}: {e} (the stream is truncated or corrupt)")
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<()> {
        let et = entry.header().entry_type();
        if et == EntryType::XGlobalHeader {
            return Ok(());
        }
        let path = normalize(name)?;
        let (parent, base) = split_last(&path);
        if parent.split(|&c| c == b'/').any(|c| c.starts_with(b".wh.")) {
            if parent
                .split(|&c| c == b'/')
                .any(|c| c.starts_with(b".wh..wh."))
            {
                self.aufs_meta.add(|| lossy(name));
                return Ok(());
            }
            bail!("a whiteout name cannot be a directory (path escapes the layer or is malformed)");
        }
        if let Some(rest) = base.strip_prefix(b".wh.") {
            return self.whiteout(parent, rest, name);
        }
        if path.is_empty() {
            if et != EntryType::Directory {
                bail!("only a directory can name the layer root");
            }
            let m = self.meta(entry)?;
            self.set_owner(self.root_dir.as_raw_fd(), &cstr(b".")?, m.uid, m.gid, name)?;
            self.set_xattrs_dir(self.root_dir.as_raw_fd(), &cstr(b".")?, &m.xattrs, name)?;
            self.deferred.push(DirMeta {
                path,
                mode: m.mode,
                atime: m.atime,
                mtime: m.mtime,
            });
            return Ok(());
        }
        let c = cstr(base)?;
        match et {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, &path, &c, name)
            }
            EntryType::Directory => self.dir(entry, &path, &c, name),
            EntryType::Symlink => self.symlink(entry, &path, &c, name),
            EntryType::Link => self.hardlink(entry, &path, &c),
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                self.node(entry, et, &path, &c, name)
            }
            other => {
                self.unsupported
                    .add(|| format!("{} (type {:?})", lossy(name), other.as_byte() as char));
                Ok(())
            }
        }
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = entry.header();
        let old = h.as_old();
        let id = |v: io::Result<u64>, raw: &[u8], what: &str| -> Result<u32> {
            let v = numeric(v, raw).with_context(|| format!("bad {what} in header"))?;
            u32::try_from(v).map_err(|_| anyhow!("{what} {v} is out of range"))
        };
        let uid = id(h.uid(), &old.uid, "uid")?;
        let gid = id(h.gid(), &old.gid, "gid")?;
        let mode = numeric(h.mode().map(u64::from), &old.mode).context("bad mode in header")?
            as u32
            & 0o7777;
        let mut mtime = (
            numeric(h.mtime(), &old.mtime).context("bad mtime in header")? as i64,
            0,
        );
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
        Ok(Meta {
            uid,
            gid,
            mode,
            atime: atime.unwrap_or(mtime),
            mtime,
            xattrs,
        })
    }

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
                return Err(e)
                    .with_context(|| format!("resolving {:?} inside the layer", lossy(parent)));
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
                    return Err(e)
                        .with_context(|| format!("resolving {:?} inside the layer", lossy(prefix)));
                }
            }
            let c = cstr(comp)?;
            let ctx = || format!("creating directory {:?}", lossy(prefix));
            match inroot::kind_at(cur.as_raw_fd(), &c).with_context(ctx)? {
                None => {}
                Some(Kind::Symlink) => bail!(
                    "parent {:?} is a symlink that does not lead to a directory inside the layer",
                    lossy(prefix)
                ),
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

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        let mut f = match inroot::create_file(dir.as_raw_fd(), c) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.clear_name(dir.as_raw_fd(), path, c)?;
                inroot::create_file(dir.as_raw_fd(), c)
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
            f.write_all(&self.buf[..n]).context("writing file")?;
            got += n as u64;
        }
        if got != want {
            bail!(
                "the stream ends inside the file ({got} of {want} bytes): the layer is truncated"
            );
        }
        self.stats.bytes += got;
        let fd = f.as_raw_fd();
        self.owner_result(inroot::fchown(fd, m.uid, m.gid), &m, name)?;
        inroot::fchmod(fd, m.mode).context("chmod")?;
        for (k, v) in &m.xattrs {
            let r = inroot::fsetxattr(fd, k, v);
            self.xattr_result(r, k, name)?;
        }
        inroot::futimes(fd, m.atime, m.mtime).context("setting times")?;
        Ok(())
    }

    fn dir<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let (parent, _) = split_last(path);
        let dir = self.parent_fd(parent, true)?;
        match inroot::mkdir(dir.as_raw_fd(), c, 0o700) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                if inroot::kind_at(dir.as_raw_fd(), c).context("inspecting existing entry")?
                    != Some(Kind::Dir)
                {
                    self.clear_name(dir.as_raw_fd(), path, c)?;
                    inroot::mkdir(dir.as_raw_fd(), c, 0o700).context("creating directory")?;
                }
            }
            Err(e) => return Err(e).context("creating directory"),
        }
        self.set_owner(dir.as_raw_fd(), c, m.uid, m.gid, name)?;
        self.set_xattrs_dir(dir.as_raw_fd(), c, &m.xattrs, name)?;
        self.deferred.push(DirMeta {
            path: path.to_vec(),
            mode: m.mode,
            atime: m.atime,
            mtime: m.mtime,
        });
        Ok(())
    }

    fn symlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
        name: &[u8],
    ) -> Result<()> {
        let m = self.meta(entry)?;
        let target = entry
            .link_name_bytes()
            .context("symlink without a target")?;
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
        self.set_owner(fd, c, m.uid, m.gid, name)?;
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
    fn hardlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        c: &CString,
    ) -> Result<()> {
        let raw = entry
            .link_name_bytes()
            .context("hardlink without a target")?;
        let target =
            normalize(&raw).with_context(|| format!("hardlink target {:?}", lossy(&raw)))?;
        if target.is_empty() {
            bail!("hardlink to the layer root");
        }
        if target == path {
            return Ok(());
        }
        let (tparent, tbase) = split_last(&target);
        let missing = || {
            format!(
                "hardlink target {:?} is not an earlier entry of this layer",
                lossy(&raw)
            )
        };
        let tdir = self.parent_fd(tparent, false).with_context(missing)?;
        let tc = cstr(tbase)?;
        if inroot::kind_at(tdir.as_raw_fd(), &tc)
            .with_context(missing)?
            .is_none()
        {
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

    fn node<R: Read>(
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
                let kind = if et == EntryType::Char {
                    libc::S_IFCHR
                } else {
                    libc::S_IFBLK
                };
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
        self.set_owner(fd, c, m.uid, m.gid, name)?;
        inroot::chmod_nofollow(fd, c, m.mode).context("chmod")?;
        for (k, v) in &m.xattrs {
            let r = inroot::lsetxattr_at(fd, c, k, v);
            self.xattr_result(r, k, name)?;
        }
        inroot::utimes(fd, c, m.atime, m.mtime).context("setting times")?;
        Ok(())
    }

    fn set_owner(
        &mut self,
        dir: RawFd,
        c: &CString,
        uid: u32,
        gid: u32,
        name: &[u8],
    ) -> Result<()> {
        let r = inroot::chown(dir, c, uid, gid);
        let m = Meta {
            uid,
            gid,
            mode: 0,
            atime: (0, 0),
            mtime: (0, 0),
            xattrs: Vec::new(),
        };
        self.owner_result(r, &m, name)
    }

    /// A failed chown is fatal unless the caller runs with a single id, where it is
    /// expected: the file keeps our own owner and the layer gets one warning.
    fn owner_result(&mut self, r: io::Result<()>, m: &Meta, name: &[u8]) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e)
                if self.opts.ignore_chown_errors
                    && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) =>
            {
                self.chown_failed
                    .add(|| format!("{} ({}:{})", lossy(name), m.uid, m.gid));
                Ok(())
            }
            Err(e) => Err(e).with_context(|| {
                format!(
                    "chown to {}:{} (rootless with a single id: ignore chown errors)",
                    m.uid, m.gid
                )
            }),
        }
    }

    fn set_xattrs_dir(
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
    fn xattr_result(&mut self, r: io::Result<()>, key: &CString, name: &[u8]) -> Result<()> {
        let Err(e) = r else { return Ok(()) };
        let k = key.to_bytes();
        let soft = k.starts_with(b"user.") || k.starts_with(b"security.");
        if soft
            && matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::EOPNOTSUPP | libc::EACCES)
            )
        {
            self.xattr_refused
                .add(|| format!("{} on {}: {e}", lossy(k), lossy(name)));
            return Ok(());
        }
        Err(e).with_context(|| format!("setting xattr {}", lossy(k)))
    }

    /// Directory modes and times, now that no child will be added any more.
    fn finish(&mut self) -> Result<()> {
        let deferred = std::mem::take(&mut self.deferred);
        for d in &deferred {
            let (parent, base) = split_last(&d.path);
            let ctx = || {
                format!(
                    "entry {:?}: setting directory mode and times",
                    lossy(&d.path)
                )
            };
            let f = if d.path.is_empty() {
                inroot::open_dir_rd(self.root_dir.as_raw_fd(), &cstr(b".")?)
            } else {
                let Ok(dir) = self.parent_fd(parent, false) else {
                    continue;
                };
                inroot::open_dir_rd(dir.as_raw_fd(), &cstr(base)?)
            };
            // A later entry replaced or removed the directory: nothing left to set.
            let f = match f {
                Ok(f) => f,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e).with_context(ctx),
            };
            inroot::fchmod(f.as_raw_fd(), d.mode).with_context(ctx)?;
            inroot::futimes(f.as_raw_fd(), d.atime, d.mtime).with_context(ctx)?;
        }
        let lines = [
            (
                &self.skipped_devices,
                "device nodes skipped (cannot create devices rootless)",
            ),
            (
                &self.chown_failed,
                "files kept our own owner (chown to an unmapped id failed)",
            ),
            (
                &self.xattr_refused,
                "xattrs refused by the filesystem and skipped",
            ),
            (&self.unsupported, "entries of an unsupported type skipped"),
            (&self.aufs_meta, "aufs metadata entries (.wh..wh.*) skipped"),
        ];
        for (t, what) in lines {
            if t.count > 0 {
                self.stats
                    .warnings
                    .push(format!("{} {what}; first: {}", t.count, t.first));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
