package repo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/chunker"
	"github.com/cairn-backup/cairn/internal/repo/crypto"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store"
)

// Options tune an opened repository. The zero value is usable.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Uploads bounds concurrent pack uploads (default 1, right for local
	// disks; remote stores want more). Each costs a pack buffer of memory.
	Uploads int
	// Compression is the zstd level Init records in the config:
	// "zstd-fastest", "zstd-default" (the default), "zstd-better" or "none".
	Compression string
	// IndexEvery writes an index file after this many new packs, so that a
	// backup killed half-way leaves its uploaded data findable (default 16).
	IndexEvery int
	// ObjectLock is the retention mode Init records in the config ("",
	// "compliance" or "governance"); LockMargin the margin (default 7 days).
	// See ExtendRetention.
	ObjectLock string
	LockMargin time.Duration
	// LockStaleAfter is how long a repository lock lives unrefreshed
	// (default StaleAfter); holders refresh it every sixth of that. Every
	// process using a repository must agree on it: only tests change it.
	LockStaleAfter time.Duration
}

// Repository is an opened repository. Its methods are safe for concurrent use.
type Repository struct {
	store  store.Store
	cfg    Config
	master []byte
	keyID  string
	cfgSum [sha256.Size]byte // of the config's bytes as opened; new keys bind it
	keys   *crypto.Keys
	table  *chunker.Table
	opts   Options

	enc  *zstd.Encoder
	fast *zstd.Encoder // fastest level: compressibility probes, and blobs the configured level would not shrink further (blobs.go)
	dec  *zstd.Decoder

	idx *index.Index
	// indexFiles are the index files idx holds (read or written here);
	// Refresh reads only the others. Guarded by mu.
	indexFiles map[string]struct{}
	// orphansAdopted: AdoptOrphansOnce has run.
	orphansAdopted atomic.Bool
	// integ: bad, superseded and overwritten objects seen (integrity.go).
	integ integrity
	// retainUntil: the retention new objects are written with (RetainNew).
	retainUntil atomic.Pointer[time.Time]

	mu        sync.Mutex
	pending   map[blob.ID]struct{} // saved, not yet uploaded
	open      map[blob.Type]*packWriter
	unindexed []index.Pack // uploaded, not yet in an index file
	uploads   *errgroup.Group
	// packFree holds the data pack buffers: Uploads+1 of them at most (nil
	// until first used); taking one waits until an upload returns one.
	packFree chan []byte
	// sealFree recycles the buffers blobs are compressed and sealed in.
	sealFree  chan *[]byte
	uploadErr error
	stats     SaveStats
}

// SaveStats counts what SaveBlob did since Open.
type SaveStats struct {
	Blobs       int64 `json:"blobs"`        // new blobs stored
	Duplicates  int64 `json:"duplicates"`   // blobs already present
	RawBytes    int64 `json:"raw_bytes"`    // plaintext of new blobs
	StoredBytes int64 `json:"stored_bytes"` // sealed bytes of new blobs
	Packs       int64 `json:"packs"`
}

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Uploads <= 0 {
		o.Uploads = 1
	}
	if o.IndexEvery <= 0 {
		o.IndexEvery = 16
	}
	if o.LockStaleAfter <= 0 {
		o.LockStaleAfter = StaleAfter
	}
}

// Init creates a repository in an empty store, protected by passphrase.
func Init(ctx context.Context, s store.Store, passphrase []byte, opts Options) (*Repository, error) {
	opts.fill()
	if len(passphrase) == 0 {
		return nil, ErrNoPassword
	}
	if _, err := s.Stat(ctx, ConfigKey); err == nil {
		return nil, fmt.Errorf("%s: %w", s.Location(), ErrAlreadyInitialized)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("repo: init: %w", err)
	}
	cfg, err := newConfig(opts.Now())
	if err != nil {
		return nil, err
	}
	switch opts.Compression {
	case "":
	case "zstd-fastest", "zstd-default", "zstd-better", "none":
		cfg.Compression = opts.Compression
	default:
		return nil, fmt.Errorf("repo: unknown compression %q (want zstd-fastest, zstd-default, zstd-better or none)", opts.Compression)
	}
	if err := setObjectLock(ctx, s, &cfg, opts); err != nil {
		return nil, err
	}
	master, err := crypto.NewMasterKey()
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	// The key goes first: a config without a key would be a repository no
	// one can open, and Init refuses to run where a config exists. It binds
	// the config's bytes, so a config changed or replaced later is refused.
	keyID, err := writeKey(ctx, s, opts.Now(), passphrase, master, sum, "initial")
	if err != nil {
		return nil, err
	}
	if err := s.Put(ctx, ConfigKey, b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("%s: %w", s.Location(), ErrAlreadyInitialized)
		}
		return nil, fmt.Errorf("repo: write config: %w", err)
	}
	return newRepository(s, cfg, sum, openedKey{master: master, id: keyID}, opts)
}

