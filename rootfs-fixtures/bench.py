"""The large `bench` image: the base layer plus 7 generated gzip layers, ~400 MB and
~40,000 files, deterministic pseudo-random content that compresses to about half.

Content comes from two pools made once (so generation is cheap): hex-like text
(4 bits of entropy a byte, for the big "binary" files) and text of random words (for
the many small files). Files are slices at pseudo-random offsets; gzip's 32 KiB window
never sees the repetition, so compressed sizes stay realistic.
"""
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import images
from layout import docker_archive, tar_directory, write_layout
from tarlayer import Layer, build_tar, d, f, with_parents

LAYERS = 7            # plus the base layer: 8 in all
SMALL_PER_LAYER = 5700
BIG_PER_LAYER = 4     # 1..17 MiB each
GZIP_LEVEL = 6        # what docker and containers/image use by default
MiB = 1024 * 1024


def pools(rng):
    hexpool = rng.randbytes(48 * MiB).translate(bytes(b"0123456789abcdef"[i & 15]
                                                     for i in range(256)))
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 11)))
             for _ in range(5000)]
    lines, n = [], 0
    while n < 8 * MiB:
        line = " ".join(rng.choices(words, k=rng.randint(3, 14))) + "\n"
        lines.append(line)
        n += len(line)
    return hexpool, "".join(lines).encode()


def layer_entries(i, rng, hexpool, textpool):
    es = []
    for j in range(SMALL_PER_LAYER):
        size = min(int(rng.lognormvariate(7.3, 1.0)) + 16, 64 * 1024)  # median ~1.5 KiB
        off = rng.randrange(len(textpool) - size)
        es.append(f("data/l%d/d%03d/f%05d.txt" % (i, j // 100, j), textpool[off:off + size]))
    for j in range(BIG_PER_LAYER):
        size = rng.randint(1 * MiB, 17 * MiB)
        off = rng.randrange(len(hexpool) - size)
        es.append(f("data/l%d/big/blob%02d.bin" % (i, j), hexpool[off:off + size]))
    return with_parents(es)


def build(out):
    t0 = time.time()
    rng = random.Random(20200101)
    hexpool, textpool = pools(rng)
    base_es = with_parents(images.base_entries())
    # Entry lists are drawn in order from one rng, then tarred and gzipped in parallel
    # (zlib releases the GIL), so the output does not depend on scheduling.
    specs = [layer_entries(i, rng, hexpool, textpool) for i in range(1, LAYERS + 1)]
    t1 = time.time()

    def make(es):
        return Layer(build_tar(es), "gzip", level=GZIP_LEVEL)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        layers = [Layer.of(base_es)] + list(pool.map(make, specs))
    t2 = time.time()
    info = write_layout(os.path.join(out, "bench"), "bench:latest", layers)
    tar_directory(os.path.join(out, "bench"), os.path.join(out, "bench.oci.tar"))
    docker_archive(os.path.join(out, "bench.docker.tar"), layers, None,
                   ["fixture/bench:latest"])
    t3 = time.time()
    raw = sum(len(l.tar) for l in layers)
    packed = sum(l.size for l in layers)
    files = sum(1 for es in specs for e in es if e.kind == "file") + \
        sum(1 for e in base_es if e.kind == "file")
    stats = {"layers": len(layers), "files": files, "uncompressed_bytes": raw,
             "compressed_bytes": packed, "ratio": round(packed / raw, 3),
             "seconds": {"content": round(t1 - t0, 1), "tar+gzip": round(t2 - t1, 1),
                         "write": round(t3 - t2, 1)}}
    sys.stderr.write("bench: %d layers, %d files, %.0f MB -> %.0f MB gzip (%.0f%%), "
                     "%.1fs content, %.1fs tar+gzip, %.1fs write\n"
                     % (len(layers), files, raw / 1e6, packed / 1e6, 100 * packed / raw,
                        t1 - t0, t2 - t1, t3 - t2))
    info.update(path="bench", stats=stats, oci_archive="bench.oci.tar",
                docker_archive="bench.docker.tar", docker_tags=["fixture/bench:latest"])
    return info
