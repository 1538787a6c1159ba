#!/usr/bin/env bash
# Benchmark 1 (issue 2): import of the large bench image (8 gzip layers, ~408 MB, ~40k
# files) by `minirun load`, `podman load` and `umoci unpack`, on tmpfs and on disk, as
# root and (tmpfs) rootless. Every run starts from an empty store (hyperfine --prepare
# wipes it and syncs), so each figure is a full import.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

RUNS=${BENCH_IMPORT_RUNS:-3}
ROOTLESS=${BENCH_ROOTLESS_IMPORT:-1}
ARCHIVE=$BFIX/bench.oci.tar
LAYOUT=$BFIX/bench
OUT=$(section_file import)
J=$WORK/json/import
mkdir -p "$J"

read -r BYTES FILES LAYERS COMP < <(python3 - "$BFIX/images.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["bench"]["stats"]
print(s["uncompressed_bytes"], s["files"], s["layers"], s["compressed_bytes"])
EOF
)

# The tmpfs every "tmpfs" root lives on; the "disk" roots live in $WORK (on /var/tmp).
mkdir -p "$WORK/tmpfs" "$WORK/disk"
chmod 755 "$WORK/disk"
if ! grep -q " $WORK/tmpfs " /proc/self/mountinfo; then
  mount -t tmpfs -o size=4G,mode=0755 minirun-bench "$WORK/tmpfs"
fi

WIPE="bash $HERE/wipe.sh"
USERP="setpriv --reuid $BENCH_UID --regid $BENCH_UID --init-groups env HOME=$BENCH_USER_HOME XDG_RUNTIME_DIR=/run/user/$BENCH_UID"

# Does minirun load work at all (as root / rootless)? Probed on the small fixture.
MR_ROOT_OK=0 MR_USER_OK=0 MR_RMI_OK=0 MR_WHY=""
if have_minirun; then
  p=$WORK/probe-load
  fresh_dir "$p"
  if MR_WHY=$("$MR" --root "$p/store" load -i "$FIX/base.oci.tar" 2>&1); then MR_ROOT_OK=1; fi
  if "$MR" --root "$p/store" rmi base >/dev/null 2>&1; then MR_RMI_OK=1; fi
  fresh_dir "$p" "$BENCH_UID"
  if (cd "$WORK" && as_user "$MR" --root "$p/store" load -i "$FIX/base.oci.tar") >/dev/null 2>"$p.err"; then
    MR_USER_OK=1
  else
    log "minirun load (rootless) unavailable: $(head -n 2 "$p.err" | tr '\n' ' ')"
  fi
  rm -f "$p.err"
  wipe "$p"
else
  MR_WHY="no binary"
fi
[ "$MR_ROOT_OK" = 1 ] || log "minirun load unavailable: $(echo "$MR_WHY" | head -n 2 | tr '\n' ' ')"

# One measurement: NAME FS MODE DIR OWNER COMMAND... (COMMAND is one shell string)
declare -a ROWS=()
measure() {
  local name=$1 fs=$2 mode=$3 dir=$4 owner=$5 cmd=$6 prep json n
  json=$J/$(echo "$name-$fs-$mode" | tr ' /' '__').json
  prep="$WIPE $dir $owner"
  log "import: $name ($fs, $mode), $RUNS runs"
  if hf "$json" --runs "$RUNS" --prepare "$prep" "$cmd"; then
    # What the last run left on disk: every tool's store should hold the ~40k entries.
    n=$(find "$dir" -xdev 2>/dev/null | wc -l)
    ROWS+=("$name|$fs|$mode|$(hf_stat "$json" median)|$(hf_stat "$json" min)|$(hf_stat "$json" max)|$(hf_stat "$json" user)|$(hf_stat "$json" system)|$n")
  else
    ROWS+=("$name|$fs|$mode|failed|||||")
  fi
  bash "$HERE/wipe.sh" "$dir"
}
na_row() { ROWS+=("$1|$2|$3|$4|||||"); }

