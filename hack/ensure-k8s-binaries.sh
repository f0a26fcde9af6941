#!/usr/bin/env bash
# Build the Kubernetes binaries the integration tests need (and toxiproxy, the fault suite's TCP
# fault proxy), if Go is here to build them.
# Under CI a missing Go is an error; on a developer machine the tests skip with a message instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${KUBEBUILDER_ASSETS:-}" || -n "${MESHTOOL_USE_EXISTING_CLUSTER:-}" ]]; then
  exit 0
fi
if ! command -v go >/dev/null; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "ensure-k8s-binaries: Go is required under CI to build kube-apiserver, etcd and kubectl" >&2
    exit 1
  fi
  echo "ensure-k8s-binaries: Go not found; integration tests will be skipped (install Go 1.26 to run them)"
  exit 0
fi
"$ROOT/hack/toxiproxy.sh"
exec "$ROOT/hack/k8s-binaries.sh"
