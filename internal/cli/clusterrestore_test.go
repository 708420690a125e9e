//go:build !fsonly

package cli

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	clusterrestore "github.com/cairn-backup/cairn/internal/cluster/restore"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestClusterRestore drives `cairn restore run` against a real API server:
// a restore into emptied namespaces (exit 0, table), the same again
// (skipped, exists: same), JSON output, a dry run, and a restore in which
// one namespace's objects fail (exit 3) or all fail (exit 1).
func TestClusterRestore(t *testing.T) {
	c := kubetest.Start(t, kubetest.WithControllerManager())
	cs := c.Clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	for _, ns := range []string{"shop", "blog"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	clusterBackup(ctx, t, e, c, "nightly")
	for _, ns := range []string{"shop", "blog"} {
		deleteNamespaceAndWait(ctx, t, cs, ns)
	}

	r := cairn(t, e, "restore", "run", "first", "--from-backup", "nightly", "--no-progress").must(t, 0)
	for _, want := range []string{"KIND", "ConfigMap  shop", "created", "restore first from backup nightly: Completed"} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), strings.Join(strings.Fields(want), " ")) {
			t.Fatalf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	cm, err := cs.CoreV1().ConfigMaps("shop").Get(ctx, "settings", metav1.GetOptions{})
	if err != nil || cm.Labels[clusterrestore.LabelRestore] != "first" || cm.Labels[clusterrestore.LabelBackup] != "nightly" {
		t.Fatalf("restored config map: %v %v", cm.Labels, err)
	}

	r = cairn(t, e, "restore", "create", "--from-backup", "nightly", "-o", "json").must(t, 0)
	var rep clusterrestore.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, r.stdout)
	}
	if rep.Totals.Created != 0 || rep.Totals.Skipped == 0 || rep.Phase != "Completed" {
		t.Fatalf("second restore: %+v", rep.Totals)
	}
	for _, it := range rep.Items {
		if it.Kind == "ConfigMap" && it.Name == "settings" && it.Reason != clusterrestore.ReasonExistsSame {
			t.Fatalf("second restore of %s/%s: %s %q", it.Namespace, it.Name, it.Action, it.Reason)
		}
	}

	r = cairn(t, e, "restore", "run", "--from-backup", "nightly", "--dry-run", "--namespace-mapping", "shop=shop-copy", "--include-namespaces", "shop").must(t, 0)
	if !strings.Contains(r.stdout, "would-create") {
		t.Fatalf("dry run:\n%s", r.stdout)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "shop-copy", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run created a namespace (%v)", err)
	}

	// A namespace name the API server rejects: its objects fail, the
	// others are restored (3); when that is all, nothing is restored (1).
	r = cairn(t, e, "restore", "run", "--from-backup", "nightly", "--namespace-mapping", "shop=Not_Valid,blog=blog-copy", "--no-progress").must(t, 3)
	if !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stderr, "partially failed") {
		t.Fatalf("partial restore:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	cairn(t, e, "restore", "run", "--from-backup", "nightly", "--namespace-mapping", "shop=Not_Valid", "--include-namespaces", "shop", "--no-progress").must(t, 1)

	// Bad input.
	cairn(t, e, "restore", "run", "--from-backup", "nightly", "--namespace-mapping", "shop").must(t, 2)
	cairn(t, e, "restore", "run", "--from-backup", "nightly", "--existing-resource-policy", "overwrite").must(t, 2)
	cairn(t, e, "restore", "run", "--from-backup", "nope").must(t, 2)
	cairn(t, e, "restore", "run").must(t, 2)
}

// clusterBackup backs up the cluster's user namespaces with the backup
// engine into the repository of e.
func clusterBackup(ctx context.Context, t *testing.T, e env, c *kubetest.Cluster, name string) {
	t.Helper()
	st, err := local.New(e["CAIRN_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	pass, err := os.ReadFile(e["CAIRN_PASSWORD_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, st, []byte(strings.TrimSpace(string(pass))), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, err := backup.Run(ctx, r, c.Config, backup.Options{Name: name}); err != nil {
		t.Fatal(err)
	}
}

func deleteNamespaceAndWait(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns string) {
	t.Helper()
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("namespace %s not deleted: %v", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
