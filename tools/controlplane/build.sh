#!/usr/bin/env bash
# Build the pinned control plane that tests/cluster runs into .tools/bin: etcd, kube-apiserver,
# kube-scheduler, kube-controller-manager and kubectl from this folder's go.mod (Kubernetes v1.33.13 and
# its etcd v3.5.21), and kwok from its own module (built against the same Kubernetes minor). Idempotent:
# with the same pins and binaries present it does nothing. Go's build cache makes a rebuild cheap.
# Parallelism follows GOFLAGS (e.g. GOFLAGS=-p=1 on a shared machine).
set -euo pipefail
KUBERNETES_VERSION=v1.33.13
KWOK_VERSION=v0.7.0
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/.tools/bin
stamp=$root/.tools/versions/controlplane
pins=$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -d' ' -f1)
binaries=(etcd kube-apiserver kube-scheduler kube-controller-manager kubectl kwok)

built() { for b in "${binaries[@]}"; do [[ -x $bin/$b ]] || return 1; done; }
if built && [[ $(cat "$stamp" 2>/dev/null) == "$pins" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is not installed; install Go 1.24 or newer and rerun make cluster-tools" >&2; exit 2; }
mkdir -p "$bin" "$(dirname "$stamp")"
# Stamp the release into the binaries so `kubectl version` reports it (as the release build does).
version=k8s.io/component-base/version minor=${KUBERNETES_VERSION#v1.}
ldflags="-s -w -X $version.gitVersion=$KUBERNETES_VERSION -X $version.gitMajor=1 -X $version.gitMinor=${minor%%.*} -X $version.gitTreeState=clean"
echo "building Kubernetes $KUBERNETES_VERSION control plane and etcd into .tools/bin"
cd "$here"
go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl
go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
echo "building kwok $KWOK_VERSION into .tools/bin"
GOBIN=$bin go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
echo "$pins" >"$stamp"
