// Package layout is the contract between cluster backup and cluster
// restore: where each Kubernetes object lives inside a snapshot's tree and
// what the backup manifest records. It is documented in
// docs/design/cluster-backup.md (§2, §6) and must change only compatibly.
//
//	manifest.json                                           the Manifest below
//	resources/<group>/<resource>/namespaces/<ns>/<name>.json  a namespaced object
//	resources/<group>/<resource>/cluster/<name>.json          a cluster-scoped object
//
// <group> is the API group, "core" for the legacy group; each object's JSON
// carries its apiVersion and kind. Objects are stored as the API server
// returned them (managedFields removed); cleaning happens at restore.
package layout
