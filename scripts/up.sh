#!/usr/bin/env bash
# The main job: `npm run up -- --stack <name> [pulumi up flags]`. Uses the `pulumi` CLI on PATH (never fetches
# one), installs npm deps when they are missing or stale, selects or creates the stack, builds the sample
# bundle when the stack's configured bundle is the sample's and the file is missing, then runs `pulumi up`.
# Needs DIGITALOCEAN_TOKEN and a Pulumi backend (`pulumi login`). Your own app: docs/your-app.md.
# `npm run up -- --local [--destroy]`: the same program on this machine, no account needed (scripts/local.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: npm run up -- --stack <name> [pulumi up flags] | npm run up -- --local [--config FILE] [--port N] [--destroy]"

# `--local`: the same program against a local topology on this machine (scripts/local.ts); no account, no CLI.
if [[ " $* " == *" --local "* ]]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "up --local: run as root (the local stack makes network namespaces and boots containers)" >&2
    exit 2
  fi
  # shellcheck source=/dev/null
  os=$(. /etc/os-release 2>/dev/null && echo "${ID:-}-${VERSION_ID:-}")
  if [ "$os" != "debian-12" ]; then
    echo "up --local: needs Debian 12 (this is ${os:-an unknown system}): the hosts are built with debootstrap from its apt sources" >&2
    exit 2
  fi
  missing=()
  for pkg in systemd-container debootstrap iproute2 util-linux openssh-client openssl curl xz-utils python3 socat; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "up --local: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
  exec node -r ts-node/register/transpile-only scripts/local.ts "$@"
fi

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
