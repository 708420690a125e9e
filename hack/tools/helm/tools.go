//go:build tools

// Package tools pins helm (built by hack/build-tools.sh), which the chart
// test (deploy/helm/cairn) runs as `helm template`. It is a separate
// module so that the main module's `go test ./...` and `go vet ./...`
// never descend into it, and helm's dependencies stay out of the main
// module's go.mod.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
