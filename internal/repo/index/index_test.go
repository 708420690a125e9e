package index

import (
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
