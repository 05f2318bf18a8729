# shellcheck shell=bash
# Sourced by stage.sh (after deploy-lib.sh): how a bundle is read without trusting it.
#   build_run DIR CMD...   runs CMD in DIR as $BUILD_USER, writing only under BUILD_RW
#   check_listing FILE     refuses a bundle from its `tar -tv --quoting-style=c --numeric-owner` listing
#   check_tree DIR         refuses what an unpacked, built release must not hold
# A bundle is the app's code, but also every npm package it pulls in and their install scripts: none of it
# may run as root, write outside its own tree, or leave a link, device or setuid file for root to trip on.

BUILD_USER=${METEOR_DO_BUILD_USER:-$LAYOUT_BUILD_USER}
# systemd: a transient unit with a read-only system (production). setpriv: the same user, groups and
# capabilities dropped, but no mount sandbox; for the host suite, where systemd is not PID 1.
BUILD_SANDBOX=${METEOR_DO_BUILD_SANDBOX:-systemd}
BUILD_HOME=""
BUILD_RW=()

build_run() {
  local dir=$1 name
  shift
  local -a env=("HOME=$BUILD_HOME" "PATH=$(dirname "$NPM"):/usr/local/bin:/usr/bin:/bin" "npm_config_cache=$BUILD_HOME/.npm"
    "npm_config_update_notifier=false")
  # The caller's npm settings (a registry mirror, offline) still apply; sudo passes none by default.
  for name in $(compgen -e); do
    if [[ $name == npm_config_* ]]; then env+=("$name=${!name}"); fi
  done
  case $BUILD_SANDBOX in
    systemd)
      local -a props=(ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes NoNewPrivileges=yes
        RestrictSUIDSGID=yes CapabilityBoundingSet= AmbientCapabilities= ProtectKernelTunables=yes
        ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes ProtectClock=yes
        RestrictNamespaces=yes LockPersonality=yes RestrictRealtime=yes LimitCORE=0 UMask=0022
        "InaccessiblePaths=-$ENV_ROOT" "ReadWritePaths=${BUILD_RW[*]}")
      systemd-run --quiet --wait --pipe --collect --service-type=exec --uid="$BUILD_USER" --gid="$(id -g "$BUILD_USER")" \
        --working-directory="$dir" "${props[@]/#/--property=}" "${env[@]/#/--setenv=}" -- "$@"
      ;;
    setpriv)
      (cd "$dir" && umask 022 && exec setpriv --reuid="$BUILD_USER" --regid="$(id -g "$BUILD_USER")" --clear-groups \
        --no-new-privs --inh-caps=-all --bounding-set=-all env -i "${env[@]}" "$@")
      ;;
    *) die "METEOR_DO_BUILD_SANDBOX must be systemd or setpriv, got '$BUILD_SANDBOX'" ;;
  esac
}

refuse() { die "bundle refused: $1"; }

# Components of a member name ("./a//b/" -> a b) into array $2; fails on an absolute name or a `..`.
split_name() {
  local -n out=$2
  local part
  local -a all
  out=()
  [[ $1 != /* ]] || return 1
  IFS=/ read -ra all <<<"$1"
  for part in "${all[@]}"; do
    case $part in '' | .) ;; ..) return 1 ;; *) out+=("$part") ;; esac
  done
}

# Does symlink target $2, read from a directory $1 levels below the top, stay inside the tree?
link_inside() {
  local depth=$1 part
  local -a all
  [[ $2 != /* ]] || return 1
  IFS=/ read -ra all <<<"$2"
  for part in "${all[@]}"; do
    case $part in '' | .) ;; ..) depth=$((depth - 1)) ;; *) depth=$((depth + 1)) ;; esac
    ((depth >= 0)) || return 1
  done
}

check_listing() {
  local line n=0 type perms name kind target
  # shellcheck disable=SC2034  # filled by split_name through a nameref
  local -a parts tparts
  local re='^(.)(.{9}) [^"]* "((\\.|[^"\\])*)"( (->|link to) "((\\.|[^"\\])*)")?$'
  while IFS= read -r line; do
    n=$((n + 1))
    [[ $line =~ $re ]] || refuse "listing line $n is not understood: $line"
    type=${BASH_REMATCH[1]} perms=${BASH_REMATCH[2]} name=${BASH_REMATCH[3]}
    kind=${BASH_REMATCH[6]} target=${BASH_REMATCH[7]}
    split_name "$name" parts || refuse "\"$name\" is an absolute path or contains .."
    case $type in
      - | d | l | h) ;;
      *) refuse "\"$name\" is a device file, fifo or socket (type $type)" ;;
    esac
    [[ $perms != ??[sS]* && $perms != ?????[sS]* ]] || refuse "\"$name\" has the setuid or setgid bit ($perms)"
    if ((${#parts[@]} == 1)); then
      [[ $type == - || $type == d ]] || refuse "top-level \"$name\" is not a plain file or directory"
      [[ ${parts[0]} != RELEASE && ${parts[0]} != DEPLOYED ]] || refuse "top-level \"$name\" is a name the host writes"
    fi
    if [[ $kind == "->" ]]; then
      link_inside $((${#parts[@]} - 1)) "$target" || refuse "link \"$name\" -> \"$target\" points outside the bundle"
    elif [[ $kind == "link to" ]]; then
      split_name "$target" tparts || refuse "hard link \"$name\" to \"$target\" points outside the bundle"
    fi
  done <"$1"
  ((n > 0)) || refuse "the archive is empty"
}

# After the build: links must resolve inside the tree, nothing special, and the top level as checked.
check_tree() {
  local tree=$1 real link to bad
  real=$(realpath "$tree")
  bad=$(find "$tree" \( -type b -o -type c -o -type p -o -type s \) -print -quit)
  [[ -z $bad ]] || refuse "the build left a device file, fifo or socket: ${bad#"$tree"/}"
  bad=$(find "$tree" -mindepth 1 -maxdepth 1 ! -type f ! -type d -print -quit)
  [[ -z $bad ]] || refuse "the build left a top-level ${bad#"$tree"/} that is not a plain file or directory"
  for link in RELEASE DEPLOYED; do
    [[ ! -e $tree/$link && ! -L $tree/$link ]] || refuse "the build left a top-level $link (a name the host writes)"
  done
  while IFS= read -r -d '' link; do
    to=$(realpath -m -- "$link")
    [[ $to == "$real" || $to == "$real"/* ]] || refuse "link ${link#"$tree"/} points outside the release ($to)"
  done < <(find "$tree" -type l -print0)
}
