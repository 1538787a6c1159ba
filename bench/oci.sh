#!/bin/bash
# Create-to-exit latency of /bin/true from one bundle: minirun-oci vs runc vs crun,
# as root and rootless (the test user), with hyperfine. Never part of the tests.
# Usage: bench/oci.sh [path/to/minirun]   (default target/release/minirun)
set -euo pipefail
BIN=$(realpath "${1:-target/release/minirun}")
USER_NAME=${MINIRUN_TEST_USER:-minirun-test}
FIX=${MINIRUN_FIXTURES:-/var/tmp/minirun-fixtures}
W=$(mktemp -d /var/tmp/minirun-bench-oci.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bin"
cp "$BIN" "$W/bin/minirun"
ln -s minirun "$W/bin/minirun-oci"
chmod -R a+rX "$W"

make_bundle() { # dir rootless?
    local d=$1
    mkdir -p "$d"
    cp -a "$FIX/rootfs" "$d/rootfs"
    if [ "$2" = 1 ]; then
        "$W/bin/minirun-oci" spec --rootless --bundle "$d"
    else
        "$W/bin/minirun-oci" spec --bundle "$d"
    fi
    python3 - "$d/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]; c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
PY
}

echo "== root"
make_bundle "$W/root" 0
cd "$W/root"
hyperfine --warmup 3 --runs 30 --style basic \
    -n minirun-oci "$W/bin/minirun-oci --root $W/s-mr run b1" \
    -n crun "crun --root $W/s-crun run b1" \
    -n runc "runc --root $W/s-runc run b1"

echo "== rootless ($USER_NAME)"
make_bundle "$W/rl" 1
uid=$(id -u "$USER_NAME"); gid=$(id -g "$USER_NAME")
# The rootless spec maps the caller: regenerate it as the test user.
rm "$W/rl/config.json"
chown -R "$uid:$gid" "$W/rl"
mkdir -p "$W/xdg"; chown "$uid:$gid" "$W/xdg"; chmod 700 "$W/xdg"
AS="setpriv --reuid $uid --regid $gid --init-groups env XDG_RUNTIME_DIR=$W/xdg HOME=/home/$USER_NAME"
(cd "$W/rl" && $AS "$W/bin/minirun-oci" spec --rootless)
$AS python3 - "$W/rl/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]; c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
PY
cd "$W/rl"
hyperfine --warmup 3 --runs 30 --style basic \
    -n minirun-oci "$AS $W/bin/minirun-oci --root $W/xdg/mr run b1" \
    -n crun "$AS crun --root $W/xdg/crun run b1" \
    -n runc "$AS runc --root $W/xdg/runc run b1"
