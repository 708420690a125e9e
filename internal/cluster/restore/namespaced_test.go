package restore_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestNamespacedOnly restores a namespace's objects as a namespace owner's
// restore does: into an existing namespace, without any cluster-scoped
// object (the PV and storage class the claim needs are not in the report
// at all, not even as skipped, and a warning names them), and the claim without its volume name so that it
// binds to a new volume; into a namespace that does not exist nothing is
// created, the namespace included.
func TestNamespacedOnly(t *testing.T) {
	e := newEnv(t)
	src := e.namespace("nso-src")
	e.configMap(src, "settings", map[string]string{"k": "v"})
	_, pv := e.volume(src)
	sn := e.backup("nso-"+suffix(), src)

	dst := e.namespace("nso-dst")
	rep := e.restore(sn, restore.Options{
		IncludeNamespaces: []string{src}, NamespaceMapping: map[string]string{src: dst}, NamespacedOnly: true,
	}, nil)
	if rep.Phase != layout.PhaseCompleted {
		t.Fatalf("phase %s", rep.Phase)
	}
	wantAction(t, item(t, rep, "ConfigMap", dst, "settings"), restore.Created, "")
	wantAction(t, item(t, rep, "PersistentVolumeClaim", dst, "data"), restore.Created, "")
	for _, it := range rep.Items {
		if it.Namespace == "" {
			t.Errorf("cluster-scoped object restored: %+v", it)
		}
	}
	claim, err := e.cs.CoreV1().PersistentVolumeClaims(dst).Get(e.ctx, "data", metav1.GetOptions{})
	if err != nil || claim.Spec.VolumeName != "" {
		t.Fatalf("restored claim: volumeName %q, %v", claim.Spec.VolumeName, err)
	}
	warned := false
	for _, w := range rep.Warnings {
		warned = warned || (strings.Contains(w, "not restored by a namespace restore") && strings.Contains(w, pv))
	}
	if !warned {
		t.Errorf("no warning names the left-out PV %s: %v", pv, rep.Warnings)
	}

	missing := "nso-none-" + suffix()
	e.cleanupNamespace(missing)
	rep = e.restore(sn, restore.Options{
		IncludeNamespaces: []string{src}, NamespaceMapping: map[string]string{src: missing}, NamespacedOnly: true,
	}, restore.ErrFailed)
	if rep.Totals.Created != 0 {
		t.Errorf("created %d objects for a namespace that does not exist", rep.Totals.Created)
	}
	if _, err := e.cs.CoreV1().Namespaces().Get(e.ctx, missing, metav1.GetOptions{}); err == nil {
		t.Errorf("namespace %s was created", missing)
	}
}
