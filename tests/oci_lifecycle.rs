//! The OCI lifecycle through the real binary, as root and rootless: create → start →
//! state → kill → delete and their errors, run exit codes and signal forwarding,
//! pid files, ids, list/ps, exec, logs, recycled pids.
mod common;
mod oci_support;

use common::Env;
use oci_support::*;
use serde_json::json;

#[test]
fn create_start_state_kill_delete() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "echo started > /started; exec sleep 1000");
        let pidf = dir.join("pid");
        create(&env, &dir, "c1", &["--pid-file", pidf.to_str().unwrap()]);
        let st = state(&env, "c1");
        assert_eq!(st["status"], "created", "[{}] {st}", env.label());
        let pid_text = std::fs::read_to_string(&pidf).unwrap();
        assert!(!pid_text.ends_with('\n'), "pid file has a newline: {pid_text:?}");
        assert_eq!(pid_text.parse::<i64>().unwrap(), st["pid"].as_i64().unwrap());
        assert_eq!(st["ociVersion"], "1.0.2-dev");
        assert_eq!(st["bundle"], dir.to_str().unwrap());
        assert!(st["rootfs"].as_str().unwrap().ends_with("/rootfs"));
        // No user code before start.
        assert!(!dir.join("rootfs/started").exists());
        env.ok(&["oci", "kill", "c1", "0"]);
        // Duplicate id.
        let (code, err) = detached(&env, &dir, "dup", &["oci", "create", "--bundle", dir.to_str().unwrap(), "c1"]);
        assert_eq!(code, 1);
        assert!(err.contains("already exists"), "{err}");
        env.ok(&["oci", "start", "c1"]);
        assert_eq!(state(&env, "c1")["status"], "running");
        let err = env.fails(1, &["oci", "start", "c1"]);
        assert!(err.contains("already running"), "{err}");
        let err = env.fails(1, &["oci", "delete", "c1"]);
        assert!(err.contains("not stopped"), "{err}");
        // list and ps
        let l: serde_json::Value = serde_json::from_str(&env.ok(&["oci", "list", "--format", "json"])).unwrap();
        assert_eq!(l[0]["id"], "c1");
        assert_eq!(env.ok(&["oci", "list", "-q"]).trim(), "c1");
        let ps = env.ok(&["oci", "ps", "--format", "json", "c1"]);
        assert_eq!(ps.trim(), format!("[{}]", pid_text));
        // Signals by name (ignored by a pid-1 sleep) and by number.
        env.ok(&["oci", "kill", "c1", "SIGUSR1"]);
        env.ok(&["oci", "kill", "c1", "USR1"]);
        env.ok(&["oci", "kill", "c1", "9"]);
        let mut stopped = false;
        for _ in 0..1000 {
            if state(&env, "c1")["status"] == "stopped" {
                stopped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(stopped, "[{}] still alive after kill 9", env.label());
        assert_eq!(state(&env, "c1")["pid"], 0);
        let err = env.fails(1, &["oci", "kill", "c1", "TERM"]);
        assert!(err.contains("not running"), "{err}");
        env.ok(&["oci", "kill", "--all", "c1", "9"]);
        let err = env.fails(1, &["oci", "start", "c1"]);
        assert!(err.contains("stopped"), "{err}");
        env.ok(&["oci", "delete", "c1"]);
        env.fails(1, &["oci", "state", "c1"]);
        env.fails(1, &["oci", "delete", "c1"]);
        env.ok(&["oci", "delete", "--force", "c1"]);
        assert_eq!(env.ok(&["oci", "list", "-q"]).trim(), "");
    }
}

#[test]
fn delete_of_created_and_force_of_running() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "exec sleep 1000");
        create(&env, &dir, "c2", &[]);
        let pid = state(&env, "c2")["pid"].as_i64().unwrap();
        env.ok(&["oci", "delete", "c2"]);
        assert!(
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z")).unwrap_or(true),
            "[{}] init {pid} survived delete",
            env.label()
        );
        create(&env, &dir, "c3", &[]);
        env.ok(&["oci", "start", "c3"]);
        env.ok(&["oci", "delete", "--force", "c3"]);
        env.fails(1, &["oci", "state", "c3"]);
    }
}

