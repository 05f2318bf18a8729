#!/usr/bin/env bash
# Let's Encrypt on the load balancer (tlsMode letsencrypt), with Debian's certbot.
#
# nginx reads its certificate through one directory symlink, $TLS_DIR/live, pointing either at "."
# (the self-signed pair that write-tls.sh keeps in $TLS_DIR) or at certbot's lineage
# ($LE_CONFIG_DIR/live/<domain>, whose fullchain.pem/privkey.pem certbot updates on renewal). Switching is
# one rename, so a reload never sees a new chain with an old key; a later write-tls.sh run rewrites only
# $TLS_DIR/*.pem and can never replace an issued certificate.
#
# Usage (as root):
#   letsencrypt.sh prepare <domain>                  before the nginx push: issued cert if there is a
#                                                    valid one, else the self-signed pair, so nginx starts
#   letsencrypt.sh issue <domain> <email> <server>   HTTP-01 through the webroot nginx serves on port 80;
#                                                    certbot runs `deploy-hook` after issuance and after
#                                                    every renewal; installs certbot if missing and
#                                                    enables Debian's certbot.timer
#   letsencrypt.sh deploy-hook                       (certbot sets RENEWED_LINEAGE) switch, validate, reload
#
# Environment (defaults are production, TLS_DIR and ACME_WEBROOT from layout.sh; tests point them at a
# temp dir):
#   TLS_DIR       the LB's TLS dir            ACME_WEBROOT  the HTTP-01 webroot nginx serves
#   LE_CONFIG_DIR /etc/letsencrypt            LE_WORK_DIR   /var/lib/letsencrypt
#   LE_LOGS_DIR   /var/log/letsencrypt        NGINX_BIN     /usr/sbin/nginx
#   NGINX_CONF    "" (nginx's default config) LB_SERVICE    systemd, or "direct": nginx -s reload
#   LE_TIMER      1 (enable certbot.timer), 0 to leave systemd alone
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$(readlink -f "$0")")/layout.sh"

TLS_DIR=${TLS_DIR:-$LAYOUT_TLS_DIR}
ACME_WEBROOT=${ACME_WEBROOT:-$LAYOUT_ACME_WEBROOT}
LE_CONFIG_DIR=${LE_CONFIG_DIR:-/etc/letsencrypt}
LE_WORK_DIR=${LE_WORK_DIR:-/var/lib/letsencrypt}
LE_LOGS_DIR=${LE_LOGS_DIR:-/var/log/letsencrypt}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NGINX_CONF=${NGINX_CONF:-}
LB_SERVICE=${LB_SERVICE:-systemd}
LE_TIMER=${LE_TIMER:-1}

live="$TLS_DIR/live"
self="$(readlink -f "$0")"

