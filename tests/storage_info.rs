//! `minirun info` through the binary: paths, driver and why, id mappings; overrides.
mod common;

use common::Env;

#[test]
fn info_text_and_json() {
    for env in Env::both() {
        let out = env.ok(&["info"]);
        assert!(out.contains(&format!("data:           {}", env.root.display())), "{out}");
        assert!(out.contains("storage driver: overlay"), "{out}");
        let want = if env.rootless { "kernel overlay with userxattr works" } else { "kernel overlay works" };
        assert!(out.contains(want), "{out}");
        assert!(out.contains(if env.rootless { "rootless:       yes" } else { "rootless:       no" }), "{out}");
        if env.rootless {
            assert!(out.contains(&format!("uid 0 -> {} (1), 1 -> ", env.uid)), "{out}");
        }
        assert!(env.root.join("storage-driver.json").exists(), "probe result cached");

        let j: serde_json::Value = serde_json::from_str(&env.ok(&["info", "--format", "json"])).unwrap();
        assert_eq!(j["rootless"], env.rootless);
        assert_eq!(j["paths"]["volumes"], env.root.join("volumes").to_str().unwrap());
        assert_eq!(j["storage_driver"]["name"], "overlay");
        assert!(!j["kernel"].as_str().unwrap().is_empty());

        for d in ["vfs", "fuse-overlayfs"] {
            let j: serde_json::Value =
                serde_json::from_str(&env.ok(&["--storage-driver", d, "info", "--format", "json"])).unwrap();
            assert_eq!(j["storage_driver"]["name"], d);
            assert!(j["storage_driver"]["reason"].as_str().unwrap().contains("forced"));
        }
        let out = env.command(&["info"]).env("MINIRUN_STORAGE_DRIVER", "vfs").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("storage driver: vfs"));
        let e = env.fails(125, &["--storage-driver", "zfs", "info"]);
        assert!(e.contains("unknown storage driver \"zfs\"") && e.contains("overlay, fuse-overlayfs, vfs"), "{e}");
        let e = env.fails(125, &["info", "--format", "yaml"]);
        assert!(e.contains("yaml"), "{e}");
        // Probes leave nothing behind.
        assert_eq!(std::fs::read_dir(env.root.join("tmp")).map(|d| d.count()).unwrap_or(0), 0);
    }
}
