//! The state store: `<root>/<id>/state.json`, written atomically (temp + fsync +
//! rename), guarded by a flock on the container directory, with the init's pid *and*
//! start time so a recycled pid is never taken for the container.
use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// runc's state `ociVersion`.
pub const OCI_VERSION: &str = "1.0.2-dev";

/// Container status as the runtime spec names it (plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        };
        f.write_str(s)
    }
}

/// The runtime-spec state document (what `state` prints and hooks read on stdin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
    #[serde(default)]
    pub owner: String,
}

/// What we keep next to the public state: enough to check liveness, exec and delete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Private {
    /// Field 22 of /proc/PID/stat when the init was recorded.
    pub start_time: u64,
    /// The config at create time (hooks, namespaces, process for exec defaults).
    pub config: Spec,
    pub rootless: bool,
    pub no_pivot: bool,
    /// Freezer cgroup directory, when the container was put in one.
    pub freezer: Option<PathBuf>,
}

/// state.json on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub state: State,
    pub minirun: Private,
}

/// Refuse ids that are not plain names (`.`, `..`, `a/b`, empty, odd characters).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if !ok {
        bail!("invalid container id {id:?}: use letters, digits and . _ + - (not \".\" or \"..\")");
    }
    Ok(())
}

/// Start time (clock ticks since boot, /proc/PID/stat field 22) and state letter of a process.
pub fn proc_start(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    Some((f.get(19)?.parse().ok()?, state))
}

/// The state directory of one engine (runc's `--root`).
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// A held flock on a container directory.
pub struct DirLock {
    _f: std::fs::File,
}

impl Store {
    /// Open (creating 0700 if needed) the state root.
    pub fn open(root: &Path) -> Result<Store> {
        if !root.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .with_context(|| format!("creating state directory {}", root.display()))?;
        }
        let md = std::fs::metadata(root).with_context(|| format!("stat {}", root.display()))?;
        if !md.is_dir() {
            bail!("state root {} is not a directory", root.display());
        }
        if md.uid() != nix::unistd::geteuid().as_raw() {
            bail!(
                "state root {} belongs to uid {}, not to us (uid {}): pass --root DIR",
                root.display(),
                md.uid(),
                nix::unistd::geteuid()
            );
        }
        Ok(Store { root: root.to_path_buf() })
    }

    /// Directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Create the directory of a new container; a duplicate id is an error.
    pub fn create_dir(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        let d = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container with given ID already exists: {id}")
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", d.display())),
        }
    }

    /// Exclusive lock on the container directory.
    pub fn lock(&self, id: &str) -> Result<DirLock> {
        let d = self.dir(id);
        let f = std::fs::File::open(&d).with_context(|| format!("container {id} does not exist"))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("locking {}", d.display()));
        }
        Ok(DirLock { _f: f })
    }

    /// Load the record of `id`.
    pub fn load(&self, id: &str) -> Result<Record> {
        validate_id(id)?;
        let p = self.dir(id).join("state.json");
        if !p.exists() {
            bail!("container {id} does not exist");
        }
        crate::fsutil::read_json(&p)
    }

    /// Save atomically.
    pub fn save(&self, r: &Record) -> Result<()> {
        crate::fsutil::atomic_write_json(&self.dir(&r.state.id).join("state.json"), r)
    }

    /// Path of the exec fifo of `id` (present while the container is `created`).
    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Ids of all containers, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&self.root).with_context(|| format!("reading {}", self.root.display()))? {
            let e = e?;
            if e.path().join("state.json").exists() {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        v.sort();
        Ok(v)
    }

    /// The live state: the status is recomputed from the process, the fifo and the freezer.
    pub fn live(&self, r: &Record) -> State {
        let mut s = r.state.clone();
        let alive = s.pid > 0
            && matches!(proc_start(s.pid), Some((t, st)) if t == r.minirun.start_time && st != 'Z' && st != 'X');
        if !alive {
            s.status = Status::Stopped;
            s.pid = 0;
        } else if self.fifo(&s.id).exists() {
            s.status = Status::Created;
        } else if r.minirun.freezer.as_deref().is_some_and(super::freezer::is_frozen) {
            s.status = Status::Paused;
        } else {
            s.status = Status::Running;
        }
        s
    }
}

/// Now as RFC3339 with nanoseconds, like runc's `created`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "c1", "a.b-c_d+e", &"f".repeat(64)] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn own_start_time() {
        let (t, st) = proc_start(std::process::id() as i32).unwrap();
        assert!(t > 0);
        // /proc/PID/stat describes the main thread, which may be asleep while tests run.
        assert!(matches!(st, 'R' | 'S'), "state {st}");
    }
}
