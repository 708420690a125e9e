// Package prune removes data no snapshot uses any more: packs whose blobs
// are all unreferenced are deleted, packs that are mostly unreferenced are
// rewritten (their live blobs copied, still encrypted, into new packs), and
// the index is rewritten to match. Packs no index names (left behind by
// interrupted backups) are read from their headers, and deleted only when
// no snapshot uses them and they are older than a lock's stale window (a
// backup still running may have written them).
//
// A prune is two steps under one exclusive lock: NewPlan reads the index,
// the snapshots and the store's listing and decides, writing nothing (a dry
// run is its Plan.Report); Execute carries the plan out. Run does both.
//
// Prune deletes only on complete knowledge: an index or snapshot file that
// cannot be read, or a blob a snapshot uses that no index names, makes it
// refuse (ErrUnsafe) before it deletes anything.
//
// Nothing is rewritten in place: new packs and index files are written
// first (the new index files supersede the old ones), then old index files
// are deleted, then old packs. A crash at any point leaves a consistent
// repository. The caller must hold the repository's exclusive lock. Objects
// still under retention (object lock) are left in place and reported.
package prune
