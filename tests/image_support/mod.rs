//! Helpers shared by the image tests: loading fixtures, reading records, listing a root.
#![allow(dead_code)]

use crate::common::{Env, fixture};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `minirun load -i <fixture> ARGS…`, asserting success; returns stdout.
#[track_caller]
pub fn load(env: &Env, name: &str, args: &[&str]) -> String {
    let p = fixture(name);
    let mut a = vec!["load", "-i", p.to_str().unwrap()];
    a.extend_from_slice(args);
    env.ok(&a)
}

/// `minirun image inspect NAME` parsed: the first element.
#[track_caller]
pub fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let out = env.ok(&["image", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// The layer directories (`layers/<hex>`) currently in the store.
pub fn layer_dirs(env: &Env) -> BTreeSet<String> {
    std::fs::read_dir(env.root.join("layers"))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != "l").collect())
        .unwrap_or_default()
}

/// Number of links in `layers/l`.
pub fn link_count(env: &Env) -> usize {
    std::fs::read_dir(env.root.join("layers/l")).map(|rd| rd.count()).unwrap_or(0)
}

/// `layers/<chain-hex>/diff` of an image's layer `i` (from inspect).
pub fn diff_dir(env: &Env, image: &str, i: usize) -> PathBuf {
    let v = inspect(env, image);
    let chain = v["layers"][i]["chain_id"].as_str().unwrap();
    env.root.join("layers").join(&chain[7..]).join("diff")
}

/// Every path under `root` with its type, owner and size: the whole state to compare.
pub fn listing(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(base: &Path, p: &Path, out: &mut BTreeSet<String>) {
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return;
        };
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let kind = if md.is_dir() {
            "d"
        } else if md.file_type().is_symlink() {
            "l"
        } else {
            "f"
        };
        let size = if md.is_file() { md.len() } else { 0 };
        out.insert(format!("{rel} {kind} {}:{} {size}", md.uid(), md.gid()));
        if md.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(base, &e.path(), out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}
