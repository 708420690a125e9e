package replicate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	ReadData bool      // read and hash every object on both sides
	Parallel int       // objects read at once (default DefaultParallel)
	Progress *Progress // updated as objects are read, if set
}

// maxListed bounds the keys a VerifyReport lists per kind; the counts
// are always complete.
const maxListed = 100

// VerifyReport compares a replica with its source.
type VerifyReport struct {
	From       string `json:"from"`
	To         string `json:"to"`
	Repository string `json:"repository"`
	Objects    int    `json:"objects"` // on the source (locks aside)
	Bytes      int64  `json:"bytes"`
	// Missing lists (up to 100) source objects the target lacks; Lag
	// has their count.
	Missing []string `json:"missing,omitempty"`
	// Extra lists (up to 100) target objects the source no longer has:
	// harmless, `replicate --prune` removes them once their retention ends.
	Extra        []string   `json:"extra,omitempty"`
	ExtraObjects int        `json:"extra_objects"`
	ExtraBytes   int64      `json:"extra_bytes"`
	SizeMismatch []Mismatch `json:"size_mismatch,omitempty"`
	Corrupt      []Damage   `json:"corrupt,omitempty"` // objects whose bytes do not hash to their names
	DataRead     bool       `json:"data_read"`
	ReadBytes    int64      `json:"read_bytes"`
	Lag          Lag        `json:"lag"`
	// InSync: the target holds every source object, intact as far as was
	// checked (extra objects do not count).
	InSync bool `json:"in_sync"`
}

// Mismatch is an object whose size differs between the two sides.
type Mismatch struct {
	Key        string `json:"key"`
	SourceSize int64  `json:"source_size"`
	TargetSize int64  `json:"target_size"`
}

// Damage is an object whose content does not match its name.
type Damage struct {
	Key  string `json:"key"`
	Side string `json:"side"` // "source" or "target"
	Err  string `json:"error"`
}

// Lag is how far the replica is behind the source.
type Lag struct {
	Snapshots int   `json:"snapshots"` // snapshot manifests the target lacks
	Objects   int   `json:"objects"`   // objects the target lacks
	Bytes     int64 `json:"bytes"`
	// Newest is the newest (by the source store's time) snapshot manifest
	// the target lacks; everything backed up after NewestTime is not
	// replicated yet.
	Newest     string     `json:"newest_snapshot,omitempty"`
	NewestTime *time.Time `json:"newest_snapshot_time,omitempty"`
}

// Verify compares the replica in to with the repository in from: listings
// (missing, extra, different sizes), the config byte for byte, and with
// ReadData the SHA-256 of every object on both sides against its name. It
// needs no key and writes nothing. A target that holds another
// repository is ErrOtherRepository; differences are in the report and
// make the error ErrDifferent.
func Verify(ctx context.Context, from, to store.Store, opts VerifyOptions) (*VerifyReport, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	rep := &VerifyReport{From: from.Location(), To: to.Location(), DataRead: opts.ReadData}
	cfg, cfgBytes, err := sourceConfig(ctx, from)
	if err != nil {
		return rep, err
	}
	rep.Repository = cfg.ID
	needConfig, err := checkTarget(ctx, to, cfg, cfgBytes)
	if err != nil && !(errors.Is(err, ErrOtherRepository) && !configPresent(ctx, to)) {
		return rep, err
	}
	if needConfig || err != nil {
		// No config (a target holding objects without one is reported
		// object by object below).
		rep.Missing = append(rep.Missing, repo.ConfigKey)
		rep.Lag.Objects++
		rep.Lag.Bytes += int64(len(cfgBytes))
	}
	srcList, err := listing(ctx, from, reversed(kinds))
	if err != nil {
		return rep, err
	}
	dstList, err := listing(ctx, to, kinds)
	if err != nil {
		return rep, err
	}
	src, dst := byKey(srcList), byKey(dstList)
	rep.compare(src, dst)

	if opts.ReadData {
		if err := rep.readAll(ctx, from, to, src, dst, opts); err != nil {
			return rep, err
		}
	}
	rep.InSync = rep.Lag.Objects == 0 && len(rep.SizeMismatch) == 0 && len(rep.Corrupt) == 0
	if !rep.InSync {
		return rep, fmt.Errorf("replicate: verify %s against %s: %d objects missing, %d of different size, %d corrupt: %w",
			to.Location(), from.Location(), rep.Lag.Objects, len(rep.SizeMismatch), len(rep.Corrupt), ErrDifferent)
	}
	return rep, nil
}

