//! Helpers of the oci_* tests: bundles from the fixture rootfs, config edits, and
//! running `create`/`run --detach` with output going to files (a created container
//! keeps the stdio it was given, so piping it would never reach EOF).
#![allow(dead_code)]

use crate::common::{self, Env};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// A bundle in a scratch directory of `env`: the fixture rootfs and the config
/// `oci spec [--rootless]` writes, with terminal off and a network namespace.
pub fn bundle(env: &Env, name: &str) -> PathBuf {
    let dir = spec_bundle(env, name);
    edit(&dir, |v| {
        v["process"]["terminal"] = json!(false);
        let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
        if !ns.iter().any(|n| n["type"] == "network") {
            ns.push(json!({"type": "network"}));
        }
    });
    dir
}

/// A bundle with the fixture rootfs (owned by the test user when rootless) and the
/// config exactly as `oci spec [--rootless]` writes it.
pub fn spec_bundle(env: &Env, name: &str) -> PathBuf {
    let dir = env.scratch(name);
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(common::fixture("rootfs"))
        .arg(dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    if env.rootless {
        let st = std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", env.uid, env.gid))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut args = vec!["oci", "spec", "--bundle", dir.to_str().unwrap()];
    if env.rootless {
        args.insert(2, "--rootless");
    }
    env.ok(&args);
    dir
}

pub fn edit(dir: &Path, f: impl FnOnce(&mut Value)) {
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

pub fn set_args(dir: &Path, script: &str) {
    edit(dir, |v| v["process"]["args"] = json!(["sh", "-c", script]));
}

pub fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run a minirun command whose children may outlive it: stdout/stderr go to files in
/// `dir` (`<tag>.out`, `<tag>.err`); returns (exit code, stderr).
pub fn detached(env: &Env, dir: &Path, tag: &str, args: &[&str]) -> (i32, String) {
    let out = std::fs::File::create(dir.join(format!("{tag}.out"))).unwrap();
    let err = std::fs::File::create(dir.join(format!("{tag}.err"))).unwrap();
    let st = env.command(args).stdout(Stdio::from(out)).stderr(Stdio::from(err)).status().unwrap();
    (st.code().unwrap_or(-1), std::fs::read_to_string(dir.join(format!("{tag}.err"))).unwrap())
}

/// `oci create --bundle dir ID`, asserting success.
#[track_caller]
pub fn create(env: &Env, dir: &Path, id: &str, extra: &[&str]) {
    let mut args = vec!["oci", "create", "--bundle", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(id);
    let (code, err) = detached(env, dir, id, &args);
    assert_eq!(code, 0, "[{}] create {id}: {err}", env.label());
}

/// The `state` JSON of `id`.
#[track_caller]
pub fn state(env: &Env, id: &str) -> Value {
    serde_json::from_str(&env.ok(&["oci", "state", id])).unwrap()
}

/// Wait (bounded by a count, not a clock) until `path` has content.
pub fn wait_file(path: &Path) -> String {
    for _ in 0..2000 {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.is_empty()
        {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("{} never got content", path.display());
}

/// Remove a container whatever its state.
pub fn force_delete(env: &Env, id: &str) {
    env.ok(&["oci", "delete", "--force", id]);
}

/// On drop (also when a test fails), delete --force every container of `env`, so no
/// container process outlives its test.
pub struct Sweep<'a>(pub &'a Env);

impl Drop for Sweep<'_> {
    fn drop(&mut self) {
        let out = self.0.run(&["oci", "list", "-q"]);
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = self.0.run(&["oci", "delete", "--force", id]);
        }
    }
}
