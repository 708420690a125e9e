package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/chunker"
	"github.com/cairn-backup/cairn/internal/repo/crypto"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/repo/pack"
	"github.com/cairn-backup/cairn/internal/store"
)

// Encodings of a blob's plaintext: the first byte inside the ciphertext.
const (
	encodingRaw  = 0
	encodingZstd = 1
)

// packWriter is a pack being filled.
type packWriter struct {
	typ blob.Type
	w   *pack.Writer
}

// packBuffer returns an empty buffer for a new pack of type t: data packs
// get a full-size (recycled) one; tree packs, usually small, start small.
// At most Uploads+1 data pack buffers exist at once (one filling, the rest
// uploading): taking one waits for an upload to finish, which bounds memory.
func (r *Repository) packBuffer(t blob.Type) []byte {
	if t == blob.Tree {
		return make([]byte, 0, 256<<10)
	}
	if b := <-r.packFree; b != nil {
		return b[:0]
	}
	return make([]byte, 0, r.cfg.PackSize+64<<10)
}

// releasePackBuffer recycles a data pack's buffer once it is stored.
func (r *Repository) releasePackBuffer(t blob.Type, data []byte) {
	if t != blob.Data {
		return
	}
	if cap(data) < r.cfg.PackSize {
		data = nil
	}
	r.packFree <- data[:0]
}

// ListPacks calls fn with the ID and the listing of every pack in the
// store. The keys of objects under data/ that are not where a pack's name
// puts it (ParsePackKey) are returned, not passed to fn: they are no packs.
func (r *Repository) ListPacks(ctx context.Context, fn func(id blob.ID, fi store.Info) error) (strays []string, err error) {
	err = r.store.List(ctx, KindData.Prefix(), func(fi store.Info) error {
		id, err := ParsePackKey(fi.Key)
		if err != nil {
			strays = append(strays, fi.Key)
			return nil
		}
		return fn(id, fi)
	})
	return strays, err
}

// DeletePack removes a pack from the store. The caller holds the exclusive
// lock and has indexed the pack's live blobs elsewhere.
func (r *Repository) DeletePack(ctx context.Context, id blob.ID) error {
	if err := r.store.Delete(ctx, PackKey(id)); err != nil {
		return fmt.Errorf("repo: delete pack %s: %w", id.Short(), err)
	}
	return nil
}

// SaveBlob stores data as a blob of type t unless a blob with the same ID is
// already stored or being stored. It returns the ID and whether the blob
// was new. The blob is durable only after Flush.
func (r *Repository) SaveBlob(ctx context.Context, t blob.Type, data []byte) (blob.ID, bool, error) {
	id := r.keys.BlobID(data)
	saved, err := r.SaveBlobID(ctx, t, id, data)
	return id, saved, err
}

// SaveBlobID is SaveBlob for a caller that has computed the ID already.
func (r *Repository) SaveBlobID(ctx context.Context, t blob.Type, id blob.ID, data []byte) (bool, error) {
	if !r.reserve(id) {
		return false, nil
	}
	sealed, bp, err := r.seal(t, id, data)
	if err != nil {
		r.release(id)
		return false, err
	}
	err = r.addToPack(ctx, t, id, sealed, len(data))
	r.putSealBuf(bp)
	if err != nil {
		r.release(id)
		return false, err
	}
	return true, nil
}

