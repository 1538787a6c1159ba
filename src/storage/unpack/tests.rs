//! Unit tests of unpack_layer: tars built in memory, unpacked into temp dirs (as root).
use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// A tar built entry by entry with raw names (so hostile names survive).
pub(super) struct Tar(pub(super) tar::Builder<Vec<u8>>);

impl Tar {
    pub(super) fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }

    pub(super) fn raw(
        &mut self,
        name: &[u8],
        et: EntryType,
        data: &[u8],
        link: &[u8],
        mode: u32,
        uid: u64,
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name);
            g.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(et);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    pub(super) fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Regular, data, b"", 0o644, 0)
    }

    pub(super) fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", 0o755, 0)
    }

    pub(super) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Symlink, b"", target.as_bytes(), 0o777, 0)
    }

    pub(super) fn link(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Link, b"", target.as_bytes(), 0o644, 0)
    }

    pub(super) fn pax(&mut self, kv: &[(&str, &[u8])]) -> &mut Self {
        self.0.append_pax_extensions(kv.iter().copied()).unwrap();
        self
    }

    pub(super) fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub(super) fn opts() -> UnpackOptions {
    UnpackOptions {
        opaque_xattr: "trusted.overlay.opaque".into(),
        max_bytes: 1 << 30,
        ignore_chown_errors: false,
        create_devices: true,
    }
}

/// A temp dir holding `layer/` (the dest) and a sentinel file and dir beside it.
pub(super) struct Fixture {
    pub(super) tmp: tempfile::TempDir,
}

impl Fixture {
    pub(super) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("layer")).unwrap();
        fs::write(tmp.path().join("sentinel"), b"keep").unwrap();
        fs::set_permissions(tmp.path().join("sentinel"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::create_dir(tmp.path().join("outdir")).unwrap();
        Fixture { tmp }
    }
    pub(super) fn dest(&self) -> PathBuf {
        self.tmp.path().join("layer")
    }
    pub(super) fn outer(&self) -> String {
        self.tmp.path().to_str().unwrap().to_string()
    }
    pub(super) fn unpack(&self, tar: Tar, o: &UnpackOptions) -> Result<UnpackStats> {
        unpack_layer(&tar.bytes()[..], &self.dest(), o)
    }
    /// Nothing outside the layer changed.
    pub(super) fn assert_untouched(&self) {
        let s = self.tmp.path().join("sentinel");
        assert_eq!(fs::read(&s).unwrap(), b"keep");
        let m = fs::symlink_metadata(&s).unwrap();
        assert!(m.is_file());
        assert_eq!(m.nlink(), 1);
        assert_eq!((m.mode() & 0o7777, m.uid()), (0o640, 0));
        assert_eq!(fs::read_dir(self.tmp.path().join("outdir")).unwrap().count(), 0);
        let mut names: Vec<_> = fs::read_dir(self.tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["layer", "outdir", "sentinel"]);
    }
}

pub(super) fn err_text(r: Result<UnpackStats>) -> String {
    format!("{:#}", r.expect_err("unpack should fail"))
}

