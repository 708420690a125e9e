package controller_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// A Backup whose snapshot was written again without erased data (cairn
// erase apply gives it a new ID) still expires: the controller finds it by
// the ID in its status and forgets it, so erased-then-expired data does
// not linger forever.
func TestErasedBackupStillExpires(t *testing.T) {
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
		t.Fatalf("phase %s (%s)", b.Status.Phase, b.Status.FailureReason)
	}

	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(e.ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := erase.ParseObject("configmap/" + e.ns + "/app-config")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := erase.Apply(e.ctx, r, erase.Target{Object: obj}, erase.ApplyOptions{})
	r.Close()
	if err != nil || len(rc.Rewritten) != 1 || rc.Rewritten[0].Old != b.Status.SnapshotID {
		t.Fatalf("erase: %v, %+v", err, rc)
	}

	e.clock.Add(49 * time.Hour)
	e.reconcile(e.rs.Backup, "b1")
	e.reconcile(e.rs.Backup, "b1")
	if !e.gone("b1", &b) {
		t.Fatalf("expired backup still there: phase %s", b.Status.Phase)
	}
	if got := e.repoBackups(dir); len(got) != 0 {
		t.Fatalf("the rewritten snapshot outlived its Backup's expiry: %v", got)
	}
}
