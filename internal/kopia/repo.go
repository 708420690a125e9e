package kopia

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/cairn-backup/cairn/internal/store"
)

// Store is what the reader needs of the bucket holding the repository
// (keys are kopia's blob names): reads only. A store.Store satisfies it.
type Store interface {
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(store.Info) error) error
}

// Prefixed is s seen from prefix down (prefix ends in '/'): Velero keeps
// a namespace's repository under <bsl-prefix>/kopia/<namespace>/.
func Prefixed(s Store, prefix string) Store { return prefixed{s, prefix} }

type prefixed struct {
	s      Store
	prefix string
}

func (p prefixed) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return p.s.Get(ctx, p.prefix+key, offset, length)
}

func (p prefixed) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	return p.s.List(ctx, p.prefix+prefix, func(fi store.Info) error {
		fi.Key = strings.TrimPrefix(fi.Key, p.prefix)
		return fn(fi)
	})
}

// Repository is an open kopia repository, read only.
type Repository struct {
	s      Store
	format Format
	c      *crypter
	index  map[contentID]*entry
}

// maxContent bounds one content (kopia's index cannot describe more than
// 2^28 bytes) and one metadata blob.
const maxContent = 1 << 28

// Open opens the repository in s with password: it reads the format blob,
// derives the key (which takes a fraction of a second and 64 MiB with
// scrypt), and reads every index blob. The error wraps ErrNotKopia,
// ErrWrongPassword, ErrUnsupported or ErrCorrupt.
func Open(ctx context.Context, s Store, password []byte) (*Repository, error) {
	raw, err := readBlob(ctx, s, formatBlobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("kopia: no %s: %w", formatBlobID, ErrNotKopia)
	}
	if err != nil {
		return nil, fmt.Errorf("kopia: read %s: %w", formatBlobID, err)
	}
	fb, cfg, err := parseFormat(raw, password)
	if err != nil {
		return nil, fmt.Errorf("kopia: %w", err)
	}
	c, err := newCrypter(cfg)
	if err != nil {
		return nil, fmt.Errorf("kopia: %w", err)
	}
	v := 0
	fmt.Sscan(cfg.Format.Version.String(), &v)
	r := &Repository{s: s, c: c, index: map[contentID]*entry{}, format: Format{
		Version: v, Hash: cfg.Format.Hash, Encryption: cfg.Format.Encryption, Splitter: cfg.Format.Splitter,
		KeyAlgorithm: fb.KeyAlgo, BuildVersion: fb.BuildVersion,
	}}
	if err := r.loadIndexes(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Format describes the repository.
func (r *Repository) Format() Format { return r.format }

func readBlob(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxContent+1))
	if err == nil && len(b) > maxContent {
		err = fmt.Errorf("%s: larger than %d bytes: %w", key, maxContent, ErrCorrupt)
	}
	return b, err
}

// loadIndexes reads and merges every index blob.
func (r *Repository) loadIndexes(ctx context.Context) error {
	var names []string
	for _, p := range []string{"x", "n"} {
		err := r.s.List(ctx, p, func(fi store.Info) error {
			if isIndexBlob(fi.Key) && !strings.Contains(fi.Key, "/") {
				names = append(names, fi.Key)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("kopia: list index blobs: %w", err)
		}
	}
	for _, name := range names {
		sealed, err := readBlob(ctx, r.s, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed by compaction since the listing
		}
		if err != nil {
			return fmt.Errorf("kopia: read index blob %s: %w", name, err)
		}
		iv, err := indexBlobIV(name)
		if err != nil {
			return fmt.Errorf("kopia: %w", err)
		}
		plain, err := r.c.decrypt(sealed, iv)
		if err != nil {
			return fmt.Errorf("kopia: index blob %s: %w", name, err)
		}
		err = parseIndex(plain, func(id contentID, e *entry) {
			if old, ok := r.index[id]; !ok || e.newer(old) {
				r.index[id] = e
			}
		})
		if err != nil {
			return fmt.Errorf("kopia: index blob %s: %w", name, err)
		}
	}
	return nil
}

// Contents returns how many contents the index holds (deleted ones
// included).
func (r *Repository) Contents() int { return len(r.index) }

// content reads one content: its packed bytes, decrypted, decompressed
// and checked against its hash.
func (r *Repository) content(ctx context.Context, id contentID) ([]byte, error) {
	e, ok := r.index[id]
	if !ok || e.deleted {
		return nil, fmt.Errorf("kopia: content %s: %w", id, ErrNotFound)
	}
	if e.keyID != 0 {
		return nil, fmt.Errorf("kopia: content %s: encryption key ID %d: %w", id, e.keyID, ErrUnsupported)
	}
	rc, err := r.s.Get(ctx, e.pack, int64(e.offset), int64(e.packedLen))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("kopia: content %s: pack blob %s is missing: %w", id, e.pack, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("kopia: content %s: read pack %s: %w", id, e.pack, err)
	}
	sealed, err := io.ReadAll(io.LimitReader(rc, int64(e.packedLen)))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("kopia: content %s: read pack %s: %w", id, e.pack, err)
	}
	if len(sealed) != int(e.packedLen) {
		return nil, fmt.Errorf("kopia: content %s: pack %s ends %d bytes short: %w", id, e.pack, int(e.packedLen)-len(sealed), ErrCorrupt)
	}
	data, err := r.c.decrypt(sealed, id.iv())
	if err != nil {
		return nil, fmt.Errorf("kopia: content %s in pack %s at %d: %w", id, e.pack, e.offset, err)
	}
	if e.compression != 0 {
		if data, err = decompress(data, e.compression, true); err != nil {
			return nil, fmt.Errorf("kopia: content %s: %w", id, err)
		}
	}
	if !bytes.Equal(r.c.sum(data), id.hash()) {
		return nil, fmt.Errorf("kopia: content %s does not match its hash: %w", id, ErrCorrupt)
	}
	return data, nil
}

// decompress undoes kopia's compression: a 4-byte big-endian header ID
// (which must be id when check), then the compressed stream.
func decompress(data []byte, id uint32, check bool) ([]byte, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("compressed data of %d bytes: %w", len(data), ErrCorrupt)
	}
	h := binary.BigEndian.Uint32(data[:4])
	if check && h != id {
		return nil, fmt.Errorf("compression header %#x, index says %#x: %w", h, id, ErrCorrupt)
	}
	in := bytes.NewReader(data[4:])
	var rd io.Reader
	switch {
	case h >= 0x1000 && h <= 0x1002, h >= 0x1300 && h <= 0x1302: // gzip, pgzip
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("gzip: %v: %w", err, ErrCorrupt)
		}
		rd = zr
	case h >= 0x1100 && h <= 0x1103: // zstd
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxContent))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	case h >= 0x1200 && h <= 0x1203: // s2
		rd = s2.NewReader(in)
	case h >= 0x1500 && h <= 0x1502: // deflate
		rd = flate.NewReader(in)
	default:
		return nil, fmt.Errorf("compression header %#x (this reader knows gzip, pgzip, zstd, s2 and deflate): %w", h, ErrUnsupported)
	}
	out, err := io.ReadAll(io.LimitReader(rd, maxContent+1))
	if err != nil {
		return nil, fmt.Errorf("decompress (header %#x): %v: %w", h, err, ErrCorrupt)
	}
	if len(out) > maxContent {
		return nil, fmt.Errorf("decompressed content larger than %d bytes: %w", maxContent, ErrCorrupt)
	}
	return out, nil
}
