//! `minirun volume …` through the real binary, as root and rootless.
mod common;

use common::Env;
use std::os::unix::fs::MetadataExt;

fn mark_in_use(env: &Env, id: &str, vols: &[&str]) {
    let dir = env.root.join("containers").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("container.json"), serde_json::json!({ "id": id, "volumes": vols }).to_string()).unwrap();
    if env.rootless {
        for p in [env.root.join("containers"), dir.clone(), dir.join("container.json")] {
            std::os::unix::fs::chown(p, Some(env.uid), Some(env.gid)).unwrap();
        }
    }
}

#[test]
fn volume_lifecycle() {
    for env in Env::both() {
        assert_eq!(env.ok(&["volume", "create", "db"]).trim(), "db");
        assert_eq!(env.ok(&["volume", "create", "db"]).trim(), "db", "create is idempotent");
        let anon = env.ok(&["volume", "create"]).trim().to_string();
        assert_eq!(anon.len(), 64);
        assert!(anon.chars().all(|c| c.is_ascii_hexdigit()));

        let ls = env.ok(&["volume", "ls", "-q"]);
        let mut names: Vec<&str> = ls.lines().collect();
        names.sort();
        let mut want = vec!["db", anon.as_str()];
        want.sort();
        assert_eq!(names, want);
        assert!(env.ok(&["volume", "ls"]).contains("local     db"));

        let js: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "inspect", "db"])).unwrap();
        let v = &js[0];
        assert_eq!(v["Name"], "db");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Scope"], "local");
        let mp = v["Mountpoint"].as_str().unwrap();
        assert_eq!(mp, env.root.join("volumes/db/_data").to_str().unwrap());
        assert!(std::path::Path::new(mp).is_dir());
        if env.rootless {
            let md = std::fs::metadata(mp).unwrap();
            assert_eq!(md.uid(), env.uid, "rootless volume data owned by the user (root in its namespace)");
        }
        let ls: serde_json::Value = serde_json::from_str(&env.ok(&["volume", "ls", "--format", "json"])).unwrap();
        assert_eq!(ls.as_array().unwrap().len(), 2);

        // Bad input: clear errors, exit 125, nothing created.
        let e = env.fails(125, &["volume", "create", "bad/name"]);
        assert!(e.contains("invalid volume name"), "{e}");
        let e = env.fails(125, &["volume", "inspect", "nope"]);
        assert!(e.contains("no such volume: nope"), "{e}");
        let e = env.fails(125, &["volume", "rm", "nope"]);
        assert!(e.contains("no such volume: nope"), "{e}");
        env.ok(&["volume", "rm", "-f", "nope"]);

        // In use: rm and prune refuse/skip it.
        std::fs::write(std::path::Path::new(mp).join("data"), "keep").ok();
        mark_in_use(&env, "c0ffee", &["db"]);
        let e = env.fails(125, &["volume", "rm", "db"]);
        assert!(e.contains("in use") && e.contains("c0ffee"), "{e}");
        let e = env.fails(125, &["volume", "rm", "-f", "db"]);
        assert!(e.contains("in use"), "{e}");
        let pr = env.ok(&["volume", "prune", "-f"]);
        assert!(pr.contains(&anon) && !pr.contains("db\n"), "{pr}");
        assert_eq!(env.ok(&["volume", "ls", "-q"]).trim(), "db");

        std::fs::remove_dir_all(env.root.join("containers/c0ffee")).unwrap();
        assert_eq!(env.ok(&["volume", "rm", "db"]).trim(), "db");
        assert_eq!(env.ok(&["volume", "ls", "-q"]).trim(), "");
        assert!(!env.root.join("volumes/db").exists());
    }
}

#[test]
fn copy_into_volume_preserves_files() {
    use minirun::volume::{VolumeStore, copy_into_volume};
    let base = tempfile::Builder::new().prefix("minirun-vol-").tempdir_in("/tmp").unwrap();
    let paths = minirun::paths::Paths { data: base.path().join("data"), run: base.path().join("run") };
    let store = VolumeStore::open(&paths).unwrap();
    let v = store.create(Some("v1"), false).unwrap();
    assert!(store.is_empty(&v).unwrap());
    let src = base.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/f"), "data").unwrap();
    std::os::unix::fs::symlink("sub/f", src.join("link")).unwrap();
    std::os::unix::fs::chown(src.join("sub/f"), Some(999), Some(998)).unwrap();
    std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    minirun::storage::vfs::set_xattr(&src.join("sub/f"), "user.test", b"1").unwrap();
    copy_into_volume(&src, &v).unwrap();
    let d = &v.mountpoint;
    assert_eq!(std::fs::read_to_string(d.join("sub/f")).unwrap(), "data");
    assert_eq!(std::fs::read_link(d.join("link")).unwrap().to_str(), Some("sub/f"));
    let md = std::fs::metadata(d.join("sub/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (999, 998));
    assert_eq!(std::fs::metadata(d).unwrap().mode() & 0o7777, 0o1777);
    assert_eq!(minirun::storage::vfs::get_xattr(&d.join("sub/f"), "user.test").as_deref(), Some(&b"1"[..]));
    assert!(!store.is_empty(&v).unwrap());
    store.chown_for(&v, 1234, 1234).unwrap();
    assert_eq!(std::fs::metadata(d).unwrap().uid(), 1234);
}

#[test]
fn resolve_mounts_creates_volumes_on_first_use() {
    use minirun::mountspec::{parse_mount_flag, parse_volume_flag};
    use minirun::spec::{ResolvedMount, resolve_mounts};
    use minirun::volume::VolumeStore;
    let base = tempfile::Builder::new().prefix("minirun-vol-").tempdir_in("/tmp").unwrap();
    let paths = minirun::paths::Paths { data: base.path().join("data"), run: base.path().join("run") };
    let store = VolumeStore::open(&paths).unwrap();
    let reqs = vec![
        parse_volume_flag("db:/var/lib/db:ro").unwrap(),
        parse_mount_flag("type=volume,dst=/anon,volume-nocopy").unwrap(),
        parse_mount_flag("type=bind,src=/tmp,dst=/h").unwrap(),
    ];
    let (mounts, uses) = resolve_mounts(&reqs, &["/cache".into(), "/h".into()], &store).unwrap();
    assert_eq!(mounts.len(), 4);
    assert_eq!(
        mounts[0],
        ResolvedMount::Bind {
            src: paths.volumes().join("db/_data"),
            dst: "/var/lib/db".into(),
            readonly: true,
            propagation: None
        }
    );
    assert_eq!(uses.len(), 3);
    assert!(uses[0].copy_up && !uses[0].volume.anonymous);
    assert!(!uses[1].copy_up && uses[1].volume.anonymous);
    assert_eq!(uses[2].dst, std::path::PathBuf::from("/cache"));
    assert_eq!(store.list().unwrap().len(), 3);
    // A bad set creates nothing.
    let dup = vec![parse_volume_flag("other:/x").unwrap(), parse_volume_flag("/x").unwrap()];
    assert!(resolve_mounts(&dup, &[], &store).is_err());
    assert!(store.get("other").unwrap().is_none());
}
