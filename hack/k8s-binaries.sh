#!/usr/bin/env bash
# Build kube-apiserver, kubectl and etcd from the Go module proxy for the Kubernetes
# minor versions given as arguments (default: $MESHTOOL_K8S_VERSIONS or "1.37 1.35").
#
# Each version's binaries land in ${XDG_CACHE_HOME:-~/.cache}/meshtool/k8s/<full version>/
# together with a stamp that records the hash of the wrapper modules they were built from;
# a version whose stamp matches is not rebuilt. Wrapper modules live in tools/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/k8s"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

# minor -> "k8s-version etcd-module-dir"
full_version() {
  case "$1" in
    1.34) echo "v1.34.4 etcd-v3.6" ;;
    1.35) echo "v1.35.4 etcd-v3.6" ;;
    1.36) echo "v1.36.3 etcd-v3.6" ;;
    1.37) echo "v1.37.2 etcd-v3.7" ;;
    *) echo "k8s-binaries: unsupported Kubernetes version '$1' (known: 1.34 1.35 1.36 1.37)" >&2; return 1 ;;
  esac
}

stamp_of() { # k8s version, etcd dir
  cat "$ROOT/tools/k8s-$(minor_of "$1")/go.mod" "$ROOT/tools/k8s-$(minor_of "$1")/go.sum" \
      "$ROOT/tools/$2/go.mod" "$ROOT/tools/$2/go.sum" | sha256sum | cut -c1-16
}

minor_of() { local v="${1#v}"; echo "v${v%.*}"; }

ldflags_for() {
  local k8s="$1" v="${1#v}" ld="-s -w"
  local maj="${v%%.*}" min; min="$(echo "$v" | cut -d. -f2)"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$k8s -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean"
  done
  echo "$ld"
}

build_one() { # label, module dir, output, package, ldflags
  local label="$1" dir="$2" out="$3" pkg="$4" ld="$5" start=$SECONDS
  echo "k8s-binaries: building $label (first build takes several minutes on 2 cores)..."
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$out.tmp" "$pkg") &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && echo "k8s-binaries:   ... $label still building ($((SECONDS - start))s)"
  done
  wait "$pid"
  mv "$out.tmp" "$out"
  echo "k8s-binaries: built $label in $((SECONDS - start))s"
}

build_version() {
  local minor="$1" k8s etcd_dir
  read -r k8s etcd_dir < <(full_version "$minor")
  local dest="$CACHE/$k8s" stamp
  stamp="$(stamp_of "$k8s" "$etcd_dir")"
  if [[ -f "$dest/stamp" && "$(cat "$dest/stamp")" == "$stamp" ]]; then
    echo "k8s-binaries: $k8s cached in $dest"
    return 0
  fi
  command -v go >/dev/null || { echo "k8s-binaries: Go is not installed; cannot build $k8s" >&2; return 1; }
  mkdir -p "$dest"
  rm -f "$dest/stamp"
  local kdir="$ROOT/tools/k8s-$(minor_of "$k8s")" ld
  ld="$(ldflags_for "$k8s")"
  build_one "etcd ($etcd_dir)" "$ROOT/tools/$etcd_dir" "$dest/etcd" go.etcd.io/etcd/server/v3 "-s -w"
  build_one "kube-apiserver $k8s" "$kdir" "$dest/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$ld"
  build_one "kubectl $k8s" "$kdir" "$dest/kubectl" k8s.io/kubernetes/cmd/kubectl "$ld"
  echo "$stamp" > "$dest/stamp"
  echo "k8s-binaries: $k8s ready in $dest"
}

main() {
  local versions=("$@")
  if [[ ${#versions[@]} -eq 0 ]]; then
    IFS=', ' read -r -a versions <<< "${MESHTOOL_K8S_VERSIONS:-1.37 1.35}"
  fi
  for v in "${versions[@]}"; do
    [[ -n "$v" ]] && build_version "$v"
  done
}

main "$@"
