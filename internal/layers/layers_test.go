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

// engine are the packages of the storage engine (go list fails on a name
// that matches none, so a rule cannot go vacuous by a rename): files and objects in an
// encrypted repository, nothing of Kubernetes. (Package erase is not among
// them: it answers for namespaces, pods and cluster backups.)
var engine = []string{
	"internal/store/...", "internal/repo/...", "internal/snapshot", "internal/archiver", "internal/restorer",
	"internal/prune", "internal/check", "internal/stats", "internal/replicate", "internal/fsmeta", "internal/dirdiff",
}

func TestImportRules(t *testing.T) {
	type rule struct {
		pkg       string
		forbidden []string // prefixes
	}
	var rules []rule
	// The storage engine knows files and objects, not Kubernetes nor the
	// packages that do.
	for _, pkg := range engine {
		rules = append(rules, rule{pkg, []string{"k8s.io/", "sigs.k8s.io/", mod + "api", mod + "internal/cluster",
			mod + "internal/controller", mod + "internal/agent", mod + "internal/cli"}})
	}
	rules = append(rules,
		// The object store is below the repository.
		rule{"internal/store/...", []string{mod + "internal/repo"}},
		// The CLI talks to the cluster's API, never runs the controller or
		// the agent in its process.
		rule{"internal/cli/...", []string{mod + "internal/controller", mod + "internal/agent"}},
		// The command families stand on the CLI's core, not on each other:
		// internal/cli puts them together.
		rule{"internal/cli/fscmd", []string{mod + "internal/cli/clustercmd", mod + "internal/cli/ctlcmd"}},
		rule{"internal/cli/clustercmd", []string{mod + "internal/cli/fscmd", mod + "internal/cli/ctlcmd"}},
		rule{"internal/cli/ctlcmd", []string{mod + "internal/cli/fscmd", mod + "internal/cli/clustercmd"}},
		rule{"internal/cli/core", []string{mod + "internal/cli/fscmd", mod + "internal/cli/clustercmd", mod + "internal/cli/ctlcmd"}},
		// The controller does not link the file-system engine or the agent.
		rule{"cmd/cairn-controller", []string{mod + "internal/archiver", mod + "internal/restorer", mod + "internal/agent", mod + "internal/cli"}},
		rule{"internal/controller", []string{mod + "internal/archiver", mod + "internal/restorer", mod + "internal/agent", mod + "internal/cli"}},
		// The agent does not link the cluster backup or the controller.
		rule{"cmd/cairn-agent", []string{mod + "internal/controller", mod + "internal/cluster/", mod + "internal/cli"}},
		// The test-side packages stay out of the product binaries.
		rule{"cmd/...", []string{mod + "internal/mkdata", mod + "internal/testenv", mod + "internal/kubetest", mod + "internal/swaptest", mod + "internal/requester/requestertest", mod + "internal/velero/velerotest"}},
	)
	for _, tc := range rules {
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

// Nothing but cmd/cairn imports the CLI: it is the top of one program.
func TestNothingImportsCLI(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == mod+"cmd/cairn" || under(f[0], mod+"internal/cli") {
			continue
		}
		for _, d := range f[1:] {
			if under(d, mod+"internal/cli") {
				t.Errorf("%s imports %s", f[0], d)
			}
		}
	}
}
