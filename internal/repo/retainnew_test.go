package repo

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// lockingStore is a mem store with object lock: it records the
// retain-until date of every object, set by PutRetained or SetRetention.
// With noPut it lacks PutRetained (as a store that can lock objects only
// after writing them).
type lockingStore struct {
	*mem.Mem
	mu    sync.Mutex
	until map[string]time.Time
	plain []string // keys written with a plain Put
}

func newLockingStore() *lockingStore {
	return &lockingStore{Mem: mem.New(), until: map[string]time.Time{}}
}

func (s *lockingStore) Put(ctx context.Context, key string, data []byte) error {
	if err := s.Mem.Put(ctx, key, data); err != nil {
		return err
	}
	s.mu.Lock()
	s.plain = append(s.plain, key)
	s.mu.Unlock()
	return nil
}

func (s *lockingStore) ObjectLockEnabled(context.Context) (bool, error) { return true, nil }

func (s *lockingStore) Retention(ctx context.Context, key string) (time.Time, error) {
	if _, err := s.Stat(ctx, key); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.until[key], nil
}

func (s *lockingStore) SetRetention(ctx context.Context, key string, until time.Time, mode string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.until[key]) {
		s.until[key] = until
	}
	return nil
}

// retainedPuts adds PutRetained.
type retainedPuts struct{ *lockingStore }

func (s retainedPuts) PutRetained(ctx context.Context, key string, data []byte, until time.Time, mode string) error {
	if mode != store.RetentionCompliance {
		return errors.New("unexpected mode " + mode)
	}
	if err := s.Mem.Put(ctx, key, data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.until[key] = until
	return nil
}

// TestRetainNew checks that with object lock, every pack, index file and
// snapshot file is written by PutRetained with RetainNew's date (rounded up
// to the second), the config and the key file are extended to it before,
// lock files are plain, and a store that cannot lock in the PUT is refused
// before anything is written.
func TestRetainNew(t *testing.T) {
	ctx := context.Background()
	ls := newLockingStore()
	s := retainedPuts{ls}
	r, err := Init(ctx, s, []byte("pw"), Options{ObjectLock: store.RetentionCompliance, LockMargin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := r.Config()
	exp := time.Now().Add(48 * time.Hour)
	until := cfg.RetainUntil(time.Now(), &exp)
	if d := until.Sub(exp); d != time.Hour {
		t.Fatalf("RetainUntil = expiry + %v, want + 1h", d)
	}
	if err := r.WithLock(ctx, Shared, "test", func(ctx context.Context) error {
		if err := r.RetainNew(ctx, until); err != nil {
			return err
		}
		if _, _, err := r.SaveBlob(ctx, blob.Data, []byte("some data")); err != nil {
			return err
		}
		if err := r.Flush(ctx); err != nil {
			return err
		}
		_, err := r.SaveUnpacked(ctx, KindSnapshot, []byte(`{"tree":"x"}`))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := until.Truncate(time.Second).Add(time.Second)
	kinds := map[string]int{}
	if err := ls.List(ctx, "", func(info store.Info) error {
		kind := strings.SplitN(info.Key, "/", 2)[0]
		kinds[kind]++
		got, _ := ls.Retention(ctx, info.Key)
		if got.Before(want) {
			t.Errorf("%s retained until %v, want %v", info.Key, got, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"config", "keys", "data", "index", "snapshots"} {
		if kinds[k] == 0 {
			t.Errorf("no %s object written (%v)", k, kinds)
		}
	}
	for _, k := range ls.plain {
		if strings.HasPrefix(k, "data/") || strings.HasPrefix(k, "index/") || strings.HasPrefix(k, "snapshots/") {
			t.Errorf("%s written with a plain Put", k)
		}
	}
	var lockPuts int
	for _, k := range ls.plain {
		if strings.HasPrefix(k, "locks/") {
			lockPuts++
			if u := ls.until[k]; !u.IsZero() {
				t.Errorf("lock file %s retained until %v", k, u)
			}
		}
	}
	if lockPuts == 0 {
		t.Error("no lock file written with a plain Put")
	}

	// Without RetainNew, new objects still get the margin from now.
	r2, err := Open(ctx, s, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	id, err := r2.SaveUnpacked(ctx, KindSnapshot, []byte(`{"tree":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ls.Retention(ctx, KindSnapshot.Key(id)); got.Before(time.Now().Add(59 * time.Minute)) {
		t.Errorf("snapshot written without RetainNew retained until %v, want about now + the 1h margin", got)
	}

	// A store that locks only after the PUT: refused, nothing written.
	only := newLockingStore()
	r3, err := Init(ctx, only, []byte("pw"), Options{ObjectLock: store.RetentionCompliance})
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if err := r3.RetainNew(ctx, until); !errors.Is(err, ErrNoObjectLock) {
		t.Errorf("RetainNew on a store without PutRetained = %v, want ErrNoObjectLock", err)
	}
	if _, _, err := r3.SaveBlob(ctx, blob.Data, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := r3.Flush(ctx); !errors.Is(err, ErrNoObjectLock) {
		t.Errorf("Flush on a store without PutRetained = %v, want ErrNoObjectLock", err)
	}
	if _, err := r3.SaveUnpacked(ctx, KindSnapshot, []byte("{}")); !errors.Is(err, ErrNoObjectLock) {
		t.Errorf("SaveUnpacked on a store without PutRetained = %v, want ErrNoObjectLock", err)
	}
	for _, p := range []string{"data/", "index/", "snapshots/"} {
		if err := only.List(ctx, p, func(info store.Info) error {
			t.Errorf("%s written unlocked", info.Key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Without object lock, RetainNew does nothing and puts are plain.
	plain := retainedPuts{newLockingStore()}
	r4, err := Init(ctx, plain, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r4.Close()
	if err := r4.RetainNew(ctx, until); err != nil {
		t.Fatal(err)
	}
	if _, err := r4.SaveUnpacked(ctx, KindSnapshot, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if len(plain.until) != 0 {
		t.Errorf("a repository without object lock retained %v", plain.until)
	}
}
