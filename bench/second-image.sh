#!/usr/bin/env bash
# second-image.sh LAYOUT OUT.tar: write an oci-archive `bench2:latest` that shares all but
# the last layer of the bench image LAYOUT and has its own small top layer (200 files), for
# the "second image sharing the base" import figure. Prints the new layer's uncompressed
# bytes and file count.
set -euo pipefail
python3 - "$1" "$2" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile

layout, out = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])
index = json.load(open(os.path.join(layout, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))

# The new top layer: deterministic small text files under /second.
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    d = tarfile.TarInfo("second")
    d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1577836800
    t.addfile(d)
    for i in range(200):
        data = ("second image file %d\n" % i * 40).encode()
        f = tarfile.TarInfo("second/f%03d" % i)
        f.size, f.mode, f.mtime = len(data), 0o644, 1577836800
        t.addfile(f, io.BytesIO(data))
raw = raw.getvalue()
gz = gzip.compress(raw, compresslevel=6, mtime=0)
sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()

config["rootfs"]["diff_ids"] = config["rootfs"]["diff_ids"][:-1] + [sha(raw)]
config["history"] = config.get("history", [])[:-1] + [
    {"created": "2020-01-01T00:00:00Z", "created_by": "minirun bench second image top layer"}]
cfg = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
manifest["layers"] = manifest["layers"][:-1] + [{
    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(gz), "size": len(gz)}]
manifest["config"] = dict(manifest["config"], digest=sha(cfg), size=len(cfg))
man = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
       "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "digest": sha(man), "size": len(man),
                      "annotations": {"org.opencontainers.image.ref.name": "bench2:latest"}}]}

def add_bytes(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 1577836800
    t.addfile(ti, io.BytesIO(data))

tmp = out + ".tmp"
with tarfile.open(tmp, "w") as t:
    add_bytes(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add_bytes(t, "index.json", json.dumps(idx).encode())
    for l in manifest["layers"][:-1]:
        t.add(blob(l["digest"]), "blobs/sha256/" + l["digest"].split(":")[1])
    for data in (gz, cfg, man):
        add_bytes(t, "blobs/sha256/" + sha(data).split(":")[1], data)
os.chmod(tmp, 0o644)
os.rename(tmp, out)
print(len(raw), 200)
EOF
