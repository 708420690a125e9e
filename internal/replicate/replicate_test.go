package replicate_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/faulty"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// recorder remembers the order of Puts.
type recorder struct {
	store.Store
	mu   sync.Mutex
	puts []string
}

func (r *recorder) Put(ctx context.Context, key string, data []byte) error {
	err := r.Store.Put(ctx, key, data)
	if err == nil {
		r.mu.Lock()
		r.puts = append(r.puts, key)
		r.mu.Unlock()
	}
	return err
}

func TestCopyInOrderThenIdempotent(t *testing.T) {
	ctx := context.Background()
	src := mem.New()
	newRepo(t, src, 20, repo.Options{})
	dstDir := t.TempDir()
	dst, err := local.New(dstDir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Store: dst}

	rep, err := replicate.Run(ctx, src, rec, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameObjects(t, src, dst)
	all := replicated(t, src)
	if rep.Copied != len(all)-1 || !rep.ConfigCopied || rep.Present != 0 || rep.Objects != len(all)-1 {
		t.Errorf("report %+v, want %d objects copied and the config", rep, len(all)-1)
	}
	// Config first, then keys, data, index, snapshots: never a reference
	// before what it names.
	rank := map[string]int{"config": 0, "keys": 1, "data": 2, "index": 3, "snapshots": 4}
	last := 0
	for _, k := range rec.puts {
		r := rank[strings.SplitN(k, "/", 2)[0]]
		if r < last {
			t.Fatalf("%s written after a later kind: %v", k, rec.puts)
		}
		last = r
	}
	if rec.puts[0] != repo.ConfigKey {
		t.Errorf("first write %s, want config", rec.puts[0])
	}

	// Again: nothing to copy.
	rep, err = replicate.Run(ctx, src, rec, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Copied != 0 || rep.Present != len(all)-1 || rep.ConfigCopied {
		t.Errorf("second run %+v, want nothing copied", rep)
	}
	// The replica's config reads back (the CLI test restores from a
	// replica of a real repository).
	if cfg, err := repo.LoadConfig(ctx, dst); err != nil || cfg.ID != rep.Repository {
		t.Errorf("replica config: %v, id %s, want %s", err, cfg.ID, rep.Repository)
	}
}

// TestResume interrupts a copy with a failing target, then runs again:
// only what is missing is copied, and no snapshot reached the target
// before the packs and indexes it needs.
func TestResume(t *testing.T) {
	ctx := context.Background()
	src := mem.New()
	newRepo(t, src, 30, repo.Options{})
	inner := mem.New()
	dst := faulty.Wrap(inner)
	dst.FailPut(12, errBoom) // config, a key file, then packs: fails among the packs

	rep, err := replicate.Run(ctx, src, dst, replicate.Options{Parallel: 4})
	if !errors.Is(err, errBoom) {
		t.Fatalf("run against a failing target = %v, want %v", err, errBoom)
	}
	if got := keys(t, inner, "snapshots/"); len(got) != 0 {
		t.Errorf("snapshots on the target after a failure among the packs: %v", got)
	}
	if got := keys(t, inner, "index/"); len(got) != 0 {
		t.Errorf("index files on the target after a failure among the packs: %v", got)
	}
	first := len(replicated(t, inner))
	if first < 2 {
		t.Fatalf("only %d objects copied before the failure", first)
	}
	t.Logf("first run: %d copied before the failure (report: %d)", first, rep.Copied)

	dst.Reset()
	rep, err = replicate.Run(ctx, src, dst, replicate.Options{Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	total := len(replicated(t, src))
	if rep.Copied != total-first {
		t.Errorf("resumed run copied %d, want %d (%d of %d were there)", rep.Copied, total-first, first, total)
	}
	sameObjects(t, src, inner)
	if _, err := replicate.Verify(ctx, src, inner, replicate.VerifyOptions{ReadData: true}); err != nil {
		t.Errorf("verify after resume: %v", err)
	}
}

func TestRefuseOtherRepository(t *testing.T) {
	ctx := context.Background()
	src := mem.New()
	newRepo(t, src, 2, repo.Options{})

	other := mem.New()
	newRepo(t, other, 1, repo.Options{})
	before := replicated(t, other)
	_, err := replicate.Run(ctx, src, other, replicate.Options{})
	if !errors.Is(err, replicate.ErrOtherRepository) || !strings.Contains(err.Error(), "holds repository") {
		t.Fatalf("run into another repository = %v, want ErrOtherRepository", err)
	}
	if got := replicated(t, other); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Errorf("the other repository changed: %v -> %v", before, got)
	}
	if _, err := replicate.Verify(ctx, src, other, replicate.VerifyOptions{}); !errors.Is(err, replicate.ErrOtherRepository) {
		t.Errorf("verify against another repository = %v, want ErrOtherRepository", err)
	}

	// Objects but no config: not ours to fill.
	stray := mem.New()
	putRandom(t, stray, "data", 10)
	if _, err := replicate.Run(ctx, src, stray, replicate.Options{}); !errors.Is(err, replicate.ErrOtherRepository) {
		t.Errorf("run into a store with stray objects = %v, want ErrOtherRepository", err)
	}
	if got := replicated(t, stray); len(got) != 1 {
		t.Errorf("stray store changed: %v", got)
	}

	// No repository on the source.
	if _, err := replicate.Run(ctx, mem.New(), mem.New(), replicate.Options{}); !errors.Is(err, repo.ErrNotRepository) {
		t.Errorf("run from an empty store = %v, want ErrNotRepository", err)
	}
}

// TestCorruptSource: a source object that does not match its name is not
// copied, and nothing that could reference it is copied after it.
func TestCorruptSource(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	newRepo(t, inner, 5, repo.Options{})
	src := faulty.Wrap(inner)
	bad := keys(t, inner, "data/")[2]
	src.Corrupt(bad, 7)
	dst := mem.New()

	rep, err := replicate.Run(ctx, src, dst, replicate.Options{})
	if !errors.Is(err, replicate.ErrCorrupt) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("run = %v, want ErrCorrupt naming %s", err, bad)
	}
	if len(rep.Corrupt) != 1 || rep.Corrupt[0] != bad {
		t.Errorf("corrupt = %v, want [%s]", rep.Corrupt, bad)
	}
	if _, err := dst.Stat(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("corrupt object copied: %v", err)
	}
	if got := keys(t, dst, "snapshots/"); len(got) != 0 {
		t.Errorf("snapshots copied after a corrupt pack: %v", got)
	}
}

// TestPrune: deletions on the source reach the target only with Prune,
// never in a dry run, and never for an object under retention.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	src := mem.New()
	newRepo(t, src, 6, repo.Options{})
	dst := newRetaining(mem.New())
	if _, err := replicate.Run(ctx, src, dst, replicate.Options{}); err != nil {
		t.Fatal(err)
	}
	// The source forgets a snapshot and prunes two packs; one of them is
	// locked on the target.
	gone := []string{keys(t, src, "snapshots/")[0], keys(t, src, "data/")[0], keys(t, src, "data/")[1]}
	for _, k := range gone {
		if err := src.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	lockedUntil := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := dst.SetRetention(ctx, gone[2], lockedUntil, store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}

	rep, err := replicate.Run(ctx, src, dst, replicate.Options{})
	if err != nil || len(rep.Pruned) != 0 {
		t.Fatalf("run without prune: %v, pruned %v", err, rep.Pruned)
	}
	v, err := replicate.Verify(ctx, src, dst, replicate.VerifyOptions{})
	if err != nil || !v.InSync || v.ExtraObjects != 3 {
		t.Errorf("verify with 3 extra objects: %v, %+v", err, v)
	}

	rep, err = replicate.Run(ctx, src, dst, replicate.Options{Prune: true, DryRun: true})
	if err != nil || len(rep.Pruned) != 2 || len(rep.Locked) != 1 {
		t.Fatalf("dry-run prune: %v, %+v", err, rep)
	}
	if got := len(replicated(t, dst)); got != len(replicated(t, src))+3 {
		t.Errorf("dry run deleted objects: %d on the target", got)
	}

	rep, err = replicate.Run(ctx, src, dst, replicate.Options{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pruned) != 2 || len(rep.Locked) != 1 || rep.Locked[0].Key != gone[2] || !rep.Locked[0].Until.Equal(lockedUntil) {
		t.Errorf("prune: pruned %v, locked %+v; want 2 pruned and %s locked until %s", rep.Pruned, rep.Locked, gone[2], lockedUntil)
	}
	for _, k := range gone[:2] {
		if _, err := dst.Stat(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s not pruned: %v", k, err)
		}
	}
	if _, err := dst.Stat(ctx, gone[2]); err != nil {
		t.Errorf("locked %s pruned: %v", gone[2], err)
	}
}

// TestRetentionCarried: objects get on the target the retention they have
// on the source, and a later extension on the source follows.
func TestRetentionCarried(t *testing.T) {
	ctx := context.Background()
	src := newRetaining(mem.New())
	newRepo(t, src, 4, repo.Options{ObjectLock: store.RetentionCompliance})
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	pack := keys(t, src, "data/")[0]
	for _, k := range []string{repo.ConfigKey, pack, keys(t, src, "snapshots/")[0]} {
		if err := src.SetRetention(ctx, k, until, store.RetentionCompliance); err != nil {
			t.Fatal(err)
		}
	}
	dst := newRetaining(mem.New())
	rep, err := replicate.Run(ctx, src, dst, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retained != 3 {
		t.Errorf("retention extended on %d objects, want 3", rep.Retained)
	}
	for k, u := range src.until {
		if got, _ := dst.Retention(ctx, k); !got.Equal(u) || dst.modes[k] != store.RetentionCompliance {
			t.Errorf("%s: target retention %s %s, want %s compliance", k, got, dst.modes[k], u)
		}
	}
	// A new backup reuses the pack: its lock is extended on the source,
	// and the next run extends it on the target.
	later := until.Add(24 * time.Hour)
	if err := src.SetRetention(ctx, pack, later, store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	rep, err = replicate.Run(ctx, src, dst, replicate.Options{})
	if err != nil || rep.Copied != 0 || rep.Retained != 1 {
		t.Fatalf("second run: %v, %+v", err, rep)
	}
	if got, _ := dst.Retention(ctx, pack); !got.Equal(later) {
		t.Errorf("pack retention %s after extension, want %s", got, later)
	}

	// A target that cannot lock gets the objects and a warning.
	plain := mem.New()
	rep, err = replicate.Run(ctx, src, plain, replicate.Options{})
	if err != nil || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "not immutable") {
		t.Errorf("run to a store without object lock: %v, warnings %q", err, rep.Warnings)
	}
}
