package controller_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/controller"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

var noGuardrails = controller.Retention{Default: 720 * time.Hour}

func TestCRDsServed(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dc, err := discovery.NewDiscoveryClientForConfig(e.cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := dc.ServerResourcesForGroupVersion(cairnv1.GroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range rl.APIResources {
		got[r.Name] = true
	}
	for _, want := range []string{"backups", "restores", "schedules", "backuplocations", "backups/status"} {
		if !got[want] {
			t.Errorf("cairn.dev/v1alpha1 does not serve %s (serves %v)", want, got)
		}
	}
}

func (e *env) repoBackups(dir string) []string {
	e.t.Helper()
	s, err := local.New(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := repo.Open(e.ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	sns, err := backup.List(e.ctx, r)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, sn := range sns {
		names = append(names, backup.Name(sn))
	}
	return names
}

// A Backup runs to Completed with its counts, expires with the fake
// clock, is deleted, its snapshot forgotten and the repository pruned.
func TestBackupRunsExpiresAndIsForgotten(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dir := e.location("main", "")
	e.configMap("app-config")
	e.create(&cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: e.ns},
		Spec:       cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, TTL: ttl(48 * time.Hour)},
	})
	e.reconcile(e.rs.Backup, "b1")

	var b cairnv1.Backup
	e.get("b1", &b)
	if b.Status.Phase != cairnv1.PhaseCompleted {
		t.Fatalf("phase %s (%s), want Completed", b.Status.Phase, b.Status.FailureReason)
	}
	if b.Status.Items < 2 || b.Status.SnapshotID == "" || b.Status.StorageLocation != "main" || b.Status.StartTimestamp == nil || b.Status.CompletionTimestamp == nil {
		t.Fatalf("status incomplete: %+v", b.Status)
	}
	if want := b.Status.StartTimestamp.Add(48 * time.Hour); !b.Status.Expiration.Time.Equal(want) {
		t.Errorf("expiration %s, want %s", b.Status.Expiration, want)
	}
	if got := e.repoBackups(dir); len(got) != 1 || got[0] != "b1" {
		t.Fatalf("repository holds %v, want [b1]", got)
	}
	// Idempotent: reconciling again changes nothing and waits for expiry.
	res := e.reconcile(e.rs.Backup, "b1")
	if res.RequeueAfter <= 47*time.Hour {
		t.Errorf("requeue after %s, want ~48h", res.RequeueAfter)
	}

	e.clock.Add(49 * time.Hour)
	e.reconcile(e.rs.Backup, "b1") // expired: Deleting, then deleted
	e.reconcile(e.rs.Backup, "b1") // finalizer: forget
	if !e.gone("b1", &b) {
		t.Fatalf("expired backup still there: phase %s, finalizers %v", b.Status.Phase, b.Finalizers)
	}
	if got := e.repoBackups(dir); len(got) != 0 {
		t.Fatalf("repository still holds %v after expiry", got)
	}
	e.reconcile(e.rs.Location, "main")
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	if loc.Status.Phase != cairnv1.LocationAvailable || loc.Status.LastPruneTime == nil {
		t.Errorf("location after expiry: phase %s, last prune %v, message %q", loc.Status.Phase, loc.Status.LastPruneTime, loc.Status.Message)
	}
	// The bucket sync does not bring the forgotten backup back.
	if bs := e.backups(); len(bs) != 0 {
		t.Errorf("backups after sync: %v", bs)
	}
}

func TestBackupFailsWithReason(t *testing.T) {
	e := newEnv(t, noGuardrails)
	// No location at all: Failed, saying what to do.
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "nowhere", Namespace: e.ns}})
	e.reconcile(e.rs.Backup, "nowhere")
	var b cairnv1.Backup
	e.get("nowhere", &b)
	if b.Status.Phase != cairnv1.PhaseFailed || !strings.Contains(b.Status.FailureReason, "default") {
		t.Errorf("phase %s, reason %q: want Failed naming the missing default location", b.Status.Phase, b.Status.FailureReason)
	}
	// A wrong passphrase: the location is Unavailable and says which Secret.
	e.location("main", "")
	var sec corev1.Secret
	e.get("main-pass", &sec)
	sec.Data["passphrase"] = []byte("hunter2-secret")
	if err := e.c.Update(e.ctx, &sec); err != nil {
		t.Fatal(err)
	}
	e.reconcile(e.rs.Location, "main")
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	if loc.Status.Phase != cairnv1.LocationUnavailable || !strings.Contains(loc.Status.Message, "main-pass") {
		t.Errorf("location: phase %s, message %q: want Unavailable naming the Secret", loc.Status.Phase, loc.Status.Message)
	}
	if strings.Contains(loc.Status.Message, "hunter2") || strings.Contains(loc.Status.Message, passphrase) {
		t.Errorf("the message shows the passphrase: %q", loc.Status.Message)
	}
}

func TestRetentionGuardrails(t *testing.T) {
	e := newEnv(t, controller.Retention{Min: 24 * time.Hour, Max: 720 * time.Hour, Default: 720 * time.Hour})
	e.location("main", "")
	for _, tc := range []struct {
		name string
		ttl  *metav1.Duration
		want string // "" = accepted
	}{
		{"short", ttl(time.Hour), "shorter than the minimum retention 24h0m0s"},
		{"long", ttl(2000 * time.Hour), "longer than the maximum retention 720h0m0s"},
		{"forever", ttl(0), "exceeds the maximum retention"},
		{"ok", ttl(48 * time.Hour), ""},
	} {
		e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: e.ns},
			Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, IncludedResources: []string{"configmaps"}, TTL: tc.ttl}})
		e.reconcile(e.rs.Backup, tc.name)
		var b cairnv1.Backup
		e.get(tc.name, &b)
		if tc.want == "" {
			if b.Status.Phase != cairnv1.PhaseCompleted {
				t.Errorf("%s: phase %s (%s), want Completed", tc.name, b.Status.Phase, b.Status.FailureReason)
			}
			continue
		}
		if b.Status.Phase != cairnv1.PhaseFailed || !strings.Contains(b.Status.FailureReason, tc.want) || !strings.Contains(b.Status.FailureReason, "between 24h0m0s and 720h0m0s") {
			t.Errorf("%s: phase %s, reason %q: want Failed with %q and the allowed range", tc.name, b.Status.Phase, b.Status.FailureReason, tc.want)
		}
	}
	e.create(&cairnv1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: "daily", Namespace: e.ns},
		Spec: cairnv1.ScheduleSpec{Schedule: "@daily", Template: cairnv1.BackupSpec{TTL: ttl(time.Hour)}}})
	e.reconcile(e.rs.Schedule, "daily")
	var s cairnv1.Schedule
	e.get("daily", &s)
	if s.Status.Phase != cairnv1.SchedulePhaseFailed || !strings.Contains(s.Status.Conditions[0].Message, "minimum retention") {
		t.Errorf("schedule: phase %s, conditions %+v: want Failed for its ttl", s.Status.Phase, s.Status.Conditions)
	}
	if len(e.backups()) != 4 {
		t.Errorf("the rejected schedule created backups")
	}
}
