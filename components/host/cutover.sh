#!/usr/bin/env bash
# Cuts this app host over to a staged release, one host at a time (Kamal's rolling boot):
#   sudo cutover.sh --release <sha256> --peer <privateIp:port> --lb <lbPrivateIp>[,<lbPrivateIp>] \
#        [--health-path P] [--keep N] [--restart-timeout S] [--health-timeout S] [--lb-timeout S] \
#        [--grace S] [--when always|changed] [--env stdin|live|<sha256 of a staged env file>] < app.env
# (the program passes every option it needs; run by hand, each defaults to the stack config's default, see
# layout.sh). --env live keeps the env the host runs (a rollback: nothing on stdin); --when changed does
# nothing when the host already runs this release with this env and the LB reports it up (the program
# confirming a rollback that `npm run ops -- rollback` made).
# drain this peer on the LB -> close the app's client connections in even batches over --grace seconds
# (conn-lib.sh), so they reconnect to the other hosts gradually whatever the app does on SIGTERM -> point
# `current` and app.env at the new release and env -> restart the unit -> wait until healthy locally ->
# undrain -> wait until the LB's checker reports the peer up -> keep the newest releases, remove older ones.
# With two LBs (--lb a,b or --lb a --lb b), every drain and undrain goes to each, and each must report it up.
# On failure at any step: switch back to the previous release and env, restart, wait healthy, undrain,
# say why on stderr, ending with the new release's last journal lines (env values masked), and exit 1, so
# that Pulumi stops before the next host and its error shows the app's own message.
# Each drain/undrain tells the LB the release the host runs at that moment and its Node.js version.
# It runs detached from the caller (run_detached, deploy-lib.sh): a transient systemd unit does the work and
# this process only shows its output and exit status, so a dropped SSH session or a killed `pulumi up`
# never stops a cutover halfway: it still ends healthy and undrained, on the new release or the old one.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=deploy-lib.sh
. "$(dirname "$0")/deploy-lib.sh"

RESTART_CMD=${METEOR_DO_RESTART_CMD:-systemctl restart $LAYOUT_APP_UNIT}
HEALTH_HOST=${METEOR_DO_HEALTH_HOST:-}
NODE_BIN=${METEOR_DO_NODE:-/usr/local/bin/node}

usage() { die "usage: cutover.sh --release SHA --peer IP:PORT --lb IP[,IP] [--health-path PATH] [--keep N] [--restart-timeout S] [--health-timeout S] [--lb-timeout S] [--grace S] [--when always|changed] [--env stdin|live|SHA] < env-file"; }

sha="" peer="" health_path=$DEFAULT_HEALTH_CHECK_PATH keep=$DEFAULT_KEEP_RELEASES when=always env_from=stdin
restart_timeout=$DEFAULT_RESTART_TIMEOUT health_timeout=$DEFAULT_CUTOVER_TIMEOUT lb_timeout=$DEFAULT_CUTOVER_TIMEOUT
grace=$DEFAULT_STOP_GRACE
argv=("$@")
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || usage
  case $1 in
    --release) sha=$2 ;;
    --peer) peer=$2 ;;
    --lb) add_lbs "$2" --lb ;;
    --health-path) health_path=$2 ;;
    --keep) keep=$2 ;;
    --restart-timeout) restart_timeout=$2 ;;
    --health-timeout) health_timeout=$2 ;;
    --lb-timeout) lb_timeout=$2 ;;
    --grace) grace=$2 ;;
    --when) when=$2 ;;
    --env) env_from=$2 ;;
    *) usage ;;
  esac
  shift 2
