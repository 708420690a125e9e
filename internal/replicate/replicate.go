package replicate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
)

// Errors of this package; callers test with errors.Is.
var (
	// ErrOtherRepository: the target holds a different repository (another
	// config), or objects that belong to no repository.
	ErrOtherRepository = errors.New("the target holds a different repository")
	// ErrCorrupt: an object's bytes do not hash to its name.
	ErrCorrupt = errors.New("object does not match its name")
	// ErrSourceCorrupt: objects of the source do not hash to their names,
	// and Run stopped before copying what references them. It wraps
	// ErrCorrupt.
	ErrSourceCorrupt = fmt.Errorf("the source is damaged: %w", ErrCorrupt)
	// ErrDifferent: Verify found the target missing or damaging objects of
	// the source.
	ErrDifferent = errors.New("the replica differs from the source")
)

// kinds are the replicated kinds of objects, in copy order (repo.Kinds'):
// what a later kind references is copied before it. `config` goes first,
// locks never.
var kinds = slices.DeleteFunc(slices.Clone(repo.Kinds), func(k repo.Kind) bool { return k == repo.KindLock })

// DefaultParallel is how many objects are copied or read at once.
const DefaultParallel = 8

// Options tune Run.
type Options struct {
	Parallel int              // objects in flight (default DefaultParallel)
	Prune    bool             // delete target objects the source no longer has, once their retention ended
	DryRun   bool             // list, compare and report; write and delete nothing
	Now      func() time.Time // clock (default time.Now)
	Progress *Progress        // updated as objects are copied, if set
}

func (o *Options) fill() {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
}

// Progress counts work as it is done; read it from another goroutine.
// The totals are set once the listings are known.
type Progress struct {
	Objects, Bytes           atomic.Int64 // copied (Run) or read (Verify) so far
	TotalObjects, TotalBytes atomic.Int64
}

// Report says what Run did (or, with DryRun, would do).
type Report struct {
	From         string   `json:"from"`
	To           string   `json:"to"`
	Repository   string   `json:"repository"`    // the repository's ID (config)
	ConfigCopied bool     `json:"config_copied"` // the target was empty: this run started the replica
	Objects      int      `json:"objects"`       // objects on the source (locks aside)
	Bytes        int64    `json:"bytes"`
	Copied       int      `json:"copied"` // objects the target lacked
	CopiedBytes  int64    `json:"copied_bytes"`
	Present      int      `json:"present"`            // already on the target
	Vanished     []string `json:"vanished,omitempty"` // deleted on the source while this ran (its prune)
	// Retained counts objects whose retention on the target was extended
	// to the source's retain-until date.
	Retained int      `json:"retention_extended"`
	Pruned   []string `json:"pruned,omitempty"` // deleted on the target (with DryRun: would be)
	Locked   []Locked `json:"locked,omitempty"` // to prune, but under retention on the target
	// Damaged names target objects whose size differs from the source's;
	// copying cannot repair them (objects are never overwritten).
	Damaged  []string `json:"damaged,omitempty"`
	Corrupt  []string `json:"corrupt,omitempty"` // source objects that do not match their names: not copied
	Warnings []string `json:"warnings,omitempty"`
	DryRun   bool     `json:"dry_run,omitempty"`
	Seconds  float64  `json:"seconds"`
}

// Locked is an object that prune had to leave.
type Locked struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until,omitzero"` // zero when the store did not say
}

