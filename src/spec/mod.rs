//! Image config + run request → `oci_spec::runtime::Spec`, with Docker's rules.
//!
//! A pure function: the caller resolves volumes to host paths, creates anonymous
//! volumes for [`uncovered_image_volumes`], and gives a way to read the image's
//! /etc/passwd and /etc/group; [`build_spec`] only computes.

pub mod mounts;
pub mod user;

use crate::mountspec::Propagation;
use anyhow::{Context, Result, bail};
pub use mounts::{VolumeUse, resolve_mounts};
use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};
pub use user::{ResolvedUser, resolve_user};

/// Docker's `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Annotation carrying the image's StopSignal for `stop`.
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The container's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Its own network namespace (loopback only: minirun sets up no other interface).
    #[default]
    Private,
    /// The host's network namespace.
    Host,
    /// Its own network namespace with loopback only.
    None,
}

/// A mount with its host side resolved (a volume is a bind of its `_data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedMount {
    Bind { src: PathBuf, dst: PathBuf, readonly: bool, propagation: Option<Propagation> },
    Tmpfs { dst: PathBuf, size: Option<u64>, mode: Option<u32> },
}

impl ResolvedMount {
    /// Destination inside the container.
    pub fn dst(&self) -> &Path {
        match self {
            ResolvedMount::Bind { dst, .. } | ResolvedMount::Tmpfs { dst, .. } => dst,
        }
    }
}

/// Everything `run`/`create` decided, typed.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// The image's config (`config` of the image configuration), if any.
    pub image_config: Option<ImageConfig>,
    /// CMD given after the image name (empty: the image's Cmd).
    pub cmd: Vec<String>,
    /// `--entrypoint`: `Some(vec![])` resets the image's.
    pub entrypoint: Option<Vec<String>>,
    /// `-e`/`--env-file`, `KEY=VALUE` each, in order.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub network: Network,
    pub tty: bool,
    pub mounts: Vec<ResolvedMount>,
    pub rootless: bool,
}

/// The seccomp profile of high-level containers: the engine's default (the same one
/// `minirun oci spec` writes).
fn default_seccomp() -> Option<LinuxSeccomp> {
    Some(crate::runtime::specgen::default_seccomp())
}

fn is_kernel_fs(p: &Path) -> bool {
    ["/proc", "/sys", "/dev"].iter().any(|k| p.starts_with(k))
}

fn normalize(p: &str) -> Option<PathBuf> {
    let p = Path::new(p);
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    (out != Path::new("/")).then_some(out)
}

/// The image's declared VOLUME paths that need an anonymous volume: not covered by
/// a mount the user gave, never on /proc, /sys or /dev.
pub fn uncovered_image_volumes(cfg: Option<&ImageConfig>, covered: &[PathBuf]) -> Vec<PathBuf> {
    let vols = cfg.and_then(|c| c.volumes().clone()).unwrap_or_default();
    let mut out: Vec<PathBuf> = vols
        .iter()
        .filter_map(|v| normalize(v))
        .filter(|p| !is_kernel_fs(p) && !covered.iter().any(|c| c == p))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Process arguments by Docker's rules: `--entrypoint` replaces the image's and drops
/// its Cmd unless a command is given; an empty result is an error.
pub fn process_args(
    cfg: Option<&ImageConfig>,
    entrypoint: &Option<Vec<String>>,
    cmd: &[String],
) -> Result<Vec<String>> {
    let image_ep = cfg.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    let image_cmd = cfg.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let ep = entrypoint.clone().unwrap_or(image_ep);
    let cmd = if !cmd.is_empty() {
        cmd.to_vec()
    } else if entrypoint.is_some() {
        Vec::new()
    } else {
        image_cmd
    };
    let args: Vec<String> = ep.into_iter().chain(cmd).collect();
    if args.is_empty() {
        bail!("no command specified: the image has no Entrypoint or Cmd; give a command after the image name");
    }
    Ok(args)
}

/// Environment: image Env, then `-e` overriding by key; PATH, HOSTNAME, HOME and
/// (with a tty) TERM added when missing.
pub fn process_env(
    cfg: Option<&ImageConfig>,
    req_env: &[String],
    hostname: &str,
    home: &str,
    tty: bool,
) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: &str| {
        let key = kv.split_once('=').map_or(kv, |(k, _)| k);
        match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
            Some(e) => *e = kv.to_string(),
            None => env.push(kv.to_string()),
        }
    };
    set(&format!("HOSTNAME={hostname}"));
    for kv in cfg.and_then(|c| c.env().clone()).unwrap_or_default().iter().chain(req_env) {
        set(kv);
    }
    let has = |env: &[String], k: &str| env.iter().any(|e| e.starts_with(&format!("{k}=")));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

