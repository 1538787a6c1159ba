//! Unit tests of unpack_layer, part 2: whiteouts, metadata, devices, limits and
//! broken streams.
use super::tests::{Fixture, Tar, err_text, opts};
use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

fn is_whiteout(p: &Path) -> bool {
    match fs::symlink_metadata(p) {
        Ok(m) => m.file_type().is_char_device() && m.rdev() == 0,
        Err(_) => false,
    }
}

fn xattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let k = std::ffi::CString::new(key).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: C strings and a buffer with its length.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn whiteouts_and_opaque_dirs() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.file(".wh.gone", b"");
    t.file("kept", b"k").file(".wh.kept", b"");
    t.dir("o").file("o/.wh.early", b"").file("o/added", b"a").dir("o/sub").file("o/sub/.wh.deep", b"");
    t.file("o/.wh..wh..opq", b"").file("o/.wh.late", b"");
    t.file("newdir/.wh..wh..opq", b"");
    t.file("w/.wh.x", b"").file("w/x/.wh.y", b"");
    let st = f.unpack(t, &opts()).unwrap();
    assert_eq!(st.entries, 13);
    let d = f.dest();
    assert!(is_whiteout(&d.join("gone")));
    assert!(is_whiteout(&d.join("kept")), "a whiteout replaces what this layer put there");
    assert_eq!(xattr(&d.join("o"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert!(!d.join("o/early").exists() && !is_whiteout(&d.join("o/early")));
    assert!(fs::symlink_metadata(d.join("o/sub/deep")).is_err(), "whiteouts under an opaque dir are removed");
    assert!(fs::symlink_metadata(d.join("o/late")).is_err(), "whiteouts inside an opaque dir are skipped");
    assert_eq!(fs::read(d.join("o/added")).unwrap(), b"a");
    assert!(d.join("o/sub").is_dir());
    assert_eq!(xattr(&d.join("newdir"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    // The whiteout at w/x was on the way to w/x/.wh.y: it became a directory.
    assert!(fs::symlink_metadata(d.join("w/x")).unwrap().is_dir());
    assert!(is_whiteout(&d.join("w/x/y")));
    f.assert_untouched();
}

#[test]
fn opaque_marker_at_root_and_over_a_whiteout() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.file(".wh.a", b"").file("a/.wh..wh..opq", b"").file(".wh..wh..opq", b"").file(".wh.b", b"");
    f.unpack(t, &opts()).unwrap();
    let d = f.dest();
    assert_eq!(xattr(&d, "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert_eq!(xattr(&d.join("a"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert!(fs::symlink_metadata(d.join("b")).is_err());
}

#[test]
fn metadata_owner_mode_times_xattrs() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.pax(&[
        ("SCHILY.xattr.user.kept", b"v1"),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ("SCHILY.xattr.user.overlay.redirect", b"/x"),
        ("SCHILY.xattr.trusted.kept", b"v2"),
        ("mtime", b"1700000000.25"),
    ]);
    t.raw(b"suid", EntryType::Regular, b"#!", b"", 0o4755, 1000);
    t.raw(b"sgid-dir", EntryType::Directory, b"", b"", 0o2770, 1000);
    t.raw(b"sticky", EntryType::Directory, b"", b"", 0o1777, 0);
    t.pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y"), ("SCHILY.xattr.user.d", b"dv")]);
    t.raw(b"xdir", EntryType::Directory, b"", b"", 0o700, 0);
    t.raw(b"lnk", EntryType::Symlink, b"", b"suid", 0o777, 1001);
    let st = f.unpack(t, &opts()).unwrap();
    assert!(st.warnings.is_empty(), "{:?}", st.warnings);
    let d = f.dest();
    let m = fs::metadata(d.join("suid")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    assert_eq!(m.mode() & 0o7777, 0o4755, "setuid survives the chown");
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 250_000_000));
    let m = fs::metadata(d.join("sgid-dir")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (1000, 0o2770));
    assert_eq!(fs::metadata(d.join("sticky")).unwrap().permissions().mode() & 0o7777, 0o1777);
    assert_eq!(xattr(&d.join("suid"), "user.kept").as_deref(), Some(&b"v1"[..]));
    assert_eq!(xattr(&d.join("suid"), "trusted.kept").as_deref(), Some(&b"v2"[..]));
    assert_eq!(xattr(&d.join("suid"), "trusted.overlay.opaque"), None);
    assert_eq!(xattr(&d.join("suid"), "user.overlay.redirect"), None);
    assert_eq!(xattr(&d.join("xdir"), "trusted.overlay.opaque"), None);
    assert_eq!(xattr(&d.join("xdir"), "user.d").as_deref(), Some(&b"dv"[..]));
    let l = fs::symlink_metadata(d.join("lnk")).unwrap();
    assert_eq!((l.uid(), l.mtime()), (1001, 1_600_000_000));
}

#[test]
fn devices_created_or_skipped() {
    let mk = |t: &mut Tar| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Char);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_mode(0o666);
        h.set_size(0);
        h.set_path("dev/null").unwrap();
        h.set_cksum();
        t.0.append(&h, &b""[..]).unwrap();
        let mut h2 = h.clone();
        h2.set_entry_type(EntryType::Block);
        h2.set_path("dev/loop9").unwrap();
        h2.set_cksum();
        t.0.append(&h2, &b""[..]).unwrap();
    };
    let f = Fixture::new();
    let mut t = Tar::new();
    mk(&mut t);
    f.unpack(t, &opts()).unwrap();
    let m = fs::symlink_metadata(f.dest().join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!((m.rdev(), m.mode() & 0o7777), (libc::makedev(1, 3), 0o666));
    assert!(fs::symlink_metadata(f.dest().join("dev/loop9")).unwrap().file_type().is_block_device());

    let f = Fixture::new();
    let mut t = Tar::new();
    mk(&mut t);
    let st = f.unpack(t, &UnpackOptions { create_devices: false, ..opts() }).unwrap();
    assert!(fs::symlink_metadata(f.dest().join("dev/null")).is_err());
    assert_eq!(st.warnings.len(), 1, "{:?}", st.warnings);
    assert!(st.warnings[0].starts_with("2 device nodes skipped") && st.warnings[0].ends_with("first: dev/null"));
}

#[test]
fn size_limit_counts_content_and_headers() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.file("big", &vec![7u8; 100_000]);
    let e = err_text(f.unpack(t, &UnpackOptions { max_bytes: 50_000, ..opts() }));
    assert!(e.contains("layer exceeds the limit of 50000 bytes uncompressed"), "{e}");

    let f = Fixture::new();
    let mut t = Tar::new();
    for i in 0..1000 {
        t.file(&format!("e{i}"), b"");
    }
    let e = err_text(f.unpack(t, &UnpackOptions { max_bytes: 100_000, ..opts() }));
    assert!(e.contains("layer exceeds the limit of 100000 bytes uncompressed"), "{e}");
    assert!(fs::read_dir(f.dest()).unwrap().count() < 200);

    // Exactly at the limit is fine.
    let f = Fixture::new();
    let mut t = Tar::new();
    t.file("x", b"abc");
    let b = t.bytes();
    unpack_layer(&b[..], &f.dest(), &UnpackOptions { max_bytes: b.len() as u64, ..opts() }).unwrap();
}

#[test]
fn truncated_or_corrupt_streams_fail_clearly() {
    let mut t = Tar::new();
    t.file("a", &vec![1u8; 5000]).file("b", b"bbb");
    let full = t.bytes();
    for cut in [512 + 1000, 512 + 5120 + 100, 100] {
        let f = Fixture::new();
        let e = format!("{:#}", unpack_layer(&full[..cut], &f.dest(), &opts()).unwrap_err());
        assert!(e.contains("truncated"), "cut {cut}: {e}");
    }
    let mut bad = full.clone();
    bad[0] ^= 0x55;
    let f = Fixture::new();
    let e = format!("{:#}", unpack_layer(&bad[..], &f.dest(), &opts()).unwrap_err());
    assert!(e.contains("checksum") && e.contains("corrupt"), "{e}");
}

#[test]
fn reads_the_stream_past_the_end_of_archive() {
    struct Counting<'a>(&'a [u8], &'a Cell<usize>);
    impl Read for Counting<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(b)?;
            self.1.set(self.1.get() + n);
            Ok(n)
        }
    }
    let mut t = Tar::new();
    t.file("a", b"x");
    let mut b = t.bytes();
    b.extend_from_slice(&[0u8; 8192]);
    let n = Cell::new(0);
    let f = Fixture::new();
    unpack_layer(Counting(&b, &n), &f.dest(), &opts()).unwrap();
    assert_eq!(n.get(), b.len());
}

