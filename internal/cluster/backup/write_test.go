package backup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// TestWriter writes a backup from objects given one by one and reads it
// back as any backup: the tree, the manifest's counts, the labels.
func TestWriter(t *testing.T) {
	ctx := context.Background()
	r, err := repo.Init(ctx, mem.New(), []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	w, err := backup.NewWriter(ctx, r, "imported", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cm := layout.Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}
	ns := layout.Resource{Version: "v1", Resource: "namespaces", Kind: "Namespace"}
	sec := layout.Resource{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true}
	for _, c := range []struct {
		res    layout.Resource
		data   string
		stored bool
		bad    bool
	}{
		{cm, `{"metadata":{"name":"a","namespace":"shop","managedFields":[{}]},"data":{"k":"v"}}`, true, false},
		{cm, `{"metadata":{"name":"a","namespace":"shop"}}`, false, false}, // the same object again
		{ns, `{"metadata":{"name":"shop"}}`, true, false},
		{sec, `{"metadata":{"name":"tok","namespace":"shop"},"type":"kubernetes.io/service-account-token"}`, false, false},
		{cm, `{"metadata":{"namespace":"shop"}}`, false, true},
		{cm, `[1]`, false, true},
		{layout.Resource{Version: "v2", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}, `{"metadata":{"name":"b","namespace":"shop"}}`, false, true},
	} {
		stored, err := w.Add(ctx, c.res, []byte(c.data))
		if stored != c.stored || (err != nil) != c.bad || err != nil && !errors.Is(err, backup.ErrBadObject) {
			t.Errorf("Add %s: stored %v, %v; want %v, bad %v", c.data, stored, err, c.stored, c.bad)
		}
	}
	exp := start.Add(720 * time.Hour)
	sn, err := w.Save(ctx, &layout.Manifest{Start: start, Expires: &exp, Phase: layout.PhasePartiallyFailed}, map[string]string{"x": "y"})
	if err != nil {
		t.Fatal(err)
	}
	found, err := backup.Find(ctx, r, "imported")
	if err != nil || found.ID != sn.ID || !sn.Time.Equal(start) || !sn.Expires.Equal(exp) || sn.Labels["x"] != "y" || !backup.IsCluster(sn) {
		t.Fatalf("snapshot %+v, find %v", sn, err)
	}
	m, err := backup.LoadManifest(ctx, r, sn)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "imported" || m.Items != 2 || m.CountsByNamespace["shop"] != 1 || m.CountsByNamespace[""] != 1 ||
		len(m.Resources) != 2 || m.Phase != layout.PhasePartiallyFailed || len(m.Warnings) != 1 {
		t.Fatalf("manifest %+v", m)
	}
	data, err := backup.ReadFile(ctx, r, sn, layout.ObjectPath("", "configmaps", "shop", "a"))
	if err != nil || string(data) != `{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"a","namespace":"shop"}}` {
		t.Fatalf("object %s, %v", data, err)
	}
	if _, err := backup.NewWriter(ctx, r, "imported", time.Now); !errors.Is(err, backup.ErrExists) {
		t.Fatalf("second writer of the same name: %v, want ErrExists", err)
	}
}
