package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// BusyboxImage is the workload image on the node (built by `make
// node-deps`, never pulled): /bin/busybox and symlinks for sh, ls, cat,
// sleep, mkdir, echo, dd, sync, test, wc, md5sum, sha256sum, cp, rm, touch,
// find and a few more. Use it with imagePullPolicy: Never.
const BusyboxImage = "cairn.local/busybox:1"

// Volume plugin folders under <PodsDir>/<pod-uid>/volumes/, where the
// kubelet puts a pod's volumes (and the node agent finds them).
const (
	PluginLocal    = "kubernetes.io~local-volume"
	PluginEmptyDir = "kubernetes.io~empty-dir"
	PluginCSI      = "kubernetes.io~csi"
)

// EnvImages names the folder holding the node's image tarballs (busybox.tar,
// pause.tar); by default .cache/images next to ToolsDir.
const EnvImages = "CAIRN_IMAGES"

// Node is a real node of a Cluster: containerd (with runc) and a kubelet
// registered with the API server, scheduling pods that use hostNetwork.
type Node struct {
	// Name is the Node object's name (and its kubernetes.io/hostname label).
	Name string
	// KubeletRoot is the kubelet's --root-dir.
	KubeletRoot string
	// PodsDir is <KubeletRoot>/pods: a pod's volumes are under
	// <PodsDir>/<pod-uid>/volumes/<plugin>/<volume> (see VolumeDir).
	PodsDir string
	// Dir holds the node's files and logs (containerd.log, kubelet.log).
	Dir string
	// ContainerdSocket is containerd's gRPC socket (for ctr --address).
	ContainerdSocket string
	// IP is the node's address: 127.0.0.1, or with WithNodeNetwork its
	// address inside its network namespace (not reachable from the host).
	IP string
	// Netns is the path of the node's network namespace
	// (/run/netns/<name>) with WithNodeNetwork, else "".
	Netns string
	// StartedIn is how long containerd, the image import and the kubelet
	// took until the node was Ready and schedulable.
	StartedIn time.Duration

	cs         kubernetes.Interface
	containerd *daemon
	kubelet    *daemon
	net        *nodeNet // WithNodeNetwork, else nil
	sockDir    string   // short folder holding the containerd socket
	ownRoot    bool     // KubeletRoot is under Dir
	logs       []*os.File
}

// NodeOption configures WithNode.
type NodeOption func(*nodeOptions)

type nodeOptions struct {
	kubeletRoot string
	network     bool
	images      []Image // beyond busybox and the sandbox
}

// Image is a container image the node imports from a tarball in the images
// folder (EnvImages) when it starts.
type Image struct {
	// Tarball is the OCI layout tarball's file name in the images folder
	// (velero.tar).
	Tarball string
	// Ref is the image's name in it (cairn.local/velero:1): the import is
	// checked against it, and pods name it with imagePullPolicy: Never.
	Ref string
}

// WithNodeImage also imports img into the node's containerd (what the
// node imports every time, busybox and the sandbox, are small; larger
// images are imported by the tests that need them). A missing tarball ends
// the test through RequireReal, naming `make node-deps`.
func WithNodeImage(img Image) NodeOption {
	return func(o *nodeOptions) { o.images = append(o.images, img) }
}

// WithNodeNetwork runs containerd and the kubelet (and so the pods, which
// use hostNetwork) in a network namespace the test creates, with a
// non-loopback node address (10.254.0.2) that exists only inside it. The
// API server then reaches the kubelet, through an egress proxy of this
// package, so exec, logs and port-forward through the API server work.
// Needs `ip` (iproute2) and `nsenter` (util-linux).
func WithNodeNetwork() NodeOption {
	return func(o *nodeOptions) { o.network = true }
}

// WithKubeletRoot sets the kubelet's root folder (default: a folder of the
// node's own, so that parallel test runs do not collide). A program that
// runs the node agent with its default paths (a demo) passes
// "/var/lib/kubelet". Mounts left under it are unmounted when the node
// stops; the folder itself is kept.
func WithKubeletRoot(dir string) NodeOption {
	return func(o *nodeOptions) { o.kubeletRoot = dir }
}

// WithNode also starts a real node: kube-scheduler, containerd and a
// kubelet. It implies WithControllerManager (PV binding, Deployments,
// namespace deletion and the node lifecycle controller need it). Pods on
// the node must use hostNetwork: true and imagePullPolicy: Never with
// BusyboxImage. A missing part (Debian packages, images, root) ends a test
// through RequireReal; see docs/design/test-node.md.
func WithNode(opts ...NodeOption) Option {
	return func(o *options) {
		o.controllerManager = true
		o.scheduler = true
		no := nodeOptions{}
		for _, opt := range opts {
			opt(&no)
		}
		o.node = &no
	}
}