#[test]
fn modes_and_owners_exact_whatever_umask_and_setgid_root() {
    let f = Fixture::new();
    // A setgid layer root with another group: new files would inherit group 1234.
    std::os::unix::fs::chown(f.dest(), None, Some(1234)).unwrap();
    fs::set_permissions(f.dest(), fs::Permissions::from_mode(0o2755)).unwrap();
    let mut t = Tar::new();
    t.raw(b"rw-all", EntryType::Regular, b"x", b"", 0o666, 0);
    t.raw(b"ro", EntryType::Regular, b"x", b"", 0o444, 0);
    t.raw(b"none", EntryType::Regular, b"x", b"", 0o000, 0);
    t.raw(b"plain", EntryType::Regular, b"x", b"", 0o644, 0);
    t.raw(b"d", EntryType::Directory, b"", b"", 0o775, 0);
    t.raw(b"d/in", EntryType::Regular, b"x", b"", 0o755, 0);
    f.unpack(t, &opts()).unwrap();
    for (name, mode) in [("rw-all", 0o666), ("ro", 0o444), ("none", 0), ("plain", 0o644), ("d", 0o775), ("d/in", 0o755)]
    {
        let m = fs::symlink_metadata(f.dest().join(name)).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (mode, 0, 0), "{name}");
    }
}

