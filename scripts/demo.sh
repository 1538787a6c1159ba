#!/usr/bin/env bash
# The story of minirun, step by step, on the built-in fixture images.
# Usage: scripts/demo.sh BINARY FIXTURES_DIR   (make demo passes both)
set -euo pipefail
BIN=$(readlink -f "${1:-target/release/minirun}")
FIX=${2:-/var/tmp/minirun-fixtures}
ROOT=$(mktemp -d /tmp/minirun-demo.XXXXXX)
HOSTDIR=$(mktemp -d /tmp/minirun-demo-bind.XXXXXX)
cleanup() {
  "$BIN" --root "$ROOT" rm -f -v demo-db demo-reader demo-a demo-b >/dev/null 2>&1 || true
  rm -rf "$ROOT" "$HOSTDIR"
}
trap cleanup EXIT
m() { echo "+ minirun $*"; "$BIN" --root "$ROOT" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Where minirun keeps things, and which storage driver it picked (and why)"
m info

say "1. Images are stacks of read-only layers. Two images built on the same base…"
m load -i "$FIX/shared-a"
m load -i "$FIX/shared-b"
m images
say "…store that base once: look at 'shared' in the layer line"
m system df

say "2. A container is a writable layer on top (copy-on-write)"
m run --name demo-a shared-a sh -c 'echo changed > /etc/motd; rm /etc/hostname; echo new > /root/new-file'
echo "# what demo-a changed, kept only in its writable layer:"
m diff demo-a
echo "# another container from the same image sees the original files:"
m run --rm shared-a sh -c 'cat /etc/motd; ls /etc/hostname'
m rm demo-a
echo "# rm deleted the writable layer and everything in it; the image layers never changed."

say "3. Data that must outlive a container goes in a volume"
m run --name demo-db --mount type=volume,src=db,dst=/var/lib/db shared-a sh -c 'echo "record 1" >> /var/lib/db/table; echo "record 2" >> /var/lib/db/table'
m rm demo-db
m volume ls
echo "# a brand-new container sees the data the removed one wrote:"
m run --rm -v db:/var/lib/db shared-a cat /var/lib/db/table

say "4. A bind mount is any host directory, managed by you"
echo "hello from the host" > "$HOSTDIR/greeting"
m run --rm -v "$HOSTDIR:/host" shared-a sh -c 'cat /host/greeting; echo "hello from the container" > /host/reply'
echo "+ cat $HOSTDIR/reply"; cat "$HOSTDIR/reply"

say "5. A tmpfs lives in memory only, empty in every container"
m run --rm --tmpfs /scratch shared-a sh -c 'grep " /scratch " /proc/mounts; echo x > /scratch/f; ls /scratch'
m run --rm --tmpfs /scratch shared-a ls -A /scratch

say "Cleaning up"
m volume rm db
m rmi shared-a shared-b
m system df
