// Package velerotest runs the real Velero server for tests: `velero
// server` (built into .cache/bin by `make tools`, with the AWS object store
// plugin) out of cluster, against a test control plane (package kubetest)
// and a backup storage location on the real S3 server (package s3test).
// Only test code imports it.
//
// A missing binary is kubetest.RequireReal: a skip on a laptop, a failure
// in CI (CAIRN_REQUIRE_REAL=1).
//
// The server's controller manager listens on :8080 for metrics (Velero
// has no flag to move it): Start fails at once, saying so, when that port
// is taken.
//
// StartNodeAgent adds Velero's node agent on a real node (file-system
// backups of pod volumes with kopia): its data-path pods run the Velero
// image the node imports (Image, kubetest.WithNodeImage) and are given
// host networking by a mutating webhook the test serves on 127.0.0.1.
package velerotest
