//! unpack_layer on the generated fixture images: every layer unpacked on its own,
//! stacked with the real kernel overlay (root, trusted xattrs) and compared with what
//! images.json expects; the hostile cases must leave their host sentinels alone.
mod common;

use minirun::storage::unpack::{UnpackOptions, unpack_layer};
use serde_json::Value;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

fn opts() -> UnpackOptions {
    UnpackOptions {
        opaque_xattr: "trusted.overlay.opaque".into(),
        max_bytes: 1 << 32,
        ignore_chown_errors: false,
        create_devices: true,
    }
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// The layers of the layout's first manifest: (media type, blob path).
fn layers(layout: &Path) -> Vec<(String, PathBuf)> {
    let index = json(&layout.join("index.json"));
    let manifest = json(&blob(layout, index["manifests"][0]["digest"].as_str().unwrap()));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mt = l["mediaType"].as_str().unwrap().to_string();
            (mt, blob(layout, l["digest"].as_str().unwrap()))
        })
        .collect()
}

fn decompressed(media_type: &str, path: &Path) -> Box<dyn Read> {
    let f = std::io::BufReader::new(fs::File::open(path).unwrap());
    if media_type.ends_with("gzip") {
        Box::new(flate2::bufread::MultiGzDecoder::new(f))
    } else if media_type.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::with_buffer(f).unwrap())
    } else {
        Box::new(f)
    }
}

/// Unpack every layer of `layout` into `base/layers/<i>`; the first error stops.
fn unpack_all(layout: &Path, base: &Path, o: &UnpackOptions) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for (i, (mt, path)) in layers(layout).iter().enumerate() {
        let d = base.join(format!("layers/{i}"));
        fs::create_dir_all(&d).unwrap();
        unpack_layer(decompressed(mt, path), &d, o)?;
        dirs.push(d);
    }
    Ok(dirs)
}

/// Unmounts on drop, so a failed assertion never leaves a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn mount_overlay(dirs: &[PathBuf], merged: &Path) -> Mounted {
    fs::create_dir_all(merged).unwrap();
    let lower: Vec<String> = dirs.iter().rev().map(|d| d.display().to_string()).collect();
    let data = format!("lowerdir={}", lower.join(":"));
    nix::mount::mount(Some("overlay"), merged, Some("overlay"), nix::mount::MsFlags::MS_RDONLY, Some(data.as_str()))
        .unwrap();
    Mounted(merged.to_path_buf())
}