#[test]
fn plain_entries() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.dir("./etc/").file("./etc/hosts", b"127.0.0.1 localhost\n");
    t.symlink("etc/link", "/etc/hosts").link("etc/hard", "./etc/hosts");
    t.file("deep/missing/parents/f", b"x");
    t.raw(b"etc/fifo", EntryType::Fifo, b"", b"", 0o640, 0);
    let st = f.unpack(t, &opts()).unwrap();
    let d = f.dest();
    assert_eq!(st.entries, 6);
    assert_eq!(st.bytes, 21);
    assert!(st.warnings.is_empty(), "{:?}", st.warnings);
    assert_eq!(fs::read(d.join("etc/hosts")).unwrap(), b"127.0.0.1 localhost\n");
    assert_eq!(fs::read_link(d.join("etc/link")).unwrap(), Path::new("/etc/hosts"));
    assert_eq!(fs::metadata(d.join("etc/hosts")).unwrap().nlink(), 2);
    assert_eq!(fs::read(d.join("deep/missing/parents/f")).unwrap(), b"x");
    let fifo = fs::symlink_metadata(d.join("etc/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o640);
    let etc = fs::metadata(d.join("etc")).unwrap();
    assert_eq!(etc.mode() & 0o7777, 0o755);
    assert_eq!(etc.mtime(), 1_600_000_000, "directory mtime is applied after its children");
    assert_eq!(fs::symlink_metadata(d.join("etc/link")).unwrap().mtime(), 1_600_000_000);
    f.assert_untouched();
}

#[test]
fn long_names_and_pax_paths() {
    let f = Fixture::new();
    let long = format!("{}/{}", "d".repeat(150), "f".repeat(120));
    let mut t = Tar::new();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    t.0.append_data(&mut h, &long, &b"hi"[..]).unwrap();
    t.pax(&[("path", b"pax/named/file")]);
    t.file("short", b"yo");
    f.unpack(t, &opts()).unwrap();
    assert_eq!(fs::read(f.dest().join(&long)).unwrap(), b"hi");
    assert_eq!(fs::read(f.dest().join("pax/named/file")).unwrap(), b"yo");
    assert!(!f.dest().join("short").exists());
}

#[test]
fn dotdot_is_refused() {
    let f = Fixture::new();
    for name in ["../../etc/x", "a/../../sentinel", "..", "./../sentinel"] {
        let mut t = Tar::new();
        t.file(name, b"pwned");
        let e = err_text(f.unpack(t, &opts()));
        assert!(e.contains(&format!("entry {name:?}: path escapes the layer")), "{e}");
    }
    f.assert_untouched();
}

#[test]
fn absolute_names_stay_inside() {
    let f = Fixture::new();
    let abs = format!("{}/sentinel", f.outer());
    let mut t = Tar::new();
    t.file(&abs, b"pwned").file("/top", b"t");
    f.unpack(t, &opts()).unwrap();
    assert_eq!(fs::read(f.dest().join(abs.trim_start_matches('/'))).unwrap(), b"pwned");
    assert_eq!(fs::read(f.dest().join("top")).unwrap(), b"t");
    f.assert_untouched();
}

#[test]
fn symlink_escape_absolute() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.symlink("evil", &f.outer()).file("evil/sentinel", b"pwned");
    let e = err_text(f.unpack(t, &opts()));
    assert!(e.contains("entry \"evil/sentinel\""), "{e}");
    assert!(e.contains("symlink that does not lead to a directory inside the layer"), "{e}");
    f.assert_untouched();
    // A symlink to "/" resolves to the layer root.
    let f = Fixture::new();
    let mut t = Tar::new();
    t.symlink("root", "/").file("root/sentinel", b"contained");
    t.symlink("od", "/outdir").dir("outdir").file("od/x", b"in");
    f.unpack(t, &opts()).unwrap();
    assert_eq!(fs::read(f.dest().join("sentinel")).unwrap(), b"contained");
    assert_eq!(fs::read(f.dest().join("outdir/x")).unwrap(), b"in");
    f.assert_untouched();
}

#[test]
fn symlink_escape_relative() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.dir("a").symlink("a/up", "../../..").file("a/up/sentinel", b"contained");
    f.unpack(t, &opts()).unwrap();
    // ".." at the root stays at the root.
    assert_eq!(fs::read(f.dest().join("sentinel")).unwrap(), b"contained");
    f.assert_untouched();
    // "outdir" -> "../outdir" is clamped to itself: a loop, never the outer dir.
    let f = Fixture::new();
    let mut t = Tar::new();
    t.symlink("outdir", "../outdir").file("outdir/x", b"in");
    let e = err_text(f.unpack(t, &opts()));
    assert!(e.contains("entry \"outdir/x\"") && e.contains("symbolic links"), "{e}");
    f.assert_untouched();
}

