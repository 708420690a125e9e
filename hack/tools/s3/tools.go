//go:build tools

// Package tools pins the versitygw S3 gateway (built by hack/build-tools.sh). It is a separate
// module so that the main module's `go test ./...` and `go vet ./...`
// never descend into it.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
