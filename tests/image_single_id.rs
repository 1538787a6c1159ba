//! Rootless without /etc/subuid ranges: a single-id mapping, everything owned by the
//! user, a warning that says how to add ranges — and load, run, rmi still work.
mod common;

use common::{Env, NOSUB_USER, fixture};
use std::os::unix::fs::MetadataExt;

#[test]
fn single_id_fallback_warns_and_owns_everything() {
    let env = Env::rootless_as(NOSUB_USER);
    let o = env.run(&["load", "-i", fixture("base").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "load failed: {stderr}");
    assert!(stderr.contains("usermod --add-subuids"), "no hint to add ranges in: {stderr}");
    // uid 999 in the image cannot be mapped: the file belongs to the user on disk.
    let owned: Vec<_> = walk(&env.root.join("layers")).into_iter().filter(|p| p.ends_with("home/app/owned")).collect();
    assert_eq!(owned.len(), 1, "layer file not found");
    assert_eq!(std::fs::symlink_metadata(&owned[0]).unwrap().uid(), env.uid);
    // Inside, the user is root and so is everything the image holds.
    let out = env.ok(&["run", "--rm", "base", "sh", "-c", "id -u; stat -c %u /home/app/owned"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0"]);
    env.ok(&["rmi", "base"]);
    assert!(walk(&env.root.join("layers")).iter().all(|p| !p.ends_with("home/app/owned")));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}
