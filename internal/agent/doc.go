// Package agent is cairn's node agent: it runs on every node (a DaemonSet)
// and does the per-volume work items the controller creates for pods on
// its own node only.
//
//   - PodVolumeBackup: find the pod's volume under the kubelet's pods
//     directory (podvolume.Dir), back it up with the archiver straight to
//     the BackupLocation's repository, incremental against the newest
//     snapshot of the same PVC (or, for an emptyDir, of the same workload's
//     volume), with progress in the status. A work item found InProgress
//     that this process did not start (the agent was killed) is marked
//     Failed: a snapshot is saved only at the end, so nothing half-written
//     is ever referenced, and the next backup starts afresh.
//   - PodVolumeRestore: wait until the kubelet has mounted the restored
//     pod's volume, restore the snapshot into it with the restorer's rule
//     (same-named files overwritten, other files kept), then write the
//     marker file the pod's restore-wait init container waits for and
//     removes (podvolume.MarkerName). The marker was chosen over an init
//     container that polls the API: it needs no token, no RBAC and no
//     network in the user's pod, and leaves nothing behind once the pod
//     starts.
//
// The agent also renews a Lease named cairn-agent-<node> in the
// controller's namespace, by which the controller knows which nodes have
// an agent. It never changes pods, claims or volumes through the API.
package agent
