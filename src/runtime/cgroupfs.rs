//! The `cgroup` mount type: what a container sees at /sys/fs/cgroup.
use super::error::StageResult;
use super::inroot::fd_path;
use super::mounts::{MountEnv, MountOptions, apply_propagation, err, is_empty_dir, mount_fs, remount_bind};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// cgroup2 hosts get a fresh cgroup2 mount (it shows the container's cgroup
/// namespace). On a cgroup v1 host, like runc: a tmpfs at the destination with, for
/// each hierarchy, a read-only bind of this process's own cgroup directory in it (never
/// the host's whole tree: a writable v1 hierarchy is a known escape via release_agent),
/// then the tmpfs itself remounted read-only. A sysfs bound from the host (rootless
/// fallback) already contains the hierarchy: nothing is added then. Rootless, a failure
/// only warns: no cgroup view is better than no container.
pub(super) fn mount_cgroup(env: &MountEnv, dest: &Path, o: &MountOptions) -> StageResult<()> {
    let host = Path::new("/sys/fs/cgroup");
    let is_v2 = nix::sys::statfs::statfs(host)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let r = if is_v2 {
        mount_fs(env, dest, "cgroup2", "cgroup2", o)
    } else {
        match env.root.resolve(dest) {
            Ok(fd) if !is_empty_dir(&fd) => return Ok(()),
            _ => mount_cgroup_v1(env, dest, o),
        }
    };
    match r {
        Err(e) if env.rootless => {
            tracing::warn!("cgroup mount on {} skipped: {e}", dest.display());
            Ok(())
        }
        r => r,
    }
}

/// One v1 (or hybrid unified) hierarchy mounted on the host.
struct Hierarchy {
    /// Host mount point, e.g. /sys/fs/cgroup/cpu.
    mountpoint: PathBuf,
    /// Our cgroup inside it, e.g. /user.slice.
    own: PathBuf,
}

/// The host's cgroup hierarchies under /sys/fs/cgroup and our cgroup in each.
fn host_hierarchies() -> Vec<Hierarchy> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own: Vec<(String, String)> = own
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mp = pre.split(' ').nth(4).unwrap_or("");
        let mut post = post.split(' ');
        let (fstype, _src, superopts) = (post.next().unwrap_or(""), post.next(), post.next().unwrap_or(""));
        if !mp.starts_with("/sys/fs/cgroup/") {
            continue;
        }
        let path = match fstype {
            "cgroup2" => own.iter().find(|(c, _)| c.is_empty()).map(|(_, p)| p.clone()),
            "cgroup" => {
                let mut want: Vec<&str> = superopts
                    .split(',')
                    .filter(|o| *o != "rw" && *o != "ro" && !o.starts_with("release_agent") && *o != "clone_children")
                    .filter(|o| !o.contains('=') || o.starts_with("name="))
                    .collect();
                want.sort();
                own.iter()
                    .find(|(c, _)| {
                        let mut have: Vec<&str> = c.split(',').collect();
                        have.sort();
                        have == want
                    })
                    .map(|(_, p)| p.clone())
            }
            _ => None,
        };
        if let Some(p) = path {
            out.push(Hierarchy { mountpoint: PathBuf::from(mp), own: PathBuf::from(p) });
        }
    }
    out
}

fn mount_cgroup_v1(env: &MountEnv, dest: &Path, o: &MountOptions) -> StageResult<()> {
    let op = "mount cgroup on".to_string();
    let fd = env.root.mkdir_all(dest).map_err(|e| err(op.clone(), dest, e))?;
    let flags = (o.flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC) & !MsFlags::MS_RDONLY;
    nix::mount::mount(Some("tmpfs"), &fd_path(&fd), Some("tmpfs"), flags, Some("mode=755"))
        .map_err(|e| err(op.clone(), dest, e))?;
    for h in host_hierarchies() {
        let Some(name) = h.mountpoint.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let src = h.mountpoint.join(h.own.strip_prefix("/").unwrap_or(&h.own));
        if !src.is_dir() {
            continue;
        }
        let bind = MountOptions { bind: true, flags: MsFlags::MS_RDONLY, ..Default::default() };
        let fd = env.root.mkdir_all(&sub).map_err(|e| err(op.clone(), &sub, e))?;
        nix::mount::mount(Some(&src), &fd_path(&fd), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| err(op.clone(), &sub, e))?;
        let fd = env.root.resolve(&sub).map_err(|e| err(op.clone(), &sub, e))?;
        remount_bind(&fd_path(&fd), &bind, false).map_err(|e| err("remount cgroup read-only on".into(), &sub, e))?;
    }
    // Hierarchies mounted together (cpu,cpuacct) are reachable by each name on the host.
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        let dir = env.root.resolve(dest).map_err(|e| err(op.clone(), dest, e))?;
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_link(e.path()) {
                let _ = nix::unistd::symlinkat(&t, &dir, e.file_name().as_os_str());
            }
        }
    }
    if o.flags.contains(MsFlags::MS_RDONLY) {
        let fd = env.root.resolve(dest).map_err(|e| err(op.clone(), dest, e))?;
        nix::mount::mount(
            None::<&str>,
            &fd_path(&fd),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            None::<&str>,
        )
        .map_err(|e| err("remount cgroup tmpfs read-only on".into(), dest, e))?;
    }
    apply_propagation(env, dest, o)
}
