package kopia

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// contentID is a content's ID as its index key: the prefix byte (0 for
// none, else 'g'…'z') and the hash bytes, as a string (a map key).
type contentID string

// parseContentID reads "[g-z]?<hex>".
func parseContentID(s string) (contentID, error) {
	var prefix byte
	if s != "" && s[0] >= 'g' && s[0] <= 'z' {
		prefix, s = s[0], s[1:]
	}
	h, err := hex.DecodeString(s)
	if err != nil || len(h) < 16 || len(h) > 64 {
		return "", fmt.Errorf("content ID %q: %w", s, ErrCorrupt)
	}
	return contentID(append([]byte{prefix}, h...)), nil
}

func (c contentID) prefix() byte { return c[0] }
func (c contentID) hash() []byte { return []byte(c[1:]) }

// iv is what a content is encrypted with: the last 16 bytes of its hash.
func (c contentID) iv() []byte { h := c.hash(); return h[len(h)-16:] }

func (c contentID) String() string {
	s := hex.EncodeToString(c.hash())
	if p := c.prefix(); p != 0 {
		return string(p) + s
	}
	return s
}

// entry is where a content is: its index entry.
type entry struct {
	timestamp   int64 // seconds
	deleted     bool
	pack        string
	offset      uint32
	packedLen   uint32
	originalLen uint32
	compression uint32 // header ID, 0 for none
	formatVer   byte
	keyID       byte
}

// newer reports whether a wins over b (kopia's rule: the later
// timestamp, then not deleted, then the greater pack name).
func (a *entry) newer(b *entry) bool {
	if a.timestamp != b.timestamp {
		return a.timestamp > b.timestamp
	}
	if a.deleted != b.deleted {
		return !a.deleted
	}
	return a.pack > b.pack
}

// parseIndex decodes an index blob's plaintext (format 1 or 2) and calls
// fn for each entry.
func parseIndex(b []byte, fn func(contentID, *entry)) error {
	if len(b) < 8 {
		return fmt.Errorf("index of %d bytes: %w", len(b), ErrCorrupt)
	}
	switch b[0] {
	case 1:
		return parseIndexV1(b, fn)
	case 2:
		return parseIndexV2(b, fn)
	}
	return fmt.Errorf("index format %d (this reader knows 1 and 2): %w", b[0], ErrUnsupported)
}

func slice(b []byte, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		return nil, fmt.Errorf("index: range %d+%d past its %d bytes: %w", off, n, len(b), ErrCorrupt)
	}
	return b[off : off+n], nil
}

func uint24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// Index format 1: an 8-byte header (version, key size, entry size,
// count), then count sorted (key, 20-byte entry) pairs; pack names are
// elsewhere in the blob, at the offset an entry gives.
func parseIndexV1(b []byte, fn func(contentID, *entry)) error {
	keySize, valSize, count := int64(b[1]), int64(binary.BigEndian.Uint16(b[2:4])), int64(binary.BigEndian.Uint32(b[4:8]))
	if keySize <= 1 || valSize != 20 {
		return fmt.Errorf("index v1: key size %d, entry size %d: %w", keySize, valSize, ErrCorrupt)
	}
	names := map[uint64]string{}
	for i := range count {
		rec, err := slice(b, 8+i*(keySize+valSize), keySize+valSize)
		if err != nil {
			return err
		}
		v := rec[keySize:]
		e := &entry{
			timestamp: int64(binary.BigEndian.Uint64(append([]byte{0, 0}, v[0:6]...))),
			formatVer: v[6],
			deleted:   v[12]&0x80 != 0,
			offset:    binary.BigEndian.Uint32(v[12:16]) & (1<<31 - 1),
			packedLen: binary.BigEndian.Uint32(v[16:20]),
		}
		nameLen, nameOff := int64(v[7]), int64(binary.BigEndian.Uint32(v[8:12]))
		k := uint64(nameOff)<<8 | uint64(nameLen)
		name, ok := names[k]
		if !ok {
			nb, err := slice(b, nameOff, nameLen)
			if err != nil {
				return err
			}
			name = string(nb)
			names[k] = name
		}
		e.pack = name
		fn(contentID(rec[:keySize]), e)
	}
	return nil
}

