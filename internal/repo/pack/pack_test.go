package pack

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

func sample() []Entry {
	return []Entry{
		{Type: blob.Data, ID: blob.ID{1, 2, 3}, Offset: 0, Length: 100, RawLength: 300},
		{Type: blob.Tree, ID: blob.ID{9}, Offset: 100, Length: 1 << 20, RawLength: 5},
	}
}

// TestGoldenHeader pins the header encoding (part of the format).
func TestGoldenHeader(t *testing.T) {
	b := EncodeHeader(sample()[:1])
	want := append([]byte("CPK1\x01\x01\x01\x02\x03"), make([]byte, 29)...)
	want = append(want, 0x00, 0x64, 0xac, 0x02)
	if !bytes.Equal(b, want) {
		t.Fatalf("header encoding changed:\n got %x\nwant %x", b, want)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	got, err := DecodeHeader(EncodeHeader(sample()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1] != sample()[1] || got[0] != sample()[0] {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := DecodeHeader(EncodeHeader(sample())[:20]); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated header: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(EncodeHeader(sample()))
	f.Add([]byte("CPK1\x00"))
	f.Add([]byte("CPK1\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := DecodeHeader(b)
		if err != nil {
			return
		}
		again, err := DecodeHeader(EncodeHeader(entries))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("re-encoding a decoded header fails: %v", err)
		}
	})
}

func FuzzHeaderLength(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0}, int64(100))
	f.Fuzz(func(t *testing.T, trailer []byte, size int64) {
		off, l, err := HeaderLength(trailer, size)
		if err == nil && (off < 0 || l < 0 || off+l+TrailerSize != size) {
			t.Fatalf("HeaderLength accepted off=%d len=%d for size %d", off, l, size)
		}
	})
}
