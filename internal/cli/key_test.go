package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo"
)

func TestKeyFlow(t *testing.T) {
	t.Parallel()
	e := newRepo(t)
	dir := t.TempDir()
	addedFile := writeFile(t, filepath.Join(dir, "added"), "second passphrase\n")
	added := e.with("CAIRN_PASSWORD_FILE", addedFile)

	// add: a second passphrase opens the same repository.
	r := cairn(t, e, "repo", "key", "add", "--label", "ci", "--new-password-file", addedFile, "-o", "json").must(t, 0)
	var out map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out["id"]) != 64 {
		t.Fatalf("key add -o json: %v %q", err, r.stdout)
	}
	addedID := out["id"]
	keys := keyList(t, added)
	if len(keys) != 2 {
		t.Fatalf("key list: %+v", keys)
	}
	for _, k := range keys {
		if k.Current != (k.ID == addedID) {
			t.Errorf("key %s current=%v, opened with %s", k.ID[:8], k.Current, addedID[:8])
		}
		if k.ID == addedID && k.Label != "ci" {
			t.Errorf("label %q", k.Label)
		}
	}
	r = cairn(t, e, "repo", "key", "list").must(t, 0)
	if !strings.Contains(r.stdout, addedID[:8]) || !strings.Contains(r.stdout, "initial") {
		t.Errorf("key list table:\n%s", r.stdout)
	}

	// passwd: the old passphrase stops working, the new one and the added key work.
	r = cairn(t, e.with("CAIRN_NEW_PASSWORD", "third passphrase"), "repo", "key", "passwd").must(t, 0)
	if !strings.Contains(r.stdout, "passphrase changed") {
		t.Errorf("passwd: %q", r.stdout)
	}
	r = cairn(t, e, "snapshots").must(t, 2)
	if !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("old passphrase after passwd: %q", r.stderr)
	}
	third := e.with("CAIRN_PASSWORD_FILE", "", "CAIRN_PASSWORD", "third passphrase")
	cairn(t, third, "snapshots").must(t, 0)
	cairn(t, added, "snapshots").must(t, 0)

	// remove: not the key in use; another one, by prefix.
	r = cairn(t, added, "repo", "key", "remove", addedID[:10]).must(t, 2)
	if !strings.Contains(r.stderr, "opened this repository") {
		t.Errorf("removing the current key: %q", r.stderr)
	}
	cairn(t, third, "repo", "key", "remove", addedID[:10]).must(t, 0)
	cairn(t, added, "snapshots").must(t, 2)
	if keys := keyList(t, third); len(keys) != 1 || !keys[0].Current {
		t.Errorf("keys after remove: %+v", keys)
	}
	cairn(t, third, "repo", "key", "remove", addedID[:10]).must(t, 2)
}

func keyList(t *testing.T, e env) []repo.KeyInfo {
	t.Helper()
	r := cairn(t, e, "repo", "key", "list", "-o", "json").must(t, 0)
	var keys []repo.KeyInfo
	if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil {
		t.Fatalf("key list -o json: %v\n%s", err, r.stdout)
	}
	return keys
}
