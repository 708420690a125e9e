package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// TestShadowedVersions: on a versioned store, garbage written over a pack
// and over an index file (bypassing put-if-absent) adds newer versions;
// the repository reads the older versions that match the names and records
// the shadowing. On a store without versions the same overwrite is damage.
func TestShadowedVersions(t *testing.T) {
	ctx := context.Background()
	for _, versioned := range []bool{true, false} {
		s := mem.New()
		if versioned {
			s = mem.NewVersioned()
		}
		r, err := Init(ctx, s, []byte("pw"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		const content = "the content of a blob someone overwrites"
		id := saveFlushed(ctx, t, r, content)
		loc, _ := r.Lookup(id)
		packKey := PackKey(loc.Pack)
		indexKey := KindIndex.Key(indexFiles(ctx, t, r)[0])
		for _, key := range []string{packKey, indexKey} {
			if err := s.Overwrite(key, []byte("ransomware was here")); err != nil {
				t.Fatal(err)
			}
		}

		o, err := Open(ctx, s, []byte("pw"), Options{})
		if !versioned {
			if err != nil {
				t.Fatal(err)
			}
			if len(o.BadObjects()) != 1 || o.Has(id) {
				t.Fatalf("unversioned: BadObjects %v, has %v; want the index file bad and the blob unknown", o.BadObjects(), o.Has(id))
			}
			continue
		}
		if err != nil {
			t.Fatalf("Open with a shadowed index file: %v", err)
		}
		got, err := o.LoadBlob(ctx, blob.Data, id, nil)
		if err != nil || string(got) != content {
			t.Fatalf("LoadBlob from a shadowed pack = %q, %v", got, err)
		}
		if _, err := o.PackHeader(ctx, loc.Pack); err != nil {
			t.Fatalf("PackHeader of a shadowed pack: %v", err)
		}
		raw, err := o.ReadPackRange(ctx, loc.Pack, int64(loc.Offset), int64(loc.Length))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.OpenBlob(blob.Data, id, raw, loc.RawLength, nil); err != nil {
			t.Fatalf("a range of a shadowed pack: %v", err)
		}
		sh := o.Shadowed()
		if len(sh) != 2 || sh[0].Key != packKey || sh[1].Key != indexKey || sh[0].Version == "" || sh[0].ModTime.IsZero() {
			t.Fatalf("Shadowed = %+v, want %s and %s with their versions", sh, packKey, indexKey)
		}
		if len(o.BadObjects()) != 0 {
			t.Fatalf("BadObjects = %v, want none", o.BadObjects())
		}
		// A pack whose every version is garbage is damage, as without versions.
		if err := s.Delete(ctx, packKey); err != nil {
			t.Fatal(err)
		}
		s.Delete(ctx, packKey)
		s.Put(ctx, packKey, []byte("garbage only"))
		again, _ := Open(ctx, s, []byte("pw"), Options{})
		if _, err := again.LoadBlob(ctx, blob.Data, id, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("LoadBlob with no good version: %v, want ErrCorrupt", err)
		}
	}
}
