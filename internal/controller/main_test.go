package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/hooks"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// crdDir is where the chart keeps the generated CRDs.
var crdDir = filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")

var crdOnce struct {
	sync.Once
	n   int
	err error
}

// env is one test's world: a namespace on the shared control plane with
// the CRDs loaded, a client, and the reconcilers on a fake clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	c     client.Client
	cfg   *kubetest.Cluster
	ns    string
	clock *fakeClock
	rs    *controller.Reconcilers
	hooks hooks.Executor // runs the hooks when set (else the pods' exec)
}

func newEnv(t *testing.T, ret controller.Retention) *env {
	t.Helper()
	kc := kubetest.Shared(t)
	crdOnce.Do(func() {
		crds, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{Paths: []string{crdDir}, ErrorIfPathMissing: true})
		crdOnce.n, crdOnce.err = len(crds), err
	})
	if crdOnce.err != nil {
		t.Fatalf("loading the CRDs from %s: %v", crdDir, crdOnce.err)
	}
	if crdOnce.n != len(cairnv1.Kinds) {
		t.Fatalf("loaded %d CRDs from %s, want %d (%v): run `make generate`", crdOnce.n, crdDir, len(cairnv1.Kinds), cairnv1.Kinds)
	}
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(kc.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, c: c, cfg: kc, ns: kc.Namespace(t), clock: &fakeClock{t: time.Now().UTC().Truncate(time.Second)}}
	e.rs = controller.New(c, c, controller.Options{Namespace: e.ns, Cluster: kc.Config, Retention: ret, Clock: e.clock, Recheck: 250 * time.Millisecond,
		HookExecutor: func(c *rest.Config) (hooks.Executor, error) {
			if e.hooks != nil {
				return e.hooks, nil
			}
			return hooks.NewAPIExecutor(c)
		}})
	return e
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

func (f *fakeClock) Add(d time.Duration) { f.Set(f.Now().Add(d)) }

const passphrase = "correct horse battery staple"

// location creates a repository in a temporary directory, the Secret with
// its passphrase and a default ReadWrite BackupLocation for it; it
// returns the repository's directory.
func (e *env) location(name, dir string) string {
	e.t.Helper()
	if dir == "" {
		dir = filepath.Join(e.t.TempDir(), "repo")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			e.t.Fatal(err)
		}
		s, err := local.New(dir)
		if err != nil {
			e.t.Fatal(err)
		}
		r, err := repo.Init(e.ctx, s, []byte(passphrase), repo.Options{})
		if err != nil {
			e.t.Fatal(err)
		}
		r.Close()
	}
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-pass", Namespace: e.ns}, StringData: map[string]string{"passphrase": passphrase}})
	e.create(&cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: cairnv1.BackupLocationSpec{
			Repository: dir, Default: true,
			Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-pass"}, Key: "passphrase"},
		},
	})
	return dir
}

func (e *env) create(o client.Object) {
	e.t.Helper()
	if err := e.c.Create(e.ctx, o); err != nil {
		e.t.Fatalf("create %T %s: %v", o, o.GetName(), err)
	}
}

func (e *env) get(name string, o client.Object) {
	e.t.Helper()
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, o); err != nil {
		e.t.Fatalf("get %T %s: %v", o, name, err)
	}
}

func (e *env) gone(name string, o client.Object) bool {
	e.t.Helper()
	err := e.c.Get(e.ctx, types.NamespacedName{Namespace: e.ns, Name: name}, o)
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

type reconciler interface {
	Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
}

func (e *env) reconcile(r reconciler, name string) ctrl.Result {
	e.t.Helper()
	res, err := r.Reconcile(e.ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: e.ns, Name: name}})
	if err != nil {
		e.t.Fatalf("reconcile %T %s: %v", r, name, err)
	}
	if i, ok := r.(interface{ Idle() }); ok {
		i.Idle() // the run it started, outside Reconcile
	}
	return res
}

// backups returns the Backups in the namespace by name.
func (e *env) backups() map[string]cairnv1.Backup {
	e.t.Helper()
	var l cairnv1.BackupList
	if err := e.c.List(e.ctx, &l, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]cairnv1.Backup{}
	for _, b := range l.Items {
		out[b.Name] = b
	}
	return out
}

// configMap creates a config map to back up.
func (e *env) configMap(name string) {
	e.t.Helper()
	e.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Data: map[string]string{"k": "v"}})
}

func ttl(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// runController runs the controller process's manager (controller.Run:
// watches, operations, leader-only runnables) on the test's namespace
// until the test ends.
func (e *env) runController(o controller.Options) {
	e.t.Helper()
	o.Namespace = e.ns
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, e.cfg.Config, controller.ManagerOptions{
			Options: o, MetricsAddr: "0", ProbeAddr: "0", Log: logr.Discard(), SeveralInProcess: true,
		})
	}()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("controller: %v", err)
		}
	})
}

// waitUntil polls ok every 100 ms for up to d, failing the test after.
func (e *env) waitUntil(what string, d time.Duration, ok func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
