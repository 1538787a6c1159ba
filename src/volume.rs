//! Named volumes under `<data>/volumes/NAME/_data`, each described by
//! `<data>/volumes/NAME/volume.json` (written atomically under the store lock).

use crate::fsutil::{atomic_write_json, lock_exclusive, read_json};
use crate::paths::Paths;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Created for one container (`-v /dst`, image VOLUME); `rm -v` removes it.
    pub anonymous: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub driver: String,
    /// The `_data` directory mounted into containers.
    pub mountpoint: PathBuf,
}

/// The volume store of one minirun instance.
pub struct VolumeStore {
    dir: PathBuf,
    containers: PathBuf,
}

impl VolumeStore {
    /// Open (and create if needed) `<data>/volumes`.
    pub fn open(paths: &Paths) -> Result<VolumeStore> {
        let dir = paths.volumes();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(VolumeStore { dir, containers: paths.containers() })
    }

    fn lock(&self) -> Result<crate::fsutil::Lock> {
        lock_exclusive(&self.dir.join(".lock"))
    }

    fn record(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// Create a volume (a random 64-hex name when `name` is None). Creating a name
    /// that exists returns the existing volume unchanged.
    pub fn create(&self, name: Option<&str>, anonymous: bool) -> Result<Volume> {
        let name = match name {
            Some(n) => {
                crate::mountspec::validate_volume_name(n)?;
                n.to_string()
            }
            None => crate::fsutil::random_id(),
        };
        let _l = self.lock()?;
        if let Some(v) = self.get_unlocked(&name)? {
            return Ok(v);
        }
        let vdir = self.dir.join(&name);
        let res = (|| -> Result<Volume> {
            let data = vdir.join("_data");
            std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
            let v = Volume {
                name: name.clone(),
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                anonymous,
                labels: BTreeMap::new(),
                driver: "local".into(),
                mountpoint: data,
            };
            // The record is written last: a volume without one is incomplete and ignored.
            atomic_write_json(&self.record(&name), &v)?;
            Ok(v)
        })();
        if res.is_err() {
            let _ = crate::fsutil::remove_dir_all_if_exists(&vdir);
        }
        res
    }

    fn get_unlocked(&self, name: &str) -> Result<Option<Volume>> {
        let p = self.record(name);
        if !p.exists() {
            return Ok(None);
        }
        read_json(&p).map(Some)
    }

    /// The volume called `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        if crate::mountspec::validate_volume_name(name).is_err() {
            return Ok(None);
        }
        self.get_unlocked(name)
    }

    /// Every volume, sorted by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).with_context(|| format!("reading {}", self.dir.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            if let Some(v) = self.get(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Names of the containers whose `container.json` lists volume `name`.
    pub fn users(&self, name: &str) -> Vec<String> {
        #[derive(Deserialize)]
        struct C {
            #[serde(default)]
            volumes: Vec<String>,
        }
        let Ok(rd) = std::fs::read_dir(&self.containers) else { return Vec::new() };
        let mut v: Vec<String> = rd
            .flatten()
            .filter(|e| {
                read_json::<C>(&e.path().join("container.json")).is_ok_and(|c| c.volumes.iter().any(|n| n == name))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Remove a volume and its data. Refused while a container uses it, even with
    /// `force` (which only makes a missing volume not an error, as Docker does).
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _l = self.lock()?;
        if self.get(name)?.is_none() {
            if force {
                return Ok(());
            }
            bail!("no such volume: {name}");
        }
        let users = self.users(name);
        if !users.is_empty() {
            let short: Vec<&str> = users.iter().map(|u| &u[..u.len().min(12)]).collect();
            bail!("volume {name} is in use by container {}: remove the container first", short.join(", "));
        }
        // Drop the record first so a crash leaves no half volume that looks whole.
        std::fs::remove_file(self.record(name)).with_context(|| format!("removing {}", self.record(name).display()))?;
        crate::fsutil::remove_dir_all_if_exists(&self.dir.join(name))
    }

    /// Remove every volume no container uses; returns the removed names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for v in self.list()? {
            if self.users(&v.name).is_empty() {
                self.remove(&v.name, true)?;
                removed.push(v.name);
            }
        }
        Ok(removed)
    }

    /// True when the volume's `_data` holds nothing.
    pub fn is_empty(&self, v: &Volume) -> Result<bool> {
        Ok(std::fs::read_dir(&v.mountpoint)
            .with_context(|| format!("reading {}", v.mountpoint.display()))?
            .next()
            .is_none())
    }

    /// Make `_data` owned by `uid:gid` (the container's user) so it can write there.
    pub fn chown_for(&self, v: &Volume, uid: u32, gid: u32) -> Result<()> {
        std::os::unix::fs::chown(&v.mountpoint, Some(uid), Some(gid))
            .with_context(|| format!("chown {uid}:{gid} {}", v.mountpoint.display()))
    }
}

/// Fill an empty volume with the image's files at its destination: `src_dir` is
/// that directory in the container's (mounted or copied) root filesystem. Owners,
/// modes, symlinks and xattrs are preserved; `_data` takes `src_dir`'s owner and mode.
pub fn copy_into_volume(src_dir: &Path, vol: &Volume) -> Result<()> {
    let md = match src_dir.symlink_metadata() {
        Ok(m) => m,
        Err(_) => return Ok(()), // nothing in the image there
    };
    if !md.is_dir() {
        return Ok(());
    }
    crate::storage::vfs::copy_tree(src_dir, &vol.mountpoint)
        .with_context(|| format!("copying {} into volume {}", src_dir.display(), vol.name))
}
