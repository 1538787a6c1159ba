//! Containers from images: a writable layer over the image's shared layers, volumes,
//! bind mounts and tmpfs, run through the same OCI engine as `minirun oci`.
//!
//! A container is a directory `<data>/containers/<id>/` holding its document
//! (`container.json`, see `record`), its OCI bundle (`config.json`), its writable
//! layer (driver-specific: `upper/` + `work/` for overlay, a full `rootfs/` for vfs)
//! and, when detached, its log (`ctr.log`).

pub mod logs;
pub mod names;
pub mod present;
pub mod record;
pub mod start;

mod engine;
mod signal;
mod supervise;

pub use present::{human_since, inspect_json, status_text, summary_json};
pub use signal::{kill, parse_signal, stop, wait};
pub use start::{ExecOptions, exec, run_attached, start_detached};

use crate::cli::Ctx;
use crate::error::{EXIT_RUNTIME, ExitError};
use crate::image::store::ImageStore;
use crate::mountspec::MountRequest;
use crate::storage::driver;
use crate::volume::VolumeStore;
use anyhow::{Context, Result, bail};
use record::{ContainerRecord, ContainerStore, MountRecord, Status};
use std::path::PathBuf;

/// Network of a high-level container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// A private network namespace with only `lo`.
    None,
    /// The host's network namespace.
    Host,
}

/// Everything `run`/`create` needs, parsed from the flags once.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub image: String,
    pub cmd: Vec<String>,
    /// Some(vec![]) clears the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub network: NetworkMode,
    pub mounts: Vec<MountRequest>,
    pub tty: bool,
    pub interactive: bool,
    pub auto_remove: bool,
}

/// The container's bundle directory (holds config.json).
pub fn bundle_dir(ctx: &Ctx, id: &str) -> PathBuf {
    ctx.paths.containers().join(id)
}

/// Find a container by name, id or unique id prefix.
pub fn resolve(ctx: &Ctx, key: &str) -> Result<ContainerRecord> {
    ContainerStore::open(&ctx.paths)?.resolve(key)
}

/// All containers, oldest first.
pub fn list(ctx: &Ctx) -> Result<Vec<ContainerRecord>> {
    ContainerStore::open(&ctx.paths)?.list()
}

/// Create a container: its record (unique name), volumes, writable layer and OCI
/// bundle. On any error everything created so far is removed again.
pub fn create(ctx: &Ctx, opts: &CreateOptions) -> Result<ContainerRecord> {
    let images = ImageStore::open(&ctx.paths)?;
    let img = images
        .resolve(&opts.image)
        .map_err(|e| ExitError::new(EXIT_RUNTIME, format!("{}", crate::error::report(&e))))?;
    let config = images.config(&img)?;
    let lowers = images.layer_dirs(&img)?;
    let choice = driver::choose(&ctx.paths, ctx.rootless, ctx.storage_driver.as_deref())?;
    let store = ContainerStore::open(&ctx.paths)?;
    let id = crate::fsutil::random_id();
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => names::generate(&store)?,
    };
    let stop_signal = config
        .config()
        .as_ref()
        .and_then(|c| c.stop_signal().clone())
        .unwrap_or_else(|| "SIGTERM".into());
    let mut rec = ContainerRecord {
        id: id.clone(),
        name,
        image: opts.image.clone(),
        image_id: img.id.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        command: Vec::new(),
        storage_driver: choice.driver.to_string(),
        volumes: Vec::new(),
        mounts: Vec::new(),
        auto_remove: opts.auto_remove,
        tty: opts.tty,
        interactive: opts.interactive,
        status: Status::Created,
        init: None,
        monitor: None,
        exit_code: None,
        started_at: None,
        finished_at: None,
        stop_signal,
        error: None,
    };
    store.create(&rec)?;
    let mut made_volumes: Vec<String> = Vec::new();
    let res = populate(ctx, opts, &mut rec, &config, lowers, &choice, &mut made_volumes);
    match res {
        Ok(()) => {
            store.save(&rec)?;
            Ok(rec)
        }
        Err(e) => {
            // Leave the store and the volumes exactly as they were.
            let vols = VolumeStore::open(&ctx.paths)?;
            for v in &made_volumes {
                let _ = vols.remove(v, true);
            }
            let _ = store.remove_dir(&id);
            Err(e)
        }
    }
}

