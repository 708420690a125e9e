//go:build !fsonly

package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cli/clustercmd"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// TestClusterBackupCommands runs backup run/get/describe/ls against a real
// API server, with the exit codes of the README: 0, 2 for bad input, 3
// for a partial backup.
func TestClusterBackupCommands(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Clientset(t)
	ns := c.Namespace(t)
	for _, name := range []string{"app", "other"} {
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)

	r := cairn(t, e, "backup", "run", "nightly", "--no-progress").must(t, 0)
	if !strings.Contains(r.stdout, "backup nightly") || !strings.Contains(r.stdout, "Completed") {
		t.Errorf("backup run output:\n%s", r.stdout)
	}
	cairn(t, e, "backup", "run", "nightly").must(t, 2) // the name exists
	cairn(t, e, "backup", "run", "Bad_Name").must(t, 2)
	cairn(t, e, "backup", "run", "x", "--selector", "a in (b").must(t, 2)
	cairn(t, e, "backup", "run", "x", "--kubeconfig", "/nonexistent").must(t, 2)

	var views []clustercmd.BackupView
	r = cairn(t, e, "backup", "get", "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 1 {
		t.Fatalf("backup get -o json: %v\n%s", err, r.stdout)
	}
	if v := views[0]; v.Name != "nightly" || v.Phase != "Completed" || v.Items < 3 || v.Expires == nil || v.Size == 0 {
		t.Errorf("backup get: %+v", v)
	}
	r = cairn(t, e, "backup", "get").must(t, 0)
	if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "nightly") {
		t.Errorf("backup get table:\n%s", r.stdout)
	}

	r = cairn(t, e, "backup", "describe", "nightly", "--details").must(t, 0)
	for _, want := range []string{"Phase:", "Completed", "Objects by type:", "configmaps", "Namespace " + ns + ":", "Errors: 0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe does not show %q:\n%s", want, r.stdout)
		}
	}
	var d clustercmd.Description
	r = cairn(t, e, "backup", "describe", "nightly", "-o", "json", "--details").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	if d.Details[ns]["configmaps"] < 2 || d.ByNamespace[ns] < 3 || d.ByType["secrets"] < 1 {
		t.Errorf("describe -o json: %+v", d)
	}
	cairn(t, e, "backup", "describe", "nope").must(t, 2)

	r = cairn(t, e, "backup", "ls", "nightly", "resources/core/configmaps/namespaces/"+ns).must(t, 0)
	if !strings.Contains(r.stdout, "resources/core/configmaps/namespaces/"+ns+"/app.json") {
		t.Errorf("backup ls:\n%s", r.stdout)
	}
	r = cairn(t, e, "backup", "ls", "nightly").must(t, 0)
	if !strings.Contains(r.stdout, "manifest.json") {
		t.Errorf("backup ls of the root:\n%s", r.stdout)
	}
	cairn(t, e, "backup", "ls", "nightly", "no/such/path").must(t, 2)

	// A user who may list config maps but not secrets: partial, exit 3.
	user := "reader"
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps", "namespaces"}, Verbs: []string{"list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = cairn(t, e.with("KUBECONFIG", c.UserKubeconfig(t, user)), "backup", "run", "limited", "--include-namespaces", ns,
		"--include-resources", "configmaps,secrets", "--no-progress").must(t, 3)
	if !strings.Contains(r.stderr, "forbidden: cannot list secrets in namespace "+ns) || !strings.Contains(r.stdout, "PartiallyFailed") {
		t.Errorf("partial backup:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
