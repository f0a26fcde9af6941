#!/usr/bin/env bash
# Build toxiproxy-server (the TCP fault proxy of the fault-injection suite) from the Go module
# proxy, with the wrapper module in tools/toxiproxy-v2.5/.
#
# The binary lands in ${XDG_CACHE_HOME:-~/.cache}/meshtool/toxiproxy/<version>/ with a stamp that
# records the hash of the wrapper module it was built from; a matching stamp means no rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=v2.5.0
MODULE="$ROOT/tools/toxiproxy-v2.5"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/toxiproxy/$VERSION"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

stamp="$(cat "$MODULE/go.mod" "$MODULE/go.sum" | sha256sum | cut -c1-16)"
if [[ -f "$DEST/stamp" && "$(cat "$DEST/stamp")" == "$stamp" && -x "$DEST/toxiproxy-server" ]]; then
  echo "toxiproxy: $VERSION cached in $DEST"
  exit 0
fi
command -v go >/dev/null || { echo "toxiproxy: Go is not installed; cannot build $VERSION" >&2; exit 1; }
mkdir -p "$DEST"
rm -f "$DEST/stamp"
start=$SECONDS
echo "toxiproxy: building toxiproxy-server $VERSION..."
(cd "$MODULE" && go build -trimpath -ldflags "-s -w" -o "$DEST/toxiproxy-server.tmp" \
  github.com/Shopify/toxiproxy/v2/cmd/server)
mv "$DEST/toxiproxy-server.tmp" "$DEST/toxiproxy-server"
echo "$stamp" > "$DEST/stamp"
echo "toxiproxy: built $VERSION in $((SECONDS - start))s into $DEST"
