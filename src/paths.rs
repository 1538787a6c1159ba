//! Where minirun keeps its data, named for what each folder holds.
//!
//! As root: `/var/lib/minirun` (persistent) and `/run/minirun` (runtime state).
//! Rootless: `$XDG_DATA_HOME/minirun` (default `~/.local/share/minirun`) and
//! `$XDG_RUNTIME_DIR/minirun` (fallback `/tmp/minirun-<uid>`, created 0700 and
//! checked to be ours). `--root DIR` / `MINIRUN_ROOT` put everything under DIR.

use anyhow::{Context, Result, bail};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The resolved directories of one minirun instance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Paths {
    /// Persistent data: images, layers, containers, volumes.
    pub data: PathBuf,
    /// Runtime state (tmpfs on most hosts): OCI container state, locks of live objects.
    pub run: PathBuf,
}

impl Paths {
    /// Resolve from `--root`/`MINIRUN_ROOT` or the defaults for root and rootless.
    pub fn resolve(root: Option<&Path>, rootless: bool) -> Result<Paths> {
        if let Some(r) = root {
            let r = absolute(r)?;
            return Ok(Paths { run: r.join("run"), data: r });
        }
        if !rootless {
            return Ok(Paths { data: PathBuf::from("/var/lib/minirun"), run: PathBuf::from("/run/minirun") });
        }
        let data = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d).join("minirun"),
            None => home_dir()?.join(".local/share/minirun"),
        };
        Ok(Paths { data, run: rootless_runtime_dir()?.join("minirun") })
    }

    pub fn images(&self) -> PathBuf {
        self.data.join("images")
    }
    pub fn layers(&self) -> PathBuf {
        self.data.join("layers")
    }
    pub fn containers(&self) -> PathBuf {
        self.data.join("containers")
    }
    pub fn volumes(&self) -> PathBuf {
        self.data.join("volumes")
    }
    /// Staging area on the same filesystem as the store, so finished work is renamed in.
    pub fn tmp(&self) -> PathBuf {
        self.data.join("tmp")
    }
    /// State directory of the OCI engine (what runc calls `--root`).
    pub fn oci_state(&self) -> PathBuf {
        self.run.join("oci")
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir().context("reading the current directory")?.join(p))
    }
}

fn home_dir() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => Ok(u.dir),
        _ => bail!("cannot find a home directory for uid {uid}: set HOME or use --root DIR"),
    }
}

/// `$XDG_RUNTIME_DIR`, or a private `/tmp/minirun-<uid>` we create and verify.
pub fn rootless_runtime_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let uid = crate::idmap::host_uid();
    let dir = PathBuf::from(format!("/tmp/minirun-{uid}"));
    match std::fs::create_dir(&dir) {
        Ok(()) => {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("chmod 0700 {}", dir.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    // Another user could have pre-created the directory in the shared /tmp to
    // watch or tamper with our state: refuse anything we do not own alone.
    let md = std::fs::symlink_metadata(&dir).with_context(|| format!("stat {}", dir.display()))?;
    if !md.is_dir() || md.uid() != nix::unistd::geteuid().as_raw() || md.mode() & 0o077 != 0 {
        bail!(
            "{} is not a private directory owned by uid {}: remove it or set XDG_RUNTIME_DIR",
            dir.display(),
            nix::unistd::geteuid()
        );
    }
    Ok(dir)
}
