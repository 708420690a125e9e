package index

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/pack"
)

// The index is what a backup's memory grows by with the number of blobs
// (docs/benchmarks.md, "Scale"): a blob costs its entry (ID and slot, 52
// bytes) and its slot in the map of prefixes (9 bytes with its control
// byte, the map's tables filled between 7/16 and 7/8, since a full table
// splits in two): 62 to 73 bytes a blob. The bound stated there is 80.
func TestIndexMemoryPerBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ≈ 40 MB")
	}
	const blobs, perPack = 400_000, 5000
	packs := make([]Pack, 0, blobs/perPack)
	for p := 0; p < blobs/perPack; p++ {
		pk := Pack{Entries: make([]pack.Entry, perPack)}
		binary.LittleEndian.PutUint64(pk.ID[:], uint64(p)+1<<62)
		for i := range pk.Entries {
			e := &pk.Entries[i]
			binary.LittleEndian.PutUint64(e.ID[:], uint64(p*perPack+i)*0x9e3779b97f4a7c15)
			binary.LittleEndian.PutUint64(e.ID[8:], uint64(p*perPack+i))
			e.Type, e.Offset, e.Length, e.RawLength = blob.Data, uint32(i*3000), 3000, 4000
		}
		packs = append(packs, pk)
	}
	before := heap()
	x := New()
	for _, p := range packs {
		x.Add(p)
	}
	after := heap()
	runtime.KeepAlive(packs)
	if x.Len() != blobs {
		t.Fatalf("%d blobs indexed, want %d", x.Len(), blobs)
	}
	per := float64(after-before) / blobs
	t.Logf("index: %.1f bytes per blob (%d blobs)", per, blobs)
	if per > 80 {
		t.Errorf("the index takes %.1f bytes per blob, more than the 80 of the stated bound", per)
	}
	runtime.KeepAlive(x)
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