fn check_expect(name: &str, root: &Path, expect: &Value) {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let obj = |k: &str| expect[k].as_object().cloned().unwrap_or_default();
    for (p, content) in obj("files") {
        assert_eq!(fs::read_to_string(at(&p)).unwrap(), content.as_str().unwrap(), "{name}: {p}");
    }
    for p in expect["absent"].as_array().cloned().unwrap_or_default() {
        assert!(fs::symlink_metadata(at(p.as_str().unwrap())).is_err(), "{name}: {p} must be absent");
    }
    for (p, want) in obj("dir_listing") {
        let mut got: Vec<String> =
            fs::read_dir(at(&p)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        got.sort();
        let want: Vec<String> = want.as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
        assert_eq!(got, want, "{name}: listing of {p}");
    }
    for (p, m) in obj("meta") {
        let md = fs::symlink_metadata(at(&p)).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_symlink() {
            "symlink"
        } else if ft.is_dir() {
            "dir"
        } else if ft.is_char_device() {
            "chardev"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "file"
        };
        assert_eq!(kind, m[0].as_str().unwrap(), "{name}: type of {p}");
        assert_eq!(
            (md.uid() as u64, md.gid() as u64),
            (m[1].as_u64().unwrap(), m[2].as_u64().unwrap()),
            "{name}: owner of {p}"
        );
        if kind != "symlink" {
            assert_eq!(format!("{:o}", md.mode() & 0o7777), m[3].as_str().unwrap(), "{name}: mode of {p}");
        }
    }
    for (p, dev) in obj("devices") {
        let md = fs::symlink_metadata(at(&p)).unwrap();
        let want = libc::makedev(dev[0].as_u64().unwrap() as u32, dev[1].as_u64().unwrap() as u32);
        assert_eq!(md.rdev(), want, "{name}: device {p}");
    }
    for pair in expect["hardlinks"].as_array().cloned().unwrap_or_default() {
        let a = fs::metadata(at(pair[0].as_str().unwrap())).unwrap();
        let b = fs::metadata(at(pair[1].as_str().unwrap())).unwrap();
        assert_eq!(a.ino(), b.ino(), "{name}: hardlink {pair}");
    }
    for (p, t) in obj("mtimes") {
        assert_eq!(fs::symlink_metadata(at(&p)).unwrap().mtime() as u64, t.as_u64().unwrap(), "{name}: mtime of {p}");
    }
    for (p, t) in obj("symlinks") {
        assert_eq!(fs::read_link(at(&p)).unwrap().to_str().unwrap(), t.as_str().unwrap(), "{name}: {p}");
    }
    for (p, xs) in obj("xattrs") {
        for (k, v) in xs.as_object().unwrap() {
            let c = std::ffi::CString::new(at(&p).into_os_string().into_encoded_bytes()).unwrap();
            let key = std::ffi::CString::new(k.as_str()).unwrap();
            let mut buf = [0u8; 256];
            // SAFETY: C strings and a buffer with its length.
            let n = unsafe { libc::lgetxattr(c.as_ptr(), key.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            assert!(n >= 0, "{name}: xattr {k} on {p}");
            assert_eq!(&buf[..n as usize], v.as_str().unwrap().as_bytes(), "{name}: xattr {k} on {p}");
        }
    }
}

#[test]
fn fixture_images_unpack_and_stack_in_kernel_overlay() {
    if !common::is_root() {
        eprintln!("skipped: needs root for trusted.overlay xattrs and devices");
        return;
    }
    let fx = common::fixtures();
    let images = json(&fx.join("images.json"));
    for name in ["base", "whiteout", "whiteout-mixed", "compress", "shared-a"] {
        let img = &images["images"][name];
        let tmp = tempfile::tempdir().unwrap();
        let dirs = unpack_all(&fx.join(img["path"].as_str().unwrap()), tmp.path(), &opts())
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        if dirs.len() == 1 {
            // Overlay needs two lower layers when it has no upper one.
            check_expect(name, &dirs[0], &img["expect"]);
            continue;
        }
        let merged = tmp.path().join("merged");
        let _m = mount_overlay(&dirs, &merged);
        check_expect(name, &merged, &img["expect"]);
    }
}

/// Every file below `dir` (not following symlinks).
fn inodes(dir: &Path, out: &mut Vec<(u64, u64)>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = fs::symlink_metadata(e.path()).unwrap();
        out.push((md.dev(), md.ino()));
        if md.is_dir() {
            inodes(&e.path(), out);
        }
    }
}

#[test]
fn hostile_fixture_layers_stay_inside() {
    if !common::is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let fx = common::fixtures();
    let cases = json(&fx.join("hostile/cases.json"));
    let mut seen = 0;
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let kind = case["outside_kind"].as_str().unwrap();
        if case["kind"] != "oci-layout" || !["create", "delete", "link"].contains(&kind) {
            continue;
        }
        seen += 1;
        let outside: Vec<PathBuf> =
            case["outside"].as_array().unwrap().iter().map(|p| PathBuf::from(p.as_str().unwrap())).collect();
        if kind == "delete" {
            for p in &outside {
                fs::write(p, b"sentinel").unwrap();
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let res = unpack_all(&fx.join(case["path"].as_str().unwrap()), tmp.path(), &opts());
        if let Err(e) = &res {
            let msg = format!("{e:#}");
            assert!(msg.starts_with("entry \""), "{name}: error should name the entry: {msg}");
        }
        for p in &outside {
            match kind {
                "create" => assert!(fs::symlink_metadata(p).is_err(), "{name}: {} was created", p.display()),
                "delete" => {
                    assert_eq!(fs::read(p).unwrap(), b"sentinel", "{name}: {} was touched", p.display());
                    fs::remove_file(p).unwrap();
                }
                _ => {
                    let md = fs::metadata(p).unwrap();
                    let mut all = Vec::new();
                    inodes(&tmp.path().join("layers"), &mut all);
                    assert!(!all.contains(&(md.dev(), md.ino())), "{name}: {} was linked", p.display());
                }
            }
        }
        assert!(tmp.path().join("layers").is_dir(), "{name}: the storage dir survived");
    }
    assert!(seen >= 10, "only {seen} path cases found");
}

#[test]
fn bomb_fixture_hits_the_limit() {
    let fx = common::fixtures();
    let cases = json(&fx.join("hostile/cases.json"));
    let case = cases.as_array().unwrap().iter().find(|c| c["name"] == "bomb").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let o = UnpackOptions { max_bytes: 16 << 20, ..opts() };
    let e = unpack_all(&fx.join(case["path"].as_str().unwrap()), tmp.path(), &o).unwrap_err();
    assert!(format!("{e:#}").contains("layer exceeds the limit of 16777216 bytes uncompressed"), "{e:#}");
}
