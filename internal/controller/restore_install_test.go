package controller_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
)

// The chart's restore on install waits until the bucket was synced into
// the fresh cluster, then runs (here it fails: the bucket is empty).
func TestRestoreOnInstallWaitsForSync(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	e.create(&cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "on-install", Namespace: e.ns,
		Annotations: map[string]string{controller.AnnotationWaitForSync: "true"}},
		Spec: cairnv1.RestoreSpec{ScheduleName: "daily-backup"}})
	if res := e.reconcile(e.rs.Restore, "on-install"); res.RequeueAfter <= 0 {
		t.Errorf("restore before the sync: requeue after %s, want a wait", res.RequeueAfter)
	}
	var rs cairnv1.Restore
	e.get("on-install", &rs)
	if rs.Status.Phase != "" {
		t.Fatalf("restore ran before the sync: phase %s (%s)", rs.Status.Phase, rs.Status.FailureReason)
	}
	e.clock.Add(time.Minute)
	e.reconcile(e.rs.Location, "main")
	e.reconcile(e.rs.Restore, "on-install")
	e.get("on-install", &rs)
	if rs.Status.Phase != cairnv1.PhaseFailed || rs.Status.FailureReason == "" {
		t.Errorf("restore after the sync of an empty bucket: phase %s, reason %q; want Failed with the reason", rs.Status.Phase, rs.Status.FailureReason)
	}
}
