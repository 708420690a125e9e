package backup_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// TestRoundTrip backs up one namespace with every kind the demo uses and
// checks each object at its layout path, plus the cluster-scoped objects
// the namespace needs, and nothing it does not.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	ns := e.c.Namespace(t)
	sfx := suffix(ns)
	ctx := e.ctx
	e.configMap(ns, "app-config", nil)
	e.secret(ns, "app-secret", corev1.SecretTypeOpaque, nil)
	_, err := e.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta("app", nil)}, metav1.CreateOptions{})
	e.must(err)
	e.secret(ns, "app-token", corev1.SecretTypeServiceAccountToken, map[string]string{"kubernetes.io/service-account.name": "app"})
	_, err = e.cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta("reader", nil),
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
	e.must(err)
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app", Namespace: ns}}
	_, err = e.cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta("reader", nil), Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"}}, metav1.CreateOptions{})
	e.must(err)
	needed, unneeded := "needed-"+sfx, "unneeded-"+sfx
	e.clusterRole(needed, nil)
	e.clusterRole(unneeded, nil)
	_, err = e.cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta("via-clusterrole", nil), Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: needed}}, metav1.CreateOptions{})
	e.must(err)
	crb := "crb-" + sfx
	_, err = e.cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta(crb, nil), Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: needed}}, metav1.CreateOptions{})
	e.must(err)
	t.Cleanup(func() {
		_ = e.cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb, metav1.DeleteOptions{})
	})
	replicas := int32(1)
	labels := map[string]string{"app": "web"}
	_, err = e.cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta("web", nil), Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: meta("", labels), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}},
	}}, metav1.CreateOptions{})
	e.must(err)
	_, err = e.cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: meta("web", nil), Spec: corev1.ServiceSpec{
		Selector: labels, Ports: []corev1.ServicePort{{Port: 80}},
	}}, metav1.CreateOptions{})
	e.must(err)
	pv, class := e.volume(ns, "data", sfx)
	otherPV, _ := e.volume(e.c.Namespace(t), "other", sfx+"x")
	group := sfx + ".example.com"
	gvr := e.crd(group)
	e.widget(gvr, ns, "gadget", nil)
	_ = e.crd("unused" + sfx + ".example.com")

	sn, m, err := e.run(nil, backup.Options{Name: "round-trip", IncludeNamespaces: []string{ns}, TTL: 720 * time.Hour})
	if err != nil {
		t.Fatalf("backup: %v (errors %v)", err, m.Errors)
	}
	if m.Phase != layout.PhaseCompleted || m.Items == 0 || m.ClusterVersion == "" || m.Cluster != e.c.Config.Host {
		t.Errorf("manifest: phase %s, items %d, version %q, cluster %q", m.Phase, m.Items, m.ClusterVersion, m.Cluster)
	}
	if sn.Labels[layout.LabelKind] != layout.KindCluster || sn.Labels[layout.LabelBackup] != "round-trip" ||
		!slices.Equal(sn.Tags, []string{"cluster"}) || sn.Paths[0] != "k8s:"+e.c.Config.Host || sn.Expires == nil {
		t.Errorf("snapshot metadata: %+v", sn)
	}
	if exp := sn.Time.Add(720 * time.Hour); !sn.Expires.Equal(exp) {
		t.Errorf("expires %v, want %v", sn.Expires, exp)
	}

	cm := e.has(sn, true, "", "configmaps", ns, "app-config")
	if cm != nil {
		if cm.GetAPIVersion() != "v1" || cm.GetKind() != "ConfigMap" || cm.Object["data"].(map[string]any)["k"] != "v-app-config" {
			t.Errorf("config map stored as %v", cm.Object)
		}
	}
	if s := e.has(sn, true, "", "secrets", ns, "app-secret"); s != nil && s.Object["data"].(map[string]any)["password"] == nil {
		t.Errorf("secret data missing: %v", s.Object)
	}
	e.has(sn, false, "", "secrets", ns, "app-token")
	e.has(sn, true, "", "serviceaccounts", ns, "app")
	e.has(sn, true, "rbac.authorization.k8s.io", "roles", ns, "reader")
	e.has(sn, true, "rbac.authorization.k8s.io", "rolebindings", ns, "reader")
	e.has(sn, true, "rbac.authorization.k8s.io", "rolebindings", ns, "via-clusterrole")
	e.has(sn, true, "rbac.authorization.k8s.io", "clusterroles", "", needed)
	e.has(sn, false, "rbac.authorization.k8s.io", "clusterroles", "", unneeded)
	e.has(sn, true, "rbac.authorization.k8s.io", "clusterrolebindings", "", crb)
	if d := e.has(sn, true, "apps", "deployments", ns, "web"); d != nil && d.GetAPIVersion() != "apps/v1" {
		t.Errorf("deployment apiVersion %q", d.GetAPIVersion())
	}
	e.has(sn, true, "", "services", ns, "web")
	e.has(sn, true, "", "persistentvolumeclaims", ns, "data")
	e.has(sn, true, "", "persistentvolumes", "", pv)
	e.has(sn, false, "", "persistentvolumes", "", otherPV)
	e.has(sn, true, "storage.k8s.io", "storageclasses", "", class)
	e.has(sn, true, "", "namespaces", "", ns)
	e.has(sn, false, "", "namespaces", "", "kube-system")
	if w := e.has(sn, true, group, "widgets", ns, "gadget"); w != nil && (w.GetKind() != "Widget" || w.Object["spec"].(map[string]any)["size"] != float64(3)) {
		t.Errorf("custom resource stored as %v", w.Object)
	}
	e.has(sn, true, "apiextensions.k8s.io", "customresourcedefinitions", "", "widgets."+group)
	e.has(sn, false, "apiextensions.k8s.io", "customresourcedefinitions", "", "widgets.unused"+sfx+".example.com")
	if !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, "1 service-account token secrets") }) {
		t.Errorf("warnings do not count the skipped token secret: %q", m.Warnings)
	}
	checkManifest(t, e, m)
}

