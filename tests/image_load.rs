//! `minirun load` of every input format, layer sharing, ownership and the listing verbs,
//! as root and rootless.
mod common;
mod image_support;

use common::{Env, fixture};
use image_support::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn loads_layout_oci_archive_and_docker_archive() {
    for env in Env::both() {
        let out = load(&env, "base", &[]);
        assert_eq!(out, "Loaded image: base:latest\n", "[{}]", env.label());
        let base = inspect(&env, "base");
        let id = base["id"].as_str().unwrap().to_string();
        assert_eq!(base["layers"].as_array().unwrap().len(), 1);
        let diff = diff_dir(&env, "base", 0);
        assert_eq!(std::fs::read_to_string(diff.join("etc/hostname")).unwrap(), "fixture\n");

        // An OCI archive of the same image: same id, nothing new unpacked, extra name.
        let out = load(&env, "base.oci.tar", &["--tag", "arch:v1"]);
        assert_eq!(out, "Loaded image: arch:v1\n");
        assert_eq!(inspect(&env, "arch:v1")["id"].as_str().unwrap(), id);
        assert_eq!(layer_dirs(&env).len(), 1);

        // docker-archive: names from RepoTags, base layer shared, one new layer.
        let out = load(&env, "base.docker.tar", &[]);
        assert_eq!(out, "Loaded image: fixture/docker:latest\nLoaded image: fixture/docker:v1\n");
        let d = inspect(&env, "fixture/docker:v1");
        assert_eq!(d["layers"][0]["chain_id"], base["layers"][0]["chain_id"]);
        assert_eq!(layer_dirs(&env).len(), 2);
        assert_eq!(link_count(&env), 2);
        let top = diff_dir(&env, "fixture/docker", 1);
        assert_eq!(std::fs::read_to_string(top.join("etc/added")).unwrap(), "added\n");

        // Ids resolve by prefix and sha256: form; a name without tag means :latest.
        env.ok(&["image", "inspect", &id[7..19]]);
        env.ok(&["image", "inspect", &id]);
        let err = env.fails(125, &["image", "inspect", "nope"]);
        assert!(err.contains("\"nope\" not found"), "{err}");
    }
}

#[test]
fn second_image_unpacks_only_new_layers_and_df_counts_sharing() {
    for env in Env::both() {
        load(&env, "shared-a", &[]);
        let a = layer_dirs(&env);
        assert_eq!(a.len(), 2);
        load(&env, "shared-b", &[]);
        let b = layer_dirs(&env);
        assert_eq!(b.len(), 3, "[{}] only shared-b's top layer is new", env.label());
        assert!(a.is_subset(&b), "shared-a's layers were left untouched");
        let df: serde_json::Value = serde_json::from_str(&env.ok(&["system", "df", "--format", "json"])).unwrap();
        let base_size = inspect(&env, "shared-a")["layers"][0]["size"].as_u64().unwrap();
        assert!(base_size > 0);
        assert_eq!(df["images"]["count"], 2);
        assert_eq!(df["layers"]["count"], 3);
        assert_eq!(df["layers"]["shared_size"].as_u64().unwrap(), base_size);
        assert_eq!(df["layers"]["saved_by_sharing"].as_u64().unwrap(), base_size);
        let table = env.ok(&["system", "df"]);
        assert!(table.contains("Saved by sharing"), "{table}");
    }
}

#[test]
fn rootless_ownership_lands_on_subids() {
    for env in Env::both() {
        load(&env, "base", &[]);
        let f = diff_dir(&env, "base", 0).join("home/app/owned");
        let md = std::fs::symlink_metadata(&f).unwrap();
        // uid 999 in the image; rootless, uid 0 is the user and 1.. the subuids from 100000.
        let want = if env.rootless { 100000 + 998 } else { 999 };
        assert_eq!((md.uid(), md.gid()), (want, want), "[{}] {}", env.label(), f.display());
        assert_eq!(md.mode() & 0o7777, 0o640);
    }
}

