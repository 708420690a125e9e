package restore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

const waitFor = 90 * time.Second

// env is one test's view of the shared cluster and its own repository.
type env struct {
	t   *testing.T
	ctx context.Context
	c   *kubetest.Cluster
	cs  *kubernetes.Clientset
	dyn *dynamic.DynamicClient
	r   *repo.Repository
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	r, err := repo.Init(ctx, mem.New(), []byte("test passphrase"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, c: c, cs: c.Clientset(t), dyn: dyn, r: r}
}

// suffix is a random name part, to keep cluster-scoped names apart.
func suffix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// backup backs up the namespaces (and what they need) with the real
// backup engine.
func (e *env) backup(name string, namespaces ...string) *snapshot.Snapshot {
	e.t.Helper()
	sn, m, err := backup.Run(e.ctx, e.r, e.c.Config, backup.Options{Name: name, IncludeNamespaces: namespaces})
	if err != nil {
		e.t.Fatalf("backup %s: %v", name, err)
	}
	e.t.Logf("backup %s: %d objects (%v)", name, m.Items, m.CountsByNamespace)
	return sn
}

// restore runs a restore and fails the test on an error other than
// allowed.
func (e *env) restore(sn *snapshot.Snapshot, o restore.Options, allowed error) *restore.Report {
	e.t.Helper()
	rep, err := restore.Run(e.ctx, e.r, sn, e.c.Config, o)
	if err != nil && (allowed == nil || !errors.Is(err, allowed)) {
		e.t.Fatalf("restore: %v", err)
	}
	if rep == nil {
		e.t.Fatal("restore: no report")
	}
	for _, it := range rep.Items {
		e.t.Logf("%-12s %s %s/%s %s %v", it.Action, it.Kind, it.Namespace, it.Name, it.Reason, it.Warnings)
	}
	for _, w := range rep.Warnings {
		e.t.Logf("warning: %s", w)
	}
	return rep
}

// item returns the report's item for an object, failing if absent.
func item(t *testing.T, rep *restore.Report, kind, ns, name string) restore.Item {
	t.Helper()
	for _, it := range rep.Items {
		if it.Kind == kind && it.Namespace == ns && it.Name == name {
			return it
		}
	}
	t.Fatalf("report has no item for %s %s/%s", kind, ns, name)
	return restore.Item{}
}

// noItem fails if the report mentions the object.
func noItem(t *testing.T, rep *restore.Report, kind, ns, name string) {
	t.Helper()
	for _, it := range rep.Items {
		if it.Kind == kind && it.Namespace == ns && it.Name == name {
			t.Fatalf("report has an item for %s %s/%s: %+v", kind, ns, name, it)
		}
	}
}

func wantAction(t *testing.T, it restore.Item, action restore.Action, reason string) {
	t.Helper()
	if it.Action != action || (reason != "" && !strings.Contains(it.Reason, reason)) {
		t.Fatalf("%s %s/%s: got %s %q, want %s %q", it.Kind, it.Namespace, it.Name, it.Action, it.Reason, action, reason)
	}
}

// eventually polls fn until it returns nil or the wait is over.
func (e *env) eventually(what string, fn func() error) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// namespace creates a namespace for the test; it is deleted at the end.
func (e *env) namespace(prefix string) string {
	e.t.Helper()
	name := prefix + "-" + suffix()
	if _, err := e.cs.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.cleanupNamespace(name)
	return name
}

func (e *env) cleanupNamespace(name string) {
	e.t.Cleanup(func() {
		_ = e.cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// deleteNamespace deletes a namespace and waits until it is gone (the
// controller manager empties it first).
func (e *env) deleteNamespace(name string) {
	e.t.Helper()
	if err := e.cs.CoreV1().Namespaces().Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.eventually("namespace "+name+" gone", func() error {
		_, err := e.cs.CoreV1().Namespaces().Get(e.ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// deleteCluster deletes a cluster-scoped object and waits until it is gone.
func (e *env) deleteCluster(gvr schema.GroupVersionResource, name string) {
	e.t.Helper()
	ri := e.dyn.Resource(gvr)
	if err := ri.Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	e.eventually(gvr.Resource+" "+name+" gone", func() error {
		_, err := ri.Get(e.ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// rewriteObject saves a copy of sn in which the object at path (a layout
// path) is changed by edit; it returns the new snapshot.
func (e *env) rewriteObject(sn *snapshot.Snapshot, path string, edit func(obj map[string]any)) *snapshot.Snapshot {
	e.t.Helper()
	parts := strings.Split(path, "/")
	root, err := e.rewriteTree(sn.Tree, parts, edit)
	if err != nil {
		e.t.Fatalf("rewrite %s: %v", path, err)
	}
	if err := e.r.Flush(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	cp := *sn
	cp.Tree, cp.ID, cp.Parent = root, "", sn.ID
	cp.Labels = map[string]string{}
	for k, v := range sn.Labels {
		cp.Labels[k] = v
	}
	cp.Labels["cairn.dev/backup"] += "-edited"
	if err := snapshot.Save(e.ctx, e.r, &cp); err != nil {
		e.t.Fatal(err)
	}
	return &cp
}

func (e *env) rewriteTree(id blob.ID, parts []string, edit func(map[string]any)) (blob.ID, error) {
	tree, err := snapshot.LoadTree(e.ctx, e.r, id)
	if err != nil {
		return blob.ID{}, err
	}
	n := tree.Find(parts[0])
	if n == nil {
		return blob.ID{}, fmt.Errorf("%s not found", parts[0])
	}
	if len(parts) > 1 {
		sub, err := e.rewriteTree(*n.Subtree, parts[1:], edit)
		if err != nil {
			return blob.ID{}, err
		}
		n.Subtree = &sub
	} else {
		var data []byte
		for _, c := range n.Content {
			b, err := e.r.LoadBlob(e.ctx, blob.Data, c, nil)
			if err != nil {
				return blob.ID{}, err
			}
			data = append(data, b...)
		}
		var obj map[string]any
		if err := json.Unmarshal(data, &obj); err != nil {
			return blob.ID{}, err
		}
		edit(obj)
		if data, err = json.Marshal(obj); err != nil {
			return blob.ID{}, err
		}
		c, _, err := e.r.SaveBlob(e.ctx, blob.Data, data)
		if err != nil {
			return blob.ID{}, err
		}
		n.Content, n.Size = []blob.ID{c}, uint64(len(data))
	}
	return snapshot.SaveTree(e.ctx, e.r, tree)
}

func ptr[T any](v T) *T { return &v }
