//go:build tools

// Package tools keeps Prometheus's module in the module graph so cmd/promtool can be built.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
