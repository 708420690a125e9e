package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestWriteMarkerFollowsNothing: a symlink planted at the marker's name
// (by a pod that shares the volume) is refused; what it points to is
// left as it was. A regular file there is an earlier marker.
func TestWriteMarkerFollowsNothing(t *testing.T) {
	vol := t.TempDir()
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	const uid = types.UID("1234-abcd")
	planted := filepath.Join(vol, podvolume.MarkerName(uid))
	if err := os.Symlink(outside, planted); err != nil {
		t.Fatal(err)
	}
	if _, err := writeMarker(vol, uid); err == nil {
		t.Error("marker written through a planted symlink")
	}
	fi, err := os.Stat(outside)
	if b, _ := os.ReadFile(outside); err != nil || string(b) != "precious" || fi.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target changed: %q, %v, %v", b, fi.Mode(), err)
	}
	if fi, err := os.Lstat(planted); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted symlink was replaced: %v, %v", fi, err)
	}

	// A planted symlink as the volume's folder itself: not followed either.
	link := filepath.Join(t.TempDir(), "vol")
	if err := os.Symlink(filepath.Dir(outside), link); err != nil {
		t.Fatal(err)
	}
	if _, err := writeMarker(link, uid); err == nil {
		t.Error("marker written into a symlinked folder")
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(outside), podvolume.MarkerName(uid))); err == nil {
		t.Error("marker created where the symlinked folder points")
	}

	// The ordinary case, and again (a restore run twice).
	for i := 0; i < 2; i++ {
		path, err := writeMarker(vol, "other-uid")
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() || path != filepath.Join(vol, podvolume.MarkerName("other-uid")) {
			t.Fatalf("marker %s: %v, %v", path, fi, err)
		}
	}
}

// TestMarkerExcludeOnlyAtTheTop: a backup of a volume leaves out the
// agent's markers in its top folder only; a user's file of such a name in
// a sub-folder is backed up and restored.
func TestMarkerExcludeOnlyAtTheTop(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, s, []byte("correct horse battery staple"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A volume folder with glob characters in its path.
	vol := filepath.Join(t.TempDir(), "kubernetes.io~local-volume", "pv[1]*")
	for rel, data := range map[string]string{
		podvolume.MarkerName("uid-1"):      "",
		"data/.cairn-restore-x":            "user data",
		"data/deeper/.cairn-restore-y.log": "more user data",
		"keep.txt":                         "keep",
	} {
		p := filepath.Join(vol, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{vol}, Excludes: markerExcludes(vol)})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: dst}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"data/.cairn-restore-x": "user data", "data/deeper/.cairn-restore-y.log": "more user data", "keep.txt": "keep"} {
		if b, err := os.ReadFile(filepath.Join(dst, rel)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", rel, b, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, podvolume.MarkerName("uid-1"))); err == nil {
		t.Error("the agent's marker at the top was backed up")
	}
}
