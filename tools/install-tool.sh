#!/usr/bin/env bash
# Install one pinned tool into .tools/bin: `go install MODULE@VERSION` where Go is present, else the
# release archive listed in tools/releases.txt, checked against its sha256. Idempotent: a tool
# already installed at VERSION is left alone.
# usage: tools/install-tool.sh NAME GO_MODULE VERSION
set -euo pipefail
name=$1 module=$2 version=$3
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.tools/bin
stamp=$root/.tools/versions/$name
mkdir -p "$bin" "$(dirname "$stamp")"
if [[ -x $bin/$name && $(cat "$stamp" 2>/dev/null) == "$version" ]]; then
  exit 0
fi
if command -v go >/dev/null; then
  echo "installing $name $version (go install $module)"
  GOBIN=$bin GOFLAGS=-mod=mod go install "$module@$version"
else
  platform="$(uname -s | tr '[:upper:]' '[:lower:]')-$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')"
  read -r url sum < <(awk -v n="$name" -v v="$version" -v p="$platform" \
    '$1 == n && $2 == v && $3 == p {print $4, $5}' "$root/tools/releases.txt") || true
  if [[ -z ${url:-} ]]; then
    echo "error: no Go toolchain and no pinned release of $name $version for $platform; install Go (https://go.dev/dl) and rerun make setup" >&2
    exit 2
  fi
  echo "installing $name $version (release archive, sha256 checked)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp/archive.tar.gz" "$url"
  echo "$sum  $tmp/archive.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$tmp/archive.tar.gz" -C "$tmp" "$name"
  install -m 0755 "$tmp/$name" "$bin/$name"
fi
echo "$version" >"$stamp"
