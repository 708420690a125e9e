package check

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// Options choose how deep to check.
type Options struct {
	// ReadData reads every pack in full, checks its SHA-256 name, and
	// decrypts and verifies every blob in it.
	ReadData bool
	// Subset, when Of > 0 and ReadData is false, reads only the packs of
	// share N of Of (1 ≤ N ≤ Of): the packs are split into Of shares by
	// their ID, so that checks with N = 1, 2, …, Of read every pack once
	// between them (a rotating read of the data, as scheduled checks do).
	Subset Subset
	// Progress, if set, is called after each pack read with (done, total).
	Progress func(done, total int)
}

// Subset is share N of Of of the packs (Options.Subset).
type Subset struct{ N, Of int }

// ParseSubset parses "n/t" (1 ≤ n ≤ t).
func ParseSubset(s string) (Subset, error) {
	var sub Subset
	if _, err := fmt.Sscanf(s, "%d/%d", &sub.N, &sub.Of); err != nil || sub.Of < 1 || sub.N < 1 || sub.N > sub.Of || fmt.Sprintf("%d/%d", sub.N, sub.Of) != s {
		return Subset{}, fmt.Errorf("subset %q: want n/t with 1 ≤ n ≤ t (e.g. 3/30)", s)
	}
	return sub, nil
}

func (s Subset) String() string { return fmt.Sprintf("%d/%d", s.N, s.Of) }

// Holds reports whether the pack id is in the share.
func (s Subset) Holds(id blob.ID) bool {
	return s.Of > 0 && int(binary.BigEndian.Uint64(id[:8])%uint64(s.Of)) == s.N-1
}

// DamagedPack names a pack whose stored bytes are wrong.
type DamagedPack struct {
	ID     string   `json:"id"`
	Reason string   `json:"reason"`
	Blobs  []string `json:"damaged_blobs,omitempty"` // IDs of blobs that fail to decrypt or verify
}

// Affected names a file (or tree) that cannot be restored intact.
type Affected struct {
	Snapshot string `json:"snapshot"`
	Path     string `json:"path"`
	Reason   string `json:"reason"`
}

// Unreadable names an object that cannot be read: its bytes do not match
// its name, fail authentication or do not decode. Readers skip it.
type Unreadable struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Report is what a check found.
type Report struct {
	Snapshots    int           `json:"snapshots"`
	Trees        int           `json:"trees"`
	Packs        int           `json:"packs"`
	Blobs        int           `json:"blobs"`
	PacksRead    int           `json:"packs_read,omitempty"`
	Errors       []string      `json:"errors,omitempty"`
	DamagedPacks []DamagedPack `json:"damaged_packs,omitempty"`
	Affected     []Affected    `json:"affected,omitempty"`
	OrphanPacks  int           `json:"orphan_packs,omitempty"` // packs not in any index (a killed backup); prune adopts or removes them
	Unreadable   []Unreadable  `json:"unreadable,omitempty"`   // index and snapshot files skipped
	// Shadowed are objects overwritten in a versioned store: the current
	// version does not match the name, an older one (read instead) does.
	Shadowed []repo.Shadowed `json:"shadowed,omitempty"`
	// Superseded counts objects that readable index files supersede
	// (ignored by readers; left where the store would not delete them).
	Superseded int `json:"superseded,omitempty"`
}

// ErrDamaged: the check found problems; Report says which.
var ErrDamaged = errors.New("repository check found problems")
