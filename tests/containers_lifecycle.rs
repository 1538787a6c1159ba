//! Container verbs through the real binary, root and rootless: exit statuses,
//! signals, create/start/run -d/ps/logs/exec/stop/kill/wait/inspect/rm, run flags, a
//! database-like workload, concurrent names, kill -9 of minirun, and `-it`.
mod common;
mod containers_support;

use common::Env;
use containers_support::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

/// Start `minirun ARGS` with stdout piped and wait until it printed `line`.
fn spawn_until(d: &Drv, args: &[&str], line: &str) -> std::process::Child {
    let mut v = Vec::new();
    if let Some(dr) = d.driver {
        v.extend(["--storage-driver", dr]);
    }
    v.extend_from_slice(args);
    let mut child = d.env.command(&v).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut rd = BufReader::new(child.stdout.take().unwrap());
    let mut got = String::new();
    rd.read_line(&mut got).unwrap();
    assert_eq!(got.trim_end(), line, "[{}] {args:?}", d.label());
    // Keep draining in the background so the container never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut rd, &mut std::io::sink()));
    child
}

#[test]
fn exit_statuses_and_signals() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        d.fails(125, &["run", "--no-such-flag", "base", "true"]);
        let err = d.fails(125, &["run", "--rm", "nosuch:image", "true"]);
        assert!(err.contains("nosuch:image"), "[{l}] {err}");
        d.fails(126, &["run", "--rm", "base", "/etc/motd"]);
        let err = d.fails(127, &["run", "--rm", "base", "/nope"]);
        assert!(err.contains("/nope"), "[{l}] {err}");
        d.fails(3, &["run", "--rm", "base", "sh", "-c", "exit 3"]);
        // Killed by a signal: 128+N, also from `wait`.
        d.ok(&["run", "-d", "--name", "kk", "base", "sleep", "60"]);
        d.ok(&["kill", "-s", "KILL", "kk"]);
        assert_eq!(d.ok(&["wait", "kk"]), "137\n", "[{l}]");
        d.ok(&["rm", "kk"]);
        // A signal to a foreground `run` reaches the container.
        let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done";
        let mut child = spawn_until(&d, &["run", "--rm", "base", "sh", "-c", script], "ready");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(42), "[{l}] SIGTERM forwarded to the container");
        assert!(container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}

