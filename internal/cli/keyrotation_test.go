package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyRotation follows docs/key-rotation.md: add the new passphrase,
// switch to it, remove the old key; every backup still restores with the
// new passphrase and the old one is rejected.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	old := newRepo(t)
	var dirs []string
	for i := range 2 {
		d := sampleData(t)
		writeFile(t, filepath.Join(d, "which.txt"), strings.Repeat("backup ", i+1))
		cairn(t, old, "fs", "backup", d).must(t, 0)
		dirs = append(dirs, d)
	}
	newFile := writeFile(t, filepath.Join(t.TempDir(), "new-pass"), "a much longer new passphrase\n")

	// 1. Add the new passphrase (opened with the old one).
	r := cairn(t, old, "repo", "key", "add", "--label", "rotated", "--new-password-file", newFile, "-o", "json").must(t, 0)
	var added map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil {
		t.Fatal(err)
	}
	// 2. Switch every user of the repository to the new one.
	rotated := old.with("CAIRN_PASSWORD_FILE", newFile)
	// 3. Remove the old key, opened with the new one.
	var oldID string
	for _, k := range keyList(t, rotated) {
		if !k.Current {
			oldID = k.ID
		}
	}
	if oldID == "" || oldID == added["id"] {
		t.Fatalf("no old key to remove: %+v", keyList(t, rotated))
	}
	cairn(t, rotated, "repo", "key", "remove", oldID).must(t, 0)
	if keys := keyList(t, rotated); len(keys) != 1 || keys[0].ID != added["id"] {
		t.Fatalf("keys after rotation: %+v", keys)
	}

	// Every backup restores with the new passphrase.
	snaps := snapshotsJSON(t, rotated)
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots, want 2", len(snaps))
	}
	for _, sn := range snaps {
		target := t.TempDir()
		cairn(t, rotated, "fs", "restore", sn.ID, "--target", target).must(t, 0)
		var want string
		for _, d := range dirs {
			if len(sn.Paths) == 1 && sn.Paths[0] == d {
				want = d
			}
		}
		if want == "" {
			t.Fatalf("snapshot %s of %v: no such data directory", sn.ShortID, sn.Paths)
		}
		sameTree(t, want, target, "")
	}
	cairn(t, rotated, "repo", "check", "--read-data").must(t, 0)
	// The old passphrase opens nothing any more.
	r = cairn(t, old, "snapshots").must(t, 2)
	if !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("old passphrase: %s", r.stderr)
	}
	cairn(t, old, "fs", "restore", "latest", "--target", t.TempDir()).must(t, 2)
}
