# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Shared by stage.sh, cutover.sh and retire.sh (sourced, not run). Every path defaults to the production layout
# (layout.sh, rendered by the program and installed beside this file) and can be overridden by an
# environment variable so that the test suite can run the scripts against a temporary root with real
# processes.
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "${BASH_SOURCE[0]}")/layout.sh"
# shellcheck source=conn-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/conn-lib.sh"

APP_ROOT=${METEOR_DO_APP_ROOT:-$LAYOUT_APP_ROOT}
ENV_ROOT=${METEOR_DO_ENV_ROOT:-$LAYOUT_ENV_ROOT}
NPM=${METEOR_DO_NPM:-$LAYOUT_NODE_BIN_DIR/npm}
LOCK_FILE=${METEOR_DO_LOCK_FILE:-$APP_ROOT/.deploy.lock}
RELEASES=$APP_ROOT/releases
INCOMING=$APP_ROOT/incoming
ENV_DIR=$ENV_ROOT/env

log() { printf '%s: %s\n' "${0##*/}" "$*"; }
warn() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  warn "error: $*"
  exit 1
}

check_sha() { [[ $1 =~ $SHA256_RE ]] || die "not a sha256: $1"; }

# Sets now to the time in milliseconds, and secs to milliseconds $1 as seconds (1.234): in this shell,
# where $(...) would fork, 10-15 ms each on a busy host, and a cutover reads the clock dozens of times.
clock() {
  local t=${EPOCHREALTIME/./}
  now=$((10#$t / 1000))
}
as_secs() { printf -v secs '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# Runs "$@" until it succeeds or $1 seconds pass, sleeping 0.1 s, then 0.2 s between tries (a longer
# back-off overshoots an app that comes up within a second or two by as much).
retry_for() {
  local timeout_s=$1 delay=100 deadline
  shift
  clock
  deadline=$((now + timeout_s * 1000))
  until "$@"; do
    clock
    ((now < deadline)) || return 1
    as_secs "$delay"
    sleep "$secs"
    delay=200
  done
}

# The LB admin API as the app host's scripts (cutover, retire, reboot-window) use it: this host is $peer
# (IP:PORT, as the LB names it) and the LBs are $lbs, one or two private addresses.
LB_PORT=${METEOR_DO_LB_PORT:-$LAYOUT_LB_ADMIN_PORT}
peer="" port="" lbs=()
# check_peer OPTION: $peer is IP:PORT (sets port), else dies naming the option.
check_peer() {
  [[ $peer =~ ^[0-9A-Za-z.:-]+:([0-9]+)$ ]] || die "$1 must be IP:PORT, got '$peer'"
  port=${BASH_REMATCH[1]}
}
# add_lbs LIST OPTION: appends the comma-separated addresses in LIST to lbs, else dies naming the option.
add_lbs() {
  local more one
  IFS=, read -ra more <<<"$1"
  ((${#more[@]} > 0)) || die "$2 is required"
  for one in "${more[@]}"; do
    [[ $one =~ ^[0-9A-Za-z.:-]+$ ]] || die "$2 must be an address (or a comma list), got '$1'"
  done
  lbs+=("${more[@]}")
}
lb_url() { printf 'http://%s:%s/lb/peers/%s' "$1" "$LB_PORT" "$peer"; }
says_up() { grep -Eq '"status"[[:space:]]*:[[:space:]]*"up"' <<<"$1"; }
# lb_up LB: that LB's checker reports this host up.
lb_up() { says_up "$(curl -fsS --max-time 5 "$(lb_url "$1")" 2>/dev/null)"; }
# every_lb CHECK [ARG...]: CHECK <lb> ARG... holds for every LB.
every_lb() {
  local one
  for one in "${lbs[@]}"; do "$1" "$one" "${@:2}" || return 1; done
}

# One deploy step at a time per host (stage and cutover of one host never overlap anyway; this guards
# against a manual run during a `pulumi up`).
take_lock() {
  exec 9>"$LOCK_FILE"
  flock -w "${METEOR_DO_LOCK_WAIT:-600}" 9 || die "another deploy holds $LOCK_FILE"
}

# Replace a symlink atomically (rename over the old one), so a reader sees the old or the new target.
switch_link() {
  local target=$1 link=$2
  ln -sfn "$target" "$link.tmp.$$"
  mv -Tf "$link.tmp.$$" "$link"
}

# Reads an env file from stdin into $ENV_DIR/<sha256>.env (0600) and sets ENV_HASH. The content is never
# printed: it holds secrets.
stage_env() {
  local tmp bad hash name
  mkdir -p "$ENV_DIR"
  chmod 0700 "$ENV_ROOT" "$ENV_DIR"
  tmp=$(mktemp "$ENV_DIR/.incoming.XXXXXX")
  cat >"$tmp"
  if [[ ! -s $tmp ]]; then
    rm -f "$tmp"
    die "no env file on stdin"
  fi
  # Line numbers only: the lines themselves may be secret.
  name=${ENV_NAME_RE#^}
  name=${name%\$}
  if grep -qvE "^([[:space:]]*(#.*)?|$name=.*)\$" "$tmp"; then
    bad=$(grep -nvE "^([[:space:]]*(#.*)?|$name=.*)\$" "$tmp" | cut -d: -f1 | tr '\n' ' ' || true)
    rm -f "$tmp"
    die "env file lines ${bad% } are not KEY=VALUE"
  fi
  hash=$(sha256sum "$tmp")
  hash=${hash%% *}
  if [[ -f $ENV_DIR/$hash.env ]]; then
    rm -f "$tmp"
  else
    chmod 0600 "$tmp"
    mv -f "$tmp" "$ENV_DIR/$hash.env"
  fi
  ENV_HASH=$hash
}

# The app's own log for an error message: the last $2 lines of its journal since $1 (unix seconds), with the
# values of env file $3 masked (a failed start often prints a URL or a setting).
app_log_tail() {
  local since=$1 lines=$2 envfile=$3 text
  local -a cmd
  read -ra cmd <<<"${METEOR_DO_JOURNAL_CMD:-journalctl --unit $LAYOUT_APP_UNIT --no-pager --output cat}"
  text=$("${cmd[@]}" --since "@$since" --lines "$lines" 2>&1) || true
  mask_env_values "$envfile" <<<"$text"
}

# Copies stdin to stdout with the values of env file $1 (systemd EnvironmentFile, KEY="value") replaced by
# [masked], longest first: each value, the password of a URL with credentials, and each string in
# METEOR_SETTINGS. Left readable: values the program sets from public config, and values under 6 characters
# (3000, true), which would mask half the log and guard nothing.
mask_env_values() {
  local envfile=$1 text line name value s
  local -a values=()
  text=$(cat)
  while IFS= read -r line; do
    [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=\"(.*)\"$ ]] || continue
    name=${BASH_REMATCH[1]}
    # shellcheck disable=SC2001  # a backreference: \X -> X undoes components/env.ts's escaping
    value=$(sed 's/\\\(.\)/\1/g' <<<"${BASH_REMATCH[2]}")
    case $name in NODE_ENV | PORT | ROOT_URL | HTTP_FORWARDED_COUNT | METEOR_OPLOG_TOO_FAR_BEHIND | STOP_GRACE_SECONDS) continue ;; esac
    values+=("$value")
    if [[ $value =~ ://[^/:@]+:([^/@]+)@ ]]; then values+=("${BASH_REMATCH[1]}"); fi
    if [[ $name == METEOR_SETTINGS ]]; then
      while IFS= read -r s; do values+=("$s"); done < <(grep -oE '"([^"\\]|\\.)*"' <<<"$value" | sed 's/^"//; s/"$//')
    fi
  done <"$envfile"
  while IFS= read -r s; do
    text=${text//"$s"/[masked]}
  done < <(for s in "${values[@]}"; do if ((${#s} >= 6)); then printf '%d %s\n' "${#s}" "$s"; fi; done | sort -rn | cut -d' ' -f2-)
  printf '%s\n' "$text"
}

# cutover.sh: runs the calling script again ("$0" "${@:2}") as a transient systemd unit and waits for it,
# passing on its stdout, stderr and exit status. The caller (sudo under an SSH session) may die at any
# moment, a dropped connection or a killed `pulumi up`; the unit does not, so the cutover finishes or
# rolls back on its own. $1 is the caller's --env: from stdin, the env is staged here first and the unit
# gets its hash (nothing secret in the unit's command line or on disk beyond the 0600 env file).
run_detached() {
  local env_from=$1 dir unit runner rc=0
  local -a args=("${@:2}") tails=()
  if [[ $env_from == stdin ]]; then
    stage_env
    args+=(--env "$ENV_HASH")
  fi
  dir=$(mktemp -d "${METEOR_DO_RUN_DIR:-/run}/meteor-do-cutover.XXXXXX")
  unit=meteor-do-cutover-${dir##*.}
  : >"$dir/out"
  : >"$dir/err"
  systemd-run --quiet --wait --collect --service-type=exec --unit="$unit" --property=StandardInput=null \
    --property="StandardOutput=append:$dir/out" --property="StandardError=append:$dir/err" \
    --setenv=METEOR_DO_CUTOVER_UNIT="$unit" -- "$(realpath "$0")" "${args[@]}" </dev/null >"$dir/systemd-run.log" 2>&1 &
  runner=$!
  tail -n +1 -s 0.2 -f --pid="$runner" "$dir/out" &
  tails+=($!)
  tail -n +1 -s 0.2 -f --pid="$runner" "$dir/err" >&2 &
  tails+=($!)
  wait "$runner" || rc=$?
  wait "${tails[@]}" || true
  if ((rc != 0)) && [[ ! -s $dir/err ]]; then cat "$dir/systemd-run.log" >&2; fi
  rm -rf "$dir"
  exit "$rc"
}

# cutover.sh, once live on release $2 with env $3: keeps the newest $1 releases that went live (then the
# rest, newest first) plus the current and previous ones, and as many env files; removes the others with
# their uploads. Sets `pruned` to how many releases it removed; best effort (a failure is a warning).
# The deploy waits for it, so it starts no process but rm: bash compares the files' times itself (-nt) and
# finds the previous release with -ef (a stat, sort and readlink per release had made it 0.3 s of every
# cutover on a busy host).
prune_releases() {
  local keep=$1 sha=$2 env_hash=$3 dir name f i n
  local -a went_live=() staged=() envs=() sorted=()
  pruned=0
  # Sets sorted to the files "$@", newest first.
  newest_first() {
    sorted=()
    for f in "$@"; do
      for ((i = 0; i < ${#sorted[@]}; i++)); do if [[ $f -nt ${sorted[i]} ]]; then break; fi; done
      sorted=("${sorted[@]:0:i}" "$f" "${sorted[@]:i}")
    done
  }
  for dir in "$RELEASES"/*/; do
    dir=${dir%/}
    [[ -f $dir/RELEASE ]] || continue
    if [[ -f $dir/DEPLOYED ]]; then went_live+=("$dir/DEPLOYED"); else staged+=("$dir"); fi
  done
  # Releases that went live (by when), then the rest (by their directory's time); the current and the
  # previous one are never removed, but count.
  newest_first "${went_live[@]}"
  went_live=("${sorted[@]}")
  newest_first "${staged[@]}"
  n=0
  for dir in "${went_live[@]%/DEPLOYED}" "${sorted[@]}"; do
    n=$((n + 1))
    name=${dir##*/}
    if ((n <= keep)) || [[ $name == "$sha" || $dir -ef $APP_ROOT/previous ]]; then continue; fi
    if rm -rf "${RELEASES:?}/$name" "$INCOMING/$name.tgz"; then
      pruned=$((pruned + 1))
    else
      warn "could not remove release $name"
    fi
  done
  for f in "$ENV_DIR"/*.env; do if [[ -f $f ]]; then envs+=("$f"); fi; done
  newest_first "${envs[@]}"
  n=0
  for f in "${sorted[@]}"; do
    n=$((n + 1))
    if ((n <= keep)) || [[ ${f##*/} == "$env_hash.env" || $f -ef $ENV_ROOT/previous.env ]]; then continue; fi
    rm -f "$f" || warn "could not remove env file ${f##*/}"
  done
}
