package controller_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/requester"
)

// tenant is a namespace and a client-certificate user with a Role in it.
type tenant struct {
	ns   string
	user string
	c    client.Client
}

// newTenant makes a namespace and a user bound there to a Role with
// rules (nothing anywhere else).
func (e *env) newTenant(name string, rules ...rbacv1.PolicyRule) tenant {
	e.t.Helper()
	tn := tenant{ns: e.cfg.Namespace(e.t), user: name + "-" + e.ns}
	e.create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: tn.ns}, Rules: rules})
	e.create(&rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: tn.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "owner"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: tn.user}},
	})
	scheme, err := controller.Scheme()
	if err != nil {
		e.t.Fatal(err)
	}
	if tn.c, err = client.New(e.cfg.UserConfig(e.t, tn.user), client.Options{Scheme: scheme}); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

// selfServiceRules are the verbs the chart's aggregated roles give a
// namespace admin on cairn's objects, and what the test's restores need.
var selfServiceRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"cairn.dev"}, Resources: []string{"namespacebackups"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"cairn.dev"}, Resources: []string{"namespacerestores"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update"}},
	{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: []string{"get"}},
}

func newKey(t *testing.T) []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// request creates a NamespaceRestore in ns as the webhook would admit it
// for user (attested with key), or as written when key is nil.
func (e *env) request(key []byte, ns, name, user string, spec cairnv1.NamespaceRestoreSpec) *cairnv1.NamespaceRestore {
	e.t.Helper()
	nr := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if key != nil {
		if err := requester.Attest(key, nr, authnv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}}, time.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	e.create(nr)
	return nr
}

func (e *env) reconcileIn(r reconciler, ns, name string) {
	e.t.Helper()
	if _, err := r.Reconcile(e.ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}); err != nil {
		e.t.Fatalf("reconcile %T %s/%s: %v", r, ns, name, err)
	}
	if i, ok := r.(interface{ Idle() }); ok {
		i.Idle()
	}
}

