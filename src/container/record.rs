//! The JSON state store of containers: one document per container,
//! `<data>/containers/<id>/container.json`, written atomically under a lock.
//!
//! Liveness is never taken from the document alone: a recorded pid counts only while
//! `/proc/PID/stat` shows the same start time, so a recycled pid is never mistaken for
//! the container and a kill -9 of minirun at any moment leaves a document that `ps` and
//! `rm -f` can correct.

use crate::fsutil::{atomic_write_json, lock_exclusive, read_json};
use crate::paths::Paths;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Lifecycle of a high-level container, as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// A process recorded with its start time (clock ticks since boot, /proc/PID/stat field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcRef {
    /// The live process `pid`, with its start time; None if it does not exist.
    pub fn of(pid: i32) -> Option<ProcRef> {
        proc_start_time(pid).map(|start_time| ProcRef { pid, start_time })
    }

    /// True while the very same process is alive (not a recycled pid).
    pub fn alive(&self) -> bool {
        self.pid > 0 && proc_start_time(self.pid) == Some(self.start_time) && !is_zombie(self.pid)
    }
}

/// Start time of `pid` from /proc, or None.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    crate::runtime::state::proc_start(pid).map(|(t, _)| t)
}

fn is_zombie(pid: i32) -> bool {
    matches!(crate::runtime::state::proc_start(pid), Some((_, 'Z')))
}

/// What a mount of the container is, for `inspect` and for `rm -v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// "volume", "bind" or "tmpfs".
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name (volumes only).
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// True for a volume minirun created without a name.
    #[serde(rename = "Anonymous", default)]
    pub anonymous: bool,
    /// Fill the (empty) volume with the image's files at the destination on start.
    #[serde(rename = "CopyUp", default)]
    pub copy_up: bool,
}

/// The document of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's id (`sha256:…`): `rmi` refuses while a record names it.
    pub image_id: String,
    pub created: String,
    /// The command line the container runs (entrypoint + cmd), for `ps`.
    pub command: Vec<String>,
    pub storage_driver: String,
    /// Names of every volume mounted (named and anonymous): `volume rm` refuses them.
    pub volumes: Vec<String>,
    pub mounts: Vec<MountRecord>,
    /// Remove the container when it exits (`--rm`).
    pub auto_remove: bool,
    pub tty: bool,
    pub interactive: bool,
    pub status: Status,
    /// The container's init on the host while running.
    pub init: Option<ProcRef>,
    /// The monitor of a detached container (reaps it, records the exit).
    pub monitor: Option<ProcRef>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Signal `stop` sends first (image StopSignal or SIGTERM).
    pub stop_signal: String,
    /// Set when starting failed: the error, for `inspect`.
    #[serde(default)]
    pub error: Option<String>,
}

