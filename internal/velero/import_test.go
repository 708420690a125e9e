package velero

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// These tests check the import's rules on small tarballs made here; that
// the import reads what the real Velero writes is TestRealVelero's job.

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func putBackup(t *testing.T, s *mem.Mem, name, phase string, files ...string) {
	t.Helper()
	putBackupUID(t, s, name, "uid-"+name, phase, files...)
}

func putBackupUID(t *testing.T, s *mem.Mem, name, uid, phase string, files ...string) {
	t.Helper()
	meta := fmt.Sprintf(`{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":%q,"namespace":"velero","uid":%q,
		"labels":{"velero.io/schedule-name":"daily","team":"a"}},
		"spec":{"includedNamespaces":["shop"],"excludedResources":["events"],"ttl":"720h0m0s"},
		"status":{"phase":%q,"failureReason":"boom","startTimestamp":"2026-11-30T00:00:00Z","completionTimestamp":"2026-11-30T00:01:00Z",
		"expiration":"2026-12-30T00:00:00Z","formatVersion":"1.1.0"}}`, name, uid, phase)
	ctx := context.Background()
	if err := s.Put(ctx, metadataKey(name), []byte(meta)); err != nil {
		t.Fatal(err)
	}
	if files != nil {
		if err := s.Put(ctx, contentsKey(name), tarball(t, files...)); err != nil {
			t.Fatal(err)
		}
	}
}

