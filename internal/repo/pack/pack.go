package pack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// Entry locates one blob in a pack.
type Entry struct {
	Type      blob.Type
	ID        blob.ID
	Offset    uint32 // of the sealed blob in the pack
	Length    uint32 // of the sealed blob (nonce, ciphertext, tag)
	RawLength uint32 // of the blob's plaintext before compression
}

// Sealer encrypts and authenticates (crypto.Keys).
type Sealer interface {
	Seal(dst, plaintext, ad []byte) ([]byte, error)
	Open(dst, sealed, ad []byte) ([]byte, error)
}

var headerAD = []byte("cairn pack header")

const (
	headerMagic = "CPK1"
	// MaxHeader bounds the sealed header a reader accepts (1M entries).
	MaxHeader = 64 << 20
	// TrailerSize is the size of the header_length field at the end.
	TrailerSize = 4
	// maxEntry is the largest encoding of one entry.
	maxEntry = 1 + blob.IDSize + 3*binary.MaxVarintLen32
	// minEntry is the smallest encoding of one entry.
	minEntry = 1 + blob.IDSize + 3
)

// ErrFormat means bytes that do not parse as a pack header.
var ErrFormat = errors.New("malformed pack")

// BlobAD is the associated data a blob is sealed with: its type and ID, so
// a blob cannot be passed off as another.
func BlobAD(t blob.Type, id blob.ID) []byte {
	ad := make([]byte, 1+blob.IDSize)
	ad[0] = byte(t)
	copy(ad[1:], id[:])
	return ad
}

// AppendEntry appends the encoding of one entry (shared by pack headers
// and index files).
func AppendEntry(b []byte, e Entry) []byte {
	b = append(b, byte(e.Type))
	b = append(b, e.ID[:]...)
	b = binary.AppendUvarint(b, uint64(e.Offset))
	b = binary.AppendUvarint(b, uint64(e.Length))
	return binary.AppendUvarint(b, uint64(e.RawLength))
}

// ReadEntry decodes one entry from the front of b and returns the rest.
func ReadEntry(b []byte) (Entry, []byte, error) {
	var e Entry
	if len(b) < 1+blob.IDSize {
		return e, nil, fmt.Errorf("entry truncated: %w", ErrFormat)
	}
	e.Type = blob.Type(b[0])
	if !e.Type.Valid() {
		return e, nil, fmt.Errorf("entry has unknown type %d: %w", b[0], ErrFormat)
	}
	copy(e.ID[:], b[1:1+blob.IDSize])
	b = b[1+blob.IDSize:]
	var vals [3]uint32
	for j := range vals {
		v, k := binary.Uvarint(b)
		if k <= 0 || v > 1<<32-1 {
			return e, nil, fmt.Errorf("entry field %d: %w", j, ErrFormat)
		}
		vals[j] = uint32(v)
		b = b[k:]
	}
	e.Offset, e.Length, e.RawLength = vals[0], vals[1], vals[2]
	return e, b, nil
}

// MinEntrySize is the smallest encoding of one entry.
const MinEntrySize = minEntry

// EncodeHeader encodes entries (unsealed).
func EncodeHeader(entries []Entry) []byte {
	b := make([]byte, 0, len(headerMagic)+binary.MaxVarintLen64+len(entries)*maxEntry)
	b = append(b, headerMagic...)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = AppendEntry(b, e)
	}
	return b
}

// DecodeHeader parses an unsealed header. It checks the structure but not
// that offsets lie within a pack (Parse does).
func DecodeHeader(b []byte) ([]Entry, error) {
	if len(b) < len(headerMagic) || string(b[:len(headerMagic)]) != headerMagic {
		return nil, fmt.Errorf("pack header: bad magic: %w", ErrFormat)
	}
	b = b[len(headerMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)/minEntry) {
		return nil, fmt.Errorf("pack header: bad entry count: %w", ErrFormat)
	}
	b = b[k:]
	entries := make([]Entry, 0, n)
	for i := uint64(0); i < n; i++ {
		e, rest, err := ReadEntry(b)
		if err != nil {
			return nil, fmt.Errorf("pack header: entry %d: %w", i, err)
		}
		entries, b = append(entries, e), rest
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("pack header: %d trailing bytes: %w", len(b), ErrFormat)
	}
	return entries, nil
}

