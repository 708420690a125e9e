package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupSpec says what to back up, where to, and for how long. The
// selection fields mean what the flags of `cairn backup run` mean.
type BackupSpec struct {
	// IncludedNamespaces are glob patterns of the namespaces to back up.
	// Empty means every namespace but the platform's (platformNamespaces);
	// a platform namespace is backed up only when a pattern here matches
	// it, and "*" alone selects every namespace.
	// +optional
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`

	// ExcludedNamespaces are glob patterns of namespaces not to back up.
	// +optional
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`

	// IncludedResources names the resource types to back up: a plural
	// ("configmaps", any group), plural.group ("deployments.apps") or "*".
	// Empty means all.
	// +optional
	IncludedResources []string `json:"includedResources,omitempty"`

	// ExcludedResources names resource types not to back up.
	// +optional
	ExcludedResources []string `json:"excludedResources,omitempty"`

	// LabelSelector is a label selector in kubectl's syntax (e.g.
	// "velero=backup" for opt-in backups) applied to every list.
	// Cluster-scoped objects the selected objects need are added without
	// it. Empty selects everything.
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`

	// IncludeClusterResources: "auto" (default) backs up the cluster-scoped
	// objects the selected namespaced objects need (all of them when every
	// namespace is selected), "true" every cluster-scoped type, "false"
	// none but the selected namespaces themselves.
	// +kubebuilder:validation:Enum=auto;"true";"false"
	// +optional
	IncludeClusterResources string `json:"includeClusterResources,omitempty"`

	// PlatformNamespaces are the platform's own namespaces, left out unless
	// includedNamespaces names them. Unset means kube-system, kube-public,
	// kube-node-lease and cairn-system.
	// +optional
	PlatformNamespaces []string `json:"platformNamespaces,omitempty"`

	// OptOutLabel is a label key: objects and namespaces carrying it (any
	// value) are not backed up. Empty means compliantkubernetes.io/nobackup.
	// velero.io/exclude-from-backup=true is honoured too.
	// +optional
	OptOutLabel string `json:"optOutLabel,omitempty"`

	// TTL is how long the backup is kept after it starts (e.g. "720h");
	// then the controller deletes the Backup, forgets its snapshot and
	// prunes the data no other backup uses. Unset means the controller's
	// default (720h); "0s" means never, if the retention guardrails allow.
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`

	// StorageLocation is the name of the BackupLocation (in the
	// controller's namespace) to store the backup in. Empty means the one
	// marked default.
	// +optional
	StorageLocation string `json:"storageLocation,omitempty"`

	// DefaultVolumesToBackup: true (default) backs up every volume of the
	// selected pods that holds data (PVC-backed and emptyDir) but those
	// listed in backup.velero.io/backup-volumes-excludes; false backs up
	// only the volumes a pod lists in backup.velero.io/backup-volumes
	// (opt-in).
	// +optional
	DefaultVolumesToBackup *bool `json:"defaultVolumesToBackup,omitempty"`

	// Hooks are commands run in the selected pods' containers around the
	// backup of their volumes (application-consistent backups). A pod's
	// own hook annotations take precedence, phase by phase: a pod with a
	// pre.hook.backup.velero.io/command annotation runs that and none of
	// these pre hooks (the same for post).
	// +optional
	Hooks BackupHooks `json:"hooks,omitempty"`
}

// BackupHooks are the exec hooks of a Backup.
type BackupHooks struct {
	// Resources are the hooks, each for the pods it selects.
	// +optional
	Resources []BackupResourceHookSpec `json:"resources,omitempty"`
}

