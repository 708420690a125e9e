package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputExitsTwo covers each bad-input case of README's exit code
// table: exit 2, a message that names the problem, and nothing written.
func TestBadInputExitsTwo(t *testing.T) {
	e := newRepo(t)
	data := sampleData(t)
	cairn(t, e, "fs", "backup", data).must(t, 0)
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "a-file"), "not a directory\n")
	repoPath := e["CAIRN_REPOSITORY"]

	cases := []struct {
		name string
		env  env
		args []string
		want string // in the message
	}{
		{"unknown flag", e, []string{"snapshots", "--bogus"}, "unknown flag"},
		{"missing argument", e, []string{"fs", "restore", "--target", filepath.Join(dir, "t")}, "snapshot"},
		{"missing required flag", e, []string{"fs", "restore", "latest"}, "target"},
		{"unknown output format", e, []string{"snapshots", "-o", "xml"}, "xml"},
		{"no passphrase", e.with("CAIRN_PASSWORD_FILE", ""), []string{"snapshots"}, "no passphrase"},
		{"passphrase file missing", e.with("CAIRN_PASSWORD_FILE", filepath.Join(dir, "none")), []string{"snapshots"}, "CAIRN_PASSWORD_FILE"},
		{"wrong passphrase", e.with("CAIRN_PASSWORD_FILE", "", "CAIRN_PASSWORD", "wrong"), []string{"snapshots"}, "wrong passphrase"},
		{"no repository", e.with("CAIRN_REPOSITORY", filepath.Join(dir, "none")), []string{"snapshots"}, "does not exist"},
		{"not a repository", e.with("CAIRN_REPOSITORY", dir), []string{"snapshots"}, "no repository"},
		{"repository is a file", e.with("CAIRN_REPOSITORY", file), []string{"snapshots"}, "not a directory"},
		{"init on a file", e.with("CAIRN_REPOSITORY", file), []string{"repo", "init"}, "is a file"},
		{"init below a file", e.with("CAIRN_REPOSITORY", filepath.Join(file, "repo")), []string{"repo", "init"}, "is a file"},
		{"init where one exists", e, []string{"repo", "init"}, "already exists"},
		{"unsupported URL", e.with("CAIRN_REPOSITORY", "ftp://host/x"), []string{"snapshots"}, "unsupported URL"},
		{"bad s3 URL", e.with("CAIRN_REPOSITORY", "s3://"), []string{"snapshots"}, "s3://bucket"},
		{"snapshot not found", e, []string{"fs", "restore", "ffffffff", "--target", filepath.Join(dir, "t")}, "not found"},
		{"restore target is a file", e, []string{"fs", "restore", "latest", "--target", file}, "is a file"},
		{"restore target below a file", e, []string{"fs", "restore", "latest", "--target", filepath.Join(file, "sub")}, "is a file"},
		{"include not in snapshot", e, []string{"fs", "restore", "latest", "--target", filepath.Join(dir, "t"), "--include", "no/such/path"}, "no \"no/such/path\""},
		{"backup path missing", e, []string{"fs", "backup", filepath.Join(dir, "none")}, "does not exist"},
		{"bad exclude pattern", e, []string{"fs", "backup", "--exclude", "[", data}, "pattern"},
		{"invalid duration", e, []string{"forget", "--keep-within", "abc"}, "duration"},
		{"ls path not in snapshot", e, []string{"ls", "latest", "nope"}, "no \"nope\""},
		{"unknown key", e, []string{"repo", "key", "remove", "deadbeef"}, "no key"},
		{"import velero without --from", e, []string{"import", "velero", "--all"}, "--from"},
		{"import velero without a selection", e, []string{"import", "velero", "--from", "s3://velero/a"}, "--backup NAME"},
		{"import velero --all and --backup", e, []string{"import", "velero", "--from", "s3://velero/a", "--all", "--backup", "x"}, "exclude"},
		{"import velero from a directory", e, []string{"import", "velero", "--from", dir, "--all"}, "s3://bucket/prefix"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := objects(t, repoPath) + objects(t, dir)
			r := cairn(t, c.env, c.args...).must(t, 2)
			if !strings.HasPrefix(r.stderr, "cairn: ") || !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q, want a line naming %q", r.stderr, c.want)
			}
			if after := objects(t, repoPath) + objects(t, dir); after != before {
				t.Errorf("a bad-input command changed files:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "t")); !os.IsNotExist(err) {
		t.Errorf("a refused restore created its target: %v", err)
	}
}

// objects lists the files under dir (not directories, whose times change
// when a lock comes and goes) with their sizes and times.
func objects(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(listing(t, dir), "\n") {
		if f := strings.Fields(line); len(f) > 1 && !strings.HasPrefix(f[1], "d") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