// TestSelfService runs the controller's side of a namespace owner's
// restore on the real API server with RBAC: a Backup of two tenants'
// namespaces gets a NamespaceBackup view in each, which each tenant lists
// in their namespace and not in the other's; the views go with the
// Backup. A request whose requester the webhook did not sign, one that
// targets the other tenant's namespace, one that asks for a cluster-scoped
// type and one naming a backup that does not hold the namespace are
// refused, each with its reason, before anything is restored. An attested
// request restores as its requester: the ConfigMap the user may create
// comes back, the Secret they may not is reported failed with the API
// server's "forbidden", the Role and RoleBinding they may read but not
// create are there (skipped, not failed), and the request's status says so.
// A request attested as cairn's own service account is refused; requests
// and views are neither backed up nor restored.
func TestSelfService(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	key := newKey(t)
	rs := controller.New(e.c, e.c, controller.Options{Namespace: e.ns, Cluster: e.cfg.Config, Clock: e.clock, Recheck: 250 * time.Millisecond, RequesterKey: key})
	a := e.newTenant("alice", selfServiceRules...)
	b := e.newTenant("bob", selfServiceRules...)
	for _, ns := range []string{a.ns, b.ns} {
		e.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: map[string]string{"k": ns}})
	}
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: a.ns}, StringData: map[string]string{"t": "x"}})
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{a.ns, b.ns}}})
	e.reconcile(rs.Backup, "nightly")
	var bk cairnv1.Backup
	e.get("nightly", &bk)
	if bk.Status.Phase != cairnv1.PhaseCompleted || bk.Status.NamespaceItems[a.ns] < 2 {
		t.Fatalf("backup: %s (%s), counts %v", bk.Status.Phase, bk.Status.FailureReason, bk.Status.NamespaceItems)
	}

	// The views.
	e.reconcile(rs.View, "nightly")
	var views cairnv1.NamespaceBackupList
	if err := a.c.List(e.ctx, &views, client.InNamespace(a.ns)); err != nil {
		t.Fatalf("alice lists her namespace's backups: %v", err)
	}
	if len(views.Items) != 1 || views.Items[0].Name != "nightly" || views.Items[0].Status.Items != bk.Status.NamespaceItems[a.ns] ||
		views.Items[0].Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("alice's views: %+v", views.Items)
	}
	if err := a.c.List(e.ctx, &views, client.InNamespace(b.ns)); !apierrors.IsForbidden(err) {
		t.Errorf("alice lists bob's namespace's backups: %v, want forbidden", err)
	}
	if err := a.c.List(e.ctx, &cairnv1.BackupList{}, client.InNamespace(e.ns)); !apierrors.IsForbidden(err) {
		t.Errorf("alice lists the controller's Backups: %v, want forbidden", err)
	}
	// A view deleted by someone comes back; one whose Backup is gone goes.
	if err := e.c.Delete(e.ctx, &views.Items[0]); err != nil {
		t.Fatal(err)
	}
	e.reconcile(rs.View, "nightly")
	if err := b.c.List(e.ctx, &views, client.InNamespace(b.ns)); err != nil || len(views.Items) != 1 {
		t.Fatalf("bob's views: %v %v", views.Items, err)
	}
	stray := &cairnv1.NamespaceBackup{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: a.ns, Labels: map[string]string{cairnv1.LabelBackup: "gone"}},
		Status: cairnv1.NamespaceBackupStatus{BackupName: "gone", Phase: cairnv1.PhaseCompleted}}
	e.create(stray)
	e.reconcile(rs.View, "gone")
	if err := e.c.Get(e.ctx, client.ObjectKeyFromObject(stray), stray); !apierrors.IsNotFound(err) {
		t.Errorf("the view of a Backup that does not exist: %v, want deleted", err)
	}
	e.reconcile(rs.View, "nightly")

	refused := func(name, reason, words string, key []byte, spec cairnv1.NamespaceRestoreSpec) {
		t.Helper()
		e.request(key, a.ns, name, a.user, spec)
		e.reconcileIn(rs.NSRestore, a.ns, name)
		var nr cairnv1.NamespaceRestore
		if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: a.ns, Name: name}, &nr); err != nil {
			t.Fatal(err)
		}
		c := nr.Status.Conditions
		if nr.Status.Phase != cairnv1.PhaseFailed || nr.Status.RestoreName != "" || len(c) == 0 || c[0].Reason != reason || !strings.Contains(nr.Status.FailureReason, words) {
			t.Errorf("%s: phase %s, restore %q, conditions %+v, reason %q; want Failed, %s, %q", name, nr.Status.Phase, nr.Status.RestoreName, c, nr.Status.FailureReason, reason, words)
		}
	}
	forged := cairnv1.NamespaceRestoreSpec{BackupName: "nightly", Requester: cairnv1.Requester{Username: "system:admin", Groups: []string{"system:masters"}}}
	refused("forged", cairnv1.ReasonNotAttested, "webhook", nil, forged)
	otherKey := newKey(t)
	refused("other-key", cairnv1.ReasonNotAttested, "signature", otherKey, cairnv1.NamespaceRestoreSpec{BackupName: "nightly"})
	refused("into-bob", cairnv1.ReasonForbidden, "may not create NamespaceRestores in namespace "+b.ns, key, cairnv1.NamespaceRestoreSpec{BackupName: "nightly", TargetNamespace: b.ns})
	refused("cluster", cairnv1.ReasonForbidden, "cluster-scoped", key, cairnv1.NamespaceRestoreSpec{BackupName: "nightly", IncludedResources: []string{"configmaps", "clusterroles.rbac.authorization.k8s.io"}})
	refused("kind", cairnv1.ReasonForbidden, "cluster-scoped", key, cairnv1.NamespaceRestoreSpec{BackupName: "nightly", IncludedResources: []string{"Namespace"}})
	refused("no-backup", cairnv1.ReasonBackupNotFound, "holds namespace "+a.ns, key, cairnv1.NamespaceRestoreSpec{BackupName: "weekly"})
	refused("cairn", cairnv1.ReasonForbidden, "cairn's own", key, cairnv1.NamespaceRestoreSpec{BackupName: "nightly", TargetNamespace: e.ns})
	e.request(key, a.ns, "as-cairn", "system:serviceaccount:"+e.ns+":cairn", cairnv1.NamespaceRestoreSpec{BackupName: "nightly"})
	e.reconcileIn(rs.NSRestore, a.ns, "as-cairn")
	var own cairnv1.NamespaceRestore
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: a.ns, Name: "as-cairn"}, &own); err != nil || own.Status.Phase != cairnv1.PhaseFailed ||
		!strings.Contains(own.Status.FailureReason, "cairn's own service accounts") {
		t.Errorf("a request attested as cairn's service account: %s %q %v", own.Status.Phase, own.Status.FailureReason, err)
	}
	var none cairnv1.RestoreList
	if err := e.c.List(e.ctx, &none, client.InNamespace(e.ns)); err != nil || len(none.Items) != 0 {
		t.Fatalf("refused requests made Restores: %v %v", none.Items, err)
	}

	// An attested request, run as alice.
	for _, o := range []client.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: a.ns}}, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: a.ns}}} {
		if err := e.c.Delete(e.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	e.request(key, a.ns, "back", a.user, cairnv1.NamespaceRestoreSpec{BackupName: "nightly"})
	e.reconcileIn(rs.NSRestore, a.ns, "back")
	var nr cairnv1.NamespaceRestore
	if err := a.c.Get(e.ctx, client.ObjectKey{Namespace: a.ns, Name: "back"}, &nr); err != nil || nr.Status.RestoreName == "" {
		t.Fatalf("request: %+v %v", nr.Status, err)
	}
	var run cairnv1.Restore
	e.get(nr.Status.RestoreName, &run)
	if run.Spec.RunAs == nil || run.Spec.RunAs.Username != a.user || run.Spec.IncludeClusterResources != "false" ||
		len(run.Spec.IncludedNamespaces) != 1 || run.Spec.IncludedNamespaces[0] != a.ns {
		t.Fatalf("the Restore run for the request: %+v", run.Spec)
	}
	e.reconcile(rs.Restore, run.Name)
	e.reconcileIn(rs.NSRestore, a.ns, "back")
	if err := a.c.Get(e.ctx, client.ObjectKey{Namespace: a.ns, Name: "back"}, &nr); err != nil {
		t.Fatal(err)
	}
	t.Logf("request: %s, %d created, %d skipped, %d failed: %v", nr.Status.Phase, nr.Status.Created, nr.Status.Skipped, nr.Status.Failed, nr.Status.Failures)
	if nr.Status.Phase != cairnv1.PhasePartiallyFailed || nr.Status.Failed != 1 || nr.Status.Skipped < 2 || len(nr.Status.Failures) != 1 ||
		!strings.Contains(nr.Status.Failures[0], "token") || !strings.Contains(nr.Status.Failures[0], "forbidden") || !strings.Contains(nr.Status.Failures[0], a.user) {
		t.Fatalf("request: phase %s, failures %v; want PartiallyFailed with the Secret forbidden", nr.Status.Phase, nr.Status.Failures)
	}
	var cm corev1.ConfigMap
	if err := a.c.Get(e.ctx, client.ObjectKey{Namespace: a.ns, Name: "settings"}, &cm); err != nil || cm.Data["k"] != a.ns {
		t.Fatalf("restored config map: %v %v", cm.Data, err)
	}
	var other corev1.ConfigMap
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: b.ns, Name: "settings"}, &other); err != nil || other.Labels[cairnv1.LabelRestore] != "" {
		t.Errorf("bob's config map was touched: %v %v", other.Labels, err)
	}

	// No laundering through a backup: the requests and views in a.ns are
	// neither backed up nor restored (one restored would be admitted
	// again as whoever restores it).
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "later", Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{a.ns}}})
	e.reconcile(rs.Backup, "later")
	copyNS := e.cfg.Namespace(t)
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "copy", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{
		BackupName: "later", NamespaceMapping: map[string]string{a.ns: copyNS}, IncludedResources: []string{"namespacerestores.cairn.dev", "namespacebackups.cairn.dev"}}})
	e.reconcile(rs.Restore, "copy")
	var copied cairnv1.Restore
	e.get("copy", &copied)
	var nrs cairnv1.NamespaceRestoreList
	var nbs cairnv1.NamespaceBackupList
	if err := e.c.List(e.ctx, &nrs, client.InNamespace(copyNS)); err != nil || len(nrs.Items) != 0 || copied.Status.Created != 0 {
		t.Errorf("a restore of a backup of a tenant's namespace created %d objects, NamespaceRestores %v (%v)", copied.Status.Created, nrs.Items, err)
	}
	if err := e.c.List(e.ctx, &nbs, client.InNamespace(copyNS)); err != nil || len(nbs.Items) != 0 {
		t.Errorf("NamespaceBackups restored: %v %v", nbs.Items, err)
	}

	// The request deleted: so is its run.
	if err := a.c.Delete(e.ctx, &nr); err != nil {
		t.Fatal(err)
	}
	e.reconcileIn(rs.NSRestore, a.ns, "back")
	if err := e.c.Get(e.ctx, client.ObjectKeyFromObject(&run), &run); !apierrors.IsNotFound(err) {
		t.Errorf("the run of a deleted request: %v, want deleted", err)
	}
}

