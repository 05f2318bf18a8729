#!/usr/bin/env bash
# lbCount 2: assigns the site's reserved IP to this LB's droplet through the DigitalOcean API. keepalived
# runs it (through lb-role.sh) when this LB becomes the VRRP master:
#   sudo lb-takeover.sh
# Reads failover.env (API base URL, reserved IP, this droplet's id; written by failover.sh configure) and
# the API token from a root-only file. GET the reserved IP: already on this droplet -> nothing to do.
# Else POST an assign action and poll it until it is `completed`; a 5xx, a refused connection or an
# `errored` action is tried again, until TAKEOVER_TIMEOUT seconds have passed (then exit 1). A 401/403
# (a wrong or revoked token) stops at once. The token only ever reaches curl through a config file
# descriptor, never its command line, and is never printed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

dir=${FAILOVER_DIR:-$LAYOUT_FAILOVER_DIR}
timeout_s=${TAKEOVER_TIMEOUT:-60}

log() { printf 'lb-takeover: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ -r $dir/failover.env && -r $dir/token ]] || die "no $dir/failover.env or $dir/token (run failover.sh configure and token)"
api="" reserved_ip="" droplet_id=""
while IFS='=' read -r k v; do
  case $k in
    FAILOVER_API) api=$v ;;
    FAILOVER_RESERVED_IP) reserved_ip=$v ;;
    FAILOVER_DROPLET_ID) droplet_id=$v ;;
  esac
done <"$dir/failover.env"
[[ $api =~ ^https?://[A-Za-z0-9.:-]+$ ]] || die "FAILOVER_API must be an http(s) URL without a path, got '$api'"
[[ $reserved_ip =~ ^[0-9]+(\.[0-9]+){3}$ ]] || die "FAILOVER_RESERVED_IP must be an IPv4 address, got '$reserved_ip'"
[[ $droplet_id =~ ^[0-9]+$ ]] || die "FAILOVER_DROPLET_ID must be a number, got '$droplet_id'"
token=$(tr -d '[:space:]' <"$dir/token")
[[ -n $token ]] || die "$dir/token is empty"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="$api/v2/reserved_ips/$reserved_ip"

# api METHOD PATH [JSON body]: the body lands in $work/body, the HTTP status in $code (000: no answer).
code=""
api() {
  local args=(-sS -o "$work/body" -w '%{http_code}' --max-time 5 -X "$1" -H 'Content-Type: application/json')
  if [[ $# -ge 3 ]]; then args+=(--data "$3"); fi
  code=$(curl "${args[@]}" -K <(printf 'header = "Authorization: Bearer %s"\n' "$token") "$url$2" 2>"$work/err") || code=000
}
field() { jq -r "$1 // empty" "$work/body" 2>/dev/null || true; }
refused() {
  if [[ $code == 401 || $code == 403 ]]; then
    die "the API refused the token (HTTP $code): check failoverApiToken's scopes (reserved_ip read and update)"
  fi
}

started=$SECONDS
deadline=$((SECONDS + timeout_s))
delay=0.2
# Waits before the next try, or gives up when the time is over.
again() {
  log "$1; trying again"
  ((SECONDS < deadline)) || die "reserved IP $reserved_ip not assigned to droplet $droplet_id within ${timeout_s}s"
  sleep "$delay"
  if [[ $delay == 0.2 ]]; then delay=0.5; else delay=1; fi
}

while true; do
  api GET ""
  refused
  if [[ $code != 200 ]]; then
    again "GET $url answered HTTP $code"
    continue
  fi
  if [[ $(field .reserved_ip.droplet.id) == "$droplet_id" ]]; then
    log "reserved IP $reserved_ip is on droplet $droplet_id (this LB) already"
    exit 0
  fi
  api POST /actions "{\"type\":\"assign\",\"droplet_id\":$droplet_id}"
  refused
  action=$(field .action.id)
  if [[ $code != 201 || ! $action =~ ^[0-9]+$ ]]; then
    again "assign answered HTTP $code"
    continue
  fi
  log "assigning $reserved_ip to droplet $droplet_id (action $action)"
  status=in-progress
  while [[ $status == in-progress ]] && ((SECONDS < deadline)); do
    sleep 0.2
    api GET "/actions/$action"
    refused
    if [[ $code == 200 ]]; then status=$(field .action.status); fi
  done
  if [[ $status == completed ]]; then
    log "reserved IP $reserved_ip is on droplet $droplet_id (this LB) after $((SECONDS - started))s"
    exit 0
  fi
  again "action $action ended '$status'"
done
