//! Every hostile or broken input of rootfs-fixtures/hostile/cases.json, as root and
//! rootless: exit 125 with an error naming the image and digest (or the refused
//! path), nothing outside the store touched, the store exactly as before.
mod common;
mod image_support;

use common::{Env, fixtures};
use image_support::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(serde::Deserialize, Debug)]
struct Case {
    name: String,
    path: String,
    #[serde(rename = "ref")]
    reference: String,
    must_fail: bool,
    outside: Vec<String>,
    outside_kind: String,
    max_layer_size: Option<u64>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("hostile/cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The sentinel outside the store, prepared for the case's kind.
fn prepare_outside(c: &Case) {
    for o in &c.outside {
        match c.outside_kind.as_str() {
            "create" | "read" => {
                let _ = std::fs::remove_file(o);
                let _ = std::fs::remove_dir_all(o);
            }
            "delete" => std::fs::write(o, "sentinel\n").unwrap(),
            _ => {}
        }
    }
}

fn check_outside(env: &Env, c: &Case, passwd_before: &(u64, u64, Vec<u8>)) {
    for o in &c.outside {
        let p = Path::new(o);
        match c.outside_kind.as_str() {
            "create" | "read" => {
                assert!(!p.exists(), "[{}] {}: {o} was created", env.label(), c.name)
            }
            "delete" => {
                assert_eq!(
                    std::fs::read_to_string(p).ok().as_deref(),
                    Some("sentinel\n"),
                    "[{}] {}: {o}",
                    env.label(),
                    c.name
                );
                std::fs::remove_file(p).unwrap();
            }
            "link" => {
                let md = std::fs::metadata(p).unwrap();
                assert_eq!(
                    (md.ino(), md.nlink(), std::fs::read(p).unwrap()),
                    *passwd_before,
                    "[{}] {}: {o} changed",
                    env.label(),
                    c.name
                );
            }
            _ => {}
        }
    }
    assert!(env.root.exists(), "the store itself survived");
}

fn run_case(env: &Env, c: &Case) {
    prepare_outside(c);
    let passwd = std::fs::metadata("/etc/passwd").unwrap();
    let passwd_before = (passwd.ino(), passwd.nlink(), std::fs::read("/etc/passwd").unwrap());
    let before = listing(&env.root);
    let input = fixtures().join(&c.path);
    let mut args = vec!["load".to_string(), "-i".into(), input.display().to_string()];
    let limited = c.max_layer_size.is_some();
    if limited {
        // Far below the case's own limit: the bomb must be stopped early.
        args.extend(["--max-layer-size".into(), "1m".into()]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = env.run(&a);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let failed = !o.status.success();
    if c.must_fail || limited {
        assert_eq!(o.status.code(), Some(125), "[{}] {} must fail with 125: {stderr}", env.label(), c.name);
    }
    if failed {
        assert_eq!(o.status.code(), Some(125), "[{}] {}: {stderr}", env.label(), c.name);
        // The error names what was refused: the image (or the input) and, for a
        // layer, its digest.
        assert!(
            stderr.contains(&c.reference) || stderr.contains(&c.path),
            "[{}] {}: error does not name the image: {stderr}",
            env.label(),
            c.name
        );
        if stderr.contains("layer") {
            assert!(stderr.contains("sha256:"), "[{}] {}: no digest in {stderr}", env.label(), c.name);
        }
        assert_eq!(before, listing(&env.root), "[{}] {}: the store changed after a failed load", env.label(), c.name);
    } else {
        // Accepted (traversal neutralised inside the layer): it must be a normal image.
        env.ok(&["image", "inspect", &c.reference]);
        env.ok(&["rmi", &c.reference]);
    }
    check_outside(env, c, &passwd_before);
}

#[test]
fn hostile_inputs_leave_host_and_store_untouched() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for env in Env::both() {
        load(&env, "base", &[]);
        for c in &cases {
            run_case(&env, c);
        }
        // The base image is intact and the staging area empty.
        env.ok(&["image", "inspect", "base"]);
        assert_eq!(std::fs::read_dir(env.root.join("tmp")).unwrap().count(), 0);
    }
}

#[test]
fn bomb_error_says_how_to_raise_the_limit() {
    for env in Env::both() {
        let p = fixtures().join("hostile/bomb");
        let err = env.fails(125, &["load", "-i", p.to_str().unwrap(), "--max-layer-size", "1m"]);
        assert!(err.contains("larger than the limit of 1048576 bytes") && err.contains("--max-layer-size"), "{err}");
        // The environment variable sets the same limit.
        let o = env.command(&["load", "-i", p.to_str().unwrap()]).env("MINIRUN_MAX_LAYER_SIZE", "2m").output().unwrap();
        assert_eq!(o.status.code(), Some(125), "{}", String::from_utf8_lossy(&o.stderr));
        let err = env.fails(125, &["load", "-i", p.to_str().unwrap(), "--max-layer-size", "lots"]);
        assert!(err.contains("invalid size"), "{err}");
    }
}

#[test]
fn not_an_image_and_compressed_archives_are_refused() {
    let env = Env::root();
    let dir = env.scratch("empty");
    let err = env.fails(125, &["load", "-i", dir.to_str().unwrap()]);
    assert!(err.contains("not an OCI layout, OCI archive or docker-archive"), "{err}");
    let gz = dir.join("x.tar.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    let err = env.fails(125, &["load", "-i", gz.to_str().unwrap()]);
    assert!(err.contains("compressed archive"), "{err}");
    let err = env.fails(125, &["load", "-i", "/nonexistent/x"]);
    assert!(err.contains("/nonexistent/x"), "{err}");
}
