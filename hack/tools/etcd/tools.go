//go:build tools

// Package tools pins etcd (the server's main package) (built by hack/build-tools.sh). It is a separate
// module so that the main module's `go test ./...` and `go vet ./...`
// never descend into it.
package tools

import _ "go.etcd.io/etcd/server/v3"
