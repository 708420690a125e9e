package volumesave_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/mem"
	"github.com/cairn-backup/cairn/internal/velero"
	"github.com/cairn-backup/cairn/internal/velero/volumesave"
)

// Save makes one snapshot of the tree with the labels and host given, and
// counts what it read.
func TestSave(t *testing.T) {
	ctx := context.Background()
	r, err := repo.Init(ctx, mem.New(), []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"data/a.txt": {Data: []byte("hello")}, "data/sub/b.txt": {Data: []byte("world!")}}
	sn, files, bytes, err := volumesave.Save(ctx, r, fsys, velero.VolumeSnapshot{
		Path: "/data", Host: "node-1", Program: "test", Labels: map[string]string{"k": "v"},
	})
	if err != nil || sn == nil {
		t.Fatalf("save: %v", err)
	}
	if files != 2 || bytes != 11 {
		t.Errorf("read %d files, %d bytes; want 2 and 11", files, bytes)
	}
	got, err := snapshot.Load(ctx, r, sn.ID)
	if err != nil || got.Labels["k"] != "v" || got.Host != "node-1" {
		t.Errorf("the snapshot: %+v, %v", got, err)
	}
}