// checkManifest compares the manifest with what the snapshot holds.
func checkManifest(t *testing.T, e *env, m *layout.Manifest) {
	t.Helper()
	sn, err := backup.Find(e.ctx, e.r, m.Name)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := backup.LoadManifest(e.ctx, e.r, sn)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Items != m.Items || len(loaded.Resources) != len(m.Resources) {
		t.Errorf("stored manifest differs: %d items %d types, returned %d items %d types", loaded.Items, len(loaded.Resources), m.Items, len(m.Resources))
	}
	sum := 0
	for _, r := range m.Resources {
		sum += r.Count
	}
	if sum != m.Items {
		t.Errorf("resource counts add up to %d, items %d", sum, m.Items)
	}
	files := 0
	err = snapshot.Walk(e.ctx, e.r, sn.Tree, func(p string, n *snapshot.Node) error {
		if n.Type != snapshot.TypeFile || p == layout.ManifestPath {
			return nil
		}
		files++
		if _, err := layout.ParsePath(p); err != nil {
			t.Errorf("file outside the layout: %v", err)
		}
		if testing.Verbose() {
			t.Log(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != m.Items {
		t.Errorf("%d object files, manifest says %d items", files, m.Items)
	}
}

// TestDefaultScope: no selection backs up user namespaces, not the
// platform's, and only the cluster-scoped objects they need.
func TestDefaultScope(t *testing.T) {
	e := newEnv(t)
	ns := e.c.Namespace(t)
	e.configMap(ns, "mine", nil)
	e.configMap("kube-system", "platform-"+suffix(ns), nil)
	t.Cleanup(func() {
		_ = e.cs.CoreV1().ConfigMaps("kube-system").Delete(context.Background(), "platform-"+suffix(ns), metav1.DeleteOptions{})
	})
	unneeded := "unneeded-" + suffix(ns)
	e.clusterRole(unneeded, nil)
	sn, m, err := e.run(nil, backup.Options{Name: "default-scope"})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	e.has(sn, true, "", "configmaps", ns, "mine")
	e.has(sn, true, "", "namespaces", "", ns)
	e.has(sn, true, "", "namespaces", "", "default")
	e.has(sn, false, "", "configmaps", "kube-system", "platform-"+suffix(ns))
	for _, p := range []string{"kube-system", "kube-public", "kube-node-lease"} {
		e.has(sn, false, "", "namespaces", "", p)
		if m.CountsByNamespace[p] != 0 {
			t.Errorf("%d objects of %s backed up", m.CountsByNamespace[p], p)
		}
	}
	e.has(sn, false, "rbac.authorization.k8s.io", "clusterroles", "", unneeded)
	for _, r := range m.Resources {
		switch r.Resource {
		case "events", "nodes", "leases", "endpointslices":
			t.Errorf("%s backed up (%d); they are never", r.Resource, r.Count)
		}
	}

	// --include-namespaces '*' is every namespace, and every cluster object.
	sn, _, err = e.run(nil, backup.Options{Name: "everything", IncludeNamespaces: []string{"*"}})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	e.has(sn, true, "", "configmaps", "kube-system", "platform-"+suffix(ns))
	e.has(sn, true, "rbac.authorization.k8s.io", "clusterroles", "", unneeded)
}

// TestOptOut: an object or a whole namespace labelled with the opt-out key
// (or velero.io/exclude-from-backup=true) is left out and counted.
func TestOptOut(t *testing.T) {
	e := newEnv(t)
	ns, skippedNS, veleroNS := e.c.Namespace(t), e.c.Namespace(t), e.c.Namespace(t)
	e.configMap(ns, "kept", nil)
	e.configMap(ns, "nobackup", map[string]string{backup.DefaultOptOutLabel: ""})
	e.configMap(ns, "velero-excluded", map[string]string{backup.VeleroExcludeLabel: "true"})
	e.configMap(ns, "velero-false", map[string]string{backup.VeleroExcludeLabel: "false"})
	e.configMap(skippedNS, "inside", nil)
	e.labelNamespace(skippedNS, map[string]string{backup.DefaultOptOutLabel: "true"})
	e.configMap(veleroNS, "inside", nil)
	e.labelNamespace(veleroNS, map[string]string{backup.VeleroExcludeLabel: "true"})

	sn, m, err := e.run(nil, backup.Options{Name: "opt-out", IncludeNamespaces: []string{ns, skippedNS, veleroNS}})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	e.has(sn, true, "", "configmaps", ns, "kept")
	e.has(sn, true, "", "configmaps", ns, "velero-false")
	e.has(sn, false, "", "configmaps", ns, "nobackup")
	e.has(sn, false, "", "configmaps", ns, "velero-excluded")
	for _, n := range []string{skippedNS, veleroNS} {
		e.has(sn, false, "", "configmaps", n, "inside")
		e.has(sn, false, "", "namespaces", "", n)
	}
	wantWarning(t, m, "skipped 2 objects opted out by label")
	wantWarning(t, m, "skipped 2 namespace(s) opted out")

	// The label key is configurable.
	sn, _, err = e.run(nil, backup.Options{Name: "opt-out-custom", IncludeNamespaces: []string{ns}, OptOutLabel: "example.com/skip"})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	e.has(sn, true, "", "configmaps", ns, "nobackup")
}

func wantWarning(t *testing.T, m *layout.Manifest, sub string) {
	t.Helper()
	if !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, sub) }) {
		t.Errorf("no warning contains %q: %q", sub, m.Warnings)
	}
}

// TestOptInSelector: --selector velero=backup keeps only labelled objects,
// and adds the PV, class, namespace and CRD they need.
func TestOptInSelector(t *testing.T) {
	e := newEnv(t)
	ns, emptyNS := e.c.Namespace(t), e.c.Namespace(t)
	opt := map[string]string{"velero": "backup"}
	e.configMap(ns, "labelled", opt)
	e.configMap(ns, "plain", nil)
	e.configMap(emptyNS, "plain", nil)
	pv, class := e.volume(ns, "data", suffix(ns))
	pvc, err := e.cs.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, "data", metav1.GetOptions{})
	e.must(err)
	pvc.Labels = opt
	_, err = e.cs.CoreV1().PersistentVolumeClaims(ns).Update(e.ctx, pvc, metav1.UpdateOptions{})
	e.must(err)
	group := "optin" + suffix(ns) + ".example.com"
	gvr := e.crd(group)
	e.widget(gvr, ns, "labelled", map[string]any{"velero": "backup"})
	e.widget(gvr, ns, "plain", nil)

	sn, m, err := e.run(nil, backup.Options{Name: "opt-in", IncludeNamespaces: []string{ns, emptyNS}, Selector: "velero=backup"})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	e.has(sn, true, "", "configmaps", ns, "labelled")
	e.has(sn, false, "", "configmaps", ns, "plain")
	e.has(sn, true, "", "persistentvolumeclaims", ns, "data")
	e.has(sn, true, "", "persistentvolumes", "", pv)
	e.has(sn, true, "storage.k8s.io", "storageclasses", "", class)
	e.has(sn, true, "", "namespaces", "", ns)
	e.has(sn, false, "", "namespaces", "", emptyNS)
	e.has(sn, true, group, "widgets", ns, "labelled")
	e.has(sn, false, group, "widgets", ns, "plain")
	e.has(sn, true, "apiextensions.k8s.io", "customresourcedefinitions", "", "widgets."+group)
	if m.Selection.Selector != "velero=backup" {
		t.Errorf("selection not recorded: %+v", m.Selection)
	}
}

