#!/usr/bin/env bash
# Build pcr-ceiling (tools/pcr-ceiling: the benchmark's Go status-write ceiling, client-go with
# the client rate limit lifted) from the Go module proxy.
#
# The binary lands in ${XDG_CACHE_HOME:-~/.cache}/meshtool/pcr-ceiling/ with a stamp that records
# the hash of the module's files and the Go version; a matching stamp means no rebuild. Prints the
# binary's path on the last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="$ROOT/tools/pcr-ceiling"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/pcr-ceiling"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

command -v go >/dev/null || { echo "pcr-ceiling: Go is not installed; cannot build it" >&2; exit 1; }
stamp="$({ cat "$MODULE/go.mod" "$MODULE/go.sum" "$MODULE"/*.go; go version; } | sha256sum | cut -c1-16)"
if [[ -f "$DEST/stamp" && "$(cat "$DEST/stamp")" == "$stamp" && -x "$DEST/pcr-ceiling" ]]; then
  echo "pcr-ceiling: cached in $DEST" >&2
  echo "$DEST/pcr-ceiling"
  exit 0
fi
mkdir -p "$DEST"
rm -f "$DEST/stamp"
start=$SECONDS
echo "pcr-ceiling: building (client-go; about a minute on 2 cores)..." >&2
(cd "$MODULE" && go build -trimpath -ldflags "-s -w" -o "$DEST/pcr-ceiling.tmp" .)
mv "$DEST/pcr-ceiling.tmp" "$DEST/pcr-ceiling"
echo "$stamp" > "$DEST/stamp"
echo "pcr-ceiling: built in $((SECONDS - start))s" >&2
echo "$DEST/pcr-ceiling"
