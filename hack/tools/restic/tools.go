//go:build tools

// Package tools pins restic 0.18.1, the reference of the storage-engine
// benchmark (hack/bench/run.sh builds it with
// CAIRN_TOOLS_ONLY=restic hack/build-tools.sh). It is a separate module so
// that the main module's `go test ./...` and `go vet ./...` never descend into
// it, and `make tools` does not build it: no test needs it.
package tools

import _ "github.com/restic/restic/cmd/restic"
