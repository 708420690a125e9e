package cli

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestForgetPolicyWithClock(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := sampleData(t)
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	backup := func(age time.Duration, extra ...string) string {
		t.Helper()
		r := cairnAt(t, t0.Add(-age), e, append([]string{"fs", "backup", data, "-o", "json"}, extra...)...).must(t, 0)
		var sn snapshotJSON
		if err := json.Unmarshal([]byte(r.stdout), &sn); err != nil {
			t.Fatal(err)
		}
		return sn.ShortID
	}
	old := backup(10 * day)
	expired := backup(5*day, "--ttl", "1d")        // expired 4 days before t0
	promised := backup(3*day, "--ttl", "30d")      // kept until t0+27d whatever the policy
	recent := backup(1*day, "--ttl", "720h", "-q") // 720h = 30d
	_ = recent

	// Without a policy only the expired snapshot is selected.
	got := forgetAt(t, t0, e, "--dry-run")
	if want := "removed " + expired + ":expired"; got != want+" kept "+strings.Join(sorted(old, promised, recent), ",") {
		t.Errorf("forget --dry-run: %s", got)
	}
	if n := len(snapshotsJSON(t, e)); n != 4 {
		t.Fatalf("dry run removed snapshots: %d left", n)
	}
	r := cairnAt(t, t0, e, "snapshots").must(t, 0)
	if !strings.Contains(r.stdout, "expired") || !strings.Contains(r.stdout, "2030-06-2") {
		t.Errorf("snapshots table lacks expiry:\n%s", r.stdout)
	}

	// --keep-within 2d: the old one goes too; the promised one stays.
	got = forgetAt(t, t0, e, "--keep-within", "2d")
	if want := "removed " + strings.Join(sorted(expired+":expired", old+":older than 48h0m0s"), ",") + " kept " + strings.Join(sorted(promised, recent), ","); got != want {
		t.Errorf("forget --keep-within 2d:\n got %s\nwant %s", got, want)
	}
	left := snapshotsJSON(t, e)
	if len(left) != 2 {
		t.Fatalf("%d snapshots left, want 2", len(left))
	}

	// By ID, with prune; then the repository is whole and restorable.
	r = cairnAt(t, t0, e, "forget", recent, "--prune").must(t, 0)
	if !strings.Contains(r.stdout, "prune:") || !strings.Contains(r.stdout, "packs deleted") {
		t.Errorf("forget --prune:\n%s", r.stdout)
	}
	cairn(t, e, "repo", "check", "--read-data").must(t, 0)
	target := t.TempDir()
	cairn(t, e, "fs", "restore", promised, "--target", target).must(t, 0)
	sameTree(t, data, target, "")
}

// forgetAt runs forget -o json at now and renders what it removed (with
// reasons) and kept as "removed A:reason,B:reason kept C,D".
func forgetAt(t *testing.T, now time.Time, e env, args ...string) string {
	t.Helper()
	r := cairnAt(t, now, e, append([]string{"forget", "-o", "json"}, args...)...).must(t, 0)
	var res struct {
		Removed []struct {
			ShortID string `json:"short_id"`
			Reason  string `json:"reason"`
		} `json:"removed"`
		Kept []struct {
			ShortID string `json:"short_id"`
		} `json:"kept"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("forget -o json: %v\n%s", err, r.stdout)
	}
	var removed, kept []string
	for _, s := range res.Removed {
		removed = append(removed, s.ShortID+":"+s.Reason)
	}
	for _, s := range res.Kept {
		kept = append(kept, s.ShortID)
	}
	return "removed " + strings.Join(sorted(removed...), ",") + " kept " + strings.Join(sorted(kept...), ",")
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}
