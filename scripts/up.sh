#!/usr/bin/env bash
# The main job: `npm run up -- --stack <name> [pulumi up flags]`. Uses the `pulumi` CLI on PATH (never fetches
# one), installs npm deps when they are missing or stale, selects or creates the stack, builds the sample
# bundle when the stack's configured bundle is the sample's and the file is missing, then runs `pulumi up`.
# Needs DIGITALOCEAN_TOKEN and a Pulumi backend (`pulumi login`). Your own app: docs/your-app.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: npm run up -- --stack <name> [pulumi up flags]"
stack=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack|-s) stack=${2:?--stack needs a name}; shift 2 ;;
    --stack=*) stack=${1#--stack=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$stack" ] || { echo "$usage" >&2; exit 2; }

# The CLI version that matches the SDK this project installs: node_modules when present, else the lock file
# (a fresh clone), so the hint is right before anything is downloaded.
sdk_version() {
  node -e '
    const fs = require("fs");
    try { console.log(JSON.parse(fs.readFileSync("node_modules/@pulumi/pulumi/package.json", "utf8")).version); }
    catch { console.log(JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages["node_modules/@pulumi/pulumi"].version); }'
}

if ! command -v pulumi >/dev/null 2>&1; then
  v=$(sdk_version)
  echo "up: no pulumi CLI on PATH; install v$v (the version of this project's @pulumi/pulumi SDK): curl -fsSL https://get.pulumi.com | sh -s -- --version $v" >&2
  exit 127
fi
[ -n "${DIGITALOCEAN_TOKEN:-}" ] || {
  echo "up: DIGITALOCEAN_TOKEN is not set: create a token at cloud.digitalocean.com/account/api/tokens" >&2
  exit 2
}

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

pulumi stack select --create "$stack"

# The bundle the program will read. CLIs that do not answer a project default from `config get` fail on an
# unset key: then the default is Pulumi.yaml's, as the program resolves it.
sample=$(node -p 'require("yaml").parse(require("fs").readFileSync("Pulumi.yaml", "utf8")).config.bundle.default')
bundle=$(pulumi config get bundle 2>/dev/null) || bundle=""
[ -n "$bundle" ] || bundle=$sample
case "$bundle" in
  /*) file=$bundle ;;
  *) file=$PWD/$bundle ;;
esac
if [ ! -f "$file" ]; then
  if [ "$file" != "$PWD/$sample" ]; then
    echo "up: bundle $bundle does not exist; build it with \`meteor build <dir> --server-only\` (docs/your-app.md)" >&2
    exit 2
  fi
  npm run --silent sample:bundle -- --out "$file"
fi

pulumi up --stack "$stack" "${args[@]}"
