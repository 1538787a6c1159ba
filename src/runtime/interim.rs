//! TEMPORARY stand-ins until branch `rootfs` lands (specgen, features, setup_rootfs):
//! just enough to exercise the engine. Deleted once the real modules are merged.
use super::error::{StageError, StageResult};
use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Spec;
use std::path::Path;

/// Interim `spec` output: oci-spec's runc-like defaults.
pub fn default_spec(rootless: bool) -> Spec {
    if rootless {
        Spec::rootless(crate::idmap::host_uid(), crate::idmap::host_gid())
    } else {
        Spec::default()
    }
}

/// Interim `features` output.
pub fn features_json() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2-dev",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "linux": {"namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]}
    })
}

fn e(op: &str, p: &Path, err: nix::errno::Errno) -> StageError {
    StageError::errno("rootfs", op, p.display().to_string(), err)
}

/// A minimal rootfs: proc/tmpfs/devpts/bind mounts from the config, a few devices
/// bound from the host, pivot_root. No path hardening: test use only.
pub fn minimal_rootfs(spec: &Spec, rootfs: &Path, no_pivot: bool) -> StageResult<()> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).map_err(|x| e("make rprivate", Path::new("/"), x))?;
    mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(|x| e("bind", rootfs, x))?;
    for m in spec.mounts().iter().flatten() {
        let dst = rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
        let typ = m.typ().clone().unwrap_or_default();
        let opts = m.options().clone().unwrap_or_default();
        let _ = std::fs::create_dir_all(&dst);
        let r = match typ.as_str() {
            "proc" => mount(Some("proc"), &dst, Some("proc"), MsFlags::empty(), None::<&str>),
            "tmpfs" => mount(Some("tmpfs"), &dst, Some("tmpfs"), MsFlags::MS_NOSUID, Some("mode=755")),
            "devpts" => mount(Some("devpts"), &dst, Some("devpts"), MsFlags::MS_NOSUID, Some("newinstance,ptmxmode=0666,mode=0620")),
            _ if opts.iter().any(|o| o == "bind" || o == "rbind") => {
                let src = m.source().clone().unwrap_or_default();
                mount(Some(&src), &dst, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            }
            _ => Ok(()),
        };
        r.map_err(|x| e(&format!("mount {typ} on"), &dst, x))?;
    }
    let dev = rootfs.join("dev");
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        let p = dev.join(d);
        let _ = std::fs::File::create(&p);
        mount(Some(&Path::new("/dev").join(d)), &p, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|x| e("bind device", &p, x))?;
    }
    let _ = std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx"));
    nix::unistd::chdir(rootfs).map_err(|x| e("chdir", rootfs, x))?;
    if no_pivot {
        mount(Some(rootfs), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(|x| e("move", rootfs, x))?;
        nix::unistd::chroot(".").map_err(|x| e("chroot", rootfs, x))?;
    } else {
        nix::unistd::pivot_root(".", ".").map_err(|x| e("pivot_root", rootfs, x))?;
        nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH).map_err(|x| e("umount old root", rootfs, x))?;
    }
    nix::unistd::chdir("/").map_err(|x| e("chdir", Path::new("/"), x))?;
    Ok(())
}
