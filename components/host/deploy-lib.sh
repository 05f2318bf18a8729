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

now_ms() { local t=${EPOCHREALTIME/./}; printf '%s' $((10#$t / 1000)); }

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
  bad=$(grep -nvE "^([[:space:]]*(#.*)?|$name=.*)\$" "$tmp" | cut -d: -f1 | tr '\n' ' ' || true)
  if [[ -n $bad ]]; then
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
# their uploads. Prints how many releases it removed; best effort (a failure is a warning).
prune_releases() {
  local keep=$1 sha=$2 env_hash=$3 prev_now prev_env_now removed=0 old
  # Reads names ranked newest first; prints those beyond the first $keep, except the protected ones ("$@").
  beyond_keep() {
    local n=0 name p protected
    while IFS= read -r name; do
      n=$((n + 1))
      protected=0
      for p in "$@"; do [[ $name == "$p" ]] && protected=1; done
      if ((n > keep && !protected)); then printf '%s\n' "$name"; fi
    done
  }
  ranked_releases() {
    local name
    for name in "$RELEASES"/*/; do
      name=${name%/}
      name=${name##*/}
      [[ -f $RELEASES/$name/RELEASE ]] || continue
      if [[ -f $RELEASES/$name/DEPLOYED ]]; then
        printf '1 %s %s\n' "$(stat -c %.9Y "$RELEASES/$name/DEPLOYED")" "$name"
      else
        printf '0 %s %s\n' "$(stat -c %.9Y "$RELEASES/$name")" "$name"
      fi
    done | sort -k1,1nr -k2,2nr | cut -d' ' -f3
  }
  prev_now=$(readlink "$APP_ROOT/previous" || true)
  prev_env_now=$(readlink "$ENV_ROOT/previous.env" || true)
  while IFS= read -r old; do
    [[ -n $old ]] || continue
    if rm -rf "${RELEASES:?}/$old" "$INCOMING/$old.tgz"; then
      removed=$((removed + 1))
    else
      warn "could not remove release $old"
    fi
  done < <(ranked_releases | beyond_keep "$sha" "${prev_now#releases/}")
  while IFS= read -r old; do
    [[ -n $old ]] || continue
    rm -f "${ENV_DIR:?}/$old" || warn "could not remove env file $old"
  done < <(find "$ENV_DIR" -mindepth 1 -maxdepth 1 -name '*.env' -printf '%T@ %f\n' | sort -rn | cut -d' ' -f2 |
    beyond_keep "$env_hash.env" "${prev_env_now#env/}")
  printf '%s\n' "$removed"
}
