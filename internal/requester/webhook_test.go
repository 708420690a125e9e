package requester_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/requester"
	"github.com/cairn-backup/cairn/internal/requester/requestertest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestWebhookOnTheAPIServer registers the webhook, served on 127.0.0.1,
// with the real API server: a user's NamespaceRestore that claims to be
// system:admin in system:masters is stored with the user's own name and
// groups, signed so that Verify accepts it; the user cannot change the
// requester (or anything of the spec) afterwards; an administrator's
// request carries the administrator's identity; a request without a name
// is refused.
func TestWebhookOnTheAPIServer(t *testing.T) {
	kc := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{cairnv1.AddToScheme, rbacv1.AddToScheme, admissionregv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := client.New(kc.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ns := kc.Namespace(t)
	k := key(t)

	requestertest.Serve(t, kc.Config, k, ns)

	user := "alice-" + ns
	rules := []rbacv1.PolicyRule{{APIGroups: []string{"cairn.dev"}, Resources: []string{"namespacerestores"}, Verbs: []string{"get", "create", "update", "patch"}}}
	must(t, admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "restorer", Namespace: ns}, Rules: rules}))
	must(t, admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "restorer", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "restorer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}))
	alice, err := client.New(kc.UserConfig(t, user, "team-a"), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}

	forged := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: ns}, Spec: cairnv1.NamespaceRestoreSpec{
		BackupName: "nightly", Requester: cairnv1.Requester{Username: "system:admin", Groups: []string{"system:masters"}, Signature: "made-up"}}}
	must(t, alice.Create(ctx, forged))
	var got cairnv1.NamespaceRestore
	must(t, alice.Get(ctx, client.ObjectKeyFromObject(forged), &got))
	r := got.Spec.Requester
	if r.Username != user || !contains(r.Groups, "team-a") || !contains(r.Groups, "system:authenticated") || contains(r.Groups, "system:masters") {
		t.Fatalf("stored requester %+v, want alice's own identity", r)
	}
	if err := requester.Verify(k, &got); err != nil {
		t.Fatalf("the stored request does not verify: %v", err)
	}

	got.Spec.Requester.Username = "system:admin"
	if err := alice.Update(ctx, &got); err == nil || !strings.Contains(err.Error(), "cannot be changed") {
		t.Errorf("alice changes the requester: %v, want refused", err)
	}
	must(t, alice.Get(ctx, client.ObjectKeyFromObject(forged), &got))
	got.Spec.TargetNamespace = "elsewhere"
	if err := alice.Update(ctx, &got); err == nil {
		t.Errorf("alice changes the spec after admission: accepted")
	}

	byAdmin := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: ns}, Spec: cairnv1.NamespaceRestoreSpec{BackupName: "nightly"}}
	must(t, admin.Create(ctx, byAdmin))
	if byAdmin.Spec.Requester.Username == "" || byAdmin.Spec.Requester.Username == user || requester.Verify(k, byAdmin) != nil {
		t.Errorf("the administrator's request: requester %+v", byAdmin.Spec.Requester)
	}

	unnamed := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{GenerateName: "r-", Namespace: ns}, Spec: cairnv1.NamespaceRestoreSpec{BackupName: "nightly"}}
	if err := alice.Create(ctx, unnamed); err == nil || !strings.Contains(err.Error(), "metadata.name") {
		t.Errorf("a request without a name: %v, want refused", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