#[test]
fn file_over_symlink_replaces_the_link() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.symlink("s", &format!("{}/sentinel", f.outer())).file("s", b"new");
    t.symlink("r", "../sentinel").file("r", b"new2");
    t.symlink("l", &format!("{}/sentinel", f.outer())).symlink("l", "elsewhere");
    t.symlink("h", &format!("{}/sentinel", f.outer()));
    t.raw(b"h", EntryType::Fifo, b"", b"", 0o600, 0);
    f.unpack(t, &opts()).unwrap();
    let d = f.dest();
    assert!(fs::symlink_metadata(d.join("s")).unwrap().is_file());
    assert_eq!(fs::read(d.join("s")).unwrap(), b"new");
    assert_eq!(fs::read(d.join("r")).unwrap(), b"new2");
    assert_eq!(fs::read_link(d.join("l")).unwrap(), Path::new("elsewhere"));
    assert!(fs::symlink_metadata(d.join("h")).unwrap().file_type().is_fifo());
    f.assert_untouched();
}

#[test]
fn dir_over_symlink_replaces_the_link() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.symlink("d", &format!("{}/outdir", f.outer())).dir("d").file("d/x", b"in");
    f.unpack(t, &opts()).unwrap();
    let d = f.dest();
    assert!(fs::symlink_metadata(d.join("d")).unwrap().is_dir());
    assert_eq!(fs::read(d.join("d/x")).unwrap(), b"in");
    f.assert_untouched();
}

#[test]
fn non_dir_over_dir_removes_the_subtree() {
    let f = Fixture::new();
    let mut t = Tar::new();
    let outer = f.outer();
    t.dir("d").dir("d/sub").dir("d/sub/deeper").file("d/sub/deeper/f", b"1");
    t.symlink("d/s", &outer).symlink("d/sub/up", "../../..");
    t.file("d", b"now a file");
    f.unpack(t, &opts()).unwrap();
    assert_eq!(fs::read(f.dest().join("d")).unwrap(), b"now a file");
    f.assert_untouched();
}

#[test]
fn hardlinks_stay_inside() {
    let f = Fixture::new();
    let sentinel = format!("{}/sentinel", f.outer());
    let cases: Vec<(Tar, &str)> = vec![
        (
            {
                let mut t = Tar::new();
                t.link("h", "../sentinel");
                t
            },
            "path escapes the layer",
        ),
        (
            {
                let mut t = Tar::new();
                t.link("h", &sentinel);
                t
            },
            "is not an earlier entry of this layer",
        ),
        (
            {
                let mut t = Tar::new();
                t.symlink("s", &f.outer()).link("h", "s/sentinel");
                t
            },
            "is not an earlier entry",
        ),
        (
            {
                let mut t = Tar::new();
                t.symlink("s", "..").link("h", "s/sentinel");
                t
            },
            "is not an earlier entry",
        ),
        (
            {
                let mut t = Tar::new();
                t.link("h", "later");
                t.file("later", b"");
                t
            },
            "is not an earlier entry",
        ),
    ];
    for (t, want) in cases {
        let e = err_text(f.unpack(t, &opts()));
        assert!(e.contains("entry \"h\"") && e.contains(want), "{e}");
        f.assert_untouched();
    }
    // A hardlink to a symlink pointing out links the symlink itself, never its target.
    let f = Fixture::new();
    let mut t = Tar::new();
    t.symlink("sl", &sentinel).link("h", "sl");
    t.file("real", b"r").symlink("via", "/").link("h2", "via/real");
    f.unpack(t, &opts()).unwrap();
    assert_eq!(fs::read_link(f.dest().join("h")).unwrap().to_str().unwrap(), sentinel);
    assert_eq!(fs::symlink_metadata(f.dest().join("h")).unwrap().nlink(), 2);
    assert_eq!(fs::metadata(f.dest().join("real")).unwrap().nlink(), 2);
    f.assert_untouched();
}

#[test]
fn whiteout_names_that_traverse_are_refused() {
    let f = Fixture::new();
    for name in [".wh..", "a/.wh...", ".wh.", "a/.wh.../x", ".wh.../sentinel"] {
        let mut t = Tar::new();
        t.file(name, b"");
        let e = err_text(f.unpack(t, &opts()));
        assert!(e.contains(&format!("entry {name:?}")), "{e}");
        assert!(e.contains("path escapes the layer"), "{e}");
        f.assert_untouched();
    }
}
