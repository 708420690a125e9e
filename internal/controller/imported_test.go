package controller_test

import (
	"strings"
	"testing"
	"time"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// Backups imported from Velero (`cairn import velero`, written through
// backup.Writer) show up in the cluster through the location's sync like
// native ones, and keep the phase Velero gave them: a Failed one is not
// shown Completed.
func TestImportedBackupsSync(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dir := e.location("main", "")
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(e.ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	exp := start.Add(720 * time.Hour)
	for name, phase := range map[string]string{"velero-ok": layout.PhaseCompleted, "velero-failed": layout.PhaseFailed} {
		w, err := backup.NewWriter(e.ctx, r, name, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Add(e.ctx, layout.Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true},
			[]byte(`{"metadata":{"name":"c","namespace":"shop"}}`)); err != nil {
			t.Fatal(err)
		}
		m := &layout.Manifest{Phase: phase, Start: start, End: start.Add(time.Minute), TTL: "720h0m0s", Expires: &exp,
			Source: &layout.Source{Tool: "velero", Location: "s3://velero/a", Name: name, Phase: phase}}
		if phase == layout.PhaseFailed {
			m.Errors = []string{"velero: phase Failed: boom"}
		}
		if _, err := w.Save(e.ctx, m, map[string]string{layout.LabelImportedFrom: "velero"}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()

	e.reconcile(e.rs.Location, "main")
	bs := e.backups()
	ok, failed := bs["velero-ok"], bs["velero-failed"]
	if ok.Status.Phase != cairnv1.PhaseCompleted || ok.Status.Items != 1 || ok.Status.Expiration == nil || !ok.Status.Expiration.Time.Equal(exp) ||
		ok.Status.StartTimestamp == nil || !ok.Status.StartTimestamp.Time.Equal(start) {
		t.Errorf("synced imported backup: %+v", ok.Status)
	}
	if failed.Status.Phase != cairnv1.PhaseFailed || !strings.Contains(failed.Status.FailureReason, "boom") {
		t.Errorf("synced failed import: phase %s, reason %q; want Failed with Velero's reason", failed.Status.Phase, failed.Status.FailureReason)
	}
}
