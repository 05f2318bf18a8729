#!/usr/bin/env bash
# ┌──────────────────────────────────────────────────────────────────────────┐
# │ Debian 12 root filesystem for the local DigitalOcean-shaped topology.    │
# └──────────────────────────────────────────────────────────────────────────┘
# Usage: test/e2e/engine/image.sh            prints the path of a ready image (builds it if missing)
#        test/e2e/engine/image.sh --key      prints only the cache key
#
# Why pre-installed packages: these hosts have no internet, so (like droplets started
# from a snapshot) the packages the program's cloud-init asks for are already in the image, and
# cloud-init's `packages:` step finds them installed.
# The cache key is the sorted package list plus this script's own hash, so changing either rebuilds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache_root="${METEOR_DO_E2E_CACHE:-/var/cache/meteor-do-e2e}"
suite=bookworm

# What every droplet image has (systemd as PID 1, sshd with SFTP as on DigitalOcean images, cloud-init
# and what it needs to finish).
base=(systemd systemd-sysv dbus openssh-server openssh-sftp-server cloud-init sudo curl ca-certificates iproute2
  python3-cffi-backend xz-utils locales)
base+=(keepalived wireguard-tools jq) # lbCount 2: failover.sh installs them when missing; no apt sources here
# The LB's packages, also when the cloud-init templates do not list them.
lb=(nginx libnginx-mod-http-lua lua-resty-core lua-cjson)
# Test-only: this machine's kernel has no WireGuard module, so wg-quick inside the hosts falls back to
# the userspace wireguard-go on /dev/net/tun (boot.sh passes it in). Droplets' kernels have WireGuard,
# so the program's cloud-init never installs it.
test_only=(wireguard-go)

# Packages listed under `packages:` in the program's cloud-init templates (mustache tags skipped, the
# packages inside optional sections kept: the image may hold more than one host installs).
program_packages() {
  local f
  for f in "$repo"/components/host/cloud-init/*; do
    [[ -f "$f" ]] || continue
    awk '
      /^packages:/ { inlist = 1; next }
      inlist && /^[[:space:]]*-[[:space:]]*/ {
        line = $0; sub(/^[[:space:]]*-[[:space:]]*/, "", line); gsub(/["'\'']/, "", line)
        if (line !~ /[{}]/ && line != "") print line; next
      }
      inlist && /^\{\{/ { next }  # a mustache section inside the list: its packages count too
      inlist && /^[^[:space:]#-]/ { inlist = 0 }
    ' "$f"
  done
}

mapfile -t packages < <({ printf '%s\n' "${base[@]}" "${lb[@]}" "${test_only[@]}"; program_packages; } | sort -u)
key="$( { printf '%s\n' "${packages[@]}"; sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; } | sha256sum | cut -c1-16)"
if [[ "${1:-}" == "--key" ]]; then
  echo "$key"
  exit 0
fi

image="$cache_root/$key/rootfs"
mkdir -p "$cache_root"
# One builder at a time on this machine; a second caller waits and then finds the image ready.
exec 9>"$cache_root/.lock"
flock 9
if [[ -f "$cache_root/$key/ready" ]]; then
  touch "$cache_root/$key/ready" # its mtime is the image's last use (what pruning keeps)
  echo "$image"
  exit 0
fi

# The mirror is read from this machine's apt sources at run time (never written into the repo).
mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
if [[ -z "$mirror" ]]; then
  mirror="$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
fi
[[ -n "$mirror" ]] || { echo "image.sh: no Debian mirror found in this machine's apt sources" >&2; exit 1; }

work="$cache_root/$key.tmp"
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)
echo "image.sh: debootstrap $suite (${#packages[@]} packages) into $work" >&2
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

root="$work/rootfs"
# Offline hosts: no apt sources and no lists, so cloud-init's `packages:` (apt-get update + install of
# what is already installed) returns at once instead of waiting on DNS.
: >"$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/* "$root"/var/lib/apt/lists/*_* "$root"/var/cache/apt/archives/*.deb
# sudo warns on every call without a resolvable host name.
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# Each container gets its own machine id at first boot.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# Debian's locale module fails without this and `cloud-init status --wait` then exits 1. Addresses are
# configured from outside the container (the "hypervisor" side), so cloud-init must not render network
# config; the datasource is the NoCloud seed the harness writes.
cat >"$root/etc/cloud/cloud.cfg.d/90-meteor-do-e2e.cfg" <<'EOF'
# local topology only (test/e2e): see README "Proof without a cloud"
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
manage_etc_hosts: true
network: {config: disabled}
EOF
sed -i 's/^# *C.UTF-8/C.UTF-8/' "$root/etc/locale.gen" 2>/dev/null || true
# Timers that would only fight the tests for the 2 cores.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  rm -f "$root/etc/systemd/system/timers.target.wants/$unit"
done
# nginx is in the image for the LB only: an app droplet never installs it, so it must not run there (it
# would listen on port 80 and be audited by lynis). The LB enables it itself (its cloud-init, lb-push.sh).
rm -f "$root/etc/systemd/system/multi-user.target.wants/nginx.service"
# A stable image: host keys are made per instance by cloud-init (ssh_deletekeys), not baked in.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/var/lib/cloud/seed/nocloud"

mkdir -p "$cache_root/$key"
rm -rf "$cache_root/$key/rootfs"
mv "$work/rootfs" "$cache_root/$key/rootfs"
printf '%s\n' "${packages[@]}" >"$cache_root/$key/packages.txt"
echo "$(($(date +%s) - start))" >"$cache_root/$key/build-seconds"
touch "$cache_root/$key/ready"
rm -rf "$work"
# Keep the three most recently used images: branches with other package lists, the e2e and a local stack
# may use different images on this machine at once, and a running topology's hosts read theirs. Older
# ones, and builds that never finished, go.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9a-f]{16}\.tmp' -exec rm -rf {} +
find "$cache_root" -mindepth 2 -maxdepth 2 -regextype egrep -regex '.*/[0-9a-f]{16}/ready' -printf '%T@ %h\n' | sort -rn | tail -n +4 | cut -d' ' -f2- |
  while read -r old; do rm -rf "$old"; done
echo "image.sh: built in $(($(date +%s) - start)) s" >&2
echo "$image"
