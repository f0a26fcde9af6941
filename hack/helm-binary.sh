#!/usr/bin/env bash
# Build helm from the Go module proxy (wrapper module tools/helm-v3.22, helm.sh/helm/v3 v3.22.0).
#
# The binary lands in ${XDG_CACHE_HOME:-~/.cache}/meshtool/helm/v3.22.0/helm next to a stamp that
# records the hash of the wrapper module and of the ldflags; a matching stamp means no rebuild.
# The ldflags are those of helm's own Makefile: the version, and the default Kubernetes version
# of `helm template`/`helm lint` (client-go's minor + 1.x, here 1.37) instead of the built-in 1.20.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM=v3.22.0
MODULE="$ROOT/tools/helm-v3.22"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/helm/$HELM"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

ldflags() {
  local client_go major minor ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM"
  ld="$ld -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/internal/version.metadata="
  client_go="$(awk '$1 == "k8s.io/client-go" { print $2 }' "$MODULE/go.mod")"  # v0.37.0
  major=$(( $(echo "${client_go#v}" | cut -d. -f1) + 1 ))
  minor="$(echo "$client_go" | cut -d. -f2)"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld="$ld -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  echo "$ld"
}

main() {
  local stamp ld start=$SECONDS
  ld="$(ldflags)"
  stamp="$({ cat "$MODULE/go.mod" "$MODULE/go.sum"; echo "$ld"; } | sha256sum | cut -c1-16)"
  if [[ -f "$DEST/stamp" && -x "$DEST/helm" && "$(cat "$DEST/stamp")" == "$stamp" ]]; then
    echo "helm-binary: helm $HELM cached in $DEST"
    return 0
  fi
  command -v go >/dev/null || { echo "helm-binary: Go is not installed; cannot build helm $HELM" >&2; return 1; }
  mkdir -p "$DEST"
  rm -f "$DEST/stamp"
  echo "helm-binary: building helm $HELM (about two minutes on 2 cores)..."
  (cd "$MODULE" && go build -trimpath -ldflags "$ld" -o "$DEST/helm.tmp.$$" helm.sh/helm/v3/cmd/helm)
  mv "$DEST/helm.tmp.$$" "$DEST/helm"
  echo "$stamp" > "$DEST/stamp"
  echo "helm-binary: built helm $HELM in $((SECONDS - start))s into $DEST"
}

main "$@"
