package storetest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/cairn-backup/cairn/internal/store"
)

// Overwrite puts data under key over whatever is there, bypassing Put's
// put-if-absent, as another client of the same bucket can. Each store's
// tests supply one (for S3: a raw PutObject).
type Overwrite func(t *testing.T, s store.Store, key string, data []byte)

// RunVersioned runs the conformance suite of store.Versioned as subtests of
// t. newStore must return a new, empty store with versioning on, that
// implements store.Versioned.
func RunVersioned(t *testing.T, newStore func(t *testing.T) store.Store, overwrite Overwrite) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store, store.Versioned, Overwrite)
	}{
		{"OneVersion", testOneVersion},
		{"Overwritten", testOverwritten},
		{"ExactKey", testVersionsExactKey},
		{"Missing", testVersionsMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			v, ok := s.(store.Versioned)
			if !ok {
				t.Fatalf("%T does not implement store.Versioned", s)
			}
			on, err := v.Versioning(context.Background())
			if err != nil || !on {
				t.Fatalf("Versioning() = %v, %v; want true", on, err)
			}
			tt.fn(t, s, v, overwrite)
		})
	}
}

func mustGetVersion(t *testing.T, v store.Versioned, key, id string, offset, length int64) []byte {
	t.Helper()
	rc, err := v.GetVersion(context.Background(), key, id, offset, length)
	if err != nil {
		t.Fatalf("GetVersion(%q, %q, %d, %d) = %v", key, id, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetVersion(%q, %q): read: %v", key, id, err)
	}
	return b
}

func mustVersions(t *testing.T, v store.Versioned, key string) []store.Version {
	t.Helper()
	vs, err := v.Versions(context.Background(), key)
	if err != nil {
		t.Fatalf("Versions(%q) = %v", key, err)
	}
	return vs
}

func testOneVersion(t *testing.T, s store.Store, v store.Versioned, _ Overwrite) {
	const key = "v/one"
	data := randBytes(1, 3000)
	mustPut(t, s, key, data)
	vs := mustVersions(t, v, key)
	if len(vs) != 1 || !vs[0].IsLatest || vs[0].Size != int64(len(data)) || vs[0].ModTime.IsZero() || vs[0].ID == "" {
		t.Fatalf("Versions(%q) = %+v; want one latest version of %d bytes with an ID and a time", key, vs, len(data))
	}
	checkBytes(t, "GetVersion whole", mustGetVersion(t, v, key, vs[0].ID, 0, -1), data)
	checkBytes(t, "GetVersion range", mustGetVersion(t, v, key, vs[0].ID, 100, 50), data[100:150])
	checkBytes(t, "GetVersion range past the end", mustGetVersion(t, v, key, vs[0].ID, 2990, 50), data[2990:])
}

func testOverwritten(t *testing.T, s store.Store, v store.Versioned, overwrite Overwrite) {
	const key = "v/over"
	orig, garbage := randBytes(2, 2000), randBytes(3, 1500)
	mustPut(t, s, key, orig)
	overwrite(t, s, key, garbage)
	checkBytes(t, "Get after overwrite", mustGet(t, s, key, 0, -1), garbage)
	vs := mustVersions(t, v, key)
	if len(vs) != 2 {
		t.Fatalf("Versions(%q) after an overwrite = %+v; want 2", key, vs)
	}
	if !vs[0].IsLatest || vs[1].IsLatest || vs[0].Size != int64(len(garbage)) || vs[1].Size != int64(len(orig)) {
		t.Fatalf("Versions(%q) = %+v; want the overwrite (latest, %d bytes) then the original (%d bytes)", key, vs, len(garbage), len(orig))
	}
	if vs[0].ModTime.Before(vs[1].ModTime) {
		t.Errorf("Versions(%q): latest written %v, before the older %v", key, vs[0].ModTime, vs[1].ModTime)
	}
	checkBytes(t, "GetVersion of the original", mustGetVersion(t, v, key, vs[1].ID, 0, -1), orig)
	checkBytes(t, "GetVersion range of the original", mustGetVersion(t, v, key, vs[1].ID, 1000, 10), orig[1000:1010])
	checkBytes(t, "GetVersion of the latest", mustGetVersion(t, v, key, vs[0].ID, 0, -1), garbage)
}

func testVersionsExactKey(t *testing.T, s store.Store, v store.Versioned, _ Overwrite) {
	mustPut(t, s, "v/ab", []byte("ab"))
	mustPut(t, s, "v/abc", []byte("abc"))
	mustPut(t, s, "v/ab.x", []byte("ab.x"))
	vs := mustVersions(t, v, "v/ab")
	if len(vs) != 1 || vs[0].Size != 2 {
		t.Fatalf("Versions(v/ab) = %+v; want only v/ab's one version", vs)
	}
}

func testVersionsMissing(t *testing.T, s store.Store, v store.Versioned, _ Overwrite) {
	ctx := context.Background()
	mustPut(t, s, "v/there", []byte("x"))
	if _, err := v.Versions(ctx, "v/none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Versions of a missing key = %v, want ErrNotFound", err)
	}
	if _, err := v.Versions(ctx, "v/th"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Versions of a prefix of a key = %v, want ErrNotFound", err)
	}
	rc, err := v.GetVersion(ctx, "v/there", "no-such-version", 0, -1)
	if err == nil {
		rc.Close()
	}
	checkErr(t, "GetVersion of a missing version", err, store.ErrNotFound)
	rc, err = v.GetVersion(ctx, "v/none", "no-such-version", 0, -1)
	if err == nil {
		rc.Close()
	}
	checkErr(t, "GetVersion of a missing key", err, store.ErrNotFound)
	checkErr(t, "Versions with an invalid key", func() error { _, err := v.Versions(ctx, "a//b"); return err }(), store.ErrInvalidKey)
}
