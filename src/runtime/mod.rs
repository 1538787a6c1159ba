//! The OCI engine: builder, processes and sync, user namespaces, rootfs and mounts,
//! capabilities, seccomp, state. `minirun oci …` and `minirun run IMAGE` share it.
pub mod error;
pub mod rootfs;
pub mod security;
