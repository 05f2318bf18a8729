#!/usr/bin/env bash
# Drop-ins of the app's unit that come from the program rather than the droplet's user-data, so that
# changing them never touches it:
#   50-stop-timeout.conf  how long systemd gives the app to stop (its grace period plus time to exit)
#   50-bind.conf          the address it listens on (BIND_IP: the host's private address, the LB being its
#                         only client)
#   60-sandbox.conf       what the app may reach: no kernel knobs, devices, capabilities, setuid, namespaces
#                         or foreign processes; system calls of ordinary services; IPv4/6 and Unix sockets;
#                         a read-only system (it writes only to its private /tmp); at most <memory max>.
# Take effect at the next start (the cutover's restart); a second run with the same values changes nothing.
# Usage: app-unit.sh <stop timeout seconds> <bind IPv4 address> <memory max: bytes with K/M/G/T, a
#        percentage of RAM, or infinity>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

usage="usage: app-unit.sh <stop timeout seconds> <bind IPv4 address> <memory max>"
timeout_s=${1:?$usage}
bind_ip=${2:?$usage}
memory_max=${3:?$usage}
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "app-unit: stop timeout must be whole seconds, got '$timeout_s'" >&2; exit 1; }
[[ $bind_ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { echo "app-unit: bind address must be an IPv4 address, got '$bind_ip'" >&2; exit 1; }
[[ $memory_max =~ $MEMORY_MAX_RE ]] ||
  { echo "app-unit: memory max must be bytes with K, M, G or T, a percentage of RAM, or infinity, got '$memory_max'" >&2; exit 1; }
dir=${APP_UNIT_DROPIN_DIR:-$LAYOUT_APP_UNIT_DROPIN_DIR}

# Node.js needs writable+executable memory (its JIT), so no MemoryDenyWriteExecute; it reads /proc for
# os.cpus(), so no ProcSubset=pid.
sandbox="[Service]
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
UMask=0027
LimitCORE=0
MemoryMax=$memory_max"

changed=()
put() { # file content: writes the drop-in unless it already holds exactly this
  if [[ -f $dir/$1 && $(<"$dir/$1") == "$2" ]]; then return 0; fi
  install -d -m 0755 "$dir"
  printf '%s\n' "$2" >"$dir/$1.new"
  mv -f "$dir/$1.new" "$dir/$1"
  changed+=("$1")
}
put 50-stop-timeout.conf "$(printf '[Service]\nTimeoutStopSec=%s\n' "$timeout_s")"
put 50-bind.conf "$(printf '[Service]\nEnvironment=BIND_IP=%s\n' "$bind_ip")"
put 60-sandbox.conf "$sandbox"

if ((${#changed[@]} == 0)); then
  echo "app-unit: TimeoutStopSec=$timeout_s BIND_IP=$bind_ip MemoryMax=$memory_max already set"
  exit 0
fi
if [[ -z ${APP_UNIT_NO_RELOAD:-} ]]; then systemctl daemon-reload; fi
echo "app-unit: TimeoutStopSec=$timeout_s BIND_IP=$bind_ip MemoryMax=$memory_max (${changed[*]})"
