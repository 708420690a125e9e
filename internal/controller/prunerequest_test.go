package controller_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/controller"
)

// An expired backup is forgotten by one controller, which then goes away
// (a restart, a new leader) before its location's next sync: the prune
// request is in the BackupLocation's status, so the next controller
// prunes, and clears the request.
func TestPruneRequestSurvivesRestart(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	e.configMap("app-config")
	e.create(&cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: e.ns},
		Spec:       cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, TTL: ttl(48 * time.Hour)},
	})
	e.reconcile(e.rs.Backup, "b1")
	e.clock.Add(49 * time.Hour)
	e.reconcile(e.rs.Backup, "b1") // expired: Deleting
	e.reconcile(e.rs.Backup, "b1") // finalizer: forget
	var b cairnv1.Backup
	if !e.gone("b1", &b) {
		t.Fatalf("expired backup still there: phase %s", b.Status.Phase)
	}
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	if loc.Status.PruneRequested == nil {
		t.Fatal("the forget left no prune request in the location's status")
	}

	// A new controller: nothing of the first one's memory.
	next := controller.New(e.c, e.c, controller.Options{Namespace: e.ns, Cluster: e.cfg.Config, Retention: noGuardrails, Clock: e.clock})
	e.reconcile(next.Location, "main")
	e.get("main", &loc)
	if loc.Status.LastPruneTime == nil || loc.Status.PruneRequested != nil {
		t.Fatalf("after the next controller's sync: last prune %v, request %v; want pruned and cleared", loc.Status.LastPruneTime, loc.Status.PruneRequested)
	}
}

// Without any forget, a location is pruned once spec.pruneInterval has
// passed since its last prune (or its creation), and not before; 0s turns
// scheduled prunes off.
func TestScheduledPrune(t *testing.T) {
	e := newEnv(t, noGuardrails)
	e.location("main", "")
	e.reconcile(e.rs.Location, "main")
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	if loc.Status.LastPruneTime != nil {
		t.Fatalf("pruned at the first sync: %v", loc.Status.LastPruneTime)
	}
	e.clock.Add(controller.DefaultPruneInterval + time.Minute)
	e.reconcile(e.rs.Location, "main")
	e.get("main", &loc)
	if loc.Status.LastPruneTime == nil || !loc.Status.LastPruneTime.Time.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Fatalf("after the interval: last prune %v, want %v", loc.Status.LastPruneTime, e.clock.Now())
	}
	first := *loc.Status.LastPruneTime
	e.clock.Add(time.Hour)
	e.reconcile(e.rs.Location, "main")
	e.get("main", &loc)
	if !loc.Status.LastPruneTime.Equal(&first) {
		t.Errorf("pruned again an hour later: %v", loc.Status.LastPruneTime)
	}
	loc.Spec.PruneInterval = &metav1.Duration{}
	if err := e.c.Update(e.ctx, &loc); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * 24 * time.Hour)
	e.reconcile(e.rs.Location, "main")
	e.get("main", &loc)
	if !loc.Status.LastPruneTime.Equal(&first) {
		t.Errorf("pruned with pruneInterval 0s: %v", loc.Status.LastPruneTime)
	}
}
