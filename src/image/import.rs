//! The import pipeline: input -> verified plans -> layers unpacked in parallel into
//! staging -> one commit under the store lock.
//!
//! Per layer: blob file -> size+sha256 check -> gunzip/unzstd -> diff_id check and
//! size limit -> unpack_layer into `tmp/import-*/<chain>/diff`. Only when every
//! layer of the input is complete and verified does anything move into the store,
//! so a bad input leaves the store exactly as it was.

use super::archive::Source;
use super::digest::{Digest, Refusal, VerifyingReader};
use super::plan::{Compression, ImagePlan, LayerPlan};
use super::reference::Reference;
use super::store::{ImageRecord, ImageStore};
use super::{docker, layout};
use crate::fsutil::remove_dir_all_if_exists;
use crate::storage::layers::{LayerRecord, LayerStore};
use crate::storage::unpack::{UnpackOptions, unpack_layer};
use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Name every loaded image with this `name:tag` instead of the input's names.
    pub tag: Option<Reference>,
    /// How layers are written (whiteout xattr, devices, chown, size limit).
    pub unpack: UnpackOptions,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// One image the import produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: Digest,
    pub names: Vec<String>,
    /// Layers unpacked by this import (the rest were already in the store).
    pub new_layers: usize,
}

/// Load every image of the OCI layout, OCI archive or docker-archive at `path`.
pub fn load(store: &ImageStore, path: &Path, opts: &ImportOptions) -> Result<Vec<Loaded>> {
    let src = Source::open(path)?;
    let mut plans = if layout::is_layout(&src) {
        layout::read_plans(&src, &default_name(path))?
    } else if docker::is_docker(&src) {
        docker::read_plans(&src)?
    } else {
        bail!(
            "{} is not an OCI layout, OCI archive or docker-archive (no index.json or manifest.json)",
            path.display()
        );
    };
    if let Some(t) = &opts.tag {
        for p in plans.iter_mut() {
            p.names = vec![t.to_string()];
        }
    }
    let staging = Staging::create(store)?;
    let res = import_plans(store, &src, &plans, &staging, opts);
    staging.remove();
    res
}

/// Name for images whose ref annotation is a bare tag: the input's file name up to
/// its first dot (`base.oci.tar` -> `base`), if that is a valid name.
fn default_name(path: &Path) -> String {
    let f = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = f.split('.').next().unwrap_or("").to_lowercase();
    if Reference::parse(&stem).is_ok() { stem } else { "image".into() }
}

/// A private staging directory in `tmp/`, flocked while we live.
struct Staging {
    dir: PathBuf,
    _lock: std::fs::File,
}

impl Staging {
    fn create(store: &ImageStore) -> Result<Staging> {
        // Created under the store lock so a concurrent cleanup never sees it unlocked.
        let _g = store.lock()?;
        store.clean_tmp()?;
        let dir = store.paths().tmp().join(format!("import-{}", &crate::fsutil::random_id()[..16]));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = std::fs::File::create(dir.join(".lock"))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            let _ = remove_dir_all_if_exists(&dir);
            return Err(e).with_context(|| format!("locking {}", dir.display()));
        }
        Ok(Staging { dir, _lock: lock })
    }

    fn remove(self) {
        if let Err(e) = remove_dir_all_if_exists(&self.dir) {
            tracing::warn!("leaving staging {} for the next cleanup: {e:#}", self.dir.display());
        }
    }
}

/// A layer to unpack: which plan, which layer, its chain and parent.
struct Job<'a> {
    plan: &'a ImagePlan,
    layer: &'a LayerPlan,
    chain: Digest,
    parent: Option<Digest>,
}

fn chains(plan: &ImagePlan) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for l in &plan.layers {
        let c = Digest::chain(out.last(), &l.diff_id);
        out.push(c);
    }
    out
}

fn import_plans(
    store: &ImageStore,
    src: &Source,
    plans: &[ImagePlan],
    staging: &Staging,
    opts: &ImportOptions,
) -> Result<Vec<Loaded>> {
    let mut jobs: Vec<Job> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for plan in plans {
        let cs = chains(plan);
        for (i, layer) in plan.layers.iter().enumerate() {
            let chain = cs[i].clone();
            if store.layers.get(&chain)?.is_none() && seen.insert(chain.clone()) {
                jobs.push(Job { plan, layer, chain, parent: i.checked_sub(1).map(|p| cs[p].clone()) });
            }
        }
    }
    let done = unpack_all(src, &jobs, &staging.dir, opts)?;
    let _lock = store.lock()?;
    let mut new_layers: HashMap<Digest, bool> = HashMap::new();
    for (job, rec) in jobs.iter().zip(&done) {
        let dir = staging.dir.join(job.chain.hex());
        let committed = store.layers.commit(&dir, rec)?;
        new_layers.insert(job.chain.clone(), committed);
    }
    let mut loaded = Vec::new();
    for plan in plans {
        let cs = chains(plan);
        let mut size = 0;
        for c in &cs {
            let l = store.layers.get(c)?.with_context(|| {
                format!("image {}: layer {c} was removed by a concurrent prune or rmi: load again", plan.label())
            })?;
            size += l.size;
        }
        let mut rec = match store.get(&plan.config_digest)? {
            Some(r) => r,
            None => ImageRecord {
                id: plan.config_digest.clone(),
                names: Vec::new(),
                layers: cs.clone(),
                diff_ids: plan.layers.iter().map(|l| l.diff_id.clone()).collect(),
                manifest_digest: plan.manifest_digest.clone(),
                created: plan.created.clone().unwrap_or_else(now),
                size,
            },
        };
        rec.size = size;
        store.write_image(&rec, &plan.config, &plan.manifest)?;
        for n in &plan.names {
            store.add_name(&rec.id, n)?;
        }
        let new = cs.iter().filter(|c| new_layers.get(*c).copied().unwrap_or(false)).count();
        loaded.push(Loaded { id: rec.id.clone(), names: plan.names.clone(), new_layers: new });
    }
    Ok(loaded)
}

