#!/usr/bin/env bash
# Installs one exact Node.js release from the official tarball (or a mirror with the same layout) into
# $LAYOUT_NODE_PREFIX/v<version> and links node/npm/npx into $LAYOUT_NODE_BIN_DIR (layout.sh). The tarball is checked against the
# release's SHASUMS256.txt before anything is unpacked; a second run with the same version does nothing.
# Usage: install-node.sh <version X.Y.Z> <dist base URL>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

version=${1:?usage: install-node.sh <version> <dist-url>}
dist=${2:?usage: install-node.sh <version> <dist-url>}
prefix=${NODE_PREFIX:-$LAYOUT_NODE_PREFIX}
bindir=${NODE_BINDIR:-$LAYOUT_NODE_BIN_DIR}

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "install-node: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

target="$prefix/v$version"
if [ -x "$target/bin/node" ] && [ "$("$target/bin/node" --version)" = "v$version" ]; then
  echo "install-node: v$version already installed"
else
  name="node-v$version-linux-$arch.tar.xz"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  curl -fsSL --retry 5 --retry-delay 2 -o "$work/SHASUMS256.txt" "$dist/v$version/SHASUMS256.txt"
  curl -fsSL --retry 5 --retry-delay 2 -o "$work/$name" "$dist/v$version/$name"
  # Only the line for our file, matched exactly: sha256sum -c then checks it and nothing else.
  grep -E "^[0-9a-f]{64}  $name\$" "$work/SHASUMS256.txt" > "$work/expected" || {
    echo "install-node: $name is not listed in $dist/v$version/SHASUMS256.txt" >&2; exit 1; }
  (cd "$work" && sha256sum --quiet -c expected)
  mkdir -p "$work/unpacked" "$prefix"
  tar -xJf "$work/$name" -C "$work/unpacked" --strip-components=1 --no-same-owner
  rm -rf "$target.partial"
  mv "$work/unpacked" "$target.partial"
  mv -T "$target.partial" "$target"
fi

for tool in node npm npx; do
  ln -sfn "$target/bin/$tool" "$bindir/$tool"
done
"$bindir/node" --version
