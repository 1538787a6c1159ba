//! Mounts of high-level containers, root and rootless: bind mounts, read-only
//! mounts, tmpfs, named / anonymous / image-declared volumes, copy-up, `rm -v`,
//! `volume rm` of a volume in use, and bad inputs that create nothing.
mod common;
mod containers_support;

use common::Env;
use containers_support::*;

#[test]
fn bind_and_readonly_mounts() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        let host = env.scratch("bind");
        std::fs::write(host.join("host.txt"), "from-host\n").unwrap();
        if env.rootless {
            std::os::unix::fs::chown(host.join("host.txt"), Some(env.uid), Some(env.gid)).unwrap();
        }
        let h = host.display().to_string();

        // -v and --mount type=bind read and write the host directory.
        let out = d.ok(&[
            "run",
            "--rm",
            "-v",
            &format!("{h}:/mnt"),
            "base",
            "sh",
            "-c",
            "cat /mnt/host.txt; echo from-ctr > /mnt/ctr.txt",
        ]);
        assert_eq!(out, "from-host\n", "[{l}]");
        assert_eq!(std::fs::read_to_string(host.join("ctr.txt")).unwrap(), "from-ctr\n", "[{l}]");
        if env.rootless {
            let md = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(host.join("ctr.txt")).unwrap());
            assert_eq!(md, env.uid, "[{l}] the container's root writes as the user");
        }
        let m = format!("type=bind,source={h},target=/m2");
        assert_eq!(d.ok(&["run", "--rm", "--mount", &m, "base", "cat", "/m2/ctr.txt"]), "from-ctr\n", "[{l}]");

        // Read-only: -v …:ro, --mount …,readonly, on binds and volumes.
        let try_write = "echo x > /ro/new && echo wrote || echo refused";
        for spec in [
            vec!["-v".to_string(), format!("{h}:/ro:ro")],
            vec!["--mount".into(), format!("type=bind,src={h},dst=/ro,readonly")],
            vec!["-v".into(), "rovol:/ro:ro".into()],
            vec!["--mount".into(), "type=volume,src=rovol,dst=/ro,ro".into()],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend(spec.iter().map(String::as_str));
            args.extend(["base", "sh", "-c", try_write]);
            assert_eq!(d.ok(&args), "refused\n", "[{l}] {spec:?} must refuse writes");
        }
        assert!(!host.join("new").exists(), "[{l}]");
        assert!(!env.root.join("volumes/rovol/_data/new").exists(), "[{l}]");

        // tmpfs: empty in each container, a tmpfs in /proc/mounts, sizes and modes applied.
        let probe = "ls -A /scratch | wc -l; touch /scratch/x; grep ' /scratch ' /proc/mounts | cut -d' ' -f1,3";
        for _ in 0..2 {
            assert_eq!(
                d.ok(&["run", "--rm", "--tmpfs", "/scratch", "base", "sh", "-c", probe]),
                "0\ntmpfs tmpfs\n",
                "[{l}]"
            );
        }
        let out = d.ok(&[
            "run",
            "--rm",
            "--tmpfs",
            "/p:size=1m",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=2m,tmpfs-mode=1770",
            "base",
            "sh",
            "-c",
            "grep ' /p ' /proc/mounts; grep ' /t ' /proc/mounts; stat -c %a /t",
        ]);
        assert!(out.contains("size=1024k"), "[{l}] --tmpfs size: {out}");
        assert!(out.contains("size=2048k"), "[{l}] tmpfs-size: {out}");
        assert!(out.ends_with("1770\n"), "[{l}] tmpfs-mode: {out}");

        d.ok(&["volume", "rm", "rovol"]);
        assert!(container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}