#[test]
fn lifecycle_verbs() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base", "config"]);

        // create, then start -a: output and status of the container; id prefixes work.
        let id = d.ok(&["create", "--name", "cs", "base", "sh", "-c", "echo started; exit 4"]).trim().to_string();
        assert_eq!(id.len(), 64, "[{l}] {id}");
        assert_eq!(d.inspect(&id[..7])["Name"], "cs", "[{l}]");
        let o = d.run(&["start", "-a", &id[..10]]);
        assert_eq!((code(&o), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(4), "started\n"), "[{l}]");
        let err = d.fails(125, &["create", "--name", "cs", "base", "true"]);
        assert!(err.contains("already in use"), "[{l}] {err}");

        // run -d, ps in its forms, logs with stdout and stderr apart.
        d.ok(&["run", "-d", "--name", "lg", "base", "sh", "-c", "echo out1; echo err1 >&2; echo out2; exec sleep 60"]);
        let table = d.ok(&["ps"]);
        assert!(table.starts_with("CONTAINER ID"), "[{l}] {table}");
        assert!(table.contains("lg") && !table.contains("cs"), "[{l}] ps shows running ones only:\n{table}");
        assert!(d.ok(&["ps", "-a"]).contains("cs"), "[{l}]");
        let q = d.ok(&["ps", "-a", "-q"]);
        assert_eq!(q.lines().count(), 2, "[{l}] {q}");
        assert!(q.lines().all(|s| s.len() == 12), "[{l}] {q}");
        let list = json(&d.ok(&["ps", "-a", "--format", "json"]));
        let lg = list.as_array().unwrap().iter().find(|c| c["Names"][0] == "lg").expect("lg in ps json").clone();
        assert_eq!(lg["State"], "running", "[{l}] {lg}");
        eventually("lg's output logged", || d.ok(&["logs", "lg"]).contains("out2"));
        let o = d.run(&["logs", "lg"]);
        assert_eq!(String::from_utf8_lossy(&o.stdout), "out1\nout2\n", "[{l}]");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "err1\n", "[{l}]");

        // exec: env, user, workdir, exit status.
        let o = d.run(&[
            "exec",
            "-e",
            "FOO=bar",
            "-u",
            "app",
            "-w",
            "/tmp",
            "lg",
            "sh",
            "-c",
            "echo $FOO $(id -u) $(pwd); exit 7",
        ]);
        assert_eq!((code(&o), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(7), "bar 999 /tmp\n"), "[{l}]");
        d.fails(127, &["exec", "lg", "/nope"]);

        // inspect of a running container.
        let i = d.inspect("lg");
        assert_eq!(i["State"]["Status"], "running", "[{l}]");
        let pid = i["State"]["Pid"].as_i64().unwrap() as i32;
        assert!(pid > 0 && alive(pid), "[{l}] {i}");
        let upper = i["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap().to_string();
        assert!(std::path::Path::new(&upper).is_dir(), "[{l}] UpperDir {upper}");
        assert!(i["Mounts"].is_array() && i["Config"]["Env"].is_array(), "[{l}] {i}");

        // rm refuses a running container; rm -f kills and removes it.
        let err = d.fails(125, &["rm", "lg"]);
        assert!(err.contains("running"), "[{l}] {err}");
        d.ok(&["rm", "-f", "lg"]);
        assert!(!alive(pid), "[{l}] rm -f left the init alive");

        // logs -f ends when the container stops.
        d.ok(&["run", "-d", "--name", "fl", "base", "sh", "-c", "for i in 1 2 3; do echo l$i; sleep 0.1; done"]);
        assert_eq!(d.ok(&["logs", "-f", "fl"]), "l1\nl2\nl3\n", "[{l}]");
        assert_eq!(d.ok(&["wait", "fl"]), "0\n", "[{l}]");

        // stop sends the image's StopSignal (SIGUSR1 for `config`) first.
        let script = "trap 'echo got-usr1; exit 0' USR1; trap 'echo got-term; exit 1' TERM; echo ready; \
                      while :; do sleep 0.05; done";
        d.ok(&["run", "-d", "--name", "st", "config", script]);
        eventually("st ready", || d.ok(&["logs", "st"]).contains("ready"));
        d.ok(&["stop", "-t", "5", "st"]);
        assert_eq!(d.ok(&["wait", "st"]), "0\n", "[{l}]");
        assert!(d.ok(&["logs", "st"]).contains("got-usr1"), "[{l}]");
        let i = d.inspect("st");
        assert_eq!((i["State"]["Status"].as_str(), i["State"]["ExitCode"].as_i64()), (Some("exited"), Some(0)));
        // stop -t 1 of a process that ignores the signal ends with SIGKILL.
        d.ok(&["run", "-d", "--name", "stubborn", "base", "sleep", "60"]);
        d.ok(&["stop", "-t", "1", "stubborn"]);
        assert_eq!(d.ok(&["wait", "stubborn"]), "137\n", "[{l}]");

        // --rm removes the container and its anonymous volumes (here the image's VOLUME).
        assert_eq!(d.ok(&["run", "--rm", "config"]), "hello from config\n", "[{l}]");
        assert_eq!(d.ok(&["run", "--rm", "-v", "/anon", "base", "true"]), "", "[{l}]");
        d.ok(&["rm", "-v", "cs", "fl", "st", "stubborn"]);
        assert!(volumes(&d).is_empty(), "[{l}] --rm or rm -v left {:?}", volumes(&d));
        assert!(container_dirs(&env).is_empty(), "[{l}] {:?}", container_dirs(&env));
        assert_no_processes(&env);
    }
}

