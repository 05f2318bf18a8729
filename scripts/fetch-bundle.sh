#!/usr/bin/env bash
# Fetches a bundle built elsewhere (your app repository's CI, docs/your-app.md) and keeps it only if its sha256
# is the one published with it: the sha256 is the release id, so a wrong file never reaches a stack.
# Usage: fetch-bundle.sh <https URL> <sha256> <out file>
# BUNDLE_TOKEN, when set, is sent as a bearer token (e.g. a GitHub release asset of a private repository);
# it goes to curl on stdin, never on a command line, and curl does not send it on to a redirect's other host.
set -euo pipefail

usage="usage: fetch-bundle.sh <https URL> <sha256> <out file>"
url=${1:?$usage}
sum=${2:?$usage}
out=${3:?$usage}
[[ $sum =~ ^[0-9a-f]{64}$ ]] || { echo "fetch-bundle: sha256 must be 64 lowercase hex digits, got '$sum'" >&2; exit 2; }
case "$url" in
  https://*) proto="=https" ;;
  http://127.0.0.1[:/]*) proto="=http" ;; # tests serve on loopback
  *) echo "fetch-bundle: the URL must be https://, got '${url%%\?*}'" >&2; exit 2 ;;
esac

mkdir -p "$(dirname "$out")"
partial="$out.partial"
trap 'rm -f "$partial"' EXIT
{
  echo 'header = "Accept: application/octet-stream"'
  if [ -n "${BUNDLE_TOKEN:-}" ]; then printf 'header = "Authorization: Bearer %s"\n' "$BUNDLE_TOKEN"; fi
} | curl --config - --fail --silent --show-error --location --proto "$proto" --proto-redir "$proto" \
  --retry 3 --retry-delay 2 --output "$partial" "$url"
got=$(sha256sum "$partial" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then
  # Without the query: a presigned URL carries its signature there.
  echo "fetch-bundle: ${url%%\?*} has sha256 $got, not the expected $sum; not using it" >&2
  exit 1
fi
mv "$partial" "$out"
echo "fetch-bundle: $out sha256 $sum"
