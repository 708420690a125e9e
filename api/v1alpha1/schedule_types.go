package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScheduleSpec says when to back up and what.
type ScheduleSpec struct {
	// Schedule is a cron expression in UTC: five fields (minute hour
	// day-of-month month day-of-week, e.g. "0 0 * * *") or a descriptor
	// (@daily, @hourly, @weekly, @monthly, @yearly, @every 6h).
	// +kubebuilder:validation:MinLength=1
	Schedule string `json:"schedule"`

	// Template is the spec of each Backup the schedule creates; its ttl
	// sets how long they are kept.
	// +optional
	Template BackupSpec `json:"template,omitempty"`

	// Retention keeps the schedule's backups by the calendar
	// (grandfather-father-son) instead of one ttl: the first backup of a
	// day is kept keepDaily days, the first of an ISO week keepWeekly
	// weeks, the first of a month keepMonthly months, the first of a year
	// keepYearly years (the longest of those that apply); any other backup
	// is kept the minimum retention set at install, else a day. Each
	// backup's expiry is decided when it is created, so that object lock
	// protects it from its first byte; its label cairn.dev/retention-rule
	// and annotation cairn.dev/retention say which rule keeps it. Set
	// either retention or template.ttl. Periods are UTC.
	// +optional
	Retention *ScheduleRetention `json:"retention,omitempty"`

	// Paused stops new backups. On unpausing, at most one run missed while
	// paused is caught up (as after controller downtime), then the
	// schedule goes on.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// ScheduleRetention is a calendar retention policy (ScheduleSpec.Retention).
type ScheduleRetention struct {
	// KeepDaily: days the first backup of each day is kept.
	// +kubebuilder:validation:Minimum=0
	// +optional
	KeepDaily int32 `json:"keepDaily,omitempty"`
	// KeepWeekly: weeks the first backup of each ISO week is kept.
	// +kubebuilder:validation:Minimum=0
	// +optional
	KeepWeekly int32 `json:"keepWeekly,omitempty"`
	// KeepMonthly: months the first backup of each month is kept.
	// +kubebuilder:validation:Minimum=0
	// +optional
	KeepMonthly int32 `json:"keepMonthly,omitempty"`
	// KeepYearly: years the first backup of each year is kept.
	// +kubebuilder:validation:Minimum=0
	// +optional
	KeepYearly int32 `json:"keepYearly,omitempty"`
}

// SchedulePhase is the state of a Schedule.
type SchedulePhase string

// Phases of a Schedule.
const (
	// SchedulePhaseEnabled: backups are created on schedule.
	SchedulePhaseEnabled SchedulePhase = "Enabled"
	// SchedulePhasePaused: spec.paused is set.
	SchedulePhasePaused SchedulePhase = "Paused"
	// SchedulePhaseFailed: the schedule was rejected (bad cron expression,
	// retention outside the guardrails); the Ready condition says why.
	SchedulePhaseFailed SchedulePhase = "Failed"
)

// ScheduleStatus is what the controller observed.
type ScheduleStatus struct {
	// Phase: Enabled, Paused or Failed.
	// +optional
	Phase SchedulePhase `json:"phase,omitempty"`

	// LastBackup is the time of the last run (the scheduled time, not the
	// creation time of the Backup).
	// +optional
	LastBackup *metav1.Time `json:"lastBackup,omitempty"`

	// LastBackupName is the Backup created at the last run.
	// +optional
	LastBackupName string `json:"lastBackupName,omitempty"`

	// LastSuccessfulBackup is when the newest Completed backup of this
	// schedule completed.
	// +optional
	LastSuccessfulBackup *metav1.Time `json:"lastSuccessfulBackup,omitempty"`

	// LastSuccessfulBackupName is that backup.
	// +optional
	LastSuccessfulBackupName string `json:"lastSuccessfulBackupName,omitempty"`

	// NextRun is when the next backup is due.
	// +optional
	NextRun *metav1.Time `json:"nextRun,omitempty"`

	// Conditions: Ready, with a reason and a message.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Schedule creates Backups on a cron schedule.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.spec.paused`
// +kubebuilder:printcolumn:name="Last",type=date,JSONPath=`.status.lastBackup`
// +kubebuilder:printcolumn:name="Last-Success",type=date,JSONPath=`.status.lastSuccessfulBackup`
// +kubebuilder:printcolumn:name="Next",type=date,JSONPath=`.status.nextRun`
type Schedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ScheduleSpec   `json:"spec,omitempty"`
	Status ScheduleStatus `json:"status,omitempty"`
}

// ScheduleList is a list of Schedules.
//
// +kubebuilder:object:root=true
type ScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Schedule `json:"items"`
}

func init() { SchemeBuilder.Register(&Schedule{}, &ScheduleList{}) }
