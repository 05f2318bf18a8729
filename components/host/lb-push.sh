#!/usr/bin/env bash
# Installs a rendered nginx tree on the LB, or refuses it and leaves the running nginx alone.
#
# stdin: base64 of a tar.gz of the tree from nginx/render.ts (components/archive.ts makes it).
# Usage: sudo <tools dir>/lb-push.sh < tree.tgz.b64
#
# Steps: unpack into a staging dir -> `nginx -t` on a copy -> trial start of that copy on spare loopback
# ports (`nginx -t` never compiles Lua; the trial loads every module and answers the admin API) -> rename
# the `current` symlink atomically -> reload nginx (or start it) -> wait until the running nginx reports
# this release on its admin API (GET /lb/config), else point `current` back. On any failure nginx's own
# error is printed, the running config stays and the script exits non-zero. /etc/nginx/nginx.conf is made a symlink
# to current/nginx.conf once (Debian's file kept as nginx.conf.debian). The last LB_KEEP trees are kept.
#
# Environment (defaults are production, LB_ROOT from layout.sh; tests point them at a temp dir):
#   LB_ROOT          the LB's nginx root    releases/<id>/ and current -> releases/<id>
#   NGINX_BIN        /usr/sbin/nginx
#   NGINX_CONF_LINK  /etc/nginx/nginx.conf  "" to leave nginx's default config path alone
#   LB_SERVICE       systemd                or "direct": `nginx -c current/nginx.conf -s reload`
#   LB_KEEP          5
#   LB_TRIAL_SECONDS 15                     how long the trial start, and then the reload, may take
#   RESOLV_CONF      /etc/resolv.conf       name servers for OCSP stapling (tls/resolver.conf)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

LB_ROOT=${LB_ROOT:-$LAYOUT_LB_NGINX_ROOT}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NGINX_CONF_LINK=${NGINX_CONF_LINK-/etc/nginx/nginx.conf}
LB_SERVICE=${LB_SERVICE:-systemd}
LB_KEEP=${LB_KEEP:-5}
LB_TRIAL_SECONDS=${LB_TRIAL_SECONDS:-15}
RESOLV_CONF=${RESOLV_CONF:-/etc/resolv.conf}

current="$LB_ROOT/current"
releases="$LB_ROOT/releases"
id="$(date -u +%Y%m%dT%H%M%S.%NZ)"
stage="$releases/.stage-$id"
trial=""
trial_pid=""

