package layers

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's Layout table names every directory under internal/ and
// cmd/, and no other.
func TestReadmeLayout(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no \"## Layout\" section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:internal|cmd)/[^/`]+)/`").FindAllStringSubmatch(table, -1) {
		listed[m[1]] = true
	}
	var want []string
	for _, top := range []string{"internal", "cmd"} {
		entries, err := os.ReadDir(filepath.Join(root, top))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				want = append(want, top+"/"+e.Name())
			}
		}
	}
	for _, d := range want {
		if !listed[d] {
			t.Errorf("README.md's Layout table does not list `%s/`", d)
		}
	}
	for d := range listed {
		if !slices.Contains(want, d) {
			t.Errorf("README.md's Layout table lists `%s/`, which is not in the tree", d)
		}
	}
}
