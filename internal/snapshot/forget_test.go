package snapshot_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// lockedStore refuses to delete one key, as a bucket with object lock does
// for an object under retention.
type lockedStore struct {
	*mem.Mem
	locked string
}

func (s lockedStore) Delete(ctx context.Context, key string) error {
	if key == s.locked {
		return store.ErrLocked
	}
	return s.Mem.Delete(ctx, key)
}

func TestForgetKeepsLockedManifestsAndGoesOn(t *testing.T) {
	ctx := context.Background()
	s := lockedStore{Mem: mem.New()}
	r, err := repo.Init(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tree, err := snapshot.SaveTree(ctx, r, &snapshot.Tree{})
	if err != nil {
		t.Fatal(err)
	}
	var snaps []*snapshot.Snapshot
	for i := 0; i < 3; i++ {
		sn := &snapshot.Snapshot{Time: time.Unix(int64(i), 0), Host: "h", Paths: []string{"/x"}, Tree: tree}
		if err := snapshot.Save(ctx, r, sn); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, sn)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.locked = repo.KindSnapshot.Key(snaps[0].ID)
	r2, err := repo.Open(ctx, s, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = snapshot.Forget(ctx, r2, snaps)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), snaps[0].ShortID()) {
		t.Fatalf("err = %v, want ErrLocked naming %s", err, snaps[0].ShortID())
	}
	left, err := snapshot.List(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != snaps[0].ID {
		t.Fatalf("%d snapshots left, want only the locked one", len(left))
	}
}

// Rule names the rule that decides each snapshot, and SelectForget splits
// by it.
func TestForgetPolicyRule(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	past, ahead := now.Add(-time.Hour), now.Add(time.Hour)
	p := snapshot.ForgetPolicy{KeepWithin: 24 * time.Hour, Now: now}
	for _, c := range []struct {
		name string
		sn   *snapshot.Snapshot
		want snapshot.ForgetRule
	}{
		{"recent", &snapshot.Snapshot{Time: now.Add(-time.Hour)}, snapshot.KeepRecent},
		{"old", &snapshot.Snapshot{Time: now.Add(-48 * time.Hour)}, snapshot.ForgetOlder},
		{"old, expiry ahead", &snapshot.Snapshot{Time: now.Add(-48 * time.Hour), Expires: &ahead}, snapshot.KeepUnexpired},
		{"recent, expired", &snapshot.Snapshot{Time: now.Add(-2 * time.Hour), Expires: &past}, snapshot.ForgetExpired},
	} {
		if got := p.Rule(c.sn); got != c.want {
			t.Errorf("%s: Rule = %d, want %d", c.name, got, c.want)
		}
		remove, _ := snapshot.SelectForget([]*snapshot.Snapshot{c.sn}, p)
		if (len(remove) == 1) != c.want.Forgets() {
			t.Errorf("%s: SelectForget removes %d, Forgets() = %v", c.name, len(remove), c.want.Forgets())
		}
	}
	if got := (snapshot.ForgetPolicy{Now: now}).Rule(&snapshot.Snapshot{Time: now.Add(-48 * time.Hour)}); got != snapshot.KeepRecent {
		t.Errorf("no KeepWithin: Rule = %d, want KeepRecent", got)
	}
}
