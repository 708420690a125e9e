package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// A restore of namespace team-a into team-a-copy: a pod in team-a-copy
// that names team-a's workload gets its data; one whose annotation names
// team-b's workload (anyone who may create pods there can write it), or
// a pod in another namespace naming team-a, gets nothing, and team-b's
// snapshots are not even indexed.
func TestVolumeSourceNotTrustedAcrossNamespaces(t *testing.T) {
	snap := func(id, ns string) *snapshot.Snapshot {
		return &snapshot.Snapshot{ID: id, Labels: map[string]string{podvolume.LabelNamespace: ns, podvolume.LabelOwner: "Deployment/web", podvolume.LabelVolume: "data", podvolume.LabelPVC: "data"}}
	}
	rs := &cairnv1.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: cairnv1.RestoreSpec{
		IncludedNamespaces: []string{"team-a"}, NamespaceMapping: map[string]string{"team-a": "team-a-copy"}}}
	v := newVolumeRestore(rs, "main", "busybox", metav1.Now().Time, []*snapshot.Snapshot{snap("a1", "team-a"), snap("b1", "team-b")})
	if _, ok := v.byPVC["team-b/data"]; ok {
		t.Errorf("team-b's volume is indexed by a restore of team-a: %v", v.byPVC)
	}
	pod := func(ns, source string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Annotations: map[string]string{podvolume.AnnotationRestoreSource: source}}}
	}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want bool
	}{
		{pod("team-a-copy", "team-a/Deployment/web"), true},
		{pod("team-a-copy", "team-b/Deployment/web"), false},
		{pod("team-b", "team-a/Deployment/web"), false},
		{pod("team-a", "team-a/Deployment/web"), false}, // mapped away: team-a itself gets nothing
	} {
		if _, _, ok := v.sourceOf(tc.pod); ok != tc.want {
			t.Errorf("pod in %s naming %s: %v, want %v", tc.pod.Namespace, tc.pod.Annotations[podvolume.AnnotationRestoreSource], ok, tc.want)
		}
	}
	vol := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}
	if got := v.snapshotFor("team-a", "Deployment/web", vol); got != "a1" {
		t.Errorf("team-a's volume: %q, want a1", got)
	}
	if got := v.snapshotFor("team-b", "Deployment/web", vol); got != "" {
		t.Errorf("team-b's volume through a restore of team-a: %q", got)
	}
}
