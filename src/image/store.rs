//! Image records and names: `<data>/images/<config-hex>/{image.json,config.json,manifest.json}`.
//!
//! `image.json` is written last (atomically), so an image directory without it is
//! an unfinished import and invisible. Every change happens under the exclusive
//! flock on `<data>/store.lock`; readers need no lock since every file is replaced
//! atomically.

use super::digest::Digest;
use super::reference::Reference;
use crate::fsutil::{Lock, atomic_write, atomic_write_json, lock_exclusive, read_json, remove_dir_all_if_exists};
use crate::paths::Paths;
use crate::storage::layers::{LayerRecord, LayerStore};
use anyhow::{Context, Result, bail};
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// One image (`image.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// `sha256:<config hex>`.
    pub id: Digest,
    /// `name:tag` names, possibly none (a dangling image).
    pub names: Vec<String>,
    /// Chain IDs of its layers, bottom to top.
    pub layers: Vec<Digest>,
    pub diff_ids: Vec<Digest>,
    pub manifest_digest: Digest,
    /// Creation time from the config, else the import time (RFC 3339).
    pub created: String,
    /// Bytes of file content in all its layers.
    pub size: u64,
}

impl ImageRecord {
    /// The 12-hex short id docker shows.
    pub fn short_id(&self) -> &str {
        &self.id.hex()[..12]
    }
}

/// What `remove` did for one reference.
#[derive(Debug, Clone)]
pub enum Removal {
    Untagged(String),
    Deleted(Digest),
    LayerDeleted(Digest),
}

/// The image store of one minirun instance.
#[derive(Debug, Clone)]
pub struct ImageStore {
    paths: Paths,
    /// Its layer store.
    pub layers: LayerStore,
}

impl ImageStore {
    /// Open (and create if needed) the image and layer store under `paths.data`.
    pub fn open(paths: &Paths) -> Result<ImageStore> {
        for d in [paths.images(), paths.tmp()] {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        let layers = LayerStore::new(paths);
        layers.ensure()?;
        Ok(ImageStore { paths: paths.clone(), layers })
    }

    /// The places this store lives in.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Take the exclusive store lock (`<data>/store.lock`) for a change.
    pub fn lock(&self) -> Result<Lock> {
        lock_exclusive(&self.paths.data.join("store.lock"))
    }

    fn dir(&self, id: &Digest) -> PathBuf {
        self.paths.images().join(id.hex())
    }

    /// The record of image `id`, None when absent.
    pub fn get(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        let p = self.dir(id).join("image.json");
        if !p.exists() {
            return Ok(None);
        }
        read_json(&p).map(Some)
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let mut v: Vec<ImageRecord> = Vec::new();
        let dir = self.paths.images();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for e in rd {
            let p = e?.path().join("image.json");
            if p.exists() {
                v.push(read_json(&p)?);
            }
        }
        v.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(v)
    }

    /// Find an image by `name[:tag]` (no tag = `:latest`), `sha256:<hex>`, or a full
    /// or unique-prefix id.
    pub fn resolve(&self, r: &str) -> Result<ImageRecord> {
        self.resolve_named(r).map(|(rec, _)| rec)
    }

    /// Like [`ImageStore::resolve`], also returning the name it matched, if it matched one.
    pub fn resolve_named(&self, r: &str) -> Result<(ImageRecord, Option<String>)> {
        let all = self.list()?;
        let not_found =
            || anyhow::anyhow!("image {r:?} not found: see `minirun images`, or load it with `minirun load -i PATH`");
        let hex = r.strip_prefix("sha256:");
        if hex.is_none()
            && let Ok(reference) = Reference::parse(r)
        {
            let full = reference.to_string();
            if let Some(rec) = all.iter().find(|i| i.names.contains(&full)) {
                return Ok((rec.clone(), Some(full)));
            }
        }
        let prefix = hex.unwrap_or(r);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let m: Vec<&ImageRecord> = all.iter().filter(|i| i.id.hex().starts_with(prefix)).collect();
        match m.len() {
            0 => Err(not_found()),
            1 => Ok((m[0].clone(), None)),
            _ => bail!("image id prefix {r:?} is ambiguous ({} images): give more digits", m.len()),
        }
    }

    /// The image's OCI config.
    pub fn config(&self, rec: &ImageRecord) -> Result<ImageConfiguration> {
        let p = self.dir(&rec.id).join("config.json");
        ImageConfiguration::from_file(&p)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("reading {}", p.display()))
    }

