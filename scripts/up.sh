#!/usr/bin/env bash
# The main job: `npm run up -- --stack <name> [pulumi up flags]`. Installs npm deps, builds the sample
# bundle when the stack uses the default one and it is missing, selects or creates the stack, runs
# `pulumi up`. Needs DIGITALOCEAN_TOKEN and a Pulumi backend (`pulumi login`).
set -euo pipefail
cd "$(dirname "$0")/.."

stack=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack|-s) stack=${2:?--stack needs a name}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$stack" ] || { echo "usage: npm run up -- --stack <name> [pulumi up flags]" >&2; exit 2; }
[ -n "${DIGITALOCEAN_TOKEN:-}" ] || { echo "DIGITALOCEAN_TOKEN is not set: create a token at cloud.digitalocean.com/account/api/tokens" >&2; exit 2; }

npm ci --no-audit --no-fund
pulumi=(npx --yes pulumi)
"${pulumi[@]}" stack select --create "$stack"
if [ -z "$("${pulumi[@]}" config get bundle 2>/dev/null)" ] && [ ! -f sample-app/dist/sample-bundle.tgz ]; then
  npm run sample:bundle
fi
"${pulumi[@]}" up --stack "$stack" "${args[@]}"
