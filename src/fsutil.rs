//! Small filesystem habits used by every store: atomic writes, locks, ids.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Write `data` to `path` atomically: temp file in the same directory, fsync, rename,
/// fsync of the directory. A reader sees the old or the new document, never a torn one,
/// even after kill -9 or a power cut.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().context("atomic_write: path has no parent")?;
    let name = path.file_name().context("atomic_write: path has no file name")?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let res = (|| -> Result<()> {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(data).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("fsync {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Serialize `value` as pretty JSON and write it atomically.
pub fn atomic_write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut data = serde_json::to_vec_pretty(value)?;
    data.push(b'\n');
    atomic_write(path, &data)
}

/// Read and parse a JSON document, naming the file in every error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parsing {}", path.display()))
}

/// fsync a directory so a rename in it is durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    f.sync_all().with_context(|| format!("fsync {}", dir.display()))
}

/// An advisory lock held until dropped (flock on a lock file).
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

fn flock_file(path: &Path, exclusive: bool) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock {}", path.display()))?;
    let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    loop {
        // SAFETY: flock on an fd we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(Lock { _file: file, path: path.to_path_buf() })
}

/// Take an exclusive lock on `path` (created if missing), waiting for other holders.
pub fn lock_exclusive(path: &Path) -> Result<Lock> {
    flock_file(path, true)
}

/// Take a shared lock on `path` (created if missing).
pub fn lock_shared(path: &Path) -> Result<Lock> {
    flock_file(path, false)
}

/// 64 random hex digits, like Docker's container and volume ids.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("getrandom");
    hex::encode(b)
}

/// Remove a directory tree if it exists; missing is fine.
pub fn remove_dir_all_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
    }
}
