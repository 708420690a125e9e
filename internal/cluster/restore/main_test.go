package restore_test

import (
	"testing"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

// One control plane, with the controller manager (namespaces finish
// deleting, Deployments get ReplicaSets, PVCs bind), for all tests; each
// test keeps to its own namespaces and cluster-scoped names.
func TestMain(m *testing.M) { kubetest.Main(m, kubetest.WithControllerManager()) }
