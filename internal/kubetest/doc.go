// Package kubetest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver through controller-runtime's envtest, and optionally the
// real kube-controller-manager (namespace deletion, garbage collection,
// Deployment/ReplicaSet controllers, service-account tokens, …),
// kube-scheduler and a real node.
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
// A real node (WithNode): kube-scheduler, containerd with runc, and a
// kubelet, so that pods really run and their volumes really exist on this
// machine, where the node agent reads them:
//
//	c := kubetest.Start(t, kubetest.WithNode())
//	v := c.Node.LocalVolume(t, ns, "data")          // a `local` PV and a Bound PVC
//	… a pod with hostNetwork: true, image kubetest.BusyboxImage,
//	  imagePullPolicy: Never, mounting claim v.PVC …
//	dir := c.Node.VolumeDir(pod.UID, kubetest.PluginLocal, v.PV)
//
// Containerd, runc, the CNI plugins and busybox come from Debian and the
// images are built locally, by `make node-deps`; the node needs root. Each
// node has its own containerd root, state and socket and its own kubelet
// root (WithKubeletRoot to choose it), ports and logs, so parallel test
// binaries do not collide. The kubelet shares the host's network by
// default, where it has no usable node address: exec, logs and
// port-forward through the API server fail. WithNodeNetwork runs the node
// in a network namespace the test creates, where they work. When the node
// stops, its pods are deleted through the API server first, then the
// kubelet, the containers' shims and containerd are stopped by pid and
// whatever the kubelet left mounted is unmounted. A node that does not
// start ends the test through RequireReal with the reason and the logs'
// tails. See docs/design/test-node.md.
//
// Other packages that need another real binary from .cache/bin (versitygw,
// kubelet, …) use Tool and RequireReal the same way.
package kubetest
