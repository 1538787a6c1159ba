#!/usr/bin/env python3
"""Build minirun's test images from the host's busybox-static (see README.md).

    build.py OUT_DIR           all test images (a few seconds; a no-op when up to date)
    build.py --bench OUT_DIR   the large `bench` image only (about a minute)
    build.py --force ...       rebuild even when OUT_DIR/.complete matches

Output is deterministic: the same script on the same host gives byte-identical blobs.
It is built in OUT_DIR.tmp-<pid> and renamed into place, so OUT_DIR/.complete exists
only for a finished build.
"""
import sys

sys.dont_write_bytecode = True  # never litter the source tree (or fail when it is read-only)

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def script_hash(mode):
    """Hash of every module of this builder plus the busybox it packs: a change to either
    rebuilds."""
    h = hashlib.sha256(mode.encode())
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".py"):
            with open(os.path.join(HERE, name), "rb") as fh:
                h.update(name.encode() + b"\0" + fh.read())
    st = os.stat("/usr/bin/busybox")
    h.update(b"%d:%d" % (st.st_size, int(st.st_mtime)))
    return h.hexdigest()


def is_complete(out, digest):
    try:
        with open(os.path.join(out, ".complete")) as fh:
            return json.load(fh).get("script_sha256") == digest
    except (OSError, ValueError):
        return False


def build_into(tmp, mode):
    if mode == "bench":
        import bench
        return {"bench": bench.build(tmp)}
    import hostile
    import images
    imgs, base = images.build(tmp)
    cases = hostile.build(tmp, base)
    return {"images": imgs, "rootfs": "rootfs", "hostile": "hostile/cases.json",
            "hostile_cases": [c["name"] for c in cases]}


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--bench", "--force"}
    if len(args) != 1 or unknown:
        sys.stderr.write(__doc__)
        return 2
    out = os.path.abspath(args[0])
    mode = "bench" if "--bench" in flags else "fixtures"
    digest = script_hash(mode)
    if "--force" not in flags and is_complete(out, digest):
        return 0
    if not os.path.exists("/usr/bin/busybox"):
        sys.stderr.write("build.py: /usr/bin/busybox missing: apt-get install busybox-static\n")
        return 1

    os.umask(0o022)  # everything world-readable: rootless tests read it as another uid
    start = time.time()
    tmp = "%s.tmp-%d" % (out, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp, 0o755)
    try:
        summary = build_into(tmp, mode)
        summary["mode"] = mode
        with open(os.path.join(tmp, "images.json"), "w") as fh:
            json.dump(summary, fh, indent=1, sort_keys=True)
            fh.write("\n")
        # Written before the rename, so .complete and the content appear atomically.
        with open(os.path.join(tmp, ".complete"), "w") as fh:
            json.dump({"script_sha256": digest, "mode": mode,
                       "seconds": round(time.time() - start, 2)}, fh)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        if os.path.exists(out):
            if is_complete(out, digest) and "--force" not in flags:
                shutil.rmtree(tmp)  # a concurrent build finished first
                return 0
            old = "%s.old-%d" % (out, os.getpid())
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sys.stderr.write("build.py: %s built in %s (%.1fs)\n" % (mode, out, time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
