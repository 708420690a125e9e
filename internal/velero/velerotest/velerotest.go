package velerotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// Namespace is the Velero server's namespace.
const Namespace = "velero"

// LocationName is the BackupStorageLocation the server uses.
const LocationName = "default"

var (
	crdGVR     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	bslGVR     = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backupstoragelocations"}
	backupGVR  = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backups"}
	restoreGVR = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "restores"}
	deployGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	nsGVR      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// Server is a running velero server.
type Server struct {
	t      testing.TB
	dyn    dynamic.Interface
	Bucket string
	Prefix string
	out    *syncBuffer
	stop   func()

	velero, creds, kubeconfig, s3 string // for StartNodeAgent
	agentLog                      *syncBuffer
	podsPatched                   func() int64
}

// Option changes how Start sets Velero up.
type Option func(*options)

type options struct{ readOnly bool }

// ReadOnly makes the backup storage location ReadOnly, as on a cluster
// that restores another's backups: Velero syncs the Backups from it and
// writes no backup there.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// Start installs Velero's CRDs into c, creates the backup storage location
// s3://bucket/prefix on srv (the bucket must exist), starts `velero
// server` and waits until the location is Available. The server is
// stopped when t ends.
func Start(t testing.TB, c *kubetest.Cluster, srv *s3test.Server, bucket, prefix string, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	velero := kubetest.Tool(t, "velero")
	plugin := kubetest.Tool(t, "velero-plugin-for-aws")
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	out, err := exec.Command(velero, "version", "--client-only").Output()
	if err != nil {
		t.Fatalf("velero version: %v", err)
	}
	version := "latest"
	if _, v, ok := strings.Cut(string(out), "Version: "); ok {
		version = strings.Fields(v)[0]
	}

	// The CRDs, as `velero install` would create them.
	out, err = exec.Command(velero, "install", "--crds-only", "--dry-run", "-o", "json").Output()
	if err != nil {
		t.Fatalf("velero install --crds-only: %v", err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("velero install --crds-only output: %v", err)
	}
	var names []string
	for _, it := range list.Items {
		u := &unstructured.Unstructured{Object: it}
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	if len(names) == 0 {
		t.Fatal("velero install --crds-only printed no CRDs")
	}
	// What Start adds to the cluster goes when the test ends (after the
	// server stopped): a shared control plane is left as it was, bar a
	// namespace that may still be terminating.
	t.Cleanup(func() {
		bg := context.Background()
		for _, n := range names {
			_ = dyn.Resource(crdGVR).Delete(bg, n, metav1.DeleteOptions{})
		}
		_ = dyn.Resource(deployGVR).Namespace(Namespace).Delete(bg, "velero", metav1.DeleteOptions{})
		_ = dyn.Resource(nsGVR).Delete(bg, Namespace, metav1.DeleteOptions{})
	})
	eventually(t, 60*time.Second, "Velero's CRDs served", func() error {
		_, err := dyn.Resource(bslGVR).Namespace(Namespace).List(ctx, metav1.ListOptions{})
		return err
	})

	if _, err := dyn.Resource(nsGVR).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": Namespace},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Velero's restore of a pod with volumes reads the image of its own
	// Deployment (for the restore helper); out of cluster there is none,
	// so there is one that runs nothing.
	if _, err := dyn.Resource(deployGVR).Namespace(Namespace).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "velero", "namespace": Namespace},
		"spec": map[string]any{
			"replicas": int64(0),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "velero"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "velero"}},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "velero", "image": "velero/velero:" + version}}}},
		},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{
		"provider": "aws", "default": true,
		"objectStorage": map[string]any{"bucket": bucket, "prefix": prefix},
		"config":        map[string]any{"region": s3test.Region, "s3ForcePathStyle": "true", "s3Url": srv.Endpoint},
	}
	if o.readOnly {
		spec["accessMode"] = "ReadOnly"
	}
	if _, err := dyn.Resource(bslGVR).Namespace(Namespace).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
		"metadata": map[string]any{"name": LocationName, "namespace": Namespace},
		"spec":     spec,
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The plugin directory holds the AWS object store plugin only.
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plugin, filepath.Join(plugins, "velero-plugin-for-aws")); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "aws-credentials")
	if err := os.WriteFile(creds, fmt.Appendf(nil, "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n",
		s3test.AccessKey, s3test.SecretKey), 0o600); err != nil {
		t.Fatal(err)
	}
	// Port 8080 (velero's controller manager metrics, which no flag
	// moves) is taken in turns by the test processes of this machine
	// (`go test ./...` runs packages at once): a lock file held while the
	// server runs.
	release := portTurn(t)
	if l, err := net.Listen("tcp", ":8080"); err != nil {
		release()
		t.Fatalf("velero server needs port 8080 (its controller manager's metrics, which no flag moves): %v", err)
	} else {
		l.Close()
	}
	metrics, profiler := freeAddr(t), freeAddr(t)
	cmd := exec.Command(velero, "server",
		"--kubeconfig", c.Kubeconfig, "--namespace", Namespace,
		"--plugin-dir", plugins,
		"--metrics-address", metrics, "--profiler-address", profiler,
		"--store-validation-frequency", "5s",
		"--backup-sync-period", "5s",
		"--log-level", "info",
	)
	s := &Server{t: t, dyn: dyn, Bucket: bucket, Prefix: prefix, out: &syncBuffer{},
		velero: velero, creds: creds, kubeconfig: c.Kubeconfig, s3: srv.Endpoint}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.Dir = dir
	// The plugin, a child of the server, reads the credentials from the
	// environment; nothing else of the developer's may change the server.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir,
		"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_EC2_METADATA_DISABLED=true",
	}
	if err := cmd.Start(); err != nil {
		release()
		t.Fatalf("start velero server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
			exited <- nil
			release()
			if t.Failed() {
				t.Logf("velero server output (tail):\n%s", tail(s.out.String(), 60))
			}
		})
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("velero server exited: %v\n%s", err, tail(s.out.String(), 40))
		default:
		}
		bsl, err := dyn.Resource(bslGVR).Namespace(Namespace).Get(ctx, LocationName, metav1.GetOptions{})
		if err == nil {
			if phase, _, _ := unstructured.NestedString(bsl.Object, "status", "phase"); phase == "Available" {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup storage location not Available after 3 min (%v)\n%s", err, tail(s.out.String(), 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Backup creates a Velero Backup with spec and waits until it finished;
// it returns the Backup as the API server has it then.
func (s *Server) Backup(name string, spec map[string]any) *unstructured.Unstructured {
	s.t.Helper()
	if spec == nil {
		spec = map[string]any{}
	}
	spec["storageLocation"] = LocationName
	return s.run(backupGVR, "Backup", name, spec)
}

// Stop stops the server (also done when the test ends): one server at a
// time can hold port 8080.
func (s *Server) Stop() { s.stop() }

// Restore waits until Velero synced the backup from the location (on a
// cluster that did not make it), creates a Velero Restore of it with spec
// and waits until it finished; it returns the Restore.
func (s *Server) Restore(name, backupName string, spec map[string]any) *unstructured.Unstructured {
	s.t.Helper()
	ctx := context.Background()
	eventually(s.t, 2*time.Minute, "velero backup "+backupName+" synced", func() error {
		_, err := s.dyn.Resource(backupGVR).Namespace(Namespace).Get(ctx, backupName, metav1.GetOptions{})
		return err
	})
	if spec == nil {
		spec = map[string]any{}
	}
	spec["backupName"] = backupName
	return s.run(restoreGVR, "Restore", name, spec)
}

// run creates the Velero object kind name with spec and waits, up to 4
// minutes, until its phase is final; it returns it as the API server has
// it then.
func (s *Server) run(gvr schema.GroupVersionResource, kind, name string, spec map[string]any) *unstructured.Unstructured {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.dyn.Resource(gvr).Namespace(Namespace).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "velero.io/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": Namespace},
		"spec":     spec,
	}}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		o, err := s.dyn.Resource(gvr).Namespace(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			switch phase, _, _ := unstructured.NestedString(o.Object, "status", "phase"); phase {
			case "Completed", "PartiallyFailed", "Failed", "FailedValidation":
				return o
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("velero %s %s not finished after 4 min (%v)\n%s", strings.ToLower(kind), name, err, tail(s.out.String(), 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Log returns what the server printed so far.
func (s *Server) Log() string { return s.out.String() }

func eventually(t testing.TB, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 4<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// portTurn waits, up to 10 minutes, for this machine's turn at port 8080
// (an exclusive flock on a file in the temporary directory, released if
// the process dies) and returns the function that gives it up.
func portTurn(t testing.TB) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "cairn-velerotest-8080.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			t.Fatalf("lock for port 8080: %v", err)
		}
	case <-time.After(10 * time.Minute):
		f.Close()
		t.Fatal("another test process held port 8080 (velero server) for 10 minutes")
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }
}
