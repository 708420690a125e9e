package cli

import (
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/cli/fscmd"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
)

func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := sampleData(t)

	r := cairn(t, e, "fs", "backup", data, "--tag", "daily", "--host", "node-1").must(t, 0)
	if !regexp.MustCompile(`snapshot [0-9a-f]{8} saved`).MatchString(r.stdout) {
		t.Errorf("backup summary: %s", r.stdout)
	}
	snaps := snapshotsJSON(t, e)
	if len(snaps) != 1 || snaps[0].Host != "node-1" || len(snaps[0].Tags) != 1 || snaps[0].Paths[0] != data || snaps[0].Summary.FilesNew != 3 {
		t.Fatalf("snapshots -o json: %+v", snaps)
	}
	first := snaps[0]

	// Incremental: one file changed, the rest is not read again.
	writeFile(t, filepath.Join(data, "hello.txt"), "hello again\n")
	r = cairn(t, e, "fs", "backup", data, "--host", "node-1", "-o", "json").must(t, 0)
	var second snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &second); err != nil {
		t.Fatalf("backup -o json: %v\n%s", err, r.stdout)
	}
	if second.Parent != first.ID || second.Summary.FilesChanged != 1 || second.Summary.FilesUnchanged != 2 {
		t.Errorf("second backup: parent %s (want %s), summary %+v", second.Parent, first.ID, second.Summary)
	}

	// ls: the whole snapshot, and under a path (inside the snapshot or as backed up).
	r = cairn(t, e, "ls", "latest").must(t, 0)
	for _, want := range []string{"/hello.txt", "/sub/deep/notes.md", "/link -> hello.txt", "-rw-r--r--", "drwx"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ls latest lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, under := range []string{"sub", filepath.Join(data, "sub")} {
		r = cairn(t, e, "ls", first.ShortID, under, "-o", "json").must(t, 0)
		var entries []fscmd.EntryView
		if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
			t.Fatal(err)
		}
		if len(entries) != 3 || entries[2].Path != "/sub/deep/notes.md" {
			t.Errorf("ls %s: %+v", under, entries)
		}
	}
	cairn(t, e, "ls", "latest", "no/such/path").must(t, 2)

	// Restore latest into a target that holds an unrelated file: it stays.
	target := t.TempDir()
	writeFile(t, filepath.Join(target, "unrelated.txt"), "mine")
	r = cairn(t, e, "fs", "restore", "latest", "--target", target, "--verify").must(t, 0)
	if !strings.Contains(r.stdout, "verified: 3 files") {
		t.Errorf("restore summary: %s", r.stdout)
	}
	sameTree(t, data, target, "unrelated.txt")
	if b, err := os.ReadFile(filepath.Join(target, "unrelated.txt")); err != nil || string(b) != "mine" {
		t.Errorf("unrelated file: %q, %v", b, err)
	}

	// Restore the first snapshot by a unique prefix; --include one path.
	old := t.TempDir()
	cairn(t, e, "fs", "restore", first.ID[:6], "--target", old).must(t, 0)
	if b, _ := os.ReadFile(filepath.Join(old, "hello.txt")); string(b) != "hello, world\n" {
		t.Errorf("restore by prefix: hello.txt = %q", b)
	}
	part := t.TempDir()
	r = cairn(t, e, "fs", "restore", "latest", "--target", part, "--include", "sub", "-o", "json").must(t, 0)
	if _, err := os.Stat(filepath.Join(part, "sub", "deep", "notes.md")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(part, "hello.txt")); !os.IsNotExist(err) {
		t.Errorf("--include sub restored hello.txt too")
	}
	if !strings.Contains(r.stdout, `"result"`) {
		t.Errorf("restore -o json: %s", r.stdout)
	}

	// YAML is the same data.
	r = cairn(t, e, "snapshots", "-o", "yaml").must(t, 0)
	if !strings.HasPrefix(r.stdout, "- ") || !strings.Contains(r.stdout, "id: "+first.ID) {
		t.Errorf("snapshots -o yaml:\n%s", r.stdout)
	}
	// The table names both.
	r = cairn(t, e, "snapshots", "--tag", "daily").must(t, 0)
	if !strings.Contains(r.stdout, first.ShortID) || strings.Contains(r.stdout, second.ShortID) {
		t.Errorf("snapshots --tag daily:\n%s", r.stdout)
	}
	r = cairn(t, e, "snapshots", "--path", data, "--host", "node-1").must(t, 0)
	if !strings.Contains(r.stdout, first.ShortID) || !strings.Contains(r.stdout, second.ShortID) {
		t.Errorf("snapshots --path:\n%s", r.stdout)
	}
}

// sameTree fails unless want and got hold the same entries (except ignore).
func sameTree(t *testing.T, want, got, ignore string) {
	t.Helper()
	diffs, err := dirdiff.Compare(want, got, dirdiff.Options{ModTime: true, Ignore: func(rel string) bool { return rel == ignore }})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("restored tree differs:\n%s", strings.Join(diffs, "\n"))
	}
}

