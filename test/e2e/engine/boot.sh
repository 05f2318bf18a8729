#!/usr/bin/env bash
# ┌──────────────────────────────────────────────────────────────────────────┐
# │ Boot one "droplet": systemd as PID 1 in systemd-nspawn, in its own netns. │
# └──────────────────────────────────────────────────────────────────────────┘
# Usage: boot.sh NAME NETNS BASE UPPER CGROUP
# Started detached by test/e2e/engine/hosts.ts, which records this process's PID (exec keeps it) and
# stops it with SIGTERM (nspawn then powers the container off).
set -euo pipefail

name="$1" netns="$2" base="$3" upper="$4" cgroup="$5"

# Each container needs a cgroup of its own before nspawn starts: with one shared cgroup the second
# container came up degraded; hosts.ts names a new one per boot. Move this
# process in, then exec keeps it there.
for hierarchy in systemd unified; do
  dir="/sys/fs/cgroup/$hierarchy/$cgroup"
  if [[ -d "/sys/fs/cgroup/$hierarchy" ]]; then
    mkdir -p "$dir"
    echo $$ >"$dir/cgroup.procs"
  fi
done

# --register=no/--keep-unit: there is no systemd on this machine to register with; the overlay keeps
# the cached image read-only and puts every write of this host into UPPER (its "disk").
# CAP_NET_ADMIN: a droplet's root configures its own network (nspawn keeps it only for the namespaces it
# makes itself). /dev/net/tun: this machine's kernel has no WireGuard module, so the LBs' wg-quick falls
# back to the userspace wireguard-go (image.sh), which needs a tun device; droplets' kernels have WireGuard.
exec systemd-nspawn -b --register=no --keep-unit --console=read-only -M "$name" \
  --network-namespace-path="/run/netns/$netns" --capability=CAP_NET_ADMIN --bind=/dev/net/tun \
  --overlay="$base:$upper:/" -D "$base"