// A namespace that appears after its backup (restored by an
// administrator, say) gets the backup's view from the running controller,
// without the Backup changing.
func TestViewOfANamespaceCreatedLater(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	later := "later-" + strings.ToLower(strings.TrimPrefix(e.ns, "test"))
	if len(later) > 63 {
		later = later[:63]
	}
	b := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: e.ns}}
	e.create(b)
	now := metav1.Now()
	b.Status = cairnv1.BackupStatus{Phase: cairnv1.PhaseCompleted, StartTimestamp: &now, CompletionTimestamp: &now,
		Namespaces: []string{later}, NamespaceItems: map[string]int{later: 3}}
	if err := e.c.Status().Update(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	e.runController(controller.Options{Retention: noGuardrails, SyncInterval: time.Hour, Recheck: time.Minute})
	time.Sleep(time.Second) // the controller has seen the Backup: no namespace, no view
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: later}})
	t.Cleanup(func() {
		_ = e.c.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: later}})
	})
	var v cairnv1.NamespaceBackup
	e.waitUntil("the view in the new namespace", 30*time.Second, func() bool {
		return e.c.Get(e.ctx, client.ObjectKey{Namespace: later, Name: "old"}, &v) == nil
	})
	if v.Status.Items != 3 || v.Status.BackupName != "old" {
		t.Errorf("view: %+v", v.Status)
	}
}
