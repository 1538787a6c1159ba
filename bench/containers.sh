#!/usr/bin/env bash
# Benchmark 3 (issue 4): `minirun run --rm base true` against `podman run --rm base true`,
# rootless, same image, kernel overlay for both, each with its own store on disk; then 50
# detached containers started, listed with `ps` and removed with one `rm -f`, per tool.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

RUNS=${BENCH_RUN_RUNS:-20}
WARMUP=${BENCH_RUN_WARMUP:-3}
N=${BENCH_DETACHED:-50}
OUT=$(section_file containers)
D=$WORK/ctr
J=$WORK/json/containers
mkdir -p "$J"
fresh_dir "$D"
fresh_dir "$D/podman" "$BENCH_UID"
fresh_dir "$D/podman-state" "$BENCH_UID"
fresh_dir "$D/minirun" "$BENCH_UID"

# Rootless podman needs --network none on this VM (no /dev/net/tun for slirp4netns).
PODMAN=(podman --root "$D/podman/root" --runroot "$D/podman/run" --tmpdir "$D/podman-state"
  --storage-driver overlay --cgroup-manager cgroupfs --events-backend none)
MINIRUN=("$MR" --root "$D/minirun/store" --storage-driver overlay)

cleanup_ctr() {
  local f
  for f in "$D"/ids-*; do
    [ -s "$f" ] || continue
    case $f in
      *podman*) (cd "$WORK" && as_user "${PODMAN[@]}" rm -f -t 0 $(cat "$f")) >/dev/null 2>&1 || true ;;
      *minirun*) (cd "$WORK" && as_user "${MINIRUN[@]}" rm -f $(cat "$f")) >/dev/null 2>&1 || true ;;
    esac
    : >"$f"
  done
  [ -f "$D/podman-state/pause.pid" ] && kill "$(cat "$D/podman-state/pause.pid")" 2>/dev/null || true
}
trap cleanup_ctr EXIT

log "containers: loading base into each store"
(cd "$WORK" && as_user "${PODMAN[@]}" load -q -i "$FIX/base.oci.tar") >/dev/null

# Which minirun steps work (rootless)? Probed once each, on the real store.
MR_LOAD=0 MR_RUN=0 MR_NET=(--network none)
if have_minirun && (cd "$WORK" && as_user "${MINIRUN[@]}" load -i "$FIX/base.oci.tar") >/dev/null 2>"$D/probe.err"; then
  MR_LOAD=1
  if (cd "$WORK" && as_user "${MINIRUN[@]}" run --rm "${MR_NET[@]}" base true) >/dev/null 2>>"$D/probe.err"; then
    MR_RUN=1
  elif (cd "$WORK" && as_user "${MINIRUN[@]}" run --rm base true) >/dev/null 2>>"$D/probe.err"; then
    MR_RUN=1 MR_NET=()
  fi
fi
[ "$MR_RUN" = 1 ] ||
  log "minirun run unavailable: $(head -n 2 "$D/probe.err" 2>/dev/null | tr '\n' ' ')"

declare -a RUNROWS=() DROWS=()

# 1) run --rm base true
log "containers: podman run --rm, $RUNS runs"
pcmd="${PODMAN[*]} run --rm --network none base true"
if hf_user "$J/podman.json" --warmup "$WARMUP" --runs "$RUNS" -N "$pcmd"; then
  RUNROWS+=("podman run --rm|$(hf_stat "$J/podman.json" median)|$(hf_stat "$J/podman.json" mean)|$(hf_stat "$J/podman.json" stddev)")
else
  RUNROWS+=("podman run --rm|failed||")
