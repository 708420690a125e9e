package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels on PodVolumeBackups and PodVolumeRestores.
const (
	// LabelBackup names the Backup a PodVolumeBackup belongs to, or the
	// one a NamespaceBackup shows.
	LabelBackup = "cairn.dev/backup"
	// LabelRestore names the Restore a PodVolumeRestore belongs to.
	LabelRestore = "cairn.dev/restore"
	// LabelNode is the node whose agent does the work.
	LabelNode = "cairn.dev/node"
)

// VolumePhase is where a PodVolumeBackup or PodVolumeRestore is.
//
// +kubebuilder:validation:Enum=New;InProgress;Completed;Failed
type VolumePhase string

// Phases of the per-volume work items.
const (
	VolumeNew        VolumePhase = "New"
	VolumeInProgress VolumePhase = "InProgress"
	VolumeCompleted  VolumePhase = "Completed"
	VolumeFailed     VolumePhase = "Failed"
)

// Finished reports whether p is final.
func (p VolumePhase) Finished() bool { return p == VolumeCompleted || p == VolumeFailed }

// PodRef names a pod.
type PodRef struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
}

// VolumeProgress counts the work done on a volume.
type VolumeProgress struct {
	// +optional
	Files int64 `json:"files,omitempty"`
	// +optional
	Bytes int64 `json:"bytes,omitempty"`
}

// VolumeStatus is what the node agent observed.
type VolumeStatus struct {
	// Phase: New, InProgress, Completed or Failed.
	// +optional
	Phase VolumePhase `json:"phase,omitempty"`
	// Message says why the work failed, or what it did.
	// +optional
	Message string `json:"message,omitempty"`
	// SnapshotID is the volume's snapshot in the repository (the one
	// written for a backup, the one read for a restore).
	// +optional
	SnapshotID string `json:"snapshotID,omitempty"`
	// Progress is updated while the agent works.
	// +optional
	Progress VolumeProgress `json:"progress,omitempty"`
	// Attempts counts the agent's runs of this work item: one the agent
	// did not finish (it was killed) is run again by the restarted agent,
	// up to MaxVolumeAttempts runs.
	// +optional
	Attempts int `json:"attempts,omitempty"`
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// +optional
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`
}

// PodVolumeBackupSpec is one volume of one pod to back up.
type PodVolumeBackupSpec struct {
	// BackupName is the Backup this volume belongs to.
	BackupName string `json:"backupName"`
	// Node is the node the pod runs on; only that node's agent takes it.
	Node string `json:"node"`
	// Pod is the pod whose volume is read.
	Pod PodRef `json:"pod"`
	// Volume is the pod's name for the volume.
	Volume string `json:"volume"`
	// PVC is the claim behind the volume, if any: the next backup of the
	// same claim is incremental against this one.
	// +optional
	PVC string `json:"pvc,omitempty"`
	// Owner is the pod's workload, "<Kind>/<name>" (the pod itself when
	// it has no controller): a restored workload finds its emptyDir data
	// by it.
	// +optional
	Owner string `json:"owner,omitempty"`
	// StorageLocation is the BackupLocation to write to.
	StorageLocation string `json:"storageLocation"`
	// Expires is when the volume's snapshot expires (the Backup's
	// expiration).
	// +optional
	Expires *metav1.Time `json:"expires,omitempty"`
}

// PodVolumeBackup is a work item for the node agent: back up one pod
// volume.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupName`
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.spec.pod.name`
// +kubebuilder:printcolumn:name="Volume",type=string,JSONPath=`.spec.volume`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Bytes",type=integer,JSONPath=`.status.progress.bytes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PodVolumeBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PodVolumeBackupSpec `json:"spec,omitempty"`
	Status VolumeStatus        `json:"status,omitempty"`
}

// PodVolumeBackupList is a list of PodVolumeBackups.
//
// +kubebuilder:object:root=true
type PodVolumeBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PodVolumeBackup `json:"items"`
}

// PodVolumeRestoreSpec is one volume of one restored pod to fill.
type PodVolumeRestoreSpec struct {
	// RestoreName is the Restore this volume belongs to.
	RestoreName string `json:"restoreName"`
	// Node is the node the restored pod was scheduled to.
	Node string `json:"node"`
	// Pod is the restored pod (its init container waits for the agent).
	Pod PodRef `json:"pod"`
	// Volume is the pod's name for the volume.
	Volume string `json:"volume"`
	// SnapshotID is the volume snapshot to restore; empty when the backup
	// holds no data for this volume (the agent only releases the pod).
	// +optional
	SnapshotID string `json:"snapshotID,omitempty"`
	// StorageLocation is the BackupLocation to read from.
	StorageLocation string `json:"storageLocation"`
	// DataFrom names the PodVolumeRestore (in this namespace) that writes
	// the data of this volume's claim for another restored pod: a claim
	// that several pods mount is written once. This item waits until that
	// one has finished, then releases its own pod.
	// +optional
	DataFrom string `json:"dataFrom,omitempty"`
	// Verify re-reads every restored file and checks it against the
	// snapshot (checksums) before the pod is released: a restore drill's
	// proof that the volume's data came back intact.
	// +optional
	Verify bool `json:"verify,omitempty"`
}

// PodVolumeRestore is a work item for the node agent: restore one volume
// of a restored pod, then release the pod's init container.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn
// +kubebuilder:printcolumn:name="Restore",type=string,JSONPath=`.spec.restoreName`
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.spec.pod.name`
// +kubebuilder:printcolumn:name="Volume",type=string,JSONPath=`.spec.volume`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.node`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PodVolumeRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PodVolumeRestoreSpec `json:"spec,omitempty"`
	Status VolumeStatus         `json:"status,omitempty"`
}

// PodVolumeRestoreList is a list of PodVolumeRestores.
//
// +kubebuilder:object:root=true
type PodVolumeRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PodVolumeRestore `json:"items"`
}

// VolumeSummary counts a Backup's or Restore's pod volumes.
type VolumeSummary struct {
	// Planned is set once every work item of the backup or restore is
	// created: the controller that resumes a run waits for the items
	// there are instead of planning again.
	// +optional
	Planned bool `json:"planned,omitempty"`
	// WorkItems is the number of work items created (once Planned).
	// +optional
	WorkItems int `json:"workItems,omitempty"`
	// Completed counts the volumes done.
	// +optional
	Completed int `json:"completed,omitempty"`
	// Failed lists the volumes the agent could not handle, and those of
	// pods whose pre hook failed (onError Fail), with the reason; and the
	// pods whose post hook failed (onError Fail).
	// +optional
	Failed []string `json:"failed,omitempty"`
	// Missed lists the volumes selected but not handled (pod not running,
	// no agent on its node, hostPath...), with the reason.
	// +optional
	Missed []string `json:"missed,omitempty"`
	// Warnings lists what went wrong without failing a volume: hooks that
	// failed with onError Continue.
	// +optional
	Warnings []string `json:"warnings,omitempty"`
}

func init() {
	SchemeBuilder.Register(&PodVolumeBackup{}, &PodVolumeBackupList{}, &PodVolumeRestore{}, &PodVolumeRestoreList{})
}