#[test]
fn bad_ids_are_refused() {
    let env = Env::root();
    let _sweep = Sweep(&env);
    let dir = bundle(&env, "b");
    for id in [".", "..", "a/b", "", "x y"] {
        let err = env.fails(1, &["oci", "create", "--bundle", dir.to_str().unwrap(), id]);
        assert!(err.contains("invalid container id"), "{id:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(env.root.join("run/oci")).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn run_exit_status_and_exec_errors() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "exit 3");
        let (code, _, _) = text(&env.run(&["oci", "run", "--bundle", dir.to_str().unwrap(), "r1"]));
        assert_eq!(code, 3, "[{}]", env.label());
        // The foreground container is removed once it exits.
        env.fails(1, &["oci", "state", "r1"]);
        edit(&dir, |v| v["process"]["args"] = json!(["/bin/nope"]));
        let log = dir.join("log.json");
        let o = env.run(&[
            "oci",
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
            "--bundle",
            dir.to_str().unwrap(),
            "r2",
        ]);
        let (code, _, err) = text(&o);
        assert_eq!(code, 1);
        assert!(err.contains("exec /bin/nope: no such file or directory"), "{err}");
        let line = std::fs::read_to_string(&log).unwrap();
        let j: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
        assert_eq!(j["level"], "error");
        assert!(j["msg"].as_str().unwrap().contains("exec /bin/nope"), "{j}");
        assert!(j["time"].as_str().unwrap().contains('T'));
        env.fails(1, &["oci", "state", "r2"]);
        let tlog = dir.join("log.txt");
        env.fails(1, &["oci", "--log", tlog.to_str().unwrap(), "state", "nope"]);
        let t = std::fs::read_to_string(&tlog).unwrap();
        assert!(t.contains("level=error") && t.contains("msg=") && t.contains("time="), "{t}");
    }
}

#[test]
fn run_forwards_signals_and_reports_128_plus_n() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        let marks = env.scratch("marks");
        edit(&dir, |v| {
            v["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/mark", "type": "bind", "source": marks, "options": ["rbind"]}))
        });
        set_args(&dir, "trap 'exit 42' TERM; echo up > /mark/up; while true; do sleep 0.05; done");
        let mut child = env
            .command(&["oci", "run", "--bundle", dir.to_str().unwrap(), "s1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_file(&marks.join("up"));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(42), "[{}]", env.label());

        std::fs::remove_file(marks.join("up")).unwrap();
        set_args(&dir, "echo up > /mark/up; exec sleep 1000");
        let mut child = env
            .command(&["oci", "run", "--bundle", dir.to_str().unwrap(), "s2"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_file(&marks.join("up"));
        env.ok(&["oci", "kill", "s2", "KILL"]);
        assert_eq!(child.wait().unwrap().code(), Some(137), "[{}]", env.label());
        env.fails(1, &["oci", "state", "s2"]);
    }
}

#[test]
fn recycled_pid_is_not_taken_for_the_container() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "exec sleep 1000");
        create(&env, &dir, "p1", &[]);
        env.ok(&["oci", "start", "p1"]);
        let sf = env.root.join("run/oci/p1/state.json");
        let orig = std::fs::read(&sf).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&orig).unwrap();
        let t = v["minirun"]["start_time"].as_u64().unwrap();
        v["minirun"]["start_time"] = json!(t + 1);
        std::fs::write(&sf, serde_json::to_vec(&v).unwrap()).unwrap();
        let st = state(&env, "p1");
        assert_eq!(st["status"], "stopped");
        assert_eq!(st["pid"], 0);
        // A kill must not reach the unrelated process either.
        env.fails(1, &["oci", "kill", "p1", "KILL"]);
        std::fs::write(&sf, &orig).unwrap();
        assert_eq!(state(&env, "p1")["status"], "running");
        force_delete(&env, "p1");
    }
}

#[test]
fn exec_into_a_running_container() {
    for env in Env::both() {
        let _sweep = Sweep(&env);
        let dir = bundle(&env, "b");
        set_args(&dir, "exec sleep 1000");
        create(&env, &dir, "e1", &[]);
        env.ok(&["oci", "start", "e1"]);
        let out = env.ok(&[
            "oci",
            "exec",
            "--env",
            "FOO=bar",
            "e1",
            "sh",
            "-c",
            "echo $$ $FOO; hostname; ls /proc/self/fd | tr '\\n' ' '",
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with(" bar"), "[{}] {out}", env.label());
        assert_ne!(lines[0], "1 bar", "exec'd process is not pid 1");
        assert_eq!(lines[1], "minirun");
        assert_eq!(lines[2].trim(), "0 1 2 3", "[{}] fds: {out}", env.label());
        let (code, _, _) = text(&env.run(&["oci", "exec", "e1", "sh", "-c", "exit 7"]));
        assert_eq!(code, 7);
        let (code, _, err) = text(&env.run(&["oci", "exec", "e1", "/bin/nope"]));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("exec /bin/nope: no such file or directory"), "{err}");
        // Detached, with a process file and a pid file, as podman and containerd call it.
        let proc_json = dir.join("process.json");
        std::fs::write(
            &proc_json,
            serde_json::to_vec(&json!({"args": ["sleep", "500"], "cwd": "/", "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0}})).unwrap(),
        )
        .unwrap();
        let pidf = dir.join("exec.pid");
        let (code, err) = detached(
            &env,
            &dir,
            "exec",
            &[
                "oci",
                "exec",
                "--detach",
                "--pid-file",
                pidf.to_str().unwrap(),
                "--process",
                proc_json.to_str().unwrap(),
                "e1",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let epid = std::fs::read_to_string(&pidf).unwrap();
        let ps: Vec<i64> = serde_json::from_str(&env.ok(&["oci", "ps", "--format", "json", "e1"])).unwrap();
        assert!(ps.contains(&epid.parse().unwrap()), "[{}] {ps:?} lacks {epid}", env.label());
        assert_eq!(ps.len(), 2);
        force_delete(&env, "e1");
        assert!(
            std::fs::read_to_string(format!("/proc/{epid}/stat")).map(|s| s.contains(") Z")).unwrap_or(true),
            "exec'd process survived delete --force"
        );
    }
}

#[test]
fn default_root_dir_is_created_private() {
    let env = Env::rootless();
    // Makes the shared copy of the binary (and its minirun-oci symlink) exist.
    env.ok(&["oci", "list"]);
    let bin = std::path::PathBuf::from(format!("/var/tmp/minirun-testbin-{}/minirun-oci", std::process::id()));
    let o = env.raw_command(&bin).args(["state", "nope"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    let d = env.xdg_runtime.join("minirun-oci");
    let md = std::fs::metadata(&d).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(md.uid(), env.uid);
    assert_eq!(md.permissions().mode() & 0o777, 0o700);
}
