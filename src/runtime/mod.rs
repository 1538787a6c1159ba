//! The OCI engine: builder, processes and sync, user namespaces, rootfs and mounts,
//! capabilities, seccomp, state. `minirun oci …` and `minirun run IMAGE` share it.
pub mod caps;
pub mod devices;
pub mod error;
pub mod features;
pub mod inroot;
pub mod mounts;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod specgen;