// Writer assembles one pack in memory.
type Writer struct {
	buf     []byte
	entries []Entry
}

// NewWriter returns a writer that appends to buf[:0].
func NewWriter(buf []byte) *Writer {
	return &Writer{buf: buf[:0]}
}

// Add appends a sealed blob.
func (w *Writer) Add(t blob.Type, id blob.ID, sealed []byte, rawLength int) {
	w.entries = append(w.entries, Entry{
		Type: t, ID: id, Offset: uint32(len(w.buf)), Length: uint32(len(sealed)), RawLength: uint32(rawLength),
	})
	w.buf = append(w.buf, sealed...)
}

// Size is the number of blob bytes so far.
func (w *Writer) Size() int { return len(w.buf) }

// Count is the number of blobs so far.
func (w *Writer) Count() int { return len(w.entries) }

// sealOverhead bounds what sealing adds to a header (nonce and tag).
const sealOverhead = 64

// FinishedSize bounds the size of the finished pack if one more blob of
// sealedLen bytes were added: blobs, sealed header and trailer. A caller
// that keeps it within its buffer's capacity never has the buffer grow.
func (w *Writer) FinishedSize(sealedLen int) int {
	return len(w.buf) + sealedLen + len(headerMagic) + binary.MaxVarintLen64 + (len(w.entries)+1)*maxEntry + sealOverhead + TrailerSize
}

// Finish seals the header, appends it and the trailer, and returns the
// finished pack and its entries. The writer must not be used afterwards.
func (w *Writer) Finish(s Sealer) ([]byte, []Entry, error) {
	sealed, err := s.Seal(nil, EncodeHeader(w.entries), headerAD)
	if err != nil {
		return nil, nil, fmt.Errorf("pack: seal header: %w", err)
	}
	w.buf = append(w.buf, sealed...)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(sealed)))
	return w.buf, w.entries, nil
}

// HeaderLength reads the trailer of a pack of size bytes and returns the
// offset and length of its sealed header.
func HeaderLength(trailer []byte, size int64) (offset int64, length int64, err error) {
	if len(trailer) != TrailerSize || size < TrailerSize {
		return 0, 0, fmt.Errorf("pack of %d bytes has no trailer: %w", size, ErrFormat)
	}
	l := int64(binary.LittleEndian.Uint32(trailer))
	if l > MaxHeader || l > size-TrailerSize {
		return 0, 0, fmt.Errorf("pack header length %d does not fit a %d-byte pack: %w", l, size, ErrFormat)
	}
	return size - TrailerSize - l, l, nil
}

// OpenHeader authenticates and parses a sealed header belonging to a pack
// whose blobs end at blobsEnd, checking every entry lies within the blobs.
func OpenHeader(s Sealer, sealed []byte, blobsEnd int64) ([]Entry, error) {
	plain, err := s.Open(nil, sealed, headerAD)
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	entries, err := DecodeHeader(plain)
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		if int64(e.Offset)+int64(e.Length) > blobsEnd {
			return nil, fmt.Errorf("pack header: entry %d (%d+%d) past the blobs' end %d: %w", i, e.Offset, e.Length, blobsEnd, ErrFormat)
		}
	}
	return entries, nil
}

// Parse splits a whole pack into its entries.
func Parse(s Sealer, data []byte) ([]Entry, error) {
	size := int64(len(data))
	if size < TrailerSize {
		return nil, fmt.Errorf("pack of %d bytes: %w", size, ErrFormat)
	}
	off, l, err := HeaderLength(data[size-TrailerSize:], size)
	if err != nil {
		return nil, err
	}
	return OpenHeader(s, data[off:off+l], off)
}
