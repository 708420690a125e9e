package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

func testDeleteThenPut(t *testing.T, s store.Store) {
	ctx := context.Background()
	const key = "del/key"
	mustPut(t, s, key, []byte("first"))
	mustPut(t, s, "del/other", []byte("other"))
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%q) = %v", key, err)
	}
	checkErr(t, "Get after Delete", getErr(ctx, s, key, 0, -1), store.ErrNotFound)
	_, err := s.Stat(ctx, key)
	checkErr(t, "Stat after Delete", err, store.ErrNotFound)
	checkList(t, s, "del/", map[string][]byte{"del/other": []byte("other")})
	checkErr(t, "second Delete", s.Delete(ctx, key), store.ErrNotFound)
	mustPut(t, s, key, []byte("second, longer"))
	checkBytes(t, "Get after Put again", mustGet(t, s, key, 0, -1), []byte("second, longer"))
	checkBytes(t, "Get del/other", mustGet(t, s, "del/other", 0, -1), []byte("other"))
}

var invalidKeys = []string{
	"", "/", "/abs", "a/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../a",
	`a\b`, "a\x00b", "a b", "a\nb", "é", "a+b", "a~",
}

func testInvalidKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, key := range invalidKeys {
		checkErr(t, fmt.Sprintf("Put(%q)", key), s.Put(ctx, key, []byte("x")), store.ErrInvalidKey)
		checkErr(t, fmt.Sprintf("Get(%q)", key), getErr(ctx, s, key, 0, -1), store.ErrInvalidKey)
		_, err := s.Stat(ctx, key)
		checkErr(t, fmt.Sprintf("Stat(%q)", key), err, store.ErrInvalidKey)
		checkErr(t, fmt.Sprintf("Delete(%q)", key), s.Delete(ctx, key), store.ErrInvalidKey)
	}
	for _, prefix := range []string{"/", "/a", "a//", "../", "./x", "a/../", "a b", `a\`, "a\x00"} {
		err := s.List(ctx, prefix, func(info store.Info) error {
			t.Errorf("List(%q) gave %q", prefix, info.Key)
			return nil
		})
		checkErr(t, fmt.Sprintf("List(%q)", prefix), err, store.ErrInvalidKey)
	}
	checkList(t, s, "", nil)
}

func testCancelledContext(t *testing.T, s store.Store) {
	live := context.Background()
	ctx, cancel := context.WithCancel(live)
	cancel()
	const old, key = "c/old", "c/new"
	mustPut(t, s, old, []byte("old"))

	checkErr(t, "Put with cancelled ctx", s.Put(ctx, key, []byte("new")), context.Canceled)
	checkErr(t, "Put of existing key with cancelled ctx", s.Put(ctx, old, []byte("new")), context.Canceled)
	checkErr(t, "Get with cancelled ctx", getErr(ctx, s, old, 0, -1), context.Canceled)
	_, err := s.Stat(ctx, old)
	checkErr(t, "Stat with cancelled ctx", err, context.Canceled)
	for _, prefix := range []string{"", "c/", "nothing/"} {
		err = s.List(ctx, prefix, func(info store.Info) error {
			t.Errorf("List(%q) with cancelled ctx gave %q", prefix, info.Key)
			return nil
		})
		checkErr(t, fmt.Sprintf("List(%q) with cancelled ctx", prefix), err, context.Canceled)
	}
	checkErr(t, "Delete with cancelled ctx", s.Delete(ctx, old), context.Canceled)

	_, err = s.Stat(live, key)
	checkErr(t, "Stat of key put with cancelled ctx", err, store.ErrNotFound)
	checkList(t, s, "", map[string][]byte{old: []byte("old")})
	checkBytes(t, "Get "+old, mustGet(t, s, old, 0, -1), []byte("old"))
}