for fs in ${BENCH_IMPORT_FS:-tmpfs disk}; do
  base=$WORK/$fs
  # podman keeps its big-file temp dir (the extracted archive) on the same file system.
  pt=$base/podman-tmp
  fresh_dir "$pt"
  measure "podman load" "$fs" root "$base/podman" 0 \
    "TMPDIR=$pt podman --root $base/podman/root --runroot $base/podman/run --tmpdir $base/podman-state --storage-driver overlay --cgroup-manager cgroupfs --events-backend none load -q -i $ARCHIVE"
  measure "umoci unpack" "$fs" root "$base/umoci" 0 \
    "umoci unpack --image $LAYOUT:bench:latest $base/umoci/bundle"
  if [ "$MR_ROOT_OK" = 1 ]; then
    measure "minirun load" "$fs" root "$base/minirun" 0 "$MR --root $base/minirun/store load -i $ARCHIVE"
  else
    na_row "minirun load" "$fs" root "$NA"
  fi
  wipe "$base/podman-state"
  wipe "$pt"
done

if [ "$ROOTLESS" = 1 ]; then
  base=$WORK/tmpfs
  pt=$base/podman-tmp-rl
  fresh_dir "$pt" "$BENCH_UID"
  fresh_dir "$base/podman-state-rl" "$BENCH_UID"
  measure "podman load" tmpfs rootless "$base/podman-rl" "$BENCH_UID" \
    "cd $WORK && $USERP TMPDIR=$pt podman --root $base/podman-rl/root --runroot $base/podman-rl/run --tmpdir $base/podman-state-rl --storage-driver overlay --cgroup-manager cgroupfs --events-backend none load -q -i $ARCHIVE"
  # The rootless pause process podman left (its --tmpdir holds pause.pid).
  if [ -f "$base/podman-state-rl/pause.pid" ]; then kill "$(cat "$base/podman-state-rl/pause.pid")" 2>/dev/null || true; fi
  # umoci --rootless keeps every file owned by the caller (owners go to an xattr): a
  # different job, so it is measured only on request (it costs a minute or more).
  [ "${BENCH_FULL:-0}" = 1 ] && measure "umoci unpack" tmpfs rootless "$base/umoci-rl" "$BENCH_UID" \
    "cd $WORK && $USERP umoci unpack --rootless --image $LAYOUT:bench:latest $base/umoci-rl/bundle"
  if [ "$MR_USER_OK" = 1 ]; then
    measure "minirun load" tmpfs rootless "$base/minirun-rl" "$BENCH_UID" \
      "cd $WORK && $USERP $MR --root $base/minirun-rl/store load -i $ARCHIVE"
  else
    na_row "minirun load" tmpfs rootless "$NA"
  fi
  wipe "$base/podman-state-rl"
  wipe "$pt"
fi
# A second image sharing all but its top layer with the bench image, loaded into a store
# that already holds the bench image: only the new layer should be unpacked. Before each
# timed load, `rmi bench2` takes the second image (and its own layer) out again.
declare -a SROWS=()
shared() {
  local name=$1 dir=$2 load=$3 rmi=$4 json
  json=$J/shared-$(echo "$name" | tr ' ' '_').json
  bash "$HERE/wipe.sh" "$dir" 0
  log "import: $name, second image sharing the base (tmpfs, root), $RUNS runs"
  if ! sh -c "$load $ARCHIVE" >/dev/null 2>&1; then
    SROWS+=("$name|failed (first image)")
  elif ! hf "$json" --runs "$RUNS" --prepare "$rmi bench2 >/dev/null 2>&1 || true" "$load $WORK/bench2.oci.tar"; then
    SROWS+=("$name|failed")
  elif ! sh -c "$rmi bench2" >/dev/null 2>&1; then
    SROWS+=("$name|failed (bench2 not in the store after load)")
  else
    SROWS+=("$name|$(hf_stat "$json" median)")
  fi
  bash "$HERE/wipe.sh" "$dir"
}
if [ "${BENCH_SHARED:-1}" = 1 ]; then
  read -r NEWBYTES NEWFILES < <(bash "$HERE/second-image.sh" "$LAYOUT" "$WORK/bench2.oci.tar")
  base=$WORK/tmpfs
  P2="podman --root $base/podman2/root --runroot $base/podman2/run --tmpdir $base/podman2/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend none"
  shared "podman load" "$base/podman2" "TMPDIR=$base/podman2 $P2 load -q -i" "$P2 rmi"
  if [ "$MR_ROOT_OK" = 1 ] && [ "$MR_RMI_OK" = 1 ]; then
    shared "minirun load" "$base/minirun2" "$MR --root $base/minirun2/store load -i" "$MR --root $base/minirun2/store rmi"
  else
    SROWS+=("minirun load|$NA")
  fi
