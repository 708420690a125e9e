package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/cairn-backup/cairn/"

// deps returns the packages pkg depends on (transitively), by go list.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestImportRules(t *testing.T) {
	for _, tc := range []struct {
		pkg       string
		forbidden []string // prefixes
	}{
		// The storage engine knows files and objects, not Kubernetes.
		{"internal/repo/...", []string{"k8s.io/", "sigs.k8s.io/", mod + "internal/cluster", mod + "internal/controller", mod + "internal/agent", mod + "internal/cli"}},
		{"internal/store/...", []string{"k8s.io/", "sigs.k8s.io/", mod + "internal/repo"}},
		{"internal/snapshot", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"internal/archiver", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"internal/restorer", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"internal/prune", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"internal/check", []string{"k8s.io/", "sigs.k8s.io/"}},
		{"internal/replicate", []string{"k8s.io/", "sigs.k8s.io/"}},
		// The controller does not link the file-system engine or the agent.
		{"cmd/cairn-controller", []string{mod + "internal/archiver", mod + "internal/restorer", mod + "internal/agent", mod + "internal/cli"}},
		{"internal/controller", []string{mod + "internal/archiver", mod + "internal/restorer", mod + "internal/agent", mod + "internal/cli"}},
		// The agent does not link the cluster backup or the controller.
		{"cmd/cairn-agent", []string{mod + "internal/controller", mod + "internal/cluster/", mod + "internal/cli"}},
	} {
		for _, d := range deps(t, tc.pkg) {
			for _, f := range tc.forbidden {
				if under(d, f) {
					t.Errorf("%s imports %s (forbidden: %s)", tc.pkg, d, f)
				}
			}
		}
	}
}

// under reports whether package d is f or below it; f ending in "/" is a
// module path prefix ("k8s.io/").
func under(d, f string) bool {
	if strings.HasSuffix(f, "/") {
		return strings.HasPrefix(d, f)
	}
	return d == f || strings.HasPrefix(d, f+"/")
}

// The fsonly build of the CLI (bin/cairn-fs) links no Kubernetes library:
// that is what it is for (internal/cli/commands_fsonly.go).
func TestFsOnlyCLILinksNoKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "fsonly", "-deps", mod+"cmd/cairn").Output()
	if err != nil {
		t.Fatalf("go list -tags fsonly -deps cmd/cairn: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, f := range []string{"k8s.io/", "sigs.k8s.io/controller-runtime", mod + "internal/cluster", mod + "internal/erase", mod + "internal/report", mod + "api"} {
			if under(d, f) {
				t.Errorf("the fsonly build of cmd/cairn imports %s (forbidden: %s)", d, f)
			}
		}
	}
}
