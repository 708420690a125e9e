package index

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/pack"
)

func samplePacks() []Pack {
	return []Pack{
		{ID: blob.ID{0xaa}, Entries: []pack.Entry{{Type: blob.Data, ID: blob.ID{1}, Offset: 0, Length: 40, RawLength: 12}}},
		{ID: blob.ID{0xbb}, Entries: []pack.Entry{{Type: blob.Tree, ID: blob.ID{2}, Offset: 7, Length: 90, RawLength: 900}, {Type: blob.Data, ID: blob.ID{1}, Offset: 97, Length: 40, RawLength: 12}}},
	}
}

func TestRoundTripAndLookup(t *testing.T) {
	got, err := Decode(Encode(samplePacks()))
	if err != nil {
		t.Fatal(err)
	}
	x := New()
	for _, p := range got {
		x.Add(p)
	}
	if x.Len() != 2 {
		t.Fatalf("Len = %d, want 2 distinct blobs", x.Len())
	}
	loc, ok := x.Lookup(blob.ID{1})
	if !ok || loc.Pack != (blob.ID{0xaa}) || loc.Length != 40 {
		t.Fatalf("duplicate blob should keep its first location, got %+v", loc)
	}
	if _, err := Decode(Encode(samplePacks())[:30]); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(samplePacks()))
	f.Add([]byte("CIX1\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		packs, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(packs))
		if err != nil || len(again) != len(packs) {
			t.Fatalf("re-encoding a decoded index fails: %v", err)
		}
	})
}

func TestFileSupersedes(t *testing.T) {
	f := File{Packs: samplePacks(), Supersedes: []string{"index/" + blob.ID{7}.String(), "snapshots/junk"}}
	b := EncodeFile(f)
	if string(b[:4]) != "CIX2" {
		t.Fatalf("a file that supersedes starts %q, want CIX2", b[:4])
	}
	got, err := DecodeFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Packs) != 2 || len(got.Supersedes) != 2 || got.Supersedes[1] != "snapshots/junk" {
		t.Fatalf("round trip: %+v", got)
	}
	if packs, err := Decode(b); err != nil || len(packs) != 2 {
		t.Fatalf("Decode of a CIX2 file: %d packs, %v", len(packs), err)
	}
	if b := EncodeFile(File{Packs: samplePacks()}); string(b[:4]) != "CIX1" {
		t.Fatalf("a file that supersedes nothing starts %q, want CIX1", b[:4])
	}
	for _, bad := range []string{"data/ab/cd", "index/a/b", "index/", "keys/x", "snapshots/a b"} {
		if _, err := DecodeFile(EncodeFile(File{Supersedes: []string{bad}})); !errors.Is(err, ErrFormat) {
			t.Errorf("superseded key %q: %v, want ErrFormat", bad, err)
		}
	}
	if _, err := DecodeFile(b[:len(b)-3]); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated CIX2: %v", err)
	}
}

func FuzzDecodeFile(f *testing.F) {
	f.Add(EncodeFile(File{Packs: samplePacks(), Supersedes: []string{"index/abc", "snapshots/def"}}))
	f.Add([]byte("CIX2\x00\x00"))
	f.Add(Encode(samplePacks()))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := DecodeFile(b)
		if err != nil {
			return
		}
		again, err := DecodeFile(EncodeFile(file))
		if err != nil || len(again.Packs) != len(file.Packs) || len(again.Supersedes) != len(file.Supersedes) {
			t.Fatalf("re-encoding a decoded index file fails: %v", err)
		}
		for i := range file.Supersedes {
			if again.Supersedes[i] != file.Supersedes[i] {
				t.Fatalf("superseded key %d: %q became %q", i, file.Supersedes[i], again.Supersedes[i])
			}
		}
	})
}

// TestGoldenSupersedes pins the bytes of a "CIX2" file (repository-format.md §7).
func TestGoldenSupersedes(t *testing.T) {
	f := File{
		Supersedes: []string{"index/ab", "snapshots/cd"},
		Packs:      []Pack{{ID: blob.ID{0xaa}, Entries: []pack.Entry{{Type: blob.Data, ID: blob.ID{1}, Offset: 0, Length: 40, RawLength: 12}}}},
	}
	const golden = "434958320208696e6465782f61620c736e617073686f74732f636401" +
		"aa00000000000000000000000000000000000000000000000000000000000000" + "01" +
		"01" + "0100000000000000000000000000000000000000000000000000000000000000" + "00280c"
	if got := hex.EncodeToString(EncodeFile(f)); got != golden {
		t.Fatalf("EncodeFile =\n%s\nwant\n%s", got, golden)
	}
}