log() { printf 'lb-push: %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }

cleanup() {
    if [[ -n $trial_pid ]] && kill -0 "$trial_pid" 2>/dev/null; then
        kill -TERM "$trial_pid" 2>/dev/null || true
        wait "$trial_pid" 2>/dev/null || true
    fi
    [[ -n $trial ]] && rm -rf "$trial"
    rm -rf "$stage"
}
trap cleanup EXIT

umask 022
mkdir -p "$releases"
# One push at a time.
exec 9>"$LB_ROOT/.push.lock"
flock 9

# 1. Unpack.
mkdir -p "$stage"
base64 -d | tar -xzf - -C "$stage" --no-same-owner
[[ -f $stage/nginx.conf && -f $stage/PREFIX ]] || fail "input is not a rendered tree (no nginx.conf or PREFIX)"
prefix="$(<"$stage/PREFIX")"
[[ $prefix == "$current" ]] || fail "tree was rendered for $prefix but is installed at $current"
# Read by the Lua module when nginx loads the tree: lets us ask a running nginx which tree it loaded.
printf '%s\n' "$id" >"$stage/RELEASE"
# OCSP stapling resolves the CA's responder with this host's own name servers (IPv6 ones in brackets).
if [[ -f $stage/tls/resolver.conf && -r $RESOLV_CONF ]]; then
    servers="$(awk '$1 == "nameserver" { print ($2 ~ /:/ ? "[" $2 "]" : $2) }' "$RESOLV_CONF" | tr '\n' ' ')"
    if [[ -n ${servers// /} ]]; then
        printf 'resolver %svalid=300s;\nresolver_timeout 5s;\n' "$servers" >>"$stage/tls/resolver.conf"
    fi
fi

# 2. A copy whose includes point at itself instead of at the installed tree.
trial="$(mktemp -d /tmp/lb-push.XXXXXX)"
chmod 0755 "$trial"
cp -a "$stage" "$trial/tree"
escaped="${current//./\\.}"
{ grep -rlF -- "$current" "$trial/tree" || true; } | while IFS= read -r f; do
    sed -i "s#${escaped}#${trial}/tree#g" "$f"
done

if ! out="$("$NGINX_BIN" -t -q -c "$trial/tree/nginx.conf" 2>&1)"; then
    printf '%s\n' "$out" >&2
    fail "nginx -t refused the new config; nothing changed"
fi

# 3. Trial start on spare loopback ports, own pid/logs/temp, so Lua gets loaded and run.
# Ports come from below the ephemeral range (a port an outgoing connection holds cannot be bound); a
# port taken anyway makes a retry with others.
ephemeral_low=32768
if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
    read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range
fi
((ephemeral_low > 12000)) || ephemeral_low=32768
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() { # port path -> 0 when the answer is 200
    local line=""
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
    IFS= read -r -t 3 line <&3 || true
    exec 3<&-
    [[ $line == HTTP/1.?" 200"* ]]
}

printf 'pid %s/nginx.pid;\nerror_log %s/error.log info;\n' "$trial" "$trial" >"$trial/tree/main/runtime.conf"
{
    printf 'access_log off;\n'
    for t in client_body proxy fastcgi uwsgi scgi; do printf '%s_temp_path %s/tmp/%s;\n' "$t" "$trial" "$t"; done
} >"$trial/tree/http/runtime.conf"
mkdir -p "$trial/tmp"

for attempt in 1 2 3; do
    spare_ports=()
    candidate=$((10000 + RANDOM % (ephemeral_low - 11000)))
    while ((${#spare_ports[@]} < 3)); do
        candidate=$((candidate + 1))
        if port_free "$candidate"; then spare_ports+=("$candidate"); fi
    done
    printf 'listen 127.0.0.1:%s;\n' "${spare_ports[0]}" >"$trial/tree/listen/http.conf"
    printf 'listen 127.0.0.1:%s ssl http2;\n' "${spare_ports[1]}" >"$trial/tree/listen/https.conf"
    printf 'listen 127.0.0.1:%s;\n' "${spare_ports[2]}" >"$trial/tree/listen/admin.conf"
    : >"$trial/error.log"

    "$NGINX_BIN" -c "$trial/tree/nginx.conf" -g 'daemon off;' 2>"$trial/stderr" 9>&- &
    trial_pid=$!
    answered=""
    for ((i = 0; i < LB_TRIAL_SECONDS * 10; i++)); do
        if ! kill -0 "$trial_pid" 2>/dev/null; then break; fi
        if http_ok "${spare_ports[2]}" /lb/peers 2>/dev/null && http_ok "${spare_ports[2]}" '/check-status?format=json' 2>/dev/null; then
            answered=yes
            break
        fi
        sleep 0.1
    done
    if [[ -n $answered ]]; then
        kill -QUIT "$trial_pid" 2>/dev/null || true
    else
        kill -TERM "$trial_pid" 2>/dev/null || true
    fi
    wait "$trial_pid" 2>/dev/null || true
    trial_pid=""
    if [[ -z $answered ]] && grep -q 'Address already in use' "$trial/stderr" && ((attempt < 3)); then
        log "a trial port was taken; retrying with others"
        continue
    fi
    break
done
# setrlimit alerts depend on the limits of whoever runs this script, not on the config (systemd's differ).
errors="$({ cat "$trial/stderr"; grep -E '\[(emerg|alert|crit|error)\]' "$trial/error.log"; } 2>/dev/null | grep -v 'setrlimit(RLIMIT_NOFILE' || true)"
if [[ -z $answered ]] || grep -qE '\[(emerg|alert|crit|error)\]' <<<"$errors"; then
    printf '%s\n' "$errors" >&2
    fail "trial start of the new config failed; nothing changed"
fi

# Which release the running nginx loaded, asked on its admin port (GET /lb/config): proof that a
# reload took, since `systemctl reload` returns before nginx has applied (or failed to apply) it.
admin_target() { # tree dir -> "address port" of its admin listener, as seen from this host
    local line addr port
    line="$(grep -m1 -E '^listen ' "$1/listen/admin.conf" 2>/dev/null)" || return 1
    line="${line#listen }"
    line="${line%%;*}"
    line="${line%% *}"
    port="${line##*:}"
    addr="${line%:*}"
    if [[ $addr == "$line" || $addr == 0.0.0.0 || $addr == "[::]" ]]; then addr=127.0.0.1; fi
    printf '%s %s\n' "$addr" "$port"
}
running_release() { # tree dir -> release id the answering nginx runs, or nothing
    local target body
    target="$(admin_target "$1")" || return 0
    # shellcheck disable=SC2086 # "address port"
    set -- $target
    body="$( (exec 3<>"/dev/tcp/$1/$2" && printf 'GET /lb/config HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && timeout 3 cat <&3) 2>/dev/null || true)"
    if [[ $body =~ \"release\":\"([^\"]+)\" ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; fi
}

previous="$(readlink "$current" 2>/dev/null || true)"

# 4. Swap: a rename of the symlink is atomic.
mv "$stage" "$releases/$id"
ln -sfn "releases/$id" "$LB_ROOT/.current.new"
mv -Tf "$LB_ROOT/.current.new" "$current"
log "installed $releases/$id"

rollback() {
    if [[ -n $previous ]]; then
        ln -sfn "$previous" "$LB_ROOT/.current.new"
        mv -Tf "$LB_ROOT/.current.new" "$current"
        log "current points at $previous again"
    fi
    fail "$1"
}

if [[ -n $NGINX_CONF_LINK && "$(readlink "$NGINX_CONF_LINK" 2>/dev/null || true)" != "$current/nginx.conf" ]]; then
    if [[ -e $NGINX_CONF_LINK && ! -L $NGINX_CONF_LINK && ! -e $NGINX_CONF_LINK.debian ]]; then
        mv "$NGINX_CONF_LINK" "$NGINX_CONF_LINK.debian"
    fi
    ln -sfn "$current/nginx.conf" "$NGINX_CONF_LINK.new"
    mv -Tf "$NGINX_CONF_LINK.new" "$NGINX_CONF_LINK"
fi

# 5. Reload (the shared dict, and so health and drain state, survives it) or start.
case "$LB_SERVICE" in
systemd)
    if systemctl is-active --quiet nginx; then
        systemctl reload nginx || rollback "systemctl reload nginx failed"
    else
        systemctl enable --quiet nginx
        systemctl start nginx || rollback "systemctl start nginx failed (journalctl -u nginx)"
    fi
    ;;
direct)
    # fd 9 is the push lock: a daemon must not inherit it.
    if ! "$NGINX_BIN" -c "$current/nginx.conf" -s reload 2>/dev/null; then
        "$NGINX_BIN" -c "$current/nginx.conf" </dev/null 9>&- || rollback "nginx did not start"
    fi
    ;;
*) rollback "LB_SERVICE must be systemd or direct, got $LB_SERVICE" ;;
esac

running=""
for ((i = 0; i < LB_TRIAL_SECONDS * 10; i++)); do
    running="$(running_release "$current")"
    if [[ $running == "$id" ]]; then break; fi
    sleep 0.1
done
[[ $running == "$id" ]] || rollback "nginx did not load the new config (it runs ${running:-nothing we can ask}); see its error log"
log "nginx runs release $id"

# 6. Keep the newest LB_KEEP trees (ids sort by time) and never the one in use.
in_use="$(readlink "$current")"
mapfile -t old < <(find "$releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | sort -r | tail -n +"$((LB_KEEP + 1))")
for r in "${old[@]}"; do
    [[ "releases/$r" == "$in_use" ]] || rm -rf "${releases:?}/$r"
done