// Has reports whether a blob is stored or being stored.
func (r *Repository) Has(id blob.ID) bool {
	if r.idx.Has(id) {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[id]
	return ok
}

func (r *Repository) reserve(id blob.ID) bool {
	if r.idx.Has(id) {
		r.mu.Lock()
		r.stats.Duplicates++
		r.mu.Unlock()
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[id]; ok || r.idx.Has(id) {
		r.stats.Duplicates++
		return false
	}
	r.pending[id] = struct{}{}
	return true
}

func (r *Repository) release(id blob.ID) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
}

// seal compresses (when it pays) and encrypts a blob's plaintext into a
// pooled buffer; the caller hands the buffer back with putSealBuf.
func (r *Repository) seal(t blob.Type, id blob.ID, data []byte) ([]byte, *[]byte, error) {
	bp := r.getSealBuf()
	need := sealedBound(len(data))
	if cap(*bp) < need {
		// A large data blob's buffer is sized for the largest chunk, so
		// that it fits any data blob when recycled: sizing to each blob
		// made a new buffer every few blobs, and the garbage raised peak
		// memory. Trees get their own size: any number of directories may
		// be saved at once, and 4 MiB for each made memory grow with the
		// data.
		if need > smallSeal && t == blob.Data {
			need = max(need, sealedBound(chunker.MaxSize))
		}
		*bp = make([]byte, 0, need)
	}
	buf := (*bp)[:crypto.NonceSize+1]
	buf[crypto.NonceSize] = encodingRaw
	if enc := r.encoderFor(data); enc != nil {
		buf[crypto.NonceSize] = encodingZstd
		z := enc.EncodeAll(data, buf)
		// Keep the compressed form only when it saves at least 1/32.
		if len(z)-len(buf) < len(data)-len(data)/32 && cap(z) >= len(z)+crypto.TagSize {
			buf = z
		} else {
			buf = buf[:crypto.NonceSize+1]
			buf[crypto.NonceSize] = encodingRaw
		}
	}
	if buf[crypto.NonceSize] == encodingRaw {
		buf = append(buf, data...)
	}
	sealed, err := r.keys.SealInPlace(buf, len(buf)-crypto.NonceSize, pack.BlobAD(t, id))
	if err != nil {
		r.putSealBuf(bp)
		return nil, nil, err
	}
	*bp = sealed[:0]
	return sealed, bp, nil
}

// sealedBound bounds the sealed size of an n-byte blob (zstd's worst case
// included).
func sealedBound(n int) int {
	return crypto.NonceSize + 1 + n + n/64 + 64 + crypto.TagSize
}

// getSealBuf takes a buffer from the repository's free list. The free
// lists are channels, not sync.Pools: a pool is emptied at every garbage
// collection, and with cairn's frequent collections that turned recycled
// multi-MiB buffers into a stream of new allocations.
func (r *Repository) getSealBuf() *[]byte {
	select {
	case b := <-r.sealFree:
		return b
	default:
		return new([]byte)
	}
}

// smallSeal: data blobs up to this sealed size (small files), and trees,
// get buffers of their own size, which are not recycled.
const smallSeal = 256 << 10

// putSealBuf recycles a buffer that fits any data blob; others are left to
// the collector.
func (r *Repository) putSealBuf(b *[]byte) {
	if cap(*b) < sealedBound(chunker.MaxSize) {
		return
	}
	select {
	case r.sealFree <- b:
	default:
	}
}

// probeSize is how much of a large blob is test-compressed first.
const probeSize = 64 << 10

// encoderFor chooses, per blob, how to compress data: nil (store it raw),
// the configured level, or the fastest one. Small blobs simply get the
// configured level. Of a large one a 64 KiB sample from its middle is
// compressed with the fastest level first:
//   - a sample that does not shrink by 1/64 (media, archives, encrypted
//     files) means no compression at all;
//   - a sample that shrinks below 1/32 (runs of zeros, sparse regions)
//     gets the fastest level for the whole blob: there the stronger levels
//     save nothing measurable (hack/bench/compress, docs/benchmarks.md)
//     for twice the time. (1/8 also caught blobs whose middle is padding
//     and the rest code, where the configured level does pay);
//   - anything else gets the configured level, which on real data saves
//     5–7 % of the fastest level's output in every band of ratios.
func (r *Repository) encoderFor(data []byte) *zstd.Encoder {
	if r.cfg.Compression == "none" || len(data) < 64 {
		return nil
	}
	if len(data) < 4*probeSize {
		return r.enc
	}
	mid := len(data)/2 - probeSize/2
	sample := data[mid : mid+probeSize]
	bp := r.getSealBuf()
	z := r.fast.EncodeAll(sample, (*bp)[:0])
	*bp = z[:0]
	r.putSealBuf(bp)
	switch {
	case len(z) >= probeSize-probeSize/64:
		return nil
	case len(z) < probeSize/32:
		return r.fast
	}
	return r.enc
}

func (r *Repository) addToPack(ctx context.Context, t blob.Type, id blob.ID, sealed []byte, rawLen int) error {
	for {
		r.mu.Lock()
		if r.uploadErr != nil {
			err := r.uploadErr
			r.mu.Unlock()
			return err
		}
		// A pack is finished before a blob would take it, with its header,
		// past the target size, so pack buffers never grow beyond it (a
		// pack of many small blobs has a header of hundreds of KiB).
		pw := r.open[t]
		if pw != nil && (pw.w.Count() == 0 || pw.w.FinishedSize(len(sealed)) <= r.cfg.PackSize) {
			pw.w.Add(t, id, sealed, rawLen)
			r.stats.Blobs++
			r.stats.RawBytes += int64(rawLen)
			r.stats.StoredBytes += int64(len(sealed))
			r.mu.Unlock()
			return nil
		}
		// A new pack is needed. Taking its buffer may wait for an upload to
		// finish, and an upload takes r.mu at its end: never wait for a
		// buffer holding r.mu (that deadlocked with Uploads=1).
		delete(r.open, t)
		r.mu.Unlock()
		if pw != nil {
			r.upload(ctx, pw)
		}
		buf := r.packBuffer(t)
		r.mu.Lock()
		if r.open[t] == nil {
			r.open[t] = &packWriter{typ: t, w: pack.NewWriter(buf)}
		} else {
			r.releasePackBuffer(t, buf) // another blob opened one meanwhile
		}
		r.mu.Unlock()
	}
}

// upload finishes a pack and stores it in the background, bounded by
// Options.Uploads (the call blocks while that many uploads run).
func (r *Repository) upload(ctx context.Context, pw *packWriter) {
	r.uploads.Go(func() error {
		err := r.storePack(ctx, pw)
		if err != nil {
			r.mu.Lock()
			if r.uploadErr == nil {
				r.uploadErr = err
			}
			r.mu.Unlock()
		}
		return err
	})
}

func (r *Repository) storePack(ctx context.Context, pw *packWriter) error {
	data, entries, err := pw.w.Finish(r.keys)
	if err != nil {
		r.releasePackBuffer(pw.typ, nil)
		return err
	}
	id := blob.ID(sha256.Sum256(data))
	err = r.putNew(ctx, PackKey(id), data)
	r.releasePackBuffer(pw.typ, data)
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("repo: store pack %s: %w", id.Short(), err)
	}
	p := index.Pack{ID: id, Entries: entries}
	r.idx.Add(p)
	r.mu.Lock()
	for _, e := range entries {
		delete(r.pending, e.ID)
	}
	r.stats.Packs++
	r.unindexed = append(r.unindexed, p)
	var batch []index.Pack
	if len(r.unindexed) >= r.opts.IndexEvery {
		batch, r.unindexed = r.unindexed, nil
	}
	r.mu.Unlock()
	if batch != nil {
		return r.writeIndex(ctx, batch)
	}
	return nil
}

