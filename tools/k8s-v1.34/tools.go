//go:build tools

// Package tools keeps the Kubernetes commands meshtool's tests build in the module graph.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
