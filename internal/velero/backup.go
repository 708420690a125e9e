package velero

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Backup is the part of Velero's Backup object (velero.io/v1, as stored
// in velero-backup.json) that an import reads. Unknown fields are ignored.
type Backup struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   BackupMeta   `json:"metadata"`
	Spec       BackupSpec   `json:"spec"`
	Status     BackupStatus `json:"status"`
}

// BackupMeta is the Backup's metadata.
type BackupMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	UID         string            `json:"uid"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Created     *metav1.Time      `json:"creationTimestamp"`
}

// BackupSpec is what the Backup asked for.
type BackupSpec struct {
	IncludedNamespaces               []string                `json:"includedNamespaces"`
	ExcludedNamespaces               []string                `json:"excludedNamespaces"`
	IncludedResources                []string                `json:"includedResources"`
	ExcludedResources                []string                `json:"excludedResources"`
	IncludedClusterScopedResources   []string                `json:"includedClusterScopedResources"`
	ExcludedClusterScopedResources   []string                `json:"excludedClusterScopedResources"`
	IncludedNamespaceScopedResources []string                `json:"includedNamespaceScopedResources"`
	ExcludedNamespaceScopedResources []string                `json:"excludedNamespaceScopedResources"`
	LabelSelector                    *metav1.LabelSelector   `json:"labelSelector"`
	OrLabelSelectors                 []*metav1.LabelSelector `json:"orLabelSelectors"`
	IncludeClusterResources          *bool                   `json:"includeClusterResources"`
	TTL                              metav1.Duration         `json:"ttl"`
	StorageLocation                  string                  `json:"storageLocation"`
	DefaultVolumesToFsBackup         *bool                   `json:"defaultVolumesToFsBackup"`
}

// BackupStatus is what Velero recorded of the run.
type BackupStatus struct {
	Phase               string       `json:"phase"`
	FormatVersion       string       `json:"formatVersion"`
	Expiration          *metav1.Time `json:"expiration"`
	StartTimestamp      *metav1.Time `json:"startTimestamp"`
	CompletionTimestamp *metav1.Time `json:"completionTimestamp"`
	FailureReason       string       `json:"failureReason"`
	ValidationErrors    []string     `json:"validationErrors"`
	Warnings            int          `json:"warnings"`
	Errors              int          `json:"errors"`
	Progress            *struct {
		TotalItems    int `json:"totalItems"`
		ItemsBackedUp int `json:"itemsBackedUp"`
	} `json:"progress"`
}

// Phases of a Velero backup that an import reads; every other phase
// (New, InProgress, FailedValidation, Deleting, …) is a backup that is not
// finished or has no contents, and is not imported.
const (
	PhaseCompleted       = "Completed"
	PhasePartiallyFailed = "PartiallyFailed"
	PhaseFailed          = "Failed"
)

// Labels Velero sets that the import maps.
const (
	LabelScheduleName = "velero.io/schedule-name"
	// AnnotationK8sVersion is the source cluster's version.
	AnnotationK8sVersion = "velero.io/source-cluster-k8s-gitversion"
)

// Start is when the backup started (its creation when Velero recorded no
// start).
func (b *Backup) Start() time.Time {
	if b.Status.StartTimestamp != nil {
		return b.Status.StartTimestamp.UTC()
	}
	if b.Metadata.Created != nil {
		return b.Metadata.Created.UTC()
	}
	return time.Time{}
}

// End is when it completed (its start when Velero recorded no end).
func (b *Backup) End() time.Time {
	if b.Status.CompletionTimestamp != nil {
		return b.Status.CompletionTimestamp.UTC()
	}
	return b.Start()
}

// Expires is when Velero would have deleted it, or nil for never.
func (b *Backup) Expires() *time.Time {
	if b.Status.Expiration == nil {
		return nil
	}
	t := b.Status.Expiration.UTC()
	return &t
}
