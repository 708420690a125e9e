package archiver_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/testenv"
)

var pass = []byte("fault test passphrase")

func openRepo(t testing.TB, dir string, init bool) *repo.Repository {
	t.Helper()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	var r *repo.Repository
	if init {
		r, err = repo.Init(context.Background(), s, pass, repo.Options{})
	} else {
		r, err = repo.Open(context.Background(), s, pass, repo.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func mustCheck(t *testing.T, r *repo.Repository) *check.Report {
	t.Helper()
	rep, err := check.Run(context.Background(), r, check.Options{ReadData: true})
	if err != nil {
		t.Fatalf("check: %v: %+v", err, rep)
	}
	return rep
}

// TestKillChild is the backup process TestKillMidBackup kills; it does
// nothing unless started by it.
func TestKillChild(t *testing.T) {
	if os.Getenv("CAIRN_KILL_CHILD") != "1" {
		return
	}
	r := openRepo(t, os.Getenv("CAIRN_KILL_REPO"), false)
	_, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{os.Getenv("CAIRN_KILL_SRC")}, Workers: 1})
	t.Fatalf("backup finished before it was killed (err %v)", err)
}

func TestKillMidBackup(t *testing.T) {
	src, repoDir := t.TempDir(), t.TempDir()
	testenv.RandomFiles(t, src, 24, 16<<20, 1) // 384 MiB, incompressible
	openRepo(t, repoDir, true)

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "CAIRN_KILL_CHILD=1", "CAIRN_KILL_REPO="+repoDir, "CAIRN_KILL_SRC="+src)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for countPacks(repoDir) < 4 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child wrote no packs within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	uploaded := countPacks(repoDir)
	t.Logf("killed after %d packs", uploaded)

	r := openRepo(t, repoDir, false)
	mustCheck(t, r)
	sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	total := int64(24 * 16 << 20)
	if sn.Summary.BytesAdded >= total {
		t.Errorf("second backup added %d bytes of %d: nothing of the killed backup was reused", sn.Summary.BytesAdded, total)
	}
	t.Logf("second backup added %d MiB of %d MiB", sn.Summary.BytesAdded>>20, total>>20)
	rep := mustCheck(t, r)
	if rep.Snapshots != 1 {
		t.Errorf("check saw %d snapshots, want 1", rep.Snapshots)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(context.Background(), r, sn, restorer.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	if diffs, _ := dirdiff.Compare(src, dst, dirdiff.Options{}); len(diffs) > 0 {
		t.Fatalf("restore differs: %v", diffs)
	}
}

func countPacks(repoDir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(repoDir, "data"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestDiskFullDuringBackup(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.RequireReal(t, "root (to mount a small tmpfs)", errors.New("not root"))
	}
	repoDir := t.TempDir()
	if err := syscall.Mount("tmpfs", repoDir, "tmpfs", 0, "size=48m"); err != nil {
		testenv.RequireReal(t, "a tmpfs mount", err)
	}
	t.Cleanup(func() { syscall.Unmount(repoDir, syscall.MNT_DETACH) })
	src := t.TempDir()
	testenv.RandomFiles(t, src, 6, 16<<20, 2) // 96 MiB into 48 MiB
	r := openRepo(t, repoDir, true)
	_, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}})
	if !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("backup into a full disk: err = %v, want ErrNoSpace", err)
	}
	t.Logf("error shown to the user: %v", err)
	r2 := openRepo(t, repoDir, false)
	rep := mustCheck(t, r2)
	if rep.Snapshots != 0 {
		t.Errorf("a snapshot was saved despite the failure")
	}
}

func TestConcurrentBackups(t *testing.T) {
	repoDir := t.TempDir()
	openRepo(t, repoDir, true)
	srcs := []string{t.TempDir(), t.TempDir()}
	testenv.RandomFiles(t, srcs[0], 8, 3<<20, 3)
	testenv.RandomFiles(t, srcs[1], 8, 3<<20, 4)
	// Some shared content so both try to store the same blobs.
	testenv.RandomFiles(t, filepath.Join(srcs[0], "shared"), 3, 2<<20, 5)
	testenv.RandomFiles(t, filepath.Join(srcs[1], "shared"), 3, 2<<20, 5)
	var wg sync.WaitGroup
	snaps := make([]string, 2)
	errs := make([]error, 2)
	for i := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := openRepo(t, repoDir, false)
			lock, err := r.Lock(context.Background(), false, "backup")
			if err != nil {
				errs[i] = err
				return
			}
			defer lock.Unlock(context.Background())
			sn, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{srcs[i]}})
			errs[i] = err
			if sn != nil {
				snaps[i] = sn.ID
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
	}
	r := openRepo(t, repoDir, false)
	if rep := mustCheck(t, r); rep.Snapshots != 2 {
		t.Fatalf("%d snapshots, want 2", rep.Snapshots)
	}
	for i, id := range snaps {
		sn, err := loadSnap(r, id)
		if err != nil {
			t.Fatal(err)
		}
		dst := t.TempDir()
		if _, err := restorer.Run(context.Background(), r, sn, restorer.Options{Target: dst, Verify: true}); err != nil {
			t.Fatal(err)
		}
		if diffs, _ := dirdiff.Compare(srcs[i], dst, dirdiff.Options{ModTime: true}); len(diffs) > 0 {
			t.Fatalf("restore %d differs: %v", i, diffs)
		}
	}
}
