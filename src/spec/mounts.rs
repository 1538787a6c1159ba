//! From parsed mount requests to host paths: named volumes created on first use,
//! anonymous ones for `-v /dst` and the image's declared VOLUMEs.

use super::ResolvedMount;
use crate::mountspec::{MountRequest, check_all};
use crate::volume::{Volume, VolumeStore};
use anyhow::Result;
use std::path::PathBuf;

/// A volume mounted into the container, for `container.json` ("volumes") and copy-up.
#[derive(Debug, Clone)]
pub struct VolumeUse {
    pub volume: Volume,
    pub dst: PathBuf,
    /// Fill it with the image's files at `dst` before start: it was empty and
    /// `volume-nocopy` was not given.
    pub copy_up: bool,
}

/// Resolve `reqs` (validated together first, so a bad set creates nothing), adding an
/// anonymous volume for each path in `image_volumes` no request covers.
pub fn resolve_mounts(
    reqs: &[MountRequest],
    image_volumes: &[PathBuf],
    store: &VolumeStore,
) -> Result<(Vec<ResolvedMount>, Vec<VolumeUse>)> {
    check_all(reqs)?;
    let mut all: Vec<MountRequest> = reqs.to_vec();
    for v in image_volumes {
        if !reqs.iter().any(|r| r.dst() == v.as_path()) {
            all.push(MountRequest::Volume { name: None, dst: v.clone(), readonly: false, nocopy: false });
        }
    }
    let mut mounts = Vec::new();
    let mut uses = Vec::new();
    for r in all {
        match r {
            MountRequest::Bind { src, dst, readonly, propagation } => {
                mounts.push(ResolvedMount::Bind { src, dst, readonly, propagation })
            }
            MountRequest::Tmpfs { dst, size, mode } => mounts.push(ResolvedMount::Tmpfs { dst, size, mode }),
            MountRequest::Volume { name, dst, readonly, nocopy } => {
                let volume = store.create(name.as_deref(), name.is_none())?;
                let copy_up = !nocopy && store.is_empty(&volume)?;
                mounts.push(ResolvedMount::Bind {
                    src: volume.mountpoint.clone(),
                    dst: dst.clone(),
                    readonly,
                    propagation: None,
                });
                uses.push(VolumeUse { volume, dst, copy_up });
            }
        }
    }
    Ok((mounts, uses))
}
