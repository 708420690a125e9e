package mkdata_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/cairn-backup/cairn/internal/mkdata"
)

func TestFiles(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []struct {
		dir  string
		seed uint64
	}{{a, 1}, {b, 1}, {c, 2}} {
		if err := mkdata.Files(d.dir, 3000, 500, d.seed); err != nil {
			t.Fatal(err)
		}
	}
	da, kinds := digest(t, a)
	db, _ := digest(t, b)
	dc, _ := digest(t, c)
	if da != db {
		t.Error("the same seed gave different trees")
	}
	if da == dc {
		t.Error("another seed gave the same tree")
	}
	if kinds["file"] != 3000 {
		t.Errorf("%d files, want 3000", kinds["file"])
	}
	spool, err := os.ReadDir(filepath.Join(a, "spool"))
	if err != nil || len(spool) != 500 {
		t.Errorf("spool/ holds %d entries (%v), want 500", len(spool), err)
	}
	// 2500 files over leaves of about 100: a fan-out, not one folder.
	if kinds["dir"] < 10 || kinds["depth"] != 3 {
		t.Errorf("%d folders, depth %d: want a fan-out three deep", kinds["dir"], kinds["depth"])
	}
	if err := mkdata.Files(a, 10, 0, 1); err == nil {
		t.Error("Files wrote into a directory that is not empty")
	}
}

func TestBigFile(t *testing.T) {
	dir := t.TempDir()
	sum := func(name string, seed uint64) []byte {
		p := filepath.Join(dir, name)
		if err := mkdata.BigFile(p, 64, seed); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 64<<20 {
			t.Fatalf("%s: %d bytes, want 64 MiB", name, len(b))
		}
		return b
	}
	a, b, c := sum("a", 1), sum("b", 1), sum("c", 2)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different bytes")
	}
	if sha256.Sum256(a) == sha256.Sum256(c) {
		t.Error("another seed gave the same bytes")
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	z := len(enc.EncodeAll(a, nil))
	if z < len(a)/5 || z > len(a)*9/10 {
		t.Errorf("compresses to %d of %d bytes: want partly compressible, not all zeros nor all random", z, len(a))
	}
	if err := mkdata.BigFile(filepath.Join(dir, "a"), 1, 1); err == nil {
		t.Error("BigFile replaced an existing file")
	}
}