// Run copies the repository in from to to: the objects to lacks, in an
// order that keeps every state of the target consistent, each checked
// against its name first; then it brings the target's retention up to the
// source's and, with opts.Prune, removes what the source no longer has.
// It never decrypts anything and needs no key. Running it again after an
// interruption copies only what is still missing.
func Run(ctx context.Context, from, to store.Store, opts Options) (*Report, error) {
	opts.fill()
	start := opts.Now()
	rep := &Report{From: from.Location(), To: to.Location(), DryRun: opts.DryRun}
	cfg, cfgBytes, err := sourceConfig(ctx, from)
	if err != nil {
		return rep, err
	}
	rep.Repository = cfg.ID
	needConfig, err := checkTarget(ctx, to, cfg, cfgBytes)
	if err != nil {
		return rep, err
	}
	// The source listing starts with the snapshots: a snapshot exists only
	// once all it references is stored, so everything a listed snapshot
	// needs is in the listings taken after it.
	src, err := listing(ctx, from, reversed(kinds))
	if err != nil {
		return rep, err
	}
	dstList, err := listing(ctx, to, kinds)
	if err != nil {
		return rep, err
	}
	dst := byKey(dstList)
	c := &copier{from: from, to: to, opts: opts, rep: rep, dst: dst}
	if c.ret, err = newRetention(ctx, from, to, cfg, opts.Now(), rep); err != nil {
		return rep, err
	}
	for _, p := range kinds {
		for _, info := range src[p] {
			rep.Objects++
			rep.Bytes += info.Size
			if _, ok := dst[info.Key]; !ok {
				opts.Progress.TotalObjects.Add(1)
				opts.Progress.TotalBytes.Add(info.Size)
			}
		}
	}

	if needConfig {
		rep.ConfigCopied = true
		if !opts.DryRun {
			if err := to.Put(ctx, repo.ConfigKey, cfgBytes); err != nil && !errors.Is(err, store.ErrExists) {
				return rep, fmt.Errorf("replicate: copy config: %w", err)
			}
		}
	}
	if err := c.retain(ctx, repo.ConfigKey); err != nil {
		return rep, err
	}
	for _, p := range kinds {
		if err := c.phase(ctx, src[p]); err != nil {
			rep.Seconds = opts.Now().Sub(start).Seconds()
			return rep, err
		}
	}
	if opts.Prune {
		if err := c.prune(ctx, byKey(src), dstList); err != nil {
			rep.Seconds = opts.Now().Sub(start).Seconds()
			return rep, err
		}
	}
	sort.Strings(rep.Vanished)
	rep.Seconds = opts.Now().Sub(start).Seconds()
	if len(rep.Damaged) > 0 {
		return rep, fmt.Errorf("replicate: %d objects on %s differ in size from the source (%s…): "+
			"delete them on the target and run again: %w", len(rep.Damaged), to.Location(), rep.Damaged[0], ErrCorrupt)
	}
	return rep, nil
}

// sourceConfig reads and checks the source's config.
func sourceConfig(ctx context.Context, from store.Store) (repo.Config, []byte, error) {
	cfg, err := repo.LoadConfig(ctx, from)
	if err != nil {
		return cfg, nil, fmt.Errorf("replicate: source: %w", err)
	}
	b, err := store.ReadAll(ctx, from, repo.ConfigKey)
	if err != nil {
		return cfg, nil, fmt.Errorf("replicate: source: read config: %w", err)
	}
	return cfg, b, nil
}

// checkTarget makes sure the target is a replica of the repository with
// config cfg, or empty; it reports whether the config must be copied.
func checkTarget(ctx context.Context, to store.Store, cfg repo.Config, cfgBytes []byte) (needConfig bool, err error) {
	b, err := store.ReadAll(ctx, to, repo.ConfigKey)
	switch {
	case err == nil:
		if bytes.Equal(b, cfgBytes) {
			return false, nil
		}
		var other repo.Config
		if json.Unmarshal(b, &other) == nil && other.ID != cfg.ID {
			return false, fmt.Errorf("replicate: %s holds repository %s, the source is repository %s: %w",
				to.Location(), other.ID, cfg.ID, ErrOtherRepository)
		}
		return false, fmt.Errorf("replicate: %s has a config that differs from the source's (repository %s): %w",
			to.Location(), cfg.ID, ErrOtherRepository)
	case !errors.Is(err, store.ErrNotFound):
		return false, fmt.Errorf("replicate: target: read config: %w", err)
	}
	// No config: the target must hold nothing of a repository, else it is
	// not ours to fill (the config is always copied first).
	errFound := errors.New("found")
	var found string
	for _, k := range repo.Kinds {
		err := to.List(ctx, k.Prefix(), func(info store.Info) error {
			found = info.Key
			return errFound
		})
		if errors.Is(err, errFound) {
			return false, fmt.Errorf("replicate: %s holds objects (%s) but no repository config: refusing to mix them with repository %s: %w",
				to.Location(), found, cfg.ID, ErrOtherRepository)
		}
		if err != nil {
			return false, fmt.Errorf("replicate: target: %w", err)
		}
	}
	return true, nil
}

