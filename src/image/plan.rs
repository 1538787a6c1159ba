//! What one image in an input consists of, verified up to (not including) its layers.
//!
//! Readers of each input format (OCI layout, docker-archive) produce an
//! [`ImagePlan`]: the verified manifest and config bytes plus where each layer blob
//! lives and what it must hash to. The import pipeline only ever sees plans.

use super::digest::Digest;
use anyhow::{Context, Result, bail};
use oci_spec::image::ImageConfiguration;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    /// Unknown (docker-archive): decide from the first bytes.
    Sniff,
}

impl Compression {
    /// Compression of a layer media type (OCI and docker); None for non-layer types.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        Some(match mt {
            "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
                Compression::None
            }
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
            _ => return None,
        })
    }

    /// From the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// One layer blob to import.
#[derive(Debug, Clone)]
pub struct LayerPlan {
    /// File name inside the input (e.g. `blobs/sha256/<hex>`, `<id>/layer.tar`).
    pub blob: String,
    /// Compressed digest promised by the manifest (none in docker-archive).
    pub digest: Option<Digest>,
    /// Compressed size promised by the manifest.
    pub size: Option<u64>,
    pub media_type: String,
    pub compression: Compression,
    /// Uncompressed digest from the config's rootfs.diff_ids.
    pub diff_id: Digest,
}

/// One image of an input, metadata verified.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// `name:tag` names the input gives it.
    pub names: Vec<String>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// `created` of the config, if any.
    pub created: Option<String>,
    pub layers: Vec<LayerPlan>,
}

impl ImagePlan {
    /// How the image is named in errors: its first name, else its id.
    pub fn label(&self) -> String {
        self.names.first().cloned().unwrap_or_else(|| self.config_digest.to_string())
    }
}

/// Parse a config and return it with its diff IDs, checking they are sha256 digests.
pub fn parse_config(bytes: &[u8], digest: &Digest) -> Result<(ImageConfiguration, Vec<Digest>)> {
    // serde_json directly: its errors say which field is missing or where it broke.
    let cfg: ImageConfiguration =
        serde_json::from_slice(bytes).with_context(|| format!("malformed image config {digest}"))?;
    let diff_ids = cfg
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("image config {digest}: bad rootfs.diff_ids"))?;
    if cfg.rootfs().typ() != "layers" {
        bail!("image config {digest}: rootfs.type is {:?}, expected \"layers\"", cfg.rootfs().typ());
    }
    Ok((cfg, diff_ids))
}
