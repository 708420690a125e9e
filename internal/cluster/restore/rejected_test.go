package restore_test

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/cluster/restore"
)

// TestRejected: an object the API server rejects is a failed item with the
// server's reason; the rest is restored and the error wraps ErrPartial.
func TestRejected(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace("rej")
	e.configMap(ns, "good", map[string]string{"k": "v"})
	e.configMap(ns, "bad", map[string]string{"k": "v"})
	sn := e.backup("rej-"+suffix(), ns)
	sn = e.rewriteObject(sn, layout.ObjectPath("", "configmaps", ns, "bad"), func(obj map[string]any) {
		obj["data"] = map[string]any{"not a valid key!": "v"}
	})
	e.deleteNamespace(ns)

	rep, err := restore.Run(e.ctx, e.r, sn, e.c.Config, restore.Options{})
	if !errors.Is(err, restore.ErrPartial) {
		t.Fatalf("error %v, want ErrPartial", err)
	}
	if rep.Phase != layout.PhasePartiallyFailed || rep.Totals.Failed != 1 {
		t.Fatalf("phase %s, totals %+v", rep.Phase, rep.Totals)
	}
	bad := item(t, rep, "ConfigMap", ns, "bad")
	if bad.Action != restore.Failed || !strings.Contains(bad.Reason, "not a valid key!") || !strings.Contains(bad.Reason, "Invalid value") {
		t.Fatalf("bad: %+v", bad)
	}
	wantAction(t, item(t, rep, "ConfigMap", ns, "good"), restore.Created, "")
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Get(e.ctx, "good", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