fi
if [ "$MR_RUN" = 1 ]; then
  log "containers: minirun run --rm, $RUNS runs"
  mcmd="${MINIRUN[*]} run --rm ${MR_NET[*]} base true"
  if hf_user "$J/minirun.json" --warmup "$WARMUP" --runs "$RUNS" -N "$mcmd"; then
    RUNROWS+=("minirun run --rm|$(hf_stat "$J/minirun.json" median)|$(hf_stat "$J/minirun.json" mean)|$(hf_stat "$J/minirun.json" stddev)")
  else
    RUNROWS+=("minirun run --rm|failed||")
  fi
else
  RUNROWS+=("minirun run --rm|$NA||")
fi

# 2) N detached containers: start, ps, rm -f
detached() {
  local name=$1 idf=$D/ids-$1 res
  shift
  : >"$idf"
  chown "$BENCH_UID" "$idf"
  log "containers: $name: $N detached, ps, rm -f"
  if res=$(cd "$WORK" && as_user env RUNFLAGS="${RUNFLAGS:-}" RMFLAGS="${RMFLAGS:-}" \
    bash "$HERE/detached.sh" "$N" "$idf" -- "$@" 2>"$D/detached.err"); then
    DROWS+=("$name|$(echo "$res" | tr ' ' '|')")
    : >"$idf"
  else
    log "$name detached failed: $(tail -n 3 "$D/detached.err" | tr '\n' ' ')"
    DROWS+=("$name|failed|||")
    cleanup_ctr
  fi
}
RUNFLAGS="--network none" RMFLAGS="-t 0" detached podman "${PODMAN[@]}"
if [ "$MR_RUN" = 1 ]; then
  RUNFLAGS="${MR_NET[*]}" RMFLAGS="" detached minirun "${MINIRUN[@]}"
else
  DROWS+=("minirun|$NA|||")
fi

cleanup_ctr
trap - EXIT

python3 - "$RUNS" "$WARMUP" "$N" "${#RUNROWS[@]}" "${RUNROWS[@]}" "${DROWS[@]}" >>"$OUT" <<'EOF'
import sys
runs, warm, n, nr = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runrows = [r.split("|") for r in sys.argv[5:5 + nr]]
drows = [r.split("|") for r in sys.argv[5 + nr:]]
isnum = lambda s: s[:1].isdigit()
print("## 3. Containers from images, rootless (issue 4)\n")
print("Unprivileged user (uid 1001 with subuid ranges), image `base` (busybox fixture) loaded "
      "into each tool's own store on disk, kernel overlay (`--storage-driver overlay`) for both, "
      "`--network none` (rootless podman has no usable network here). hyperfine -N, "
      "%s warmup + %s runs.\n" % (warm, runs))
pod = next((float(r[1]) for r in runrows if r[0].startswith("podman") and isnum(r[1])), None)
print("| command | median ms | mean ± sd ms | time vs podman |")
print("|---|---:|---:|---:|")
for name, med, mean, sd in runrows:
    if not isnum(med):
        print("| `%s base true` | %s | | |" % (name, med))
        continue
    rel = "%.2f×" % (float(med) / pod) if pod else "-"
    print("| `%s base true` | %.1f | %.1f ± %.1f | %s |"
          % (name, float(med) * 1e3, float(mean) * 1e3, float(sd) * 1e3, rel))
print()
print("%d detached containers (`run -d base sleep 1000`, one after the other), then `ps`, "
      "then one `rm -f` of all %d (podman: `rm -f -t 0`, i.e. SIGKILL at once as `docker rm -f`). "
      "One round; seconds.\n" % (n, n))
print("| tool | start %d s | per container ms | ps s | rm -f all s | ps listed |" % n)
print("|---|---:|---:|---:|---:|---:|")
for r in drows:
    name = r[0]
    if not isnum(r[1]):
        print("| %s | %s | | | | |" % (name, r[1]))
        continue
    start, ps, rm, cnt = float(r[1]), float(r[2]), float(r[3]), r[4]
    print("| %s | %.2f | %.0f | %.3f | %.2f | %s |" % (name, start, start / n * 1e3, ps, rm, cnt))
print()
EOF
wipe "$D"
