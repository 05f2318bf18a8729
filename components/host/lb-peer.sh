#!/usr/bin/env bash
# On the load balancer: takes an app droplet out of the ring before DigitalOcean powers it off for a
# resize, and puts it back after (the program's app-N-pause and app-N-resume Commands, one host at a time):
#   sudo lb-peer.sh pause  --host <droplet name> --port <app port> --grace S --why TEXT
#   sudo lb-peer.sh resume --host <droplet name> --port <app port> --timeout S --why TEXT
# The droplet is named, not addressed: the pause runs before the droplet's own resource, so the program
# cannot give its address (the LB's peers carry the droplet names it pushed).
# pause: drain the peer (no new requests), let requests in flight finish, then close the LB's connections
# to it (WebSockets) in even batches over the grace period (conn-lib.sh, as a cutover does on the host), so
# its DDP clients reconnect to the other hosts gradually instead of all at once when the power goes.
# resume: wait until the checker reports the peer up again (the app starts at boot), then undrain it.
# --why is logged (it names the change, e.g. size=s-2vcpu-4gb). A droplet the LB does not list is out of
# the ring already: nothing to do.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"
# shellcheck source=conn-lib.sh
. "$(dirname "$0")/conn-lib.sh"

ADMIN=${LB_PEER_ADMIN:-http://127.0.0.1:$LAYOUT_LB_ADMIN_PORT}
SETTLE_SECONDS=${LB_PEER_SETTLE_SECONDS:-2}

log() { printf 'lb-peer: %s\n' "$*"; }
die() {
  printf 'lb-peer: error: %s\n' "$*" >&2
  exit 1
}
usage() { die "usage: lb-peer.sh pause|resume --host NAME --port PORT [--grace S] [--timeout S] [--why TEXT]"; }

action=${1:-}
[[ $action == pause || $action == resume ]] || usage
shift
host="" port="" grace=0 timeout_s=$DEFAULT_CUTOVER_TIMEOUT why=""
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || usage
  case $1 in
    --host) host=$2 ;;
    --port) port=$2 ;;
    --grace) grace=$2 ;;
    --timeout) timeout_s=$2 ;;
    --why) why=$2 ;;
    *) usage ;;
  esac
  shift 2
done
[[ $host =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "--host must be a droplet name, got '$host'"
[[ $port =~ ^[0-9]+$ && $grace =~ ^[0-9]+$ && $timeout_s =~ ^[0-9]+$ ]] || die "--port, --grace and --timeout are whole numbers"
[[ $why =~ ^[A-Za-z0-9=._:-]*$ ]] || die "--why takes letters, digits and =._:- only"

# The peer (ip:port) the LB lists under this droplet name, or nothing.
list=$(curl -fsS --max-time 5 "$ADMIN/lb/peers") || die "the LB admin API at $ADMIN did not answer"
peer=$(python3 -c '
import json, sys
host, port = sys.argv[1], sys.argv[2]
for p in json.load(sys.stdin)["peers"]:
    if p.get("host") == host and p["name"].endswith(":" + port):
        print(p["name"])
' "$host" "$port" <<<"$list") || die "the LB admin API at $ADMIN answered no peer list: $list"
if [[ -z $peer ]]; then
  log "$host is not a peer of this LB: nothing to $action${why:+ ($why)}"
  exit 0
fi
ip=${peer%:*}

peer_field() { curl -fsS --max-time 5 "$ADMIN/lb/peers/$peer" | python3 -c 'import json, sys; print(str(json.load(sys.stdin)[sys.argv[1]]).lower())' "$1"; }

if [[ $action == pause ]]; then
  curl -fsS -o /dev/null --max-time 5 -X POST "$ADMIN/lb/peers/$peer/drain" || die "the LB did not accept drain for $peer"
  log "drained $host ($peer)${why:+ for $why}"
  sleep "$SETTLE_SECONDS"
  close_spread "$grace" local dst "$ip" "dport = :$port"
  # Whatever opened meanwhile (the checker's own probes) goes too: the power is about to go.
  ss -K -Htn state established dst "$ip" "dport = :$port" >/dev/null || true
  log "closed $spread_closed connection(s) to $peer in $spread_batches batch(es) of $spread_sizes"
else
  deadline=$((SECONDS + timeout_s))
  until [[ $(peer_field status 2>/dev/null || true) == up ]]; do
    ((SECONDS < deadline)) || die "$host ($peer) was not reported up within ${timeout_s}s; it stays drained (POST $ADMIN/lb/peers/$peer/undrain by hand)"
    sleep 0.5
  done
  curl -fsS -o /dev/null --max-time 5 -X POST "$ADMIN/lb/peers/$peer/undrain" || die "the LB did not accept undrain for $peer"
  log "undrained $host ($peer), up${why:+ after $why}"
fi
