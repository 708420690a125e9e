package controller_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestReplicas: a location with two replicas, one an empty folder, one
// holding another repository. After a backup, the location's maintenance
// copies the repository into the first (which then opens with the same
// passphrase and lists the backup's snapshot), and refuses the second with
// the reason, touching nothing there; status and metrics say so. Before
// the interval nothing runs again; after it, the replica is brought up to
// date with the next backup and nothing already there is copied again.
func TestReplicas(t *testing.T) {
	e := newEnv(t, noGuardrails)
	name := e.ns
	e.location(name, "")
	offsite := filepath.Join(t.TempDir(), "offsite")
	other := e.location(name+"-other", "") // another repository
	var loc cairnv1.BackupLocation
	e.get(name, &loc)
	loc.Spec.Replicas = []cairnv1.ReplicaSpec{{Name: "offsite", Repository: offsite}, {Name: "wrong", Repository: other}}
	if err := e.c.Update(e.ctx, &loc); err != nil {
		t.Fatal(err)
	}
	otherBefore := listing(t, other)

	e.configMap("settings")
	backupNow := func(b string) *cairnv1.Backup {
		e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: b, Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, StorageLocation: name}})
		e.reconcile(e.rs.Backup, b)
		var bk cairnv1.Backup
		e.get(b, &bk)
		if bk.Status.Phase != cairnv1.PhaseCompleted {
			t.Fatalf("backup %s: %s (%s)", b, bk.Status.Phase, bk.Status.FailureReason)
		}
		return &bk
	}
	b1 := backupNow("first")
	e.reconcile(e.rs.Location, name)
	e.get(name, &loc)
	st := map[string]cairnv1.ReplicaStatus{}
	for _, s := range loc.Status.Replicas {
		st[s.Name] = s
	}
	if s := st["offsite"]; s.Result != cairnv1.CheckOK || s.Copied == 0 || s.Copied != s.Objects || s.LastSuccessfulTime == nil {
		t.Fatalf("offsite replica: %+v", s)
	}
	if s := st["wrong"]; s.Result != cairnv1.CheckFailed || s.LastSuccessfulTime != nil || !strings.Contains(s.Message, "repository") {
		t.Errorf("replica onto another repository: %+v", s)
	}
	if after := listing(t, other); after != otherBefore {
		t.Errorf("the other repository changed:\n%s\n→\n%s", otherBefore, after)
	}
	if !replicaHas(t, e, offsite, b1.Status.SnapshotID) {
		t.Fatalf("the replica lacks snapshot %s", b1.Status.SnapshotID)
	}
	m := gather(t)
	labels := map[string]string{"location": name, "replica": "offsite"}
	if got := m.value("cairn_replica_last_success_timestamp_seconds", labels); got != float64(st["offsite"].LastSuccessfulTime.Unix()) {
		t.Errorf("cairn_replica_last_success_timestamp_seconds = %v, want %v", got, st["offsite"].LastSuccessfulTime.Unix())
	}
	if got := m.value("cairn_replica_success", map[string]string{"location": name, "replica": "wrong"}); got != 0 {
		t.Errorf("cairn_replica_success of the wrong replica = %v, want 0", got)
	}

	// Not due again before the interval.
	attempt := st["offsite"].LastAttempt
	b2 := backupNow("second")
	e.reconcile(e.rs.Location, name)
	e.get(name, &loc)
	for _, s := range loc.Status.Replicas {
		if s.Name == "offsite" && !s.LastAttempt.Equal(attempt) {
			t.Errorf("replicated again before the interval: %v → %v", attempt, s.LastAttempt)
		}
	}
	e.clock.Add(time.Hour + time.Second)
	e.reconcile(e.rs.Location, name)
	e.get(name, &loc)
	for _, s := range loc.Status.Replicas {
		if s.Name == "offsite" && (s.Result != cairnv1.CheckOK || s.Copied == 0 || s.Copied >= s.Objects || !s.LastSuccessfulTime.After(attempt.Time)) {
			t.Errorf("the second replication: %+v (want only the new objects copied)", s)
		}
	}
	if !replicaHas(t, e, offsite, b2.Status.SnapshotID) {
		t.Errorf("the replica lacks the second backup's snapshot %s", b2.Status.SnapshotID)
	}
}

// replicaHas opens the replica at dir with the location's passphrase and
// reports whether it holds snapshot id.
func replicaHas(t *testing.T, e *env, dir, id string) bool {
	t.Helper()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(e.ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		t.Fatalf("open the replica: %v", err)
	}
	defer r.Close()
	sns, err := snapshot.List(e.ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range sns {
		if sn.ID == id {
			return true
		}
	}
	return false
}

// listing names every file under dir with its size.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			b.WriteString(strings.TrimPrefix(p, dir) + " " + fi.ModTime().String() + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
