package repo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// The layout of a repository in its store (repository-format.md §1): the
// one key ConfigKey, and every other object under the prefix of its kind,
// named by the SHA-256 of its stored bytes in lower-case hex:
//
//	config
//	keys/<id>
//	data/<first two hex digits of id>/<id>
//	index/<id>
//	snapshots/<id>
//	locks/<id>
//
// This file is the one place that knows it: other packages name keys with
// Kind.Key and PackKey, and read them with ParseKey, ParsePackKey and KindOf.

// Kind is a kind of object in the store; its objects live under Prefix.
// Its string is also the associated data its objects are sealed with
// ("cairn " + kind), so the values are part of the format.
type Kind string

// The kinds of objects, in the order their objects refer to each other: a
// kind's objects refer only to objects of kinds before it (an index file
// names packs, a snapshot names trees found through the index). Locks
// refer to nothing and are nobody's; they come last.
const (
	KindKey      Kind = "keys"      // key files (§3), plaintext
	KindData     Kind = "data"      // packs (§6)
	KindIndex    Kind = "index"     // index files (§7), sealed, unpacked
	KindSnapshot Kind = "snapshots" // snapshot manifests (§8), sealed, unpacked
	KindLock     Kind = "locks"     // locks (§10), sealed, unpacked
)

// Kinds lists every kind in reference order (see above).
var Kinds = []Kind{KindKey, KindData, KindIndex, KindSnapshot, KindLock}

// Prefix is the store prefix every object of the kind lives under ("data/").
func (k Kind) Prefix() string { return string(k) + "/" }

// Key is the store key of the object id of kind k. Packs are fanned out
// under directories: name them with PackKey.
func (k Kind) Key(id string) string { return k.Prefix() + id }

// PackKey is the store key of a pack: data/<first two hex digits>/<sha256>.
func PackKey(id blob.ID) string {
	h := id.String()
	return KindData.Prefix() + h[:2] + "/" + h
}

// ErrNotInLayout: a store key is not where the layout puts any object.
var ErrNotInLayout = errors.New("not a key of the repository layout")

// KindOf returns the kind whose prefix key is under, whatever the rest of
// the key is ("snapshots/junk" → KindSnapshot); false for ConfigKey and for
// keys under no kind's prefix.
func KindOf(key string) (Kind, bool) {
	k, _, ok := strings.Cut(key, "/")
	if !ok {
		return "", false
	}
	for _, kind := range Kinds {
		if Kind(k) == kind {
			return kind, true
		}
	}
	return "", false
}

// ParseKey returns the kind and the ID of the object stored under key, or
// an error wrapping ErrNotInLayout when the key is not where the layout
// puts an object: under no kind's prefix (ConfigKey included), a name that
// is not 64 lower-case hex digits, or a pack outside the directory of its
// first two digits.
func ParseKey(key string) (Kind, string, error) {
	kind, ok := KindOf(key)
	if !ok {
		return "", "", fmt.Errorf("%q: under no kind's prefix: %w", key, ErrNotInLayout)
	}
	rest := key[len(kind.Prefix()):]
	id := rest
	if kind == KindData {
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || len(name) < 2 || dir != name[:2] {
			return "", "", fmt.Errorf("%q: pack outside its directory %s%.2s: %w", key, kind.Prefix(), name, ErrNotInLayout)
		}
		id = name
	}
	if !isHexName(id) {
		return "", "", fmt.Errorf("%q: name is not a SHA-256 in hex: %w", key, ErrNotInLayout)
	}
	return kind, id, nil
}

// ParsePackKey returns the ID of the pack stored under key, or an error
// wrapping ErrNotInLayout when key is not a pack's key (see ParseKey).
func ParsePackKey(key string) (blob.ID, error) {
	kind, id, err := ParseKey(key)
	if err != nil {
		return blob.ID{}, err
	}
	if kind != KindData {
		return blob.ID{}, fmt.Errorf("%q: not a pack: %w", key, ErrNotInLayout)
	}
	return blob.ParseID(id)
}

// isHexName reports whether s is a SHA-256 in lower-case hex.
func isHexName(s string) bool {
	if len(s) != 2*blob.IDSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
