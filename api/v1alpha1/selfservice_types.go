package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Self-service: a namespace's owners see the backups that hold their
// namespace (NamespaceBackup, kept by the controller in that namespace)
// and restore from them (NamespaceRestore, created in that namespace),
// with their own rights: the controller creates every object
// impersonating the user who created the NamespaceRestore, as the API
// server's admission recorded them. docs/design/self-service.md states
// why a tenant cannot make the controller act with its own rights.

// Labels of the self-service objects.
const (
	// LabelNamespaceRestore is on the Restore the controller runs for a
	// NamespaceRestore: a hash of the NamespaceRestore's namespace and
	// name (AnnotationNamespaceRestore has them in clear).
	LabelNamespaceRestore = "cairn.dev/namespace-restore"
	// AnnotationNamespaceRestore is "<namespace>/<name>" of the
	// NamespaceRestore a Restore runs.
	AnnotationNamespaceRestore = "cairn.dev/namespace-restore"
)

// Condition reasons of self-service.
const (
	// ReasonNotAttested: the NamespaceRestore's requester was not written
	// by cairn's admission webhook (forged, or the webhook is not set up).
	ReasonNotAttested = "RequesterNotAttested"
	// ReasonForbidden: the request asks for what a namespace restore may
	// not do (another namespace's objects, cluster-scoped objects, a
	// target namespace the requester does not own).
	ReasonForbidden = "Forbidden"
)

// NamespaceBackupStatus is one backup as seen from one namespace.
type NamespaceBackupStatus struct {
	// BackupName is the Backup (in the controller's namespace).
	BackupName string `json:"backupName"`
	// Schedule is the Schedule that made it, if any.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Phase is the Backup's phase: Completed or PartiallyFailed (only
	// restorable backups are shown).
	Phase Phase `json:"phase"`
	// StorageLocation is where it is stored.
	// +optional
	StorageLocation string `json:"storageLocation,omitempty"`
	// StartTimestamp and CompletionTimestamp are the backup's.
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// +optional
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`
	// Expiration is when the backup is deleted.
	// +optional
	Expiration *metav1.Time `json:"expiration,omitempty"`
	// Items counts this namespace's objects in the backup.
	// +optional
	Items int `json:"items,omitempty"`
	// Volumes counts this namespace's pod volumes whose data the backup
	// holds.
	// +optional
	Volumes int `json:"volumes,omitempty"`
}

// NamespaceBackup is a read-only view, in one namespace, of a Backup that
// holds that namespace's objects. The controller creates, updates and
// deletes it with the Backup; users get and list it (the chart's
// aggregated roles give admin, edit and view those verbs), and restore
// from it with a NamespaceRestore of the same name.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=cairn,shortName=nsbackup
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Items",type=integer,JSONPath=`.status.items`
// +kubebuilder:printcolumn:name="Volumes",type=integer,JSONPath=`.status.volumes`
// +kubebuilder:printcolumn:name="Started",type=date,JSONPath=`.status.startTimestamp`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.status.expiration`
type NamespaceBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status NamespaceBackupStatus `json:"status"`
}

// NamespaceBackupList is a list of NamespaceBackups.
//
// +kubebuilder:object:root=true
type NamespaceBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespaceBackup `json:"items"`
}

// Requester is who asked for a NamespaceRestore, as the API server
// authenticated them. cairn's admission webhook writes it when the
// NamespaceRestore is created (whatever the request said), with a
// signature only the controller can make; the controller refuses a
// NamespaceRestore whose requester it cannot verify.
type Requester struct {
	// Username, UID, Groups and Extra are the API server's userInfo.
	// +optional
	Username string `json:"username,omitempty"`
	// +optional
	UID string `json:"uid,omitempty"`
	// +optional
	Groups []string `json:"groups,omitempty"`
	// +optional
	Extra map[string][]string `json:"extra,omitempty"`
	// Admitted is when the webhook saw the request.
	// +optional
	Admitted *metav1.Time `json:"admitted,omitempty"`
	// Signature binds the fields above to the NamespaceRestore's
	// namespace, name and spec (internal/requester).
	// +optional
	Signature string `json:"signature,omitempty"`
}

// NamespaceRestoreSpec is what a namespace's owner asks to restore: their
// namespace's objects from a backup that holds it. It cannot be changed
// once created.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a NamespaceRestore cannot be changed: delete it and create another"
type NamespaceRestoreSpec struct {
	// BackupName is the NamespaceBackup (in this namespace) to restore.
	// +kubebuilder:validation:MinLength=1
	BackupName string `json:"backupName"`

	// TargetNamespace is where the objects are created: this namespace
	// (default) or another one that exists and in which the requester may
	// create NamespaceRestores (one they own).
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// IncludedResources and ExcludedResources name resource types, as a
	// Restore's do. Only namespaced types: cluster-scoped objects are
	// never restored by a NamespaceRestore.
	// +optional
	IncludedResources []string `json:"includedResources,omitempty"`
	// +optional
	ExcludedResources []string `json:"excludedResources,omitempty"`

	// LabelSelector restores only objects matching it.
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`

	// ExistingResourcePolicy: "none" (default) never changes an object
	// that exists; "update" patches differing objects, where the
	// requester may update them.
	// +kubebuilder:validation:Enum=none;update
	// +optional
	ExistingResourcePolicy string `json:"existingResourcePolicy,omitempty"`

	// Requester is written by the admission webhook; what a request puts
	// here is replaced.
	// +optional
	Requester Requester `json:"requester,omitempty"`
}

// NamespaceRestoreStatus is what the controller observed: the status of
// the Restore it runs for this request.
type NamespaceRestoreStatus struct {
	// Phase: New, InProgress, WaitingForVolumes, Completed,
	// PartiallyFailed or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// RestoreName is the Restore the controller runs (in its namespace).
	// +optional
	RestoreName string `json:"restoreName,omitempty"`
	// The Restore's outcome, mirrored: times, counts, the first failed
	// objects with the API server's reason, pod volumes.
	RestoreOutcome `json:",inline"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NamespaceRestore restores this namespace's objects (and their pod
// volumes) from a backup that holds them, with the rights of the user who
// created it: every object is created impersonating that user, so RBAC,
// admission and quota apply as if they had run `kubectl create`. It never
// overwrites an object that exists unless existingResourcePolicy says so.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn,shortName=nsrestore
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Created",type=integer,JSONPath=`.status.created`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Requester",type=string,JSONPath=`.spec.requester.username`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NamespaceRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NamespaceRestoreSpec   `json:"spec"`
	Status NamespaceRestoreStatus `json:"status,omitempty"`
}

// NamespaceRestoreList is a list of NamespaceRestores.
//
// +kubebuilder:object:root=true
type NamespaceRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespaceRestore `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NamespaceBackup{}, &NamespaceBackupList{}, &NamespaceRestore{}, &NamespaceRestoreList{})
}
