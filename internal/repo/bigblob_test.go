package repo

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// A tree is one blob however large its directory: one of 100,000 entries
// is ≈ 30 MiB of JSON, far beyond the largest chunk. It must load again
// (a decoder limited to the chunk size once made such snapshots
// unrestorable).
func TestBlobLargerThanAChunkLoads(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	r, err := Init(ctx, st, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var tree bytes.Buffer
	for i := 0; tree.Len() < 12<<20; i++ {
		fmt.Fprintf(&tree, `{"name":"msg-%07d.eml","type":"file","mode":420,"mtime":%d},`, i, 1700000000000000000+i*7919)
	}
	id, _, err := r.SaveBlob(ctx, blob.Tree, tree.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, st, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	got, err := again.LoadBlob(ctx, blob.Tree, id, nil)
	if err != nil {
		t.Fatalf("LoadBlob of a %d-byte tree: %v", tree.Len(), err)
	}
	if !bytes.Equal(got, tree.Bytes()) {
		t.Fatalf("LoadBlob gave %d bytes, not the %d saved", len(got), tree.Len())
	}
}
