//go:build tools

// Package tools keeps toxiproxy's server in the module graph so its main package can be built.
package tools

import _ "github.com/Shopify/toxiproxy/v2"