// TestIncludeExclude covers the namespace globs, resource include/exclude
// and --include-cluster-resources.
func TestIncludeExclude(t *testing.T) {
	e := newEnv(t)
	a, b := e.c.Namespace(t), e.c.Namespace(t)
	for _, ns := range []string{a, b} {
		e.configMap(ns, "cm", nil)
		e.secret(ns, "sec", corev1.SecretTypeOpaque, nil)
	}
	pv, class := e.volume(a, "data", suffix(a))
	prefix := a[:strings.LastIndex(a, "-")]

	cases := []struct {
		name string
		opts backup.Options
		want map[string]bool // "ns/res/name" or "res/name" for cluster objects
	}{
		{"exclude-namespace", backup.Options{IncludeNamespaces: []string{a, b}, ExcludeNamespaces: []string{b}},
			map[string]bool{a + "/configmaps/cm": true, b + "/configmaps/cm": false, "namespaces/" + b: false}},
		{"glob", backup.Options{IncludeNamespaces: []string{prefix + "-*"}, ExcludeNamespaces: []string{b}},
			map[string]bool{a + "/configmaps/cm": true, b + "/configmaps/cm": false}},
		{"include-resources", backup.Options{IncludeNamespaces: []string{a}, IncludeResources: []string{"configmaps"}},
			map[string]bool{a + "/configmaps/cm": true, a + "/secrets/sec": false, a + "/persistentvolumeclaims/data": false, "namespaces/" + a: true}},
		{"exclude-resources", backup.Options{IncludeNamespaces: []string{a}, ExcludeResources: []string{"secrets", "storageclasses.storage.k8s.io"}},
			map[string]bool{a + "/configmaps/cm": true, a + "/secrets/sec": false, "persistentvolumes/" + pv: true, "storageclasses/" + class: false}},
		{"pvc-pulls-pv-in-auto", backup.Options{IncludeNamespaces: []string{a}, IncludeResources: []string{"persistentvolumeclaims"}},
			map[string]bool{a + "/persistentvolumeclaims/data": true, "persistentvolumes/" + pv: true, "storageclasses/" + class: true}},
		{"cluster-false", backup.Options{IncludeNamespaces: []string{a}, IncludeClusterResources: backup.ClusterFalse},
			map[string]bool{a + "/persistentvolumeclaims/data": true, "persistentvolumes/" + pv: false, "namespaces/" + a: true}},
		{"cluster-true", backup.Options{IncludeNamespaces: []string{a}, IncludeClusterResources: backup.ClusterTrue},
			map[string]bool{"clusterroles/cluster-admin": true, "persistentvolumes/" + pv: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Name = c.name
			sn, _, err := e.run(nil, c.opts)
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			for key, want := range c.want {
				parts := strings.Split(key, "/")
				ns := ""
				if len(parts) == 3 {
					ns, parts = parts[0], parts[1:]
				}
				e.t = t
				e.has(sn, want, groupOf(parts[0]), parts[0], ns, parts[1])
			}
		})
	}
}

