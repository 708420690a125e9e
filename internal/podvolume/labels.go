package podvolume

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Labels of a volume snapshot in the repository. Cluster backups carry
// cairn.dev/kind=cluster; volume snapshots carry KindPodVolume and the
// name of the backup they belong to, so that a restore finds them from the
// repository alone (a new cluster has no PodVolumeBackups).
const (
	LabelKind      = snapshot.LabelKind
	KindPodVolume  = "pod-volume"
	LabelBackup    = "cairn.dev/backup"
	LabelNamespace = "cairn.dev/namespace"
	LabelPod       = "cairn.dev/pod"
	LabelVolume    = "cairn.dev/volume"
	LabelPVC       = "cairn.dev/pvc"
	LabelOwner     = "cairn.dev/owner" // "<Kind>/<name>" of the pod's workload
)

// SnapshotLabels are the labels of the snapshot of one pod volume.
func SnapshotLabels(backup, namespace, pod, volume, pvc, owner string) map[string]string {
	l := map[string]string{
		LabelKind: KindPodVolume, LabelBackup: backup, LabelNamespace: namespace,
		LabelPod: pod, LabelVolume: volume, LabelOwner: owner,
	}
	if pvc != "" {
		l[LabelPVC] = pvc
	}
	return l
}

// ParentLabels are the labels a volume's previous snapshot matches: the
// same claim in the same namespace (pods come and go); for an emptyDir the
// same workload and volume name.
func ParentLabels(namespace, volume, pvc, owner string) map[string]string {
	if pvc != "" {
		return map[string]string{LabelKind: KindPodVolume, LabelNamespace: namespace, LabelPVC: pvc}
	}
	return map[string]string{LabelKind: KindPodVolume, LabelNamespace: namespace, LabelOwner: owner, LabelVolume: volume}
}

// Owner is the value of LabelOwner for pod: "<Kind>/<name>" of the
// workload that runs it (a Deployment for the pods of its ReplicaSets),
// "Pod/<name>" for a pod no controller owns. deploymentOf returns the
// Deployment that controls the named ReplicaSet of the pod's namespace,
// "" when none does or it is not known.
func Owner(pod *corev1.Pod, deploymentOf func(replicaSet string) string) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "Pod/" + pod.Name
	}
	if ref.Kind == "ReplicaSet" && deploymentOf != nil {
		if d := deploymentOf(ref.Name); d != "" {
			return "Deployment/" + d
		}
	}
	return ref.Kind + "/" + ref.Name
}
