package prune_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/prune"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// A plan writes nothing and is what a dry run reports; Execute does what
// it says.
func TestPlanThenExecute(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gone, kept := t.TempDir(), t.TempDir()
	testenv.RandomFiles(t, gone, 3, 1<<20, 1)
	testenv.RandomFiles(t, kept, 3, 1<<20, 2)
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{gone}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{kept}}); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Forget(ctx, r, []*snapshot.Snapshot{sn}); err != nil {
		t.Fatal(err)
	}

	before := listAll(ctx, t, s)
	plan, err := prune.NewPlan(ctx, r, prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after := listAll(ctx, t, s); !reflect.DeepEqual(before, after) {
		t.Fatalf("NewPlan changed the store: %d objects before, %d after", len(before), len(after))
	}
	if !plan.Report.DryRun || plan.Report.PacksDeleted == 0 {
		t.Fatalf("plan report %+v: want a dry run that deletes packs", plan.Report)
	}
	dry, err := prune.Run(ctx, r, prune.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*dry, plan.Report) {
		t.Errorf("dry run %+v, plan %+v", *dry, plan.Report)
	}

	rep, err := prune.Execute(ctx, r, plan)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun || rep.PacksDeleted != plan.Report.PacksDeleted || rep.BytesFreed != plan.Report.BytesFreed {
		t.Errorf("Execute reported %+v for the plan %+v", *rep, plan.Report)
	}
	if n := len(listAll(ctx, t, s)); n >= len(before) {
		t.Errorf("%d objects after Execute, %d before: want fewer", n, len(before))
	}
}

func listAll(ctx context.Context, t *testing.T, s store.Store) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	if err := s.List(ctx, "", func(fi store.Info) error { m[fi.Key] = fi.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}
