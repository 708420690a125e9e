package index

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/internal/store"
)

// File is one decoded index file.
type File struct {
	Packs []Pack
	// Supersedes lists the store keys of objects this file voids: index
	// files ("index/<id>") whose entries it replaces, and snapshot files
	// ("snapshots/<id>") that cannot be read and hold nothing to restore.
	// A reader ignores every object that a readable index file lists here,
	// whether or not the object could still be deleted (object lock may
	// keep it for years). Only a writer holding the exclusive lock and
	// writing a complete index (prune, repair) lists index files.
	Supersedes []string
}

// magicSupersedes starts an index file that supersedes objects:
//
//	"CIX2" uvarint(keys) (uvarint(len) key)* uvarint(packs) pack*
//
// A file that supersedes nothing is written in the first format, "CIX1".
const magicSupersedes = "CIX2"

// maxKey bounds the length of a superseded key.
const maxKey = 1024

// EncodeFile encodes f as an (unsealed) index file.
func EncodeFile(f File) []byte {
	if len(f.Supersedes) == 0 {
		return Encode(f.Packs)
	}
	head := []byte(magicSupersedes)
	head = binary.AppendUvarint(head, uint64(len(f.Supersedes)))
	for _, k := range f.Supersedes {
		head = binary.AppendUvarint(head, uint64(len(k)))
		head = append(head, k...)
	}
	return append(head, Encode(f.Packs)[len(magic):]...)
}

// DecodeFile parses an unsealed index file of either format.
func DecodeFile(b []byte) (File, error) {
	switch {
	case len(b) >= len(magic) && string(b[:len(magic)]) == magic:
		packs, err := decodePacks(b[len(magic):])
		return File{Packs: packs}, err
	case len(b) >= len(magicSupersedes) && string(b[:len(magicSupersedes)]) == magicSupersedes:
	default:
		return File{}, fmt.Errorf("index: bad magic: %w", ErrFormat)
	}
	b = b[len(magicSupersedes):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)/2) {
		return File{}, fmt.Errorf("index: bad superseded count: %w", ErrFormat)
	}
	b = b[k:]
	var f File
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > maxKey || l > uint64(len(b)-k) {
			return File{}, fmt.Errorf("index: superseded key %d: bad length: %w", i, ErrFormat)
		}
		key := string(b[k : k+int(l)])
		b = b[k+int(l):]
		if err := validSuperseded(key); err != nil {
			return File{}, fmt.Errorf("index: superseded key %d: %v: %w", i, err, ErrFormat)
		}
		f.Supersedes = append(f.Supersedes, key)
	}
	packs, err := decodePacks(b)
	if err != nil {
		return File{}, err
	}
	f.Packs = packs
	return f, nil
}

// validSuperseded accepts the keys an index file may supersede.
func validSuperseded(key string) error {
	if !strings.HasPrefix(key, "index/") && !strings.HasPrefix(key, "snapshots/") {
		return fmt.Errorf("%q is neither an index nor a snapshot file", key)
	}
	if strings.Count(key, "/") != 1 {
		return fmt.Errorf("%q has more than one segment after its kind", key)
	}
	return store.ValidateKey(key)
}
