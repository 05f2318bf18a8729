#!/usr/bin/env bash
# Stages a release on this app host without touching the live one:
#   sudo stage.sh <bundle-sha256> < app.env
# Verifies the uploaded bundle $APP_ROOT/incoming/<sha256>.tgz, lists it and refuses anything but plain
# files, directories and links that stay inside it (bundle-check.sh), unpacks it and installs the server's
# npm deps when the bundle has none (as `meteor build` bundles need) or verifies them. Everything that reads
# the bundle runs as the build user in a sandbox (build_run): install scripts run, never as root. Root then
# checks what the build left, takes ownership of it and renames it to $APP_ROOT/releases/<sha256> (a
# half-unpacked release never looks staged). The env file on stdin is written to
# $ENV_ROOT/env/<sha256 of the env>.env (0600). Idempotent.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=deploy-lib.sh
. "$(dirname "$0")/deploy-lib.sh"
# shellcheck source=bundle-check.sh
. "$(dirname "$0")/bundle-check.sh"

[[ $# -eq 1 ]] || die "usage: stage.sh <bundle-sha256> < env-file"
sha=$1
check_sha "$sha"
take_lock

stage_env
log "env file staged"

release=$RELEASES/$sha
if [[ -f $release/RELEASE && ! -L $release/RELEASE && -f $release/bundle/main.js ]]; then
  log "release $sha already staged"
  exit 0
fi

tarball=$INCOMING/$sha.tgz
[[ -f $tarball ]] || die "bundle $tarball was not uploaded"
actual=$(sha256sum "$tarball")
actual=${actual%% *}
[[ $actual == "$sha" ]] || die "bundle $tarball has sha256 $actual, expected $sha"
[[ -x $NPM ]] || die "npm not found at $NPM (set METEOR_DO_NPM)"
build_gid=$(id -g "$BUILD_USER" 2>/dev/null) || die "build user $BUILD_USER does not exist (cloud-init creates it)"

mkdir -p "$RELEASES"
# Leftovers of an interrupted stage (we hold the lock, so none is in progress).
rm -rf "$RELEASES"/.staging-*
box=$(mktemp -d "$RELEASES/.staging-$sha.XXXXXX")
trap 'rm -rf "$box"' EXIT
chmod 0755 "$box"
tree=$box/tree
BUILD_HOME=$box/home
install -d -m 0755 -o "$BUILD_USER" -g "$build_gid" "$tree"
install -d -m 0700 -o "$BUILD_USER" -g "$build_gid" "$BUILD_HOME"
BUILD_RW=("$tree" "$BUILD_HOME")

build_run "$BUILD_HOME" tar -tvzf - --absolute-names --quoting-style=c --numeric-owner <"$tarball" >"$box/listing" ||
  die "bundle $tarball is not a readable .tgz"
check_listing "$box/listing"
build_run "$tree" tar -xzf - --no-same-owner --no-same-permissions --no-overwrite-dir -C "$tree" <"$tarball" ||
  die "unpacking the bundle failed"
[[ -f $tree/bundle/main.js ]] || die "bundle has no bundle/main.js"
server=$tree/bundle/programs/server
[[ -f $server/package.json ]] || die "bundle has no bundle/programs/server/package.json"

if [[ -d $server/node_modules ]]; then
  build_run "$server" "$NPM" ls --omit=dev --all >/dev/null 2>&1 || die "server deps in the bundle are incomplete (npm ls failed)"
  log "server deps present and complete"
else
  log "installing server deps (npm install --omit=dev, as $BUILD_USER)"
  build_run "$server" "$NPM" install --omit=dev --no-audit --no-fund --loglevel=error >&2 || die "npm install failed"
fi

check_tree "$tree"
# From here on only root can change the release: no later build can touch it, nor the app (read-only).
chown -R -h 0:0 "$tree"
chmod -R u-s,g-s,-t,go-w "$tree"
(
  set -o noclobber
  printf '%s\n' "$sha" >"$tree/RELEASE"
)
chmod 0755 "$tree"
mv -T "$tree" "$release"
log "staged release $sha"
