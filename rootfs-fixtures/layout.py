"""OCI image layouts, oci-archives and docker-archives written from Layer objects."""
import io
import json
import os
import platform
import tarfile

from tarlayer import MTIME, sha256

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
CREATED = "2020-01-01T00:00:00Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}
# The host's architecture: busybox in the image is the host's binary.
ARCH = _ARCH.get(platform.machine(), platform.machine())


def canon(obj):
    """Canonical JSON bytes (sorted keys, no spaces): identical objects, identical digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image_config(layers, config=None):
    return {
        "created": CREATED,
        "architecture": ARCH,
        "os": "linux",
        "config": config if config is not None else
        {"Env": ["PATH=" + DEFAULT_PATH], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
        "history": [{"created": CREATED, "created_by": "minirun rootfs-fixtures layer %d" % i}
                    for i in range(len(layers))],
    }


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o644)


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def write_blob(layout, data):
    """Store `data` as a blob and return its descriptor fields (digest, size)."""
    digest = sha256(data)
    path = blob_path(layout, digest)
    if not os.path.exists(path):
        write_file(path, data)
    return digest, len(data)


def write_layout(layout, ref, layers, config=None, config_bytes=None,
                 mutate_config=None, mutate_manifest=None):
    """Write a one-image OCI layout. The mutate hooks and `config_bytes` exist for broken
    fixtures; normal images leave them unset. Returns a summary for images.json."""
    cfg = image_config(layers, config)
    if mutate_config:
        mutate_config(cfg)
    cfg_bytes = canon(cfg) if config_bytes is None else config_bytes
    cfg_digest, cfg_size = write_blob(layout, cfg_bytes)
    for l in layers:
        write_blob(layout, l.blob)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": cfg_digest, "size": cfg_size},
        "layers": [l.descriptor() for l in layers],
    }
    if mutate_manifest:
        mutate_manifest(manifest)
    man_digest, man_size = write_blob(layout, canon(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MEDIA_MANIFEST, "digest": man_digest, "size": man_size,
            "platform": {"architecture": ARCH, "os": "linux"},
            "annotations": {REF_ANNOTATION: ref},
        }],
    }
    write_file(os.path.join(layout, "index.json"), canon(index))
    write_file(os.path.join(layout, "oci-layout"), canon({"imageLayoutVersion": "1.0.0"}))
    return {
        "ref": ref, "manifest": man_digest, "config": cfg_digest,
        "layers": [{"mediaType": l.media_type, "digest": l.digest, "size": l.size,
                    "diff_id": l.diff_id} for l in layers],
    }


def _tar_member(tf, name, data=None, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.mtime = MTIME
    ti.uname = ti.gname = ""
    if data is None:
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        tf.addfile(ti)
    else:
        ti.mode = mode
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data) if isinstance(data, bytes) else data)


def tar_directory(src, dst):
    """An oci-archive: `src` (a layout) as a tar with the layout at its root."""
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tf:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = os.path.relpath(root, src)
            if rel != ".":
                _tar_member(tf, rel + "/")
            for name in sorted(files):
                path = os.path.join(root, name)
                arc = name if rel == "." else rel + "/" + name
                with open(path, "rb") as fh:
                    ti = tarfile.TarInfo(arc)
                    ti.mtime, ti.mode, ti.uname, ti.gname = MTIME, 0o644, "", ""
                    ti.size = os.fstat(fh.fileno()).st_size
                    tf.addfile(ti, fh)
    os.chmod(dst, 0o644)


def docker_archive(dst, layers, config, repo_tags):
    """A docker-archive as `docker save` writes it: manifest.json, <hex>.json config,
    <layer>/layer.tar (uncompressed), <layer>/VERSION, <layer>/json, repositories."""
    cfg_bytes = canon(image_config(layers, config))
    cfg_hex = sha256(cfg_bytes).split(":", 1)[1]
    ids = [l.diff_id.split(":", 1)[1] for l in layers]
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tf:
        for i, (l, lid) in enumerate(zip(layers, ids)):
            v1 = {"id": lid, "created": CREATED, "os": "linux",
                  "container_config": {"Cmd": None}}
            if i > 0:
                v1["parent"] = ids[i - 1]
            if i == len(layers) - 1:
                v1["config"] = config or {}
                v1["architecture"] = ARCH
            _tar_member(tf, lid + "/")
            _tar_member(tf, lid + "/VERSION", b"1.0")
            _tar_member(tf, lid + "/json", canon(v1))
            _tar_member(tf, lid + "/layer.tar", l.tar)
        _tar_member(tf, cfg_hex + ".json", cfg_bytes)
        manifest = [{"Config": cfg_hex + ".json", "RepoTags": repo_tags,
                     "Layers": [lid + "/layer.tar" for lid in ids]}]
        _tar_member(tf, "manifest.json", canon(manifest))
        repos = {}
        for tag in repo_tags:
            repo, _, t = tag.rpartition(":")
            repos.setdefault(repo, {})[t] = ids[-1]
        _tar_member(tf, "repositories", canon(repos))
    os.chmod(dst, 0o644)
    return {"config": "sha256:" + cfg_hex, "repo_tags": repo_tags,
            "layers": ["sha256:" + i for i in ids]}
