//! Namespaces, joining by path, hooks, console socket, fd hygiene, /proc/PID/exe,
//! pause/resume: through the real binary, as root and rootless.
mod common;
mod oci_support;

use common::Env;
use oci_support::*;
use serde_json::json;
use std::os::fd::AsRawFd;

fn host_ns(name: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_namespace_is_new() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        edit(&dir, |v| {
            v["hostname"] = json!("inside");
            v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
        });
        set_args(
            &dir,
            "echo $$; hostname; cat /proc/self/uid_map; for n in ipc mnt net uts cgroup pid user; do readlink /proc/self/ns/$n; done; \
             cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
        );
        let (code, out, err) = text(&env.run(&["oci", "run", "--bundle", dir.to_str().unwrap(), "n1"]));
        assert_eq!(code, 0, "[{}] {err}", env.label());
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l[0], "1", "[{}] pid ns: {out}", env.label());
        assert_eq!(l[1], "inside", "uts ns");
        let map: Vec<&str> = l[2].split_whitespace().collect();
        if env.rootless {
            assert_eq!(map, ["0", &env.uid.to_string(), "1"], "user ns map");
        }
        for (i, n) in ["ipc", "mnt", "net", "uts", "cgroup", "pid"].iter().enumerate() {
            assert_ne!(l[3 + i], host_ns(n), "[{}] {n} namespace shared with the host", env.label());
        }
        if env.rootless {
            assert_ne!(l[9], host_ns("user"));
        }
        assert_eq!(&l[10..], ["lo"], "[{}] net ns has only lo: {out}", env.label());
        // The hostname of the host is untouched.
        assert_ne!(nix::unistd::gethostname().unwrap().to_string_lossy(), "inside");
    }
}

#[test]
fn joining_namespaces_by_path() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let a = bundle(&env, "a");
        edit(&a, |v| v["hostname"] = json!("alpha"));
        set_args(&a, "exec sleep 1000");
        create(&env, &a, "ja", &[]);
        env.ok(&["oci", "start", "ja"]);
        let pid = state(&env, "ja")["pid"].as_i64().unwrap();
        let b = bundle(&env, "b");
        edit(&b, |v| {
            v.as_object_mut().unwrap().remove("hostname");
            let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "uts" && n["type"] != "user");
            ns.push(json!({"type": "uts", "path": format!("/proc/{pid}/ns/uts")}));
            if env.rootless {
                ns.push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
            }
        });
        set_args(&b, "hostname; readlink /proc/self/ns/uts");
        let (code, out, err) = text(&env.run(&["oci", "run", "--bundle", b.to_str().unwrap(), "jb"]));
        assert_eq!(code, 0, "[{}] {err}", env.label());
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l[0], "alpha", "[{}] {out}", env.label());
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
        assert_eq!(l[1], theirs.to_string_lossy());
        force_delete(&env, "ja");
    }
}

#[test]
fn hooks_get_the_state_on_stdin() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        let marks = env.scratch("marks");
        set_args(&dir, "exec sleep 1000");
        let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}.json", marks.display())]});
        edit(&dir, |v| {
            v["hooks"] = json!({
                "prestart": [hook("prestart")],
                "createRuntime": [hook("createRuntime")],
                "poststart": [hook("poststart")],
                "poststop": [hook("poststop")],
                // Runs inside the container: its path and the marker path are the container's.
                "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /mark/createContainer.json"]}],
            });
            v["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/mark", "type": "bind", "source": marks, "options": ["rbind"]}));
        });
        create(&env, &dir, "h1", &[]);
        for h in ["prestart", "createRuntime", "createContainer"] {
            let j: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(marks.join(format!("{h}.json"))).unwrap()).unwrap();
            assert_eq!(j["id"], "h1", "{h}");
            assert!(j["pid"].as_i64().unwrap() > 0);
            assert_eq!(j["bundle"], dir.to_str().unwrap());
        }
        assert!(!marks.join("poststart.json").exists());
        env.ok(&["oci", "start", "h1"]);
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(marks.join("poststart.json")).unwrap()).unwrap();
        assert_eq!(j["status"], "running");
        assert!(!marks.join("poststop.json").exists());
        force_delete(&env, "h1");
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(marks.join("poststop.json")).unwrap()).unwrap();
        assert_eq!(j["status"], "stopped");
        // A failing prestart hook fails create and leaves nothing.
        edit(&dir, |v| v["hooks"] = json!({"prestart": [{"path": "/bin/false"}]}));
        let (code, err) = detached(&env, &dir, "h2", &["oci", "create", "--bundle", dir.to_str().unwrap(), "h2"]);
        assert_eq!(code, 1);
        assert!(err.contains("prestart hook /bin/false failed"), "{err}");
        env.fails(1, &["oci", "state", "h2"]);
    }
}

