//! Helpers shared by the tests/containers_*.rs suites: a driver-pinned view of an
//! `Env`, fixture loading, a content hash of the image layers, and checks that no
//! process of the instance survives.
#![allow(dead_code)]

use crate::common::{Env, fixture};
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;

/// An `Env` whose every command runs with `--storage-driver DRIVER` (when given).
pub struct Drv<'a> {
    pub env: &'a Env,
    pub driver: Option<&'a str>,
}

impl<'a> Drv<'a> {
    pub fn new(env: &'a Env, driver: Option<&'a str>) -> Drv<'a> {
        Drv { env, driver }
    }

    fn args<'b>(&'b self, rest: &[&'b str]) -> Vec<&'b str> {
        let mut v = Vec::new();
        if let Some(d) = self.driver {
            v.extend(["--storage-driver", d]);
        }
        v.extend_from_slice(rest);
        v
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.env.label(), self.driver.unwrap_or("auto"))
    }

    pub fn run(&self, rest: &[&str]) -> Output {
        self.env.run(&self.args(rest))
    }

    #[track_caller]
    pub fn ok(&self, rest: &[&str]) -> String {
        self.env.ok(&self.args(rest))
    }

    #[track_caller]
    pub fn fails(&self, code: i32, rest: &[&str]) -> String {
        self.env.fails(code, &self.args(rest))
    }

    /// `inspect NAME` parsed, first element.
    #[track_caller]
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
        v[0].clone()
    }

    /// Full id of a container.
    #[track_caller]
    pub fn id(&self, name: &str) -> String {
        self.inspect(name)["Id"].as_str().unwrap().to_string()
    }
}

/// Load fixture images (by name) into the instance.
pub fn load(env: &Env, images: &[&str]) {
    for i in images {
        env.ok(&["load", "-i", fixture(i).to_str().unwrap()]);
    }
}

/// sha256 over a sorted listing of `<root>/layers` with each entry's type, mode,
/// owner, mtime, size, symlink target and file content: equal digests mean the
/// image layers are byte-for-byte the same.
pub fn layers_digest(root: &Path) -> String {
    let mut h = Sha256::new();
    let mut entries = Vec::new();
    walk(&root.join("layers"), &root.join("layers"), &mut entries);
    entries.sort();
    assert!(entries.len() > 10, "no layers under {}", root.display());
    for e in entries {
        h.update(e.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let md = p.symlink_metadata().unwrap();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let ft = md.file_type();
        let content = if ft.is_symlink() {
            std::fs::read_link(&p).unwrap().display().to_string()
        } else if ft.is_file() {
            hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
        } else {
            String::new()
        };
        out.push(format!(
            "{rel} {:o} {}:{} {} {} {content}",
            md.mode(),
            md.uid(),
            md.gid(),
            md.mtime(),
            if ft.is_dir() { 0 } else { md.size() }
        ));
        if ft.is_dir() {
            walk(base, &p, out);
        }
    }
}

/// Processes (pid, cmdline) whose command line mentions `needle`, zombies excluded.
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmd.contains(needle) {
            v.push((pid, cmd));
        }
    }
    v
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Wait (polling, up to 10 s) until no process mentions the instance's root — no
/// monitor, no fuse-overlayfs daemon, no minirun — then assert it.
#[track_caller]
pub fn assert_no_processes(env: &Env) {
    let needle = env.root.display().to_string();
    for _ in 0..200 {
        if processes_mentioning(&needle).is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("[{}] processes left behind: {:?}", env.label(), processes_mentioning(&needle));
}

/// Poll (up to 10 s) until `f` holds; panics with `what` otherwise.
#[track_caller]
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("never happened: {what}");
}

/// Names of the instance's volumes.
pub fn volumes(d: &Drv) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"]).lines().map(str::to_owned).collect()
}

/// Entries of `<root>/containers` that are container directories.
pub fn container_dirs(env: &Env) -> Vec<String> {
    match std::fs::read_dir(env.root.join("containers")) {
        Ok(rd) => {
            rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect()
        }
        Err(_) => Vec::new(),
    }
}

/// Lines of `s` as a set-like Vec for contains checks.
pub fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim_end).collect()
}
