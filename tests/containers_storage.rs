//! Issue 4 item 8 on every storage driver, root and rootless: a named volume outlives
//! `rm`, the writable layer does not, `diff` shows it, the image layers never change,
//! two containers of one image are isolated, and the 130-layer image runs.
mod common;
mod containers_support;

use common::Env;
use containers_support::*;

fn storage_case(driver: &str) {
    for env in Env::both() {
        let d = Drv::new(&env, Some(driver));
        let l = d.label();
        load(&env, &["base", "many"]);
        let before = layers_digest(&env.root);

        // Writes to a named volume and to the writable layer (add, change, delete).
        d.ok(&[
            "run",
            "--name",
            "w1",
            "-v",
            "keep:/data",
            "base",
            "sh",
            "-c",
            "echo persisted > /data/f && echo scratch > /etc/scratch && echo more >> /etc/motd && rm /opt/dir/a",
        ]);
        let diff = d.ok(&["diff", "w1"]);
        let got = lines(&diff);
        for want in ["C /etc", "A /etc/scratch", "C /etc/motd", "C /opt/dir", "D /opt/dir/a"] {
            assert!(got.contains(&want), "[{l}] diff lacks {want:?}:\n{diff}");
        }
        assert!(!diff.contains("/data/f"), "[{l}] a volume is not part of the writable layer:\n{diff}");
        let insp = d.inspect("w1");
        assert_eq!(insp["GraphDriver"]["Name"], driver, "[{l}]");
        let upper = insp["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap().to_string();
        assert!(std::path::Path::new(&upper).join("etc/scratch").exists(), "[{l}] write not in {upper}");
        let id = insp["Id"].as_str().unwrap().to_string();

        d.ok(&["rm", "w1"]);
        assert!(!env.root.join("containers").join(&id).exists(), "[{l}] container dir survives rm");
        assert!(!std::path::Path::new(&upper).exists(), "[{l}] writable layer survives rm");
        assert_eq!(std::fs::read_to_string(env.root.join("volumes/keep/_data/f")).unwrap(), "persisted\n");
        let out = d.ok(&[
            "run",
            "--rm",
            "-v",
            "keep:/data",
            "base",
            "sh",
            "-c",
            "cat /data/f; test -e /etc/scratch && echo has-scratch || echo no-scratch; cat /etc/motd; ls /opt/dir",
        ]);
        assert_eq!(out, "persisted\nno-scratch\nminirun fixture motd\na\nb\n", "[{l}] after rm");

        // Copy-on-write isolation between two live containers of one image.
        d.ok(&["run", "-d", "--name", "a", "base", "sh", "-c", "echo mine > /etc/motd; touch /only-a; exec sleep 60"]);
        eventually("container a wrote its files", || d.run(&["exec", "a", "test", "-e", "/only-a"]).status.success());
        assert_eq!(d.ok(&["exec", "a", "cat", "/etc/motd"]), "mine\n", "[{l}]");
        let out =
            d.ok(&["run", "--rm", "base", "sh", "-c", "cat /etc/motd; test -e /only-a && echo leak || echo isolated"]);
        assert_eq!(out, "minirun fixture motd\nisolated\n", "[{l}] isolation");
        d.ok(&["rm", "-f", "a"]);

        // 130 layers (one page of mount data is not enough for their paths).
        assert_eq!(d.ok(&["run", "--rm", "many", "sh", "-c", "cat /layers/1 /layers/129"]), "1\n129\n", "[{l}]");

        d.ok(&["volume", "rm", "keep"]);
        assert_eq!(layers_digest(&env.root), before, "[{l}] image layers changed");
        assert!(container_dirs(&env).is_empty(), "[{l}] containers left: {:?}", container_dirs(&env));
        assert_no_processes(&env);
    }
}

#[test]
fn overlay_driver() {
    storage_case("overlay");
}

#[test]
fn fuse_overlayfs_driver() {
    storage_case("fuse-overlayfs");
}

#[test]
fn vfs_driver() {
    storage_case("vfs");
}

/// Two images built on one base share its layer on disk.
#[test]
fn images_share_base_layers() {
    let env = Env::root();
    load(&env, &["shared-a", "shared-b"]);
    let n = std::fs::read_dir(env.root.join("layers"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().len() == 64 && e.path().join("diff").is_dir())
        .count();
    assert_eq!(n, 3, "base layer stored once, plus one top layer per image");
    let d = Drv::new(&env, None);
    assert_eq!(d.ok(&["run", "--rm", "shared-a", "sh", "-c", "ls /a; test -e /b || echo no-b"]), "/a\nno-b\n");
}