#[test]
fn gzip_zstd_and_plain_layers_and_130_layers_with_links() {
    for env in Env::both() {
        load(&env, "compress", &["-q"]);
        let v = inspect(&env, "compress");
        let types: Vec<&str> =
            v["layers"].as_array().unwrap().iter().map(|l| l["media_type"].as_str().unwrap()).collect();
        assert!(types.iter().any(|t| t.ends_with("+zstd")) && types.iter().any(|t| t.ends_with(".tar")), "{types:?}");
        for (i, name) in [(1, "gzip"), (2, "zstd"), (3, "tar")] {
            let p = diff_dir(&env, "compress", i).join("compress").join(name);
            assert!(p.exists(), "[{}] {} missing", env.label(), p.display());
        }

        load(&env, "many", &[]);
        let v = inspect(&env, "many");
        let layers = v["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 130);
        let mut links = std::collections::HashSet::new();
        for l in layers {
            let link = l["link"].as_str().unwrap();
            assert_eq!(link.len(), 26);
            assert!(links.insert(link.to_string()), "duplicate link {link}");
            let target = env.root.join("layers/l").join(link);
            assert_eq!(
                std::fs::canonicalize(&target).unwrap(),
                std::fs::canonicalize(env.root.join("layers").join(&l["chain_id"].as_str().unwrap()[7..]).join("diff"))
                    .unwrap()
            );
        }
        assert_eq!(std::fs::read_to_string(diff_dir(&env, "many", 129).join("layers/129")).unwrap(), "129\n");
    }
}

#[test]
fn names_tags_listing_and_quiet_load() {
    for env in Env::both() {
        // Loading twice is idempotent; stderr stays quiet off a terminal.
        let o = env.run(&["load", "-i", fixture("base").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && !err.contains('\r') && !err.contains("B/s"), "no progress off a terminal: {err}");
        let before = listing(&env.root.join("layers"));
        load(&env, "base", &[]);
        assert_eq!(before, listing(&env.root.join("layers")));

        let id = inspect(&env, "base")["id"].as_str().unwrap().to_string();
        assert_eq!(load(&env, "base", &["-q"]), format!("{id}\n"));
        env.ok(&["tag", "base", "other/name:v2"]);
        env.ok(&["tag", &id[7..], "third"]);
        let err = env.fails(125, &["tag", "base", "Bad Name"]);
        assert!(err.contains("invalid"), "{err}");
        assert_eq!(
            inspect(&env, "third:latest")["names"],
            serde_json::json!(["base:latest", "other/name:v2", "third:latest"])
        );

        let table = env.ok(&["images"]);
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
            assert!(header.contains(col), "{header}");
        }
        assert_eq!(lines.clone().count(), 3);
        assert!(lines.any(|l| l.starts_with("other/name") && l.contains("v2") && l.contains(&id[7..19])), "{table}");
        assert_eq!(env.ok(&["images", "-q"]), format!("{}\n", &id[7..19]));
        assert_eq!(env.ok(&["images", "-q", "--no-trunc"]), format!("{id}\n"));
        let json: serde_json::Value = serde_json::from_str(&env.ok(&["image", "ls", "--format", "json"])).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 3);
        assert_eq!(json[0]["id"], id.as_str());

        // --tag takes a name from another image: the old one becomes dangling.
        load(&env, "shared-a", &["--tag", "base"]);
        assert_eq!(inspect(&env, &id)["names"], serde_json::json!(["other/name:v2", "third:latest"]));
        assert_ne!(inspect(&env, "base")["id"].as_str().unwrap(), id);
    }
}

#[test]
fn concurrent_imports_share_layers() {
    for env in Env::both() {
        // Two processes at once, images sharing their base layer: both succeed.
        let mut kids: Vec<_> = ["shared-a", "shared-b", "base"]
            .iter()
            .map(|f| env.command(&["load", "-i", fixture(f).to_str().unwrap()]).spawn().unwrap())
            .collect();
        for k in kids.iter_mut() {
            assert!(k.wait().unwrap().success(), "[{}] a concurrent load failed", env.label());
        }
        assert_eq!(layer_dirs(&env).len(), 3, "[{}] layers shared, not duplicated", env.label());
        assert_eq!(link_count(&env), 3);
        let tmp: Vec<_> = std::fs::read_dir(env.root.join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "staging left behind: {tmp:?}");
        env.ok(&["image", "inspect", "shared-a", "shared-b", "base"]);
    }
}

/// Mount an image's layers with kernel overlay (in a private mount namespace) and copy
/// the merged view out, so whiteouts and opaque dirs are checked as overlay reads them.
fn merged_copy(env: &Env, image: &str) -> std::path::PathBuf {
    let v = inspect(env, image);
    let mut lowers: Vec<String> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| env.root.join("layers").join(&l["chain_id"].as_str().unwrap()[7..]).join("diff").display().to_string())
        .collect();
    lowers.reverse();
    let mnt = env.scratch(&format!("mnt-{image}"));
    let out = env.scratch(&format!("merged-{image}"));
    let script = format!(
        "mount -t overlay overlay -o lowerdir={} {} && cp -a {}/. {}",
        lowers.join(":"),
        mnt.display(),
        mnt.display(),
        out.display()
    );
    let st = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .status()
        .unwrap();
    assert!(st.success(), "overlay mount of {image} failed");
    out
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_content_under_overlay() {
    let env = Env::root();
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixtures().join("images.json")).unwrap()).unwrap();
    for image in ["whiteout", "whiteout-mixed"] {
        load(&env, image, &[]);
        let merged = merged_copy(&env, image);
        let e = &expect["images"][image]["expect"];
        for (path, content) in e["files"].as_object().unwrap() {
            let got = std::fs::read_to_string(merged.join(&path[1..])).unwrap_or_default();
            assert_eq!(got, content.as_str().unwrap(), "{image}: {path}");
        }
        for path in e["absent"].as_array().unwrap() {
            let p = merged.join(&path.as_str().unwrap()[1..]);
            assert!(std::fs::symlink_metadata(&p).is_err(), "{image}: {} should be hidden", p.display());
        }
        for (dir, names) in e.get("dir_listing").and_then(|d| d.as_object()).into_iter().flatten() {
            let mut got: Vec<String> = std::fs::read_dir(merged.join(&dir[1..]))
                .unwrap()
                .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            got.sort();
            let want: Vec<String> = names.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
            assert_eq!(got, want, "{image}: listing of {dir}");
        }
    }
}
