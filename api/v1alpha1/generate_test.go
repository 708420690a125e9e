package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// TestGeneratedFilesCurrent runs controller-gen into a temporary directory
// and fails when the committed deepcopy functions or CRDs differ: run
// `make generate` after changing the types.
func TestGeneratedFilesCurrent(t *testing.T) {
	gen := kubetest.Tool(t, "controller-gen")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(gen, "object", "paths=./api/...", "output:object:dir="+filepath.Join(out, "obj"),
		"crd:crdVersions=v1", "output:crd:dir="+filepath.Join(out, "crd"))
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, b)
	}
	pairs := map[string]string{
		filepath.Join(out, "obj", "zz_generated.deepcopy.go"): filepath.Join(root, "api", "v1alpha1", "zz_generated.deepcopy.go"),
	}
	crds, err := filepath.Glob(filepath.Join(out, "crd", "*.yaml"))
	if err != nil || len(crds) != len(cairnv1.Kinds) {
		t.Fatalf("controller-gen made %d CRDs (%v), want one per kind of Kinds, %d", len(crds), err, len(cairnv1.Kinds))
	}
	s := runtime.NewScheme()
	if err := cairnv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, k := range cairnv1.Kinds {
		if !s.Recognizes(cairnv1.GroupVersion.WithKind(k)) {
			t.Errorf("kind %s of Kinds is not registered", k)
		}
	}
	for _, p := range crds {
		pairs[p] = filepath.Join(root, "deploy", "helm", "cairn", "crds", filepath.Base(p))
	}
	committed, _ := filepath.Glob(filepath.Join(root, "deploy", "helm", "cairn", "crds", "*.yaml"))
	if len(committed) != len(crds) {
		t.Errorf("deploy/helm/cairn/crds holds %d CRDs, controller-gen makes %d: run `make generate`", len(committed), len(crds))
	}
	for fresh, have := range pairs {
		want, err := os.ReadFile(fresh)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(have)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale (or missing): run `make generate`", have)
		}
	}
}
