#!/usr/bin/env bash
# wipe.sh DIR [OWNER]: unmount everything at or below DIR, remove it, and when OWNER (a
# uid) is given create it again empty, owned by OWNER; then sync, so each timed run
# starts from an empty store with no dirty pages of the previous run pending.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
wipe "$1"
if [ -n "${2:-}" ]; then
  mkdir -p "$1"
  chown "$2:$2" "$1"
  chmod 755 "$1"
fi
sync
