#!/usr/bin/env bash
# One-time host setup for `make demo`, `make test` and `make bench`: installs what is
# missing (Debian packages), creates the unprivileged test user with subordinate id
# ranges, and copes with the quirks of minimal VMs. Idempotent; safe to run again.
set -euo pipefail

TEST_USER=${MINIRUN_TEST_USER:-minirun-test}
# What building and `make test` need: libseccomp-dev and pkg-config build the seccomp
# crate; python3 and busybox-static build the fixtures; util-linux has setpriv and
# unshare, uidmap newuidmap/newgidmap, fuse-overlayfs the rootless storage driver;
# podman and containerd (its `ctr`) are the real clients tests/oci_clients.rs drives.
PKGS_BASE="libseccomp-dev pkg-config uidmap fuse-overlayfs busybox-static zstd python3 util-linux podman containerd"
# The benchmark peers (`make bench`).
PKGS_CLIENTS="runc crun umoci skopeo hyperfine"

need=()
# Installed means "install ok installed": `dpkg -s` also succeeds for a removed
# package whose configuration files remain.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
want() { for p in "$@"; do installed "$p" || need+=("$p"); done; }
want $PKGS_BASE
[ "${1:-}" = "--clients" ] && want $PKGS_CLIENTS

if [ "$(id -u)" != 0 ]; then
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: missing packages: ${need[*]} (run 'make test' as root once, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  exit 0
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed: install a Rust toolchain (rustup) first" >&2
  exit 1
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The unprivileged user the rootless tests run as: a real uid with its own ranges.
if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$TEST_USER"
fi
uid=$(id -u "$TEST_USER")
if ! grep -q "^$TEST_USER:" /etc/subuid 2>/dev/null; then
  usermod --add-subuids 300000-365535 "$TEST_USER"
fi
if ! grep -q "^$TEST_USER:" /etc/subgid 2>/dev/null; then
  usermod --add-subgids 300000-365535 "$TEST_USER"
fi
# A second user with NO subordinate ids: the single-id fallback is tested as them.
NOSUB_USER=${MINIRUN_NOSUB_USER:-minirun-nosub}
if ! id "$NOSUB_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$NOSUB_USER"
fi
for f in /etc/subuid /etc/subgid; do
  [ -f "$f" ] && grep -q "^$NOSUB_USER:" "$f" && sed -i "/^$NOSUB_USER:/d" "$f"
done
# A private runtime dir, as logind would make it.
install -d -m 0700 -o "$TEST_USER" -g "$TEST_USER" "/run/user/$uid"

# Standard distributions ship /dev/fuse 0666; minimal VMs boot it 0600, which would
# leave rootless fuse-overlayfs unusable.
[ -c /dev/fuse ] && chmod 666 /dev/fuse || true

# Debian's crun (a benchmark peer) refuses to run on hybrid cgroup v1 hosts until a v1
# hugetlb hierarchy exists.
if [ -d /sys/fs/cgroup ] && ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo && \
   grep -q '^hugetlb' /proc/cgroups && [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ]; then
  mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null && \
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null || true
fi
exit 0