// Flush uploads every open pack and writes an index file for every pack not
// yet in one. After Flush returns nil, every saved blob is durable and findable.
func (r *Repository) Flush(ctx context.Context) error {
	r.mu.Lock()
	open := r.open
	r.open = map[blob.Type]*packWriter{}
	r.mu.Unlock()
	for _, pw := range open {
		if pw.w.Count() > 0 {
			r.upload(ctx, pw)
		}
	}
	if err := r.uploads.Wait(); err != nil {
		return err
	}
	r.mu.Lock()
	batch := r.unindexed
	r.unindexed = nil
	err := r.uploadErr
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return r.writeIndex(ctx, batch)
	}
	return nil
}

func (r *Repository) writeIndex(ctx context.Context, packs []index.Pack) error {
	id, err := r.SaveUnpacked(ctx, KindIndex, index.Encode(packs))
	if err != nil {
		return fmt.Errorf("repo: write index: %w", err)
	}
	r.mu.Lock()
	r.indexFiles[id] = struct{}{}
	r.mu.Unlock()
	return nil
}

// LoadBlob reads, decrypts and decompresses a blob, appending its plaintext
// to buf[:0].
func (r *Repository) LoadBlob(ctx context.Context, t blob.Type, id blob.ID, buf []byte) ([]byte, error) {
	loc, ok := r.idx.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("repo: %s %s: %w", t, id.Short(), ErrBlobNotFound)
	}
	if loc.Type != t {
		return nil, fmt.Errorf("repo: blob %s is %s, not %s: %w", id.Short(), loc.Type, t, ErrCorrupt)
	}
	rc, err := r.getPack(ctx, loc.Pack, int64(loc.Offset), int64(loc.Length))
	if err != nil {
		return nil, fmt.Errorf("repo: read %s %s from pack %s: %w", t, id.Short(), loc.Pack.Short(), err)
	}
	sealed := make([]byte, loc.Length)
	_, err = io.ReadFull(rc, sealed)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("repo: read %s %s from pack %s: %v: %w", t, id.Short(), loc.Pack.Short(), err, ErrCorrupt)
	}
	return r.OpenBlob(t, id, sealed, loc.RawLength, buf)
}