    /// The raw config bytes as loaded (their sha256 is the image id).
    pub fn config_bytes(&self, rec: &ImageRecord) -> Result<Vec<u8>> {
        let p = self.dir(&rec.id).join("config.json");
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    }

    /// The layer records of an image, bottom to top; an error names a missing layer.
    pub fn layer_records(&self, rec: &ImageRecord) -> Result<Vec<LayerRecord>> {
        rec.layers
            .iter()
            .map(|c| {
                self.layers.get(c)?.with_context(|| {
                    format!("image {}: layer {c} is missing from the store: remove the image and load it again", rec.id)
                })
            })
            .collect()
    }

    /// The unpacked layer directories (`layers/<chain>/diff`) of an image, bottom to top.
    pub fn layer_dirs(&self, rec: &ImageRecord) -> Result<Vec<PathBuf>> {
        Ok(self.layer_records(rec)?.iter().map(|l| self.layers.diff_dir(&l.chain_id)).collect())
    }

    /// The short link names (`layers/l/<LINK>`) of an image's layers, bottom to top.
    pub fn layer_links(&self, rec: &ImageRecord) -> Result<Vec<String>> {
        Ok(self.layer_records(rec)?.into_iter().map(|l| l.link).collect())
    }

    /// Write an image's files, `image.json` last (store lock held).
    pub fn write_image(&self, rec: &ImageRecord, config: &[u8], manifest: &[u8]) -> Result<()> {
        let d = self.dir(&rec.id);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        atomic_write(&d.join("config.json"), config)?;
        atomic_write(&d.join("manifest.json"), manifest)?;
        self.write_record(rec)
    }

    fn write_record(&self, rec: &ImageRecord) -> Result<()> {
        atomic_write_json(&self.dir(&rec.id).join("image.json"), rec)
    }

    /// Give image `id` the name `name` (already normalized), taking it from any other
    /// image (store lock held).
    pub fn add_name(&self, id: &Digest, name: &str) -> Result<()> {
        for mut other in self.list()? {
            if other.id != *id && other.names.iter().any(|n| n == name) {
                other.names.retain(|n| n != name);
                self.write_record(&other)?;
            }
        }
        let mut rec = self.get(id)?.with_context(|| format!("image {id} vanished"))?;
        if !rec.names.iter().any(|n| n == name) {
            rec.names.push(name.to_string());
            self.write_record(&rec)?;
        }
        Ok(())
    }

