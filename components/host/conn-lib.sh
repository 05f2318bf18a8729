# shellcheck shell=bash
# shellcheck disable=SC2034  # spread_* are results, read by the scripts that source this file
# Shared by lb-peer.sh (on the LB, before a resize) and deploy-lib.sh (cutover.sh and retire.sh, on an app
# host, before SIGTERM); sourced, not run. A host that leaves gracefully has its clients' connections
# closed in even batches across the grace period, so that its DDP clients reconnect to the other hosts at
# about K/grace per second instead of all K at once when the app stops, whatever the app does on SIGTERM.

# One batch every 0.2 s: no second of the window gets more than its share.
SPREAD_INTERVAL_MS=200
# Never slower than this many connections per second: a few dozen clients go at once, not over 20 s
# (reconnects at this rate are nothing for the other hosts, and every cutover would wait the whole grace).
SPREAD_MIN_RATE=${METEOR_DO_SPREAD_MIN_RATE:-50}

spread_now_ms() { local t=${EPOCHREALTIME/./}; printf '%s' $((10#$t / 1000)); }

# close_spread GRACE KEY FILTER...
# Closes (`ss -K`) the established TCP connections that the ss FILTER matches, in even batches over at
# most GRACE seconds. KEY says which port tells the connections apart: `local` (the LB's ports to one
# peer) or `remote` (the clients' ports at an app host); a batch is a range of those ports, so its filter
# stays short however many it closes. A batch never goes early, nor together with a late one: on a host
# too busy to run `ss` every 0.2 s the window stretches instead (a burst is what this avoids).
# Sets spread_closed (how many were closed), spread_batches (how many batches) and spread_sizes (the
# smallest and largest batch, "min-max"). Never fails: a host that leaves must leave.
close_spread() {
  local grace=$1 key=$2 column=4 port_key=dport
  shift 2
  if [[ $key == local ]]; then column=3 port_key=sport; fi
  local ports
  mapfile -t ports < <(ss -Htn state established "$@" 2>/dev/null | awk -v c="$column" '{ n = split($c, a, ":"); print a[n] }' | sort -n)
  local total=${#ports[@]} window_ms
  window_ms=$((total * 1000 / SPREAD_MIN_RATE))
  ((window_ms <= grace * 1000)) || window_ms=$((grace * 1000))
  ((window_ms > 0)) || window_ms=1
  local batches=$((window_ms / SPREAD_INTERVAL_MS + 1))
  ((batches <= total)) || batches=$total
  local started b lo hi wait n min="" max=0
  started=$(spread_now_ms)
  spread_closed=0
  for ((b = 0; b < batches; b++)); do
    # Batch b is due at started + b * window / batches.
    wait=$((started + b * window_ms / batches - $(spread_now_ms)))
    if ((wait > 0)); then sleep "$((wait / 1000)).$(printf '%03d' $((wait % 1000)))"; fi
    lo=${ports[b * total / batches]} hi=${ports[(b + 1) * total / batches - 1]}
    n=$(ss -K -Htn state established "$@" "( $port_key >= :$lo and $port_key <= :$hi )" 2>/dev/null | wc -l || true)
    spread_closed=$((spread_closed + n))
    if [[ -z $min ]] || ((n < min)); then min=$n; fi
    if ((n > max)); then max=$n; fi
  done
  spread_batches=$batches
  spread_sizes="${min:-0}-$max"
}
