package v1alpha1

// Labels the controller sets on the objects it creates, and reads.
const (
	// LabelSchedule names the Schedule that created a Backup.
	LabelSchedule = "cairn.dev/schedule"
	// LabelLocation names the BackupLocation a Backup is stored in.
	LabelLocation = "cairn.dev/location"
	// LabelSynced marks a Backup that the controller re-created from the
	// repository (bucket sync) rather than one that ran in this cluster.
	LabelSynced = "cairn.dev/synced"
	// LabelRetentionRule names the rule of its Schedule's calendar
	// retention that keeps a Backup: daily, weekly, monthly, yearly or
	// none (kept the minimum only).
	LabelRetentionRule = "cairn.dev/retention-rule"
	// AnnotationRetention says, for people, which rule keeps a Backup and
	// until when.
	AnnotationRetention = "cairn.dev/retention"
)

// Phase is where a Backup or a Restore is in its life.
type Phase string

// Phases of Backups and Restores (Velero's names).
const (
	// PhaseNew: created, not yet seen by the controller.
	PhaseNew Phase = "New"
	// PhaseInProgress: running: a Backup's resources are being saved (its
	// snapshot does not exist yet); a Restore's objects are being created.
	PhaseInProgress Phase = "InProgress"
	// PhaseWaitingForVolumes: a Backup's snapshot is saved
	// (status.snapshotID) or a Restore's objects are created, and the node
	// agents' pod volume work items are being waited for.
	PhaseWaitingForVolumes Phase = "WaitingForVolumes"
	// PhaseCompleted: done, everything selected was handled.
	PhaseCompleted Phase = "Completed"
	// PhasePartiallyFailed: done, but parts failed; status.failureReason
	// says which and why.
	PhasePartiallyFailed Phase = "PartiallyFailed"
	// PhaseFailed: nothing usable was produced, or the object was rejected
	// (invalid spec, retention outside the guardrails, location missing);
	// status.failureReason says why.
	PhaseFailed Phase = "Failed"
	// PhaseDeleting: the backup expired or was deleted; its snapshot is
	// being forgotten in the repository (Backup only).
	PhaseDeleting Phase = "Deleting"
)

// Running reports whether p is a phase of a run that has started and not
// ended (InProgress or WaitingForVolumes).
func (p Phase) Running() bool {
	return p == PhaseInProgress || p == PhaseWaitingForVolumes
}

// Finished reports whether p is a final phase of a run.
func (p Phase) Finished() bool {
	return p == PhaseCompleted || p == PhasePartiallyFailed || p == PhaseFailed
}

// Condition types.
const (
	// ConditionReady on a Backup or Restore: True when it completed, False
	// with the reason otherwise. On a BackupLocation: the repository can
	// be opened. On a Schedule: the schedule is valid and not paused.
	ConditionReady = "Ready"
)

// Condition reasons (CamelCase, for machines; the message is for people).
const (
	ReasonCompleted        = "Completed"
	ReasonInProgress       = "InProgress"
	ReasonPartiallyFailed  = "PartiallyFailed"
	ReasonFailed           = "Failed"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonRetention        = "RetentionOutsideGuardrails"
	ReasonLocation         = "LocationUnavailable"
	ReasonBackupNotFound   = "BackupNotFound"
	ReasonReadOnlyLocation = "ReadOnlyLocation"
	ReasonPaused           = "Paused"
	ReasonAvailable        = "Available"
	ReasonExpired          = "Expired"
	ReasonInterrupted      = "Interrupted"
	ReasonWaitingForVolume = "WaitingForVolumes"
	ReasonResumed          = "Resumed"
)

// Bounds on resuming work a killed process left unfinished: a run that
// kills its process each time (say, out of memory) ends Failed instead of
// looping.
const (
	// MaxRestoreAttempts bounds the runs of one Restore.
	MaxRestoreAttempts = 3
	// MaxVolumeAttempts bounds the agent's runs of one work item.
	MaxVolumeAttempts = 3
)