    /// Containers (by name or id) whose record refers to image `id`.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<String>> {
        let mut users = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.paths.containers()) else {
            return Ok(users);
        };
        for e in rd.flatten() {
            let p = e.path().join("container.json");
            let Ok(v) = read_json::<serde_json::Value>(&p) else {
                continue;
            };
            if v.get("image_id").and_then(|x| x.as_str()) == Some(id.as_str()) {
                let name = v.get("name").and_then(|x| x.as_str()).map(str::to_owned);
                users.push(name.unwrap_or_else(|| e.file_name().to_string_lossy().into_owned()));
            }
        }
        users.sort();
        Ok(users)
    }

    /// `rmi`: untag `r` when the image has other names, else delete the image and the
    /// layers no other image uses. Refuses while a container uses the image.
    pub fn remove(&self, r: &str, force: bool) -> Result<Vec<Removal>> {
        let _lock = self.lock()?;
        let (mut rec, name) = self.resolve_named(r)?;
        if rec.names.len() > 1 {
            if let Some(n) = name {
                rec.names.retain(|x| *x != n);
                self.write_record(&rec)?;
                return Ok(vec![Removal::Untagged(n)]);
            }
            if !force {
                bail!(
                    "image {} is referenced by several names ({}): remove them by name, or use -f to remove the image",
                    rec.short_id(),
                    rec.names.join(", ")
                );
            }
        }
        self.delete_image(&rec, true)
    }

    /// Delete an image and its unused layers (store lock held).
    fn delete_image(&self, rec: &ImageRecord, with_layers: bool) -> Result<Vec<Removal>> {
        let users = self.containers_using(&rec.id)?;
        if !users.is_empty() {
            bail!(
                "image {} is used by container(s) {}: remove them first (minirun rm)",
                rec.names.first().cloned().unwrap_or_else(|| rec.short_id().to_string()),
                users.join(", ")
            );
        }
        let mut out: Vec<Removal> = rec.names.iter().cloned().map(Removal::Untagged).collect();
        let d = self.dir(&rec.id);
        let aside = self.paths.tmp().join(format!("rm-{}", &crate::fsutil::random_id()[..16]));
        std::fs::rename(&d, &aside).with_context(|| format!("moving {} aside", d.display()))?;
        remove_dir_all_if_exists(&aside)?;
        out.push(Removal::Deleted(rec.id.clone()));
        if !with_layers {
            return Ok(out);
        }
        let used = self.used_layers()?;
        for c in rec.layers.iter().rev() {
            if !used.contains(c) && self.layers.get(c)?.is_some() {
                self.layers.remove(c)?;
                out.push(Removal::LayerDeleted(c.clone()));
            }
        }
        Ok(out)
    }

    /// Chain IDs used by at least one image.
    pub fn used_layers(&self) -> Result<HashSet<Digest>> {
        Ok(self.list()?.into_iter().flat_map(|i| i.layers).collect())
    }

    /// How many images use each layer.
    pub fn layer_users(&self) -> Result<BTreeMap<Digest, usize>> {
        let mut m = BTreeMap::new();
        for i in self.list()? {
            for c in i.layers.iter().collect::<HashSet<_>>() {
                *m.entry(c.clone()).or_insert(0) += 1;
            }
        }
        Ok(m)
    }

    /// `system prune`: dangling images (all unused images with `all`), layers no
    /// image uses, debris and stale staging. Returns what went.
    pub fn prune(&self, all: bool) -> Result<PruneReport> {
        let _lock = self.lock()?;
        let mut rep = PruneReport::default();
        for img in self.list()? {
            if (all || img.names.is_empty()) && self.containers_using(&img.id)?.is_empty() {
                self.delete_image(&img, false)?;
                rep.images.push(img.id.clone());
            }
        }
        let used = self.used_layers()?;
        for l in self.layers.list()? {
            if !used.contains(&l.chain_id) {
                self.layers.remove(&l.chain_id)?;
                rep.bytes += l.size;
                rep.layers.push(l.chain_id);
            }
        }
        rep.debris = self.layers.remove_debris()? + self.clean_tmp()?;
        Ok(rep)
    }

    /// Remove stale entries of `tmp/` (store lock held): staging directories whose
    /// import died (their `.lock` is not held) and anything else left there.
    pub fn clean_tmp(&self) -> Result<usize> {
        let mut n = 0;
        let Ok(rd) = std::fs::read_dir(self.paths.tmp()) else {
            return Ok(0);
        };
        for e in rd.flatten() {
            let p = e.path();
            if staging_in_use(&p) {
                continue;
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_dir_all_if_exists(&p)?;
            } else {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
            n += 1;
        }
        Ok(n)
    }
}

/// True when a live import holds the staging directory's lock.
fn staging_in_use(dir: &Path) -> bool {
    let Ok(f) = std::fs::File::open(dir.join(".lock")) else {
        return false;
    };
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    r != 0
}

/// What `system prune` removed.
#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub images: Vec<Digest>,
    pub layers: Vec<Digest>,
    /// Content bytes of the removed layers.
    pub bytes: u64,
    /// Dangling links, record-less layer dirs and stale staging entries removed.
    pub debris: usize,
}
