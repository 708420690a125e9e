package check_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/testenv"
)

func TestFlippedByteIsFoundAndNamed(t *testing.T) {
	ctx := context.Background()
	repoDir, src := t.TempDir(), t.TempDir()
	s, _ := local.New(repoDir)
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Two groups of files in different packs: big incompressible files fill
	// packs of their own.
	testenv.RandomFiles(t, filepath.Join(src, "damaged"), 2, 9<<20, 1)
	testenv.RandomFiles(t, filepath.Join(src, "intact"), 2, 9<<20, 2)
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Run(ctx, r, check.Options{ReadData: true}); err != nil {
		t.Fatalf("fresh repository: %v", err)
	}

	// Flip one byte in the middle of the pack holding the first chunk of
	// the first "damaged" file.
	var victim string
	var content []string
	walkFiles(t, r, sn.Tree.String(), func(path string, ids []string) {
		if strings.HasPrefix(path, "damaged/") && victim == "" {
			victim, content = path, ids
		}
	})
	id := mustParse(t, content[0])
	loc, ok := r.Lookup(id)
	if !ok {
		t.Fatal("chunk not indexed")
	}
	packFile := filepath.Join(repoDir, filepath.FromSlash(repo.PackKey(loc.Pack)))
	os.Chmod(packFile, 0o600)
	f, err := os.OpenFile(packFile, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := int64(loc.Offset) + int64(loc.Length)/2
	f.ReadAt(b, off)
	b[0] ^= 0x01
	f.WriteAt(b, off)
	f.Close()

	// Structure-only check does not read data; --read-data finds it.
	rep, err := check.Run(ctx, r, check.Options{ReadData: true})
	if !errors.Is(err, check.ErrDamaged) {
		t.Fatalf("check --read-data: err = %v, want ErrDamaged", err)
	}
	if len(rep.DamagedPacks) != 1 || rep.DamagedPacks[0].ID != loc.Pack.String() {
		t.Fatalf("damaged packs = %+v, want only %s", rep.DamagedPacks, loc.Pack.Short())
	}
	found := false
	for _, a := range rep.Affected {
		if a.Snapshot == sn.ShortID() && a.Path == victim {
			found = true
		}
		if strings.HasPrefix(a.Path, "intact/") {
			t.Errorf("intact file reported affected: %+v", a)
		}
	}
	if !found {
		t.Fatalf("affected = %+v, want %s in snapshot %s", rep.Affected, victim, sn.ShortID())
	}

	// Restoring the intact files works; the damaged one fails alone.
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst, Include: []string{"intact"}, Verify: true}); err != nil {
		t.Fatalf("restore of unaffected files: %v", err)
	}
	res, err := restorer.Run(ctx, r, sn, restorer.Options{Target: t.TempDir()})
	if !errors.Is(err, restorer.ErrPartial) || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], filepath.Base(victim)) {
		t.Fatalf("full restore: err %v, errors %v; want one failure naming %s", err, res.Errors, victim)
	}
}