#[test]
fn run_flags() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base", "config"]);
        let envfile = env.scratch("envfile").join("vars");
        std::fs::write(&envfile, "# comment\nFROMFILE=yes\n\nOVER=file\n").unwrap();
        if env.rootless {
            std::os::unix::fs::chown(&envfile, Some(env.uid), Some(env.gid)).unwrap();
        }
        let ef = envfile.display().to_string();
        let out = d.ok(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "--env-file",
            &ef,
            "-e",
            "OVER=flag",
            "base",
            "sh",
            "-c",
            "echo $A $FROMFILE $OVER",
        ]);
        assert_eq!(out, "1 yes flag\n", "[{l}] env");
        assert_eq!(d.ok(&["run", "--rm", "-w", "/opt/dir", "base", "pwd"]), "/opt/dir\n", "[{l}]");
        assert_eq!(d.ok(&["run", "--rm", "-w", "/new/dir", "base", "pwd"]), "/new/dir\n", "[{l}] -w creates");
        assert_eq!(d.ok(&["run", "--rm", "-u", "app", "base", "sh", "-c", "id -u; id -g"]), "999\n999\n", "[{l}]");
        assert_eq!(d.ok(&["run", "--rm", "-u", "1234:5678", "base", "sh", "-c", "id -u; id -g"]), "1234\n5678\n");
        assert_eq!(d.ok(&["run", "--rm", "--entrypoint", "/bin/echo", "config", "hi"]), "hi\n", "[{l}]");
        assert_eq!(d.ok(&["run", "--rm", "--hostname", "box1", "base", "hostname"]), "box1\n", "[{l}]");
        let out =
            d.ok(&["run", "--rm", "--read-only", "base", "sh", "-c", "touch /x 2>/dev/null && echo rw || echo ro"]);
        assert_eq!(out, "ro\n", "[{l}] --read-only");
        // The image's config: Entrypoint, Cmd, Env, WorkingDir, User.
        let out = d.ok(&["run", "--rm", "config", "pwd; id -un; echo $FIXTURE"]);
        assert_eq!(out, "/home/app\napp\nyes\n", "[{l}] image config");
        // --network none: only lo; host: the host's interfaces.
        let ifaces = |s: &str| -> Vec<String> {
            let mut v: Vec<String> =
                s.lines().skip(2).filter_map(|x| x.split(':').next()).map(|x| x.trim().into()).collect();
            v.sort();
            v
        };
        let none = ifaces(&d.ok(&["run", "--rm", "--network", "none", "base", "cat", "/proc/net/dev"]));
        assert_eq!(none, ["lo"], "[{l}]");
        let host = ifaces(&d.ok(&["run", "--rm", "--network", "host", "base", "cat", "/proc/net/dev"]));
        assert_eq!(host, ifaces(&std::fs::read_to_string("/proc/net/dev").unwrap()), "[{l}] --network host");
        d.fails(125, &["run", "--rm", "--network", "bridge", "base", "true"]);
        assert!(container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}

/// A detached container appends numbered records to a file in a volume until
/// `stop`; a new container reads them back complete and in order.
#[test]
fn database_like_workload() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        let script = "trap 'echo closed >> /db/log; exit 0' TERM; i=0; \
                      while :; do i=$((i+1)); echo \"record $i\" >> /db/log; done";
        d.ok(&["run", "-d", "--name", "db", "-v", "dbvol:/db", "base", "sh", "-c", script]);
        eventually("records written", || {
            std::fs::read_to_string(env.root.join("volumes/dbvol/_data/log")).is_ok_and(|s| s.lines().count() > 200)
        });
        d.ok(&["stop", "-t", "10", "db"]);
        assert_eq!(d.ok(&["wait", "db"]), "0\n", "[{l}] the workload ended on SIGTERM");
        let log = d.ok(&["run", "--rm", "-v", "dbvol:/db", "base", "cat", "/db/log"]);
        assert!(log.ends_with("closed\n"), "[{l}] last line: {:?}", log.lines().last());
        let records: Vec<&str> = log.lines().filter(|x| *x != "closed").collect();
        assert!(records.len() > 200, "[{l}]");
        for (i, r) in records.iter().enumerate() {
            assert_eq!(*r, format!("record {}", i + 1), "[{l}] record {} torn or out of order", i + 1);
        }
        d.ok(&["rm", "db"]);
        d.ok(&["volume", "rm", "dbvol"]);
        assert_no_processes(&env);
    }
}

