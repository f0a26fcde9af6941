//go:build tools

// Package tools keeps the Kubernetes node and controller commands meshtool's local
// cluster runs in the module graph (hack/node-binaries.sh builds them).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
