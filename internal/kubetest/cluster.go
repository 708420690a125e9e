package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Loopback is the only address any server started here listens on.
const Loopback = "127.0.0.1"

const (
	startTimeout = 90 * time.Second // per component; the CPU is shared and small
	stopTimeout  = 20 * time.Second
)

// Cluster is a running control plane: etcd, kube-apiserver and, with
// WithControllerManager, kube-controller-manager; with WithNode also
// kube-scheduler and a real node.
type Cluster struct {
	// Config connects as an administrator (group system:masters), with a
	// high client-side rate limit.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same admin
	// credentials, for a CLI under test (--kubeconfig / $KUBECONFIG).
	Kubeconfig string
	// Dir holds the components' data, certificates and logs
	// (etcd.log, kube-apiserver.log, kube-controller-manager.log).
	Dir string
	// Node is the real node started by WithNode, or nil.
	Node *Node

	env       *envtest.Environment
	kcm       *daemon
	scheduler *daemon
	nodeNet   *nodeNet // WithNodeNetwork: the node's network namespace
	logs      []*os.File

	stopOnce sync.Once
	stopErr  error
}

// Option configures Start and Main.
type Option func(*options)

type options struct {
	controllerManager bool
	scheduler         bool
	node              *nodeOptions
	apiserverFlags    map[string][]string
	kcmFlags          map[string][]string
}

// WithControllerManager also starts the real kube-controller-manager against
// the API server (all controllers that need no cloud provider, no leader
// election), so that namespaces finish deleting, garbage collection runs,
// Deployments get ReplicaSets and service-account tokens get signed.
func WithControllerManager() Option {
	return func(o *options) { o.controllerManager = true }
}

// WithAPIServerFlag sets a kube-apiserver flag (name without "--"),
// replacing envtest's default for it.
func WithAPIServerFlag(name string, values ...string) Option {
	return func(o *options) {
		if o.apiserverFlags == nil {
			o.apiserverFlags = map[string][]string{}
		}
		o.apiserverFlags[name] = values
	}
}

// WithControllerManagerFlag sets a kube-controller-manager flag (name
// without "--"), replacing this package's default for it. It implies
// WithControllerManager.
func WithControllerManagerFlag(name string, values ...string) Option {
	return func(o *options) {
		o.controllerManager = true
		if o.kcmFlags == nil {
			o.kcmFlags = map[string][]string{}
		}
		o.kcmFlags[name] = values
	}
}

// WithScheduler also starts the real kube-scheduler (default profile, no
// leader election). WithNode implies it.
func WithScheduler() Option {
	return func(o *options) { o.scheduler = true }
}

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (o options) tools() []string {
	names := []string{"etcd", "kube-apiserver"}
	if o.controllerManager {
		names = append(names, "kube-controller-manager")
	}
	if o.scheduler {
		names = append(names, "kube-scheduler")
	}
	if o.node != nil {
		names = append(names, "kubelet")
	}
	return names
}

// missing describes the first component the options need that is not
// available (a binary of ToolsDir, or what a node needs), or returns "".
func (o options) missing() string {
	if m := missingTools(o.tools()...); m != "" {
		return m
	}
	if o.node != nil {
		return missingNodeDeps(*o.node)
	}
	return ""
}

// Start starts a control plane for this test and stops it when the test
// ends. A missing binary ends the test through RequireReal (skip, or fail
// under CAIRN_REQUIRE_REAL=1). When the test fails, the tails of the
// components' logs are written to the test log.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := buildOptions(opts)
	if missing := o.missing(); missing != "" {
		RequireReal(t, missing)
	}
	c, err := start(t.TempDir(), o)
	if err != nil {
		failStart(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.LogTails(40))
		}
		if err := c.stop(); err != nil {
			t.Errorf("kubetest: stopping the control plane: %v", err)
		}
	})
	return c
}