log() { printf 'letsencrypt: %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }

nginx_args=()
[[ -n $NGINX_CONF ]] && nginx_args=(-c "$NGINX_CONF")

# A lineage directory that holds an unexpired certificate and its key.
usable() {
    [[ -s $1/fullchain.pem && -s $1/privkey.pem ]] && openssl x509 -checkend 0 -noout -in "$1/fullchain.pem" >/dev/null 2>&1
}

# Points $live at $1 with one rename; prints "changed" when it did.
point_live_at() {
    local target=$1
    [[ "$(readlink "$live" 2>/dev/null || true)" == "$target" ]] && return 0
    ln -sfn "$target" "$live.new"
    mv -Tf "$live.new" "$live"
    echo changed
}

reload_nginx() {
    if ! out="$("$NGINX_BIN" "${nginx_args[@]}" -t -q 2>&1)"; then
        log "nginx config does not validate with the new certificate:"
        printf '%s\n' "$out" >&2
        return 1
    fi
    if [[ $LB_SERVICE == systemd ]]; then
        if systemctl is-active --quiet nginx; then systemctl reload nginx; fi
    else
        "$NGINX_BIN" "${nginx_args[@]}" -s reload
    fi
    log "nginx reloaded"
}

# Switches to $1 and reloads nginx (also when already there and $2 is "always": a renewal re-points the
# lineage's own links); when the config fails validation, switches back and fails.
switch_to() {
    local target=$1 always=${2:-} previous
    previous="$(readlink "$live" 2>/dev/null || true)"
    if [[ -z "$(point_live_at "$target")" && $always != always ]]; then return 0; fi
    log "serving $(cert_summary "$live/fullchain.pem")"
    if ! reload_nginx; then
        if [[ -n $previous && $previous != "$target" ]]; then point_live_at "$previous" >/dev/null; fi
        fail "nginx keeps running on the previous certificate (${previous:-none})"
    fi
}

cert_summary() {
    openssl x509 -noout -subject -issuer -enddate -in "$1" | tr '\n' ' '
}

# The program's rule (lib/validate.ts isDomainName): labels, at most 253 characters, a non-numeric last label.
check_domain() {
    [[ ${#1} -le 253 && $1 =~ $DOMAIN_RE && ! $1 =~ [.][0-9]+$ ]] || fail "not a domain name: $1"
}

# Debian's certbot (with its certbot.timer) if the host lacks it: installed here rather than by cloud-init
# so that only letsencrypt stacks carry it and existing load balancers are not replaced for it.
ensure_certbot() {
    command -v certbot >/dev/null && return 0
    log "installing Debian's certbot"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends certbot >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends certbot >/dev/null; }
}

certbot_dirs=(--config-dir "$LE_CONFIG_DIR" --work-dir "$LE_WORK_DIR" --logs-dir "$LE_LOGS_DIR")

cmd=${1:-}
case $cmd in
prepare)
    [[ $# -eq 2 ]] || fail "usage: letsencrypt.sh prepare <domain>"
    domain=$2
    check_domain "$domain"
    install -d -m 0700 "$TLS_DIR"
    install -d -m 0755 "$ACME_WEBROOT"
    if usable "$LE_CONFIG_DIR/live/$domain"; then
        point_live_at "$LE_CONFIG_DIR/live/$domain" >/dev/null
    else
        [[ -s $TLS_DIR/fullchain.pem && -s $TLS_DIR/privkey.pem ]] || fail "no self-signed pair in $TLS_DIR (write-tls.sh runs first)"
        point_live_at . >/dev/null
    fi
    log "nginx will serve $(readlink "$live"): $(cert_summary "$live/fullchain.pem")"
    ;;
issue)
    [[ $# -eq 4 ]] || fail "usage: letsencrypt.sh issue <domain> <email> <server>"
    domain=$2 email=$3 server=$4
    check_domain "$domain"
    [[ $email =~ $EMAIL_RE ]] || fail "not an e-mail address: $email"
    [[ $server == https://* ]] || fail "not an https:// ACME directory: $server"
    [[ -L $live ]] || fail "$live is missing (run prepare first)"
    install -d -m 0755 "$ACME_WEBROOT"
    ensure_certbot
    renewal="$LE_CONFIG_DIR/renewal/$domain.conf"
    extra=()
    # A lineage from another server (staging -> production) is not "due", but it is the wrong CA.
    if [[ -f $renewal ]] && ! grep -qxF "server = $server" "$renewal"; then
        log "the certificate for $domain came from another ACME server; replacing it"
        extra+=(--force-renewal)
    fi
    certbot certonly "${certbot_dirs[@]}" --non-interactive --agree-tos --no-eff-email \
        --email "$email" --server "$server" \
        --webroot --webroot-path "$ACME_WEBROOT" --domain "$domain" --cert-name "$domain" \
        --keep-until-expiring --deploy-hook "$self deploy-hook" "${extra[@]}"
    # certbot runs the hook only when it issued something; a kept certificate still has to be served.
    usable "$LE_CONFIG_DIR/live/$domain" || fail "certbot left no usable certificate for $domain"
    switch_to "$LE_CONFIG_DIR/live/$domain"
    if [[ $LE_TIMER == 1 ]]; then
        systemctl enable --now --quiet certbot.timer
        log "renewal: $(systemctl list-timers certbot.timer --no-legend | head -n 1)"
    fi
    ;;
deploy-hook)
    [[ -n ${RENEWED_LINEAGE:-} ]] || fail "deploy-hook runs from certbot (RENEWED_LINEAGE unset)"
    usable "$RENEWED_LINEAGE" || fail "$RENEWED_LINEAGE holds no usable certificate"
    switch_to "$RENEWED_LINEAGE" always
    ;;
*)
    fail "usage: letsencrypt.sh prepare <domain> | issue <domain> <email> <server> | deploy-hook"
    ;;
esac
