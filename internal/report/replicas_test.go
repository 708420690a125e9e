package report

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// Replicas: one replicated after every snapshot holds them all (lag 0, no
// finding); one replicated before the last snapshot lacks it, with its age
// as the lag, a finding once that is over a day; one that cannot be read
// is a finding with the reason. The last check on record is shown, and is
// a finding when it found damage.
func TestReplicasInReport(t *testing.T) {
	ctx := context.Background()
	src := mem.New()
	r, err := repo.Init(ctx, src, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	save := func(at time.Time) {
		t.Helper()
		if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Time: at, Host: "h", Paths: []string{"/data"}, Tree: blob.ID{1}}); err != nil { // the tree is not read
			t.Fatal(err)
		}
	}
	behind, current := mem.New(), mem.New()
	save(now.Add(-72 * time.Hour))
	if _, err := replicate.Run(ctx, src, behind, replicate.Options{}); err != nil {
		t.Fatal(err)
	}
	last := now.Add(-30 * time.Hour)
	save(last)
	if _, err := replicate.Run(ctx, src, current, replicate.Options{}); err != nil {
		t.Fatal(err)
	}
	rep, err := Collect(ctx, r, Input{Now: now, Replicas: []ReplicaInput{
		{Name: "current", Store: current}, {Name: "behind", Store: behind}, {Name: "gone", Error: "no such bucket"},
	}, LastCheck: &Check{Time: now.Add(-time.Hour), Result: "Damaged", Message: "pack ab…: checksum mismatch"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Replica{}
	for _, x := range rep.Protection.Replicas {
		got[x.Name] = x
	}
	if c := got["current"]; c.Snapshots != 2 || c.Missing != 0 || c.LagSeconds != 0 || c.OldestMissing != nil {
		t.Errorf("current replica: %+v", c)
	}
	if b := got["behind"]; b.Snapshots != 1 || b.Missing != 1 || b.OldestMissing == nil || !b.OldestMissing.Equal(last) || b.LagSeconds != 30*3600 {
		t.Errorf("replica behind: %+v", b)
	}
	var f []string
	for _, x := range rep.Findings {
		if x.Control == ControlProtected {
			f = append(f, x.Text)
		}
	}
	all := strings.Join(f, "\n")
	for _, want := range []string{"replica behind lacks 1 of the repository's snapshots", "replica gone could not be read: no such bucket", "integrity check", "Damaged"} {
		if !strings.Contains(all, want) {
			t.Errorf("findings lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "replica current") {
		t.Errorf("an up-to-date replica is a finding:\n%s", all)
	}
	var md strings.Builder
	if err := Markdown(&md, rep); err != nil || !strings.Contains(md.String(), "Replica behind") || !strings.Contains(md.String(), "lag 30h0m0s") {
		t.Errorf("markdown (%v):\n%s", err, md.String())
	}
	var html strings.Builder
	if err := HTML(&html, rep); err != nil || !strings.Contains(html.String(), "Replica current") || !strings.Contains(html.String(), "Last integrity check") {
		t.Errorf("html (%v) lacks the replicas or the check", err)
	}
}
