//go:build tools

// Package tools pins controller-gen (built by hack/build-tools.sh), which
// generates api/v1alpha1's deepcopy functions and the CRDs in
// deploy/helm/cairn/crds (`make generate`). It is a separate module so that
// the main module's `go test ./...` and `go vet ./...` never descend into it.
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
