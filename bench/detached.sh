#!/usr/bin/env bash
# detached.sh N IDFILE -- TOOL...: start N detached `sleep 1000` containers from image
# `base` one after the other, list them with `ps`, then remove them all with one `rm -f`.
# Prints "START PS RM COUNT" (seconds; COUNT = lines `ps` printed below its header). Runs as the user
# being measured. RUNFLAGS and RMFLAGS (env) add tool-specific flags to `run` and `rm`.
# Container ids go to IDFILE as they are created, so the caller can clean up after a failure.
set -uo pipefail
n=$1 idfile=$2
shift 3
tool=("$@")
read -r -a runflags <<<"${RUNFLAGS:-}"
read -r -a rmflags <<<"${RMFLAGS:-}"

ids=()
t0=$EPOCHREALTIME
for _ in $(seq "$n"); do
  if ! id=$("${tool[@]}" run -d "${runflags[@]}" base sleep 1000); then
    echo "run -d failed" >&2
    exit 1
  fi
  ids+=("$id")
  echo "$id" >>"$idfile"
done
t1=$EPOCHREALTIME
if ! listing=$("${tool[@]}" ps); then
  echo "ps failed" >&2
  exit 1
fi
t2=$EPOCHREALTIME
count=$(($(wc -l <<<"$listing") - 1)) # minus the header line
if ! "${tool[@]}" rm -f "${rmflags[@]}" "${ids[@]}" >/dev/null; then
  echo "rm -f failed" >&2
  exit 1
fi
t3=$EPOCHREALTIME
python3 -c 'import sys; a=[float(x) for x in sys.argv[1:5]]; print("%.3f %.3f %.3f" % (a[1]-a[0], a[2]-a[1], a[3]-a[2]), sys.argv[5])' \
  "$t0" "$t1" "$t2" "$t3" "$count"
