//! Where an image's files come from: a directory (OCI layout, unpacked docker save)
//! or a tar archive read in place.
//!
//! An archive is never extracted: it is walked once to index entry name -> data
//! offset and size, and every blob is then read by seeking into the file, so
//! several layers can be read at once through their own file handles.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Largest index, manifest or config document we accept.
pub const MAX_JSON: u64 = 16 << 20;

/// Check a path named by an archive entry or a manifest: relative, no `..`, and
/// return it normalized (no `.` components, no leading `./`).
pub fn clean_name(name: &str) -> Result<String> {
    let mut out = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(s) => out.push(s.to_str().with_context(|| format!("non-UTF-8 name {name:?}"))?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                bail!("refusing path {name:?}: absolute or containing \"..\" (it would point outside the image)")
            }
        }
    }
    if out.is_empty() {
        bail!("refusing empty path {name:?}");
    }
    Ok(out.join("/"))
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// Symlink target, already resolved to an archive-relative name.
    Link(String),
}

/// Entry name -> location of a tar archive read once.
#[derive(Debug)]
pub struct TarIndex {
    path: PathBuf,
    entries: HashMap<String, Entry>,
}

impl TarIndex {
    /// Walk the archive headers once (seeking over data) and index its files.
    pub fn build(path: &Path) -> Result<TarIndex> {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut ar = tar::Archive::new(f);
        let mut entries = HashMap::new();
        for e in ar.entries_with_seek().with_context(|| format!("reading tar {}", path.display()))? {
            let e = e.with_context(|| format!("reading tar {}: corrupt or truncated archive", path.display()))?;
            let raw = e.path().with_context(|| format!("tar {}: bad entry name", path.display()))?;
            let raw = raw.to_string_lossy().into_owned();
            let name = clean_name(&raw).with_context(|| format!("archive {} entry {raw:?}", path.display()))?;
            let kind = e.header().entry_type();
            let link = || -> Result<String> {
                let l = e.link_name()?.with_context(|| format!("entry {raw:?} has no link target"))?;
                Ok(l.to_string_lossy().into_owned())
            };
            let entry = match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    Entry::File { offset: e.raw_file_position(), size: e.size() }
                }
                tar::EntryType::GNUSparse => bail!("archive {}: sparse entry {raw:?} is not supported", path.display()),
                // docker save links a layer shared by two images to its first copy.
                tar::EntryType::Symlink => {
                    let t = link()?;
                    let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
                    Entry::Link(
                        resolve_rel(dir, &t)
                            .with_context(|| format!("archive {} entry {raw:?} -> {t:?}", path.display()))?,
                    )
                }
                tar::EntryType::Link => {
                    let t = link()?;
                    Entry::Link(
                        clean_name(&t).with_context(|| format!("archive {} entry {raw:?} -> {t:?}", path.display()))?,
                    )
                }
                _ => continue,
            };
            entries.insert(name, entry);
        }
        Ok(TarIndex { path: path.to_path_buf(), entries })
    }

    fn lookup(&self, name: &str) -> Option<(u64, u64)> {
        let mut n = name.to_string();
        for _ in 0..16 {
            match self.entries.get(&n)? {
                Entry::File { offset, size } => return Some((*offset, *size)),
                Entry::Link(t) => n = t.clone(),
            }
        }
        None
    }
}

/// Resolve a relative symlink target against its directory, inside the archive.
fn resolve_rel(dir: &Path, target: &str) -> Result<String> {
    if target.starts_with('/') {
        bail!("absolute link target points outside the archive");
    }
    let mut out: Vec<String> = dir.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    for c in Path::new(target).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if out.pop().is_none() {
                    bail!("link target points outside the archive");
                }
            }
            _ => bail!("link target points outside the archive"),
        }
    }
    Ok(out.join("/"))
}

/// Files of an image input, by archive-relative name.
pub enum Source {
    /// A directory: an OCI layout or an unpacked docker save.
    Dir(PathBuf),
    /// A tar archive, indexed.
    Tar(TarIndex),
}

impl Source {
    /// Open `path` as a directory or an archive.
    pub fn open(path: &Path) -> Result<Source> {
        let md = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if md.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let mut magic = [0u8; 4];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .with_context(|| format!("reading {}", path.display()))?;
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            bail!(
                "{} is a compressed archive: decompress it first (gunzip / unzstd), then load the .tar",
                path.display()
            );
        }
        Ok(Source::Tar(TarIndex::build(path)?))
    }

    /// True when the file `name` exists in the input.
    pub fn exists(&self, name: &str) -> bool {
        match self {
            Source::Dir(d) => clean_name(name).map(|n| d.join(n).is_file()).unwrap_or(false),
            Source::Tar(t) => t.lookup(name).is_some(),
        }
    }

    /// Open file `name` (checked to stay inside the input) and return it with its size.
    pub fn open_file(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64)> {
        let name = clean_name(name)?;
        match self {
            Source::Dir(d) => {
                let p = d.join(&name);
                let f = File::open(&p).with_context(|| format!("missing {}", p.display()))?;
                let size = f.metadata()?.len();
                Ok((Box::new(f), size))
            }
            Source::Tar(t) => {
                let (offset, size) =
                    t.lookup(&name).with_context(|| format!("missing {name} in archive {}", t.path.display()))?;
                let mut f = File::open(&t.path).with_context(|| format!("opening {}", t.path.display()))?;
                f.seek(SeekFrom::Start(offset))?;
                Ok((Box::new(f.take(size)), size))
            }
        }
    }

    /// What to call this input in messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Dir(d) => d.display().to_string(),
            Source::Tar(t) => t.path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(clean_name("./blobs/sha256/x").unwrap(), "blobs/sha256/x");
        assert!(clean_name("../x").is_err());
        assert!(clean_name("/etc/passwd").is_err());
        assert!(clean_name("a/../../x").is_err());
        assert_eq!(resolve_rel(Path::new("a"), "../b/layer.tar").unwrap(), "b/layer.tar");
        assert!(resolve_rel(Path::new("a"), "../../x").is_err());
        assert!(resolve_rel(Path::new("a"), "/x").is_err());
    }
}