func TestSnapshotRefs(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	cairn(t, e, "fs", "backup", sampleData(t)).must(t, 0)

	r := cairn(t, e, "ls", "ffffffffffff").must(t, 2)
	if !strings.Contains(r.stderr, "not found") {
		t.Errorf("unknown snapshot: %q", r.stderr)
	}
	cairn(t, e, "fs", "restore", "0000000000", "--target", t.TempDir()).must(t, 2)
	cairn(t, e, "forget", "0000000000").must(t, 2)

	// Copies of the manifest until two IDs share their first digit.
	prefix := ambiguousPrefix(t, e)
	r = cairn(t, e, "ls", prefix).must(t, 2)
	if !strings.Contains(r.stderr, "ambiguous") {
		t.Errorf("ambiguous prefix: %q", r.stderr)
	}
	cairn(t, e, "fs", "restore", prefix, "--target", t.TempDir()).must(t, 2)
}

// ambiguousPrefix saves copies of the latest snapshot manifest, each with
// another time, until two snapshot IDs share a first hex digit, which it
// returns.
func ambiguousPrefix(t *testing.T, e env) string {
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
	sn, err := snapshot.Find(ctx, r, "latest", snapshot.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[byte]bool{sn.ID[0]: true}
	for i := 1; i <= 16; i++ {
		c := *sn
		c.Time = sn.Time.Add(-time.Duration(i) * time.Minute)
		if err := snapshot.Save(ctx, r, &c); err != nil {
			t.Fatal(err)
		}
		if seen[c.ID[0]] {
			return c.ID[:1]
		}
		seen[c.ID[0]] = true
	}
	t.Fatal("17 IDs with distinct first hex digits")
	return ""
}

func TestProgressLines(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := filepath.Join(t.TempDir(), "data")
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, 4<<20)
	for i := 0; i < 6; i++ {
		rng.Read(buf)
		writeFile(t, filepath.Join(data, "f"+string(rune('a'+i))), string(buf))
	}
	line := regexp.MustCompile(`(?m)^backup: .*MiB.*/s.*files$`)
	r := cairn(t, e, "fs", "backup", data, "--progress-interval", "10ms").must(t, 0)
	if !line.MatchString(r.stderr) {
		t.Errorf("no progress lines on stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("terminal control characters on a non-terminal:\n%q", r.stderr)
	}
	r = cairn(t, e, "fs", "restore", "latest", "--target", t.TempDir(), "--progress-interval", "1ms").must(t, 0)
	if !regexp.MustCompile(`(?m)^restore: .*%.*iB/s.*files$`).MatchString(r.stderr) {
		t.Errorf("no restore progress lines:\n%s", r.stderr)
	}
	for _, quiet := range [][]string{{"-q"}, {"--no-progress"}, {"-o", "json"}} {
		writeFile(t, filepath.Join(data, "fa"), "changed "+strings.Join(quiet, ""))
		args := append([]string{"fs", "backup", data, "--progress-interval", "1ms"}, quiet...)
		r := cairn(t, e, args...).must(t, 0)
		if r.stderr != "" {
			t.Errorf("%v: stderr not empty:\n%s", quiet, r.stderr)
		}
		if quiet[0] == "-q" && r.stdout != "" {
			t.Errorf("-q: stdout not empty:\n%s", r.stdout)
		}
	}
}

// TestScanMatchesBackup checks that archiver.Scan, which feeds the
// progress totals, counts what a backup with the same excludes holds.
func TestScanMatchesBackup(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := sampleData(t)
	writeFile(t, filepath.Join(data, "logs", "old.log.gz"), "compressed")
	writeFile(t, filepath.Join(data, "cache", "tmp.bin"), strings.Repeat("x", 1000))
	extra := writeFile(t, filepath.Join(t.TempDir(), "single.txt"), "one file")
	excludes := []string{"*.gz", filepath.Join(data, "cache")}
	paths := []string{data, extra}

	files, bytes, err := archiver.Scan(context.Background(), paths, excludes)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"fs", "backup", "-o", "json"}, paths...)
	for _, ex := range excludes {
		args = append(args, "--exclude", ex)
	}
	r := cairn(t, e, args...).must(t, 0)
	var sn snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &sn); err != nil {
		t.Fatal(err)
	}
	if got := sn.Summary.FilesNew + sn.Summary.FilesChanged + sn.Summary.FilesUnchanged; got != files || sn.Summary.TotalBytes != bytes {
		t.Errorf("scan found %d files, %d bytes; the backup holds %d files, %d bytes", files, bytes, got, sn.Summary.TotalBytes)
	}
	if files != 4 {
		t.Errorf("scan found %d files, want 4 (3 sample files and single.txt)", files)
	}
}
