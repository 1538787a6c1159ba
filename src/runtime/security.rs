//! The container process's privileges: user, capabilities, no_new_privs, seccomp,
//! rlimits, hostname, sysctls (stub: branch `rootfs`).
use super::error::StageResult;
use oci_spec::runtime::{Process, Spec};

/// Before the user process is prepared, still privileged in the container's namespaces:
/// hostname, domainname, sysctls, oomScoreAdj, rlimits.
pub fn apply_container_settings(_spec: &Spec) -> StageResult<()> {
    Ok(())
}

/// The last step before execve: umask, additional gids, setresgid/setresuid keeping the
/// configured capabilities, the five capability sets, noNewPrivileges, seccomp.
pub fn finalize_process(_process: &Process) -> StageResult<()> {
    Ok(())
}