#[test]
fn no_runtime_fd_and_no_runtime_binary_in_the_container() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(
            &dir,
            "ls /proc/self/fd | tr '\\n' ' '; echo; for p in /proc/[0-9]*; do readlink $p/exe; done; \
             if echo x > /proc/1/exe; then echo WROTE; fi",
        );
        let (code, out, err) = text(&env.run(&["oci", "run", "--bundle", dir.to_str().unwrap(), "f1"]));
        assert_eq!(code, 0, "[{}] {err}", env.label());
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l[0].trim(), "0 1 2 3", "[{}] fds: {out}", env.label());
        assert!(!out.contains("minirun"), "[{}] a runtime process is visible: {out}", env.label());
        assert!(!out.contains("WROTE"), "/proc/1/exe was writable");
    }
}

/// Accept one connection on `sock` and take the fd sent with SCM_RIGHTS.
fn receive_fd(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and belongs to us.
            return unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

#[test]
fn console_socket_receives_the_pty_master() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        edit(&dir, |v| v["process"]["terminal"] = json!(true));
        set_args(&dir, "tty; echo hello-tty");
        let sock = dir.join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let mut child = env
            .command(&[
                "oci",
                "create",
                "--bundle",
                dir.to_str().unwrap(),
                "--console-socket",
                sock.to_str().unwrap(),
                "t1",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let master = receive_fd(&listener);
        assert!(child.wait().unwrap().success());
        env.ok(&["oci", "start", "t1"]);
        let mut out = Vec::new();
        let mut f = std::fs::File::from(master);
        // Reading a pty master ends with EIO once the slave side is closed.
        let _ = std::io::Read::read_to_end(&mut f, &mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("/dev/pts/"), "[{}] {out}", env.label());
        assert!(out.contains("hello-tty"), "[{}] {out}", env.label());
        force_delete(&env, "t1");
        // A terminal without a console socket is a clear error.
        let err = env.fails(1, &["oci", "create", "--bundle", dir.to_str().unwrap(), "t2"]);
        assert!(err.contains("--console-socket"), "{err}");
    }
}

#[test]
fn pause_and_resume() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "exec sleep 1000");
        create(&env, &dir, "z1", &[]);
        env.ok(&["oci", "start", "z1"]);
        if env.rootless {
            let err = env.fails(1, &["oci", "pause", "z1"]);
            assert!(err.contains("pause needs a writable freezer cgroup"), "{err}");
        } else {
            env.ok(&["oci", "pause", "z1"]);
            assert_eq!(state(&env, "z1")["status"], "paused");
            env.ok(&["oci", "resume", "z1"]);
            assert_eq!(state(&env, "z1")["status"], "running");
            env.ok(&["oci", "pause", "z1"]);
        }
        // delete --force also works on a paused container.
        force_delete(&env, "z1");
        let left = std::fs::read_dir("/sys/fs/cgroup/freezer/minirun")
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("z1-")).count())
            .unwrap_or(0);
        assert_eq!(left, 0, "freezer cgroup left behind");
    }
}

#[test]
fn user_namespace_with_several_ranges() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        let (u, g) = if env.rootless { (env.uid, env.gid) } else { (200000, 200000) };
        edit(&dir, |v| {
            v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": u, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}]);
            v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": g, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}]);
            let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
            if !ns.iter().any(|n| n["type"] == "user") {
                ns.push(json!({"type": "user"}));
            }
        });
        set_args(&dir, "cat /proc/self/uid_map /proc/self/gid_map");
        let (code, out, err) = text(&env.run(&["oci", "run", "--bundle", dir.to_str().unwrap(), "u1"]));
        assert_eq!(code, 0, "[{}] {err}", env.label());
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 4, "[{}] {out}", env.label());
        assert_eq!(rows[0], ["0", &u.to_string(), "1"]);
        assert_eq!(rows[1], ["1", "100000", "65536"]);
    }
}

#[test]
fn preserve_fds_passes_extra_fds_and_only_those() {
    use std::os::unix::process::CommandExt;
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "ls /proc/self/fd | tr '\\n' ' '; cat <&3");
        let data = dir.join("passed.txt");
        std::fs::write(&data, "via-fd-3").unwrap();
        for (flag, want) in [(true, "0 1 2 3 4"), (false, "0 1 2 3")] {
            let f = std::fs::File::open(&data).unwrap();
            let raw = f.as_raw_fd();
            let mut args = vec!["oci", "run", "--bundle", dir.to_str().unwrap()];
            if flag {
                args.extend(["--preserve-fds", "1"]);
            }
            args.push("pf");
            let mut c = env.command(&args);
            // SAFETY: dup2 only, between fork and exec.
            unsafe {
                c.pre_exec(move || {
                    // dup2 onto itself would keep O_CLOEXEC: clear it explicitly.
                    if (raw != 3 && libc::dup2(raw, 3) < 0) || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let (_, out, err) = text(&c.output().unwrap());
            assert!(out.starts_with(want), "[{}] preserve={flag}: {out} {err}", env.label());
            assert_eq!(out.contains("via-fd-3"), flag, "[{}] {out}", env.label());
        }
    }
}
