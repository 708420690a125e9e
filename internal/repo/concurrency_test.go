package repo

import (
	"context"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// slowStore makes every Put take a while, so packs fill up while uploads
// are still running: the situation in which bounded pack buffers and the
// single upload slot once deadlocked with the repository's lock.
type slowStore struct{ *mem.Mem }

func (s slowStore) Put(ctx context.Context, key string, data []byte) error {
	time.Sleep(3 * time.Millisecond)
	return s.Mem.Put(ctx, key, data)
}

func TestConcurrentSavesWithSlowUploadsDoNotDeadlock(t *testing.T) {
	ctx := context.Background()
	r, err := Init(ctx, slowStore{mem.New()}, []byte("pw"), Options{Uploads: 1, IndexEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.cfg.PackSize = 1 << 20 // many small packs: many pack switches
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(w)))
				buf := make([]byte, 200<<10)
				for i := 0; i < 60; i++ {
					rng.Read(buf)
					if _, _, err := r.SaveBlob(ctx, blob.Data, buf); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := r.Flush(ctx); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("saving blobs hung: pack buffers, upload slot and repository lock deadlocked")
	}
	if n := r.idx.Len(); n != 8*60 {
		t.Fatalf("%d blobs indexed, want %d", n, 8*60)
	}
}
