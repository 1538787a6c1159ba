//! docker-archive (`docker save`): manifest.json lists config and layer files by path.
//!
//! The archive carries no compressed digests: each layer is verified by its
//! uncompressed digest against the config's diff_ids, and the config by its name
//! (`<hex>.json` or `blobs/sha256/<hex>`) when it has that form.

use super::archive::{MAX_JSON, Source, clean_name};
use super::digest::{Digest, read_verified};
use super::plan::{Compression, ImagePlan, LayerPlan, parse_config};
use super::reference::Reference;
use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Deserialize, Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// True when `src` has a docker-archive manifest.json.
pub fn is_docker(src: &Source) -> bool {
    src.exists("manifest.json")
}

/// Read every image of a docker-archive.
pub fn read_plans(src: &Source) -> Result<Vec<ImagePlan>> {
    let what = src.describe();
    let (f, _) = src.open_file("manifest.json")?;
    let (b, _) = read_verified(f, None, MAX_JSON, None).with_context(|| format!("{what}: reading manifest.json"))?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&b).with_context(|| format!("{what}: malformed docker manifest.json"))?;
    if entries.is_empty() {
        bail!("{what}: manifest.json lists no image");
    }
    entries
        .iter()
        .map(|e| {
            let label = e.repo_tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_else(|| e.config.clone());
            read_entry(src, e).with_context(|| format!("image {label} in {what}"))
        })
        .collect()
}

fn digest_in_name(name: &str) -> Option<Digest> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn read_entry(src: &Source, e: &Entry) -> Result<ImagePlan> {
    let config_name = clean_name(&e.config).context("config path in manifest.json")?;
    let expected = digest_in_name(&config_name);
    let (f, size) = src.open_file(&config_name).with_context(|| format!("config {config_name}"))?;
    let (config, config_digest) =
        read_verified(f, Some(size), MAX_JSON, expected.as_ref()).with_context(|| format!("config {config_name}"))?;
    let (cfg, diff_ids) = parse_config(&config, &config_digest)?;
    if diff_ids.len() != e.layers.len() {
        bail!(
            "manifest.json lists {} layers but config {config_digest} has {} diff_ids",
            e.layers.len(),
            diff_ids.len()
        );
    }
    let mut names = Vec::new();
    for t in e.repo_tags.iter().flatten() {
        names.push(Reference::parse(t).with_context(|| format!("RepoTags entry {t:?}"))?.to_string());
    }
    let layers = e
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(l, diff_id)| {
            let blob = clean_name(l).with_context(|| format!("layer {diff_id}: path in manifest.json"))?;
            if !src.exists(&blob) {
                bail!("layer {diff_id}: {blob} is missing from the archive");
            }
            Ok(LayerPlan {
                blob,
                digest: None,
                size: None,
                media_type: "application/vnd.docker.image.rootfs.diff.tar".into(),
                compression: Compression::Sniff,
                diff_id,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest = serde_json::to_vec(e)?;
    Ok(ImagePlan {
        names,
        manifest_digest: Digest::of(&manifest),
        manifest,
        config,
        config_digest,
        created: cfg.created().clone(),
        layers,
    })
}
