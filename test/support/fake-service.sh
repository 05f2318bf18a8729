#!/usr/bin/env bash
# Test stand-in for `systemctl restart meteor-app` (no systemd here): does what the unit does with real
# processes. Stops the running app (SIGTERM, SIGKILL after FAKE_SVC_STOP_TIMEOUT s, as TimeoutStopSec),
# then, if $APP_ROOT/current/bundle/main.js exists (ConditionPathExists), starts `node main.js` there with
# the variables of $ENV_ROOT/app.env and records its PID. `journal` stands in for journalctl: the app's
# output since the first start at or after --since @SECONDS, its last --lines N lines.
#   fake-service.sh restart|stop|journal [--since @S] [--lines N]
set -euo pipefail
: "${METEOR_DO_APP_ROOT:?}" "${METEOR_DO_ENV_ROOT:?}" "${FAKE_SVC_PIDFILE:?}" "${FAKE_SVC_LOG:?}"
stop_timeout=${FAKE_SVC_STOP_TIMEOUT:-10}

alive() {
  local state
  # The process may exit between any two reads: a missing file means "not alive", never an error line.
  state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [[ $state != Z ]]
}

stop() {
  [[ -f $FAKE_SVC_PIDFILE ]] || return 0
  local pid i
  pid=$(<"$FAKE_SVC_PIDFILE")
  rm -f "$FAKE_SVC_PIDFILE"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < stop_timeout * 20; i++)); do
    alive "$pid" || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

start() {
  local bundle=$METEOR_DO_APP_ROOT/current/bundle offset=0
  [[ -f $bundle/main.js ]] || return 0
  if [[ -f $FAKE_SVC_LOG ]]; then offset=$(stat -c %s "$FAKE_SVC_LOG"); fi
  cd "$bundle"
  (
    set -a
    # shellcheck disable=SC1091  # the env file under test
    . "$METEOR_DO_ENV_ROOT/app.env"
    set +a
    exec node main.js >>"$FAKE_SVC_LOG" 2>&1 </dev/null
  ) &
  echo $! >"$FAKE_SVC_PIDFILE"
  echo "$(date +%s.%N) start $! $offset" >>"$FAKE_SVC_LOG.events"
}

journal() {
  local since=0 lines=10 from=0 t offset
  while [[ $# -ge 2 ]]; do
    case $1 in
      --since) since=${2#@} ;;
      --lines) lines=$2 ;;
    esac
    shift 2
  done
  [[ -f $FAKE_SVC_LOG.events ]] || return 0
  # The log's size at the first start not before $since: what that run printed, and later runs.
  while read -r t _ _ offset; do
    if [[ ${t%.*} -ge $since ]]; then from=$offset; break; fi
    from=$(stat -c %s "$FAKE_SVC_LOG")
  done <"$FAKE_SVC_LOG.events"
  tail -c +"$((from + 1))" "$FAKE_SVC_LOG" | tail -n "$lines"
}

case ${1:-} in
  restart) stop; start ;;
  stop) stop ;;
  journal) shift; journal "$@" ;;
  *) echo "usage: fake-service.sh restart|stop|journal" >&2; exit 2 ;;
esac
