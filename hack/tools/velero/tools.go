//go:build tools

// Package tools pins the Velero server and CLI and its AWS object store
// plugin, which hack/build-tools.sh builds for the tests of
// `cairn import velero` (internal/velero): the tests run the real
// `velero server` out of cluster against the test control plane and the
// versitygw S3 server, so that what is imported is what Velero writes.
//
// Velero's own go.mod replaces github.com/kopia/kopia with Velero's fork;
// a replace is not inherited, so this module carries it too.
// It is a separate module so that the main module's `go test ./...` and
// `go vet ./...` never descend into it.
package tools

import (
	_ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
	_ "github.com/vmware-tanzu/velero/cmd/velero"
)
