package backup_test

import (
	"errors"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// TestForbiddenSecrets: a user who may list everything but secrets gets a
// backup of everything else, PartiallyFailed, with the reason.
func TestForbiddenSecrets(t *testing.T) {
	e := newEnv(t)
	ns := e.c.Namespace(t)
	e.configMap(ns, "visible", nil)
	e.secret(ns, "hidden", "Opaque", nil)
	user := "limited-" + suffix(ns)
	core := []string{"configmaps", "namespaces", "persistentvolumeclaims", "persistentvolumes", "pods", "services",
		"serviceaccounts", "endpoints", "limitranges", "resourcequotas", "replicationcontrollers", "podtemplates"}
	e.clusterRole(user, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: core, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps", "batch", "rbac.authorization.k8s.io", "storage.k8s.io", "apiextensions.k8s.io",
			"networking.k8s.io", "policy", "autoscaling", "discovery.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
	})
	_, err := e.cs.RbacV1().ClusterRoleBindings().Create(e.ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: user}},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
	}, metav1.CreateOptions{})
	e.must(err)
	t.Cleanup(func() { _ = e.cs.RbacV1().ClusterRoleBindings().Delete(e.ctx, user, metav1.DeleteOptions{}) })

	sn, m, err := e.run(e.c.UserConfig(t, user), backup.Options{Name: "limited", IncludeNamespaces: []string{ns}})
	if !errors.Is(err, backup.ErrPartial) {
		t.Fatalf("backup by a user who cannot list secrets: %v, want ErrPartial", err)
	}
	if sn == nil || m == nil {
		t.Fatal("no snapshot saved for a partial backup")
	}
	if m.Phase != layout.PhasePartiallyFailed {
		t.Errorf("phase %s, want %s", m.Phase, layout.PhasePartiallyFailed)
	}
	found := false
	for _, msg := range m.Errors {
		if strings.HasPrefix(msg, "forbidden: cannot list secrets in namespace "+ns+": ") && strings.Contains(msg, user) {
			found = true
		}
	}
	if !found {
		t.Errorf("errors do not say that secrets in %s are forbidden: %q", ns, m.Errors)
	}
	if !strings.Contains(err.Error(), "secrets") {
		t.Errorf("error %q does not name secrets", err)
	}
	e.has(sn, true, "", "configmaps", ns, "visible")
	e.has(sn, false, "", "secrets", ns, "hidden")
	stored, err := backup.LoadManifest(e.ctx, e.r, sn)
	if err != nil || stored.Phase != layout.PhasePartiallyFailed || len(stored.Errors) == 0 {
		t.Errorf("stored manifest: %+v, %v", stored, err)
	}
}
