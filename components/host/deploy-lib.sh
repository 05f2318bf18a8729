# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Shared by stage.sh and cutover.sh (sourced, not run). Every path defaults to the production layout
# (layout.sh, rendered by the program and installed beside this file) and can be overridden by an
# environment variable so that the test suite can run the scripts against a temporary root with real
# processes.
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "${BASH_SOURCE[0]}")/layout.sh"

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
