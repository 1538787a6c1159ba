//! rmi, system df and system prune, as root and rootless.
mod common;
mod image_support;

use common::Env;
use image_support::*;

fn id_of(env: &Env, name: &str) -> String {
    inspect(env, name)["id"].as_str().unwrap().to_string()
}

/// A container record like the container store (issue 4) will write.
fn fake_container(env: &Env, name: &str, image_id: &str) {
    let d = env.root.join("containers").join(format!("{name}-id"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("container.json"), serde_json::json!({"name": name, "image_id": image_id}).to_string())
        .unwrap();
}

#[test]
fn rmi_untags_then_removes_and_keeps_shared_layers() {
    for env in Env::both() {
        load(&env, "shared-a", &[]);
        load(&env, "shared-b", &[]);
        env.ok(&["tag", "shared-a", "alias:1"]);
        assert_eq!(env.ok(&["rmi", "alias:1"]), "Untagged: alias:1\n");
        let id = id_of(&env, "shared-a");

        // By id with one name: removed with its unique layer; the shared base stays.
        env.ok(&["tag", "shared-a", "alias:2"]);
        let err = env.fails(125, &["rmi", &id[7..19]]);
        assert!(err.contains("several names") && err.contains("-f"), "{err}");
        let out = env.ok(&["rmi", "-f", &id[7..19]]);
        assert!(out.contains("Untagged: shared-a:latest") && out.contains(&format!("Deleted: {id}")), "{out}");
        assert_eq!(layer_dirs(&env).len(), 2, "[{}] the base layer is still used by shared-b", env.label());
        assert_eq!(link_count(&env), 2);
        env.ok(&["image", "inspect", "shared-b"]);

        env.ok(&["image", "rm", "shared-b"]);
        assert!(layer_dirs(&env).is_empty());
        assert_eq!(link_count(&env), 0);
        assert_eq!(std::fs::read_dir(env.root.join("images")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(env.root.join("tmp")).unwrap().count(), 0);
        let err = env.fails(125, &["rmi", "shared-b"]);
        assert!(err.contains("not found"), "{err}");
    }
}

#[test]
fn rmi_and_prune_refuse_images_used_by_containers() {
    for env in Env::both() {
        load(&env, "base", &[]);
        let id = id_of(&env, "base");
        fake_container(&env, "web", &id);
        let err = env.fails(125, &["rmi", "base"]);
        assert!(err.contains("web") && err.contains("used by container"), "{err}");
        let err = env.fails(125, &["rmi", "-f", "base"]);
        assert!(err.contains("web"), "{err}");
        env.ok(&["system", "prune", "-a", "-f"]);
        env.ok(&["image", "inspect", "base"]);
        std::fs::remove_dir_all(env.root.join("containers")).unwrap();
        env.ok(&["rmi", "base"]);
    }
}

#[test]
fn prune_removes_dangling_images_unused_layers_and_stale_staging() {
    for env in Env::both() {
        load(&env, "base", &[]);
        let old = id_of(&env, "base");
        // shared-a takes the name: the old base image is dangling (its layer is shared).
        load(&env, "shared-a", &["--tag", "base"]);
        assert_eq!(inspect(&env, &old)["names"], serde_json::json!([]));
        let table = env.ok(&["images"]);
        assert!(table.contains("<none>"), "{table}");
        // Debris: a dead import's staging dir, an orphan link.
        std::fs::create_dir_all(env.root.join("tmp/import-dead/x")).unwrap();
        std::os::unix::fs::symlink("../nothing/diff", env.root.join("layers/l/ORPHANORPHANORPHANORPHAN01")).unwrap();
        if env.rootless {
            // Debris is the user's own (the test runs as root).
            let owner = format!("{}:{}", env.uid, env.gid);
            let st = std::process::Command::new("chown")
                .args(["-hR", &owner])
                .arg(env.root.join("tmp/import-dead"))
                .arg(env.root.join("layers/l/ORPHANORPHANORPHANORPHAN01"))
                .status()
                .unwrap();
            assert!(st.success());
        }

        let err = env.fails(125, &["system", "prune"]);
        assert!(err.contains("use -f"), "{err}");
        let err = env.fails(125, &["system", "prune", "-f", "--volumes"]);
        assert!(err.contains("not supported"), "{err}");
        let out = env.ok(&["system", "prune", "-f"]);
        assert!(out.contains(&format!("deleted: {old}")), "{out}");
        assert!(out.contains("Total reclaimed space"), "{out}");
        assert_eq!(layer_dirs(&env).len(), 2, "shared-a still uses both layers");
        assert_eq!(link_count(&env), 2);
        assert_eq!(std::fs::read_dir(env.root.join("tmp")).unwrap().count(), 0);

        let df: serde_json::Value = serde_json::from_str(&env.ok(&["system", "df", "--format", "json"])).unwrap();
        assert_eq!(df["images"]["count"], 1);
        assert_eq!(df["layers"]["shared_size"], 0);
        assert_eq!(df["layers"]["unique_size"], df["layers"]["size"]);
        assert_eq!(df["containers"]["count"], 0);

        let out = env.ok(&["system", "prune", "-a", "-f"]);
        assert!(out.contains("Deleted Layers:"), "{out}");
        assert!(layer_dirs(&env).is_empty());
        assert_eq!(env.ok(&["images", "-q"]), "");
    }
}

#[test]
fn df_measures_containers_and_volumes_dirs() {
    let env = Env::root();
    std::fs::create_dir_all(env.root.join("volumes/v1/_data")).unwrap();
    std::fs::write(env.root.join("volumes/v1/_data/f"), vec![7u8; 100_000]).unwrap();
    std::fs::create_dir_all(env.root.join("containers/c1")).unwrap();
    let df: serde_json::Value = serde_json::from_str(&env.ok(&["system", "df", "--format", "json"])).unwrap();
    assert_eq!(df["volumes"]["count"], 1);
    assert!(df["volumes"]["size"].as_u64().unwrap() >= 100_000);
    assert_eq!(df["containers"]["count"], 1);
    let t = env.ok(&["system", "df"]);
    assert!(t.contains("Volumes") && t.contains("Containers"), "{t}");
}
