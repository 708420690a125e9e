package repo

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
)

func TestParseKey(t *testing.T) {
	id := strings.Repeat("ab", blob.IDSize)
	pid, _ := blob.ParseID(id)
	for _, tc := range []struct {
		key    string
		kind   Kind
		wantOK bool
	}{
		{KindKey.Key(id), KindKey, true},
		{PackKey(pid), KindData, true},
		{KindIndex.Key(id), KindIndex, true},
		{KindSnapshot.Key(id), KindSnapshot, true},
		{KindLock.Key(id), KindLock, true},
		{"data/ab/" + id, KindData, true},
		{"data/00/" + id, "", false}, // outside its directory
		{"data/" + id, "", false},    // not fanned out
		{"data/ab/" + id + "/x", "", false},
		{KindIndex.Key(strings.ToUpper(id)), "", false},
		{KindIndex.Key(id[:62]), "", false},
		{"snapshots/junk", "", false},
		{ConfigKey, "", false},
		{"other/" + id, "", false},
	} {
		kind, got, err := ParseKey(tc.key)
		if tc.wantOK != (err == nil) {
			t.Errorf("ParseKey(%q): err = %v, want ok %v", tc.key, err, tc.wantOK)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrNotInLayout) {
				t.Errorf("ParseKey(%q): %v, want ErrNotInLayout", tc.key, err)
			}
			continue
		}
		if kind != tc.kind || got != id {
			t.Errorf("ParseKey(%q) = %q, %q; want %q, %q", tc.key, kind, got, tc.kind, id)
		}
	}
	if got, err := ParsePackKey(PackKey(pid)); err != nil || got != pid {
		t.Errorf("ParsePackKey(PackKey) = %v, %v", got, err)
	}
	if _, err := ParsePackKey(KindIndex.Key(id)); !errors.Is(err, ErrNotInLayout) {
		t.Errorf("ParsePackKey of an index key: %v", err)
	}
}

func TestKindOf(t *testing.T) {
	for _, k := range Kinds {
		if got, ok := KindOf(k.Prefix() + "anything"); !ok || got != k {
			t.Errorf("KindOf(%q) = %q, %v", k.Prefix()+"anything", got, ok)
		}
	}
	for _, key := range []string{ConfigKey, "other/x", "datax/y", ""} {
		if got, ok := KindOf(key); ok {
			t.Errorf("KindOf(%q) = %q, want none", key, got)
		}
	}
}

// Package index cannot import repo; the keys it accepts as superseded must
// be the layout's index and snapshot keys.
func TestIndexSupersedesLayoutKeys(t *testing.T) {
	id := strings.Repeat("0f", blob.IDSize)
	f := index.File{Supersedes: []string{KindIndex.Key(id), KindSnapshot.Key(id)}}
	if _, err := index.DecodeFile(index.EncodeFile(f)); err != nil {
		t.Errorf("an index file superseding %v: %v", f.Supersedes, err)
	}
	for _, k := range []Kind{KindKey, KindLock} {
		f := index.File{Supersedes: []string{k.Key(id)}}
		if _, err := index.DecodeFile(index.EncodeFile(f)); err == nil {
			t.Errorf("an index file superseding %s was accepted", k.Key(id))
		}
	}
}
