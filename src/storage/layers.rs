//! The layer store: one directory per layer, keyed by chain ID, plus a short link.
//!
//! ```text
//! layers/<chain-hex>/diff/        the unpacked layer
//! layers/<chain-hex>/layer.json   its LayerRecord (written before the dir is renamed in)
//! layers/l/<LINK> -> ../<chain-hex>/diff
//! ```
//! A layer directory appears by one rename from staging, complete, with its record;
//! so a directory in `layers/` without `layer.json` is debris (prune removes it).
//! Callers hold the store lock for every change.

use crate::fsutil::{atomic_write_json, read_json, remove_dir_all_if_exists};
use crate::image::digest::Digest;
use crate::paths::Paths;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Metadata of one unpacked layer (`layer.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Chain ID of the layer below, none for a bottom layer.
    pub parent: Option<Digest>,
    /// Digest of the blob as it was stored in the input (compressed).
    pub compressed_digest: Option<Digest>,
    pub media_type: String,
    /// Bytes of regular-file content.
    pub size: u64,
    /// Tar entries unpacked.
    pub entries: u64,
    /// Name of the short link in `layers/l/`.
    pub link: String,
    /// When it was unpacked (RFC 3339).
    pub created: String,
}

/// Layer directories under `<data>/layers`.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// Directory name of the short links.
pub const LINK_DIR: &str = "l";

impl LayerStore {
    /// The layer store of `paths` (directories are created by [`LayerStore::ensure`]).
    pub fn new(paths: &Paths) -> LayerStore {
        LayerStore { root: paths.layers(), tmp: paths.tmp() }
    }

    /// Create `layers/` and `layers/l/`.
    pub fn ensure(&self) -> Result<()> {
        let l = self.root.join(LINK_DIR);
        std::fs::create_dir_all(&l).with_context(|| format!("creating {}", l.display()))
    }

    /// `layers/<chain-hex>`.
    pub fn dir(&self, chain: &Digest) -> PathBuf {
        self.root.join(chain.hex())
    }

    /// `layers/<chain-hex>/diff`, what overlay stacks.
    pub fn diff_dir(&self, chain: &Digest) -> PathBuf {
        self.dir(chain).join("diff")
    }

    /// `layers/l`, the directory overlay mounts chdir into to use short lowerdirs.
    pub fn link_dir(&self) -> PathBuf {
        self.root.join(LINK_DIR)
    }

    /// The record of a committed layer, or None when it is not in the store.
    pub fn get(&self, chain: &Digest) -> Result<Option<LayerRecord>> {
        let p = self.dir(chain).join("layer.json");
        if !p.exists() {
            return Ok(None);
        }
        read_json(&p).map(Some)
    }

    /// Every committed layer.
    pub fn list(&self) -> Result<Vec<LayerRecord>> {
        let mut v = Vec::new();
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.root.display())),
        };
        for e in rd {
            let e = e?;
            let p = e.path().join("layer.json");
            if p.exists() {
                v.push(read_json(&p)?);
            }
        }
        v.sort_by(|a: &LayerRecord, b| a.chain_id.cmp(&b.chain_id));
        Ok(v)
    }

    /// A fresh 26-character link name (containers/storage's format).
    pub fn new_link() -> String {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut b = [0u8; 26];
        getrandom::fill(&mut b).expect("getrandom");
        b.iter().map(|x| ALPHA[(*x as usize) % ALPHA.len()] as char).collect()
    }

    /// Move a finished staging directory (holding `diff/`) into the store under the
    /// store lock. Returns false, leaving `staging` alone, when another import
    /// committed the same chain ID first: the caller discards its copy.
    pub fn commit(&self, staging: &Path, rec: &LayerRecord) -> Result<bool> {
        let dest = self.dir(&rec.chain_id);
        if self.get(&rec.chain_id)?.is_some() {
            return Ok(false);
        }
        if dest.exists() {
            // Debris without a record (cannot come from a commit): move it aside.
            self.discard(&dest)?;
        }
        atomic_write_json(&staging.join("layer.json"), rec)?;
        let link = self.link_dir().join(&rec.link);
        // The link first: a crash leaves a dangling link (pruned), never a layer
        // without its link.
        std::os::unix::fs::symlink(format!("../{}/diff", rec.chain_id.hex()), &link)
            .with_context(|| format!("creating link {}", link.display()))?;
        if let Err(e) = std::fs::rename(staging, &dest) {
            let _ = std::fs::remove_file(&link);
            return Err(e).with_context(|| format!("renaming {} to {}", staging.display(), dest.display()));
        }
        crate::fsutil::fsync_dir(&self.root)?;
        Ok(true)
    }

    /// Remove a layer and its link (store lock held, no image using it).
    pub fn remove(&self, chain: &Digest) -> Result<()> {
        if let Some(rec) = self.get(chain)? {
            let link = self.link_dir().join(&rec.link);
            match std::fs::remove_file(&link) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", link.display()));
                }
                _ => {}
            }
        }
        let dir = self.dir(chain);
        if dir.exists() {
            self.discard(&dir).with_context(|| format!("removing layer {chain}"))?;
        }
        Ok(())
    }

    /// Rename a directory into tmp/ (it vanishes from the store at once), then delete it.
    fn discard(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(&self.tmp).with_context(|| format!("creating {}", self.tmp.display()))?;
        let aside = self.tmp.join(format!("rm-{}", &crate::fsutil::random_id()[..16]));
        std::fs::rename(dir, &aside).with_context(|| format!("moving {} aside", dir.display()))?;
        remove_dir_all_if_exists(&aside)
    }

    /// Remove links whose layer is gone and directories without a record; returns
    /// how many entries were removed.
    pub fn remove_debris(&self) -> Result<usize> {
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(self.link_dir()) {
            for e in rd.flatten() {
                if !e.path().join(".").exists() {
                    std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
                    n += 1;
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                if e.file_name() != LINK_DIR && !e.path().join("layer.json").exists() {
                    self.discard(&e.path())?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
