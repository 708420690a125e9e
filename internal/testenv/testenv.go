package testenv

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// RequireReal stops a test that cannot get a real component: it fails when
// CAIRN_REQUIRE_REAL=1 (CI) and skips otherwise, naming what is missing.
func RequireReal(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CAIRN_REQUIRE_REAL") == "1" {
		t.Fatalf("%s is required (CAIRN_REQUIRE_REAL=1): %v", what, err)
	}
	t.Skipf("%s not available: %v (set CAIRN_REQUIRE_REAL=1 to make this a failure)", what, err)
}

// RandomFiles writes n files of size random bytes under dir.
func RandomFiles(t testing.TB, dir string, n, size int, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		rng.Read(buf)
		p := filepath.Join(dir, "f", string(rune('a'+i%26)), filepath.Base(t.Name())+"-"+strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// RepoRoot returns the repository's top directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}
