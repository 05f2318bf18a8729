#!/usr/bin/env bash
# The test command (`npm test`, and what .ci/run calls): brings a fresh Debian 12 machine to green.
# 1. installs the Debian packages in scripts/apt-packages.txt that are missing (needs root or sudo),
# 2. installs npm dependencies when node_modules is missing or older than package-lock.json,
# 3. type-checks, lints (ESLint, Prettier, luacheck) and shellchecks, then runs every suite: unit, nginx, host, sample, workflows, letsencrypt, local (npm run up -- --local), e2e.
# SUITES="unit nginx" runs only those (e2e included by name).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' scripts/apt-packages.txt | grep -v '^$')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

suites=${SUITES:-unit nginx host sample workflows letsencrypt local e2e}
echo "== static checks"
npx tsc --noEmit -p .
npm run -s lint
mapfile -t scripts < <(find components scripts test sample-app .ci -name node_modules -prune -o \( -name '*.sh' -o -path .ci/run \) -type f -print)
shellcheck --external-sources --source-path=SCRIPTDIR "${scripts[@]}"

for suite in $suites; do
  echo "== suite: $suite"
  if [ "$suite" = e2e ]; then
    as_root "$(command -v node)" node_modules/.bin/ts-node --transpile-only test/e2e/run.ts
  elif [ "$suite" = local ]; then
    as_root "$(command -v node)" node_modules/.bin/jest --ci --selectProjects local
  else
    npx jest --ci --selectProjects "$suite"
  fi
done
echo "== all suites passed: $suites"
