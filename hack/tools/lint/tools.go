//go:build tools

// Package tools pins staticcheck (built by hack/build-tools.sh). It is a separate
// module so that the main module's `go test ./...` and `go vet ./...`
// never descend into it.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"
