// Package controller is cairn's in-cluster operation: one reconciler per
// custom resource of api/v1alpha1, run by controller-runtime.
//
//   - BackupReconciler runs a Backup (New → InProgress → Completed,
//     PartiallyFailed or Failed) with the same code as `cairn backup run`
//     (package cluster/backup), into the repository of its BackupLocation;
//     it deletes expired Backups, and a deleted Backup's snapshot is
//     forgotten in the repository (a finalizer).
//   - ScheduleReconciler creates Backups named <schedule>-<UTC
//     YYYYMMDDhhmmss> on a cron schedule: never two of one schedule at a
//     time, at most one missed run caught up after downtime.
//   - RestoreReconciler runs a Restore with the code of `cairn restore run`
//     (package cluster/restore); scheduleName picks the newest Completed
//     backup of that schedule.
//   - LocationReconciler checks that a BackupLocation's repository opens,
//     re-creates Backup objects for backups found in the repository but
//     missing in the cluster (so a fresh cluster can restore from the
//     bucket), and prunes data that forgotten backups alone used.
//
// Status lives in the custom resources only: nothing in the repository is
// rewritten to record it. The log of a backup (its warnings and errors) is
// the manifest the backup writes; `cairn ctl backup logs` reads it from the
// repository.
//
// Every status write goes through package statuspatch: what a run did (a
// Backup's or Restore's outcome, a location's sync) is an Outcome, a merge
// patch without resourceVersion that an edit of the object meanwhile
// cannot make fail; a step decided from a read (New → InProgress,
// InProgress → Failed because nothing runs it, expired → Deleting, a
// Schedule's next run) is a Transition, which fails with a Conflict when
// the read was stale so that the next reconcile decides again.
//
// With object lock, a Backup's objects are retained from the PUT that
// writes them (repo.RetainNew before backup.Run, snapshot.Retain after;
// docs/design/object-lock.md).
//
// Retention guardrails (Options.Retention: Min, Max) are enforced
// here, in reconcile: a Backup or Schedule whose ttl is outside them ends
// in phase Failed with a message saying the allowed range. (A validating
// webhook would reject it at creation; it is not part of this package.)
//
// Reconcilers are short and idempotent, take their clock from
// Options.Clock, and log through logr. They never log a passphrase or a
// credential. The package does not import the CLI, and the CLI does not
// import it.
package controller
