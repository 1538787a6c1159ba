"""Deterministic layer tars: entries described as data, written with fixed metadata.

Every byte of a layer depends only on its entry list, so the same layer has the same
digest in every image (and every run) that contains it.
"""
import calendar
import gzip
import hashlib
import io
import subprocess
import tarfile

# 2020-01-01T00:00:00Z: the mtime of every entry unless a fixture says otherwise.
MTIME = calendar.timegm((2020, 1, 1, 0, 0, 0))
# A distinctive mtime (2001-02-03T04:05:06Z) so tests can see mtimes survive unpacking.
MOTD_MTIME = calendar.timegm((2001, 2, 3, 4, 5, 6))

MEDIA_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_GZIP = MEDIA_TAR + "+gzip"
MEDIA_ZSTD = MEDIA_TAR + "+zstd"
MEDIA = {"tar": MEDIA_TAR, "gzip": MEDIA_GZIP, "zstd": MEDIA_ZSTD}


class Entry:
    """One tar member. `kind` is file, dir, symlink, hardlink, fifo or chardev."""

    def __init__(self, path, kind, mode, data=b"", link="", uid=0, gid=0,
                 mtime=MTIME, xattrs=None, dev=(0, 0)):
        self.path = path.rstrip("/") if kind == "dir" and path != "/" else path
        self.kind = kind
        self.mode = mode
        self.data = data
        self.link = link
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.xattrs = xattrs or {}
        self.dev = dev


def d(path, mode=0o755, **kw):
    return Entry(path, "dir", mode, **kw)


def f(path, data, mode=0o644, **kw):
    if isinstance(data, str):
        data = data.encode()
    return Entry(path, "file", mode, data=data, **kw)


def sym(path, target, **kw):
    return Entry(path, "symlink", 0o777, link=target, **kw)


def hard(path, target, mode=0o644, **kw):
    """A hardlink; give it the target's mode and owner, as tar does, so an unpacker that
    applies the header to the shared inode changes nothing."""
    return Entry(path, "hardlink", mode, link=target, **kw)


def fifo(path, mode=0o644, **kw):
    return Entry(path, "fifo", mode, **kw)


def chardev(path, major, minor, mode=0o666, **kw):
    return Entry(path, "chardev", mode, dev=(major, minor), **kw)


def whiteout(path):
    """A plain whiteout: `dir/.wh.name` hides `dir/name` of lower layers."""
    head, _, name = path.rpartition("/")
    return f((head + "/" if head else "") + ".wh." + name, b"")


def opaque(dirpath):
    """An opaque marker: hides everything lower layers put in `dirpath`."""
    return f(dirpath.rstrip("/") + "/.wh..wh..opq", b"")


def with_parents(entries, mode=0o755):
    """Add a plain directory entry for every missing parent directory."""
    have = {e.path for e in entries}
    out = list(entries)
    for e in entries:
        parts = e.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in have and ".." not in parts:
                have.add(p)
                out.append(d(p, mode))
    return out


def sort_entries(entries):
    """Parents before children (component-wise order); hardlinks after their targets."""
    ordered = sorted(entries, key=lambda e: e.path.split("/"))
    return [e for e in ordered if e.kind != "hardlink"] + \
        [e for e in ordered if e.kind == "hardlink"]


_TYPES = {
    "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE,
}


def tarinfo(e):
    ti = tarfile.TarInfo(e.path + "/" if e.kind == "dir" else e.path)
    ti.type = _TYPES[e.kind]
    ti.mode = e.mode
    ti.uid, ti.gid = e.uid, e.gid
    ti.uname = ti.gname = ""
    ti.mtime = e.mtime
    ti.size = len(e.data) if e.kind == "file" else 0
    ti.linkname = e.link
    ti.devmajor, ti.devminor = e.dev
    if e.xattrs:
        ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in sorted(e.xattrs.items())}
    return ti


def build_tar(entries, sort=True):
    """The uncompressed tar of `entries` (PAX format); `sort=False` keeps the given order,
    which hostile fixtures need."""
    if sort:
        entries = sort_entries(entries)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            tf.addfile(tarinfo(e), io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


def compress(data, kind, level=None):
    if kind == "tar":
        return data
    if kind == "gzip":
        # mtime=0 and no file name: the gzip header is the same in every run.
        return gzip.compress(data, compresslevel=6 if level is None else level, mtime=0)
    if kind == "zstd":
        lvl = "-%d" % (3 if level is None else level)
        return subprocess.run(["zstd", "-q", lvl, "-c", "--no-progress"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    raise ValueError("unknown compression " + kind)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layer:
    """A layer as stored in a blob store: the blob, its descriptor and its diff_id."""

    def __init__(self, tar, kind="gzip", level=None, blob=None, diff_id=None):
        self.tar = tar
        self.kind = kind
        self.media_type = MEDIA[kind]
        self.blob = compress(tar, kind, level) if blob is None else blob
        self.digest = sha256(self.blob)
        self.size = len(self.blob)
        self.diff_id = sha256(tar) if diff_id is None else diff_id

    @classmethod
    def of(cls, entries, kind="gzip", sort=True, parents=True, level=None):
        if parents:
            entries = with_parents(entries)
        return cls(build_tar(entries, sort=sort), kind, level)

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
