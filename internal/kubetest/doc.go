// Package kubetest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver through controller-runtime's envtest, and optionally the
// real kube-controller-manager (namespace deletion, garbage collection,
// Deployment/ReplicaSet controllers, service-account tokens, …).
//
// The binaries are not downloaded: `make tools` builds them from the Go
// module proxy into .cache/bin at the repository root (see
// hack/build-tools.sh). The folder is found from $CAIRN_TOOLS (the Makefile
// sets it) or by walking up from the test's working directory to the
// main module's go.mod. When a binary is missing, RequireReal skips the test,
// or fails it when CAIRN_REQUIRE_REAL=1 (as CI does).
//
// Every server listens on 127.0.0.1 only, on free ports, with its data in a
// temporary directory.
//
// One control plane per test:
//
//	c := kubetest.Start(t, kubetest.WithControllerManager())
//	cs := c.Clientset(t)
//
// One control plane per test binary (startup costs seconds; tests then keep
// apart by namespace):
//
//	func TestMain(m *testing.M) { kubetest.Main(m, kubetest.WithControllerManager()) }
//
//	func TestX(t *testing.T) {
//		c := kubetest.Shared(t)
//		ns := c.Namespace(t)
//		…
//	}
//
// Other packages that need another real binary from .cache/bin (versitygw,
// kubelet, …) use Tool and RequireReal the same way.
package kubetest
