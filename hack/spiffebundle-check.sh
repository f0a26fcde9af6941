#!/usr/bin/env bash
# Build spiffebundle-check (tools/spiffebundle-v2.9: go-spiffe's spiffebundle.Parse, the
# independent reader the bundle endpoint tests cross-check meshtool's SPIFFE bundles with).
#
# The binary lands in ${XDG_CACHE_HOME:-~/.cache}/meshtool/spiffebundle-check/<version>/ with a
# stamp that records the hash of the module it was built from; a matching stamp means no rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=v2.9.0
MODULE="$ROOT/tools/spiffebundle-v2.9"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/spiffebundle-check/$VERSION"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

stamp="$(cat "$MODULE/go.mod" "$MODULE/go.sum" "$MODULE/main.go" | sha256sum | cut -c1-16)"
if [[ -f "$DEST/stamp" && "$(cat "$DEST/stamp")" == "$stamp" && -x "$DEST/spiffebundle-check" ]]; then
  echo "spiffebundle-check: go-spiffe $VERSION cached in $DEST"
  exit 0
fi
command -v go >/dev/null || { echo "spiffebundle-check: Go is not installed; cannot build it" >&2; exit 1; }
mkdir -p "$DEST"
rm -f "$DEST/stamp"
start=$SECONDS
echo "spiffebundle-check: building with go-spiffe $VERSION..."
(cd "$MODULE" && go build -trimpath -ldflags "-s -w" -o "$DEST/spiffebundle-check.tmp" .)
mv "$DEST/spiffebundle-check.tmp" "$DEST/spiffebundle-check"
echo "$stamp" > "$DEST/stamp"
echo "spiffebundle-check: built in $((SECONDS - start))s into $DEST"
