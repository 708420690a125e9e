package controller_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
)

// The controller process as cairn-controller runs it (manager, watches,
// no leader election): a Backup created in its namespace completes and
// its location turns Available, with no reconcile called by hand.
func TestManagerEndToEnd(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	e.configMap("app")
	e.runController(controller.Options{Retention: noGuardrails, SyncInterval: time.Second})
	e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "managed", Namespace: e.ns},
		Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
	deadline := time.Now().Add(90 * time.Second)
	for {
		var b cairnv1.Backup
		var loc cairnv1.BackupLocation
		e.get("managed", &b)
		e.get("main", &loc)
		if b.Status.Phase == cairnv1.PhaseCompleted && loc.Status.Phase == cairnv1.LocationAvailable && loc.Status.Backups == 1 {
			return
		}
		if b.Status.Phase == cairnv1.PhaseFailed || time.Now().After(deadline) {
			t.Fatalf("backup %s (%s), location %s %q backups %d", b.Status.Phase, b.Status.FailureReason, loc.Status.Phase, loc.Status.Message, loc.Status.Backups)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
