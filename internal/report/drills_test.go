package report

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// Drills: one that passed in the period counts and is listed; one whose
// last run failed, and one with no success in the period, are findings;
// with none that passed, the report says nothing shows the backups
// restore; drills that could not be read are a finding of their own.
func TestDrillsInReport(t *testing.T) {
	ctx := context.Background()
	r, err := repo.Init(ctx, mem.New(), []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	recent, old := now.Add(-48*time.Hour), now.Add(-90*24*time.Hour)
	findings := func(rep *Report) string {
		var out []string
		for _, f := range rep.Findings {
			if f.Control == ControlTested {
				out = append(out, f.Text)
			}
		}
		return strings.Join(out, "\n")
	}
	rep, err := Collect(ctx, r, Input{Now: now, Drills: []Drill{
		{Name: "weekly", Backup: "daily-1", Phase: "Completed", LastSuccess: &recent, Seconds: 42},
		{Name: "broken", Phase: "Failed", Failure: "objects: missing objects: configmaps: 1 of 2"},
		{Name: "stale", Phase: "Completed", LastSuccess: &old},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := findings(rep)
	if rep.Tested.Drills != 1 || len(rep.Tested.Last) != 3 || !strings.Contains(f, "broken: its last run failed: objects") || !strings.Contains(f, "stale: no successful run") || strings.Contains(f, "weekly") || strings.Contains(f, "no restore drill passed") {
		t.Errorf("tested %+v, findings:\n%s", rep.Tested, f)
	}
	rep, err = Collect(ctx, r, Input{Now: now, DrillsUnread: "forbidden"})
	if err != nil {
		t.Fatal(err)
	}
	if f := findings(rep); !strings.Contains(f, "could not be read: forbidden") {
		t.Errorf("unread drills: findings:\n%s", f)
	}
	rep, err = Collect(ctx, r, Input{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if f := findings(rep); !strings.Contains(f, "no restore drill passed in the period") {
		t.Errorf("no drills: findings:\n%s", f)
	}
}
