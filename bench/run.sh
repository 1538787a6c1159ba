#!/usr/bin/env bash
# `make bench`: minirun against its peers in one run, as root (rootless parts switch to
# the unprivileged test user). Usage: bash bench/run.sh [target/release/minirun]
#
#   1. import.sh      minirun load vs podman load vs umoci unpack (issue 2)
#   2. oci.sh         minirun oci run vs runc vs crun: /bin/true latency, peak RSS (issue 3)
#   3. containers.sh  minirun run --rm vs podman run --rm; 50 detached, ps, rm -f (issue 4)
#
# Prints a markdown table per benchmark and writes them to bench/RESULTS.md. A minirun
# feature that is missing or broken shows as "n/a (not built yet)"; the peers still run.
# Knobs (env): BENCH_PARTS="import oci containers", BENCH_IMPORT_RUNS=3,
# BENCH_ROOTLESS_IMPORT=1, BENCH_SHARED=1, BENCH_FULL=0 (1: also umoci --rootless),
# BENCH_OCI_RUNS=50, BENCH_RSS_RUNS=20, BENCH_RUN_RUNS=20, BENCH_DETACHED=50,
# MINIRUN_FIXTURES, MINIRUN_BENCH_FIXTURES (default: $MINIRUN_FIXTURES-bench).
# Everything lives in one scratch dir under /var/tmp (tmpfs roots on a tmpfs mounted in
# it) and is removed at the end; the mount table is checked for leftovers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ "$(id -u)" != 0 ]; then
  echo "bench: run as root (rootless parts switch to the test user themselves)" >&2
  exit 1
fi
BIN=${1:-$REPO/target/release/minirun}
case $BIN in /*) ;; *) BIN=$REPO/$BIN ;; esac
start=$(date +%s)

# --- setup (idempotent) ---------------------------------------------------------------
log "setup: clients, test user, fixtures"
bash "$REPO/scripts/setup.sh" --clients
if [ ! -x /usr/bin/time ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
fi
# Debian's crun refuses to start on this hybrid cgroup v1 host without a v1 hugetlb
# hierarchy (setup.sh mounts it too; repeated here so the bench stands alone).
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && grep -q '^hugetlb' /proc/cgroups &&
  ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
[ -c /dev/fuse ] && chmod 666 /dev/fuse
export FIX=${MINIRUN_FIXTURES:-/var/tmp/minirun-fixtures}
# The bench image gets its own directory: build.py replaces its whole OUT_DIR, so sharing
# one with the small fixtures would delete them (and the next `make fixtures` the bench).
export BFIX=${MINIRUN_BENCH_FIXTURES:-$FIX-bench}
python3 "$REPO/rootfs-fixtures/build.py" "$FIX"
python3 "$REPO/rootfs-fixtures/build.py" --bench "$BFIX"

WORK=$(mktemp -d /var/tmp/minirun-bench.XXXXXX)
chmod 755 "$WORK"
export WORK SECTIONS=$WORK/sections
mkdir -p "$SECTIONS" "$WORK/bin"
# A copy the test user can execute (the worktree may not be reachable for it), plus the
# minirun-oci name the runc-compatible CLI answers to.
export MR=$WORK/bin/minirun MR_OCI=$WORK/bin/minirun-oci
if [ -x "$BIN" ]; then
  cp "$BIN" "$MR"
  chmod 755 "$WORK/bin" "$MR"
  ln -s minirun "$MR_OCI"
else
  log "no minirun binary at $BIN: every minirun figure will be n/a"
fi

finish() {
  local left
  wipe "$WORK"
  left=$(grep -c " $WORK[/ ]" /proc/self/mountinfo || true)
  if [ "$left" != 0 ]; then
    log "WARNING: $left mounts left under $WORK"
  fi
}
trap finish EXIT

# --- the benchmarks ---------------------------------------------------------------------
failed=()
for part in ${BENCH_PARTS:-import oci containers}; do
  if ! bash "$HERE/$part.sh"; then
    failed+=("$part")
    log "part $part failed"
    printf '## %s\n\nThis part failed; see the log of `make bench`.\n\n' "$part" >>"$SECTIONS/$part.md"
  fi
done

# --- RESULTS.md -------------------------------------------------------------------------
ver() { "$@" 2>/dev/null | head -n 1 || echo "?"; }
mrver="none"
[ -x "$MR" ] && mrver="$("$MR" --version 2>/dev/null | head -n 1) ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
res=$HERE/RESULTS.md
tmp=$res.tmp
{
  echo "# minirun benchmarks"
  echo
  echo "Written by \`make bench\` (\`bench/run.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), in $(($(date +%s) - start)) s."
  echo
  echo "- kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; cgroup: $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/v1 (hybrid)/; s/cgroup2fs/v2/'); disk: $(df -T /var/tmp | awk 'NR==2 {print $2}') on /var/tmp"
  echo "- minirun: $mrver"
  echo "- $(ver podman --version), $(ver runc --version), $(ver crun --version), $(ver umoci --version), $(ver hyperfine --version)"
  echo "- The machine is a shared 2-CPU VM: absolute figures are noisy (disk ones most); compare within one table."
  echo
  for part in ${BENCH_PARTS:-import oci containers}; do
    [ -f "$SECTIONS/$part.md" ] && cat "$SECTIONS/$part.md"
  done
} >"$tmp"
mv "$tmp" "$res"
echo
cat "$res"
log "done in $(($(date +%s) - start)) s; results in $res"
[ ${#failed[@]} = 0 ] || { log "failed parts: ${failed[*]}"; exit 1; }
