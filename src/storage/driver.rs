//! Storage drivers: how a container's root filesystem is made from the image's
//! read-only layers plus its own writable layer.
//!
//! The choice is probed once (a real test mount, like containers/storage) and cached
//! in `<data>/storage-driver.json`, keyed by kernel release and rootless. The host side
//! builds a serializable [`RootfsPlan`]; [`mount_rootfs`] performs it later inside the
//! container's new mount namespace.

use super::{fuse, overlay, vfs};
use crate::paths::Paths;
use crate::runtime::error::{StageError, StageResult};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A storage driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// Kernel overlayfs (rootless with `userxattr`).
    Overlay,
    /// The fuse-overlayfs daemon.
    FuseOverlayfs,
    /// A full copy of the flattened layers per container.
    Vfs,
}

/// The names accepted by `--storage-driver`.
pub const DRIVER_NAMES: &str = "overlay, fuse-overlayfs, vfs";

impl Driver {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            Driver::Vfs => "vfs",
        }
    }

    /// Parse a driver name; an unknown one is an error listing the valid ones.
    pub fn from_name(s: &str) -> Result<Driver> {
        Ok(match s {
            "overlay" | "overlay2" | "overlayfs" => Driver::Overlay,
            "fuse-overlayfs" => Driver::FuseOverlayfs,
            "vfs" => Driver::Vfs,
            _ => bail!("unknown storage driver {s:?}: valid drivers are {DRIVER_NAMES}"),
        })
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The driver in use and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverChoice {
    pub driver: Driver,
    pub reason: String,
}

/// Outcome of probing one driver: Ok(what works) or Err(why not).
type ProbeOutcome = std::result::Result<String, String>;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    kernel: String,
    rootless: bool,
    /// Probe outcomes per driver name.
    probes: BTreeMap<String, ProbeOutcome>,
    /// The automatic choice once made.
    auto: Option<DriverChoice>,
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

fn cache_path(paths: &Paths) -> PathBuf {
    paths.data.join("storage-driver.json")
}

fn load_cache(paths: &Paths, kernel: &str, rootless: bool) -> Cache {
    match crate::fsutil::read_json::<Cache>(&cache_path(paths)) {
        Ok(c) if c.kernel == kernel && c.rootless == rootless => c,
        _ => Cache { kernel: kernel.to_string(), rootless, ..Cache::default() },
    }
}

fn probe_cached(paths: &Paths, cache: &mut Cache, d: Driver, rootless: bool) -> ProbeOutcome {
    if let Some(o) = cache.probes.get(d.name()) {
        return o.clone();
    }
    let o = match d {
        Driver::Overlay => overlay::probe(paths, rootless).map_err(|e| format!("{e:#}")),
        Driver::FuseOverlayfs => fuse::probe(paths, rootless).map_err(|e| format!("{e:#}")),
        Driver::Vfs => Ok("vfs always works: copies every layer per container".into()),
    };
    cache.probes.insert(d.name().to_string(), o.clone());
    o
}

/// Choose the storage driver: the override (`--storage-driver`/`MINIRUN_STORAGE_DRIVER`)
/// if given and working, else the first of overlay, fuse-overlayfs, vfs that works.
/// Probes run once per kernel release and rootless mode; results are cached.
pub fn choose(paths: &Paths, rootless: bool, override_: Option<&str>) -> Result<DriverChoice> {
    let forced = override_.filter(|s| !s.is_empty()).map(Driver::from_name).transpose()?;
    std::fs::create_dir_all(&paths.data).with_context(|| format!("creating {}", paths.data.display()))?;
    let _lock = crate::fsutil::lock_exclusive(&paths.data.join(".storage-driver.lock"))?;
    let kernel = kernel_release();
    let mut cache = load_cache(paths, &kernel, rootless);
    let before = serde_json::to_string(&cache)?;
    let res = match forced {
        Some(d) => match probe_cached(paths, &mut cache, d, rootless) {
            Ok(why) => Ok(DriverChoice {
                driver: d,
                reason: format!("forced by --storage-driver/MINIRUN_STORAGE_DRIVER: {why}"),
            }),
            Err(why) => Err(anyhow::anyhow!(
                "storage driver {d} was requested but does not work here: {why}; choose another with --storage-driver ({DRIVER_NAMES})"
            )),
        },
        None => Ok(match cache.auto.clone() {
            Some(c) => c,
            None => {
                let c = auto_choose(paths, &mut cache, rootless, &kernel);
                if c.driver != Driver::Overlay {
                    tracing::warn!("storage driver {}: {}", c.driver, c.reason);
                }
                cache.auto = Some(c.clone());
                c
            }
        }),
    };
    if serde_json::to_string(&cache)? != before {
        crate::fsutil::atomic_write_json(&cache_path(paths), &cache)?;
    }
    res
}

fn auto_choose(paths: &Paths, cache: &mut Cache, rootless: bool, kernel: &str) -> DriverChoice {
    let mut tried = Vec::new();
    match probe_cached(paths, cache, Driver::Overlay, rootless) {
        Ok(why) => {
            return DriverChoice { driver: Driver::Overlay, reason: format!("{why} (kernel {kernel})") };
        }
        Err(e) => tried.push(format!("kernel overlay failed: {e}")),
    }
    match probe_cached(paths, cache, Driver::FuseOverlayfs, rootless) {
        Ok(why) => {
            tried.push(why);
            return DriverChoice { driver: Driver::FuseOverlayfs, reason: tried.join("; ") };
        }
        Err(e) => tried.push(format!("fuse-overlayfs failed: {e}")),
    }
    tried.push("falling back to vfs: copies every layer per container".into());
    DriverChoice { driver: Driver::Vfs, reason: tried.join("; ") }
}

/// Everything needed to mount one container's root filesystem, built on the host
/// side and performed in the container's mount namespace by [`mount_rootfs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsPlan {
    pub driver: Driver,
    /// The image's layer directories, bottom → top (vfs: what the copy was made from).
    pub lowers: Vec<PathBuf>,
    /// The writable layer (vfs: the full copy of the image).
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the root filesystem appears.
    pub merged: PathBuf,
    /// Rootless: overlay reads and writes `user.overlay.*` xattrs (`userxattr`).
    pub rootless: bool,
}

