package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// storeKeys lists the keys under prefix ("data", "index", "snapshots") of the
// local repository e names.
func storeKeys(t *testing.T, e env, prefix string) []string {
	t.Helper()
	root := e["CAIRN_REPOSITORY"]
	var keys []string
	err := filepath.WalkDir(filepath.Join(root, prefix), func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) && p == filepath.Join(root, prefix) {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// backupNew backs up dir and returns the snapshot's ID and the index
// files the backup wrote.
func backupNew(t *testing.T, e env, dir string) (string, []string) {
	t.Helper()
	before := storeKeys(t, e, "index")
	r := cairn(t, e, "fs", "backup", dir, "-o", "json").must(t, 0)
	var sn snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &sn); err != nil {
		t.Fatalf("backup -o json: %v\n%s", err, r.stdout)
	}
	var added []string
	for _, k := range storeKeys(t, e, "index") {
		if !slices.Contains(before, k) {
			added = append(added, k)
		}
	}
	return sn.ID, added
}

// restoreSame restores snapshot id and fails unless it equals src.
func restoreSame(t *testing.T, e env, id, src string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	cairn(t, e, "fs", "restore", id, "--target", dst, "--verify").must(t, 0)
	if diffs, err := dirdiff.Compare(src, dst, dirdiff.Options{}); err != nil || len(diffs) > 0 {
		t.Fatalf("restore of %s differs: %v %v", id[:8], diffs, err)
	}
}

// remove deletes an object of the local repository.
func remove(t *testing.T, e env, key string) {
	t.Helper()
	if err := os.Remove(filepath.Join(e["CAIRN_REPOSITORY"], filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
}

// treesOnly replaces the index files keys by one that names only the tree
// packs they name.
func treesOnly(t *testing.T, e env, keys []string) {
	t.Helper()
	ctx := context.Background()
	s, err := local.New(e["CAIRN_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s, []byte(testPassphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var trees []index.Pack
	for _, k := range keys {
		b, err := r.LoadUnpacked(ctx, repo.KindIndex, strings.TrimPrefix(k, repo.KindIndex.Prefix()))
		if err != nil {
			t.Fatal(err)
		}
		ps, err := index.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Entries[0].Type == blob.Tree {
				trees = append(trees, p)
			}
		}
		remove(t, e, k)
	}
	if len(trees) == 0 {
		t.Fatal("no tree packs in the index files")
	}
	if _, err := r.WriteIndexFiles(ctx, trees, nil); err != nil {
		t.Fatal(err)
	}
}

func wantAll(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

// TestPruneRefusesWithoutIndex is the reproduction of issue 10: with the
// index file that covers a snapshot's packs gone, prune used to delete
// those packs as orphans. It must refuse and delete nothing; repair index
// rebuilds the index from the packs, and the snapshot restores.
func TestPruneRefusesWithoutIndex(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	first, second := t.TempDir(), t.TempDir()
	testenv.RandomFiles(t, first, 3, 1<<20, 1)
	testenv.RandomFiles(t, second, 3, 1<<20, 2)
	id1, index1 := backupNew(t, e, first)
	id2, _ := backupNew(t, e, second)
	// The first backup's index files are replaced by one naming only its
	// tree packs, as when a backup's first index file (its data packs) is
	// lost and its last one (the trees) is not.
	treesOnly(t, e, index1)
	packs := storeKeys(t, e, "data")

	r := cairn(t, e, "repo", "check").must(t, 1)
	wantAll(t, "check", r.stdout, "data blob", "is not in the index")
	wantAll(t, "check stderr", r.stderr, "cairn repo repair index")

	r = cairn(t, e, "repo", "prune").must(t, 1)
	wantAll(t, "prune stderr", r.stderr, "refusing", "cairn repo check", "cairn repo repair index")
	if after := storeKeys(t, e, "data"); !slices.Equal(after, packs) {
		t.Fatalf("prune that refused changed the packs: %d before, %d after", len(packs), len(after))
	}
	cairn(t, e, "repo", "prune", "--dry-run").must(t, 1)

	cairn(t, e, "repo", "repair", "index").must(t, 0)
	cairn(t, e, "repo", "check", "--read-data").must(t, 0)
	restoreSame(t, e, id1, first)
	restoreSame(t, e, id2, second)
	cairn(t, e, "repo", "prune").must(t, 0)
	if after := storeKeys(t, e, "data"); !slices.Equal(after, packs) {
		t.Fatalf("prune after repair deleted packs snapshots use: %d before, %d after", len(packs), len(after))
	}
	restoreSame(t, e, id1, first)
}

// TestGarbageSnapshotFile: one bad file in snapshots/ does not hide the
// others or block restores; check names it, prune refuses until repair
// snapshots removes it.
func TestGarbageSnapshotFile(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	a, b := sampleData(t), t.TempDir()
	testenv.RandomFiles(t, b, 2, 100<<10, 3)
	idA, _ := backupNew(t, e, a)
	idB, _ := backupNew(t, e, b)
	writeFile(t, filepath.Join(e["CAIRN_REPOSITORY"], "snapshots", "junk"), "garbage, not a snapshot")

	r := cairn(t, e, "snapshots").must(t, 0)
	wantAll(t, "snapshots", r.stdout, idA[:8], idB[:8], "2 snapshot(s)")
	wantAll(t, "snapshots stderr", r.stderr, "snapshots/junk")
	if got := snapshotsJSON(t, e); len(got) != 2 {
		t.Fatalf("snapshots -o json: %d snapshots, want the 2 good ones", len(got))
	}
	r = cairn(t, e, "snapshots", "-o", "json").must(t, 0)
	wantAll(t, "snapshots -o json stderr", r.stderr, "snapshots/junk")

	restoreSame(t, e, idA, a)
	restoreSame(t, e, "latest", b)

	r = cairn(t, e, "repo", "check", "-o", "json").must(t, 1)
	wantAll(t, "check -o json", r.stdout, `"key": "snapshots/junk"`)
	r = cairn(t, e, "repo", "prune").must(t, 1)
	wantAll(t, "prune stderr", r.stderr, "snapshots/junk", "cairn repo check", "cairn repo repair snapshots")

	cairn(t, e, "repo", "repair", "snapshots").must(t, 0)
	if slices.Contains(storeKeys(t, e, "snapshots"), "snapshots/junk") {
		t.Fatal("repair snapshots left the garbage file")
	}
	cairn(t, e, "repo", "check").must(t, 0)
	cairn(t, e, "repo", "prune").must(t, 0)
	restoreSame(t, e, idB, b)
}

// TestTruncatedIndexFile: a truncated index file no longer stops the
// repository from opening. Snapshots lists and warns, check names the file,
// a restore whose data another index file covers works, prune refuses;
// after repair index everything works again.
func TestTruncatedIndexFile(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	a, b := t.TempDir(), t.TempDir()
	testenv.RandomFiles(t, a, 2, 300<<10, 4)
	testenv.RandomFiles(t, b, 2, 300<<10, 5)
	idA, _ := backupNew(t, e, a)
	idB, indexB := backupNew(t, e, b)
	if len(indexB) == 0 {
		t.Fatal("the second backup wrote no index file")
	}
	victim := indexB[0]
	p := filepath.Join(e["CAIRN_REPOSITORY"], filepath.FromSlash(victim))
	os.Chmod(p, 0o600)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}

	r := cairn(t, e, "snapshots").must(t, 0)
	wantAll(t, "snapshots", r.stdout, idA[:8], idB[:8])
	wantAll(t, "snapshots stderr", r.stderr, victim)
	r = cairn(t, e, "repo", "check").must(t, 1)
	wantAll(t, "check", r.stdout, victim)
	restoreSame(t, e, idA, a)
	cairn(t, e, "fs", "restore", idB, "--target", t.TempDir()).must(t, 1)
	r = cairn(t, e, "repo", "prune").must(t, 1)
	wantAll(t, "prune stderr", r.stderr, victim, "cairn repo check", "cairn repo repair index")

	r = cairn(t, e, "repo", "repair", "index", "-o", "json").must(t, 0)
	var rep struct {
		Written    []string `json:"index_files_written"`
		Superseded int      `json:"index_files_superseded"`
		Deleted    int      `json:"index_files_deleted"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Written) == 0 || rep.Deleted != rep.Superseded {
		t.Fatalf("repair index -o json: %+v, %v\n%s", rep, err, r.stdout)
	}
	if slices.Contains(storeKeys(t, e, "index"), victim) {
		t.Error("repair index left the truncated file in place on a store that can delete it")
	}
	cairn(t, e, "repo", "check", "--read-data").must(t, 0)
	restoreSame(t, e, idB, b)
	cairn(t, e, "repo", "prune").must(t, 0)
	restoreSame(t, e, idA, a)
}