fi

umount "$WORK/tmpfs" 2>/dev/null || umount -l "$WORK/tmpfs" || true

# The table: median seconds, range, MB/s and files/s, and speed relative to podman load
# on the same file system and mode.
python3 - "$BYTES" "$FILES" "$LAYERS" "$COMP" "$RUNS" "${ROWS[@]}" >>"$OUT" <<'EOF'
import sys
nbytes, nfiles, layers, comp, runs = (int(x) for x in sys.argv[1:6])
rows = [r.split("|") for r in sys.argv[6:]]
podman = {(r[1], r[2]): float(r[3]) for r in rows if r[0] == "podman load" and r[3][:1].isdigit()}
print("## 1. Image import (issue 2)\n")
print("Image: %d layers (gzip), %.0f MB uncompressed, %.0f MB compressed, %d files. "
      "Median of %d runs, each into an empty store (hyperfine, `--prepare` wipes and syncs). "
      "`minirun load` and `podman load` read the oci-archive, `umoci unpack` the OCI layout "
      "directory (it cannot read archives). MB = 10^6 bytes of uncompressed layer data. "
      "CPU s: mean user+system time of the command and its children; more than the wall "
      "time means more than one core was busy. Entries in store: `find | wc -l` of the "
      "tool's store after its last run (a sanity check that everything was unpacked).\n"
      % (layers, nbytes / 1e6, comp / 1e6, nfiles, runs))
print("| tool | fs | mode | median s | min–max s | MB/s | files/s | speed vs podman load "
      "| CPU s (user+sys) | entries in store |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name, fs, mode, med, lo, hi, usr, sys_, entries in rows:
    if not med[:1].isdigit():
        print("| %s | %s | %s | %s | | | | | | |" % (name, fs, mode, med))
        continue
    t = float(med)
    p = podman.get((fs, mode))
    rel = "%.2f×" % (p / t) if p else "-"
    print("| %s | %s | %s | %.2f | %.2f–%.2f | %.0f | %.0f | %s | %.1f | %s |"
          % (name, fs, mode, t, float(lo), float(hi), nbytes / 1e6 / t, nfiles / t, rel,
             float(usr) + float(sys_), entries))
print()
EOF

[ ${#SROWS[@]} = 0 ] || python3 - "$NEWBYTES" "$NEWFILES" "$RUNS" "${ROWS[@]}" -- "${SROWS[@]}" >>"$OUT" <<'EOF'
import sys
newb, newf, runs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cut = sys.argv.index("--")
full = {r.split("|")[0]: r.split("|")[3] for r in sys.argv[4:cut]
        if r.split("|")[1:3] == ["tmpfs", "root"]}
print("Second image sharing the base: `bench2` has the bench image's first 7 layers and its "
      "own small top layer (%d files, %.2f MB); loaded into a store (tmpfs, root) that already "
      "holds `bench`, median of %s runs (`rmi bench2` before each).\n" % (newf, newb / 1e6, runs))
print("| tool | full import s | second image s |")
print("|---|---:|---:|")
for r in sys.argv[cut + 1:]:
    name, t = r.split("|")
    f = full.get(name, "")
    f = "%.2f" % float(f) if f[:1].isdigit() else f or "-"
    t = "%.2f" % float(t) if t[:1].isdigit() else t
    print("| %s | %s | %s |" % (name, f, t))
print()
EOF
