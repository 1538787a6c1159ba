//! The OCI engine: builder, processes and sync, user namespaces, rootfs and mounts,
//! capabilities, seccomp, state. `minirun oci …` and `minirun run IMAGE` share it.
pub mod caps;
pub mod cgroupfs;
pub mod console;
pub mod container;
pub mod devices;
pub mod error;
pub mod exec;
pub mod features;
pub mod freezer;
pub mod hooks;
pub mod init;
pub mod inroot;
pub mod log;
pub mod mounts;
pub mod namespaces;
pub mod ops;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod specgen;
pub mod state;
pub mod sync;
pub mod wait;

/// The default config `minirun oci spec` writes.
pub fn specgen_default(rootless: bool) -> oci_spec::runtime::Spec {
    specgen::default_spec(rootless)
}

/// What `minirun oci features` prints.
pub fn features_default() -> serde_json::Value {
    features::features_json()
}
