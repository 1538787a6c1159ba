#!/usr/bin/env bash
# Import benchmark (never a test): `minirun load` against `podman load` and
# `umoci unpack` on the same generated image (~400 MB, ~40,000 files, 8 gzip layers),
# in one run, with each tool's store on tmpfs and on disk (disk figures are noisy).
#
#   bench/import.sh [MINIRUN_BINARY]      (as root; RUNS=3 by default)
#
# Prints hyperfine's table per place and a throughput summary (uncompressed MB/s).
set -euo pipefail
BIN=$(readlink -f "${1:-target/release/minirun}")
RUNS=${RUNS:-3}
BENCH=${MINIRUN_BENCH_FIXTURES:-/var/tmp/minirun-bench}
HERE=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "bench/import.sh: run as root" >&2; exit 1; }
for t in hyperfine podman umoci python3; do
    command -v "$t" >/dev/null || { echo "bench/import.sh: $t missing (apt-get install $t)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "bench/import.sh: $BIN not built (cargo build --release)" >&2; exit 1; }
python3 "$HERE/rootfs-fixtures/build.py" --bench "$BENCH" >&2
BYTES=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['bench']['stats']['uncompressed_bytes'])" "$BENCH/images.json")

cleanup() { [ -n "${WORK:-}" ] && rm -rf "$WORK"; }
trap cleanup EXIT
for place in tmpfs disk; do
    if [ "$place" = tmpfs ]; then base=/dev/shm; else base=/var/tmp; fi
    WORK=$(mktemp -d "$base/minirun-bench-import.XXXXXX")
    echo "== $place ($WORK), $RUNS runs, $((BYTES / 1000000)) MB uncompressed"
    # Every run starts from an empty store; podman keeps its whole store under WORK.
    hyperfine --runs "$RUNS" --warmup 1 --style basic --export-json "$WORK/result.json" \
        --prepare "rm -rf $WORK/s; mkdir -p $WORK/s" \
        -n "minirun load" "$BIN --root $WORK/s/minirun load -q -i $BENCH/bench.oci.tar" \
        -n "podman load" "podman --root $WORK/s/podman --runroot $WORK/s/podman-run --storage-driver overlay load -q -i $BENCH/bench.oci.tar" \
        -n "umoci unpack" "umoci unpack --image $BENCH/bench:bench:latest $WORK/s/umoci"
    python3 - "$WORK/result.json" "$BYTES" "$place" <<'PY'
import json, sys
res, nbytes, place = json.load(open(sys.argv[1]))["results"], int(sys.argv[2]), sys.argv[3]
best = {r["command"]: r["mean"] for r in res}
for name, mean in best.items():
    print(f"{place:6} {name:14} {mean:7.2f} s  {nbytes / mean / 1e6:7.1f} MB/s")
m, p = best.get("minirun load"), best.get("podman load")
if m and p:
    print(f"{place:6} minirun vs podman load: {p / m:.2f}x")
PY
    rm -rf "$WORK"
    WORK=
done
