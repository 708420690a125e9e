package check

import (
	"errors"

	"github.com/cairn-backup/cairn/internal/repo"
)

// Options choose how deep to check.
type Options struct {
	// ReadData reads every pack in full, checks its SHA-256 name, and
	// decrypts and verifies every blob in it.
	ReadData bool
	// Progress, if set, is called after each pack read with (done, total).
	Progress func(done, total int)
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