// Open opens the repository in s with passphrase and loads its index.
// A wrong passphrase is ErrWrongPassword; nothing is written. A config
// other than the one the opening key binds is refused (ErrCorrupt).
func Open(ctx context.Context, s store.Store, passphrase []byte, opts Options) (*Repository, error) {
	opts.fill()
	cfg, sum, err := readConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	k, err := openMaster(ctx, s, passphrase)
	if err != nil {
		return nil, err
	}
	if err := k.checkConfig(sum); err != nil {
		return nil, err
	}
	r, err := newRepository(s, cfg, sum, k, opts)
	if err != nil {
		return nil, err
	}
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func newRepository(s store.Store, cfg Config, cfgSum [sha256.Size]byte, k openedKey, opts Options) (*Repository, error) {
	keys, err := crypto.Derive(k.master)
	if err != nil {
		return nil, err
	}
	level := zstd.SpeedDefault
	switch cfg.Compression {
	case "zstd-fastest":
		level = zstd.SpeedFastest
	case "zstd-better":
		level = zstd.SpeedBetterCompression
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true), zstd.WithWindowSize(chunker.MaxSize), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("repo: zstd: %w", err)
	}
	// The fastest level compresses probes and blobs of almost nothing but
	// runs (blobs.go): a 1 MiB window loses nothing there, and each of its
	// encoders holds a window-sized history (4 MiB less each than the
	// default level's).
	fast, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true), zstd.WithWindowSize(fastWindow), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("repo: zstd: %w", err)
	}
	// The decoder's limit is the largest blob a pack entry can describe
	// (raw lengths are uint32), not the largest chunk: a tree is one blob
	// however many entries its directory has (100,000 files make ≈ 30
	// MiB), and a limit of 5 MiB made such trees unreadable — their
	// snapshots could not be restored. Blobs are authenticated before they
	// are decompressed, so only a key holder chooses what is decoded.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxMemory(math.MaxUint32))
	if err != nil {
		return nil, fmt.Errorf("repo: zstd: %w", err)
	}
	r := &Repository{
		store: s, cfg: cfg, master: k.master, keyID: k.id, cfgSum: cfgSum, keys: keys,
		table: chunker.NewTable(keys.ChunkerSeed()), opts: opts, enc: enc, fast: fast, dec: dec,
		idx: index.New(), indexFiles: map[string]struct{}{}, pending: map[blob.ID]struct{}{}, open: map[blob.Type]*packWriter{},
	}
	r.uploads = new(errgroup.Group)
	r.uploads.SetLimit(opts.Uploads)
	r.packFree = make(chan []byte, opts.Uploads+1)
	for i := 0; i < opts.Uploads+1; i++ {
		r.packFree <- nil
	}
	r.sealFree = make(chan *[]byte, runtime.GOMAXPROCS(0))
	return r, nil
}

// fastWindow is the window of the fastest-level encoder.
const fastWindow = 1 << 20

// Config returns the repository config.
func (r *Repository) Config() Config { return r.cfg }

// Store returns the underlying store, for what needs the store itself
// (every object's listing, its retention); objects of the repository are
// read, written and listed through the methods of r.
func (r *Repository) Store() store.Store { return r.store }

// Location names the store the repository is in (store.Store.Location).
func (r *Repository) Location() string { return r.store.Location() }

// Lookup returns where the in-memory index has a blob.
func (r *Repository) Lookup(id blob.ID) (index.Location, bool) { return r.idx.Lookup(id) }

// EachBlob calls fn for every blob in the in-memory index, until fn
// returns false.
func (r *Repository) EachBlob(fn func(id blob.ID, loc index.Location) bool) { r.idx.Each(fn) }

// ChunkerTable returns the repository's secret gear table.
func (r *Repository) ChunkerTable() *chunker.Table { return r.table }

// BlobID computes the ID data would be stored under.
func (r *Repository) BlobID(data []byte) blob.ID { return r.keys.BlobID(data) }

// Stats returns what SaveBlob has done so far.
func (r *Repository) Stats() SaveStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Repository) now() time.Time { return r.opts.Now() }

// Close releases resources. It does not flush.
func (r *Repository) Close() {
	r.enc.Close()
	r.fast.Close()
	r.dec.Close()
}