impl ContainerRecord {
    /// The status as it really is: a running record whose processes are gone is exited.
    pub fn live_status(&self) -> Status {
        if self.status == Status::Running {
            let init_alive = self.init.map(|p| p.alive()).unwrap_or(false);
            let mon_alive = self.monitor.map(|p| p.alive()).unwrap_or(false);
            if !init_alive && !mon_alive {
                return Status::Exited;
            }
        }
        self.status
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// All containers of one minirun root.
pub struct ContainerStore {
    dir: PathBuf,
    /// The OCI engine's state root: it knows a container's init before minirun does.
    oci: PathBuf,
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl ContainerStore {
    /// Open (and create) `<data>/containers`.
    pub fn open(paths: &Paths) -> Result<ContainerStore> {
        let dir = paths.containers();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(ContainerStore { dir, oci: paths.oci_state() })
    }

    /// The init the engine recorded for `id` (pid and start time), if any.
    fn engine_init(&self, id: &str) -> Option<ProcRef> {
        let v: serde_json::Value = read_json(&self.oci.join(id).join("state.json")).ok()?;
        let pid = v["pid"].as_i64()? as i32;
        let start_time = v["minirun"]["start_time"].as_u64()?;
        Some(ProcRef { pid, start_time })
    }

    /// The document as it really is. minirun may have been killed between the
    /// engine starting the container and the document saying so: then the engine's
    /// state (saved before the user's process runs) tells the truth.
    fn observe(&self, mut rec: ContainerRecord) -> ContainerRecord {
        if rec.status == Status::Created
            && rec.init.is_none()
            && rec.monitor.is_none_or(|m| !m.alive())
            && let Some(init) = self.engine_init(&rec.id)
        {
            rec.init = Some(init);
            rec.status = if init.alive() { Status::Running } else { Status::Exited };
        }
        rec
    }

    /// Directory of container `id`.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn doc(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("container.json")
    }

    /// Held while names are checked and documents change, so eight concurrent
    /// `run --name same` make exactly one container.
    pub fn lock(&self) -> Result<crate::fsutil::Lock> {
        lock_exclusive(&self.dir.join(".lock"))
    }

    /// Register a new container: refuses a name in use; the directory and the document
    /// appear together (the directory is renamed into place only once written).
    pub fn create(&self, rec: &ContainerRecord) -> Result<()> {
        if !valid_name(&rec.name) {
            bail!("invalid container name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", rec.name);
        }
        let _l = self.lock()?;
        if let Some(other) = self.list()?.into_iter().find(|c| c.name == rec.name) {
            bail!(
                "the container name \"{}\" is already in use by container {}: remove it or choose another name",
                rec.name,
                other.id
            );
        }
        let staging = self.dir.join(format!(".new-{}", rec.id));
        std::fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
        let res = atomic_write_json(&staging.join("container.json"), rec)
            .and_then(|_| std::fs::rename(&staging, self.dir_of(&rec.id)).context("registering the container"));
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        res
    }

    /// Save a changed document atomically.
    pub fn save(&self, rec: &ContainerRecord) -> Result<()> {
        atomic_write_json(&self.doc(&rec.id), rec)
    }

    /// Load, change and save a document under the lock (so the monitor and a verb never
    /// overwrite each other's changes).
    pub fn update<F: FnOnce(&mut ContainerRecord)>(&self, id: &str, f: F) -> Result<ContainerRecord> {
        let _l = self.lock()?;
        let mut rec: ContainerRecord = read_json(&self.doc(id))?;
        f(&mut rec);
        self.save(&rec)?;
        Ok(rec)
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord> {
        read_json(&self.doc(id)).map(|r| self.observe(r))
    }

    /// Every container, oldest first. Half-created directories (no document) are skipped.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut v = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(rec) = read_json::<ContainerRecord>(&e.path().join("container.json")) {
                v.push(self.observe(rec));
            }
        }
        v.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(v)
    }

    /// Find a container by name, full id or unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<ContainerRecord> {
        let all = self.list()?;
        if let Some(c) = all.iter().find(|c| c.name == key || c.id == key) {
            return Ok(c.clone());
        }
        let hits: Vec<_> = all.iter().filter(|c| !key.is_empty() && c.id.starts_with(key)).collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(crate::error::ExitError::new(crate::error::EXIT_RUNTIME, format!("no such container: {key}"))),
            n => bail!("{key} matches {n} containers: give more of the id"),
        }
    }

    /// Remove a container's directory (its writable layer included).
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        // Rename first so a crash mid-removal never leaves a half-deleted container
        // that still looks valid.
        let dir = self.dir_of(id);
        let trash = self.dir.join(format!(".rm-{id}"));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
        crate::fsutil::remove_dir_all_if_exists(&trash)
    }

    /// Root of all containers.
    pub fn root(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("db1"));
        assert!(valid_name("a.b-c_d"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(".."));
    }

    #[test]
    fn own_start_time() {
        let me = ProcRef::of(std::process::id() as i32).unwrap();
        assert!(me.alive());
        let fake = ProcRef { pid: me.pid, start_time: me.start_time + 1 };
        assert!(!fake.alive());
    }
}
