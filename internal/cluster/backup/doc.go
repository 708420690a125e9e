// Package backup backs up a cluster's API resources into a repository as
// one snapshot, laid out as package layout says: one object per file under
// resources/, and manifest.json at the root.
//
// Run discovers the served resource types, lists them with paginated LISTs
// in parallel (a bounded number in flight), and streams each page into the
// repository: every object is cleaned of managedFields, written as one
// blob, and only a small entry (name, blob ID, size) is kept until its
// directory's tree is saved. Memory therefore grows with the number of
// objects by tens of bytes each, never with their size, and no list is held
// whole. Objects are stored exactly as the API server returned them (bar
// managedFields, plus apiVersion and kind), so a backup of an unchanged
// cluster writes the same blobs again and deduplicates to the manifest and
// a few trees.
//
// What is selected, what is never backed up and why, and how the
// cluster-scoped objects that namespaced objects need are added, is written
// down in docs/design/cluster-backup.md.
//
// The package reads the cluster and writes the repository; it never
// changes the cluster and never takes the repository lock (the caller
// does).
package backup