// failStart ends a test whose cluster did not start: a node that did not
// start goes through requireReal (a machine that cannot run one skips
// unless CAIRN_REQUIRE_REAL=1), anything else fails.
func failStart(t testing.TB, err error) {
	t.Helper()
	var ne *nodeError
	if errors.As(err, &ne) {
		requireReal(t, fmt.Sprintf("kubetest: %v", err))
	}
	t.Fatalf("kubetest: %v", err)
}

// start starts a control plane with its files under dir. On error nothing is
// left running, and the error carries the tails of the components' logs.
func start(dir string, o options) (*Cluster, error) {
	quietLog()
	const attempts = 3 // a free port can be taken between choosing and binding it
	var err error
	for i := 1; i <= attempts; i++ {
		var c *Cluster
		c, err = startOnce(filepath.Join(dir, "try"+strconv.Itoa(i)), o)
		if err != nil {
			continue
		}
		if o.node == nil {
			return c, nil
		}
		// Once: a node that does not start will not start on retry.
		if c.Node, err = startNode(c, *o.node); err != nil {
			err = fmt.Errorf("%w\n%s", err, c.LogTails(30))
			_ = c.stop()
			return nil, err
		}
		return c, nil
	}
	return nil, err
}

func startOnce(dir string, o options) (c *Cluster, err error) {
	for _, sub := range []string{"etcd", "apiserver"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	c = &Cluster{Dir: dir}
	defer func() {
		if err != nil {
			tails := c.LogTails(30)
			_ = c.stop()
			err = fmt.Errorf("%w\n%s", err, tails)
		}
	}()
	etcdLog, err := c.openLog("etcd.log")
	if err != nil {
		return c, err
	}
	apiLog, err := c.openLog("kube-apiserver.log")
	if err != nil {
		return c, err
	}
	tools := ToolsDir()
	etcdPort, err := freePort()
	if err != nil {
		return c, err
	}
	peerPort, err := freePort()
	if err != nil {
		return c, err
	}
	apiPort, err := freePort()
	if err != nil {
		return c, err
	}

	etcd := &envtest.Etcd{
		Path:    filepath.Join(tools, "etcd"),
		DataDir: filepath.Join(dir, "etcd"),
		URL:     &url.URL{Scheme: "http", Host: net.JoinHostPort(Loopback, strconv.Itoa(etcdPort))},
		Out:     etcdLog,
		Err:     etcdLog,
	}
	etcd.Configure().
		Set("listen-peer-urls", "http://"+net.JoinHostPort(Loopback, strconv.Itoa(peerPort))).
		Set("initial-advertise-peer-urls", "http://"+net.JoinHostPort(Loopback, strconv.Itoa(peerPort))).
		Set("initial-cluster", "default=http://"+net.JoinHostPort(Loopback, strconv.Itoa(peerPort)))

	api := &envtest.APIServer{
		Path:    filepath.Join(tools, "kube-apiserver"),
		CertDir: filepath.Join(dir, "apiserver"),
		SecureServing: envtest.SecureServing{
			ListenAddr: envtest.ListenAddr{Address: Loopback, Port: strconv.Itoa(apiPort)},
		},
		Out: apiLog,
		Err: apiLog,
	}
	api.Configure().
		Set("advertise-address", Loopback).
		Set("bind-address", Loopback).
		// A loopback address is not a valid endpoint of the "kubernetes"
		// Service; without this the API server retries that every 10 s.
		Set("endpoint-reconciler-type", "none")
	if o.node != nil && o.node.network {
		// Before the API server starts: it needs the egress proxy's
		// configuration to reach a kubelet in a network namespace.
		if c.nodeNet, err = newNodeNet(); err != nil {
			return c, fmt.Errorf("node network: %w", err)
		}
		api.Configure().Set("egress-selector-config-file", c.nodeNet.config)
		// The node's name resolves nowhere; its address is all there is.
		api.Configure().Set("kubelet-preferred-address-types", "InternalIP")
	}
	for name, values := range o.apiserverFlags {
		api.Configure().Set(name, values...)
	}

	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    tools,
		ControlPlane:             envtest.ControlPlane{Etcd: etcd, APIServer: api},
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
	}
	cfg, err := c.env.Start()
	if err != nil {
		return c, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.Config = cfg
	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return c, err
	}

	if o.controllerManager {
		if err := c.startControllerManager(o.kcmFlags); err != nil {
			return c, fmt.Errorf("starting kube-controller-manager: %w", err)
		}
	}
	if o.scheduler {
		if err := c.startScheduler(); err != nil {
			return c, fmt.Errorf("starting kube-scheduler: %w", err)
		}
	}
	return c, nil
}

