"""The regular test images: base and the images built on its layer."""
import os
import posixpath
import subprocess

from layout import DEFAULT_PATH, docker_archive, tar_directory, write_layout
from tarlayer import (MOTD_MTIME, MTIME, Layer, chardev, d, f, fifo, hard, opaque, sym,
                      whiteout, with_parents)

BUSYBOX = "/usr/bin/busybox"

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "app:x:999:999:app:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\napp:x:999:\nnogroup:x:65534:\n"
MOTD = "minirun fixture motd\n"
# A script, not a binary: setuid is ignored for scripts, so the fixture rootfs on the
# host never holds a usable setuid-root program.
SUIDTEST = "#!/bin/sh\necho suidtest\n"


def applets():
    out = subprocess.run([BUSYBOX, "--list-full"], stdout=subprocess.PIPE, check=True,
                         text=True).stdout
    return sorted(p for p in out.split() if p and p != "bin/busybox")


def base_entries():
    with open(BUSYBOX, "rb") as fh:
        busybox = fh.read()
    es = [
        f("bin/busybox", busybox, 0o755),
        f("etc/passwd", PASSWD), f("etc/group", GROUP),
        f("etc/hostname", "fixture\n"),
        f("etc/motd", MOTD, mtime=MOTD_MTIME, xattrs={"user.minirun": "fixture"}),
        f("etc/resolv.conf", b""),
        d("tmp", 0o1777), d("root", 0o700),
        d("home"), d("home/app", uid=999, gid=999),
        f("home/app/owned", "owned by app\n", 0o640, uid=999, gid=999),
        d("proc"), d("sys"), d("dev"), d("run"), d("var"),
        f("opt/dir/a", "a\n"), f("opt/dir/b", "b\n"),
        f("usr/bin/suidtest", SUIDTEST, 0o4755),
        hard("usr/bin/hardlink-of-suidtest", "usr/bin/suidtest", 0o4755),
        fifo("run/fifo"),
        chardev("dev/null-fixture", 1, 3),
    ]
    taken = {e.path for e in es}
    for p in applets():
        if p not in taken:
            # Relative links resolve both inside the container and in the host copy.
            es.append(sym(p, posixpath.relpath("bin/busybox", posixpath.dirname(p))))
    return es


