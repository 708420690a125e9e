package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/faulty"
	"github.com/cairn-backup/cairn/internal/store/mem"
	"github.com/cairn-backup/cairn/internal/store/storetest"
)

// Without faults the wrapper must be invisible.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return faulty.Wrap(mem.New()) })
}

func TestFailPut(t *testing.T) {
	ctx := context.Background()
	errBoom := errors.New("boom")
	f := faulty.Wrap(mem.New())
	f.FailPut(2, errBoom)
	for i, key := range []string{"a", "b", "c"} {
		err := f.Put(ctx, key, []byte(key))
		if i == 1 {
			if !errors.Is(err, errBoom) {
				t.Errorf("Put 2 = %v, want boom", err)
			}
			if _, err := f.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Stat of failed Put = %v, want ErrNotFound", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Put %d = %v", i+1, err)
		}
	}
	// The fault fired once: the same Put now works.
	if err := f.Put(ctx, "b", []byte("b")); err != nil {
		t.Errorf("Put after the fault = %v", err)
	}
}

func TestFailPutPrefix(t *testing.T) {
	ctx := context.Background()
	f := faulty.Wrap(mem.New())
	f.FailPutPrefix("data/", store.ErrNoSpace)
	for range 2 {
		if err := f.Put(ctx, "data/x", nil); !errors.Is(err, store.ErrNoSpace) {
			t.Errorf("Put(data/x) = %v, want ErrNoSpace", err)
		}
	}
	if err := f.Put(ctx, "index/x", nil); err != nil {
		t.Errorf("Put(index/x) = %v", err)
	}
	f.Reset()
	if err := f.Put(ctx, "data/x", nil); err != nil {
		t.Errorf("Put(data/x) after Reset = %v", err)
	}
}

func TestStallPutPrefix(t *testing.T) {
	f := faulty.Wrap(mem.New())
	f.StallPutPrefix("data/")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := f.Put(ctx, "data/x", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled Put = %v, want DeadlineExceeded", err)
	}
	if _, err := f.Stat(context.Background(), "data/x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after a stalled Put = %v, want ErrNotFound", err)
	}
	if err := f.Put(context.Background(), "index/x", nil); err != nil {
		t.Errorf("Put(index/x) = %v", err)
	}
}

func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789")
	f := faulty.Wrap(mem.New())
	for _, key := range []string{"k", "other"} {
		if err := f.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	f.Corrupt("k", 3)
	want := bytes.Clone(data)
	want[3] ^= 0xff
	for _, tt := range []struct {
		offset, length int64
		want           []byte
	}{
		{0, -1, want},
		{2, 5, want[2:7]},
		{3, 1, want[3:4]},
		{4, -1, data[4:]},
		{0, 3, data[:3]},
	} {
		if got := get(t, f, "k", tt.offset, tt.length); !bytes.Equal(got, tt.want) {
			t.Errorf("Get(k, %d, %d) = %q, want %q", tt.offset, tt.length, got, tt.want)
		}
	}
	if got := get(t, f, "other", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("Get(other) = %q, want %q", got, data)
	}
	f.Reset()
	if got := get(t, f, "k", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("Get(k) after Reset = %q, want %q", got, data)
	}
}

// get reads a range one byte at a time, so the flip must survive short reads.
func get(t *testing.T, s store.Store, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("Get(%q) = %v", key, err)
	}
	defer rc.Close()
	var out []byte
	b := make([]byte, 1)
	for {
		n, err := rc.Read(b)
		out = append(out, b[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Get(%q): read: %v", key, err)
		}
	}
}
