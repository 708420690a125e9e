package swaptest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

func TestSwapsAndRestoresOrder(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("A"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", b); err != nil {
		t.Fatal(err)
	}
	s := Start(t, a, b)
	sawLink := false
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		if fi, err := os.Lstat(a); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			sawLink = true
		}
	}
	n := s.Stop(t)
	if n < 2 || !sawLink {
		t.Fatalf("swaps %d, a seen as symlink %v", n, sawLink)
	}
	if fi, err := os.Lstat(a); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("after Stop a is %v, %v; want the regular file back", fi, err)
	}
}
