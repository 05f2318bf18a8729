#!/usr/bin/env bash
# Takes this app host out of service before its droplet is destroyed (the `delete` of the program's
# app-N-retire Command, which Pulumi runs before it deletes the droplet):
#   sudo retire.sh --peer <privateIp:port> --lb <lbPrivateIp>[,<lbPrivateIp>] [--stop-timeout S] [--grace S]
# drain the peer on the LB, on each of two (the LB config pushed earlier in the same `up` usually no longer lists it: then
# it is out of the ring already) -> close the app's client connections in even batches over --grace
# seconds, as a cutover does, so its clients reconnect to the other hosts gradually instead of all at once
# when the droplet goes -> stop the app unit (SIGTERM, the unit's TimeoutStopSec).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=deploy-lib.sh
. "$(dirname "$0")/deploy-lib.sh"

STOP_CMD=${METEOR_DO_STOP_CMD:-systemctl stop $LAYOUT_APP_UNIT}

peer="" stop_timeout=$DEFAULT_RESTART_TIMEOUT grace=$DEFAULT_STOP_GRACE
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || die "usage: retire.sh --peer IP:PORT --lb IP [--stop-timeout S] [--grace S]"
  case $1 in
    --peer) peer=$2 ;;
    --lb) add_lbs "$2" --lb ;;
    --stop-timeout) stop_timeout=$2 ;;
    --grace) grace=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
check_peer --peer
((${#lbs[@]} > 0)) || die "--lb is required"
[[ $stop_timeout =~ ^[0-9]+$ && $grace =~ ^[0-9]+$ ]] || die "--stop-timeout and --grace are whole seconds"
take_lock

# 200: drained now; 404: the LB no longer lists this peer. Anything else (the LB unreachable) is logged:
# the host is being destroyed either way, and its clients reconnect through the LB's other hosts.
for one in "${lbs[@]}"; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$(lb_url "$one")/drain" || true)
  case $code in
    200) log "drained $peer on the LB${lbs[1]:+ $one}" ;;
    404) log "$peer is no longer a peer of the LB${lbs[1]:+ $one}: out of the ring already" ;;
    *) warn "the LB${lbs[1]:+ $one} answered '$code' to drain $peer; stopping the app anyway" ;;
  esac
done
close_spread "$grace" remote src "${peer%:*}" "sport = :$port"
((spread_closed == 0)) || log "closed $spread_closed client connection(s) in $spread_batches batch(es) of $spread_sizes"
clock
started=$now
read -ra stop_cmd <<<"$STOP_CMD"
timeout "$stop_timeout" "${stop_cmd[@]}" 9>&- || die "'$STOP_CMD' failed or took over ${stop_timeout}s"
clock
as_secs $((now - started))
log "app stopped in ${secs}s; the droplet can go"
