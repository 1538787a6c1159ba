"""Hostile and broken inputs: each a complete OCI layout whose only problem is the named
one. Attacks point at sentinel paths under /tmp, never at real files, except the two
hardlink cases, which can only link (never write) and whose check is "not linked"."""
import io
import json
import os
import tarfile

from layout import (ARCH, MEDIA_MANIFEST, REF_ANNOTATION, blob_path, canon, write_blob,
                    write_layout)
from tarlayer import Layer, d, f, hard, sha256, sym, tarinfo

# Deep enough to reach / from any storage directory a test uses.
UP = "../" * 16


def pwned(name):
    return "/tmp/minirun-pwned-" + name


def _text(n, seed):
    """n bytes of deterministic, only slightly compressible text."""
    out, x = bytearray(), seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        out += b"%016x " % x
    return bytes(out[:n])


def build(out, base):
    """Write every case under out/hostile; returns the cases.json list."""
    root = os.path.join(out, "hostile")
    cases = []

    def case(name, desc, outside=(), kind=None, must_fail=False, layers=None, **kw):
        path = "hostile/" + name
        if layers is not None:
            write_layout(os.path.join(out, path), name + ":latest", layers, **kw)
        cases.append({"name": name, "path": path, "ref": name + ":latest", "desc": desc,
                      "outside": list(outside),
                      "outside_kind": kind or ("create" if outside else "none"),
                      "must_fail": must_fail})
        return os.path.join(out, path)

    def bad(entries, kind="gzip"):
        return Layer.of(entries, kind, sort=False, parents=False)

    # --- path attacks: a safe loader rejects the layer or keeps everything inside ---
    case("dotdot", "entry ../…/tmp/minirun-pwned-dotdot climbs out of the layer",
         [pwned("dotdot")], layers=[base, bad([f(UP + "tmp/minirun-pwned-dotdot", "pwned\n")])])
    case("absolute", "absolute entry /tmp/minirun-pwned-absolute (may be stripped to "
         "tmp/…, must never reach the host path)", [pwned("absolute")],
         layers=[base, bad([f("/tmp/minirun-pwned-absolute", "pwned\n")])])
    case("symlink-escape", "symlink esc -> /tmp, then file esc/minirun-pwned-symlink",
         [pwned("symlink")], layers=[base, bad([
             sym("esc", "/tmp"), f("esc/minirun-pwned-symlink", "pwned\n")])])
    case("symlink-relative-escape", "symlink up -> ../…/tmp, then file "
         "up/minirun-pwned-symrel", [pwned("symrel")], layers=[base, bad([
             sym("up", UP + "tmp"), f("up/minirun-pwned-symrel", "pwned\n")])])
    case("symlink-earlier-layer", "layer 2: symlink esc2 -> /tmp; layer 3: file "
         "esc2/minirun-pwned-earlier", [pwned("earlier")], layers=[
             base, bad([sym("esc2", "/tmp")]),
             bad([f("esc2/minirun-pwned-earlier", "pwned\n")])])
    case("file-over-symlink", "symlink over -> /tmp/minirun-pwned-over, then a regular "
         "file 'over': must replace the link, not write through it", [pwned("over")],
         layers=[base, bad([sym("over", "/tmp/minirun-pwned-over"), f("over", "pwned\n")])])
    case("dir-over-symlink", "symlink d -> /tmp, then directory d, then file "
         "d/minirun-pwned-dirover", [pwned("dirover")], layers=[base, bad([
             sym("d", "/tmp"), d("d"), f("d/minirun-pwned-dirover", "pwned\n")])])
    case("hardlink-outside", "hardlink hl -> ../…/etc/passwd: hl must not become the "
         "host's /etc/passwd (same inode) nor carry its content", ["/etc/passwd"], "link",
         layers=[base, bad([hard("hl", UP + "etc/passwd")])])
    case("hardlink-through-symlink", "symlink etclink -> /etc, then hardlink hl2 -> "
         "etclink/passwd: hl2 must not be the host's /etc/passwd", ["/etc/passwd"], "link",
         layers=[base, bad([sym("etclink", "/etc"), hard("hl2", "etclink/passwd")])])
    case("whiteout-traversal", "whiteouts naming ../…: '.wh.' + '../…/tmp/minirun-pwned-wh', "
         "a/.wh.. and a/.wh... (the dir itself and its parent), .wh... at the root (the "
         "layer's parent) and ../…/tmp/.wh.minirun-pwned-whout (a whiteout outside). "
         "Create the sentinels before loading: they must still exist afterwards, and so "
         "must the test's storage directory", [pwned("wh"), pwned("whout")], "delete",
         layers=[base, bad([
             d("a"), f("a/keep", "keep\n"),
             f("a/.wh..", b""), f("a/.wh...", b""), f(".wh...", b""),
             f(".wh..." + "/.." * 16 + "/tmp/minirun-pwned-wh", b""),
             f(UP + "tmp/.wh.minirun-pwned-whout", b""),
         ])])

    # --- integrity: every one must fail, leaving nothing behind ---
    small = Layer.of([f("x", "x\n")])

    # Same size, valid gzip and tar, different bytes: only the digest check catches it.
    orig = Layer.of([f("x", "original\n")], level=0)
    alt = Layer.of([f("x", "tampered\n")], level=0)
    assert orig.size == alt.size
    p = case("digest-mismatch", "layer blob bytes replaced (same size, valid gzip) after "
             "the manifest was written", must_fail=True, layers=[base, orig])
    with open(blob_path(p, orig.digest), "wb") as fh:
        fh.write(alt.blob)

    def wrong_size(m):
        m["layers"][1]["size"] += 1
    case("size-mismatch", "manifest gives the layer size one byte too large", must_fail=True,
         layers=[base, small], mutate_manifest=wrong_size)

    def wrong_diffid(c):
        c["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
    case("diffid-mismatch", "config rootfs.diff_ids[1] is wrong", must_fail=True,
         layers=[base, small], mutate_config=wrong_diffid)

    p = case("missing-blob", "the second layer's blob file is deleted", must_fail=True,
             layers=[base, small])
    os.unlink(blob_path(p, small.digest))

    p = case("bad-index-json", "index.json is not JSON", must_fail=True, layers=[base])
    with open(os.path.join(p, "index.json"), "wb") as fh:
        fh.write(b'{"schemaVersion": 2, "manifests": [')

    p = case("bad-manifest-json", "the manifest blob (digest correct) is not JSON",
             must_fail=True, layers=[base])
    junk = b"this is not a manifest\n"
    digest, size = write_blob(p, junk)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": MEDIA_MANIFEST, "digest": digest, "size": size,
        "annotations": {REF_ANNOTATION: "bad-manifest-json:latest"}}]}
    with open(os.path.join(p, "index.json"), "wb") as fh:
        fh.write(canon(index))

    case("bad-config-json", "the config blob (digest correct) is not JSON", must_fail=True,
         layers=[base], config_bytes=b"{not json\n")
    case("config-missing-rootfs", "the config is JSON but has no rootfs", must_fail=True,
         layers=[base], mutate_config=lambda c: c.pop("rootfs"))

    text = Layer.of([f("big.txt", _text(256 * 1024, 7))], "gzip")
    cut = Layer(text.tar, "gzip", blob=text.blob[:text.size // 2])
    case("truncated-gzip", "the gzip layer is cut in the middle; manifest digest and size "
         "match the truncated bytes, so only decompression fails", must_fail=True,
         layers=[base, cut])
    ztext = Layer.of([f("big.txt", _text(256 * 1024, 8))], "zstd")
    zcut = Layer(ztext.tar, "zstd", blob=ztext.blob[:ztext.size // 2])
    case("corrupt-zstd", "the zstd layer is cut in the middle; manifest digest and size "
         "match the cut bytes, so only decompression fails", must_fail=True,
         layers=[base, zcut])

    bomb = Layer.of([f("zeros", bytes(64 * 1024 * 1024))], "gzip")
    case("bomb", "a gzip layer of ~64 KiB that expands to one 64 MiB file of zeros: load "
         "with --max-layer-size 16M (or less) and it must fail; without a limit it loads",
         kind="none", layers=[base, bomb])
    cases[-1]["max_layer_size"] = 16 * 1024 * 1024

    docker_escape(os.path.join(root, "docker-escape.tar"), entries=False)
    case("docker-escape", "docker-archive whose manifest.json names Layers "
         "['../…/tmp/minirun-pwned-docker/layer.tar'] and Config '../outside.json' (the "
         "real config and layer sit in the tar under plain names). The loader must refuse: "
         "never read outside the archive", [pwned("docker")], "read", must_fail=True)
    cases[-1].update(path="hostile/docker-escape.tar", kind="docker-archive")
    docker_escape(os.path.join(root, "docker-escape-entries.tar"), entries=True)
    case("docker-escape-entries", "docker-archive whose tar entries (and manifest "
         "references) are named '../outside.json' and "
         "'../…/tmp/minirun-pwned-docker-entries/layer.tar': extracting it naively writes "
         "outside. podman accepts it (it only looks names up inside the tar); a loader that "
         "extracts must refuse", [pwned("docker-entries")], must_fail=True)
    cases[-1].update(path="hostile/docker-escape-entries.tar", kind="docker-archive")
    for c in cases:
        c.setdefault("kind", "oci-layout")

    with open(os.path.join(root, "cases.json"), "wb") as fh:
        fh.write(json.dumps(cases, indent=1, sort_keys=True).encode() + b"\n")
    return cases


def docker_escape(dst, entries):
    """A docker-archive whose manifest points outside the archive. With `entries` the
    tar also holds members under those escaping names; without, the real config and
    layer are stored under plain names the manifest does not use."""
    layer = Layer.of([f("x", "x\n")], "tar")
    cfg = canon({"architecture": ARCH, "os": "linux", "config": {},
                 "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}})
    name = "docker-escape-entries" if entries else "docker-escape"
    layer_name = UP + "tmp/minirun-pwned-%s/layer.tar" % name
    manifest = canon([{"Config": "../outside.json", "RepoTags": [name + ":latest"],
                       "Layers": [layer_name]}])
    members = [("manifest.json", manifest)]
    if entries:
        members += [("../outside.json", cfg), (layer_name, layer.tar)]
    else:
        lid = layer.diff_id.split(":", 1)[1]
        members += [(sha256(cfg).split(":", 1)[1] + ".json", cfg),
                    (lid + "/layer.tar", layer.tar)]
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tf:
        for member, data in members:
            tf.addfile(tarinfo(f(member, data)), io.BytesIO(data))
    os.chmod(dst, 0o644)
