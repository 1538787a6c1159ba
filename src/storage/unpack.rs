//! Safe unpacking of one layer tar into its own directory, converting whiteouts to the
//! form kernel overlay reads (0:0 character devices and the opaque xattr).
//!
//! Every parent directory is resolved inside `dest` with openat2(`RESOLVE_IN_ROOT`), and
//! the final component of every entry is created or changed without following it, so a
//! hostile tar (`..`, absolute names, symlinks pointing out, hardlinks through symlinks)
//! cannot touch anything outside `dest`.
mod entry;
mod resolve;
mod whiteout;

use super::inroot::{self, Root, cstr};
use anyhow::{Context, Result, anyhow, bail};
use resolve::{normalize, split_last};
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
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
/// Read buffer in front of the layer stream.
const STREAM_BUF: usize = 128 * 1024;
/// Open parent directory fds kept between entries.
const MAX_CACHED_DIRS: usize = 256;

/// Unpack an (already decompressed) layer tar stream into the empty directory `dest`.
/// Nothing is ever created, changed or removed outside `dest`. The stream is read to its
/// end, past the tar's end-of-archive marker, so a caller hashing it sees every byte.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let count = Cell::new(0u64);
    // Headers are read 512 bytes at a time: buffer them, while big content reads
    // (larger than the buffer) go straight through.
    let limited =
        Limited { inner: io::BufReader::with_capacity(STREAM_BUF, reader), count: &count, limit: opts.max_bytes };
    let root = Root::open(dest).with_context(|| format!("opening layer directory {}", dest.display()))?;
    let mut u = Unpacker::new(root, opts).with_context(|| format!("opening layer directory {}", dest.display()))?;
    let mut archive = tar::Archive::new(limited);
    let limit_err = |e: anyhow::Error, u: &Unpacker| {
        if count.get() > opts.max_bytes || e.chain().any(|c| c.is::<LimitExceeded>()) {
            let at = u.last_name.as_deref().map(|n| format!(" (at entry {:?})", lossy(n))).unwrap_or_default();
            anyhow!("layer exceeds the limit of {} bytes uncompressed{at}", opts.max_bytes)
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
    let mut first_block = true;
    loop {
        match rest.read(&mut buf[..if first_block { 512 } else { 64 * 1024 }]) {
            Ok(0) => break,
            Ok(n) => {
                // The tar ended at one zero block; a header right after it would be
                // read by other tools (Go's archive/tar refuses it): ambiguous.
                if first_block && n == 512 && buf[..512].iter().any(|&b| b != 0) {
                    bail!(
                        "the tar has a single end-of-archive block followed by more data \
                         (after entry {:?}): refusing an ambiguous archive",
                        u.last_name.as_deref().map(lossy).unwrap_or_default()
                    );
                }
                first_block = false;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(limit_err(anyhow!(e).context("reading the layer stream after the end of the tar"), &u));
            }
        }
    }
    u.finish()?;
    Ok(u.stats)
}

/// The layer wrote more than the limit (a sparse file expands beyond the stream).
#[derive(Debug)]
struct LimitExceeded(u64);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "layer exceeds the limit of {} bytes uncompressed", self.0)
    }
}

impl std::error::Error for LimitExceeded {}

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
    /// Owner a newly created node already has (None: the root is setgid, so new
    /// nodes may inherit its group), letting the common case skip chown.
    pub(super) own_ids: Option<(u32, u32)>,
    /// The process umask, to know whether a created file already has its mode.
    pub(super) umask: Option<u32>,
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
        // Directory modes are applied at the end, so only the root can be setgid
        // while unpacking; without it a new file already has our uid and gid.
        // SAFETY: geteuid/getegid cannot fail.
        let own_ids =
            (!inroot::is_setgid_dir(root_dir.as_raw_fd())?).then(|| unsafe { (libc::geteuid(), libc::getegid()) });
        Ok(Unpacker {
            root,
            root_dir,
            own_ids,
            umask: inroot::current_umask(),
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
            res.with_context(|| format!("entry {:?}", lossy(self.last_name.as_deref().unwrap_or_default())))?;
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
            if parent.split(|&c| c == b'/').any(|c| c.starts_with(b".wh..wh.")) {
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
            self.deferred.push(DirMeta { path, mode: m.mode, atime: m.atime, mtime: m.mtime });
            return Ok(());
        }
        let c = cstr(base)?;
        match et {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => self.file(entry, &path, &c, name),
            EntryType::Directory => self.dir(entry, &path, &c, name),
            EntryType::Symlink => self.symlink(entry, &path, &c, name),
            EntryType::Link => self.hardlink(entry, &path, &c),
            EntryType::Fifo | EntryType::Char | EntryType::Block => self.node(entry, et, &path, &c, name),
            other => {
                self.unsupported.add(|| format!("{} (type {:?})", lossy(name), other.as_byte() as char));
                Ok(())
            }
        }
    }

    /// Directory modes and times, now that no child will be added any more.
    fn finish(&mut self) -> Result<()> {
        let deferred = std::mem::take(&mut self.deferred);
        for d in &deferred {
            let (parent, base) = split_last(&d.path);
            let ctx = || format!("entry {:?}: setting directory mode and times", lossy(&d.path));
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
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)) => {
                    continue;
                }
                Err(e) => return Err(e).with_context(ctx),
            };
            inroot::fchmod(f.as_raw_fd(), d.mode).with_context(ctx)?;
            inroot::futimes(f.as_raw_fd(), d.atime, d.mtime).with_context(ctx)?;
        }
        let lines = [
            (&self.skipped_devices, "device nodes skipped (cannot create devices rootless)"),
            (&self.chown_failed, "files kept our own owner (chown to an unmapped id failed)"),
            (&self.xattr_refused, "xattrs refused by the filesystem and skipped"),
            (&self.unsupported, "entries of an unsupported type skipped"),
            (&self.aufs_meta, "aufs metadata entries (.wh..wh.*) skipped"),
        ];
        for (t, what) in lines {
            if t.count > 0 {
                self.stats.warnings.push(format!("{} {what}; first: {}", t.count, t.first));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_content;
#[cfg(test)]
mod tests_overlay;
