# Shared helpers for the bench scripts (sourced, not run). Every part script is called by
# run.sh with these variables exported:
#   MR        minirun binary copied into the work dir (may be missing: minirun halves n/a)
#   MR_OCI    symlink named minirun-oci to it
#   WORK      the run's scratch dir (mode 0755, removed by run.sh at the end)
#   FIX       small fixtures (base, base.oci.tar, rootfs/)
#   BFIX      bench image fixtures (bench/, bench.oci.tar, images.json)
#   SECTIONS  dir where each part writes its markdown section (<part>.md)
# shellcheck shell=bash

BENCH_UID=${BENCH_UID:-1001}
BENCH_USER_HOME=${BENCH_USER_HOME:-/home/minirun-test}
NA="n/a (not built yet)"

# Run a command as the unprivileged bench user (a real uid with subuid ranges).
as_user() {
  setpriv --reuid "$BENCH_UID" --regid "$BENCH_UID" --init-groups \
    env HOME="$BENCH_USER_HOME" XDG_RUNTIME_DIR="/run/user/$BENCH_UID" \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@"
}

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Make a fresh directory, owned by OWNER (uid) when given.
fresh_dir() {
  local dir=$1 owner=${2:-0}
  wipe "$dir"
  mkdir -p "$dir"
  chmod 755 "$dir"
  chown "$owner:$owner" "$dir"
}

# Unmount everything at or below DIR (deepest first), then remove it.
wipe() {
  local dir=$1 m
  [ -e "$dir" ] || return 0
  dir=$(realpath "$dir")
  for m in $(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir"
}

# podman with its own storage, runroot and tmpdir under BASE (nothing in the default
# store is touched). Extra global flags may follow BASE before the command.
podman_in() {
  local base=$1
  shift
  podman --root "$base/root" --runroot "$base/run" --tmpdir "$base/tmp" \
    --cgroup-manager cgroupfs --events-backend none "$@"
}

# Kill the rootless pause process podman started for the store under BASE, if any.
podman_stop_pause() {
  local pidf=$1/tmp/pause.pid pid
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -f "$pidf"
}

# hyperfine wrapper: hf JSON_OUT [hyperfine args...]; returns hyperfine's status and
# prints its stderr tail on failure.
hf() {
  local out=$1 err
  shift
  err=$(mktemp "$WORK/hf-err.XXXXXX")
  chmod 666 "$err"
  if hyperfine --style none --export-json "$out" "$@" >/dev/null 2>"$err"; then
    rm -f "$err"
    return 0
  fi
  log "hyperfine failed: $(tail -n 5 "$err" | tr '\n' ' ')"
  rm -f "$err"
  return 1
}

# Same, run as the bench user (its JSON goes to a file the user may write).
hf_user() {
  local out=$1 err
  shift
  err=$(mktemp "$WORK/hf-err.XXXXXX")
  chmod 666 "$err"
  : >"$out"
  chown "$BENCH_UID" "$out"
  if (cd "$WORK" && as_user hyperfine --style none --export-json "$out" "$@") >/dev/null 2>"$err"; then
    rm -f "$err"
    return 0
  fi
  log "hyperfine (uid $BENCH_UID) failed: $(tail -n 5 "$err" | tr '\n' ' ')"
  rm -f "$err"
  return 1
}

# Print one statistic of a hyperfine JSON result: hf_stat FILE FIELD [INDEX]
# FIELD: median, mean, stddev, min, max (seconds).
hf_stat() {
  python3 - "$1" "$2" "${3:-0}" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][int(sys.argv[3])]
print("%.6f" % r[sys.argv[2]])
EOF
}

# Format seconds as milliseconds with one decimal: ms 0.01234 -> 12.3
ms() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) * 1000))' "$1"; }

# Format seconds with two decimals.
secs() { python3 -c 'import sys; print("%.2f" % float(sys.argv[1]))' "$1"; }

# ratio A B -> A/B with two decimals ("-" when either is missing)
ratio() {
  python3 -c 'import sys
try: print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$1" "$2"
}

# Append a line to this part's markdown section and echo it.
section_file() { echo "$SECTIONS/$1.md"; }
md() {
  local f=$1
  shift
  printf '%s\n' "$*" >>"$f"
}

# Does the minirun binary exist at all?
have_minirun() { [ -x "$MR" ]; }

# What to print in place of a minirun figure when its probe failed, given the probe's
# stderr file: "n/a (not built yet)" when the verb does not exist yet, otherwise
# "fails: <last error line>" (a built feature that breaks must not pass as "not built").
na_reason() {
  local err=$1
  if [ ! -x "$MR" ] || grep -qiE "unrecognized subcommand|not (yet )?implemented|unexpected argument" "$err" 2>/dev/null; then
    echo "$NA"
  else
    echo "fails: $(grep -v '^\s*$' "$err" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/|/\//g' | tail -n 1 | cut -c1-120)"
  fi
}
