package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

func testRangedGet(t *testing.T, s store.Store) {
	const key = "r/obj"
	data := randBytes(7, 1000)
	mustPut(t, s, key, data)
	for _, tt := range []struct {
		offset, length int64
		want           []byte
	}{
		{0, 10, data[:10]},
		{0, 0, nil},
		{0, 1000, data},
		{0, 1 << 40, data},
		{0, -1, data},
		{500, 100, data[500:600]},
		{990, 10, data[990:]},
		{995, 100, data[995:]}, // truncated to the end
		{10, -1, data[10:]},
		{999, -1, data[999:]},
		{999, 1, data[999:]},
		{1000, -1, nil}, // at the end: empty, not an error
		{1000, 0, nil},
		{1000, 5, nil},
	} {
		got := mustGet(t, s, key, tt.offset, tt.length)
		checkBytes(t, fmt.Sprintf("Get(%q, %d, %d)", key, tt.offset, tt.length), got, tt.want)
	}
	for _, r := range [][2]int64{{1001, -1}, {1001, 0}, {1001, 1}, {1 << 40, 1}, {-1, 5}, {-1, -1}} {
		err := getErr(context.Background(), s, key, r[0], r[1])
		checkErr(t, fmt.Sprintf("Get(%q, %d, %d)", key, r[0], r[1]), err, store.ErrInvalidRange)
	}
}

func testRangedGetEmpty(t *testing.T, s store.Store) {
	const key = "r/empty"
	mustPut(t, s, key, []byte{})
	for _, r := range [][2]int64{{0, -1}, {0, 0}, {0, 10}} {
		got := mustGet(t, s, key, r[0], r[1])
		checkBytes(t, fmt.Sprintf("Get(%q, %d, %d)", key, r[0], r[1]), got, nil)
	}
	err := getErr(context.Background(), s, key, 1, -1)
	checkErr(t, fmt.Sprintf("Get(%q, 1, -1)", key), err, store.ErrInvalidRange)
}

func testMissing(t *testing.T, s store.Store) {
	ctx := context.Background()
	want := map[string][]byte{"config": []byte("cfg"), "dir/x": []byte("x")}
	for key, data := range want {
		mustPut(t, s, key, data)
	}
	// "dir" and "di" are prefixes of a key, "config/x" is below one: none
	// of them is an object.
	for _, key := range []string{"missing", "missing/deep/key", "dir", "di", "dir/x/y", "dir/y", "config/x", "configx"} {
		checkErr(t, fmt.Sprintf("Get(%q)", key), getErr(ctx, s, key, 0, -1), store.ErrNotFound)
		_, err := s.Stat(ctx, key)
		checkErr(t, fmt.Sprintf("Stat(%q)", key), err, store.ErrNotFound)
		checkErr(t, fmt.Sprintf("Delete(%q)", key), s.Delete(ctx, key), store.ErrNotFound)
	}
	checkList(t, s, "", want)
	for key, data := range want {
		checkBytes(t, "Get "+key, mustGet(t, s, key, 0, -1), data)
	}
}

func testStat(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 1234} {
		key := fmt.Sprintf("s/size-%d", size)
		mustPut(t, s, key, randBytes(uint64(size), size))
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat(%q) = %v", key, err)
		}
		if info.Key != key {
			t.Errorf("Stat(%q).Key = %q", key, info.Key)
		}
		if info.Size != int64(size) {
			t.Errorf("Stat(%q).Size = %d, want %d", key, info.Size, size)
		}
		if info.ModTime.IsZero() {
			t.Errorf("Stat(%q).ModTime is zero", key)
		}
	}
}
