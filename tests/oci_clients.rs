//! Real clients drive minirun-oci like runc: podman (root and rootless, with a
//! temporary store) and containerd's `ctr run --runc-binary` (root, with a private
//! containerd started and stopped here).
mod common;

use common::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A world-readable copy of the binary with a `minirun-oci` symlink next to it.
fn runtime_in(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(common::binary(), bin.join("minirun")).unwrap();
    std::os::unix::fs::symlink("minirun", bin.join("minirun-oci")).unwrap();
    Command::new("chmod").args(["-R", "a+rX"]).arg(&bin).status().unwrap();
    bin.join("minirun-oci")
}

fn check(what: &str, o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn podman_run_and_exec() {
    for env in Env::both() {
        let dir = env.scratch("podman");
        let rt = runtime_in(&dir);
        // podman refuses a runroot longer than 50 characters.
        let runroot = PathBuf::from(format!("/tmp/mrp{}{}", std::process::id(), env.label()));
        std::fs::create_dir_all(&runroot).unwrap();
        std::os::unix::fs::chown(&runroot, Some(env.uid), Some(env.gid)).unwrap();
        let podman = |args: &[&str]| {
            let mut c = env.raw_command(Path::new("/usr/bin/podman"));
            c.arg("--root").arg(dir.join("storage"));
            c.arg("--runroot").arg(&runroot);
            c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime"]).arg(&rt);
            c.args(args);
            c.stdin(std::process::Stdio::null());
            c.output().unwrap()
        };
        let archive = common::fixture("base.oci.tar");
        check("podman load", podman(&["load", "-q", "-i", archive.to_str().unwrap()]));
        let limits = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"];
        let mut run = vec!["run", "--rm", "--network", "none"];
        if !env.rootless {
            run.extend(limits);
        }
        run.extend(["localhost/base:latest", "sh", "-c", "echo podman-ok"]);
        let out = check(&format!("[{}] podman run", env.label()), podman(&run));
        assert!(out.contains("podman-ok"), "{out}");
        let mut rund = vec!["run", "-d", "--name", "t1", "--network", "none"];
        if !env.rootless {
            rund.extend(limits);
        }
        rund.extend(["localhost/base:latest", "sleep", "1000"]);
        check(&format!("[{}] podman run -d", env.label()), podman(&rund));
        let out = check(&format!("[{}] podman exec", env.label()), podman(&["exec", "t1", "sh", "-c", "echo exec-ok"]));
        assert!(out.contains("exec-ok"), "{out}");
        check("podman rm", podman(&["rm", "-f", "-t", "0", "t1"]));
        // Rootless podman keeps a pause process holding its user namespace: ours to stop.
        let pause = env.xdg_runtime.join("libpod/tmp/pause.pid");
        if let Ok(p) = std::fs::read_to_string(&pause)
            && let Ok(pid) = p.trim().parse::<i32>()
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        // conmon's exit command (`podman container cleanup`) may still run after `rm`
        // returns: wait until no process names our store, then remove the runroot.
        let needles = [runroot.to_string_lossy().into_owned(), dir.join("storage").to_string_lossy().into_owned()];
        let busy = || {
            std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| {
                        let c = String::from_utf8_lossy(&c);
                        needles.iter().any(|n| c.contains(n.as_str()))
                    })
                    .unwrap_or(false)
            })
        };
        for _ in 0..4000 {
            if !busy() && std::fs::remove_dir_all(&runroot).is_ok() && !runroot.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!runroot.exists(), "podman runroot {} left behind", runroot.display());
    }
}

/// A private containerd (own root, state and sockets) killed on drop.
struct Containerd {
    child: std::process::Child,
    sock: PathBuf,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ctr_run_with_runc_binary() {
    let env = Env::root();
    let dir = env.scratch("containerd");
    let rt = runtime_in(&dir);
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n[debug]\n  address = \"{d}/debug.sock\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
    let child = Command::new("containerd")
        .arg("--config")
        .arg(&cfg)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let cd = Containerd { child, sock: dir.join("c.sock") };
    for _ in 0..2000 {
        if cd.sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ctr = |args: &[&str]| Command::new("ctr").arg("-a").arg(&cd.sock).args(args).output().unwrap();
    let archive = common::fixture("base.oci.tar");
    check("ctr import", ctr(&["images", "import", "--all-platforms", archive.to_str().unwrap()]));
    let rt = rt.to_str().unwrap();
    let out = check(
        "ctr run",
        ctr(&[
            "run",
            "--runc-binary",
            rt,
            "--rm",
            "base:latest",
            "k1",
            "sh",
            "-c",
            "echo ctr-ok; ls /proc/self/fd | wc -l",
        ]),
    );
    assert!(out.contains("ctr-ok"), "{out}");
    let o = ctr(&["run", "--runc-binary", rt, "--rm", "base:latest", "k2", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    drop(cd);
    // The snapshotter's mounts live under our root; none may stay.
    for m in common::mounts_under(&dir).iter().rev() {
        let _ = Command::new("umount").arg(m).status();
    }
}