func configPresent(ctx context.Context, s store.Store) bool {
	_, err := s.Stat(ctx, repo.ConfigKey)
	return err == nil
}

// compare fills the listing-level differences and the lag.
func (rep *VerifyReport) compare(src, dst map[string]store.Info) {
	var missing, extra []string
	var newest store.Info
	for key, info := range src {
		rep.Objects++
		rep.Bytes += info.Size
		have, ok := dst[key]
		switch {
		case !ok:
			missing = append(missing, key)
			rep.Lag.Objects++
			rep.Lag.Bytes += info.Size
			if kind, _ := repo.KindOf(key); kind == repo.KindSnapshot {
				rep.Lag.Snapshots++
				if info.ModTime.After(newest.ModTime) || newest.Key == "" {
					newest = info
				}
			}
		case have.Size != info.Size:
			rep.SizeMismatch = append(rep.SizeMismatch, Mismatch{Key: key, SourceSize: info.Size, TargetSize: have.Size})
		}
	}
	for key, info := range dst {
		if _, ok := src[key]; !ok {
			extra = append(extra, key)
			rep.ExtraObjects++
			rep.ExtraBytes += info.Size
		}
	}
	if newest.Key != "" {
		rep.Lag.Newest = path.Base(newest.Key)
		t := newest.ModTime.UTC()
		rep.Lag.NewestTime = &t
	}
	sort.Strings(missing)
	sort.Strings(extra)
	rep.Missing = append(rep.Missing, missing[:min(len(missing), maxListed)]...)
	rep.Extra = extra[:min(len(extra), maxListed)]
	sort.Slice(rep.SizeMismatch, func(i, j int) bool { return rep.SizeMismatch[i].Key < rep.SizeMismatch[j].Key })
}

// readAll hashes every object of both listings on its side.
func (rep *VerifyReport) readAll(ctx context.Context, from, to store.Store, src, dst map[string]store.Info, opts VerifyOptions) error {
	type job struct {
		s    store.Store
		side string
		info store.Info
	}
	var jobs []job
	for _, info := range src {
		jobs = append(jobs, job{from, "source", info})
	}
	for _, info := range dst {
		jobs = append(jobs, job{to, "target", info})
	}
	for _, j := range jobs {
		opts.Progress.TotalObjects.Add(1)
		opts.Progress.TotalBytes.Add(j.info.Size)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for _, j := range jobs {
		g.Go(func() error {
			n, err := hashCheck(gctx, j.s, j.info.Key)
			opts.Progress.Objects.Add(1)
			opts.Progress.Bytes.Add(n)
			mu.Lock()
			defer mu.Unlock()
			rep.ReadBytes += n
			switch {
			case errors.Is(err, ErrCorrupt):
				rep.Corrupt = append(rep.Corrupt, Damage{Key: j.info.Key, Side: j.side, Err: err.Error()})
			case errors.Is(err, store.ErrNotFound): // deleted meanwhile (a prune)
			case err != nil:
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := compareConfigs(ctx, from, to); err != nil {
		rep.Corrupt = append(rep.Corrupt, Damage{Key: repo.ConfigKey, Side: "target", Err: err.Error()})
	}
	sort.Slice(rep.Corrupt, func(i, j int) bool {
		a, b := rep.Corrupt[i], rep.Corrupt[j]
		return a.Key < b.Key || a.Key == b.Key && a.Side < b.Side
	})
	return nil
}

// hashCheck streams key through SHA-256 and checks it against its name;
// it returns the bytes read.
func hashCheck(ctx context.Context, s store.Store, key string) (int64, error) {
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return 0, fmt.Errorf("replicate: read %s on %s: %w", key, s.Location(), err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return n, fmt.Errorf("replicate: read %s on %s: %w", key, s.Location(), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != path.Base(key) {
		return n, fmt.Errorf("%s on %s hashes to %s: %w", key, s.Location(), got[:16], ErrCorrupt)
	}
	return n, nil
}

// compareConfigs reads the config on both sides again (through Get, so
// a damaged read shows) and compares the bytes.
func compareConfigs(ctx context.Context, from, to store.Store) error {
	a, err := store.ReadAll(ctx, from, repo.ConfigKey)
	if err != nil {
		return err
	}
	b, err := store.ReadAll(ctx, to, repo.ConfigKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil // reported as missing
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("config differs from the source's: %w", ErrCorrupt)
	}
	return nil
}
