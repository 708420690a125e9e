package controller_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// Two backups of a schedule run for real; a restore from the schedule
// takes the newest Completed one (not the newer Failed one) and brings a
// deleted object back. A second namespace, standing for a fresh cluster
// with the same bucket, gets the backups back as Completed Backup objects.
func TestRestoreFromScheduleAndBucketSync(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dir := e.location("main", "")
	e.configMap("first")
	run := func(name string) {
		e.create(&cairnv1.Backup{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Labels: map[string]string{cairnv1.LabelSchedule: "daily"}},
			Spec:       cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}},
		})
		e.reconcile(e.rs.Backup, name)
		var b cairnv1.Backup
		e.get(name, &b)
		if b.Status.Phase != cairnv1.PhaseCompleted {
			t.Fatalf("%s: phase %s (%s)", name, b.Status.Phase, b.Status.FailureReason)
		}
	}
	run("daily-20250101000000")
	e.configMap("second") // only in the newer backup
	e.clock.Add(24 * time.Hour)
	run("daily-20250102000000")
	e.clock.Add(24 * time.Hour)
	failed := &cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "daily-20250103000000", Namespace: e.ns, Labels: map[string]string{cairnv1.LabelSchedule: "daily"}}}
	e.create(failed)
	failed.Status = cairnv1.BackupStatus{Phase: cairnv1.PhaseFailed, StartTimestamp: &metav1.Time{Time: e.clock.Now()}}
	if err := e.c.Status().Update(e.ctx, failed); err != nil {
		t.Fatal(err)
	}

	for _, n := range []string{"first", "second"} {
		if err := e.c.Delete(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: e.ns}}); err != nil {
			t.Fatal(err)
		}
	}
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r1", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{ScheduleName: "daily", IncludedResources: []string{"configmaps"}}})
	e.reconcile(e.rs.Restore, "r1")
	var rs cairnv1.Restore
	e.get("r1", &rs)
	if rs.Status.Phase != cairnv1.PhaseCompleted || rs.Status.BackupName != "daily-20250102000000" {
		t.Fatalf("restore: phase %s, backup %q, reason %q; want Completed from daily-20250102000000", rs.Status.Phase, rs.Status.BackupName, rs.Status.FailureReason)
	}
	if rs.Status.Created < 2 {
		t.Errorf("restore created %d objects, want the two config maps", rs.Status.Created)
	}
	var cm corev1.ConfigMap
	e.get("second", &cm)

	// A restore of a schedule without backups fails and says why.
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r2", Namespace: e.ns}, Spec: cairnv1.RestoreSpec{ScheduleName: "weekly"}})
	e.reconcile(e.rs.Restore, "r2")
	e.get("r2", &rs)
	if rs.Status.Phase != cairnv1.PhaseFailed || rs.Status.FailureReason == "" {
		t.Errorf("restore of an empty schedule: phase %s, reason %q", rs.Status.Phase, rs.Status.FailureReason)
	}

	// Bucket sync into an empty "cluster".
	f := newEnv(t, noGuardrails)
	f.location("main", dir)
	f.reconcile(f.rs.Location, "main")
	bs := f.backups()
	if len(bs) != 2 {
		t.Fatalf("synced backups %v, want the two in the repository", names(bs))
	}
	b := bs["daily-20250102000000"]
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.SnapshotID == "" || b.Labels[cairnv1.LabelSchedule] != "daily" ||
		b.Labels[cairnv1.LabelSynced] != "true" || b.Status.Expiration == nil || b.Status.Items < 2 {
		t.Errorf("synced backup: labels %v, status %+v", b.Labels, b.Status)
	}
	f.reconcile(f.rs.Location, "main") // idempotent
	if len(f.backups()) != 2 {
		t.Errorf("second sync changed the backups: %v", names(f.backups()))
	}
	// The fresh cluster restores from the bucket, by schedule.
	f.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "dr", Namespace: f.ns}, Spec: cairnv1.RestoreSpec{
		ScheduleName: "daily", IncludedResources: []string{"configmaps"}, NamespaceMapping: map[string]string{e.ns: f.ns}}})
	f.reconcile(f.rs.Restore, "dr")
	f.get("dr", &rs)
	if rs.Status.Phase != cairnv1.PhaseCompleted || rs.Status.BackupName != "daily-20250102000000" {
		t.Fatalf("restore in the fresh cluster: phase %s, backup %q, reason %q", rs.Status.Phase, rs.Status.BackupName, rs.Status.FailureReason)
	}
	f.get("second", &cm)
}