// listing lists the objects of each kind, in the given order.
func listing(ctx context.Context, s store.Store, order []repo.Kind) (map[repo.Kind][]store.Info, error) {
	out := make(map[repo.Kind][]store.Info, len(order))
	for _, k := range order {
		err := s.List(ctx, k.Prefix(), func(info store.Info) error {
			out[k] = append(out[k], info)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("replicate: list %s%s: %w", s.Location(), "/"+k.Prefix(), err)
		}
	}
	return out, nil
}

// byKey indexes listings by key.
func byKey(l map[repo.Kind][]store.Info) map[string]store.Info {
	m := make(map[string]store.Info)
	for _, infos := range l {
		for _, info := range infos {
			m[info.Key] = info
		}
	}
	return m
}

func reversed(s []repo.Kind) []repo.Kind {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// copier is one Run's state.
type copier struct {
	from, to store.Store
	opts     Options
	ret      *retention
	dst      map[string]store.Info // keyed listing of the target, read-only

	mu  sync.Mutex
	rep *Report
}

// phase copies one prefix's objects, opts.Parallel at a time. A source
// object that does not match its name is reported and not copied, and
// stops the run after the phase: what follows could reference it.
func (c *copier) phase(ctx context.Context, infos []store.Info) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Parallel)
	corrupt := 0
	for _, info := range infos {
		g.Go(func() error {
			err := c.one(gctx, info)
			if errors.Is(err, ErrCorrupt) {
				c.mu.Lock()
				c.rep.Corrupt = append(c.rep.Corrupt, info.Key)
				corrupt++
				c.mu.Unlock()
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if corrupt > 0 {
		sort.Strings(c.rep.Corrupt)
		return fmt.Errorf("replicate: %d objects on %s do not match their names (%s…); stopped before copying what references them: %w",
			corrupt, c.from.Location(), c.rep.Corrupt[0], ErrSourceCorrupt)
	}
	return nil
}

// one copies one object if the target lacks it, then its retention.
func (c *copier) one(ctx context.Context, info store.Info) error {
	if have, ok := c.dst[info.Key]; ok {
		c.mu.Lock()
		c.rep.Present++
		if have.Size != info.Size {
			c.rep.Damaged = append(c.rep.Damaged, info.Key)
		}
		c.mu.Unlock()
		return c.retain(ctx, info.Key)
	}
	if c.opts.DryRun {
		c.count(info.Size)
		return nil
	}
	b, err := store.ReadAll(ctx, c.from, info.Key)
	if errors.Is(err, store.ErrNotFound) {
		c.mu.Lock()
		c.rep.Vanished = append(c.rep.Vanished, info.Key)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("replicate: read %s: %w", info.Key, err)
	}
	if err := checkName(info.Key, b); err != nil {
		return err
	}
	err = c.to.Put(ctx, info.Key, b)
	switch {
	case errors.Is(err, store.ErrExists): // another replicate run was faster
		c.mu.Lock()
		c.rep.Present++
		c.mu.Unlock()
	case err != nil:
		return fmt.Errorf("replicate: write %s: %w", info.Key, err)
	default:
		c.count(int64(len(b)))
	}
	return c.retain(ctx, info.Key)
}

func (c *copier) count(size int64) {
	c.opts.Progress.Objects.Add(1)
	c.opts.Progress.Bytes.Add(size)
	c.mu.Lock()
	c.rep.Copied++
	c.rep.CopiedBytes += size
	c.mu.Unlock()
}

// retain gives key on the target the source's retention, if any.
func (c *copier) retain(ctx context.Context, key string) error {
	if c.ret == nil || c.opts.DryRun {
		return nil
	}
	extended, err := c.ret.apply(ctx, key)
	if err != nil {
		return err
	}
	if extended {
		c.mu.Lock()
		c.rep.Retained++
		c.mu.Unlock()
	}
	return nil
}

// checkName reports whether b may be stored under key: every object but
// the config is named by the SHA-256 of its bytes, and a pack lives under
// the first two hex digits of its name (repository-format.md §1).
func checkName(key string, b []byte) error {
	if key == repo.ConfigKey {
		return nil
	}
	sum := sha256.Sum256(b)
	got := hex.EncodeToString(sum[:])
	if got != path.Base(key) {
		return fmt.Errorf("replicate: %s: content hashes to %s: %w", key, got[:16], ErrCorrupt)
	}
	if _, _, err := repo.ParseKey(key); err != nil {
		return fmt.Errorf("replicate: %v: %w", err, ErrCorrupt)
	}
	return nil
}
