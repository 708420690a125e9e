package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelDrill names the RestoreTest whose drill made a namespace or a
// Restore. Drill namespaces also carry the opt-out label: they are never
// backed up.
const LabelDrill = "cairn.dev/drill"

// RestoreTestSpec says which backup a restore drill restores, and when.
type RestoreTestSpec struct {
	// ScheduleName: the newest Completed backup of this Schedule is
	// restored (at each run, for a recurring drill).
	// +optional
	ScheduleName string `json:"scheduleName,omitempty"`
	// BackupName: this Backup is restored instead.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// Schedule makes the drill recurring: a cron expression in UTC, as a
	// Schedule's. Empty: the drill runs once.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// ReadyTimeout bounds the wait for the restored pods to become Ready
	// (default 10m).
	// +optional
	ReadyTimeout *metav1.Duration `json:"readyTimeout,omitempty"`
}

// DrillCheck is one check of a drill's restore.
type DrillCheck struct {
	// Name: restore, objects, volumes or pods.
	Name string `json:"name"`
	// Passed says whether the check held.
	Passed bool `json:"passed"`
	// Message says what was compared, and what differed.
	// +optional
	Message string `json:"message,omitempty"`
}

// RestoreTestStatus is the last drill's outcome.
type RestoreTestStatus struct {
	// Phase of the last run: New, InProgress, Completed (every check
	// held) or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// FailureReason says which checks failed and why.
	// +optional
	FailureReason string `json:"failureReason,omitempty"`
	// BackupName is the Backup the last run restored.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// RestoreName is the Restore the last run made.
	// +optional
	RestoreName string `json:"restoreName,omitempty"`
	// Namespaces are the scratch namespaces of the last run
	// ("<namespace>-drill-<id>"), deleted once it ended.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// StartTimestamp and CompletionTimestamp bound the last run.
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// +optional
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`
	// Duration is the measured recovery time of the last run: from the
	// start of the restore until its objects, volumes and pods were back.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// Checks are the last run's checks.
	// +optional
	Checks []DrillCheck `json:"checks,omitempty"`
	// LastRun is when the last run was due (recurring drills).
	// +optional
	LastRun *metav1.Time `json:"lastRun,omitempty"`
	// LastSuccessfulRun is when the last run that passed every check
	// ended.
	// +optional
	LastSuccessfulRun *metav1.Time `json:"lastSuccessfulRun,omitempty"`
	// NextRun is when the next run is due (recurring drills).
	// +optional
	NextRun *metav1.Time `json:"nextRun,omitempty"`
	// Conditions: Ready, with a reason and a message.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RestoreTest is a restore drill: it restores a Backup into scratch
// namespaces, checks that the objects, the volume data and the pods are
// back, records how long that took (the measured recovery time), and
// deletes the scratch namespaces. It never touches the backup's own
// namespaces, nor cluster-scoped objects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn,shortName=drill
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.status.backupName`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.duration`
// +kubebuilder:printcolumn:name="Last-Success",type=date,JSONPath=`.status.lastSuccessfulRun`
type RestoreTest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RestoreTestSpec   `json:"spec,omitempty"`
	Status RestoreTestStatus `json:"status,omitempty"`
}

// RestoreTestList is a list of RestoreTests.
//
// +kubebuilder:object:root=true
type RestoreTestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RestoreTest `json:"items"`
}

func init() { SchemeBuilder.Register(&RestoreTest{}, &RestoreTestList{}) }