impl RootfsPlan {
    /// The container's directory (`<data>/containers/<id>`).
    pub fn container_dir(&self) -> &Path {
        self.merged.parent().unwrap_or(Path::new("/"))
    }
}

/// Create `<data>/containers/<id>/{upper,work,merged}` (vfs: `rootfs`, a full copy of
/// the flattened layers with whiteouts applied, made once here) and return the plan.
pub fn prepare_container_layer(
    paths: &Paths,
    id: &str,
    driver: Driver,
    lowers: &[PathBuf],
    rootless: bool,
) -> Result<RootfsPlan> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        bail!("invalid container id {id:?}");
    }
    let dir = paths.containers().join(id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let res = (|| -> Result<RootfsPlan> {
        let merged = dir.join("merged");
        mkdir(&merged)?;
        if driver == Driver::Vfs {
            let rootfs = dir.join("rootfs");
            let staging = dir.join("rootfs.incomplete");
            crate::fsutil::remove_dir_all_if_exists(&staging)?;
            mkdir(&staging)?;
            vfs::flatten_into(lowers, &staging)
                .with_context(|| format!("copying the image layers into {}", staging.display()))?;
            std::fs::rename(&staging, &rootfs).with_context(|| format!("renaming into {}", rootfs.display()))?;
            return Ok(RootfsPlan {
                driver,
                lowers: lowers.to_vec(),
                upper: rootfs,
                work: dir.join("work"),
                merged,
                rootless,
            });
        }
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        mkdir(&upper)?;
        mkdir(&work)?;
        Ok(RootfsPlan { driver, lowers: lowers.to_vec(), upper, work, merged, rootless })
    })();
    if res.is_err() {
        let _ = remove_container_layer_dir(&dir);
    }
    res
}

fn mkdir(p: &Path) -> Result<()> {
    match std::fs::create_dir(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", p.display())),
    }
}

fn remove_container_layer_dir(dir: &Path) -> Result<()> {
    crate::fsutil::remove_dir_all_if_exists(dir)
}

/// Delete a container's writable layer and everything in it (after unmounting).
pub fn remove_container_layer(plan: &RootfsPlan) -> Result<()> {
    unmount_rootfs(plan)?;
    for p in [&plan.upper, &plan.work, &plan.merged] {
        crate::fsutil::remove_dir_all_if_exists(p)?;
    }
    Ok(())
}

/// Mount the root filesystem at `plan.merged`, in the current mount namespace
/// (called in the container's new mount namespace, before pivot_root).
pub fn mount_rootfs(plan: &RootfsPlan) -> StageResult<()> {
    match plan.driver {
        Driver::Overlay => overlay::mount(plan),
        Driver::FuseOverlayfs => fuse::mount(plan),
        Driver::Vfs => {
            use nix::mount::{MsFlags, mount};
            mount(Some(&plan.upper), &plan.merged, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| {
                    StageError::errno("rootfs", "bind-mount the vfs copy on", plan.merged.display().to_string(), e)
                })
        }
    }
}

/// Undo [`mount_rootfs`] where something outlives the mount namespace: the
/// fuse-overlayfs daemon (it sits in the container's mount namespace and would keep it
/// alive) is stopped; kernel mounts are detached if visible here. Idempotent.
pub fn unmount_rootfs(plan: &RootfsPlan) -> Result<()> {
    if plan.driver == Driver::FuseOverlayfs {
        fuse::stop_daemon(plan)?;
    }
    match nix::mount::umount2(&plan.merged, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("unmounting {}", plan.merged.display())),
    }
}