#[test]
fn concurrent_runs_with_one_name() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        let children: Vec<_> = (0..8)
            .map(|_| {
                env.command(&["run", "--name", "same", "base", "true"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "[{l}] exactly one run succeeds");
        for o in outs.iter().filter(|o| !o.status.success()) {
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(code(o), Some(125), "[{l}] {err}");
            assert!(err.contains("already in use"), "[{l}] {err}");
        }
        assert_eq!(container_dirs(&env).len(), 1, "[{l}]");
        assert_eq!(d.ok(&["ps", "-a", "-q"]).lines().count(), 1, "[{l}]");
        d.ok(&["rm", "same"]);
        assert_no_processes(&env);
    }
}

/// kill -9 of a foreground minirun, and of a detached container's monitor: `ps`
/// tells the truth and `rm -f` cleans everything up.
#[test]
fn kill_9_of_minirun() {
    for env in Env::both() {
        let d = Drv::new(&env, None);
        let l = d.label();
        load(&env, &["base"]);
        let state = |name: &str| -> String {
            let list = json(&d.ok(&["ps", "-a", "--format", "json"]));
            list.as_array().unwrap().iter().find(|c| c["Names"][0] == name).map(|c| c["State"].to_string()).unwrap()
        };
        for (name, end) in [("k1", "kill"), ("k2", "rm")] {
            let mut child = spawn_until(
                &d,
                &["run", "--name", name, "base", "sh", "-c", "echo started; exec sleep 100"],
                "started",
            );
            child.kill().unwrap();
            child.wait().unwrap();
            let pid = d.inspect(name)["State"]["Pid"].as_i64().unwrap() as i32;
            assert!(alive(pid), "[{l}] the container outlives minirun");
            assert_eq!(state(name), "\"running\"", "[{l}]");
            if end == "kill" {
                d.ok(&["kill", name]);
                eventually("killed container shows exited", || state(name) == "\"exited\"");
            }
            d.ok(&["rm", "-f", name]);
            assert!(!alive(pid), "[{l}] rm -f left pid {pid}");
        }
        // The monitor of a detached container.
        d.ok(&["run", "-d", "--name", "mon", "base", "sleep", "100"]);
        let i = d.inspect("mon");
        let (pid, mon) =
            (i["State"]["Pid"].as_i64().unwrap() as i32, i["State"]["MonitorPid"].as_i64().unwrap() as i32);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(mon), nix::sys::signal::Signal::SIGKILL).unwrap();
        eventually("monitor gone", || !alive(mon));
        assert_eq!(state("mon"), "\"running\"", "[{l}] running while the init lives");
        assert!(alive(pid));
        // Nobody reaps it now: `wait` still returns once it is gone (status unknown).
        d.ok(&["kill", "mon"]);
        assert_eq!(d.ok(&["wait", "mon"]), "-1\n", "[{l}]");
        assert_eq!(state("mon"), "\"exited\"", "[{l}]");
        d.ok(&["rm", "-f", "mon"]);
        assert!(!alive(pid), "[{l}]");
        assert!(container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}

/// `run -it` gives a working interactive shell (driven through script(1)'s pty).
#[test]
fn interactive_tty() {
    for env in Env::both() {
        let l = env.label();
        load(&env, &["base"]);
        let cmd = env.command(&["run", "-it", "--rm", "base", "sh"]);
        let mut line = vec![cmd.get_program().to_string_lossy().into_owned()];
        line.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
        let line: Vec<String> = line.into_iter().map(|a| format!("'{a}'")).collect();
        let mut script = std::process::Command::new("script");
        script.args(["-qec", &line.join(" "), "/dev/null"]);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => script.env(k, v),
                None => script.env_remove(k),
            };
        }
        let mut child = script.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"tty; echo hi-from-$((6*7)); exit 5\n").unwrap();
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("hi-from-42"), "[{l}] {out}");
        assert!(out.contains("/dev/pts/"), "[{l}] stdin is a terminal: {out}");
        assert_eq!(o.status.code(), Some(5), "[{l}] {out} {}", String::from_utf8_lossy(&o.stderr));
        assert!(container_dirs(&env).is_empty(), "[{l}]");
        assert_no_processes(&env);
    }
}
