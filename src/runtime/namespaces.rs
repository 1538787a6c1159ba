//! Namespaces from the config: which to create, which to join by path, and the user
//! namespace's id maps.
use super::error::{StageError, StageResult};
use crate::idmap::{IdMapping, IdRange};
use anyhow::{Context, Result, bail};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

/// The clone flag and /proc/PID/ns name of a namespace type.
pub fn flag_and_name(t: LinuxNamespaceType) -> Option<(CloneFlags, &'static str)> {
    Some(match t {
        LinuxNamespaceType::User => (CloneFlags::CLONE_NEWUSER, "user"),
        LinuxNamespaceType::Mount => (CloneFlags::CLONE_NEWNS, "mnt"),
        LinuxNamespaceType::Pid => (CloneFlags::CLONE_NEWPID, "pid"),
        LinuxNamespaceType::Network => (CloneFlags::CLONE_NEWNET, "net"),
        LinuxNamespaceType::Ipc => (CloneFlags::CLONE_NEWIPC, "ipc"),
        LinuxNamespaceType::Uts => (CloneFlags::CLONE_NEWUTS, "uts"),
        LinuxNamespaceType::Cgroup => (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        _ => return None,
    })
}

/// Namespaces to join (opened in the caller, user first) and to create.
pub struct Plan {
    pub join: Vec<(CloneFlags, OwnedFd, String)>,
    pub unshare: CloneFlags,
    /// Maps of a new user namespace.
    pub userns: Option<IdMapping>,
}

fn ranges(v: Option<&Vec<LinuxIdMapping>>) -> Vec<IdRange> {
    v.into_iter()
        .flatten()
        .map(|m| IdRange { container: m.container_id(), host: m.host_id(), size: m.size() })
        .collect()
}

/// Read the config's namespaces, opening every path now (on the host side).
pub fn plan(spec: &Spec, rootless: bool) -> Result<Plan> {
    let mut join = Vec::new();
    let mut unshare = CloneFlags::empty();
    let mut userns = None;
    let linux = spec.linux().as_ref();
    for ns in linux.and_then(|l| l.namespaces().as_ref()).into_iter().flatten() {
        let Some((flag, name)) = flag_and_name(ns.typ()) else {
            bail!("namespace type {:?} is not supported", ns.typ());
        };
        match ns.path() {
            Some(p) => {
                let f = std::fs::File::open(p).with_context(|| format!("opening {name} namespace {}", p.display()))?;
                join.push((flag, OwnedFd::from(f), p.display().to_string()));
            }
            None => {
                unshare |= flag;
                if flag == CloneFlags::CLONE_NEWUSER {
                    let l = linux.expect("namespaces imply linux");
                    let m = IdMapping {
                        uids: ranges(l.uid_mappings().as_ref()),
                        gids: ranges(l.gid_mappings().as_ref()),
                        single_id_reason: None,
                    };
                    if m.uids.is_empty() || m.gids.is_empty() {
                        bail!(
                            "the config asks for a user namespace but has no linux.uidMappings/gidMappings: add them (minirun oci spec --rootless writes them)"
                        );
                    }
                    userns = Some(m);
                }
            }
        }
    }
    // Joining a user namespace must come first: it gives the rights to join the rest.
    join.sort_by_key(|(f, _, _)| *f != CloneFlags::CLONE_NEWUSER);
    if rootless
        && userns.is_none()
        && !crate::idmap::in_user_namespace()
        && !join.iter().any(|j| j.0 == CloneFlags::CLONE_NEWUSER)
    {
        bail!("running rootless needs a user namespace in the config: use a config from `minirun oci spec --rootless`");
    }
    Ok(Plan { join, unshare, userns })
}

/// Inode identity of a namespace file, to skip joining the one we are already in.
pub fn same_ns(a: &str, b: &str) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.ino() == y.ino() && x.dev() == y.dev(),
        _ => false,
    }
}

/// In a stage: setns into every planned namespace, in order.
pub fn join_all(join: &[(CloneFlags, OwnedFd, String)]) -> StageResult<()> {
    for (flag, fd, path) in join {
        nix::sched::setns(fd, *flag).map_err(|e| StageError::errno("namespaces", "setns", path.clone(), e))?;
    }
    Ok(())
}

/// In a stage: become root of a fresh user namespace (after the caller wrote the maps).
pub fn become_root() -> StageResult<()> {
    // SAFETY: plain syscalls.
    unsafe {
        if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
            return Err(StageError::new(
                "userns",
                "setresuid to 0 in the new user namespace",
                None,
                Some(nix::errno::Errno::last() as i32),
            )
            .with_hint("the uid mapping must include container id 0"));
        }
    }
    Ok(())
}
