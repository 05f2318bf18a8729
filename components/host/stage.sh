#!/usr/bin/env bash
# Stages a release on this app host without touching the live one:
#   sudo stage.sh <bundle-sha256> < app.env
# Verifies the uploaded bundle $APP_ROOT/incoming/<sha256>.tgz, unpacks it into a temporary directory,
# installs the server's npm deps when the bundle has none (as `meteor build` bundles need) or verifies
# them, and renames the result to $APP_ROOT/releases/<sha256> (a half-unpacked release never looks staged).
# The env file on stdin is written to $ENV_ROOT/env/<sha256 of the env>.env (0600). Idempotent.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=deploy-lib.sh
. "$(dirname "$0")/deploy-lib.sh"

[[ $# -eq 1 ]] || die "usage: stage.sh <bundle-sha256> < env-file"
sha=$1
check_sha "$sha"
take_lock

stage_env
log "env file staged"

release=$RELEASES/$sha
if [[ -f $release/RELEASE && -f $release/bundle/main.js ]]; then
  log "release $sha already staged"
  exit 0
fi

tarball=$INCOMING/$sha.tgz
[[ -f $tarball ]] || die "bundle $tarball was not uploaded"
actual=$(sha256sum "$tarball")
actual=${actual%% *}
[[ $actual == "$sha" ]] || die "bundle $tarball has sha256 $actual, expected $sha"

mkdir -p "$RELEASES"
# Leftovers of an interrupted stage (we hold the lock, so none is in progress).
rm -rf "$RELEASES"/.staging-*
work=$(mktemp -d "$RELEASES/.staging-$sha.XXXXXX")
trap 'rm -rf "$work"' EXIT

tar -xzf "$tarball" -C "$work" --no-same-owner
[[ -f $work/bundle/main.js ]] || die "bundle has no bundle/main.js"
server=$work/bundle/programs/server
[[ -f $server/package.json ]] || die "bundle has no bundle/programs/server/package.json"

[[ -x $NPM ]] || die "npm not found at $NPM (set METEOR_DO_NPM)"
if [[ -d $server/node_modules ]]; then
  (cd "$server" && "$NPM" ls --omit=dev --all >/dev/null 2>&1) || die "server deps in the bundle are incomplete (npm ls failed)"
  log "server deps present and complete"
else
  log "installing server deps (npm install --omit=dev)"
  (cd "$server" && "$NPM" install --omit=dev --no-audit --no-fund --loglevel=error) >&2 || die "npm install failed"
fi

printf '%s\n' "$sha" >"$work/RELEASE"
chmod 0755 "$work"
mv -T "$work" "$release"
trap - EXIT
log "staged release $sha"
