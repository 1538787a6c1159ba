//! Pause/resume through the cgroup v1 freezer. Only as real root with a writable
//! `/sys/fs/cgroup/freezer`: the container is put in `freezer/minirun/<id>-<random>` at create.
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

const FREEZER: &str = "/sys/fs/cgroup/freezer";

/// The freezer cgroup a new container should join, or None (rootless, no freezer).
pub fn plan(id: &str, rootless: bool) -> Option<PathBuf> {
    if rootless || !Path::new(FREEZER).join("cgroup.procs").exists() {
        return None;
    }
    // A random suffix: two state roots (tests, podman and containerd) may reuse an id.
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).ok()?;
    Some(Path::new(FREEZER).join("minirun").join(format!("{id}-{}", hex::encode(b))))
}

/// Create the cgroup directory.
pub fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating freezer cgroup {}", dir.display()))
}

/// Move process `pid` (0 = the caller) into `dir`.
pub fn join(dir: &Path, pid: i32) -> Result<()> {
    let p = dir.join("cgroup.procs");
    std::fs::write(&p, pid.to_string()).with_context(|| format!("writing {pid} to {}", p.display()))
}

/// The caller's current freezer cgroup directory (to go back after forking).
pub fn current() -> Option<PathBuf> {
    let s = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    s.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
        ctrl.split(',').any(|c| c == "freezer").then(|| Path::new(FREEZER).join(path.trim_start_matches('/')))
    })
}

/// Pids in the cgroup.
pub fn pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// True when the cgroup is frozen.
pub fn is_frozen(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("freezer.state")).map(|s| s.trim() == "FROZEN").unwrap_or(false)
}

/// Write FROZEN or THAWED and wait until the kernel reports it.
pub fn set(dir: Option<&Path>, frozen: bool) -> Result<()> {
    let Some(dir) = dir else {
        bail!(
            "pause needs a writable freezer cgroup: this container has none (rootless, or no cgroup v1 freezer at {FREEZER})"
        );
    };
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let p = dir.join("freezer.state");
    for _ in 0..1000 {
        std::fs::write(&p, want).with_context(|| format!("writing {want} to {}", p.display()))?;
        let now = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        if now.trim() == want {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    bail!("{} did not reach {want}", p.display())
}

/// Remove the cgroup (its processes must be gone).
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}