// nodeError is a node that did not start; tests report it through
// RequireReal (fail under CAIRN_REQUIRE_REAL=1, skip otherwise).
type nodeError struct{ err error }

func (e *nodeError) Error() string { return "the test node did not start: " + e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

// VolumeDir returns where the kubelet puts volume of plugin (PluginLocal,
// PluginEmptyDir, …) for the pod with uid: a PV's name for persistent
// volumes, the volume's name in the pod spec for emptyDir.
func (n *Node) VolumeDir(podUID types.UID, plugin, volume string) string {
	return filepath.Join(n.PodsDir, string(podUID), "volumes", plugin, volume)
}

// imagesDir returns $CAIRN_IMAGES, else .cache/images next to ToolsDir.
func imagesDir() string {
	if d := os.Getenv(EnvImages); d != "" {
		return d
	}
	if t := ToolsDir(); t != "" {
		return filepath.Join(filepath.Dir(t), "images")
	}
	return ""
}

// systemPath is PATH with the system folders added: runc and mount live in
// sbin folders a test's PATH may lack.
func systemPath() string {
	return os.Getenv("PATH") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// findBin looks name up in systemPath.
func findBin(name string) (string, error) {
	for _, d := range filepath.SplitList(systemPath()) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// command returns how to run path with args on the node: in its network
// namespace with WithNodeNetwork (nsenter enters only that one, so that
// the kubelet's mounts stay visible to the host), else as is.
func (n *Node) command(path string, args []string) (string, []string, error) {
	if n.net == nil {
		return path, args, nil
	}
	nsenter, err := findBin("nsenter")
	if err != nil {
		return "", nil, fmt.Errorf("nsenter: %w", err)
	}
	return nsenter, append([]string{"--net=" + n.net.path(), "--", path}, args...), nil
}

// dialer returns how to connect to the node's own loopback services, or
// nil when the node shares the host's network.
func (n *Node) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if n.net == nil {
		return nil
	}
	return n.net.dial
}

// nodeEnv is the environment of containerd and the kubelet.
func nodeEnv() []string {
	env := []string{"PATH=" + systemPath()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

// missingNodeDeps describes the first thing a node needs that is not
// there, or returns "".
func missingNodeDeps(o nodeOptions) string {
	if runtime.GOOS != "linux" {
		return "a real node (Linux only)"
	}
	if os.Geteuid() != 0 {
		return "a real node (kubelet, containerd and runc need root)"
	}
	bins := []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "mount"}
	if o.network {
		bins = append(bins, "ip", "nsenter")
	}
	for _, name := range bins {
		if _, err := findBin(name); err != nil {
			return name + " (not in PATH; `make node-deps` installs it from Debian)"
		}
	}
	if _, err := os.Stat(cniLoopback); err != nil {
		return cniLoopback + " (`make node-deps` installs containernetworking-plugins)"
	}
	dir := imagesDir()
	files := []string{"busybox.tar", "pause.tar"}
	for _, img := range o.images {
		files = append(files, img.Tarball)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Sprintf("image %s (%s not found; `make node-deps` builds it)", f, filepath.Join(dir, f))
		}
	}
	return ""
}

// startNode starts containerd and a kubelet for c and waits until the node
// is Ready and schedulable. On error nothing is left running and the error
// (a *nodeError) carries the tails of the node's logs.
func startNode(c *Cluster, o nodeOptions) (n *Node, err error) {
	begin := time.Now()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, &nodeError{err}
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	n = &Node{Name: "node-" + hex.EncodeToString(suffix[:]), cs: cs}
	defer func() {
		if err != nil {
			tails := n.LogTails(40)
			_ = n.stop()
			n, err = nil, &nodeError{fmt.Errorf("%w\n%s", err, tails)}
		}
	}()
	// A short folder of its own, not under the test's temp dir: the kubelet
	// and containerd create unix sockets under it, whose paths must stay
	// under 108 bytes.
	if n.Dir, err = os.MkdirTemp("", "cairn-node-"); err != nil {
		return n, err
	}
	n.KubeletRoot = o.kubeletRoot
	if n.KubeletRoot == "" {
		n.KubeletRoot, n.ownRoot = filepath.Join(n.Dir, "kubelet"), true
	}
	n.PodsDir = filepath.Join(n.KubeletRoot, "pods")
	n.IP = Loopback
	if c.nodeNet != nil {
		n.net, n.IP, n.Netns = c.nodeNet, nodeNetIP, c.nodeNet.path()
		if err := n.net.create(); err != nil {
			return n, fmt.Errorf("network namespace: %w", err)
		}
		api, err := url.Parse(c.Config.Host)
		if err != nil || api.Host == "" {
			return n, fmt.Errorf("API server address %q: %v", c.Config.Host, err)
		}
		if err := n.net.forwardAPI(api.Host); err != nil {
			return n, err
		}
	}

	if err := n.startContainerd(); err != nil {
		return n, fmt.Errorf("containerd: %w", err)
	}
	if err := n.importImages(o.images); err != nil {
		return n, fmt.Errorf("importing images: %w", err)
	}
	if err := n.startKubelet(c); err != nil {
		return n, fmt.Errorf("kubelet: %w", err)
	}
	if err := n.waitSchedulable(startTimeout); err != nil {
		return n, err
	}
	n.StartedIn = time.Since(begin)
	return n, nil
}

// waitSchedulable waits for the Node to be Ready and removes the not-ready
// taint the kubelet registers it with, if the node lifecycle controller has
// not done so yet.
func (n *Node) waitSchedulable(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if n.kubelet != nil {
			select {
			case <-n.kubelet.done:
				return false, fmt.Errorf("kubelet exited: %v", n.kubelet.err)
			default:
			}
		}
		node, err := n.cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			last = "not registered"
			return false, nil
		}
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := false
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionTrue
				last = fmt.Sprintf("Ready=%s (%s: %s)", cond.Status, cond.Reason, cond.Message)
			}
		}
		if !ready {
			return false, nil
		}
		var keep []corev1.Taint
		for _, t := range node.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				keep = append(keep, t)
			}
		}
		if len(keep) == len(node.Spec.Taints) {
			return true, nil
		}
		node.Spec.Taints = keep
		if _, err := n.cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			last = "removing the not-ready taint: " + err.Error()
		}
		return false, nil // look again
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready and schedulable after %s (last: %s): %w", n.Name, timeout, last, err)
	}
	return nil
}

