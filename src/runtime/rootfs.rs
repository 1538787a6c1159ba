//! Building the container's root filesystem in its mount namespace (stub: branch `rootfs`).
use super::error::StageResult;
use oci_spec::runtime::Spec;
use std::path::Path;

/// What rootfs setup needs to know.
pub struct RootfsCtx<'a> {
    pub spec: &'a Spec,
    /// Absolute host path of the root filesystem (already mounted when it is an overlay).
    pub rootfs: &'a Path,
    /// Absolute bundle directory (relative bind sources are resolved against it).
    pub bundle: &'a Path,
    /// True without real root: sysfs falls back to a bind, devices are bind-mounted.
    pub rootless: bool,
    /// `--no-pivot`: chroot instead of pivot_root.
    pub no_pivot: bool,
}

/// Called inside the container's new mount namespace, as (namespace) root, before the
/// user process is prepared: propagation, the config's mounts in order, devices,
/// /dev symlinks, pivot_root (or chroot), masked and readonly paths, readonly root.
/// On return the process's root and cwd are the container's `/`.
pub fn setup_rootfs(_ctx: &RootfsCtx) -> StageResult<()> {
    Err(super::error::StageError::msg("rootfs", "rootfs setup not implemented yet"))
}
