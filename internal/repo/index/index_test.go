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

// IDs that share the prefix the index maps by are all found, each at its
// own location, and the first location of a blob stays its location.
func TestPrefixClash(t *testing.T) {
	id := func(b byte) blob.ID { return blob.ID{0xde, 0xad, 0xbe, 0xef, b} }
	x := New()
	x.Add(Pack{ID: blob.ID{0xaa}, Entries: []pack.Entry{
		{Type: blob.Data, ID: id(1), Offset: 10, Length: 40, RawLength: 30},
		{Type: blob.Tree, ID: id(2), Offset: 50, Length: 41, RawLength: 31},
	}})
	x.Add(Pack{ID: blob.ID{0xbb}, Entries: []pack.Entry{
		{Type: blob.Data, ID: id(3), Offset: 0, Length: 42, RawLength: 32},
		{Type: blob.Tree, ID: id(2), Offset: 99, Length: 41, RawLength: 31}, // a second copy
	}})
	if x.Len() != 3 {
		t.Fatalf("Len = %d, want 3", x.Len())
	}
	want := map[blob.ID]Location{
		id(1): {Pack: blob.ID{0xaa}, Type: blob.Data, Offset: 10, Length: 40, RawLength: 30},
		id(2): {Pack: blob.ID{0xaa}, Type: blob.Tree, Offset: 50, Length: 41, RawLength: 31},
		id(3): {Pack: blob.ID{0xbb}, Type: blob.Data, Offset: 0, Length: 42, RawLength: 32},
	}
	for id, w := range want {
		if got, ok := x.Lookup(id); !ok || got != w {
			t.Errorf("Lookup(%x) = %+v, %v; want %+v", id[:5], got, ok, w)
		}
	}
	if x.Has(id(4)) {
		t.Error("Has reports a blob of the same prefix that was never added")
	}
	seen := map[blob.ID]Location{}
	x.Each(func(id blob.ID, loc Location) bool { seen[id] = loc; return true })
	if len(seen) != 3 || seen[id(3)] != want[id(3)] {
		t.Errorf("Each gave %v, want the 3 blobs", seen)
	}
}