fn default_mounts(rootless: bool, network: Network) -> Vec<Value> {
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
        "options": if rootless {
            json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"])
        } else {
            json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])
        }}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    // sysfs needs a network namespace we own; with the host's, bind the host's /sys.
    if rootless && network == Network::Host {
        m.push(json!({"destination": "/sys", "type": "bind", "source": "/sys",
                      "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    } else {
        m.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                      "options": ["nosuid", "noexec", "nodev", "ro"]}));
    }
    if !rootless {
        m.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                      "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
    }
    m
}

fn user_mount(m: &ResolvedMount) -> Value {
    match m {
        ResolvedMount::Bind { src, dst, readonly, propagation } => json!({
            "destination": dst, "type": "bind", "source": src,
            "options": ["rbind", if *readonly { "ro" } else { "rw" },
                        propagation.map_or("rprivate", |p| p.as_str())],
        }),
        ResolvedMount::Tmpfs { dst, size, mode } => {
            let mut opts = vec!["nosuid".to_string(), "nodev".to_string()];
            if let Some(s) = size {
                opts.push(format!("size={s}"));
            }
            if let Some(md) = mode {
                opts.push(format!("mode={md:o}"));
            }
            json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": opts})
        }
    }
}

/// Build the OCI spec for one container whose root filesystem is at `rootfs`.
/// `read_file` reads a file of the image by its absolute path in the image
/// (used for /etc/passwd and /etc/group), never a host file.
pub fn build_spec(req: &RunRequest, rootfs: &Path, read_file: &dyn Fn(&str) -> Option<String>) -> Result<Spec> {
    let cfg = req.image_config.as_ref();
    let args = process_args(cfg, &req.entrypoint, &req.cmd)?;
    let user_s =
        req.user.clone().filter(|u| !u.is_empty()).or_else(|| cfg.and_then(|c| c.user().clone())).unwrap_or_default();
    let user = resolve_user(&user_s, read_file)?;
    let hostname = req.hostname.clone().unwrap_or_else(|| "minirun".into());
    let env = process_env(cfg, &req.env, &hostname, &user.home, req.tty);
    let cwd = req
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| cfg.and_then(|c| c.working_dir().clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        bail!("working directory {cwd:?} must be an absolute path");
    }

    let mut user_mounts: Vec<&ResolvedMount> = req.mounts.iter().collect();
    // Parents before children, as Docker sorts them.
    user_mounts.sort_by_key(|m| m.dst().components().count());
    let mut mounts: Vec<Value> = default_mounts(req.rootless, req.network)
        .into_iter()
        .filter(|d| !user_mounts.iter().any(|m| Some(m.dst().to_string_lossy().as_ref()) == d["destination"].as_str()))
        .collect();
    mounts.extend(user_mounts.iter().map(|m| user_mount(m)));

    let mut namespaces =
        vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    if req.network != Network::Host {
        namespaces.push(json!({"type": "network"}));
    }
    let mut annotations = serde_json::Map::new();
    if let Some(sig) = cfg.and_then(|c| c.stop_signal().clone()) {
        annotations.insert(STOP_SIGNAL_ANNOTATION.into(), json!(sig));
    }
    let caps = json!(DEFAULT_CAPS);
    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if let Some(sc) = default_seccomp() {
        linux["seccomp"] = serde_json::to_value(sc)?;
    }
    let mut user_json = json!({"uid": user.uid, "gid": user.gid});
    if !user.additional_gids.is_empty() {
        user_json["additionalGids"] = json!(user.additional_gids);
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": req.tty,
            "user": user_json,
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        },
        "root": {"path": rootfs, "readonly": req.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": annotations,
    });
    serde_json::from_value(spec).context("building the OCI spec")
}

#[cfg(test)]
mod tests;
