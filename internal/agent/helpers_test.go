package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/agent"
	"github.com/cairn-backup/cairn/internal/agentlease"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/mkdata"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// One control plane and one real node for the package's tests; each test
// has its own controller namespace, repository and agent.
// With childRole set, the binary is an agent or a controller of a kill
// test (procs_test.go) instead.
func TestMain(m *testing.M) {
	if role := os.Getenv(childRole); role != "" {
		os.Exit(runChild(role))
	}
	kubetest.Main(m, kubetest.WithNode())
}

var crdsOnce sync.Once

// env is a test's cluster, node, controller namespace (with a default
// BackupLocation on a local repository) and reconcilers.
type env struct {
	c       *kubetest.Cluster
	n       *kubetest.Node
	cl      client.Client
	cs      kubernetes.Interface
	ns      string // the controller's namespace
	repoDir string
	rs      *controller.Reconcilers
}

func newEnv(ctx context.Context, t *testing.T) *env {
	t.Helper()
	c := kubetest.Shared(t)
	if c.Node == nil {
		t.Fatal("the shared cluster has no node")
	}
	var crdErr error
	crdsOnce.Do(func() {
		crds, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
			Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true})
		if err == nil && len(crds) == 0 {
			err = os.ErrNotExist
		}
		crdErr = err
	})
	must(t, crdErr)
	scheme, err := controller.Scheme()
	must(t, err)
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	must(t, err)
	e := &env{c: c, n: c.Node, cl: cl, cs: c.Clientset(t), ns: c.Namespace(t)}
	location(ctx, t, cl, e.ns)
	// location made its repository in a temp dir of its own: find it.
	var loc cairnv1.BackupLocation
	must(t, cl.Get(ctx, types.NamespacedName{Namespace: e.ns, Name: "default"}, &loc))
	e.repoDir = loc.Spec.Repository
	e.rs = controller.New(cl, cl, controller.Options{Namespace: e.ns, Cluster: c.Config, VolumeTimeout: 2 * time.Minute, Recheck: 250 * time.Millisecond, RestoreWaitImage: kubetest.BusyboxImage})
	return e
}

// startAgent runs the agent, as its DaemonSet pod would, on the node; the
// returned stop cancels its manager (the agent "killed") and waits for it.
func (e *env) startAgent(ctx context.Context, t *testing.T) (stop func()) {
	t.Helper()
	scheme, err := controller.Scheme()
	must(t, err)
	mgr, err := ctrl.NewManager(e.c.Config, ctrl.Options{
		Scheme: scheme, Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{e.ns: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		// Several agents run in this process, one after the other.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	must(t, err)
	must(t, agent.Setup(mgr, agent.Options{Node: e.n.Name, Namespace: e.ns, Root: e.n.PodsDir, ProgressInterval: 100 * time.Millisecond, ReleaseInterval: time.Second}))
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Logf("agent manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	// The controller plans volumes only for nodes whose agent holds a
	// fresh lease.
	waitFor(ctx, t, 30*time.Second, "the agent's lease", func() bool {
		nodes, err := agentlease.Nodes(ctx, e.cl, e.ns, time.Now())
		return err == nil && nodes[e.n.Name]
	})
	return stop
}

// appNamespace creates a namespace for the application, deleted when the
// test ends.
func (e *env) appNamespace(ctx context.Context, t *testing.T) string {
	t.Helper()
	ns := "app-" + rand.String(6)
	_, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = e.cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return ns
}

// localVolume creates a local PV for the existing folder dir and its
// claim name in ns (both removed when the test ends; the folder stays).
func (e *env) localVolume(ctx context.Context, t *testing.T, ns, name, dir string) kubetest.LocalVolume {
	t.Helper()
	v, err := e.n.CreateLocalVolume(ctx, ns, name, dir, "1Gi")
	must(t, err)
	t.Cleanup(func() {
		_ = e.cs.CoreV1().PersistentVolumes().Delete(context.Background(), v.PV, metav1.DeleteOptions{})
	})
	return v
}

// pvcVolume and emptyDir are pod volumes.
func pvcVolume(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// runPod creates a bare pod that mounts vols at /v/<name>, writes
// "<pod>/<name>" into v/<name>/from-pod.txt of each, and sleeps; it
// returns the pod once it runs and the files are written.
func (e *env) runPod(ctx context.Context, t *testing.T, ns, name string, annotations map[string]string, vols ...corev1.Volume) *corev1.Pod {
	t.Helper()
	var mounts []corev1.VolumeMount
	var script []string
	for _, v := range vols {
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: "/v/" + v.Name})
		script = append(script, "echo "+name+"/"+v.Name+" > /v/"+v.Name+"/from-"+name+".txt")
	}
	script = append(script, "sync", "touch /tmp/ready", "exec sleep 3600")
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations, Labels: map[string]string{"test": "agent"}},
		Spec: corev1.PodSpec{
			HostNetwork: true, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", strings.Join(script, "; ")}, VolumeMounts: mounts,
			}},
			Volumes: vols,
		},
	}
	_, err := e.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	must(t, err)
	var got *corev1.Pod
	waitFor(ctx, t, 2*time.Minute, "pod "+ns+"/"+name+" to run", func() bool {
		p, err := e.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return false
		}
		got = p
		return true
	})
	for _, v := range vols {
		if v.EmptyDir == nil {
			continue
		}
		f := filepath.Join(e.n.VolumeDir(got.UID, kubetest.PluginEmptyDir, v.Name), "from-"+name+".txt")
		waitFor(ctx, t, 30*time.Second, f, func() bool { return read(f) != "" })
	}
	return got
}

