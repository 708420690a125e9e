package repo

import (
	"errors"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// BadObject is an object of the repository that cannot be read: its bytes
// do not match its SHA-256 name, fail authentication or do not decode.
// Readers skip such objects (one bad object must not make the rest of the
// repository unreadable) and record them here, so that check can report
// them and prune can refuse to delete on incomplete knowledge.
type BadObject struct {
	Key string // e.g. "index/3fa2…", "snapshots/junk"
	Err error
}

// Shadowed is an object whose current version in a versioned store does
// not match its name while an older version does: someone wrote over it
// (bypassing put-if-absent). The repository reads the older version.
type Shadowed struct {
	Key     string    `json:"key"`
	Version string    `json:"version"` // the version read instead
	ModTime time.Time `json:"version_time"`
}

// integrity is what a Repository learned about damaged, superseded and
// overwritten objects since it was opened. Its zero value is ready.
type integrity struct {
	mu sync.Mutex
	// bad holds the unreadable objects by kind ("index", "snapshots"), as
	// of the last full read of that kind.
	bad map[Kind]map[string]error
	// superseded holds the keys that readable index files supersede (as
	// of the last full read of the index).
	superseded map[string]bool
	shadowed   map[string]Shadowed
	// pins: for each pack read from a versioned store, the version reads
	// come from (see versions.go).
	pins     map[blob.ID]pin
	pinGroup singleflight.Group
	// versioning is the store's answer to Versioning, once it answered.
	versioning *bool
}

// IsBad reports whether err says that an object's bytes are wrong (rather
// than that the store could not be reached).
func IsBad(err error) bool { return errors.Is(err, ErrCorrupt) }

// BadObjects returns the objects found unreadable, sorted by key: index
// files as of the last full read of the index (Open, ReloadIndex), snapshot
// files as of the last listing of snapshots. Superseded objects are not
// listed: readers ignore them.
func (r *Repository) BadObjects() []BadObject {
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	var out []BadObject
	for _, m := range r.integ.bad {
		for k, err := range m {
			out = append(out, BadObject{Key: k, Err: err})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// SetBadObjects replaces the unreadable objects of a kind with bad: a
// reader that has just read every object of the kind (snapshot listing)
// records what it skipped.
func (r *Repository) SetBadObjects(kind Kind, bad []BadObject) {
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	if r.integ.bad == nil {
		r.integ.bad = map[Kind]map[string]error{}
	}
	m := make(map[string]error, len(bad))
	for _, b := range bad {
		m[b.Key] = b.Err
	}
	r.integ.bad[kind] = m
}

// addBadObjects adds to the unreadable objects of a kind.
func (r *Repository) addBadObjects(kind Kind, bad []BadObject) {
	if len(bad) == 0 {
		return
	}
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	if r.integ.bad == nil {
		r.integ.bad = map[Kind]map[string]error{}
	}
	if r.integ.bad[kind] == nil {
		r.integ.bad[kind] = map[string]error{}
	}
	for _, b := range bad {
		r.integ.bad[kind][b.Key] = b.Err
	}
}

// Superseded reports whether a readable index file supersedes key (see
// docs/design/repository-format.md, §7): readers ignore the object.
func (r *Repository) Superseded(key string) bool {
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	return r.integ.superseded[key]
}

// SupersededKeys returns every key readable index files supersede, sorted.
func (r *Repository) SupersededKeys() []string {
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	out := make([]string, 0, len(r.integ.superseded))
	for k := range r.integ.superseded {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (r *Repository) setSuperseded(keys map[string]bool) {
	r.integ.mu.Lock()
	r.integ.superseded = keys
	r.integ.mu.Unlock()
}

// Shadowed returns the objects found overwritten, read from an older
// version instead, sorted by key.
func (r *Repository) Shadowed() []Shadowed {
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	out := make([]Shadowed, 0, len(r.integ.shadowed))
	for _, s := range r.integ.shadowed {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (r *Repository) addShadowed(s Shadowed) {
	r.integ.mu.Lock()
	defer r.integ.mu.Unlock()
	if r.integ.shadowed == nil {
		r.integ.shadowed = map[string]Shadowed{}
	}
	r.integ.shadowed[s.Key] = s
}
