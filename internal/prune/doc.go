// Package prune removes data no snapshot uses any more: packs whose blobs
// are all unreferenced are deleted, packs that are mostly unreferenced are
// rewritten (their live blobs copied, still encrypted, into new packs), the
// index is rewritten to match, and packs left behind by interrupted backups
// are removed.
//
// Nothing is rewritten in place: new packs and index files are written
// first, then old index files are deleted, then old packs. A crash at any
// point leaves a consistent repository. The caller must hold the
// repository's exclusive lock. Objects still under retention (object lock)
// are left in place and reported.
package prune
