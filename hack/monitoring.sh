#!/usr/bin/env bash
# Print the alerts and the dashboard as Kubernetes objects for clusters without the Helm chart:
# a PrometheusRule (prometheus-operator) whose spec is charts/meshtool/files/alerts.yaml, and a
# ConfigMap holding charts/meshtool/files/dashboard.json, labelled for Grafana's dashboard
# sidecar. Both files are read as they are, so there is one copy of each.
#   make -s monitoring NAMESPACE=monitoring | kubectl apply -f -
set -euo pipefail

FILES="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/charts/meshtool/files"
NAMESPACE="${NAMESPACE:-mesh-controller}"

cat <<EOF
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: meshtool
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: meshtool
spec:
EOF
sed -e '/^#/d' -e 's/^./  &/' "$FILES/alerts.yaml"
cat <<EOF
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: meshtool-dashboard
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: meshtool
    grafana_dashboard: "1"
data:
  meshtool.json: |
EOF
sed 's/^./    &/' "$FILES/dashboard.json"
