package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

func testRoundTrip(t *testing.T, s store.Store) {
	for i, size := range []int{0, 1, 1000, 5<<20 + 3} {
		key := fmt.Sprintf("rt/size-%d", size)
		data := randBytes(uint64(i), size)
		orig := append([]byte(nil), data...)
		mustPut(t, s, key, data)
		// The store must have copied data: the caller may reuse its buffer.
		for j := range data {
			data[j] ^= 0xff
		}
		checkBytes(t, "Get "+key, mustGet(t, s, key, 0, -1), orig)
		all, err := store.ReadAll(context.Background(), s, key)
		if err != nil {
			t.Fatalf("ReadAll(%q) = %v", key, err)
		}
		checkBytes(t, "ReadAll "+key, all, orig)
		info, err := s.Stat(context.Background(), key)
		if err != nil {
			t.Fatalf("Stat(%q) = %v", key, err)
		}
		if info.Size != int64(size) {
			t.Errorf("Stat(%q).Size = %d, want %d", key, info.Size, size)
		}
	}
}

// testOddValidKeys puts keys that are valid but look like paths a store
// might treat specially.
func testOddValidKeys(t *testing.T, s store.Store) {
	want := make(map[string][]byte)
	for _, key := range []string{
		".tmp/x", ".hidden", "a/.b", "a/..b", "a/b..", "-", "_/-", "A-Z_a.z-0.9",
		"tmp", "x/tmp/y", "...",
	} {
		want[key] = []byte("content of " + key)
		mustPut(t, s, key, want[key])
	}
	checkList(t, s, "", want)
	for _, key := range sortedKeys(want) {
		checkBytes(t, "Get "+key, mustGet(t, s, key, 0, -1), want[key])
		if err := s.Delete(context.Background(), key); err != nil {
			t.Errorf("Delete(%q) = %v", key, err)
		}
	}
	checkList(t, s, "", nil)
}

func testPutIfAbsent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const key = "p/key"
	orig := randBytes(1, 100)
	mustPut(t, s, key, orig)
	for _, data := range [][]byte{orig, randBytes(2, 100), randBytes(3, 200), randBytes(4, 10), nil} {
		err := s.Put(ctx, key, data)
		checkErr(t, fmt.Sprintf("second Put(%q, %d bytes)", key, len(data)), err, store.ErrExists)
	}
	checkBytes(t, "Get after second Puts", mustGet(t, s, key, 0, -1), orig)
	info, err := s.Stat(ctx, key)
	if err != nil || info.Size != int64(len(orig)) {
		t.Errorf("Stat(%q) = %+v, %v; want size %d", key, info, err, len(orig))
	}
}

func testConcurrentPutSameKey(t *testing.T, s store.Store) {
	const (
		key = "conc/same"
		n   = 16
	)
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = randBytes(uint64(100+i), 256<<10+1000*i) // distinct sizes
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Put(context.Background(), key, datas[i])
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("Puts %d and %d of the same key both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("Put %d = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Puts succeeded", n)
	}
	checkBytes(t, "Get after concurrent Puts", mustGet(t, s, key, 0, -1), datas[winner])
	checkList(t, s, "", map[string][]byte{key: datas[winner]})
}

func testConcurrentPutDistinctKeys(t *testing.T, s store.Store) {
	const n = 32
	want := make(map[string][]byte)
	for i := range n {
		// New directories for some stores, created by several Puts at once.
		want[fmt.Sprintf("cd/%02d/x/k", i%4)+fmt.Sprint(i)] = randBytes(uint64(200+i), 1000+i)
		want[fmt.Sprintf("cd/shared/k%02d", i)] = randBytes(uint64(300+i), 10+i)
	}
	errs := make(chan error, len(want))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for key, data := range want {
		wg.Go(func() {
			<-start
			if err := s.Put(context.Background(), key, data); err != nil {
				errs <- fmt.Errorf("Put(%q) = %w", key, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkList(t, s, "", want)
	for _, key := range sortedKeys(want) {
		checkBytes(t, "Get "+key, mustGet(t, s, key, 0, -1), want[key])
	}
}
