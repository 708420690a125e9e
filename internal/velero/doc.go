// Package velero reads the backups that Velero wrote to a backup storage
// location (a bucket and prefix, the BackupStorageLocation's objectStorage)
// and imports them into a repository as cairn cluster backups, so that the
// backups a cluster already has are kept when it moves from Velero to
// cairn and restore like cairn's own.
//
// What it reads, per backup <name> under the location's prefix (facts of
// Velero's public bucket layout, format 1.x; see docs/migrate-from-velero.md):
//
//	backups/<name>/velero-backup.json   the Backup object: spec and status
//	backups/<name>/<name>.tar.gz        the resources, a gzipped tar:
//	  metadata/version                                   the format version ("1.1.0")
//	  resources/<resource>.<group>/namespaces/<ns>/<name>.json  a namespaced object (preferred version)
//	  resources/<resource>.<group>/cluster/<name>.json          a cluster-scoped object
//	  resources/<resource>.<group>/<version>-preferredversion/…  the same, under its version
//	  resources/<resource>.<group>/<version>/…                   other versions (EnableAPIGroupVersions)
//
// The core group has no ".<group>" suffix (resources/pods/…). Each backup
// is streamed: the tarball is decompressed and read entry by entry and
// every object goes straight into the repository through
// backup.Writer, which writes the same trees and manifest as a backup of
// a live cluster (package layout); nothing is held whole in memory.
//
// The location is only read: the package asks its store for Get and List,
// nothing else. Importing is idempotent: a backup already imported (same
// name, label layout.LabelImportedFrom, same Velero UID) is left as it is,
// and blobs dedup against everything the repository holds.
//
// The package does not touch a cluster and does not take the repository
// lock (the caller does). Volume data (Velero's file-system backups,
// listed in backups/<name>/<name>-podvolumebackups.json.gz) is read from
// Velero's kopia repository of the pod's namespace (kopia/<namespace>/,
// package kopia), with the passwords given and then Velero's static
// default (DefaultRepoPassword, reported as a finding when it opens one),
// and written into pod-volume snapshots labelled as the node agent labels
// its own (podvolume.SnapshotLabels), before the backup is saved. A
// volume that cannot be read (restic, wrong password, unsupported format,
// missing data) is named with the reason in the result and the
// manifest's warnings; its pod's objects are imported all the same.
package velero
