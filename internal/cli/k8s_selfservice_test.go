//go:build !fsonly

package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/ctlcmd"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// TestCtlSelfService drives `cairn ctl backup` and `ctl restore` as a
// namespace's owner: a client-certificate user bound in namespace x to
// the verbs the chart's aggregated roles give (NamespaceBackups read,
// NamespaceRestores read, create and delete), with no right on any
// controller object. The controller's part is played by the test (it
// creates the NamespaceBackups and sets NamespaceRestores' status); no
// admission webhook is installed, so requests are stored as sent.
func TestCtlSelfService(t *testing.T) {
	kc := kubetest.Start(t)
	crds, err := envtest.InstallCRDs(kc.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "..", "deploy", "helm", "cairn", "crds")}, ErrorIfPathMissing: true})
	if err != nil || len(crds) != len(cairnv1.Kinds) {
		t.Fatalf("loading the CRDs: %d loaded, want %d, %v", len(crds), len(cairnv1.Kinds), err)
	}
	scheme := runtime.NewScheme()
	if err := cairnv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(kc.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x, y, controllerNS := kc.Namespace(t), kc.Namespace(t), kc.Namespace(t)

	cs := kc.Clientset(t)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "owner"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"cairn.dev"}, Resources: []string{"namespacebackups"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"cairn.dev"}, Resources: []string{"namespacerestores"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		},
	}
	if _, err := cs.RbacV1().Roles(x).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(x).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "owner"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "owner"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "owner"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The binding takes effect once the authorizer has seen it.
	user, err := client.New(kc.UserConfig(t, "owner"), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := user.List(ctx, &cairnv1.NamespaceBackupList{}, client.InNamespace(x))
		if err == nil {
			break
		}
		if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
			t.Fatalf("the owner listing NamespaceBackups in %s: %v", x, err)
		}
	}
	owner := env{"KUBECONFIG": kc.UserKubeconfig(t, "owner")}

	// The controller's views of three backups in x, two in y.
	at := func(day int) *metav1.Time { return &metav1.Time{Time: time.Date(2025, 1, day, 0, 0, 0, 0, time.UTC)} }
	for _, v := range []struct {
		ns, name, schedule string
		phase              cairnv1.Phase
		start              *metav1.Time
	}{
		{x, "daily-backup-20250101000000", "daily-backup", cairnv1.PhaseCompleted, at(1)},
		{x, "daily-backup-20250103000000", "daily-backup", cairnv1.PhaseCompleted, at(3)},
		{x, "daily-backup-20250104000000", "daily-backup", cairnv1.PhasePartiallyFailed, at(4)},
		{x, "manual", "", cairnv1.PhaseCompleted, at(2)},
		{y, "daily-backup-20250101000000", "daily-backup", cairnv1.PhaseCompleted, at(1)},
		{y, "only-y", "", cairnv1.PhaseCompleted, at(1)},
	} {
		nb := &cairnv1.NamespaceBackup{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: v.name}, Status: cairnv1.NamespaceBackupStatus{
			BackupName: v.name, Schedule: v.schedule, Phase: v.phase, StartTimestamp: v.start, Items: 12, Volumes: 1,
		}}
		if err := c.Create(ctx, nb); err != nil {
			t.Fatal(err)
		}
	}

	// backup get and describe: x's backups, none of y's.
	var rows []ctlcmd.NsBackupRow
	r := cairn(t, owner, "ctl", "backup", "get", "-n", x, "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 4 || slices.ContainsFunc(rows, func(r ctlcmd.NsBackupRow) bool { return r.Name == "only-y" }) {
		t.Fatalf("backup get -n %s -o json: %v\n%s", x, err, r.stdout)
	}
	r = cairn(t, owner, "ctl", "backup", "get", "-n", x, "--schedule", "daily-backup").must(t, 0)
	if !strings.Contains(r.stdout, "VOLUMES") || !strings.Contains(r.stdout, "daily-backup-20250103000000") || strings.Contains(r.stdout, "manual") {
		t.Errorf("backup get --schedule daily-backup:\n%s", r.stdout)
	}
	if r = cairn(t, owner, "ctl", "backup", "describe", "manual", "-n", x).must(t, 0); !strings.Contains(r.stdout, "Items:") || !strings.Contains(r.stdout, "--from-backup manual") {
		t.Errorf("backup describe:\n%s", r.stdout)
	}
	cairn(t, owner, "ctl", "backup", "describe", "only-y", "-n", x).must(t, 2)
	// backup logs: the view's phase, and whose the full log is.
	if r = cairn(t, owner, "ctl", "backup", "logs", "daily-backup-20250104000000", "-n", x).must(t, 0); !strings.Contains(r.stdout, "PartiallyFailed") ||
		!strings.Contains(r.stdout, "`cairn ctl backup logs daily-backup-20250104000000` in the controller's namespace") {
		t.Errorf("backup logs:\n%s", r.stdout)
	}
	var logLines []ctlcmd.LogLine
	r = cairn(t, owner, "ctl", "backup", "logs", "manual", "-n", x, "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &logLines); err != nil || len(logLines) == 0 || !strings.Contains(logLines[0].Message, "Completed") {
		t.Errorf("backup logs -o json: %v\n%s", err, r.stdout)
	}
	cairn(t, owner, "ctl", "backup", "logs", "only-y", "-n", x).must(t, 2)
	if r = cairn(t, owner, "ctl", "backup", "get", "-n", y).must(t, 1); !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("backup get -n %s (not the owner's):\n%s", y, r.stderr)
	}
	if r = cairn(t, owner, "ctl", "backup", "get").must(t, 2); !strings.Contains(r.stderr, "-n NAMESPACE") {
		t.Errorf("backup get in the default namespace, without rights there, does not name -n:\n%s", r.stderr)
	}

	// restore create maps the flags to the request.
	cairn(t, owner, "ctl", "restore", "create", "r1", "--from-backup", "manual", "-n", x,
		"--namespace-mapping", x+"="+y, "--include-resources", "configmaps,deployments.apps", "--exclude-resources", "secrets",
		"-l", "app=shop", "--existing-resource-policy", "update").must(t, 0)
	var nr cairnv1.NamespaceRestore
	if err := c.Get(ctx, client.ObjectKey{Namespace: x, Name: "r1"}, &nr); err != nil {
		t.Fatal(err)
	}
	want := cairnv1.NamespaceRestoreSpec{BackupName: "manual", TargetNamespace: y, IncludedResources: []string{"configmaps", "deployments.apps"},
		ExcludedResources: []string{"secrets"}, LabelSelector: "app=shop", ExistingResourcePolicy: "update"}
	if got, _ := json.Marshal(nr.Spec); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("the request's spec %s, want %s", got, must(json.Marshal(want)))
	}
	// --from-schedule: the newest Completed backup of the schedule.
	cairn(t, owner, "ctl", "restore", "create", "r2", "--from-schedule", "daily-backup", "-n", x).must(t, 0)
	if err := c.Get(ctx, client.ObjectKey{Namespace: x, Name: "r2"}, &nr); err != nil || nr.Spec.BackupName != "daily-backup-20250103000000" {
		t.Errorf("--from-schedule daily-backup restores %q (%v), want daily-backup-20250103000000", nr.Spec.BackupName, err)
	}
	// What a namespace restore cannot do is bad input, and creates nothing.
	for _, bad := range [][]string{
		{"--namespace-mapping", y + "=" + x},
		{"--include-cluster-resources=true"},
		{"--include-namespaces", x},
		{"--preserve-nodeports"},
	} {
		args := append([]string{"ctl", "restore", "create", "refused", "--from-backup", "manual", "-n", x}, bad...)
		if r := cairn(t, owner, args...).must(t, 2); !strings.Contains(r.stderr, "a namespace restore restores only namespace "+x) {
			t.Errorf("%v: stderr does not say why:\n%s", bad, r.stderr)
		}
	}
	if r := cairn(t, owner, "ctl", "restore", "create", "--from-backup", "only-y", "-n", x).must(t, 2); !strings.Contains(r.stderr, "not found") {
		t.Errorf("a restore from another namespace's backup:\n%s", r.stderr)
	}
	var l cairnv1.NamespaceRestoreList
	if err := c.List(ctx, &l, client.InNamespace(x)); err != nil || len(l.Items) != 2 {
		t.Errorf("refused requests created something: %d requests in %s, want 2 (%v)", len(l.Items), x, err)
	}

	// --wait: the controller's outcome gives the exit code and the report.
	finish := func(name string, set func(*cairnv1.NamespaceRestoreStatus)) chan error {
		done := make(chan error, 1)
		go func() {
			for ctx.Err() == nil {
				var nr cairnv1.NamespaceRestore
				if err := c.Get(ctx, client.ObjectKey{Namespace: x, Name: name}, &nr); err == nil {
					set(&nr.Status)
					done <- c.Status().Update(ctx, &nr)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			done <- ctx.Err()
		}()
		return done
	}
	escalation := `RoleBinding ` + x + `/admin-all: rolebindings.rbac.authorization.k8s.io "admin-all" is forbidden: user "owner" is attempting to grant RBAC permissions not currently held`
	done := finish("r-partial", func(st *cairnv1.NamespaceRestoreStatus) {
		st.Phase, st.FailureReason, st.Created, st.Failed = cairnv1.PhasePartiallyFailed, "1 object could not be restored", 3, 1
		st.Failures = []string{escalation}
	})
	r = cairn(t, owner, "ctl", "restore", "create", "r-partial", "--from-backup", "daily-backup-20250101000000", "-n", x, "-w").must(t, 3)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stdout, "3 created") || !strings.Contains(r.stdout, "failed: "+escalation) || !strings.Contains(r.stderr, "partially failed: 1 object could not be restored") {
		t.Errorf("a partially failed restore's report:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	done = finish("r-failed", func(st *cairnv1.NamespaceRestoreStatus) {
		st.Phase, st.FailureReason = cairnv1.PhaseFailed, "target namespace gone does not exist"
	})
	r = cairn(t, owner, "ctl", "restore", "create", "r-failed", "--from-backup", "manual", "-n", x, "-w").must(t, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stderr, "target namespace gone does not exist") {
		t.Errorf("a failed restore's reason:\n%s", r.stderr)
	}

	// get, describe, logs, delete of the namespace's requests.
	req := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Namespace: x, Name: "attested"},
		Spec: cairnv1.NamespaceRestoreSpec{BackupName: "manual", Requester: cairnv1.Requester{Username: "owner", Groups: []string{"system:authenticated"}}}}
	if err := c.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	if r = cairn(t, owner, "ctl", "restore", "get", "-n", x).must(t, 0); !strings.Contains(r.stdout, "r-partial") || !strings.Contains(r.stdout, "REQUESTER") {
		t.Errorf("restore get:\n%s", r.stdout)
	}
	if r = cairn(t, owner, "ctl", "restore", "describe", "attested", "-n", x).must(t, 0); !strings.Contains(r.stdout, "Requester:") || !strings.Contains(r.stdout, "owner") {
		t.Errorf("restore describe does not show the requester:\n%s", r.stdout)
	}
	if r = cairn(t, owner, "ctl", "restore", "describe", "r1", "-n", x).must(t, 0); !strings.Contains(r.stdout, y) {
		t.Errorf("restore describe does not show the target namespace:\n%s", r.stdout)
	}
	if r = cairn(t, owner, "ctl", "restore", "logs", "r-partial", "-n", x).must(t, 0); !strings.Contains(r.stdout, "error: failed: "+escalation) {
		t.Errorf("restore logs:\n%s", r.stdout)
	}
	cairn(t, owner, "ctl", "restore", "delete", "r1", "-n", x).must(t, 0)
	if err := c.Get(ctx, client.ObjectKey{Namespace: x, Name: "r1"}, &nr); !apierrors.IsNotFound(err) {
		t.Errorf("restore delete left the request: %v", err)
	}
	cairn(t, owner, "ctl", "restore", "delete", "r1", "-n", x).must(t, 2)

	// An administrator: the controller's namespace still shows Backups,
	// a tenant's namespace its view.
	if err := c.Create(ctx, &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "b1"}}); err != nil {
		t.Fatal(err)
	}
	admin := env{"KUBECONFIG": kc.Kubeconfig, "CAIRN_NAMESPACE": controllerNS}
	var backups []ctlcmd.BackupRow
	r = cairn(t, admin, "ctl", "backup", "get", "-o", "json").must(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &backups); err != nil || len(backups) != 1 || backups[0].Name != "b1" {
		t.Errorf("an administrator's backup get in the controller's namespace: %v\n%s", err, r.stdout)
	}
	if r = cairn(t, admin, "ctl", "backup", "get", "-n", x).must(t, 0); !strings.Contains(r.stdout, "VOLUMES") || !strings.Contains(r.stdout, "manual") {
		t.Errorf("an administrator's backup get -n %s:\n%s", x, r.stdout)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
