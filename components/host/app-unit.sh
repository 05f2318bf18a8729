#!/usr/bin/env bash
# Drop-ins of the app's unit that come from the program rather than the droplet's user-data: how long
# systemd gives the app to stop (the app's own grace period plus time to exit) and the address it listens
# on (BIND_IP: the host's private address, the LB being its only client). Take effect at the next restart
# (the cutover's); a second run with the same values changes nothing.
# Usage: app-unit.sh <stop timeout seconds> <bind IPv4 address>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

usage="usage: app-unit.sh <stop timeout seconds> <bind IPv4 address>"
timeout_s=${1:?$usage}
bind_ip=${2:?$usage}
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "app-unit: stop timeout must be whole seconds, got '$timeout_s'" >&2; exit 1; }
[[ $bind_ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { echo "app-unit: bind address must be an IPv4 address, got '$bind_ip'" >&2; exit 1; }
dir=${APP_UNIT_DROPIN_DIR:-$LAYOUT_APP_UNIT_DROPIN_DIR}

changed=0
put() { # file content: writes the drop-in unless it already holds exactly this
  if [[ -f $dir/$1 && $(<"$dir/$1") == "$2" ]]; then return 0; fi
  install -d -m 0755 "$dir"
  printf '%s\n' "$2" >"$dir/$1.new"
  mv -f "$dir/$1.new" "$dir/$1"
  changed=1
}
put 50-stop-timeout.conf "$(printf '[Service]\nTimeoutStopSec=%s\n' "$timeout_s")"
put 50-bind.conf "$(printf '[Service]\nEnvironment=BIND_IP=%s\n' "$bind_ip")"

if ((changed == 0)); then
  echo "app-unit: TimeoutStopSec=$timeout_s BIND_IP=$bind_ip already set"
  exit 0
fi
if [[ -z ${APP_UNIT_NO_RELOAD:-} ]]; then systemctl daemon-reload; fi
echo "app-unit: TimeoutStopSec=$timeout_s BIND_IP=$bind_ip"
