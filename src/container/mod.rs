//! Containers from images: a writable layer over the image's shared layers, volumes,
//! bind mounts and tmpfs, run through the same OCI engine as `minirun oci`.
//!
//! A container is a directory `<data>/containers/<id>/` holding its document
//! (`container.json`, see `record`), its OCI bundle (`config.json`), its writable
//! layer (driver-specific: `upper/` + `work/` for overlay, a full `rootfs/` for vfs)
//! and, when detached, its log (`ctr.log`).

pub mod logs;
pub use logs::logs;
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
    pub network: crate::spec::Network,
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
    let img = images.resolve(&opts.image).map_err(|e| ExitError::new(EXIT_RUNTIME, crate::error::report(&e)))?;
    let config = images.config(&img)?;
    let lowers = images.layer_dirs(&img)?;
    let choice = driver::choose(&ctx.paths, ctx.rootless, ctx.storage_driver.as_deref())?;
    let store = ContainerStore::open(&ctx.paths)?;
    let id = crate::fsutil::random_id();
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => names::generate(&store)?,
    };
    let stop_signal =
        config.config().as_ref().and_then(|c| c.stop_signal().clone()).unwrap_or_else(|| "SIGTERM".into());
    let mut rec = ContainerRecord {
        id: id.clone(),
        name,
        image: opts.image.clone(),
        image_id: img.id.to_string(),
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

/// Read a small file (`/etc/passwd`) from the image: the topmost layer that has it
/// wins, a whiteout hides it. Paths are resolved inside each layer, never outside.
fn read_image_file(lowers: &[PathBuf], path: &str) -> Option<String> {
    use crate::storage::inroot::{Kind, Root, cstr, kind_at};
    let rel = path.trim_start_matches('/');
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let cname = cstr(name.as_bytes()).ok()?;
    for layer in lowers.iter().rev() {
        let Ok(root) = Root::open(layer) else { continue };
        let Ok(dfd) = (if dir.is_empty() { root.open_dir(b".") } else { root.open_dir(dir.as_bytes()) }) else {
            continue;
        };
        use std::os::fd::{AsRawFd, FromRawFd};
        match kind_at(dfd.as_raw_fd(), &cname) {
            Ok(Some(Kind::Whiteout)) => return None,
            Ok(Some(Kind::Other)) => {
                // SAFETY: openat on a valid dirfd; the fd is owned by the File.
                let fd = unsafe {
                    libc::openat(dfd.as_raw_fd(), cname.as_ptr(), libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                };
                if fd < 0 {
                    return None;
                }
                let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
                let mut s = String::new();
                use std::io::Read;
                f.by_ref().take(1 << 20).read_to_string(&mut s).ok()?;
                return Some(s);
            }
            Ok(Some(_)) => return None,
            _ => continue,
        }
    }
    None
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
    let before: std::collections::HashSet<String> = vols.list()?.into_iter().map(|v| v.name).collect();
    let covered: Vec<PathBuf> = opts.mounts.iter().map(|m| m.dst().to_path_buf()).collect();
    let image_volumes = crate::spec::uncovered_image_volumes(config.config().as_ref(), &covered);
    let resolved = crate::spec::resolve_mounts(&opts.mounts, &image_volumes, &vols);
    // Whatever resolve_mounts created before failing goes again with the container.
    for v in vols.list()? {
        if !before.contains(&v.name) {
            made_volumes.push(v.name);
        }
    }
    let (mounts, uses) = resolved?;
    for u in &uses {
        rec.volumes.push(u.volume.name.clone());
        rec.mounts.push(MountRecord {
            kind: "volume".into(),
            name: Some(u.volume.name.clone()),
            source: u.volume.mountpoint.display().to_string(),
            destination: u.dst.display().to_string(),
            rw: !mounts
                .iter()
                .any(|m| matches!(m, crate::spec::ResolvedMount::Bind { dst, readonly: true, .. } if *dst == u.dst)),
            anonymous: u.volume.anonymous,
            copy_up: u.copy_up,
        });
    }
    for m in &mounts {
        match m {
            crate::spec::ResolvedMount::Bind { src, dst, readonly, .. } if !uses.iter().any(|u| u.dst == *dst) => {
                rec.mounts.push(MountRecord {
                    kind: "bind".into(),
                    name: None,
                    source: src.display().to_string(),
                    destination: dst.display().to_string(),
                    rw: !readonly,
                    anonymous: false,
                    copy_up: false,
                })
            }
            crate::spec::ResolvedMount::Tmpfs { dst, .. } => rec.mounts.push(MountRecord {
                kind: "tmpfs".into(),
                name: None,
                source: "tmpfs".into(),
                destination: dst.display().to_string(),
                rw: true,
                anonymous: false,
                copy_up: false,
            }),
            _ => {}
        }
    }
    let plan = driver::prepare_container_layer(&ctx.paths, &rec.id, choice.driver, &lowers, ctx.rootless)
        .with_context(|| format!("preparing the writable layer of container {}", rec.id))?;
    crate::fsutil::atomic_write_json(&dir.join("rootfs-plan.json"), &plan)?;
    let req = crate::spec::RunRequest {
        image_config: config.config().clone(),
        cmd: opts.cmd.clone(),
        entrypoint: opts.entrypoint.clone(),
        env: opts.env.clone(),
        workdir: opts.workdir.clone(),
        user: opts.user.clone(),
        hostname: opts.hostname.clone().or_else(|| Some(rec.id[..12].to_string())),
        read_only: opts.read_only,
        network: opts.network,
        tty: opts.tty,
        mounts,
        rootless: ctx.rootless,
    };
    let spec = crate::spec::build_spec(&req, &plan.merged, &|p| read_image_file(&lowers, p))?;
    rec.command = spec.process().as_ref().and_then(|p| p.args().clone()).unwrap_or_default();
    // A new (empty) volume belongs to the container's user, so a non-root user can
    // write it; an image directory copied up at start still brings its own owner.
    if let Some(u) = spec.process().as_ref().map(|p| p.user()).filter(|u| u.uid() != 0 || u.gid() != 0) {
        for use_ in uses.iter().filter(|u| u.copy_up) {
            vols.chown_for(&use_.volume, u.uid(), u.gid())?;
        }
    }
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
pub fn diff(ctx: &Ctx, key: &str) -> Result<Vec<String>> {
    let rec = resolve(ctx, key)?;
    let plan: driver::RootfsPlan = crate::fsutil::read_json(&bundle_dir(ctx, &rec.id).join("rootfs-plan.json"))?;
    let changes = crate::storage::changes::changes(&plan)?;
    Ok(changes.into_iter().map(|c| c.to_string()).collect())
}
