// Package restore creates the Kubernetes objects of a cluster backup (a
// snapshot in the layout of package layout) in a cluster, under the
// disaster-recovery rule of docs/design/cluster-restore.md: an object that exists is never changed unless the
// caller opts in (Options.ExistingResourcePolicy = PolicyUpdate).
//
// Run reads the snapshot's tree, selects objects (namespaces, resources,
// label selector), and creates them group by group in a dependency order:
// CRDs (then waits until they are Established and served), namespaces,
// storage classes, persistent volumes and claims, service accounts, RBAC,
// secrets, config maps, limits and quotas, services, workloads from the top
// owners down, and everything else. Objects of one group are created in
// parallel; a group starts when the one before it is done. Objects that a
// restored controller re-creates (a Deployment's ReplicaSets, a ReplicaSet's
// Pods, …) are skipped, so nothing is duplicated or fought over. Every
// object is cleaned of the fields the API server sets, moved by the
// namespace mapping, labelled with the backup and restore names, and its
// owner references are pointed at the new owners' UIDs. The order and every
// removed field are written down, with the reasons, in
// docs/design/cluster-restore.md.
//
// The result is a Report with one Item per object (created, skipped and
// why, failed with the API server's reason, updated) and totals. An object
// the API server rejects does not stop the restore; Run then returns an
// error wrapping ErrPartial.
//
// The package talks to the API server with the dynamic client and reads the
// repository; it never writes to the repository and knows nothing of the
// CLI. Backup is package backup; the snapshot layout is package layout.
package restore
