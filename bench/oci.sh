#!/usr/bin/env bash
# Benchmark 2 (issue 3): create-to-exit latency of /bin/true from the same bundle, by
# `runc run`, `crun run`, `minirun oci run` and `minirun-oci run`, as root and rootless;
# and the peak RSS of the runtime process (max over N runs of /usr/bin/time's %M).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

RUNS=${BENCH_OCI_RUNS:-50}
WARMUP=${BENCH_OCI_WARMUP:-5}
RSS_RUNS=${BENCH_RSS_RUNS:-20}
OUT=$(section_file oci)
D=$WORK/oci
J=$WORK/json/oci
mkdir -p "$J"
fresh_dir "$D"

# A bundle: the fixture rootfs plus `runc spec [--rootless]` running /bin/true without a
# terminal. The rootless one is owned by the bench user and its spec written as that user
# (the spec maps the caller's own uid).
make_bundle() {
  local b=$1 owner=$2
  mkdir -p "$b/rootfs"
  cp -a "$FIX/rootfs/." "$b/rootfs/"
  if [ "$owner" = 0 ]; then
    (cd "$b" && runc spec)
  else
    chown -R "$owner:$owner" "$b"
    (cd "$b" && as_user runc spec --rootless)
  fi
  python3 - "$b/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF
  [ "$owner" = 0 ] || chown "$owner:$owner" "$b/config.json"
}
make_bundle "$D/bundle-root" 0
make_bundle "$D/bundle-rl" "$BENCH_UID"
fresh_dir "$D/state-root"
fresh_dir "$D/state-rl" "$BENCH_UID"

# The command line of runtime NAME for bundle B, state dir S, container id ID.
cmdline() {
  local name=$1 b=$2 s=$3 id=$4
  case $name in
    runc) echo "runc --root $s/runc run --bundle $b $id" ;;
    crun) echo "crun --root $s/crun run --bundle $b $id" ;;
    "minirun oci") echo "$MR oci --root $s/minirun run --bundle $b $id" ;;
    minirun-oci) echo "$MR_OCI --root $s/minirun-oci run --bundle $b $id" ;;
  esac
}

# Run a command line as root or as the bench user.
run_as() {
  local mode=$1
  shift
  if [ "$mode" = root ]; then "$@"; else (cd "$WORK" && as_user "$@"); fi
}

# Does minirun run a bundle (twice with the same id: `run` must delete its container)?
declare -A MR_OK=() MR_NA=()
probe_all() {
  local mode b s
  for mode in root rootless; do
    b=$D/bundle-root s=$D/state-root
    [ "$mode" = root ] || { b=$D/bundle-rl; s=$D/state-rl; }
    MR_OK[$mode]=0
    MR_NA[$mode]=$NA
    have_minirun || continue
    # shellcheck disable=SC2046
    if run_as "$mode" $(cmdline "minirun oci" "$b" "$s" probe) >/dev/null 2>"$D/probe-$mode.err" &&
      run_as "$mode" $(cmdline "minirun oci" "$b" "$s" probe) >/dev/null 2>>"$D/probe-$mode.err"; then
      MR_OK[$mode]=1
    else
      MR_NA[$mode]=$(na_reason "$D/probe-$mode.err")
      log "minirun oci run ($mode) unavailable: $(head -n 2 "$D/probe-$mode.err" | tr '\n' ' ')"
      run_as "$mode" "$MR" oci --root "$s/minirun" delete -f probe >/dev/null 2>&1 || true
    fi
  done
}
# Drop (or put back) process.capabilities.ambient in both bundles' config.json.
ambient() {
  local b
  for b in "$D/bundle-root" "$D/bundle-rl"; do
    if [ "$1" = drop ]; then
      cp -p "$b/config.json" "$b/config.json.stock"
      python3 - "$b/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"].get("capabilities", {}).pop("ambient", None)
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF
    else
      mv "$b/config.json.stock" "$b/config.json"
    fi
  done
}
NOTE=""
probe_all
# runc's spec raises ambient capabilities (meaningless for /bin/true run as root). If
# minirun refuses them, measure every runtime on the same bundle without them, and say so.
if have_minirun && { [ "${MR_OK[root]}" != 1 ] || [ "${MR_OK[rootless]}" != 1 ]; } &&
  grep -qi ambient "$D"/probe-*.err 2>/dev/null; then
  first=$(grep -hi ambient "$D"/probe-*.err | head -n 1 | sed 's/\x1b\[[0-9;]*m//g')
  ambient drop
  probe_all
  if [ "${MR_OK[root]}" = 1 ] || [ "${MR_OK[rootless]}" = 1 ]; then
    NOTE="**Note:** \`minirun oci run\` refused runc's stock spec (\`$first\`), so every runtime here ran the same bundle with \`process.capabilities.ambient\` removed."
    log "minirun refused ambient capabilities: all runtimes measured without them"
  else
    ambient restore
    probe_all
  fi
