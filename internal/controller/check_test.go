package controller_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// A location's scheduled check: the first sync checks the repository, the
// next share of the packs each time (readDataShares 3: three checks read
// every pack once between them), not again before the interval; a pack
// damaged on disk is found by the check of its share, recorded in
// status.lastCheck as Damaged, and the last successful check's time stays.
func TestScheduledCheck(t *testing.T) {
	e := newEnv(t, noGuardrails)
	dir := e.location("main", "")
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		e.configMap("app-" + name)
		e.create(&cairnv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: "b-" + name, Namespace: e.ns}, Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}}})
		e.reconcile(e.rs.Backup, "b-"+name)
	}
	var packs []string
	if err := filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			packs = append(packs, p)
		}
		return err
	}); err != nil || len(packs) < 3 {
		t.Fatalf("%d packs in the repository (%v), want several", len(packs), err)
	}
	var loc cairnv1.BackupLocation
	e.get("main", &loc)
	loc.Spec.Check = cairnv1.LocationCheckSpec{Interval: &metav1.Duration{Duration: 24 * time.Hour}, ReadDataShares: ptr.To(int32(3))}
	if err := e.c.Update(e.ctx, &loc); err != nil {
		t.Fatal(err)
	}

	read := 0
	for share := 1; share <= 3; share++ {
		e.reconcile(e.rs.Location, "main")
		e.get("main", &loc)
		c := loc.Status.LastCheck
		if c == nil || c.Result != cairnv1.CheckOK || c.Share != fmt.Sprintf("%d/3", share) || loc.Status.CheckShare != int32(share) {
			t.Fatalf("check %d: %+v, share %d; want OK of share %d/3", share, c, loc.Status.CheckShare, share)
		}
		read += c.PacksRead
		// Not due again before the interval.
		e.reconcile(e.rs.Location, "main")
		var again cairnv1.BackupLocation
		e.get("main", &again)
		if !again.Status.LastCheck.Time.Equal(&c.Time) || again.Status.CheckShare != int32(share) {
			t.Fatalf("checked again before the interval: %+v", again.Status.LastCheck)
		}
		e.clock.Add(25 * time.Hour)
	}
	if read != len(packs) {
		t.Errorf("three checks of shares 1/3, 2/3, 3/3 read %d packs, the repository has %d", read, len(packs))
	}
	lastGood := loc.Status.LastSuccessfulCheckTime

	// Damage every pack: the next check (share 1/3) finds its share's.
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.reconcile(e.rs.Location, "main")
	e.get("main", &loc)
	c := loc.Status.LastCheck
	if c == nil || c.Result != cairnv1.CheckDamaged || c.DamagedPacks == 0 || !strings.Contains(c.Message, "pack ") {
		t.Fatalf("check of damaged packs: %+v; want Damaged, naming a pack", c)
	}
	if loc.Status.LastSuccessfulCheckTime == nil || !loc.Status.LastSuccessfulCheckTime.Equal(lastGood) {
		t.Errorf("last successful check %v, want it kept at %v", loc.Status.LastSuccessfulCheckTime, lastGood)
	}
	t.Logf("damaged: %s", c.Message)
}