#[test]
fn refused_user_xattr_is_a_warning() {
    // user.* xattrs are not allowed on symlinks: the filesystem refuses them.
    let f = Fixture::new();
    let mut t = Tar::new();
    t.file("target", b"t");
    t.pax(&[("SCHILY.xattr.user.onlink", b"v"), ("SCHILY.xattr.trusted.onlink", b"w")]);
    t.symlink("lnk", "target");
    let st = f.unpack(t, &opts()).unwrap();
    assert_eq!(st.warnings.len(), 1, "{:?}", st.warnings);
    assert!(st.warnings[0].starts_with("1 xattrs refused"), "{:?}", st.warnings);
    assert!(st.warnings[0].contains("user.onlink on lnk"), "{:?}", st.warnings);
    assert_eq!(xattr(&f.dest().join("lnk"), "trusted.onlink").as_deref(), Some(&b"w"[..]));
}

#[test]
fn unsupported_entries_and_aufs_metadata_are_skipped_with_a_warning() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.raw(b"vol", EntryType::new(b'V'), b"", b"", 0o644, 0);
    t.file(".wh..wh.plnk/123.456", b"x").file(".wh..wh.aufs", b"");
    let st = f.unpack(t, &opts()).unwrap();
    assert_eq!(st.warnings.len(), 2, "{:?}", st.warnings);
    assert_eq!(fs::read_dir(f.dest()).unwrap().count(), 0);
}

#[test]
fn sparse_files_expand_within_the_limit() {
    let src = tempfile::tempdir().unwrap();
    let sparse = src.path().join("sparse");
    let file = fs::File::create(&sparse).unwrap();
    file.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&file, b"end", (64 << 20) - 3).unwrap();
    let mut t = Tar::new();
    t.0.sparse(true);
    t.0.append_path_with_name(&sparse, "sparse").unwrap();
    let bytes = t.bytes();
    assert!(bytes.len() < 1 << 20, "the tar stores holes as sparse: {}", bytes.len());
    let f = Fixture::new();
    let e = format!(
        "{:#}",
        unpack_layer(&bytes[..], &f.dest(), &UnpackOptions { max_bytes: 16 << 20, ..opts() }).unwrap_err()
    );
    assert!(e.contains("layer exceeds the limit of 16777216 bytes uncompressed"), "{e}");
    let f = Fixture::new();
    unpack_layer(&bytes[..], &f.dest(), &opts()).unwrap();
    let m = fs::metadata(f.dest().join("sparse")).unwrap();
    assert_eq!(m.len(), 64 << 20);
}

#[test]
fn entries_hidden_after_a_single_zero_block_are_refused() {
    let mut t = Tar::new();
    t.file("a", b"x");
    let mut hidden = Tar::new();
    hidden.file("hidden", b"y");
    // One zero block only (into_inner would write the proper two).
    let mut b = t.0.get_ref().clone();
    b.extend_from_slice(&[0u8; 512]);
    b.extend_from_slice(&hidden.bytes());
    let f = Fixture::new();
    let e = format!("{:#}", unpack_layer(&b[..], &f.dest(), &opts()).unwrap_err());
    assert!(e.contains("single end-of-archive block"), "{e}");
}

#[test]
fn a_directory_listed_twice_takes_the_last_metadata() {
    let f = Fixture::new();
    let mut t = Tar::new();
    t.raw(b"d", EntryType::Directory, b"", b"", 0o700, 1000);
    t.raw(b"d/f", EntryType::Regular, b"x", b"", 0o644, 0);
    t.raw(b"d", EntryType::Directory, b"", b"", 0o751, 0);
    f.unpack(t, &opts()).unwrap();
    let m = fs::metadata(f.dest().join("d")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o751));
    assert_eq!(fs::read(f.dest().join("d/f")).unwrap(), b"x");
}