// BackupResourceHookSpec runs hooks in the pods it selects: pre hooks
// before the node agents back up a pod's volumes, post hooks once they
// finished (whatever the result). Hooks run only in Running pods that have
// volumes to back up.
type BackupResourceHookSpec struct {
	// Name names the hook in messages.
	Name string `json:"name"`
	// IncludedNamespaces are glob patterns of the namespaces whose pods
	// the hooks run in; empty means all.
	// +optional
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`
	// ExcludedNamespaces are glob patterns of namespaces left out.
	// +optional
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// LabelSelector selects the pods; unset means all pods.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// PreHooks run, in order, before the pod's volumes are backed up.
	// +optional
	PreHooks []BackupResourceHook `json:"pre,omitempty"`
	// PostHooks run, in order, after the pod's volumes were backed up.
	// +optional
	PostHooks []BackupResourceHook `json:"post,omitempty"`
}

// BackupResourceHook is one hook.
type BackupResourceHook struct {
	// Exec runs a command in a container of the pod.
	Exec *ExecHook `json:"exec"`
}

// HookErrorMode says what a failing hook does.
//
// +kubebuilder:validation:Enum=Fail;Continue
type HookErrorMode string

// Hook error modes.
const (
	// HookErrorFail: a failing pre hook fails the pod's volumes (they are
	// not backed up; the backup is PartiallyFailed); a failing post hook
	// makes the backup PartiallyFailed.
	HookErrorFail HookErrorMode = "Fail"
	// HookErrorContinue: the failure is recorded as a warning and the
	// backup goes on.
	HookErrorContinue HookErrorMode = "Continue"
)

// ExecHook is a command run in a container through the API server's exec.
type ExecHook struct {
	// Container is the container to run the command in; empty means the
	// pod's first container.
	// +optional
	Container string `json:"container,omitempty"`
	// Command is the command and its arguments (no shell unless named,
	// e.g. ["/bin/sh", "-c", "sync"]).
	// +kubebuilder:validation:MinItems=1
	Command []string `json:"command"`
	// OnError is Fail (default) or Continue.
	// +optional
	OnError HookErrorMode `json:"onError,omitempty"`
	// Timeout bounds the command (default 30s).
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// BackupStatus is what the controller observed. Nothing of it is written
// to the repository.
type BackupStatus struct {
	// Phase: New, InProgress, WaitingForVolumes, Completed,
	// PartiallyFailed, Failed or Deleting.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// FailureReason says why the backup failed or partially failed, in
	// words a person can act on (e.g. which resource types could not be
	// listed and the API server's answer).
	// +optional
	FailureReason string `json:"failureReason,omitempty"`

	// StorageLocation is the BackupLocation the backup went to (the
	// default one resolved).
	// +optional
	StorageLocation string `json:"storageLocation,omitempty"`

	// SnapshotID is the ID of the backup's snapshot in the repository.
	// +optional
	SnapshotID string `json:"snapshotID,omitempty"`

	// StartTimestamp is when the backup started.
	// +optional
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`

	// CompletionTimestamp is when it ended.
	// +optional
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`

	// Expiration is when the backup will be deleted (start + ttl).
	// +optional
	Expiration *metav1.Time `json:"expiration,omitempty"`

	// Items is the number of objects backed up.
	// +optional
	Items int `json:"items,omitempty"`

	// Namespaces are the namespaces whose objects the backup holds
	// (sorted): the controller's per-namespace coverage metrics come from
	// them.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceItems counts the backup's objects per namespace (the
	// NamespaceBackup views show them).
	// +optional
	NamespaceItems map[string]int `json:"namespaceItems,omitempty"`

	// Warnings counts the backup's warnings; `cairn ctl backup logs`
	// shows them.
	// +optional
	Warnings int `json:"warnings,omitempty"`

	// Errors counts what could not be backed up; each is in the logs.
	// +optional
	Errors int `json:"errors,omitempty"`

	// Volumes sums up the pod volumes backed up by the node agents (one
	// PodVolumeBackup each).
	// +optional
	Volumes *VolumeSummary `json:"volumes,omitempty"`

	// Conditions: Ready, with a reason and a message.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Backup is one backup of the cluster's resources into a repository.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Items",type=integer,JSONPath=`.status.items`
// +kubebuilder:printcolumn:name="Errors",type=integer,JSONPath=`.status.errors`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.status.expiration`
// +kubebuilder:printcolumn:name="Location",type=string,JSONPath=`.status.storageLocation`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Backup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupSpec   `json:"spec,omitempty"`
	Status BackupStatus `json:"status,omitempty"`
}

// BackupList is a list of Backups.
//
// +kubebuilder:object:root=true
type BackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Backup `json:"items"`
}

func init() { SchemeBuilder.Register(&Backup{}, &BackupList{}) }
