//! Building the container's root filesystem in its mount namespace.
//!
//! Order (like runc and crun): propagation of `/`, the rootfs bound onto itself, the
//! config's mounts in order, devices and /dev symlinks, pivot_root (or chroot with
//! `--no-pivot`), sysctls, masked paths, readonly paths, readonly root. Every
//! destination is resolved inside the rootfs (see `inroot`).
use super::devices;
use super::error::{StageError, StageResult};
use super::inroot::{Root, fd_path, is_dir};
use super::mounts::{self, MountEnv, MountOptions};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
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

fn rerr(op: &str, path: &str, e: Errno) -> StageError {
    StageError::errno("rootfs", op, path, e)
}

/// Called inside the container's new mount namespace, as (namespace) root, before the
/// user process is prepared: propagation, the config's mounts in order, devices,
/// /dev symlinks, pivot_root (or chroot), sysctls, masked and readonly paths, readonly
/// root. On return the process's root and cwd are the container's `/`.
///
/// Sysctls are written here, after pivot_root and before readonlyPaths, because only
/// then is /proc the container's and /proc/sys still writable.
pub fn setup_rootfs(ctx: &RootfsCtx) -> StageResult<()> {
    let linux = ctx.spec.linux().as_ref();
    let requested = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => None,
        Some(p) => Some(mounts::propagation_flags(p).ok_or_else(|| {
            StageError::msg("rootfs", format!("unknown rootfsPropagation {p:?}"))
                .with_hint("use private, rprivate, slave, rslave, shared, rshared, unbindable or runbindable")
        })?),
    };
    // Refuse a sysctl that would change the host before anything is mounted.
    let sysctls = linux.and_then(|l| l.sysctl().as_ref());
    for k in sysctls.into_iter().flat_map(|m| m.keys()) {
        check_sysctl(k, ctx.spec)?;
    }
    // Nothing we mount may propagate back to the host. A shared request is applied
    // after pivot_root (pivot_root refuses shared mounts).
    let first = match requested {
        Some(p) if !p.contains(MsFlags::MS_SHARED) => p | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    nix::mount::mount(None::<&str>, "/", None::<&str>, first, None::<&str>)
        .map_err(|e| rerr("set propagation of", "/", e))?;

    let rootfs = ctx.rootfs.display().to_string();
    nix::mount::mount(Some(ctx.rootfs), ctx.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| rerr("bind mount rootfs", &rootfs, e))?;
    // Open the root after binding so lookups see the new mount.
    let root = Root::open(ctx.rootfs).map_err(|e| rerr("open rootfs", &rootfs, e))?;

    let env = MountEnv { root: &root, bundle: ctx.bundle, rootless: ctx.rootless };
    for m in ctx.spec.mounts().as_deref().unwrap_or(&[]) {
        mounts::mount_one(&env, m)?;
    }

    let mut devs = devices::default_devices();
    for d in linux.and_then(|l| l.devices().as_ref()).into_iter().flatten() {
        let d = devices::from_spec(d)?;
        devs.retain(|x| x.path != d.path);
        devs.push(d);
    }
    for d in &devs {
        devices::create(&root, d, ctx.rootless)?;
    }
    devices::create_symlinks(&root)?;
    let terminal = ctx.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    if terminal {
        devices::create_console(&root)?;
    }
    drop(root);

    if ctx.no_pivot {
        move_root(ctx.rootfs)?;
    } else {
        pivot_root(ctx.rootfs)?;
    }
    if let Some(p) = requested.filter(|p| p.contains(MsFlags::MS_SHARED)) {
        nix::mount::mount(None::<&str>, "/", None::<&str>, p | MsFlags::MS_REC, None::<&str>)
            .map_err(|e| rerr("set propagation of", "/", e))?;
    }

    if let Some(sysctls) = sysctls {
        write_sysctls(sysctls)?;
    }

    let root = Root::open(Path::new("/")).map_err(|e| rerr("open", "/", e))?;
    for p in linux.and_then(|l| l.masked_paths().as_ref()).into_iter().flatten() {
        mask_path(&root, p)?;
    }
    for p in linux.and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        readonly_path(&root, p)?;
    }
    if ctx.spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        let ro = MountOptions { flags: MsFlags::MS_RDONLY, ..Default::default() };
        mounts::remount_bind(Path::new("/"), &ro, false).map_err(|e| rerr("remount read-only", "/", e))?;
    }
    std::env::set_current_dir("/").map_err(|e| rerr("chdir", "/", Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    Ok(())
}

/// pivot_root(".", ".") then detach the old root, which sits on top of the new one:
/// no temporary directory inside the rootfs is needed.
fn pivot_root(rootfs: &Path) -> StageResult<()> {
    let p = rootfs.display().to_string();
    nix::unistd::chdir(rootfs).map_err(|e| rerr("chdir", &p, e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| rerr("pivot_root", &p, e))?;
    // Make the old root a slave so the detach below does not propagate to the host.
    nix::mount::mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| rerr("set propagation of old root", "/", e))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(|e| rerr("unmount old root", "/", e))?;
    nix::unistd::chdir("/").map_err(|e| rerr("chdir", "/", e))
}

/// `--no-pivot`: move the rootfs mount over / and chroot into it (for ramdisk roots).
fn move_root(rootfs: &Path) -> StageResult<()> {
    let p = rootfs.display().to_string();
    nix::unistd::chdir(rootfs).map_err(|e| rerr("chdir", &p, e))?;
    nix::mount::mount(Some(rootfs), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(|e| rerr("move rootfs mount to", "/", e))?;
    nix::unistd::chroot(".").map_err(|e| rerr("chroot", &p, e))?;
    nix::unistd::chdir("/").map_err(|e| rerr("chdir", "/", e))
}

/// The IPC sysctls the kernel keeps per IPC namespace.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Like runc: only sysctls that live in a namespace the container has (ipc, net,
/// uts) are allowed; any other would change the host's kernel setting.
pub fn check_sysctl(name: &str, spec: &Spec) -> StageResult<()> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let has = |t: T| {
        spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
    };
    let needs = if IPC_SYSCTLS.contains(&name) || name.starts_with("fs.mqueue.") {
        Some((T::Ipc, "ipc"))
    } else if name.starts_with("net.") {
        Some((T::Network, "network"))
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        Some((T::Uts, "uts"))
    } else {
        None
    };
    match needs {
        Some((t, _)) if has(t) => Ok(()),
        Some((_, ns)) => Err(StageError::msg("sysctl", format!("sysctl {name} needs a private {ns} namespace"))
            .with_hint(format!("add {{\"type\": \"{ns}\"}} to linux.namespaces"))),
        None => {
            Err(StageError::msg("sysctl", format!("sysctl {name} is not namespaced: setting it would change the host")))
        }
    }
}

/// `kernel.domainname` -> /proc/sys/kernel/domainname. Only namespaced sysctls are
/// writable here anyway; the kernel refuses the rest.
fn write_sysctls(sysctls: &std::collections::HashMap<String, String>) -> StageResult<()> {
    let mut keys: Vec<_> = sysctls.keys().collect();
    keys.sort();
    for k in keys {
        if k.contains("..") || k.contains('\0') {
            return Err(StageError::msg("sysctl", format!("invalid sysctl name {k:?}")));
        }
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, sysctls[k].as_bytes()).map_err(|e| {
            StageError::new("sysctl", format!("write sysctl {k} ="), Some(path.clone()), e.raw_os_error())
        })?;
    }
    Ok(())
}

