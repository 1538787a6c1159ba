//! Safe unpacking of one layer tar into its own directory (stub: see branch `unpack`).
use anyhow::Result;
use std::io::Read;
use std::path::Path;

/// How a layer is written to disk.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// xattr that marks an opaque directory: `trusted.overlay.opaque` as root,
    /// `user.overlay.opaque` rootless (kernel overlay with `userxattr`).
    pub opaque_xattr: String,
    /// Refuse the layer once its uncompressed content exceeds this many bytes.
    pub max_bytes: u64,
    /// Single-id mapping: chown to ids we cannot map fails; keep our own owner instead.
    pub ignore_chown_errors: bool,
    /// Create device nodes (root); rootless skips them with a warning.
    pub create_devices: bool,
}

/// What unpacking one layer did.
#[derive(Debug, Clone, Default)]
pub struct UnpackStats {
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    pub warnings: Vec<String>,
}

/// Unpack an (already decompressed) layer tar stream into the empty directory `dest`.
/// Nothing is ever created, changed or removed outside `dest`.
pub fn unpack_layer<R: Read>(_reader: R, _dest: &Path, _opts: &UnpackOptions) -> Result<UnpackStats> {
    anyhow::bail!("unpack: not implemented yet")
}