fi

declare -a ROWS=()
for mode in root rootless; do
  b=$D/bundle-root s=$D/state-root
  [ "$mode" = root ] || { b=$D/bundle-rl; s=$D/state-rl; }
  for rt in runc crun "minirun oci" minirun-oci; do
    case $rt in minirun*) if [ "${MR_OK[$mode]}" != 1 ]; then
      ROWS+=("$rt|$mode|${MR_NA[$mode]}|||")
      continue
    fi ;; esac
    id="bench-$(echo "$rt" | tr ' ' '-')"
    cmd=$(cmdline "$rt" "$b" "$s" "$id")
    json=$J/$(echo "$rt-$mode" | tr ' ' '_').json
    log "oci: $rt ($mode), $RUNS runs"
    if [ "$mode" = root ]; then
      ok=0; hf "$json" -N --warmup "$WARMUP" --runs "$RUNS" "$cmd" && ok=1
    else
      ok=0; hf_user "$json" -N --warmup "$WARMUP" --runs "$RUNS" "$cmd" && ok=1
    fi
    if [ "$ok" != 1 ]; then
      ROWS+=("$rt|$mode|failed|||")
      continue
    fi
    # Peak RSS: /usr/bin/time reports the max RSS of the runtime and its waited children.
    rss=0
    tf=$D/time.out
    : >"$tf"
    chown "$BENCH_UID" "$tf"
    for _ in $(seq "$RSS_RUNS"); do
      # shellcheck disable=SC2046
      run_as "$mode" /usr/bin/time -f %M -o "$tf" $cmd >/dev/null 2>&1 || true
      k=$(tail -n 1 "$tf")
      [ -n "$k" ] && [ "$k" -gt "$rss" ] && rss=$k
    done
    ROWS+=("$rt|$mode|$(hf_stat "$json" median)|$(hf_stat "$json" mean)|$(hf_stat "$json" stddev)|$(hf_stat "$json" min)|$rss")
  done
done

python3 - "$RUNS" "$WARMUP" "$RSS_RUNS" "$NOTE" "${ROWS[@]}" >>"$OUT" <<'EOF'
import sys
runs, warm, rss_runs, note = sys.argv[1:5]
rows = [r.split("|") for r in sys.argv[5:]]
crun = {r[1]: float(r[2]) for r in rows if r[0] == "crun" and r[2][:1].isdigit()}
print("## 2. OCI runtime: create-to-exit latency of /bin/true (issue 3)\n")
print("Same bundle for every runtime: the fixture rootfs, `runc spec` (`runc spec --rootless` "
      "written by the unprivileged user for rootless) with args `[\"/bin/true\"]`, no terminal. "
      "`RUNTIME --root STATE run --bundle B ID`; hyperfine -N, %s warmup + %s runs. "
      "Peak RSS: max over %s runs of `/usr/bin/time -f %%M` (the runtime and its children).\n"
      % (warm, runs, rss_runs))
if note:
    print(note + "\n")
print("| runtime | mode | median ms | mean ± sd ms | min ms | peak RSS KiB | time vs crun |")
print("|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    name, mode, med = r[0], r[1], r[2]
    if not med[:1].isdigit():
        print("| %s | %s | %s | | | | |" % (name, mode, med))
        continue
    mean, sd, lo, rss = float(r[3]), float(r[4]), float(r[5]), r[6]
    c = crun.get(mode)
    rel = "%.2f×" % (float(med) / c) if c else "-"
    print("| %s | %s | %.1f | %.1f ± %.1f | %.1f | %s | %s |"
          % (name, mode, float(med) * 1e3, mean * 1e3, sd * 1e3, lo * 1e3, rss, rel))
print()
EOF
wipe "$D"