// stop deletes the node's pods through the API server (so the kubelet
// unmounts their volumes), stops the kubelet, the containers, their shims
// and containerd, unmounts what is left under the node's folders and removes
// them.
func (n *Node) stop() error {
	var errs []error
	if n.kubelet != nil {
		n.deletePods(30 * time.Second)
		errs = append(errs, n.kubelet.stop())
	}
	if n.containerd != nil {
		n.removeTasks()
		errs = append(errs, n.containerd.stop())
	}
	// Shims outlive containerd by design; after it has stopped, whatever
	// is left goes by pid.
	n.killShims()
	for _, f := range n.logs {
		_ = f.Close()
	}
	n.logs = nil
	for _, dir := range []string{n.KubeletRoot, n.Dir, n.sockDir} {
		if dir == "" {
			continue
		}
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if dir == n.KubeletRoot && !n.ownRoot {
			continue // the caller's folder
		}
		if dir == n.Dir && os.Getenv("CAIRN_KEEP_NODE") != "" {
			continue
		}
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}

// deletePods cordons the node and deletes its pods with a one-second grace
// period, until none is left or timeout passes (controllers may recreate
// some, a DaemonSet's even on a cordoned node).
func (n *Node) deletePods(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cordon := []byte(`{"spec":{"unschedulable":true}}`)
	_, _ = n.cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, cordon, metav1.PatchOptions{})
	grace := int64(1)
	_ = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := n.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds <= grace {
				continue
			}
			_ = n.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		}
		return len(pods.Items) == 0, nil
	})
}

func (n *Node) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(n.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	n.logs = append(n.logs, f)
	return f, nil
}

// LogTails returns the last n lines of containerd's and the kubelet's logs.
func (n *Node) LogTails(lines int) string {
	var b strings.Builder
	for _, name := range []string{"containerd.log", "kubelet.log"} {
		data, err := os.ReadFile(filepath.Join(n.Dir, name))
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- last %d lines of %s:\n%s\n", lines, filepath.Join(n.Dir, name), tail(data, lines))
	}
	return b.String()
}

// Forward makes the host's service at hostPort (a loopback address, such
// as the S3 server's) reachable at the same address from inside the
// node's network namespace, for programs run there (pods use
// hostNetwork); without WithNodeNetwork the node shares the host's
// network and it does nothing.
func (n *Node) Forward(hostPort string) error {
	if n.net == nil {
		return nil
	}
	return n.net.forwardAPI(hostPort)
}