/// Hide `path`: /dev/null over a file, an empty read-only tmpfs over a directory.
fn mask_path(root: &Root, path: &str) -> StageResult<()> {
    let fd = match root.resolve(Path::new(path)) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(StageError::errno("mounts", "mask", path, e)),
    };
    let target = fd_path(&fd);
    let r = if is_dir(&fd).unwrap_or(false) {
        nix::mount::mount(Some("tmpfs"), &target, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0k,mode=0755"))
    } else {
        nix::mount::mount(Some("/dev/null"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
    };
    r.map_err(|e| StageError::errno("mounts", "mask", path, e))
}

/// Make `path` read-only: bind it onto itself, then remount the bind read-only.
fn readonly_path(root: &Root, path: &str) -> StageResult<()> {
    let fd = match root.resolve(Path::new(path)) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(StageError::errno("mounts", "make read-only", path, e)),
    };
    let target = fd_path(&fd);
    nix::mount::mount(Some(&target), &target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| StageError::errno("mounts", "make read-only", path, e))?;
    let fd = root.resolve(Path::new(path)).map_err(|e| StageError::errno("mounts", "make read-only", path, e))?;
    let ro = MountOptions { flags: MsFlags::MS_RDONLY, ..Default::default() };
    mounts::remount_bind(&fd_path(&fd), &ro, false).map_err(|e| StageError::errno("mounts", "make read-only", path, e))
}

#[cfg(test)]
mod tests {
    use super::check_sysctl;

    #[test]
    fn only_namespaced_sysctls_pass() {
        let spec = crate::runtime::specgen::default_spec(false);
        check_sysctl("kernel.msgmax", &spec).unwrap();
        check_sysctl("net.ipv4.ip_forward", &spec).unwrap();
        check_sysctl("fs.mqueue.msg_max", &spec).unwrap();
        let e = check_sysctl("vm.swappiness", &spec).unwrap_err();
        assert!(e.to_string().contains("change the host"), "{e}");
        let rootless = crate::runtime::specgen::default_spec(true);
        let e = check_sysctl("net.ipv4.ip_forward", &rootless).unwrap_err();
        assert!(e.to_string().contains("network namespace"), "{e}");
    }
}
