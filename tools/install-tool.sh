#!/usr/bin/env bash
# Install one pinned tool into .tools/bin: `go install MODULE@VERSION` where Go is present, else the
# release archive listed in tools/releases.txt, checked against its sha256. Idempotent: a tool
# already installed at VERSION is left alone. FILE (default NAME) is the installed file's name, so that
# a second version of a tool can sit beside the first (kustomize-v5.0.1 beside kustomize).
# usage: tools/install-tool.sh NAME GO_MODULE VERSION [FILE]
set -euo pipefail
name=$1 module=$2 version=$3 file=${4:-$1}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.tools/bin
stamp=$root/.tools/versions/$file
mkdir -p "$bin" "$(dirname "$stamp")"
if [[ -x $bin/$file && $(cat "$stamp" 2>/dev/null) == "$version" ]]; then
  exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if command -v go >/dev/null; then
  echo "installing $file $version (go install $module)"
  GOBIN=$tmp GOFLAGS=-mod=mod go install "$module@$version"
  install -m 0755 "$tmp/$name" "$bin/$file"
else
  platform="$(uname -s | tr '[:upper:]' '[:lower:]')-$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')"
  read -r url sum < <(awk -v n="$name" -v v="$version" -v p="$platform" \
    '$1 == n && $2 == v && $3 == p {print $4, $5}' "$root/tools/releases.txt") || true
  if [[ -z ${url:-} ]]; then
    echo "error: no Go toolchain and no pinned release of $name $version for $platform; install Go (https://go.dev/dl) and rerun make setup" >&2
    exit 2
  fi
  echo "installing $file $version (release archive, sha256 checked)"
  curl -fsSL --retry 3 -o "$tmp/archive.tar.gz" "$url"
  echo "$sum  $tmp/archive.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$tmp/archive.tar.gz" -C "$tmp" "$name"
  install -m 0755 "$tmp/$name" "$bin/$file"
fi
echo "$version" >"$stamp"