// quietLog sets controller-runtime's global logger, once, to discard:
// envtest logs through it, and one never set prints a stack trace to stderr
// 30 s after the test binary started. Errors reach the tests anyway. A test
// binary that wants controller-runtime's logs calls ctrllog.SetLogger after
// its first Start.
var quietLog = sync.OnceFunc(func() { ctrllog.SetLogger(logr.Discard()) })

// stop stops every component (the node, the scheduler and the controller
// manager first), at most once.
func (c *Cluster) stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.Node != nil {
			if err := c.Node.stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping node %s: %w", c.Node.Name, err))
			}
		}
		if c.nodeNet != nil {
			errs = append(errs, c.nodeNet.close())
		}
		if c.scheduler != nil {
			errs = append(errs, c.scheduler.stop())
		}
		if c.kcm != nil {
			errs = append(errs, c.kcm.stop())
		}
		if c.env != nil {
			errs = append(errs, c.env.Stop())
		}
		for _, f := range c.logs {
			_ = f.Close()
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

func (c *Cluster) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	c.logs = append(c.logs, f)
	return f, nil
}

// LogTails returns the last n lines of each component's log, for a failure
// message.
func (c *Cluster) LogTails(n int) string {
	var b strings.Builder
	for _, name := range []string{"etcd.log", "kube-apiserver.log", "kube-controller-manager.log", "kube-scheduler.log"} {
		data, err := os.ReadFile(filepath.Join(c.Dir, name))
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- last %d lines of %s:\n%s\n", n, filepath.Join(c.Dir, name), tail(data, n))
	}
	if c.Node != nil {
		b.WriteString(c.Node.LogTails(n))
	}
	return b.String()
}

// UserConfig returns a config that authenticates (by client certificate) as
// the user name in groups. Such a user has no permissions until the test
// grants some with RBAC (Role/ClusterRole bindings for that name or group).
func (c *Cluster) UserConfig(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	cfg, _, err := c.addUser(name, groups)
	if err != nil {
		t.Fatalf("kubetest: adding user %q: %v", name, err)
	}
	return cfg
}

// UserKubeconfig is UserConfig written as a kubeconfig file in t.TempDir();
// it returns the file's path.
func (c *Cluster) UserKubeconfig(t testing.TB, name string, groups ...string) string {
	t.Helper()
	_, kubeconfig, err := c.addUser(name, groups)
	if err != nil {
		t.Fatalf("kubetest: adding user %q: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return path
}

func (c *Cluster) addUser(name string, groups []string) (*rest.Config, []byte, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, nil, err
	}
	kubeconfig, err := u.KubeConfig()
	if err != nil {
		return nil, nil, err
	}
	return rest.CopyConfig(u.Config()), kubeconfig, nil
}

// Clientset returns an admin clientset.
func (c *Cluster) Clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return cs
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace named after the test with a random suffix,
// and deletes it (without waiting) when the test ends. Tests that share a
// cluster keep apart this way.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := base + "-" + hex.EncodeToString(suffix[:])
	cs := c.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// freePort returns a TCP port that is free on the loopback address and was
// not handed out before by this process.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port on " + Loopback)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
