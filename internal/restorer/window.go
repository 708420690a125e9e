package restorer

import (
	"context"
	"sync"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
)

// Small files are restored in directory order, and a backup stored their
// blobs in about that order, side by side in the same packs. Fetching each
// alone costs one request per file, which on object storage is latency,
// not bandwidth. windows reads the aligned 1 MiB of a pack around a small
// blob once and serves the blobs next to it from memory.
const (
	windowSize    = 1 << 20
	windowMaxBlob = 256 << 10 // larger blobs are read on their own
	windowSlots   = 16        // bounded memory: 16 MiB
)

type windowKey struct {
	pack  blob.ID
	start int64
}

type windows struct {
	r     BlobLoader
	mu    sync.Mutex
	data  map[windowKey][]byte
	order []windowKey // FIFO eviction
}

func newWindows(r BlobLoader) *windows {
	return &windows{r: r, data: map[windowKey][]byte{}}
}

// sealed returns a small blob's stored bytes, from a cached window when
// possible. ok is false when the blob is not a candidate (too large, or
// spanning two windows): the caller then reads it alone.
func (w *windows) sealed(ctx context.Context, loc index.Location) (b []byte, ok bool, err error) {
	if loc.Length > windowMaxBlob {
		return nil, false, nil
	}
	start := int64(loc.Offset) / windowSize * windowSize
	end := int64(loc.Offset) + int64(loc.Length)
	if end > start+windowSize {
		return nil, false, nil
	}
	key := windowKey{loc.Pack, start}
	w.mu.Lock()
	win, hit := w.data[key]
	w.mu.Unlock()
	if !hit {
		// The store truncates a range that runs past the pack's end.
		win, err = w.r.ReadPackRangeUpTo(ctx, loc.Pack, start, windowSize)
		if err != nil {
			return nil, true, err
		}
		w.mu.Lock()
		if _, dup := w.data[key]; !dup {
			w.data[key] = win
			w.order = append(w.order, key)
			if len(w.order) > windowSlots {
				delete(w.data, w.order[0])
				w.order = w.order[1:]
			}
		}
		w.mu.Unlock()
	}
	off := int64(loc.Offset) - start
	if off+int64(loc.Length) > int64(len(win)) {
		return nil, false, nil
	}
	// A copy: opening a blob decrypts it in place.
	return append([]byte(nil), win[off:off+int64(loc.Length)]...), true, nil
}