#[test]
fn volumes_named_anonymous_and_copy_up() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base", "config"]);

        // An empty named volume is filled with the image's files at its destination...
        assert_eq!(d.ok(&["run", "--rm", "-v", "etcvol:/etc", "base", "cat", "/etc/motd"]), "minirun fixture motd\n");
        assert_eq!(
            std::fs::read_to_string(env.root.join("volumes/etcvol/_data/motd")).unwrap(),
            "minirun fixture motd\n",
            "[{l}] copy-up"
        );
        // ...once: what the container changes there stays.
        d.ok(&["run", "--rm", "-v", "etcvol:/etc", "base", "sh", "-c", "echo mine > /etc/motd"]);
        assert_eq!(d.ok(&["run", "--rm", "-v", "etcvol:/etc", "base", "cat", "/etc/motd"]), "mine\n", "[{l}]");
        // volume-nocopy leaves it empty.
        let out = d.ok(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=nocp,dst=/opt/dir,volume-nocopy",
            "base",
            "sh",
            "-c",
            "ls -A /opt/dir | wc -l",
        ]);
        assert_eq!(out, "0\n", "[{l}] volume-nocopy");
        assert_eq!(std::fs::read_dir(env.root.join("volumes/nocp/_data")).unwrap().count(), 0, "[{l}]");

        // A non-root image user can write a new volume.
        let out =
            d.ok(&["run", "--rm", "-u", "app", "-v", "appvol:/data", "base", "sh", "-c", "echo x > /data/f && id -u"]);
        assert_eq!(out, "999\n", "[{l}] user app writes its volume");

        // Anonymous volumes (-v /dst, --mount without src, image VOLUME) go with rm -v only.
        let before = volumes(&d);
        d.ok(&[
            "create",
            "--name",
            "anon",
            "-v",
            "/anon1",
            "--mount",
            "type=volume,dst=/anon2",
            "-v",
            "named:/named",
            "base",
            "true",
        ]);
        d.ok(&["create", "--name", "other", "-v", "/keepanon", "base", "true"]);
        d.ok(&["create", "--name", "cfg", "config"]);
        let mounts = d.inspect("anon")["Mounts"].clone();
        let anon_names: Vec<String> = mounts
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["Anonymous"] == true)
            .map(|m| m["Name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(anon_names.len(), 2, "[{l}] two anonymous volumes: {mounts}");
        for n in &anon_names {
            assert_eq!(n.len(), 64, "[{l}] anonymous names are 64 hex digits");
        }
        let cfg_mounts = d.inspect("cfg")["Mounts"].clone();
        let data = cfg_mounts.as_array().unwrap().iter().find(|m| m["Destination"] == "/data");
        assert!(
            data.is_some_and(|m| m["Type"] == "volume" && m["Anonymous"] == true),
            "[{l}] the image's VOLUME /data gets an anonymous volume: {cfg_mounts}"
        );
        let cfg_vol = data.unwrap()["Name"].as_str().unwrap().to_string();

        // volume rm refuses a volume in use.
        let err = d.fails(125, &["volume", "rm", "named"]);
        assert!(err.contains("in use"), "[{l}] {err}");
        assert!(volumes(&d).contains(&"named".to_string()));

        d.ok(&["rm", "-v", "anon"]);
        let now = volumes(&d);
        for n in &anon_names {
            assert!(!now.contains(n), "[{l}] rm -v keeps anonymous volume {n}");
        }
        assert!(now.contains(&"named".to_string()), "[{l}] rm -v removed a named volume");
        assert!(now.contains(&cfg_vol), "[{l}] rm -v removed another container's volume");
        assert_eq!(now.len(), before.len() + 3, "[{l}] named + other's + cfg's: {now:?}");
        d.ok(&["rm", "cfg"]);
        assert!(volumes(&d).contains(&cfg_vol), "[{l}] rm without -v keeps anonymous volumes");
        d.ok(&["rm", "-v", "other"]);
        d.ok(&["volume", "rm", "named", &cfg_vol]);
        d.ok(&["volume", "prune", "-f"]);
        assert!(volumes(&d).is_empty(), "[{l}] {:?}", volumes(&d));
        assert!(container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}

#[test]
fn bad_inputs_create_nothing() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        let cases: &[(&[&str], &str)] = &[
            (&["-v", "/nonexistent/src:/x", "-v", "bv:/v"], "/nonexistent/src"),
            (&["-v", "bv:relative"], "relative"),
            (&["-v", "bv:/a/../b"], "/a/../b"),
            (&["--mount", "type=nfs,dst=/x"], "nfs"),
            (&["--mount", "type=volume,src=bv,dst=/x,colour=red"], "colour"),
            (&["-v", "bv:/same", "--tmpfs", "/same"], "/same"),
            (&["-v", "bv:/v", "--tmpfs", "/t:size=lots"], "lots"),
            (&["-v", "bv:/v", "--mount", "type=tmpfs,dst=/t,tmpfs-mode=99z"], "99z"),
            (&["-v", "bv:/v", "-u", "nosuchuser"], "nosuchuser"),
        ];
        for (flags, needle) in cases {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(flags);
            args.extend(["base", "true"]);
            let err = d.fails(125, &args);
            assert!(err.contains(needle), "[{l}] {flags:?}: error must name {needle:?}: {err}");
            assert!(container_dirs(&env).is_empty(), "[{l}] {flags:?} left a container");
            assert!(volumes(&d).is_empty(), "[{l}] {flags:?} left a volume: {:?}", volumes(&d));
        }
        let err = d.fails(125, &["run", "-v", "bv:/v", "no-such-image", "true"]);
        assert!(err.contains("no-such-image"), "[{l}] {err}");
        assert!(volumes(&d).is_empty() && container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}

/// A symlink the container planted where a mount goes never sends the mount out of
/// the rootfs: the host directory it points to stays empty.
#[test]
fn symlink_at_destination_stays_inside() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        let target = env.scratch("escape-target");
        let t = target.display().to_string();
        let script = format!(
            "if [ -L /data ]; then grep -c ' {t}/sub/esc ' /proc/mounts; else mv /data /data.old && ln -s {t} /data && \
             echo planted; fi"
        );
        d.ok(&["create", "--name", "sl", "-v", "escvol:/data/sub/esc", "base", "sh", "-c", &script]);
        assert_eq!(d.ok(&["start", "-a", "sl"]), "planted\n", "[{l}]");
        // Second start: the destination now goes through the symlink, resolved in the rootfs.
        assert_eq!(d.ok(&["start", "-a", "sl"]), "1\n", "[{l}]");
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "[{l}] the mount escaped into {t}");
        d.ok(&["rm", "-v", "sl"]);
        d.ok(&["volume", "rm", "escvol"]);
        assert_no_processes(&env);
    }
}
