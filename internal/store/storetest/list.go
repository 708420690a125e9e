package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

func testList(t *testing.T, s store.Store) {
	all := make(map[string][]byte)
	for i, key := range []string{
		"config", "data/ab/ab01", "data/ab/ab02", "data/ac/ac01", "data/b0/b001",
		"data2/x", "index/i1", "snapshots/s1", "snapshots/sub/s2",
	} {
		all[key] = randBytes(uint64(i), i+1) // sizes tell the objects apart
		mustPut(t, s, key, all[key])
	}
	for _, prefix := range []string{
		"", "d", "data", "data/", "data/a", "data/ab/", "data/ab/ab0", "data/ab/ab01",
		"c", "config", "snapshots/", "snapshots/s",
		// Matching nothing, some of them below an object or a directory.
		"config/", "config/x", "data/ab/ab01/", "data/ab/ab03", "nothing/", "zzz", "data/.", ".",
	} {
		checkList(t, s, prefix, withPrefix(all, prefix))
	}
	// Sanity check of the expectations themselves.
	if n := len(withPrefix(all, "data/a")); n != 3 {
		t.Fatalf("test bug: %d keys with prefix data/a", n)
	}
}

func testListMany(t *testing.T, s store.Store) {
	all := make(map[string][]byte)
	for i := range 300 {
		key := fmt.Sprintf("many/%02x/k%03d", i%20, i)
		all[key] = randBytes(uint64(i), i%50)
		mustPut(t, s, key, all[key])
	}
	mustPut(t, s, "other/k000", []byte("not many"))
	for _, prefix := range []string{"many/", "many/1", "many/0a/", "many/13/k2"} {
		want := withPrefix(all, prefix)
		if len(want) == 0 {
			t.Fatalf("test bug: nothing has prefix %q", prefix)
		}
		checkList(t, s, prefix, want)
	}
	if got := len(list(t, s, "many/")); got != 300 {
		t.Errorf("List(many/) gave %d objects, want 300", got)
	}
}

func testListStop(t *testing.T, s store.Store) {
	for i := range 5 {
		mustPut(t, s, fmt.Sprintf("stop/k%d", i), []byte{byte(i)})
	}
	errStop := errors.New("stop here")
	calls := 0
	err := s.List(context.Background(), "stop/", func(store.Info) error {
		calls++
		if calls == 2 {
			return errStop
		}
		return nil
	})
	checkErr(t, "List with a callback that fails", err, errStop)
	if calls != 2 {
		t.Errorf("List called fn %d times after it failed on call 2", calls)
	}
}

// testListCallbackUsesStore checks that fn may call the store, e.g. to
// delete what it is given, without deadlock or a listing error.
func testListCallbackUsesStore(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 10 {
		mustPut(t, s, fmt.Sprintf("cb/%d/k", i%3)+fmt.Sprint(i), []byte{byte(i)})
	}
	seen := 0
	err := s.List(ctx, "cb/", func(info store.Info) error {
		seen++
		if _, err := s.Stat(ctx, info.Key); err != nil {
			return err
		}
		return s.Delete(ctx, info.Key)
	})
	if err != nil {
		t.Fatalf("List deleting as it goes = %v", err)
	}
	if seen != 10 {
		t.Errorf("List saw %d objects, want 10", seen)
	}
	checkList(t, s, "", nil)
}
