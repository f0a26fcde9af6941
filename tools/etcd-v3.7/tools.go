//go:build tools

// Package tools keeps etcd's server module in the module graph so its main package can be built.
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
