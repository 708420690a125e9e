package blob

import (
	"encoding/hex"
	"fmt"
)

// IDSize is the length of an ID in bytes.
const IDSize = 32

// ID identifies a blob: the keyed BLAKE3 hash of its plaintext under the
// repository's ID key, so that an ID reveals nothing about the content to
// someone without the master key.
type ID [IDSize]byte

// String returns the ID as lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for people.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether the ID is all zeros (unset).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses 64 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("blob id %q: want %d hex digits, have %d", s, 2*IDSize, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("blob id %q: %w", s, err)
	}
	return id, nil
}

// MarshalText encodes the ID as hex (used by JSON).
func (id ID) MarshalText() ([]byte, error) {
	b := make([]byte, 2*IDSize)
	hex.Encode(b, id[:])
	return b, nil
}

// UnmarshalText decodes hex.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Type says what a blob holds.
type Type uint8

const (
	// Data is a chunk of file content.
	Data Type = 1
	// Tree is an encoded directory listing (see package snapshot).
	Tree Type = 2
)

func (t Type) String() string {
	switch t {
	case Data:
		return "data"
	case Tree:
		return "tree"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return t == Data || t == Tree }

// Handle is a typed blob ID.
type Handle struct {
	Type Type
	ID   ID
}

func (h Handle) String() string { return h.Type.String() + "/" + h.ID.Short() }