done
check_sha "$sha"
check_peer --peer
# The app listens on the host's private address (BIND_IP), the peer's: ask it there.
[[ -n $HEALTH_HOST ]] || HEALTH_HOST=${peer%:*}
((${#lbs[@]} > 0)) || die "--lb is required"
[[ $health_path =~ $URL_PATH_RE ]] || die "--health-path must be an absolute URL path (/ followed by letters, digits and -._~!\$&()*+,=:@%/?), got '$health_path'"
[[ $keep =~ ^[0-9]+$ && $keep -ge 2 ]] || die "--keep must be an integer >= 2 (the current and the previous release)"
[[ $restart_timeout =~ ^[0-9]+$ && $health_timeout =~ ^[0-9]+$ && $lb_timeout =~ ^[0-9]+$ && $grace =~ ^[0-9]+$ ]] ||
  die "timeouts and --grace are whole seconds"
[[ $when == always || $when == changed ]] || die "--when must be always or changed"
[[ $env_from == stdin || $env_from == live || $env_from =~ $SHA256_RE ]] ||
  die "--env must be stdin, live or the sha256 of a staged env file"
if [[ -z ${METEOR_DO_CUTOVER_UNIT:-} && ${METEOR_DO_CUTOVER_DETACH:-systemd} == systemd ]]; then run_detached "$env_from" "${argv[@]}"; fi

# Node.js's version, for the drain and undrain (running, below), asked once and while the lock is taken
# and the env staged: starting it costs a drain and an undrain a few hundred ms on a busy host.
exec {node_fd}< <("$NODE_BIN" --version 2>/dev/null || true)
take_lock
if [[ $env_from =~ $SHA256_RE ]]; then
  [[ -f $ENV_DIR/$env_from.env ]] || die "--env $env_from: no such staged env file"
  ENV_HASH=$env_from
elif [[ $env_from == live ]]; then
  live_env=$(readlink "$ENV_ROOT/app.env" || true)
  [[ $live_env =~ ^env/([0-9a-f]{64})\.env$ && -f $ENV_DIR/${BASH_REMATCH[1]}.env ]] ||
    die "--env live: no live env to keep ($ENV_ROOT/app.env -> '$live_env')"
  ENV_HASH=${BASH_REMATCH[1]}
else
  stage_env
fi
release=$RELEASES/$sha
[[ -f $release/RELEASE && -f $release/bundle/main.js ]] || die "release $sha is not staged (run stage.sh first)"

current_link=$APP_ROOT/current
env_link=$ENV_ROOT/app.env
new_release=releases/$sha
new_env=env/$ENV_HASH.env
prev_release=$(readlink "$current_link" || true)
prev_env=$(readlink "$env_link" || true)
read -ra restart_cmd <<<"$RESTART_CMD"
# The admin API answers at once unless nginx is reloading; retry drain/undrain briefly.
lb_retry=$((lb_timeout < 10 ? lb_timeout : 10))

healthy() { curl -fsS -o /dev/null --max-time 2 "http://$HEALTH_HOST:$port$health_path" 2>/dev/null; }
# The query of a drain/undrain: release=<$1, a release id>&node=<what node --version says>, each only
# when well-formed (the LB refuses a malformed one, and that must never block a drain).
node_version=""
read -r node_version <&"$node_fd" || true
exec {node_fd}<&-
running() {
  local q=()
  [[ $1 =~ ^[0-9a-f]{64}$ ]] && q+=("release=$1")
  [[ $node_version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] && q+=("node=$node_version")
  local IFS='&'
  printf '%s' "${q[*]}"
}
# lb_post drain|undrain <release now live, or ""> <lb>; the LB's answer (the peer's state) in $lb_answer.
lb_answer=""
lb_post() { lb_answer=$(curl -fsS --max-time 5 -X POST "$(lb_url "$3")/$1?$(running "$2")" 2>/dev/null); }
lb_serving() { curl -fsS --max-time 5 "$(lb_url "$1")" 2>/dev/null | grep -Eq '"draining"[[:space:]]*:[[:space:]]*false'; }

if [[ $when == changed && $prev_release == "$new_release" && $prev_env == "$new_env" ]] && healthy && every_lb lb_up && every_lb lb_serving; then
  log "$peer already runs $sha with this env and the LB has it up: nothing to do"
  exit 0
fi

# systemctl restart waits for the old process to stop (up to the unit's TimeoutStopSec); bound it anyway.
restart() { timeout "$restart_timeout" "${restart_cmd[@]}" >&2 9>&-; }

step_started=0
timings=""
begin() {
  step=$1
  clock
  step_started=$now
}
done_step() {
  clock
  as_secs $((now - step_started))
  timings+=" $step=${secs}s"
}

drained=0
switched=0
restart_since=""
fail() {
  trap - ERR
  warn "FAILED while $step: $1"
  # Read before the rollback restarts the unit: what the new release said.
  local app_log=""
  if [[ -n $restart_since ]]; then app_log=$(app_log_tail "$restart_since" 40 "$ENV_DIR/$ENV_HASH.env"); fi
  if ((switched)); then
    if [[ -n $prev_release ]]; then
      warn "rolling back to ${prev_release#releases/}"
      switch_link "$prev_release" "$current_link"
      if [[ -n $prev_env ]]; then switch_link "$prev_env" "$env_link"; fi
      if restart && retry_for "$health_timeout" healthy; then
        warn "previous release is healthy again"
      else
        warn "previous release did not become healthy within ${health_timeout}s"
      fi
    else
      warn "no previous release to roll back to"
    fi
  fi
  if ((drained)); then
    # Live now: the previous release when it was switched back, else whatever `current` points at.
    live=$(readlink "$current_link" || true)
    for lb in "${lbs[@]}"; do
      retry_for "$lb_retry" lb_post undrain "${live#releases/}" "$lb" || warn "could not undrain $peer on the LB $lb; POST $(lb_url "$lb")/undrain by hand"
    done
  fi
  if [[ -n $app_log ]]; then
    warn "the app's log since its restart (last 40 lines, env values masked):"
    printf '%s\n' "$app_log" >&2
  fi
  exit 1
}

clock
started=$now
log "cutting $peer over to $sha"
step=start
# Anything unexpected from here on (a full disk, a failing mv) rolls back too.
trap 'fail "unexpected error at line $LINENO"' ERR

begin drain
drained=1
for lb in "${lbs[@]}"; do
  retry_for "$lb_retry" lb_post drain "${prev_release#releases/}" "$lb" || fail "LB admin API at $lb:$LB_PORT did not accept drain for $peer"
done
done_step

begin spread
close_spread "$grace" remote src "${peer%:*}" "sport = :$port"
((spread_closed == 0)) || log "closed $spread_closed client connection(s) in $spread_batches batch(es) of $spread_sizes"
done_step

begin switch
switched=1
switch_link "$new_release" "$current_link"
switch_link "$new_env" "$env_link"
done_step

begin restart
restart_since=$(date +%s)
restart || fail "'$RESTART_CMD' failed or took over ${restart_timeout}s"
done_step

begin health
retry_for "$health_timeout" healthy || fail "no healthy answer from http://$HEALTH_HOST:$port$health_path within ${health_timeout}s"
done_step

begin undrain
undrained_up=()
for lb in "${lbs[@]}"; do
  retry_for "$lb_retry" lb_post undrain "$sha" "$lb" || fail "LB admin API at $lb did not accept undrain for $peer"
  # The undrain's answer already says up when the LB's own probe of the host passed.
  if says_up "$lb_answer"; then undrained_up+=("$lb"); fi
done
drained=0
done_step

begin lb-up
for lb in "${lbs[@]}"; do
  [[ " ${undrained_up[*]} " == *" $lb "* ]] || retry_for "$lb_timeout" lb_up "$lb" || {
    drained=1
    fail "the LB did not report $peer up within ${lb_timeout}s (LB $lb)"
  }
done
done_step

step="recording previous release"
if [[ -n $prev_release && $prev_release != "$new_release" ]]; then switch_link "$prev_release" "$APP_ROOT/previous"; fi
if [[ -n $prev_env && $prev_env != "$new_env" ]]; then switch_link "$prev_env" "$ENV_ROOT/previous.env"; fi

# Mark what went live, for choosing what to keep: releases that were live, newest first, then the rest.
# Never through a link (stage.sh refuses one; a release staged before it did may hold one).
if [[ -L $release/DEPLOYED ]]; then rm -f "$release/DEPLOYED"; fi
touch "$release/DEPLOYED" "$ENV_DIR/$ENV_HASH.env"

# The host is live on the new release: cleaning up is best effort and never rolls back.
trap - ERR

pruned=0
prune_releases "$keep" "$sha" "$ENV_HASH" || warn "could not prune old releases"
clock
as_secs $((now - started))
log "cut over to $sha in ${secs}s:$timings; removed $pruned old release(s)"
