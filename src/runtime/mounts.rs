//! The config's mounts: fstab-style options parsed once into flags, then each mount
//! made on an fd resolved inside the rootfs (see `inroot`).
use super::error::{StageError, StageResult};
use super::inroot::{Root, fd_path, is_dir};
use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use std::path::{Path, PathBuf};

/// A mount's options, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags applied when the filesystem is mounted (or on the remount of a bind).
    pub flags: MsFlags,
    /// Flags the options explicitly cleared (`rw`, `suid`, …).
    pub cleared: MsFlags,
    /// Propagation changes applied after the mount (private, rshared, …), in order.
    pub propagation: Vec<MsFlags>,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind`.
    pub recursive: bool,
    /// An atime option (`noatime`, `relatime`, `strictatime`, …) was given.
    pub atime_given: bool,
    /// Filesystem-specific data (`mode=755,size=65536k`, `newinstance`, …).
    pub data: Vec<String>,
}

/// Every option name minirun understands as a flag (also listed by `features`).
pub const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
];

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            bind: false,
            recursive: false,
            atime_given: false,
            data: Vec::new(),
        }
    }
}

impl MountOptions {
    /// Parse fstab-style options; anything not a flag is filesystem data.
    pub fn parse(opts: &[String]) -> MountOptions {
        let mut o = MountOptions::default();
        for opt in opts {
            let (set, clear) = match opt.as_str() {
                "defaults" => (MsFlags::empty(), MsFlags::empty()),
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "silent" | "loud" => (MsFlags::empty(), MsFlags::empty()),
                "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
                "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
                "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
                "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
                "noatime" | "nodiratime" | "relatime" | "strictatime" | "atime" | "diratime" | "norelatime"
                | "nostrictatime" => {
                    o.atime_given = true;
                    match opt.as_str() {
                        "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                        "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                        "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                        "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                        "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                        "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                        "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                        _ => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                    }
                }
                "bind" => {
                    o.bind = true;
                    (MsFlags::empty(), MsFlags::empty())
                }
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                    (MsFlags::empty(), MsFlags::empty())
                }
                p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
                | "runbindable") => {
                    o.propagation.push(propagation_flags(p).expect("listed above"));
                    (MsFlags::empty(), MsFlags::empty())
                }
                "tmpcopyup" | "notmpcopyup" => {
                    // podman adds tmpcopyup to --tmpfs mounts; copying the image's
                    // content up is not implemented, the tmpfs starts empty.
                    tracing::debug!("mount option {opt} ignored: the tmpfs starts empty");
                    (MsFlags::empty(), MsFlags::empty())
                }
                // Recursive mount attributes and id-mapped mounts are not supported yet:
                // dropping them silently would weaken the mount, so keep them as data and
                // let the kernel refuse them loudly.
                _ => {
                    o.data.push(opt.clone());
                    (MsFlags::empty(), MsFlags::empty())
                }
            };
            o.flags = (o.flags | set) & !clear;
            o.cleared = (o.cleared | clear) & !set;
        }
        o
    }
}

/// `private`, `rshared`, … as mount(2) flags.
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

pub(super) fn err(op: String, dest: &Path, e: Errno) -> StageError {
    StageError::errno("mounts", op, dest.display().to_string(), e)
}

/// The flags the kernel locks on a mount when an unprivileged user namespace copies it
/// (nosuid, nodev, noexec, rdonly, atime): a remount must keep them or get EPERM.
pub fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (s, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            m |= ms;
        }
    }
    m
}

const ATIME_MASK: MsFlags =
    MsFlags::MS_NOATIME.union(MsFlags::MS_NODIRATIME).union(MsFlags::MS_RELATIME).union(MsFlags::MS_STRICTATIME);

/// Remount the bind mount at `target` with `flags`, keeping the flags the kernel locks
/// unless the options asked to clear them (which then fails with EPERM, as it should).
pub fn remount_bind(target: &Path, o: &MountOptions, recursive: bool) -> Result<(), Errno> {
    let mut locked = locked_flags(target);
    if o.atime_given {
        locked &= !ATIME_MASK;
    }
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | o.flags | (locked & !o.cleared);
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    flags.remove(MsFlags::MS_STRICTATIME);
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

/// Everything `mount_one` needs besides the mount itself.
pub struct MountEnv<'a> {
    pub root: &'a Root,
    pub bundle: &'a Path,
    pub rootless: bool,
}

/// Make one config mount inside the root.
pub fn mount_one(env: &MountEnv, m: &Mount) -> StageResult<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let o = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    if o.bind || typ == "bind" {
        return mount_bind(env, m, &o);
    }
    let source = m.source().as_ref().map(|s| s.display().to_string()).unwrap_or_else(|| typ.to_string());
    match typ {
        "sysfs" => mount_sysfs(env, dest, &source, &o),
        "cgroup" | "cgroup2" => super::cgroupfs::mount_cgroup(env, dest, &o),
        "" => Err(StageError::msg("mounts", format!("mount on {}: no type and no bind option", dest.display()))
            .with_hint("add \"type\" or the \"bind\" option to the mount in config.json")),
        _ => mount_fs(env, dest, typ, &source, &o),
    }
}

/// A fresh filesystem (proc, tmpfs, devpts, mqueue, …) on a directory inside the root.
pub(super) fn mount_fs(env: &MountEnv, dest: &Path, typ: &str, source: &str, o: &MountOptions) -> StageResult<()> {
    let op = format!("mount {typ} on");
    let fd = env.root.mkdir_all(dest).map_err(|e| err(op.clone(), dest, e))?;
    let target = fd_path(&fd);
    let flags = o.flags & !MsFlags::MS_REMOUNT;
    let mut data = o.data.join(",");
    let mut r = nix::mount::mount(Some(source), &target, Some(typ), flags, Some(data.as_str()));
    if r == Err(Errno::EINVAL) && env.rootless && typ == "devpts" && data.contains("gid=") {
        // The tty group (gid=5) is usually not mapped in a rootless user namespace.
        tracing::warn!("devpts on {}: gid option dropped (group not mapped in the user namespace)", dest.display());
        data = o.data.iter().filter(|d| !d.starts_with("gid=")).cloned().collect::<Vec<_>>().join(",");
        r = nix::mount::mount(Some(source), &target, Some(typ), flags, Some(data.as_str()));
    }
    r.map_err(|e| err(op.clone(), dest, e))?;
    apply_propagation(env, dest, o)
}

pub(super) fn apply_propagation(env: &MountEnv, dest: &Path, o: &MountOptions) -> StageResult<()> {
    if o.propagation.is_empty() {
        return Ok(());
    }
    let fd = env.root.resolve(dest).map_err(|e| err("set propagation of".into(), dest, e))?;
    for p in &o.propagation {
        nix::mount::mount(None::<&str>, &fd_path(&fd), None::<&str>, *p, None::<&str>)
            .map_err(|e| err("set propagation of".into(), dest, e))?;
    }
    Ok(())
}

/// sysfs; rootless without a network namespace of our own the kernel refuses it, so
/// fall back (with a warning) to a read-only recursive bind of the host's /sys.
fn mount_sysfs(env: &MountEnv, dest: &Path, source: &str, o: &MountOptions) -> StageResult<()> {
    match mount_fs(env, dest, "sysfs", source, o) {
        Err(e)
            if env.rootless && matches!(e.errno, Some(x) if x == Errno::EPERM as i32 || x == Errno::EACCES as i32) =>
        {
            tracing::warn!(
                "mounting sysfs on {} is not permitted here (rootless, no network namespace of our own): \
                 binding the host's /sys read-only instead",
                dest.display()
            );
            bind_host_ro(env, Path::new("/sys"), dest, o, "sysfs")
        }
        r => r,
    }
}

pub(super) fn is_empty_dir(fd: &std::os::fd::OwnedFd) -> bool {
    std::fs::read_dir(fd_path(fd)).map(|mut d| d.next().is_none()).unwrap_or(true)
}

fn bind_host_ro(env: &MountEnv, src: &Path, dest: &Path, o: &MountOptions, what: &str) -> StageResult<()> {
    let op = format!("mount {what} on");
    let fd = env.root.mkdir_all(dest).map_err(|e| err(op.clone(), dest, e))?;
    nix::mount::mount(Some(src), &fd_path(&fd), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| err(op.clone(), dest, e))?;
    let fd = env.root.resolve(dest).map_err(|e| err(op.clone(), dest, e))?;
    let mut ro = o.clone();
    ro.flags |= MsFlags::MS_RDONLY;
    remount_bind(&fd_path(&fd), &ro, false).map_err(|e| err(format!("remount {what} read-only on"), dest, e))?;
    apply_propagation(env, dest, o)
}

/// The host path of a bind source: absolute, or relative to the bundle.
pub fn bind_source(bundle: &Path, source: &Path) -> PathBuf {
    if source.is_absolute() { source.to_path_buf() } else { bundle.join(source) }
}

fn mount_bind(env: &MountEnv, m: &Mount, o: &MountOptions) -> StageResult<()> {
    let dest = m.destination();
    let op = "bind mount on".to_string();
    let Some(src) = m.source() else {
        return Err(StageError::msg("mounts", format!("bind mount on {}: no source", dest.display()))
            .with_hint("add \"source\" to the mount in config.json"));
    };
    let src = bind_source(env.bundle, src);
    let meta = std::fs::metadata(&src).map_err(|e| {
        StageError::new("mounts", "bind mount source", Some(src.display().to_string()), e.raw_os_error())
    })?;
    let fd = if meta.is_dir() { env.root.mkdir_all(dest) } else { env.root.create_file(dest) }
        .map_err(|e| err(op.clone(), dest, e))?;
    if meta.is_dir() != is_dir(&fd).unwrap_or(false) {
        return Err(err(op, dest, if meta.is_dir() { Errno::ENOTDIR } else { Errno::EISDIR }));
    }
    let mut flags = MsFlags::MS_BIND;
    if o.recursive {
        flags |= MsFlags::MS_REC;
    }
    nix::mount::mount(Some(&src), &fd_path(&fd), None::<&str>, flags, None::<&str>)
        .map_err(|e| err(op.clone(), dest, e))?;
    drop(fd);
    let needs_remount = !(o.flags & !MsFlags::MS_REMOUNT).is_empty() || !o.cleared.is_empty();
    if needs_remount {
        let fd = env.root.resolve(dest).map_err(|e| err(op.clone(), dest, e))?;
        remount_bind(&fd_path(&fd), o, false).map_err(|e| err("remount bind mount on".into(), dest, e))?;
    }
    apply_propagation(env, dest, o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        MountOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_flags_data_and_propagation() {
        let o = opts(&["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "ro"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY);
        assert_eq!(o.data, vec!["newinstance", "ptmxmode=0666", "mode=0620"]);
        let o = opts(&["rbind", "ro", "rw", "rslave"]);
        assert!(o.bind && o.recursive);
        assert!(o.flags.is_empty());
        assert_eq!(o.cleared, MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert!(opts(&["relatime"]).atime_given);
    }

    #[test]
    fn relative_bind_source_is_bundle_relative() {
        assert_eq!(bind_source(Path::new("/b"), Path::new("data")), PathBuf::from("/b/data"));
        assert_eq!(bind_source(Path::new("/b"), Path::new("/x")), PathBuf::from("/x"));
    }
}