func groupOf(res string) string {
	switch res {
	case "storageclasses":
		return "storage.k8s.io"
	case "clusterroles":
		return "rbac.authorization.k8s.io"
	}
	return ""
}

// TestUnchangedDeduplicates: a second backup of an unchanged cluster adds
// only the manifest and the root tree.
func TestUnchangedDeduplicates(t *testing.T) {
	e := newEnv(t)
	ns := e.c.Namespace(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		e.configMap(ns, n, nil)
		e.secret(ns, n, corev1.SecretTypeOpaque, nil)
	}
	e.volume(ns, "data", suffix(ns))
	e.settled(ns)
	opts := backup.Options{IncludeNamespaces: []string{ns}}
	opts.Name = "first"
	first, _, err := e.run(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Name = "second"
	second, _, err := e.run(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Summary.BlobsAdded < 10 {
		t.Errorf("first backup added only %d blobs", first.Summary.BlobsAdded)
	}
	if got := second.Summary.BlobsAdded; got > 3 {
		t.Errorf("second backup of an unchanged cluster added %d blobs, want ≤ 3 (manifest, root tree)", got)
	}
	if second.Summary.FilesNew != 0 {
		t.Errorf("second backup found %d new objects", second.Summary.FilesNew)
	}
	if _, _, err := backup.Run(e.ctx, e.r, e.c.Config, opts); !errors.Is(err, backup.ErrExists) {
		t.Errorf("a third backup named %q: %v, want ErrExists", opts.Name, err)
	}
	list, err := backup.List(e.ctx, e.r)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %d backups, %v", len(list), err)
	}
	if sn, err := backup.Find(e.ctx, e.r, second.ID[:8]); err != nil || sn.ID != second.ID {
		t.Errorf("Find by ID prefix: %v", err)
	}
}