/// RFC 3339 now.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Unpack every job into `staging/<chain-hex>/diff`, up to one thread per core.
/// All threads are joined before this returns (the runtime forks later).
fn unpack_all(src: &Source, jobs: &[Job], staging: &Path, opts: &ImportOptions) -> Result<Vec<LayerRecord>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = cores.min(jobs.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<LayerRecord>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let multi = if opts.progress {
        MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= jobs.len() || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = unpack_job(src, &jobs[i], staging, opts, &multi);
                    if r.is_err() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    let _ = multi.clear();
    // Report the error that stopped the import, not a job skipped because of it.
    let results = results.into_inner().unwrap();
    if results.iter().any(|r| matches!(r, Some(Err(_)))) {
        let first = results.into_iter().flatten().find(|r| r.is_err());
        return Err(first.expect("an error").unwrap_err());
    }
    results.into_iter().map(|r| r.context("layer job did not run")?).collect()
}

fn bar_for(multi: &MultiProgress, job: &Job, size: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(size));
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(job.chain.hex()[..12].to_string());
    bar
}

fn unpack_job(
    src: &Source,
    job: &Job,
    staging: &Path,
    opts: &ImportOptions,
    multi: &MultiProgress,
) -> Result<LayerRecord> {
    let l = job.layer;
    let what = match &l.digest {
        Some(d) => format!("image {}: layer {d}", job.plan.label()),
        None => format!("image {}: layer {} ({})", job.plan.label(), l.diff_id, l.blob),
    };
    let res = (|| -> Result<LayerRecord> {
        let dir = staging.join(job.chain.hex());
        let diff = dir.join("diff");
        std::fs::create_dir_all(&diff).with_context(|| format!("creating {}", diff.display()))?;
        let (file, file_size) = src.open_file(&l.blob)?;
        let bar = bar_for(multi, job, l.size.unwrap_or(file_size));
        let r = unpack_stream(bar.wrap_read(file), l.size.unwrap_or(file_size), l, &diff, &opts.unpack);
        bar.finish_and_clear();
        multi.remove(&bar);
        let (stats, compressed) = r?;
        for w in &stats.warnings {
            tracing::warn!("layer {}: {w}", l.diff_id);
        }
        Ok(LayerRecord {
            chain_id: job.chain.clone(),
            diff_id: l.diff_id.clone(),
            parent: job.parent.clone(),
            compressed_digest: Some(compressed),
            media_type: l.media_type.clone(),
            size: stats.bytes,
            entries: stats.entries,
            link: LayerStore::new_link(),
            created: now(),
        })
    })();
    res.with_context(|| what)
}

/// Decompress, verify and unpack one blob; returns the unpack stats and the
/// blob's digest. The error says which check failed.
fn unpack_stream<R: Read>(
    file: R,
    size: u64,
    l: &LayerPlan,
    diff: &Path,
    opts: &UnpackOptions,
) -> Result<(crate::storage::unpack::UnpackStats, Digest)> {
    let mut blob = VerifyingReader::new(BufReader::with_capacity(256 << 10, file)).size(size).digest(l.digest.clone());
    let (res, inner_refusal) = {
        let mut buffered = BufReader::with_capacity(256 << 10, &mut blob);
        let compression = match l.compression {
            Compression::Sniff => Compression::sniff(buffered.fill_buf().unwrap_or(&[])),
            c => c,
        };
        let dec: Box<dyn Read> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered).context("zstd")?),
            Compression::None | Compression::Sniff => Box::new(buffered),
        };
        let mut content = VerifyingReader::new(dec).max(opts.max_bytes).digest(Some(l.diff_id.clone()));
        let res = unpack_layer(&mut content, diff, opts).and_then(|stats| {
            content.drain().context("reading the rest of the layer")?;
            Ok(stats)
        });
        (res, content.refusal.take())
    };
    let outer = if res.is_ok() || inner_refusal.is_none() { blob.drain().err() } else { None };
    // The most precise reason first: the blob itself, then its content, then unpack.
    if let Some(r) = blob.refusal.take() {
        bail!("{}: {}", l.blob, describe(&r, "compressed blob"));
    }
    match inner_refusal {
        Some(Refusal::TooLarge { limit }) => bail!(
            "uncompressed layer is larger than the limit of {limit} bytes (a decompression bomb?): raise --max-layer-size if it is genuine"
        ),
        Some(r) => bail!("uncompressed content does not match the config's diff_id: {}", describe(&r, "content")),
        None => {}
    }
    let stats = res.context("unpacking")?;
    if let Some(e) = outer {
        return Err(e).context("reading the blob");
    }
    let d = blob.digest.take().context("blob not read to its end")?;
    Ok((stats, d))
}

fn describe(r: &Refusal, what: &str) -> String {
    match r {
        Refusal::Mismatch { .. } => format!("{what} {r}"),
        _ => format!("{what} is {r}"),
    }
}

/// Unpack options for this process: whiteout xattr, devices and chown handling
/// follow from running rootless and from the id mapping we run under.
pub fn unpack_options(rootless: bool, max_bytes: u64) -> UnpackOptions {
    let single = crate::idmap::current_mapping().is_some_and(|m| m.is_single());
    UnpackOptions {
        opaque_xattr: if rootless { "user.overlay.opaque" } else { "trusted.overlay.opaque" }.into(),
        max_bytes,
        ignore_chown_errors: rootless && single,
        create_devices: !rootless,
    }
}