// OpenBlob decrypts and decompresses a sealed blob.
func (r *Repository) OpenBlob(t blob.Type, id blob.ID, sealed []byte, rawLength uint32, buf []byte) ([]byte, error) {
	plain, err := r.keys.Open(sealed[crypto.NonceSize:crypto.NonceSize], sealed, pack.BlobAD(t, id))
	if err != nil || len(plain) == 0 {
		return nil, fmt.Errorf("repo: %s %s: authentication failed: %w", t, id.Short(), ErrCorrupt)
	}
	switch plain[0] {
	case encodingRaw:
		return append(buf[:0], plain[1:]...), nil
	case encodingZstd:
		if cap(buf) < int(rawLength) {
			buf = make([]byte, 0, rawLength)
		}
		out, err := r.dec.DecodeAll(plain[1:], buf[:0])
		if err != nil {
			return nil, fmt.Errorf("repo: %s %s: decompress: %v: %w", t, id.Short(), err, ErrCorrupt)
		}
		return out, nil
	}
	return nil, fmt.Errorf("repo: %s %s: unknown encoding %d: %w", t, id.Short(), plain[0], ErrCorrupt)
}

// VerifyBlob checks that plaintext hashes to id.
func (r *Repository) VerifyBlob(id blob.ID, plaintext []byte) bool {
	return r.keys.BlobID(plaintext) == id
}

// PackHeader reads and authenticates the header of a stored pack.
func (r *Repository) PackHeader(ctx context.Context, id blob.ID) ([]pack.Entry, error) {
	size, err := r.packSize(ctx, id)
	if err != nil {
		return nil, err
	}
	trailer, err := r.readPackRange(ctx, id, size-pack.TrailerSize, pack.TrailerSize)
	if err != nil {
		return nil, err
	}
	off, l, err := pack.HeaderLength(trailer, size)
	if err != nil {
		return nil, fmt.Errorf("repo: pack %s: %w: %w", id.Short(), err, ErrCorrupt)
	}
	sealed, err := r.readPackRange(ctx, id, off, l)
	if err != nil {
		return nil, err
	}
	entries, err := pack.OpenHeader(r.keys, sealed, off)
	if err != nil {
		return nil, fmt.Errorf("repo: pack %s: %w: %w", id.Short(), err, ErrCorrupt)
	}
	return entries, nil
}

// ParsePack authenticates a whole pack's header.
func (r *Repository) ParsePack(data []byte) ([]pack.Entry, error) {
	return pack.Parse(r.keys, data)
}

// readPackRange reads exactly n bytes of pack id from off.
func (r *Repository) readPackRange(ctx context.Context, id blob.ID, off, n int64) ([]byte, error) {
	key := PackKey(id)
	if off < 0 {
		return nil, fmt.Errorf("repo: %s: negative offset: %w", key, ErrCorrupt)
	}
	rc, err := r.getPack(ctx, id, off, n)
	if err != nil {
		return nil, fmt.Errorf("repo: read %s: %w", key, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("repo: read %s: %v: %w", key, err, ErrCorrupt)
	}
	return b, nil
}

// hashName is the store name of an unpacked object: its SHA-256 in hex.
func hashName(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// CopySealed adds an already sealed blob (read from another pack) to a new
// pack without decrypting it again; prune uses it to keep the live blobs of
// a pack it rewrites. It returns false if the blob is already pending.
func (r *Repository) CopySealed(ctx context.Context, t blob.Type, id blob.ID, sealed []byte, rawLength int) (bool, error) {
	r.mu.Lock()
	if _, ok := r.pending[id]; ok {
		r.mu.Unlock()
		return false, nil
	}
	r.pending[id] = struct{}{}
	r.mu.Unlock()
	if err := r.addToPack(ctx, t, id, sealed, rawLength); err != nil {
		r.release(id)
		return false, err
	}
	return true, nil
}

// ReloadIndex replaces the in-memory index with what the index files say
// now (after prune has replaced them).
func (r *Repository) ReloadIndex(ctx context.Context) error {
	_, err := r.ReloadIndexFiles(ctx, func(string, []index.Pack) {})
	return err
}

// ReadPackRange reads length stored bytes of a pack from offset: several
// consecutive sealed blobs in one request (restore reads a file's chunks
// this way), to be opened one by one with OpenBlob.
func (r *Repository) ReadPackRange(ctx context.Context, pack blob.ID, offset, length int64) ([]byte, error) {
	return r.readPackRange(ctx, pack, offset, length)
}

// ReadPackRangeUpTo reads at most length bytes of a pack from offset (fewer
// at the pack's end).
func (r *Repository) ReadPackRangeUpTo(ctx context.Context, pack blob.ID, offset, length int64) ([]byte, error) {
	rc, err := r.getPack(ctx, pack, offset, length)
	if err != nil {
		return nil, fmt.Errorf("repo: read pack %s: %w", pack.Short(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, length))
	if err != nil {
		return nil, fmt.Errorf("repo: read pack %s: %v: %w", pack.Short(), err, ErrCorrupt)
	}
	return b, nil
}
