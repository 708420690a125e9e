package restorer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/mkdata"
	"github.com/cairn-backup/cairn/internal/restorer"
)

// TestMkdataRoundTrip backs up the benchmark dataset (every kind of entry
// it makes: sparse file, hard link, symlinks, empty files and folders,
// non-ASCII names), changes it as a "next day", backs it up again, and
// restores both snapshots byte for byte with metadata.
func TestMkdataRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "data")
	if err := mkdata.Generate(src, 48, 1); err != nil {
		t.Fatal(err)
	}
	r, _ := newRepo(t)
	first, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	day1 := t.TempDir()
	if _, err := restorer.Run(ctx, r, first, restorer.Options{Target: day1, Verify: true}); err != nil {
		t.Fatal(err)
	}
	compare(t, src, day1)

	if err := mkdata.Mutate(src, 2, 1); err != nil {
		t.Fatal(err)
	}
	second, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}, Parent: first})
	if err != nil {
		t.Fatal(err)
	}
	if second.Summary.FilesUnchanged == 0 || second.Summary.BytesRead >= first.Summary.BytesRead/2 {
		t.Errorf("next-day backup read %d of %d bytes (%d files unchanged): not incremental",
			second.Summary.BytesRead, first.Summary.BytesRead, second.Summary.FilesUnchanged)
	}
	day2 := t.TempDir()
	if _, err := restorer.Run(ctx, r, second, restorer.Options{Target: day2, Verify: true}); err != nil {
		t.Fatal(err)
	}
	compare(t, src, day2)
}

func compare(t *testing.T, want, got string) {
	t.Helper()
	diffs, err := dirdiff.Compare(want, got, dirdiff.Options{ModTime: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	if len(diffs) == 0 {
		n := 0
		filepath.WalkDir(got, func(string, os.DirEntry, error) error { n++; return nil })
		if n < 10 {
			t.Fatal(errors.New("restore compared fewer than 10 entries: the dataset is missing"))
		}
	}
}
