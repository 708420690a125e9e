package agent_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// TestSelection backs up the same pods on the real node in opt-in mode
// (DefaultVolumesToBackup=false: only the volumes a pod lists in
// backup.velero.io/backup-volumes) and in default mode (every data volume
// but those listed in backup.velero.io/backup-volumes-excludes), and checks
// the work items and the repository's volume snapshots of each.
func TestSelection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	e.startAgent(ctx, t)
	ns := e.appNamespace(ctx, t)
	vol := e.localVolume(ctx, t, ns, "data", t.TempDir())
	e.runPod(ctx, t, ns, "optin", map[string]string{podvolume.AnnotationVolumes: "data, logs"},
		pvcVolume("data", vol.PVC), emptyDir("logs"), emptyDir("cache"))
	e.runPod(ctx, t, ns, "excl", map[string]string{podvolume.AnnotationExcludes: "tmp"},
		emptyDir("keep"), emptyDir("tmp"))

	for _, tc := range []struct {
		backup   string
		defaults *bool
		want     []string
	}{
		{"opt-in", ptr.To(false), []string{"optin/data", "optin/logs"}},
		{"default", nil, []string{"excl/keep", "optin/cache", "optin/data", "optin/logs"}},
	} {
		b, items := e.backup(ctx, t, tc.backup, tc.defaults, ns)
		if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != len(tc.want) || len(b.Status.Volumes.Missed) > 0 {
			t.Fatalf("backup %s: phase %s (%s), volumes %+v", tc.backup, b.Status.Phase, b.Status.FailureReason, b.Status.Volumes)
		}
		if got := keys(items); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("backup %s: work items for %v, want %v", tc.backup, got, tc.want)
		}
		for key, p := range items {
			// Each volume holds the one file its pod wrote.
			if p.Status.Phase != cairnv1.VolumeCompleted || p.Status.Progress.Files != 1 || p.Status.SnapshotID == "" {
				t.Errorf("backup %s: %s: %s (%s), %d files, snapshot %q", tc.backup, key, p.Status.Phase, p.Status.Message, p.Status.Progress.Files, p.Status.SnapshotID)
			}
		}
		// The repository holds exactly these volumes for the backup.
		all, err := snapshot.List(ctx, e.openRepo(ctx, t))
		must(t, err)
		f := snapshot.Filter{Label: map[string]string{podvolume.LabelKind: podvolume.KindPodVolume, podvolume.LabelBackup: tc.backup}}
		var inRepo []string
		for _, sn := range all {
			if f.Match(sn) {
				inRepo = append(inRepo, sn.Labels[podvolume.LabelPod]+"/"+sn.Labels[podvolume.LabelVolume])
			}
		}
		if got := keys(setOf(inRepo)); !reflect.DeepEqual(got, tc.want) || len(inRepo) != len(tc.want) {
			t.Errorf("backup %s: volume snapshots in the repository %v, want %v", tc.backup, inRepo, tc.want)
		}
		t.Logf("backup %s: volumes %v", tc.backup, keys(items))
	}
}

func setOf(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}
