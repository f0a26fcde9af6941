#!/usr/bin/env bash
# Build promtool (Prometheus v3.16.0, module github.com/prometheus/prometheus v0.316.0) from the
# Go module proxy through the wrapper module tools/promtool-v3.16, for the monitoring tests
# (`promtool check rules` / `promtool test rules` on charts/meshtool/files/alerts.yaml).
#
# Built with Prometheus's `remove_all_sd` tag: the rule commands need no service discovery, and
# leaving out the cloud SDKs (AWS EC2, Lightsail, RDS, Azure, GCE...) saves most of the build.
#
# The binary lands in ${XDG_CACHE_HOME:-~/.cache}/meshtool/promtool/v3.16.0/promtool next to a
# stamp holding the hash of the wrapper module, the build recipe and the Go version; a matching
# stamp is not rebuilt. Prints the binary's path on the last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=v3.16.0
MODULE="$ROOT/tools/promtool-v3.16"
DEST="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/promtool/$VERSION"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0

command -v go >/dev/null || { echo "promtool: Go is not installed; cannot build promtool" >&2; exit 1; }
TAGS=remove_all_sd
v=github.com/prometheus/common/version
LDFLAGS="-s -w -X $v.Version=${VERSION#v} -X $v.Branch=release -X $v.Revision=module-proxy"
stamp="$({ cat "$MODULE/go.mod" "$MODULE/go.sum"; echo "$TAGS $LDFLAGS"; go version; } \
  | sha256sum | cut -c1-16)"
if [[ -f "$DEST/stamp" && -x "$DEST/promtool" && "$(cat "$DEST/stamp")" == "$stamp" ]]; then
  echo "promtool: $VERSION cached in $DEST" >&2
  echo "$DEST/promtool"
  exit 0
fi

mkdir -p "$DEST"
rm -f "$DEST/stamp"
echo "promtool: building $VERSION (first build takes a few minutes on 2 cores)..." >&2
start=$SECONDS
(cd "$MODULE" && go build -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" -o "$DEST/promtool.tmp" \
  github.com/prometheus/prometheus/cmd/promtool) &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 15
  kill -0 "$pid" 2>/dev/null && echo "promtool:   ... still building ($((SECONDS - start))s)" >&2
done
wait "$pid"
mv "$DEST/promtool.tmp" "$DEST/promtool"
echo "$stamp" > "$DEST/stamp"
echo "promtool: built $VERSION in $((SECONDS - start))s" >&2
echo "$DEST/promtool"
