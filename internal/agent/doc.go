// Package agent is cairn's node agent: it runs on every node (a DaemonSet)
// and does the per-volume work items the controller creates for pods on
// its own node only.
//
//   - PodVolumeBackup: find the pod's volume under the kubelet's pods
//     directory (podvolume.Dir), back it up with the archiver straight to
//     the BackupLocation's repository, incremental against the newest
//     snapshot of the same PVC (or, for an emptyDir, of the same workload's
//     volume), with progress in the status. A work item found InProgress
//     that this process did not start (the agent was killed) is backed up
//     again (status.attempts, at most MaxVolumeAttempts runs, then Failed):
//     a snapshot is saved only at the end, so nothing half-written is ever
//     referenced, and the new run reads the volume afresh.
//   - PodVolumeRestore: wait until the kubelet has mounted the restored
//     pod's volume, restore the snapshot into it with the restorer's rule
//     (same-named files overwritten, other files kept), then write the
//     marker file the pod's restore-wait init container waits for and
//     removes (podvolume.MarkerName). The marker was chosen over an init
//     container that polls the API: it needs no token, no RBAC and no
//     network in the user's pod, and leaves nothing behind once the pod
//     starts (a pod whose user cannot remove it: the agent removes it once
//     the init container ended). The user's pods may write into the
//     volume, so the marker is created relative to the volume folder's
//     descriptor with O_CREAT|O_EXCL|O_NOFOLLOW: a symlink planted at its
//     name is refused, never followed (writeMarker). It is written only
//     after the restore returned, and the restorer fsyncs every file and
//     folder it wrote before it returns: a released pod starts on data
//     that is on disk. Backups leave out the markers of the volume's top
//     folder only; a user's file of such a name deeper down is data. The
//     restore holds the repository's shared lock and stops when it is
//     lost (withLockedRepo). A work item with spec.dataFrom belongs to
//     a claim that another restored pod mounts too: it waits until that
//     item finished and only releases its pod (or writes the data itself
//     when that item failed), so a shared claim is written once.
//   - Late pods: a restored workload keeps the restore-wait init container
//     in its template, so a pod it makes after the Restore ended (a
//     replacement, a scale-up) would wait for the deadline. The agent
//     releases such pods on its node at once (releaseLate).
//
// Work items are reconciled 2×Concurrency at a time, but only Concurrency
// of them read or write volume data at once: the API reads and status
// writes of the others overlap it. Each BackupLocation's repository stays
// open between work items (location.Pool: brought up to date under the
// lock with repo.Refresh, closed after a minute unused), and the
// snapshots read to find parents are cached (snapshot.Cache), so an
// incremental backup of many small volumes costs little more than one
// backup of all of them.
//
// The agent also renews a Lease named cairn-agent-<node> in the
// controller's namespace, by which the controller knows which nodes have
// an agent. It never changes pods, claims or volumes through the API.
package agent