/// The fallible part of `create`: volumes, the writable layer and the bundle.
fn populate(
    ctx: &Ctx,
    opts: &CreateOptions,
    rec: &mut ContainerRecord,
    config: &oci_spec::image::ImageConfiguration,
    lowers: Vec<PathBuf>,
    choice: &driver::DriverChoice,
    made_volumes: &mut Vec<String>,
) -> Result<()> {
    let dir = bundle_dir(ctx, &rec.id);
    let vols = VolumeStore::open(&ctx.paths)?;
    let mut requests = opts.mounts.clone();
    // Declared VOLUMEs of the image get anonymous volumes unless a mount covers them.
    if let Some(cfg) = config.config() {
        for v in cfg.volumes().iter().flatten() {
            let covered = requests.iter().any(|m| m.destination() == std::path::Path::new(v));
            let special = ["/proc", "/sys", "/dev"].iter().any(|p| v == p || v.starts_with(&format!("{p}/")));
            if !covered && !special {
                requests.push(MountRequest::Volume { name: None, dst: v.into(), readonly: false, nocopy: false });
            }
        }
    }
    let mut resolved = Vec::new();
    for m in &requests {
        match m {
            MountRequest::Volume { name, dst, readonly, nocopy } => {
                let existed = name.as_deref().map(|n| vols.get(n).is_ok()).unwrap_or(false);
                let vol = vols.create(name.as_deref(), name.is_none())?;
                if !existed {
                    made_volumes.push(vol.name.clone());
                }
                rec.volumes.push(vol.name.clone());
                rec.mounts.push(MountRecord {
                    kind: "volume".into(),
                    name: Some(vol.name.clone()),
                    source: vol.mountpoint.display().to_string(),
                    destination: dst.display().to_string(),
                    rw: !readonly,
                    anonymous: name.is_none(),
                });
                resolved.push(crate::spec::ResolvedMount::Volume {
                    source: vol.mountpoint.clone(),
                    dst: dst.clone(),
                    readonly: *readonly,
                    copy_up: !nocopy,
                });
            }
            MountRequest::Bind { src, dst, readonly, propagation } => {
                rec.mounts.push(MountRecord {
                    kind: "bind".into(),
                    name: None,
                    source: src.display().to_string(),
                    destination: dst.display().to_string(),
                    rw: !readonly,
                    anonymous: false,
                });
                resolved.push(crate::spec::ResolvedMount::Bind {
                    src: src.clone(),
                    dst: dst.clone(),
                    readonly: *readonly,
                    propagation: propagation.clone(),
                });
            }
            MountRequest::Tmpfs { dst, size, mode } => {
                rec.mounts.push(MountRecord {
                    kind: "tmpfs".into(),
                    name: None,
                    source: String::new(),
                    destination: dst.display().to_string(),
                    rw: true,
                    anonymous: false,
                });
                resolved.push(crate::spec::ResolvedMount::Tmpfs { dst: dst.clone(), size: *size, mode: *mode });
            }
        }
    }
    let plan = driver::prepare_container_layer(&ctx.paths, &choice.driver, &rec.id, &dir, lowers)
        .with_context(|| format!("preparing the writable layer of container {}", rec.id))?;
    crate::fsutil::atomic_write_json(&dir.join("rootfs-plan.json"), &plan)?;
    let req = crate::spec::RunRequest {
        image_config: config.clone(),
        cmd: opts.cmd.clone(),
        entrypoint: opts.entrypoint.clone(),
        env: opts.env.clone(),
        workdir: opts.workdir.clone(),
        user: opts.user.clone(),
        hostname: opts.hostname.clone().or_else(|| Some(rec.id[..12].to_string())),
        read_only: opts.read_only,
        network: match opts.network {
            NetworkMode::Host => crate::spec::Network::Host,
            NetworkMode::None => crate::spec::Network::None,
        },
        tty: opts.tty,
        mounts: resolved,
        rootless: ctx.rootless,
    };
    let spec = crate::spec::build_spec(&req, &plan.merged, &plan.lowers)?;
    rec.command = spec.process().as_ref().and_then(|p| p.args().clone()).unwrap_or_default();
    spec.save(dir.join("config.json")).context("writing the container's config.json")?;
    Ok(())
}

/// Remove a container: refuses a running one unless `force` (which kills it first);
/// its writable layer goes with it; `volumes` also removes its anonymous volumes.
pub fn remove(ctx: &Ctx, key: &str, force: bool, volumes: bool) -> Result<()> {
    let store = ContainerStore::open(&ctx.paths)?;
    let rec = store.resolve(key)?;
    if rec.live_status() == Status::Running {
        if !force {
            bail!(
                "cannot remove container {} ({}): it is running; stop it first or use rm -f",
                rec.name,
                rec.short_id()
            );
        }
        signal::kill_and_reap(ctx, &rec)?;
    }
    start::cleanup_engine_state(ctx, &rec.id);
    store.remove_dir(&rec.id)?;
    if volumes {
        let vols = VolumeStore::open(&ctx.paths)?;
        for m in rec.mounts.iter().filter(|m| m.anonymous) {
            if let Some(n) = &m.name {
                vols.remove(n, false).with_context(|| format!("removing anonymous volume {n}"))?;
            }
        }
    }
    Ok(())
}

/// What a container changed in its writable layer, as `docker diff` prints it.
pub fn diff(ctx: &Ctx, key: &str) -> Result<Vec<(char, String)>> {
    let rec = resolve(ctx, key)?;
    let plan: driver::RootfsPlan = crate::fsutil::read_json(&bundle_dir(ctx, &rec.id).join("rootfs-plan.json"))?;
    let changes = driver::changes(&plan)?;
    Ok(changes.into_iter().map(|c| (c.kind.letter(), c.path)).collect())
}
