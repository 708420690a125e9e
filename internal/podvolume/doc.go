// Package podvolume decides which volumes of which pods a backup copies,
// where the kubelet keeps each of them on its node, and how a restored pod
// is held until its data is back.
//
// Everything here is a pure function of API objects: no API calls, no
// file I/O. The controller uses it to plan a backup's PodVolumeBackups and
// to prepare restored pods; the node agent uses it to find a volume's
// folder under the kubelet's pods directory.
//
// Selection (the Velero conventions users already annotate pods with):
//   - default mode: every volume that holds data — PVC-backed and emptyDir —
//     except those listed in the pod's annotation
//     backup.velero.io/backup-volumes-excludes; secret, configMap,
//     projected, downwardAPI and service-account-token volumes hold no data
//     of their own and are never taken;
//   - opt-in mode: only the volumes the annotation
//     backup.velero.io/backup-volumes lists;
//   - hostPath volumes are never backed up, and the plan says so;
//   - a PVC mounted by several pods is backed up once;
//   - a pod that is not Running, or whose node has no agent, is reported
//     as missed, with the reason.
//
// Restore: a restored pod (or the pod template of a restored
// workload) gets an init container that waits until the node agent has
// written the volume's data and then a marker file named after the pod's
// UID (MarkerName); the init container removes the marker (or, when the
// pod's user may not, the agent does once the init container ended), so
// nothing of cairn stays in the user's volume. A StatefulSet's volumes from
// its volumeClaimTemplates (ClaimTemplates) are prepared like the others,
// and the controller keeps creating work items until each workload has as
// many pods as it runs (DesiredPods). The wait ends by itself at a
// deadline, so that pods the workload creates later start without waiting.
package podvolume
