package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

func TestInitWithoutPassphrase(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	for _, dir := range []string{filepath.Join(base, "new"), filepath.Join(base, "empty")} {
		if strings.HasSuffix(dir, "empty") {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		r := cairn(t, env{"CAIRN_REPOSITORY": dir}, "repo", "init").must(t, 2)
		for _, want := range []string{"--password-file", "CAIRN_PASSWORD_FILE", "CAIRN_PASSWORD"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("error does not mention %s: %q", want, r.stderr)
			}
		}
		if !strings.HasPrefix(r.stderr, "cairn: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("error is not one line prefixed `cairn: `: %q", r.stderr)
		}
		entries, err := os.ReadDir(dir)
		switch {
		case strings.HasSuffix(dir, "new") && !os.IsNotExist(err):
			t.Errorf("init without passphrase created %s", dir)
		case strings.HasSuffix(dir, "empty") && len(entries) > 0:
			t.Errorf("init without passphrase wrote into %s: %v", dir, entries)
		}
	}
}

func TestInitTwice(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	before := listing(t, e["CAIRN_REPOSITORY"])
	r := cairn(t, e, "repo", "init").must(t, 2)
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if after := listing(t, e["CAIRN_REPOSITORY"]); after != before {
		t.Errorf("second init changed the repository:\n%s\n---\n%s", before, after)
	}
}

func TestInitOutputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := cairn(t, env{"CAIRN_PASSWORD": "pw"}, "--repo", "file://"+dir+"/repo", "repo", "init", "-o", "json").must(t, 0)
	for _, want := range []string{`"id"`, `"location": "` + dir + `/repo"`, `"key"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("init -o json lacks %s:\n%s", want, r.stdout)
		}
	}
}

func TestWrongPassphraseWritesNothing(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := sampleData(t)
	cairn(t, e, "fs", "backup", data).must(t, 0)
	before := listing(t, e["CAIRN_REPOSITORY"])
	wrong := e.with("CAIRN_PASSWORD_FILE", "", "CAIRN_PASSWORD", "not the passphrase")
	for _, args := range [][]string{
		{"snapshots"},
		{"fs", "backup", data},
		{"fs", "restore", "latest", "--target", t.TempDir()},
		{"repo", "key", "add"},
		{"forget", "--keep-within", "1h", "--prune"},
		{"repo", "unlock", "--remove-all"},
	} {
		r := cairn(t, wrong, args...).must(t, 2)
		if !strings.Contains(r.stderr, "wrong passphrase") {
			t.Errorf("%v: stderr = %q", args, r.stderr)
		}
	}
	if after := listing(t, e["CAIRN_REPOSITORY"]); after != before {
		t.Errorf("commands with a wrong passphrase changed the repository:\n%s\n---\n%s", before, after)
	}
}

func TestRepositoryLocation(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	notRepo := filepath.Join(base, "plain")
	writeFile(t, filepath.Join(notRepo, "file"), "x")
	cases := []struct {
		name, repo, want string
	}{
		{"none", "", "CAIRN_REPOSITORY"},
		{"missing", filepath.Join(base, "missing"), "does not exist"},
		{"not a repository", notRepo, "cairn repo init"},
		{"s3 without credentials", "s3://bucket/prefix", "AWS_ACCESS_KEY_ID"},
		{"other scheme", "ftp://host/x", "unsupported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := cairn(t, env{"CAIRN_REPOSITORY": c.repo, "CAIRN_PASSWORD": "pw"}, "snapshots").must(t, 2)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(base, "missing")); !os.IsNotExist(err) {
		t.Error("a missing repository was created")
	}
	if entries, _ := os.ReadDir(notRepo); len(entries) != 1 {
		t.Errorf("a directory that is no repository was written to: %v", entries)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := sampleData(t)
	for _, args := range [][]string{
		{"bogus"},
		{"repo"},
		{"repo", "bogus"},
		{"fs", "backup"},
		{"fs", "backup", "--nope", data},
		{"fs", "backup", filepath.Join(data, "does-not-exist")},
		{"fs", "backup", "--ttl", "soon", data},
		{"fs", "backup", "--ttl", "-5d", data},
		{"fs", "backup", "--exclude", "[", data},
		{"fs", "restore", "latest"},
		{"fs", "restore", "--target", t.TempDir()},
		{"forget", "--keep-within", "3x"},
		{"ls"},
		{"snapshots", "-o", "xml"},
		{"repo", "key", "remove"},
		{"repo", "key", "remove", "ffffffffff"},
		{"repo", "key", "add"}, // no new passphrase
	} {
		r := cairn(t, e, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2; stderr %q", args, r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "cairn: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: error is not one line prefixed `cairn: `: %q", args, r.stderr)
		}
	}
}

func TestLockedRepository(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
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
	l, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx)
	res := cairn(t, e, "fs", "backup", sampleData(t)).must(t, 1)
	if !strings.Contains(res.stderr, "locked") || !strings.Contains(res.stderr, "cairn repo unlock") {
		t.Errorf("stderr = %q", res.stderr)
	}
	cairn(t, e, "repo", "unlock").must(t, 0) // the holder is alive: nothing removed
	cairn(t, e, "fs", "backup", sampleData(t)).must(t, 1)
	res = cairn(t, e, "repo", "unlock", "--remove-all").must(t, 0)
	if !strings.Contains(res.stdout, "removed 1") {
		t.Errorf("unlock --remove-all: %q", res.stdout)
	}
	cairn(t, e, "fs", "backup", sampleData(t)).must(t, 0)
}

func TestCheckPruneStats(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	data := sampleData(t)
	cairn(t, e, "fs", "backup", data).must(t, 0)
	writeFile(t, filepath.Join(data, "new.txt"), strings.Repeat("fresh data\n", 3000))
	cairn(t, e, "fs", "backup", data).must(t, 0)

	r := cairn(t, e, "repo", "check", "--read-data").must(t, 0)
	if !strings.Contains(r.stdout, "no problems found") {
		t.Errorf("check: %s", r.stdout)
	}
	r = cairn(t, e, "repo", "stats", "-o", "json").must(t, 0)
	if !strings.Contains(r.stdout, `"snapshots": 2`) {
		t.Errorf("stats -o json: %s", r.stdout)
	}
	r = cairn(t, e, "repo", "stats").must(t, 0)
	if !strings.Contains(r.stdout, "snapshots") || !strings.Contains(r.stdout, "MiB") && !strings.Contains(r.stdout, "KiB") {
		t.Errorf("stats table: %s", r.stdout)
	}
	cairn(t, e, "repo", "prune", "--dry-run", "-o", "yaml").must(t, 0)
	cairn(t, e, "repo", "prune").must(t, 0)
	cairn(t, e, "repo", "check").must(t, 0)
}

func TestCheckFindsDamage(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	cairn(t, e, "fs", "backup", sampleData(t)).must(t, 0)
	var packs []string
	_ = filepathWalkFiles(filepath.Join(e["CAIRN_REPOSITORY"], "data"), &packs)
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	for _, p := range packs {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	r := cairn(t, e, "repo", "check").must(t, 1)
	if !strings.Contains(r.stderr, "problems") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func filepathWalkFiles(dir string, out *[]string) error {
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			*out = append(*out, p)
		}
		return err
	})
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := cairn(t, nil, "version").must(t, 0)
	if !strings.HasPrefix(r.stdout, "cairn ") {
		t.Errorf("version: %q", r.stdout)
	}
	cairn(t, nil, "version", "-o", "json").must(t, 0)
}
