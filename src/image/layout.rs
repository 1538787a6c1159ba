//! OCI image layout (a directory, or a tar of one): index.json -> manifests -> blobs.

use super::archive::{MAX_JSON, Source};
use super::digest::{Digest, read_verified};
use super::plan::{Compression, ImagePlan, LayerPlan, parse_config};
use super::reference::Reference;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::HashMap;

const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Debug, Clone)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize, Debug)]
struct Index {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize, Debug)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// The blob file of `digest` in a layout.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// True when `src` looks like an OCI layout.
pub fn is_layout(src: &Source) -> bool {
    src.exists("index.json")
}

/// Read every image the layout's index names. `default_name` names images whose
/// ref annotation is only a tag (the input's file name, like `base` for `base/`).
pub fn read_plans(src: &Source, default_name: &str) -> Result<Vec<ImagePlan>> {
    let what = src.describe();
    if src.exists("oci-layout") {
        let (f, _) = src.open_file("oci-layout")?;
        let (b, _) = read_verified(f, None, MAX_JSON, None).with_context(|| format!("{what}: reading oci-layout"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&b).with_context(|| format!("{what}: malformed oci-layout"))?;
        if v.get("imageLayoutVersion").and_then(|v| v.as_str()).is_none() {
            bail!("{what}: oci-layout has no imageLayoutVersion");
        }
    }
    let (f, _) = src.open_file("index.json")?;
    let (b, _) = read_verified(f, None, MAX_JSON, None).with_context(|| format!("{what}: reading index.json"))?;
    let index: Index = serde_json::from_slice(&b).with_context(|| format!("{what}: malformed index.json"))?;
    let _ = index.media_type;
    let mut plans = Vec::new();
    for d in &index.manifests {
        let d = if d.media_type == MT_INDEX || d.media_type == MT_DOCKER_LIST {
            let mut inner = pick_platform(src, d).with_context(|| format!("{what}: index {}", d.digest))?;
            inner.annotations.extend(d.annotations.clone());
            inner
        } else {
            d.clone()
        };
        let names = names_of(&d.annotations, default_name)?;
        let label = names.first().cloned().unwrap_or_else(|| d.digest.clone());
        let plan = read_manifest(src, &d, names).with_context(|| format!("image {label} in {what}"))?;
        plans.push(plan);
    }
    if plans.is_empty() {
        bail!("{what}: index.json lists no image");
    }
    Ok(plans)
}

fn names_of(ann: &HashMap<String, String>, default_name: &str) -> Result<Vec<String>> {
    if let Some(n) = ann.get("io.containerd.image.name") {
        return Ok(vec![Reference::parse(n)?.to_string()]);
    }
    let Some(r) = ann.get("org.opencontainers.image.ref.name") else {
        return Ok(Vec::new());
    };
    let full = if Reference::is_bare_word(r) { format!("{default_name}:{r}") } else { r.clone() };
    Ok(vec![
        Reference::parse(&full).with_context(|| format!("bad org.opencontainers.image.ref.name {r:?}"))?.to_string(),
    ])
}

fn read_json_blob(src: &Source, d: &Descriptor) -> Result<(Vec<u8>, Digest)> {
    let digest = Digest::parse(&d.digest)?;
    let (f, _) = src.open_file(&blob_path(&digest)).with_context(|| format!("blob {digest}"))?;
    let (b, _) = read_verified(f, Some(d.size), MAX_JSON, Some(&digest)).with_context(|| format!("blob {digest}"))?;
    Ok((b, digest))
}

fn pick_platform(src: &Source, d: &Descriptor) -> Result<Descriptor> {
    let (b, digest) = read_json_blob(src, d)?;
    let idx: Index = serde_json::from_slice(&b).with_context(|| format!("malformed index {digest}"))?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    idx.manifests
        .iter()
        .find(|m| m.platform.as_ref().is_none_or(|p| p.os == "linux" && p.architecture == arch))
        .cloned()
        .with_context(|| format!("no linux/{arch} manifest in index {digest}"))
}

fn read_manifest(src: &Source, d: &Descriptor, names: Vec<String>) -> Result<ImagePlan> {
    let (manifest_bytes, manifest_digest) = read_json_blob(src, d).context("manifest")?;
    let m: Manifest =
        serde_json::from_slice(&manifest_bytes).with_context(|| format!("malformed manifest {manifest_digest}"))?;
    let (config, config_digest) =
        read_json_blob(src, &m.config).with_context(|| format!("config of manifest {manifest_digest}"))?;
    let (cfg, diff_ids) = parse_config(&config, &config_digest)?;
    if diff_ids.len() != m.layers.len() {
        bail!(
            "manifest {manifest_digest} lists {} layers but config {config_digest} has {} diff_ids",
            m.layers.len(),
            diff_ids.len()
        );
    }
    let layers = m
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(l, diff_id)| {
            let digest = Digest::parse(&l.digest).with_context(|| format!("manifest {manifest_digest}: layer"))?;
            let compression = Compression::from_media_type(&l.media_type)
                .with_context(|| format!("layer {digest}: unsupported media type {:?}", l.media_type))?;
            Ok(LayerPlan {
                blob: blob_path(&digest),
                digest: Some(digest),
                size: Some(l.size),
                media_type: l.media_type.clone(),
                compression,
                diff_id,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ImagePlan {
        names,
        manifest: manifest_bytes,
        manifest_digest,
        config,
        config_digest,
        created: cfg.created().clone(),
        layers,
    })
}