def export_rootfs(entries, dest):
    """Write `entries` as a plain directory (skipping device nodes), owners applied
    when running as root."""
    as_root = os.geteuid() == 0
    os.makedirs(dest)
    dirs = []
    for e in sorted(entries, key=lambda e: (e.kind == "hardlink", e.path.split("/"))):
        p = os.path.join(dest, e.path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if e.kind == "chardev":
            continue
        if e.kind == "dir":
            os.makedirs(p, exist_ok=True)
            dirs.append(e)
        elif e.kind == "file":
            with open(p, "wb") as fh:
                fh.write(e.data)
        elif e.kind == "symlink":
            os.symlink(e.link, p)
        elif e.kind == "hardlink":
            os.link(os.path.join(dest, e.link), p)
            continue
        elif e.kind == "fifo":
            os.mkfifo(p)
        if as_root:
            os.lchown(p, e.uid, e.gid)
        if e.kind != "symlink":
            os.chmod(p, e.mode)
        for k, v in e.xattrs.items():
            try:
                os.setxattr(p, k, v.encode())
            except OSError:
                pass  # a filesystem without user xattrs: the tar layers still carry it
        if e.kind != "dir":
            os.utime(p, (e.mtime, e.mtime), follow_symlinks=False)
    for e in dirs:
        os.utime(os.path.join(dest, e.path), (e.mtime, e.mtime))
    os.utime(dest, (entries[0].mtime, entries[0].mtime))


def build(out):
    """Write every regular image into `out`; returns the images.json entries."""
    images = {}
    base_es = with_parents(base_entries())
    base = Layer.of(base_es, "gzip")

    def image(name, layers, config=None, expect=None, **kw):
        info = write_layout(os.path.join(out, name), name + ":latest", layers, config, **kw)
        info["path"] = name
        info["expect"] = expect or {}
        images[name] = info
        return info

    image("base", [base], expect={
        "files": {"/etc/motd": MOTD, "/etc/hostname": "fixture\n", "/opt/dir/a": "a\n",
                  "/etc/resolv.conf": ""},
        "absent": [],
        # type, uid, gid, octal mode (permission bits incl. setuid/sticky)
        "meta": {"/tmp": ["dir", 0, 0, "1777"], "/root": ["dir", 0, 0, "700"],
                 "/home/app": ["dir", 999, 999, "755"],
                 "/home/app/owned": ["file", 999, 999, "640"],
                 "/usr/bin/suidtest": ["file", 0, 0, "4755"],
                 "/run/fifo": ["fifo", 0, 0, "644"], "/bin/sh": ["symlink", 0, 0, "777"],
                 "/dev/null-fixture": ["chardev", 0, 0, "666"]},
        "devices": {"/dev/null-fixture": [1, 3]},
        "hardlinks": [["/usr/bin/suidtest", "/usr/bin/hardlink-of-suidtest"]],
        "xattrs": {"/etc/motd": {"user.minirun": "fixture"}},
        "mtimes": {"/etc/motd": MOTD_MTIME, "/etc/passwd": MTIME},
        "symlinks": {"/bin/sh": "busybox", "/usr/bin/env": "../../bin/busybox"}})
    export_rootfs(base_es, os.path.join(out, "rootfs"))

    # whiteout: delete a file, make a directory opaque (and refill it), add a file.
    wh = Layer.of([
        whiteout("etc/motd"), f("etc/added", "added\n"),
        d("opt/dir"), opaque("opt/dir"), f("opt/dir/c", "c\n"),
    ])
    image("whiteout", [base, wh], expect={
        "files": {"/etc/added": "added\n", "/opt/dir/c": "c\n"},
        "absent": ["/etc/motd", "/opt/dir/a", "/opt/dir/b"]})

    # The umoci rules within one layer: a whiteout and an opaque marker apply to lower
    # layers only, so entries of the same layer survive whatever their order.
    mixed = Layer.of([
        d("opt"), d("opt/dir"),
        f("opt/dir/early", "early\n"),        # before the markers: must survive
        whiteout("opt/dir/a"),                # plain whiteout, then opaque, same dir
        opaque("opt/dir"),
        f("opt/dir/late", "late\n"),
        d("etc"), whiteout("etc/hostname"), f("etc/hostname", "mixed\n"),
        d("home"), whiteout("home/app"),      # a whole directory with content
        d("newdir"), opaque("newdir"), f("newdir/x", "x\n"),  # opaque on a new dir
    ], sort=False)
    image("whiteout-mixed", [base, mixed], expect={
        "files": {"/opt/dir/early": "early\n", "/opt/dir/late": "late\n",
                  "/etc/hostname": "mixed\n", "/newdir/x": "x\n", "/etc/motd": MOTD},
        "absent": ["/opt/dir/a", "/opt/dir/b", "/home/app"],
        "dir_listing": {"/opt/dir": ["early", "late"], "/newdir": ["x"]}})

    for s in ("a", "b"):
        image("shared-" + s, [base, Layer.of([f(s, s + "\n")])],
              expect={"files": {"/" + s: s + "\n"}})

    image("compress", [
        base,
        Layer.of([f("compress/gzip", "gzip\n")], "gzip"),
        Layer.of([f("compress/zstd", "zstd\n")], "zstd"),
        Layer.of([f("compress/tar", "tar\n")], "tar"),
    ], expect={"files": {"/compress/gzip": "gzip\n", "/compress/zstd": "zstd\n",
                         "/compress/tar": "tar\n"}})

    image("config", [base], config={
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hello from config"],
        "Env": ["PATH=" + DEFAULT_PATH, "FIXTURE=yes"],
        "WorkingDir": "/home/app",
        "User": "app",
        "Volumes": {"/data": {}},
        "StopSignal": "SIGUSR1",
        "Labels": {"org.minirun.fixture": "config", "maintainer": "minirun fixtures"},
    }, expect={"stdout": "hello from config\n"})

    many = [base] + [Layer.of([f("layers/%d" % i, "%d\n" % i)]) for i in range(1, 130)]
    image("many", many, expect={"files": {"/layers/1": "1\n", "/layers/129": "129\n"}})

    tar_directory(os.path.join(out, "base"), os.path.join(out, "base.oci.tar"))
    images["base.oci.tar"] = {"path": "base.oci.tar", "kind": "oci-archive",
                              "ref": "base:latest"}
    info = docker_archive(os.path.join(out, "base.docker.tar"), [base, wh],
                          {"Env": ["PATH=" + DEFAULT_PATH], "Cmd": ["/bin/sh"]},
                          ["fixture/docker:latest", "fixture/docker:v1"])
    info.update({"path": "base.docker.tar", "kind": "docker-archive",
                 "expect": images["whiteout"]["expect"]})
    images["base.docker.tar"] = info
    return images, base