func newRepo(t *testing.T) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), mem.New(), []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func TestImportRules(t *testing.T) {
	ctx := context.Background()
	cm := func(name string) string {
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"shop","managedFields":[{}]}}`, name)
	}
	bsl := mem.New()
	putBackup(t, bsl, "ok", PhaseCompleted, "metadata/version", "1.1.0", "resources/configmaps/namespaces/shop/a.json", cm("a"),
		"resources/configmaps/v1-preferredversion/namespaces/shop/a.json", cm("a"),
		"resources/secrets/namespaces/shop/tok.json", `{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token","metadata":{"name":"tok","namespace":"shop"}}`)
	var pvb bytes.Buffer
	zw := gzip.NewWriter(&pvb)
	zw.Write([]byte(`[{"metadata":{"name":"ok-x1"},"spec":{"pod":{"namespace":"shop","name":"web-0"},"volume":"data","uploaderType":"kopia"},
		"status":{"phase":"Completed","snapshotID":"k123"}}]`))
	zw.Close()
	if err := bsl.Put(ctx, podVolumesKey("ok"), pvb.Bytes()); err != nil {
		t.Fatal(err)
	}
	putBackup(t, bsl, "partial", PhasePartiallyFailed, "metadata/version", "1.1.0", "resources/configmaps/namespaces/shop/b.json", cm("b"))
	putBackup(t, bsl, "failed", PhaseFailed)
	putBackup(t, bsl, "running", "InProgress")
	loc := NewLocation(bsl)
	r := newRepo(t)
	opts := Options{Now: func() time.Time { return now }}

	for _, name := range []string{"nope", "../ok", "OK", ""} {
		if _, err := Import(ctx, r, loc, Options{Names: []string{"ok", name}}); !errors.Is(err, ErrNoBackup) {
			t.Fatalf("backup %q: %v, want ErrNoBackup", name, err)
		}
	}
	if all, _ := backup.List(ctx, r); len(all) != 0 {
		t.Fatalf("a bad name imported %d backups; want none", len(all))
	}
	rep, err := Import(ctx, r, loc, Options{CompletedOnly: true, Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ok": Imported, "partial": Skipped, "failed": Skipped, "running": Skipped}
	for _, res := range rep.Results {
		// Velero's kopia repository is not in this location: the volume is
		// named with the reason, its pod's objects imported.
		if res.Name == "ok" && (len(res.Volumes) != 1 || res.Volumes[0].String() != "shop/web-0 volume data" ||
			res.Volumes[0].Outcome != VolumeNotImported || !strings.Contains(res.Volumes[0].Reason, "not a kopia repository") ||
			!strings.Contains(strings.Join(res.Warnings, "\n"), "shop/web-0 volume data (PodVolumeBackup ok-x1): data not imported: the kopia repository mem/kopia/shop/ cannot be read")) {
			t.Errorf("volumes of ok: %+v, warnings %q", res.Volumes, res.Warnings)
		}
		if want[res.Name] != res.Outcome {
			t.Errorf("%s: %s (%s), want %s", res.Name, res.Outcome, res.Reason, want[res.Name])
		}
	}
	rep, err = Import(ctx, r, loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"ok": AlreadyImported, "partial": Imported, "failed": Imported, "running": Skipped}
	for _, res := range rep.Results {
		if want[res.Name] != res.Outcome {
			t.Errorf("second run: %s: %s (%s), want %s", res.Name, res.Outcome, res.Reason, want[res.Name])
		}
	}

	sn, err := backup.Find(ctx, r, "ok")
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.LoadManifest(ctx, r, sn)
	if err != nil {
		t.Fatal(err)
	}
	if m.Items != 1 || m.Phase != layout.PhasePartiallyFailed || m.Source == nil || m.Source.UID != "uid-ok" ||
		m.Selection.IncludeNamespaces[0] != "shop" || m.Selection.ExcludeResources[0] != "events" || m.TTL != "720h0m0s" ||
		m.Labels["team"] != "a" || !m.Start.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("manifest %+v", m)
	}
	if sn.Expires == nil || !sn.Expires.Equal(time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)) || sn.Labels[layout.LabelSchedule] != "daily" {
		t.Fatalf("snapshot expires %v, labels %v", sn.Expires, sn.Labels)
	}
	data, err := backup.ReadFile(ctx, r, sn, layout.ObjectPath("", "configmaps", "shop", "a"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"shop"}}` {
		t.Fatalf("stored object %s", data)
	}
	for name, phase := range map[string]string{"partial": layout.PhasePartiallyFailed, "failed": layout.PhaseFailed} {
		sn, err := backup.Find(ctx, r, name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := backup.LoadManifest(ctx, r, sn)
		if err != nil {
			t.Fatal(err)
		}
		if m.Phase != phase || len(m.Errors) == 0 || m.Source.FailureReason != "boom" {
			t.Errorf("%s: phase %s, errors %v", name, m.Phase, m.Errors)
		}
	}

	// Another backup of the same name (another UID: another cluster's,
	// or one cairn made) is not replaced: its import fails, exit 1.
	other := mem.New()
	putBackupUID(t, other, "ok", "uid-other", PhaseCompleted, "metadata/version", "1.1.0")
	rep, err = Import(ctx, r, NewLocation(other), Options{Names: []string{"ok"}, Now: opts.Now})
	if err == nil || errors.Is(err, ErrPartial) || rep.Results[0].Outcome != Failed {
		t.Fatalf("same name, other UID: %v %+v", err, rep)
	}

	// Expired backups are not imported.
	late := Options{Now: func() time.Time { return now.AddDate(0, 2, 0) }}
	rep, err = Import(ctx, newRepo(t), loc, late)
	if err != nil || rep.Count(Imported) != 0 {
		t.Fatalf("expired: %v %+v", err, rep)
	}
}

// TestSnapshotVolumesNamed: claims Velero kept by a CSI snapshot, by its
// data mover or by a native snapshot (its volume information file) are
// named with the reason their data is not imported; the backup is
// PartiallyFailed, their objects imported. A skipped volume and one backed
// up from the file system are not among them.
func TestSnapshotVolumesNamed(t *testing.T) {
	ctx := context.Background()
	bsl := mem.New()
	putBackup(t, bsl, "snaps", PhaseCompleted, "metadata/version", "1.1.0",
		"resources/persistentvolumeclaims/namespaces/shop/db.json", `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"db","namespace":"shop"}}`)
	var info bytes.Buffer
	zw := gzip.NewWriter(&info)
	zw.Write([]byte(`[
		{"pvcName":"db","pvcNamespace":"shop","pvName":"pv-db","backupMethod":"CSISnapshot","snapshotDataMoved":false,"result":"succeeded",
		 "csiSnapshotInfo":{"snapshotHandle":"snap-1","driver":"ebs.csi.aws.com","vscName":"vsc-1"}},
		{"pvcName":"logs","pvcNamespace":"shop","pvName":"pv-logs","backupMethod":"CSISnapshot","snapshotDataMoved":true,
		 "csiSnapshotInfo":{"snapshotHandle":"snap-2","driver":"ebs.csi.aws.com"},"snapshotDataMovementInfo":{"dataMover":"velero","uploaderType":"kopia","snapshotHandle":"k9"}},
		{"pvcName":"old","pvcNamespace":"shop","pvName":"pv-old","backupMethod":"NativeSnapshot","nativeSnapshotInfo":{"snapshotHandle":"vol-snap-3"}},
		{"pvcName":"web","pvcNamespace":"shop","backupMethod":"PodVolumeBackup","pvbInfo":{"snapshotHandle":"k1","uploaderType":"kopia"}},
		{"pvcName":"tmp","pvcNamespace":"shop","skipped":true,"skippedReason":"opted out"}]`))
	zw.Close()
	if err := bsl.Put(ctx, volumeInfoKey("snaps"), info.Bytes()); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	rep, err := Import(ctx, r, NewLocation(bsl), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Outcome != Imported {
		t.Fatalf("results %+v", rep.Results)
	}
	res := rep.Results[0]
	want := map[string]string{
		"db":   "kept it as a CSI snapshot (driver ebs.csi.aws.com, handle snap-1) in the storage system",
		"logs": "data mover moved its CSI snapshot's data into the bucket (snapshot k9)",
		"old":  "snapshot of the cloud provider's volume (vol-snap-3)",
	}
	if len(res.Volumes) != len(want) {
		t.Fatalf("volumes %+v, want %d", res.Volumes, len(want))
	}
	for _, v := range res.Volumes {
		if v.Outcome != VolumeNotImported || v.PodNamespace != "shop" || !strings.Contains(v.Reason, want[v.Claim]) || want[v.Claim] == "" {
			t.Errorf("volume %+v: want not imported, reason with %q", v, want[v.Claim])
		}
	}
	warn := strings.Join(res.Warnings, "\n")
	if !strings.Contains(warn, "velero: claim shop/db: data not imported: Velero kept it as a CSI snapshot") {
		t.Errorf("warnings %q", warn)
	}
	sn, err := backup.Find(ctx, r, "snaps")
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.LoadManifest(ctx, r, sn)
	if err != nil {
		t.Fatal(err)
	}
	if m.Items != 1 || m.Phase != layout.PhasePartiallyFailed || !strings.Contains(strings.Join(m.Errors, "\n"), "the data of 3 of the 3 volumes") {
		t.Fatalf("manifest: items %d, phase %s, errors %q", m.Items, m.Phase, m.Errors)
	}
}
