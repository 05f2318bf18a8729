#!/usr/bin/env bash
# Sets how long systemd gives the app to stop (the app's own grace period plus time to exit) as a
# drop-in of the app's unit, so changing stopGraceSeconds never touches the droplet's user-data.
# Takes effect at the next stop (the cutover's restart); a second run with the same value changes nothing.
# Usage: app-unit.sh <stop timeout seconds>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

timeout_s=${1:?usage: app-unit.sh <stop timeout seconds>}
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "app-unit: stop timeout must be whole seconds, got '$timeout_s'" >&2; exit 1; }
dir=${APP_UNIT_DROPIN_DIR:-$LAYOUT_APP_UNIT_DROPIN_DIR}
file="$dir/50-stop-timeout.conf"
want=$(printf '[Service]\nTimeoutStopSec=%s\n' "$timeout_s")

if [[ -f $file && $(<"$file") == "$want" ]]; then
  echo "app-unit: TimeoutStopSec=$timeout_s already set"
  exit 0
fi
install -d -m 0755 "$dir"
printf '%s\n' "$want" >"$file.new"
mv -f "$file.new" "$file"
if [[ -z ${APP_UNIT_NO_RELOAD:-} ]]; then systemctl daemon-reload; fi
echo "app-unit: TimeoutStopSec=$timeout_s"
