// Package statuspatch writes the status of cairn's objects (Backups,
// Restores, work items) so that no write is lost to a concurrent edit.
//
// There are two kinds of status writes, and each has its function:
//
//   - Outcome records what work did (a backup finished, its snapshot ID,
//     counts, progress). The work is done whatever else changed meanwhile,
//     so the write must land: it is a JSON merge patch of the status
//     subresource carrying only the fields that changed and no
//     resourceVersion, so an edit of labels, annotations or spec during an
//     hours-long run cannot make it fail with a Conflict. Transient API
//     errors are retried.
//   - Transition is a decision taken from a read (New → InProgress,
//     InProgress → Failed because no one runs it, Completed → Deleting). It
//     is right only if the read was current, so it carries the
//     resourceVersion read (optimistic lock): a Conflict means "read again
//     and decide again", and the caller returns it so the work queue does
//     exactly that.
//
// The package knows nothing about cairn's types; it must not read or
// decide anything itself.
package statuspatch
