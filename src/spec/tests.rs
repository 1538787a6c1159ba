use super::*;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:999:998:app:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\napp:x:998:\naudio:x:29:app\n";

fn files(p: &str) -> Option<String> {
    match p {
        "/etc/passwd" => Some(PASSWD.into()),
        "/etc/group" => Some(GROUP.into()),
        _ => None,
    }
}

fn cfg(j: Value) -> ImageConfig {
    serde_json::from_value(j).unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn spec_json(req: &RunRequest) -> Value {
    serde_json::to_value(build_spec(req, Path::new("/rootfs"), &files).unwrap()).unwrap()
}

#[test]
fn args_follow_docker_rules() {
    let c = cfg(json!({"Entrypoint": ["/bin/ep"], "Cmd": ["default"]}));
    let c = Some(&c);
    assert_eq!(process_args(c, &None, &[]).unwrap(), s(&["/bin/ep", "default"]));
    assert_eq!(process_args(c, &None, &s(&["x"])).unwrap(), s(&["/bin/ep", "x"]));
    assert_eq!(process_args(c, &Some(s(&["/bin/sh"])), &[]).unwrap(), s(&["/bin/sh"]));
    assert_eq!(process_args(c, &Some(s(&["/bin/sh"])), &s(&["-c", "id"])).unwrap(), s(&["/bin/sh", "-c", "id"]));
    assert_eq!(process_args(c, &Some(vec![]), &s(&["ls"])).unwrap(), s(&["ls"]));
    let e = process_args(c, &Some(vec![]), &[]).unwrap_err().to_string();
    assert!(e.contains("no command specified"), "{e}");
    let e = process_args(None, &None, &[]).unwrap_err().to_string();
    assert!(e.contains("no command specified"), "{e}");
    let only_cmd = cfg(json!({"Cmd": ["/bin/sh"]}));
    assert_eq!(process_args(Some(&only_cmd), &None, &s(&["echo", "hi"])).unwrap(), s(&["echo", "hi"]));
}

#[test]
fn env_merging() {
    let c = cfg(json!({"Env": ["A=1", "B=2"]}));
    let env = process_env(Some(&c), &s(&["B=3", "C=4"]), "h1", "/root", true);
    assert_eq!(
        env,
        s(&[&format!("PATH={DEFAULT_PATH}"), "HOSTNAME=h1", "A=1", "B=3", "C=4", "TERM=xterm", "HOME=/root"])
    );
    let c = cfg(json!({"Env": ["PATH=/x", "HOME=/h"]}));
    let env = process_env(Some(&c), &s(&["TERM=dumb"]), "h", "/root", true);
    assert_eq!(env, s(&["HOSTNAME=h", "PATH=/x", "HOME=/h", "TERM=dumb"]));
    assert!(!process_env(None, &[], "h", "/", false).iter().any(|e| e.starts_with("TERM=")));
}

#[test]
fn users_and_groups() {
    let r = resolve_user("", &files).unwrap();
    assert_eq!((r.uid, r.gid, r.additional_gids.clone(), r.home.as_str()), (0, 0, vec![10], "/root"));
    let r = resolve_user("app", &files).unwrap();
    assert_eq!((r.uid, r.gid, r.additional_gids.clone(), r.home.as_str()), (999, 998, vec![10, 29], "/home/app"));
    let r = resolve_user("999", &files).unwrap();
    assert_eq!((r.uid, r.gid), (999, 998));
    let r = resolve_user("app:app", &files).unwrap();
    assert_eq!((r.uid, r.gid, r.additional_gids.is_empty()), (999, 998, true));
    let r = resolve_user("999:999", &files).unwrap();
    assert_eq!((r.uid, r.gid), (999, 999));
    let r = resolve_user("app:0", &files).unwrap();
    assert_eq!((r.uid, r.gid), (999, 0));
    let r = resolve_user("1234", &files).unwrap();
    assert_eq!((r.uid, r.gid, r.home.as_str()), (1234, 0, "/"));
    let e = resolve_user("ghost", &files).unwrap_err().to_string();
    assert!(e.contains("ghost") && e.contains("/etc/passwd"), "{e}");
    let e = resolve_user("app:ghosts", &files).unwrap_err().to_string();
    assert!(e.contains("ghosts") && e.contains("/etc/group"), "{e}");
    let e = resolve_user("app", &|_| None).unwrap_err().to_string();
    assert!(e.contains("unable to find user app"), "{e}");
}

#[test]
fn full_spec() {
    let c = cfg(json!({
        "Entrypoint": ["/bin/ep"], "Cmd": ["run"], "Env": ["X=1"], "WorkingDir": "/srv",
        "User": "app", "StopSignal": "SIGQUIT", "Volumes": {"/data": {}, "/proc/x": {}, "/cache": {}}
    }));
    let req = RunRequest {
        image_config: Some(c.clone()),
        hostname: Some("box".into()),
        read_only: true,
        tty: true,
        mounts: vec![
            ResolvedMount::Bind {
                src: "/host/data".into(),
                dst: "/data".into(),
                readonly: true,
                propagation: Some(Propagation::RSlave),
            },
            ResolvedMount::Tmpfs { dst: "/dev/shm".into(), size: Some(1 << 20), mode: Some(0o1770) },
            ResolvedMount::Bind { src: "/v/_data".into(), dst: "/data/sub".into(), readonly: false, propagation: None },
        ],
        ..Default::default()
    };
    let j = spec_json(&req);
    let p = &j["process"];
    assert_eq!(p["args"], json!(["/bin/ep", "run"]));
    assert_eq!(p["cwd"], "/srv");
    assert_eq!(p["terminal"], true);
    assert_eq!(p["user"]["uid"], 999);
    assert_eq!(p["user"]["gid"], 998);
    assert_eq!(p["user"]["additionalGids"], json!([10, 29]));
    assert!(p["env"].as_array().unwrap().contains(&json!("X=1")));
    assert!(p["env"].as_array().unwrap().contains(&json!("HOSTNAME=box")));
    let caps = p["capabilities"]["bounding"].as_array().unwrap();
    assert_eq!(caps.len(), 14);
    assert!(caps.contains(&json!("CAP_NET_BIND_SERVICE")) && !caps.contains(&json!("CAP_SYS_ADMIN")));
    assert_eq!(j["root"], json!({"path": "/rootfs", "readonly": true}));
    assert_eq!(j["hostname"], "box");
    assert_eq!(j["annotations"][STOP_SIGNAL_ANNOTATION], "SIGQUIT");
    let ns: Vec<&str> =
        j["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
    assert!(!ns.contains(&"user"));
    assert!(j["linux"]["maskedPaths"].as_array().unwrap().contains(&json!("/proc/kcore")));
    assert!(j["linux"]["readonlyPaths"].as_array().unwrap().contains(&json!("/proc/sys")));
    let mounts = j["mounts"].as_array().unwrap();
    let dsts: Vec<&str> = mounts.iter().map(|m| m["destination"].as_str().unwrap()).collect();
    assert_eq!(dsts.iter().filter(|d| **d == "/dev/shm").count(), 1, "user tmpfs replaces the default /dev/shm");
    let data = dsts.iter().position(|d| *d == "/data").unwrap();
    let sub = dsts.iter().position(|d| *d == "/data/sub").unwrap();
    assert!(data < sub, "parents mount first");
    assert_eq!(mounts[data]["options"], json!(["rbind", "ro", "rslave"]));
    assert_eq!(mounts[sub]["options"], json!(["rbind", "rw", "rprivate"]));
    let shm = mounts.iter().find(|m| m["destination"] == "/dev/shm").unwrap();
    assert_eq!(shm["options"], json!(["nosuid", "nodev", "size=1048576", "mode=1770"]));
    assert!(dsts.contains(&"/proc") && dsts.contains(&"/sys") && dsts.contains(&"/dev/pts"));

    // Image volumes: /data is covered, /proc/x never, /cache needs an anonymous volume.
    let covered: Vec<PathBuf> = req.mounts.iter().map(|m| m.dst().to_path_buf()).collect();
    assert_eq!(uncovered_image_volumes(Some(&c), &covered), vec![PathBuf::from("/cache")]);
}

#[test]
fn network_modes_and_rootless_mounts() {
    let c = cfg(json!({"Cmd": ["sh"]}));
    let mut req = RunRequest { image_config: Some(c), network: Network::Host, rootless: true, ..Default::default() };
    let j = spec_json(&req);
    let ns: Vec<&str> =
        j["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert!(!ns.contains(&"network"));
    let sys = j["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").unwrap().clone();
    assert_eq!(sys["type"], "bind", "rootless with the host network binds /sys");
    assert!(!j["mounts"].as_array().unwrap().iter().any(|m| m["type"] == "cgroup"));
    req.network = Network::None;
    let j = spec_json(&req);
    assert!(j["linux"]["namespaces"].as_array().unwrap().contains(&json!({"type": "network"})));
    assert_eq!(j["process"]["cwd"], "/");
    assert_eq!(j["process"]["user"], json!({"uid": 0, "gid": 0, "additionalGids": [10]}));
    req.workdir = Some("relative".into());
    assert!(build_spec(&req, Path::new("/r"), &files).unwrap_err().to_string().contains("absolute"));
    req.workdir = None;
    req.user = Some("ghost".into());
    assert!(build_spec(&req, Path::new("/r"), &files).unwrap_err().to_string().contains("ghost"));
}
