package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

// Run runs the conformance suite as subtests of t. newStore must return a
// new, empty store for each subtest and clean it up with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"OddValidKeys", testOddValidKeys},
		{"PutIfAbsent", testPutIfAbsent},
		{"ConcurrentPutSameKey", testConcurrentPutSameKey},
		{"ConcurrentPutDistinctKeys", testConcurrentPutDistinctKeys},
		{"RangedGet", testRangedGet},
		{"RangedGetEmpty", testRangedGetEmpty},
		{"Missing", testMissing},
		{"Stat", testStat},
		{"List", testList},
		{"ListMany", testListMany},
		{"ListStop", testListStop},
		{"ListCallbackUsesStore", testListCallbackUsesStore},
		{"DeleteThenPut", testDeleteThenPut},
		{"InvalidKeys", testInvalidKeys},
		{"CancelledContext", testCancelledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			tt.fn(t, s)
		})
	}
}

// randBytes returns n pseudo-random bytes, the same for the same seed.
func randBytes(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

func mustPut(t *testing.T, s store.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q, %d bytes) = %v", key, len(data), err)
	}
}

// mustGet reads a range and checks that reading and closing succeed.
func mustGet(t *testing.T, s store.Store, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d) = %v", key, offset, length, err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		rc.Close()
		t.Fatalf("Get(%q, %d, %d): read: %v", key, offset, length, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Get(%q, %d, %d): close: %v", key, offset, length, err)
	}
	return b
}

// checkBytes fails t if got != want, without printing megabytes.
func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// checkErr fails t unless errors.Is(err, target).
func checkErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want an error wrapping %q", what, err, target)
	}
}

// getErr calls Get and returns its error, closing the reader if there is one.
func getErr(ctx context.Context, s store.Store, key string, offset, length int64) error {
	rc, err := s.Get(ctx, key, offset, length)
	if err == nil {
		rc.Close()
	}
	return err
}

// list returns the Infos List gives for prefix, failing on error or on a
// key listed twice or not starting with prefix.
func list(t *testing.T, s store.Store, prefix string) map[string]store.Info {
	t.Helper()
	got := make(map[string]store.Info)
	err := s.List(context.Background(), prefix, func(info store.Info) error {
		if _, dup := got[info.Key]; dup {
			t.Errorf("List(%q) gave %q twice", prefix, info.Key)
		}
		if !strings.HasPrefix(info.Key, prefix) {
			t.Errorf("List(%q) gave %q", prefix, info.Key)
		}
		got[info.Key] = info
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q) = %v", prefix, err)
	}
	return got
}

// checkList fails t unless List(prefix) gives exactly the keys of want,
// with the sizes of want's values.
func checkList(t *testing.T, s store.Store, prefix string, want map[string][]byte) {
	t.Helper()
	got := list(t, s, prefix)
	for key, data := range want {
		info, ok := got[key]
		switch {
		case !ok:
			t.Errorf("List(%q) misses %q", prefix, key)
		case info.Size != int64(len(data)):
			t.Errorf("List(%q): %q has size %d, want %d", prefix, key, info.Size, len(data))
		case info.ModTime.IsZero():
			t.Errorf("List(%q): %q has zero ModTime", prefix, key)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("List(%q) gave %q, which it should not", prefix, key)
		}
	}
}

// withPrefix returns the objects of all whose key starts with prefix.
func withPrefix(all map[string][]byte, prefix string) map[string][]byte {
	m := make(map[string][]byte)
	for k, v := range all {
		if strings.HasPrefix(k, prefix) {
			m[k] = v
		}
	}
	return m
}

// sortedKeys is for deterministic loops over maps.
func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
