//! Shared harness for the integration tests: runs the real binary with its own
//! temporary `--root`, as root or as the unprivileged test user, and checks that
//! nothing (mount, process, directory) is left behind.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The unprivileged user created by scripts/setup.sh.
pub const TEST_USER: &str = "minirun-test";

/// Where `make fixtures` put the generated images (see rootfs-fixtures/build.py).
pub fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            PathBuf::from(std::env::var("MINIRUN_FIXTURES").unwrap_or_else(|_| "/var/tmp/minirun-fixtures".into()));
        if !dir.join(".complete").exists() {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-fixtures/build.py");
            let st = Command::new("python3").arg(script).arg(&dir).status().expect("python3");
            assert!(st.success(), "building fixtures failed");
        }
        dir
    })
    .clone()
}

/// A fixture path by name, e.g. `fixture("base")`.
pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures().join(name);
    assert!(p.exists(), "fixture {} missing", p.display());
    p
}

/// uid and gid of the test user; panics (as root) when setup did not create it.
pub fn test_user_ids() -> (u32, u32) {
    let out = Command::new("id").args(["-u", TEST_USER]).output().expect("id");
    assert!(out.status.success(), "test user {TEST_USER} missing: run scripts/setup.sh (make test does)");
    let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let out = Command::new("id").args(["-g", TEST_USER]).output().expect("id");
    let gid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (uid, gid)
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The binary under test. For rootless runs it is copied to a world-readable place,
/// since the checkout may live under a private home directory.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_minirun"))
}

fn shared_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(format!("/var/tmp/minirun-testbin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dst = dir.join("minirun");
        std::fs::copy(binary(), &dst).unwrap();
        std::os::unix::fs::symlink("minirun", dir.join("minirun-oci")).ok();
        Command::new("chmod").args(["-R", "a+rX"]).arg(&dir).status().unwrap();
        dst
    })
    .clone()
}

/// One isolated minirun instance: its own root directory, root or rootless.
pub struct Env {
    pub rootless: bool,
    pub root: PathBuf,
    /// The private XDG_RUNTIME_DIR of rootless runs.
    pub xdg_runtime: PathBuf,
    pub uid: u32,
    pub gid: u32,
}

fn mkdtemp(prefix: &str) -> PathBuf {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let p = base.join(format!("{prefix}-{}-{}-{i}", std::process::id(), nanos()));
        if std::fs::create_dir(&p).is_ok() {
            return p;
        }
    }
    panic!("cannot create temp dir");
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

impl Env {
    /// A root instance.
    pub fn root() -> Env {
        assert!(is_root(), "integration tests run as root (they switch to {TEST_USER} for rootless)");
        let root = mkdtemp("minirun-t");
        Env { rootless: false, xdg_runtime: root.join("xdg"), root, uid: 0, gid: 0 }
    }

    /// A rootless instance running as the unprivileged test user.
    pub fn rootless() -> Env {
        assert!(is_root(), "integration tests run as root (they switch to {TEST_USER} for rootless)");
        let (uid, gid) = test_user_ids();
        let root = mkdtemp("minirun-tu");
        let xdg = mkdtemp("minirun-xdg");
        for d in [&root, &xdg] {
            std::os::unix::fs::chown(d, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        }
        Env { rootless: true, root, xdg_runtime: xdg, uid, gid }
    }

    /// Both flavours, for tests that must pass as root and rootless.
    pub fn both() -> Vec<Env> {
        vec![Env::root(), Env::rootless()]
    }

    pub fn label(&self) -> &'static str {
        if self.rootless { "rootless" } else { "root" }
    }

    /// A scratch directory the instance's user may write (removed with the Env).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.root.join("..").join(format!("{}-{name}", self.root.file_name().unwrap().to_string_lossy()));
        let p = std::fs::canonicalize(p.parent().unwrap()).unwrap().join(p.file_name().unwrap());
        std::fs::create_dir_all(&p).unwrap();
        if self.rootless {
            std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        }
        p
    }

    /// A command running the binary (as the test user when rootless), without --root.
    pub fn raw_command(&self, program: &Path) -> Command {
        if self.rootless {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", &self.uid.to_string(), "--regid", &self.gid.to_string(), "--init-groups", "--"]);
            c.arg(program);
            c.env("HOME", format!("/home/{TEST_USER}"));
            c.env("USER", TEST_USER);
            c.env("XDG_RUNTIME_DIR", &self.xdg_runtime);
            c.current_dir("/");
            c
        } else {
            Command::new(program)
        }
    }

    /// `minirun --root <root> ARGS…`, as the right user.
    pub fn command(&self, args: &[&str]) -> Command {
        let bin = if self.rootless { shared_binary() } else { binary() };
        let mut c = self.raw_command(&bin);
        c.env_remove("MINIRUN_ROOT").env_remove("MINIRUN_STORAGE_DRIVER");
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Run and return the output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("spawning minirun")
    }

    /// Run, assert success, return stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "[{}] minirun {:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.label(),
            args,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run, assert failure with `code`, return stderr.
    #[track_caller]
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "[{}] minirun {:?}: expected exit {code}, got {}:\nstdout: {}\nstderr: {}",
            self.label(),
            args,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
}

/// Mount points whose path contains `needle` (from /proc/self/mountinfo).
pub fn mounts_under(needle: &Path) -> Vec<String> {
    let s = needle.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m.contains(&s))
        .collect()
}

impl Drop for Env {
    fn drop(&mut self) {
        let left = mounts_under(&self.root);
        for m in left.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let name = self.root.file_name().unwrap().to_string_lossy().into_owned();
        if let Ok(rd) = std::fs::read_dir(self.root.parent().unwrap()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&format!("{name}-")) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir_all(&self.xdg_runtime);
        if !std::thread::panicking() {
            assert!(left.is_empty(), "mounts left behind under {}: {left:?}", self.root.display());
        }
    }
}