// backup creates a Backup of namespaces and runs the controller's reconcile
// until it finished; it returns the Backup and its PodVolumeBackups by
// "<pod>/<volume>".
func (e *env) backup(ctx context.Context, t *testing.T, name string, defaultVolumes *bool, namespaces ...string) (*cairnv1.Backup, map[string]cairnv1.PodVolumeBackup) {
	t.Helper()
	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: namespaces, DefaultVolumesToBackup: defaultVolumes}}
	must(t, e.cl.Create(ctx, b))
	for i := 0; i < 4; i++ {
		reconcile(ctx, t, e.rs.Backup, e.ns, name)
		must(t, e.cl.Get(ctx, types.NamespacedName{Namespace: e.ns, Name: name}, b))
		if b.Status.Phase.Finished() {
			break
		}
	}
	var list cairnv1.PodVolumeBackupList
	must(t, e.cl.List(ctx, &list, client.InNamespace(e.ns), client.MatchingLabels{cairnv1.LabelBackup: name}))
	out := map[string]cairnv1.PodVolumeBackup{}
	for _, p := range list.Items {
		key := p.Spec.Pod.Name + "/" + p.Spec.Volume
		if _, dup := out[key]; dup {
			t.Errorf("backup %s: two PodVolumeBackups for %s", name, key)
		}
		out[key] = p
	}
	return b, out
}

// keys returns m's keys, sorted.
func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// openRepo opens the test's repository (closed when the test ends).
func (e *env) openRepo(ctx context.Context, t *testing.T) *repo.Repository {
	t.Helper()
	s, err := local.New(e.repoDir)
	must(t, err)
	r, err := repo.Open(ctx, s, []byte(passphrase), repo.Options{})
	must(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// loadSnapshot loads snapshot id from the test's repository.
func (e *env) loadSnapshot(ctx context.Context, t *testing.T, id string) *snapshot.Snapshot {
	t.Helper()
	sn, err := snapshot.Load(ctx, e.openRepo(ctx, t), id)
	must(t, err)
	return sn
}

// checkRepo runs the repository check, reading all data.
func (e *env) checkRepo(ctx context.Context, t *testing.T) *check.Report {
	t.Helper()
	rep, err := check.Run(ctx, e.openRepo(ctx, t), check.Options{ReadData: true})
	if err != nil {
		t.Fatalf("check: %v (%+v)", err, rep)
	}
	return rep
}

// waitItem waits until the work item obj (a PodVolumeBackup or
// PodVolumeRestore) satisfies ok.
func waitItem[T client.Object](ctx context.Context, t *testing.T, cl client.Client, obj T, d time.Duration, what string, ok func(T) bool) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	waitFor(ctx, t, d, what, func() bool {
		return cl.Get(ctx, key, obj) == nil && ok(obj)
	})
}

// generate makes the benchmark dataset (package mkdata, seed 1) of about
// sizeMiB MiB in dir.
func generate(t *testing.T, dir string, sizeMiB int) {
	t.Helper()
	if err := mkdata.Generate(dir, sizeMiB, 1); err != nil {
		t.Fatal(err)
	}
}
