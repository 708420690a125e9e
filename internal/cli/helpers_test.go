package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

const testPassphrase = "correct horse battery staple"

// result is what one cairn invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// env is a test's environment for cairn.
type env map[string]string

// cairn runs a command line in-process through Run.
func cairn(t *testing.T, e env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return e[k] })
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// cairnAt runs a command line with the clock stopped at now.
func cairnAt(t *testing.T, now time.Time, e env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &core.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Env: func(k string) string { return e[k] }, Now: func() time.Time { return now }}
	code := run(context.Background(), a, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// must fails the test unless r exited with code.
func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// newRepo initializes a repository in a temporary directory and returns
// the environment that names it and its passphrase.
func newRepo(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	e := env{"CAIRN_REPOSITORY": filepath.Join(dir, "repo"), "CAIRN_PASSWORD_FILE": writeFile(t, filepath.Join(dir, "pass"), testPassphrase+"\n")}
	cairn(t, e, "repo", "init").must(t, 0)
	return e
}

// with returns a copy of e with more variables set ("" unsets).
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sampleData makes a small directory tree to back up.
func sampleData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	writeFile(t, filepath.Join(dir, "hello.txt"), "hello, world\n")
	writeFile(t, filepath.Join(dir, "sub", "deep", "notes.md"), strings.Repeat("a line of notes\n", 1000))
	writeFile(t, filepath.Join(dir, "logs", "app.log"), strings.Repeat("info request ok\n", 5000))
	if err := os.Symlink("hello.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// listing records every file under dir with its size and mtime, to prove
// that a command wrote nothing.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, p+" "+fi.Mode().String()+" "+strconv.FormatInt(fi.Size(), 10)+" "+fi.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// snapshotsJSON returns the snapshots as `cairn snapshots -o json` shows them.
func snapshotsJSON(t *testing.T, e env) []snapshotJSON {
	t.Helper()
	r := cairn(t, e, "snapshots", "-o", "json").must(t, 0)
	var out []snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("snapshots -o json: %v\n%s", err, r.stdout)
	}
	return out
}

type snapshotJSON struct {
	ID      string     `json:"id"`
	ShortID string     `json:"short_id"`
	Time    time.Time  `json:"time"`
	Host    string     `json:"host"`
	Paths   []string   `json:"paths"`
	Tags    []string   `json:"tags"`
	Parent  string     `json:"parent"`
	Expires *time.Time `json:"expires"`
	Summary struct {
		FilesNew       int64 `json:"files_new"`
		FilesChanged   int64 `json:"files_changed"`
		FilesUnchanged int64 `json:"files_unchanged"`
		TotalBytes     int64 `json:"total_bytes"`
	} `json:"summary"`
}

// openTestRepo opens e's local repository in-process with the test
// passphrase; it is closed when t ends.
func openTestRepo(t *testing.T, e env) *repo.Repository {
	t.Helper()
	s, err := local.New(e["CAIRN_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(context.Background(), s, []byte(testPassphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}
