package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/pack"
)

// AD is the associated data index files are sealed with.
var AD = []byte("cairn index")

const magic = "CIX1"

// ErrFormat means bytes that do not parse as an index.
var ErrFormat = errors.New("malformed index")

// Pack lists the blobs of one pack file.
type Pack struct {
	ID      blob.ID // SHA-256 of the pack file, its name in the store
	Entries []pack.Entry
}

// Encode encodes packs as an (unsealed) index file.
func Encode(packs []Pack) []byte {
	n := 0
	for _, p := range packs {
		n += len(p.Entries)
	}
	b := make([]byte, 0, 16+len(packs)*40+n*(1+blob.IDSize+12))
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		b = append(b, p.ID[:]...)
		b = binary.AppendUvarint(b, uint64(len(p.Entries)))
		for _, e := range p.Entries {
			b = pack.AppendEntry(b, e)
		}
	}
	return b
}

// Decode parses an unsealed index file (either version) and returns its
// packs.
func Decode(b []byte) ([]Pack, error) {
	f, err := DecodeFile(b)
	return f.Packs, err
}

// decodePacks parses uvarint(packs) pack*, the whole rest of b.
func decodePacks(b []byte) ([]Pack, error) {
	np, k := binary.Uvarint(b)
	if k <= 0 || np > uint64(len(b)/(blob.IDSize+1)) {
		return nil, fmt.Errorf("index: bad pack count: %w", ErrFormat)
	}
	b = b[k:]
	packs := make([]Pack, 0, np)
	for i := uint64(0); i < np; i++ {
		if len(b) < blob.IDSize {
			return nil, fmt.Errorf("index: pack %d truncated: %w", i, ErrFormat)
		}
		var p Pack
		copy(p.ID[:], b)
		b = b[blob.IDSize:]
		ne, k := binary.Uvarint(b)
		if k <= 0 || ne > uint64(len(b)/pack.MinEntrySize) {
			return nil, fmt.Errorf("index: pack %d: bad entry count: %w", i, ErrFormat)
		}
		b = b[k:]
		p.Entries = make([]pack.Entry, 0, ne)
		for j := uint64(0); j < ne; j++ {
			e, rest, err := pack.ReadEntry(b)
			if err != nil {
				return nil, fmt.Errorf("index: pack %d entry %d: %v: %w", i, j, err, ErrFormat)
			}
			p.Entries, b = append(p.Entries, e), rest
		}
		packs = append(packs, p)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("index: %d trailing bytes: %w", len(b), ErrFormat)
	}
	return packs, nil
}

// Location is where a blob is stored.
type Location struct {
	Pack      blob.ID
	Type      blob.Type
	Offset    uint32
	Length    uint32
	RawLength uint32
}

type slot struct {
	pack      uint32 // into Index.packs
	typ       blob.Type
	offset    uint32
	length    uint32
	rawLength uint32
}

// entry is one blob of the index: 52 bytes.
type entry struct {
	id blob.ID
	slot
}

// chunkLen is how many entries one block of Index.chunks holds (208 KiB):
// the entries are stored in fixed blocks so that a growing index never
// copies them, and the memory a blob costs does not double when it grows.
const chunkLen = 4096

// Index is the in-memory union of index files; safe for concurrent use.
// A blob stored in several packs (two concurrent backups both saved it) is
// kept at its first location.
//
// Memory: the index is what grows with the number of blobs, so it is kept
// small, ≈ 62–73 bytes a blob. The entries (ID and slot) are appended to
// fixed-size blocks; a map from the first 4 bytes of an ID to its entry
// finds them (9 bytes a slot, its tables between 7/16 and 7/8 full: 10–21
// bytes a blob). IDs are uniform hashes, so two that share their first 4
// bytes are few (about 120 pairs at a million blobs); the later one is
// found through clash, keyed by the whole ID. A map keyed by the whole ID
// held 61–121 bytes a blob.
type Index struct {
	mu      sync.RWMutex
	byKey   map[uint32]uint32  // prefix(ID) → entry number
	clash   map[blob.ID]uint32 // IDs whose prefix an earlier ID has → entry number
	chunks  [][]entry          // entries in the order added, chunkLen a block
	n       uint32             // entries
	packs   []blob.ID
	packNum map[blob.ID]uint32
}

// New returns an empty index.
func New() *Index {
	return &Index{byKey: map[uint32]uint32{}, clash: map[blob.ID]uint32{}, packNum: map[blob.ID]uint32{}}
}

func prefix(id blob.ID) uint32 { return binary.LittleEndian.Uint32(id[:4]) }

func (x *Index) at(i uint32) *entry { return &x.chunks[i/chunkLen][i%chunkLen] }

// find returns the entry of id, or nil; x.mu is held.
func (x *Index) find(id blob.ID) *entry {
	i, ok := x.byKey[prefix(id)]
	if !ok {
		return nil // a clash has a prefix in byKey too
	}
	if e := x.at(i); e.id == id {
		return e
	}
	if i, ok := x.clash[id]; ok {
		return x.at(i)
	}
	return nil
}

// Add records the blobs of a pack.
func (x *Index) Add(p Pack) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n, ok := x.packNum[p.ID]
	if !ok {
		n = uint32(len(x.packs))
		x.packs = append(x.packs, p.ID)
		x.packNum[p.ID] = n
	}
	for _, e := range p.Entries {
		if x.find(e.ID) != nil {
			continue
		}
		if x.n%chunkLen == 0 {
			x.chunks = append(x.chunks, make([]entry, 0, chunkLen))
		}
		c := &x.chunks[len(x.chunks)-1]
		*c = append(*c, entry{id: e.ID, slot: slot{pack: n, typ: e.Type, offset: e.Offset, length: e.Length, rawLength: e.RawLength}})
		k := prefix(e.ID)
		if _, taken := x.byKey[k]; taken {
			x.clash[e.ID] = x.n
		} else {
			x.byKey[k] = x.n
		}
		x.n++
	}
}

func (x *Index) location(e *entry) Location {
	return Location{Pack: x.packs[e.pack], Type: e.typ, Offset: e.offset, Length: e.length, RawLength: e.rawLength}
}

// Lookup returns where a blob is stored.
func (x *Index) Lookup(id blob.ID) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.find(id)
	if e == nil {
		return Location{}, false
	}
	return x.location(e), true
}

// Has reports whether a blob is indexed.
func (x *Index) Has(id blob.ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.find(id) != nil
}

// Len is the number of distinct blobs.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int(x.n)
}

// HasPack reports whether any index file names the pack.
func (x *Index) HasPack(id blob.ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.packNum[id]
	return ok
}

// Each calls fn for every blob, in the order they were added, until fn
// returns false.
func (x *Index) Each(fn func(id blob.ID, loc Location) bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, c := range x.chunks {
		for i := range c {
			if !fn(c[i].id, x.location(&c[i])) {
				return
			}
		}
	}
}

// Packs returns the IDs of every pack the index names.
func (x *Index) Packs() []blob.ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]blob.ID(nil), x.packs...)
}
