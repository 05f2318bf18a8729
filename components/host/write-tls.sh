#!/usr/bin/env bash
# Installs the load balancer's certificate chain and private key, read as PEM on stdin (key and
# certificates in one stream, so the secret never touches a command line). The pair is checked before it
# replaces the live one: the key must match the leaf certificate, and nginx must load the pair (`nginx -t`
# on a config of its own). A pair that fails either check is never installed: the live pair stays and the
# script fails saying why. Files are replaced atomically; the key is 0600 root. If nginx is running, it
# reloads only when its config still validates; if it does not, the previous pair is put back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

dir=${TLS_DIR:-$LAYOUT_TLS_DIR}
nginx=${TLS_NGINX:-nginx}
umask 077
install -d -m 0700 "$dir"
tmp=$(mktemp -d "$dir/.incoming.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "write-tls: $*; the installed pair is unchanged" >&2
  exit 1
}

cat >"$tmp/all.pem"
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

# The public key of the leaf (the first certificate) and of the private key must be the same.
cert_pub=$(openssl x509 -noout -pubkey -in "$tmp/fullchain.pem" 2>/dev/null) || fail "the first CERTIFICATE block is not a certificate"
key_pub=$(openssl pkey -pubout -in "$tmp/privkey.pem" -passin pass: 2>/dev/null) || fail "the PRIVATE KEY block is not an unencrypted private key"
[ "$cert_pub" = "$key_pub" ] || fail "the private key does not match the certificate (the first CERTIFICATE block)"

# nginx itself loads the pair, as the live config would: a chain or key it refuses fails here.
if [ -z "${TLS_NO_NGINX_TEST:-}" ]; then
  cat >"$tmp/nginx-test.conf" <<EOF
pid $tmp/nginx.pid;
error_log stderr;
events {}
http { server { listen 127.0.0.1:9 ssl; ssl_certificate $tmp/fullchain.pem; ssl_certificate_key $tmp/privkey.pem; } }
EOF
  out=$("$nginx" -t -q -e stderr -p "$tmp" -c "$tmp/nginx-test.conf" 2>&1) || fail "nginx refuses the pair: $out"
fi

chmod 0644 "$tmp/fullchain.pem"
chmod 0600 "$tmp/privkey.pem"
for f in fullchain.pem privkey.pem; do
  if [ -f "$dir/$f" ]; then cp -p "$dir/$f" "$tmp/previous-$f"; fi
done
mv -f "$tmp/fullchain.pem" "$dir/fullchain.pem"
mv -f "$tmp/privkey.pem" "$dir/privkey.pem"
echo "write-tls: installed $(grep -c '^-----BEGIN CERTIFICATE-----$' "$dir/fullchain.pem") certificate(s) in $dir"

if [ -z "${TLS_NO_RELOAD:-}" ] && systemctl is-active --quiet nginx; then
  if ! out=$("$nginx" -t -q 2>&1); then
    for f in fullchain.pem privkey.pem; do
      if [ -f "$tmp/previous-$f" ]; then mv -f "$tmp/previous-$f" "$dir/$f"; fi
    done
    echo "write-tls: nginx -t failed with the new pair, the previous pair is back: $out" >&2
    exit 1
  fi
  systemctl reload nginx
fi
