#!/usr/bin/env bash
# Installs the load balancer's certificate chain and private key, read as PEM on stdin (key and
# certificates in one stream, so the secret never touches a command line). Files are replaced atomically;
# the key is 0600 root. If nginx is running, it reloads only when its config still validates.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

dir=${TLS_DIR:-$LAYOUT_TLS_DIR}
umask 077
install -d -m 0700 "$dir"
tmp=$(mktemp -d "$dir/.incoming.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/all.pem"
# Split the stream: the private key block, and every certificate block in order (leaf first).
awk -v key="$tmp/privkey.pem" -v certs="$tmp/fullchain.pem" '
  /^-----BEGIN .*PRIVATE KEY-----$/ { out = key }
  /^-----BEGIN CERTIFICATE-----$/   { out = certs }
  out != "" { print > out }
  /^-----END / { out = "" }
' "$tmp/all.pem"

[ -s "$tmp/privkey.pem" ] || { echo "write-tls: no PRIVATE KEY block on stdin" >&2; exit 1; }
[ -s "$tmp/fullchain.pem" ] || { echo "write-tls: no CERTIFICATE block on stdin" >&2; exit 1; }
if [ "$(grep -c '^-----BEGIN .*PRIVATE KEY-----$' "$tmp/privkey.pem")" -ne 1 ]; then
  echo "write-tls: expected exactly one private key on stdin" >&2; exit 1
fi

chmod 0644 "$tmp/fullchain.pem"
chmod 0600 "$tmp/privkey.pem"
mv -f "$tmp/fullchain.pem" "$dir/fullchain.pem"
mv -f "$tmp/privkey.pem" "$dir/privkey.pem"
echo "write-tls: installed $(grep -c '^-----BEGIN CERTIFICATE-----$' "$dir/fullchain.pem") certificate(s) in $dir"

if [ -z "${TLS_NO_RELOAD:-}" ] && systemctl is-active --quiet nginx; then
  nginx -t -q && systemctl reload nginx
fi
