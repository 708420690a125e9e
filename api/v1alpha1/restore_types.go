package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestoreSpec says which backup to restore and what of it. The selection
// fields mean what the flags of `cairn restore run` mean. Exactly one of
// backupName and scheduleName is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.backupName) != has(self.scheduleName)",message="set exactly one of backupName and scheduleName"
type RestoreSpec struct {
	// BackupName is the Backup (in the controller's namespace) to restore.
	// +optional
	BackupName string `json:"backupName,omitempty"`

	// ScheduleName picks the newest Completed Backup of that Schedule
	// (Velero's --from-schedule).
	// +optional
	ScheduleName string `json:"scheduleName,omitempty"`

	// IncludedNamespaces are glob patterns of the backup's namespaces to
	// restore; empty means all.
	// +optional
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`

	// ExcludedNamespaces are glob patterns of namespaces not to restore.
	// +optional
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`

	// IncludedResources names the resource types to restore: plural
	// ("configmaps"), plural.group ("deployments.apps"), a kind
	// ("ConfigMap") or "*". Empty means all.
	// +optional
	IncludedResources []string `json:"includedResources,omitempty"`

	// ExcludedResources names resource types not to restore.
	// +optional
	ExcludedResources []string `json:"excludedResources,omitempty"`

	// LabelSelector restores only objects matching it (kubectl syntax).
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`

	// IncludeClusterResources: "auto" (default: all cluster-scoped objects
	// unless a namespace filter is set), "true" or "false".
	// +kubebuilder:validation:Enum=auto;"true";"false"
	// +optional
	IncludeClusterResources string `json:"includeClusterResources,omitempty"`

	// NamespaceMapping restores the objects of namespace KEY into
	// namespace VALUE.
	// +optional
	NamespaceMapping map[string]string `json:"namespaceMapping,omitempty"`

	// ExistingResourcePolicy: "none" (default) never changes an object that
	// exists (disaster recovery: delete it first to restore it); "update"
	// patches differing objects with the backup's fields.
	// +kubebuilder:validation:Enum=none;update
	// +optional
	ExistingResourcePolicy string `json:"existingResourcePolicy,omitempty"`

	// PreserveNodePorts keeps the node ports of services (they may
	// collide; dropped by default).
	// +optional
	PreserveNodePorts bool `json:"preserveNodePorts,omitempty"`

	// RunAs makes the controller create (and read, and update) every
	// object impersonating this user: RBAC, admission and quota apply as
	// if they had run the creates. Cluster-scoped objects are then never
	// restored, and no namespace is created. The controller sets it on the
	// Restore it runs for a NamespaceRestore (its verified requester);
	// only who may create Restores in the controller's namespace (an
	// administrator) can set it otherwise.
	// +optional
	RunAs *Requester `json:"runAs,omitempty"`
}

// RestoreStatus is what the controller observed.
type RestoreStatus struct {
	// Phase: New, InProgress, WaitingForVolumes, Completed,
	// PartiallyFailed or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// Attempts counts the runs of this restore: a run the controller did
	// not finish (it was killed, or lost its leadership) is run again by
	// the next one, skipping what the earlier runs created, up to
	// MaxRestoreAttempts runs.
	// +optional
	Attempts int `json:"attempts,omitempty"`

	// BackupName is the Backup restored (resolved from scheduleName).
	// +optional
	BackupName string `json:"backupName,omitempty"`

	// SnapshotID is the snapshot restored.
	// +optional
	SnapshotID string `json:"snapshotID,omitempty"`

	// The run's outcome: times, counts, the failed objects, pod volumes.
	RestoreOutcome `json:",inline"`

	// Conditions: Ready, with a reason and a message.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RestoreOutcome is what a run of a restore did, in a Restore's status and
// (mirrored) in a NamespaceRestore's.
type RestoreOutcome struct {
	// FailureReason says why the restore failed or partially failed.
	// +optional
	FailureReason string `json:"failureReason,omitempty"`

	// StartTimestamp is when the restore started.
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`

	// CompletionTimestamp is when it ended.
	// +optional
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`

	// Created counts the objects created.
	// +optional
	Created int `json:"created,omitempty"`
	// Updated counts the objects patched (existingResourcePolicy update).
	// +optional
	Updated int `json:"updated,omitempty"`
	// Skipped counts the objects left alone (they exist, or the cluster
	// makes them).
	// +optional
	Skipped int `json:"skipped,omitempty"`
	// Failed counts the objects that could not be restored.
	// +optional
	Failed int `json:"failed,omitempty"`
	// Warnings counts the restore's warnings.
	// +optional
	Warnings int `json:"warnings,omitempty"`

	// Failures lists the first failed objects with the reason
	// (kind namespace/name: reason), at most 20.
	// +optional
	Failures []string `json:"failures,omitempty"`

	// Volumes sums up the pod volumes restored by the node agents (one
	// PodVolumeRestore each).
	// +optional
	Volumes *VolumeSummary `json:"volumes,omitempty"`
}

// Restore restores a Backup into the cluster. It never overwrites an
// object that exists unless existingResourcePolicy says so.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.status.backupName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Created",type=integer,JSONPath=`.status.created`
// +kubebuilder:printcolumn:name="Skipped",type=integer,JSONPath=`.status.skipped`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Restore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RestoreSpec   `json:"spec,omitempty"`
	Status RestoreStatus `json:"status,omitempty"`
}

// RestoreList is a list of Restores.
//
// +kubebuilder:object:root=true
type RestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Restore `json:"items"`
}

func init() { SchemeBuilder.Register(&Restore{}, &RestoreList{}) }