// Index format 2: a 17-byte header (version, key size, entry size,
// entry count, pack count, format count, base timestamp), the sorted
// (key, entry) pairs, then the packs (name length, name offset), the
// formats (compression header, format version, encryption key ID) and
// the names. An entry: timestamp (relative), pack offset with the
// deleted flag in its top bit, original and packed length (24 bits),
// pack index (16 bits), and when the entry size allows it a format
// index, pack index bits 16–23 and length bits 24–27.
func parseIndexV2(b []byte, fn func(contentID, *entry)) error {
	if len(b) < 17 {
		return fmt.Errorf("index v2: header: %w", ErrCorrupt)
	}
	keySize, entrySize := int64(b[1]), int64(binary.BigEndian.Uint16(b[2:4]))
	count, packs := int64(binary.BigEndian.Uint32(b[4:8])), int64(binary.BigEndian.Uint32(b[8:12]))
	formats, base := int64(b[12]), int64(binary.BigEndian.Uint32(b[13:17]))
	if count == 0 {
		return nil
	}
	if keySize <= 1 || entrySize < 16 || entrySize > 19 {
		return fmt.Errorf("index v2: key size %d, entry size %d: %w", keySize, entrySize, ErrCorrupt)
	}
	stride := keySize + entrySize
	packsOff := 17 + count*stride
	formatsOff := packsOff + packs*5
	packNames := make([]string, packs)
	for i := range packs {
		p, err := slice(b, packsOff+5*i, 5)
		if err != nil {
			return err
		}
		name, err := slice(b, int64(binary.BigEndian.Uint32(p[1:5])), int64(p[0]))
		if err != nil {
			return err
		}
		packNames[i] = string(name)
	}
	type format struct {
		compression  uint32
		version, key byte
	}
	fmts := make([]format, formats)
	for i := range formats {
		f, err := slice(b, formatsOff+6*i, 6)
		if err != nil {
			return err
		}
		fmts[i] = format{binary.BigEndian.Uint32(f[0:4]), f[4], f[5]}
	}
	for i := range count {
		rec, err := slice(b, 17+i*stride, stride)
		if err != nil {
			return err
		}
		v := rec[keySize:]
		e := &entry{
			timestamp:   base + int64(binary.BigEndian.Uint32(v[0:4])),
			deleted:     v[4]&0x80 != 0,
			offset:      binary.BigEndian.Uint32(v[4:8]) & (1<<31 - 1),
			originalLen: uint24(v[8:11]),
			packedLen:   uint24(v[11:14]),
		}
		pack := int64(binary.BigEndian.Uint16(v[14:16]))
		fi := 0
		if len(v) > 16 {
			fi = int(v[16])
		}
		if len(v) > 17 {
			pack |= int64(v[17]) << 16
		}
		if len(v) > 18 {
			e.originalLen |= uint32(v[18]>>4) << 24
			e.packedLen |= uint32(v[18]&0xf) << 24
		}
		if pack >= packs || fi >= len(fmts) {
			return fmt.Errorf("index v2: entry %d names pack %d of %d, format %d of %d: %w", i, pack, packs, fi, len(fmts), ErrCorrupt)
		}
		e.pack = packNames[pack]
		e.compression, e.formatVer, e.keyID = fmts[fi].compression, fmts[fi].version, fmts[fi].key
		fn(contentID(rec[:keySize]), e)
	}
	return nil
}

// indexBlobIV is the IV an index blob is encrypted with: the last 32 hex
// digits of its name before the first '-'.
func indexBlobIV(name string) ([]byte, error) {
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	if len(name) < 32 {
		return nil, fmt.Errorf("index blob %q: name too short: %w", name, ErrCorrupt)
	}
	iv, err := hex.DecodeString(name[len(name)-32:])
	if err != nil {
		return nil, fmt.Errorf("index blob %q: %w", name, ErrCorrupt)
	}
	return iv, nil
}

// isIndexBlob reports whether a blob holds an index: the epoch manager's
// uncompacted (xn), single-epoch (xs) and range (xr) indexes, or the
// older layout's (n).
func isIndexBlob(name string) bool {
	for _, p := range []string{"xn", "xs", "xr"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.HasPrefix(name, "n")
}
