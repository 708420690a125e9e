package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessMode says whether the controller may write to a location.
type AccessMode string

// Access modes.
const (
	// ReadWrite: backups are written, expired ones forgotten and pruned.
	ReadWrite AccessMode = "ReadWrite"
	// ReadOnly: backups are only listed and restored (e.g. a bucket of
	// another cluster, or while migrating); nothing is written.
	ReadOnly AccessMode = "ReadOnly"
)

// BackupLocationSpec says where a repository is and how to open it.
type BackupLocationSpec struct {
	// Repository is the repository's URL: s3://bucket/prefix for object
	// storage, or a path / file:// URL on the controller's file system.
	// The repository must exist (`cairn repo init`).
	// +kubebuilder:validation:MinLength=1
	Repository string `json:"repository"`

	// Passphrase selects the key of a Secret (in the controller's
	// namespace) that holds the repository's passphrase. There is no
	// default passphrase. The controller never logs it.
	Passphrase corev1.SecretKeySelector `json:"passphrase"`

	// Credentials names a Secret (in the controller's namespace) with the
	// object store's credentials: keys AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN. Unset means
	// the controller's environment (e.g. a workload identity).
	// +optional
	Credentials *corev1.LocalObjectReference `json:"credentials,omitempty"`

	// Endpoint is the S3 endpoint URL (e.g. https://s3.example.com);
	// empty means AWS.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Region is the S3 region; empty means the environment's, else
	// us-east-1.
	// +optional
	Region string `json:"region,omitempty"`

	// PathStyle puts the bucket in the URL path (most non-AWS servers).
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// CA selects the key of a Secret (in the controller's namespace) that
	// holds the PEM certificates of the authorities to trust for the
	// endpoint's TLS certificate, e.g. a private CA's (cert-manager writes
	// it as key ca.crt). The certificates are trusted in addition to the
	// system's. Unset means the system's only.
	// +optional
	CA *corev1.SecretKeySelector `json:"ca,omitempty"`

	// Default marks the location Backups without storageLocation use. At
	// most one location should be default; if several are, the one whose
	// name sorts first wins.
	// +optional
	Default bool `json:"default,omitempty"`

	// AccessMode is ReadWrite (default) or ReadOnly.
	// +kubebuilder:validation:Enum=ReadWrite;ReadOnly
	// +kubebuilder:default=ReadWrite
	// +optional
	AccessMode AccessMode `json:"accessMode,omitempty"`

	// Check schedules the controller's integrity check of the repository.
	// +optional
	Check LocationCheckSpec `json:"check,omitempty"`

	// PruneInterval is the longest time between two prunes of a ReadWrite
	// location (default 168h; 0s: prune only when a backup was forgotten,
	// status.pruneRequested). A prune also removes the packs of backups
	// killed half-way that no later backup adopted.
	// +optional
	PruneInterval *metav1.Duration `json:"pruneInterval,omitempty"`

	// VeleroImport, on a ReadWrite location, makes the controller read a
	// Velero BackupStorageLocation (read only) and import each of its
	// backups into this repository, one per sync step, as `cairn import
	// velero` does; the location's sync then shows them as Backups, with
	// Velero's phase and expiry. See docs/migrate-from-velero.md.
	// +optional
	VeleroImport *VeleroImport `json:"veleroImport,omitempty"`

	// Replicas are off-site copies of this location's repository that the
	// controller keeps: at each interval it copies the objects a replica
	// lacks, as `cairn replicate` does (ciphertext only: no key is needed
	// on the way, objects are never rewritten, the replica's retention is
	// carried over). A replica is a repository of its own, readable with
	// the same passphrase; it is not a BackupLocation (its backups are
	// the same as this one's).
	// +optional
	// +listType=map
	// +listMapKey=name
	Replicas []ReplicaSpec `json:"replicas,omitempty"`
}

// ReplicaSpec is one replica of a location's repository.
type ReplicaSpec struct {
	// Name names the replica in status, metrics and alerts.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Repository is where the copy goes: s3://bucket/prefix (another
	// bucket, region or provider), file:///path or an absolute path.
	Repository string `json:"repository"`

	// Credentials, Endpoint, Region and PathStyle are the replica's
	// object store, as the location's fields are; unset means the
	// location's own.
	// +optional
	Credentials *corev1.LocalObjectReference `json:"credentials,omitempty"`
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// Interval is the time between two replications (default 1h).
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Prune deletes from the replica what the location no longer holds
	// (forgotten and pruned backups), once the replica's own retention of
	// it has ended. Off by default: the replica keeps what it was given.
	// +optional
	Prune bool `json:"prune,omitempty"`
}

// ReplicaStatus is what the last replication of one replica did.
type ReplicaStatus struct {
	// Name is the replica's (spec.replicas[].name).
	Name string `json:"name"`
	// LastAttempt is when the last replication started.
	// +optional
	LastAttempt *metav1.Time `json:"lastAttempt,omitempty"`
	// LastSuccessfulTime is when the last replication that completed
	// started: every backup the location held then is on the replica.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`
	// Result of the last replication: OK or Failed.
	// +optional
	Result CheckResult `json:"result,omitempty"`
	// Objects and Bytes are the source's, Copied and CopiedBytes what the
	// last replication copied.
	// +optional
	Objects int `json:"objects,omitempty"`
	// +optional
	Bytes int64 `json:"bytes,omitempty"`
	// +optional
	Copied int `json:"copied,omitempty"`
	// +optional
	CopiedBytes int64 `json:"copiedBytes,omitempty"`
	// Message says what happened, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// VeleroImport names a Velero backup storage location to import from.
type VeleroImport struct {
	// Location is the BackupStorageLocation's objectStorage bucket and
	// prefix: s3://bucket/prefix.
	// +kubebuilder:validation:Pattern=`^s3://.+`
	Location string `json:"location"`
	// Credentials names a Secret (keys AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, optionally AWS_SESSION_TOKEN) that may read
	// the Velero bucket; unset means the location's credentials.
	// +optional
	Credentials *corev1.LocalObjectReference `json:"credentials,omitempty"`
	// Endpoint, Region and PathStyle of the Velero bucket's S3 service;
	// an empty endpoint means the location's (and its path style), an
	// empty region the location's.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`
	// CompletedOnly skips the backups Velero marked Failed or
	// PartiallyFailed.
	// +optional
	CompletedOnly bool `json:"completedOnly,omitempty"`
}

// LocationCheckSpec schedules a location's integrity check.
type LocationCheckSpec struct {
	// Interval is how often the repository is checked: every index,
	// snapshot and tree loads, every blob a snapshot needs is indexed and
	// stored (default 24h; 0s turns scheduled checks off).
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// ReadDataShares makes each check also read and verify one share of
	// the packs, the next share each time: the packs are split into
	// ReadDataShares shares by ID, so that every pack is read at least
	// once in ReadDataShares checks (default 30: with daily checks, every
	// pack is read once a month; 0 reads no data).
	// +kubebuilder:validation:Minimum=0
	// +optional
	ReadDataShares *int32 `json:"readDataShares,omitempty"`
}

// CheckResult is the result of an integrity check.
type CheckResult string

// Check results.
const (
	// CheckOK: no problem found.
	CheckOK CheckResult = "OK"
	// CheckDamaged: the check found damage (status.lastCheck.message and
	// the controller's log say what and which backups it affects).
	CheckDamaged CheckResult = "Damaged"
	// CheckFailed: the check could not run (the repository did not open,
	// the lock was taken); nothing is known about the data.
	CheckFailed CheckResult = "Failed"
)

// LocationCheck is the outcome of one integrity check.
type LocationCheck struct {
	// Time is when the check started.
	Time metav1.Time `json:"time"`
	// Duration is how long it took.
	// +optional
	Duration metav1.Duration `json:"duration,omitempty"`
	// Result is OK, Damaged or Failed.
	Result CheckResult `json:"result"`
	// Message sums up what was found, for people.
	// +optional
	Message string `json:"message,omitempty"`
	// Share is the share of the packs read ("3/30"), empty when no data
	// was read.
	// +optional
	Share string `json:"share,omitempty"`
	// PacksRead counts the packs read and verified.
	// +optional
	PacksRead int `json:"packsRead,omitempty"`
	// DamagedPacks counts the packs found damaged.
	// +optional
	DamagedPacks int `json:"damagedPacks,omitempty"`
}

// LocationPhase says whether a location can be used.
type LocationPhase string

// Phases of a BackupLocation.
const (
	// LocationAvailable: the repository opened with the passphrase.
	LocationAvailable LocationPhase = "Available"
	// LocationUnavailable: it did not; status.message says why.
	LocationUnavailable LocationPhase = "Unavailable"
)

// BackupLocationStatus is what the controller observed.
type BackupLocationStatus struct {
	// Phase: Available or Unavailable.
	// +optional
	Phase LocationPhase `json:"phase,omitempty"`

	// Message says why the location is unavailable, and what to check.
	// +optional
	Message string `json:"message,omitempty"`

	// LastValidationTime is when the repository was last opened.
	// +optional
	LastValidationTime *metav1.Time `json:"lastValidationTime,omitempty"`

	// LastSyncTime is when the repository's backups were last compared
	// with the cluster's Backup objects.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// LastPruneTime is when data of expired backups was last pruned.
	// +optional
	LastPruneTime *metav1.Time `json:"lastPruneTime,omitempty"`

	// PruneRequested is when a backup was last forgotten whose data awaits
	// a prune; the controller prunes at its next sync and clears it (unless
	// another backup was forgotten meanwhile). Kept here, not in the
	// controller's memory, so that a restart or a new leader still prunes:
	// an expired backup's data must really go.
	// +optional
	PruneRequested *metav1.Time `json:"pruneRequested,omitempty"`

	// LastCheck is the outcome of the last integrity check
	// (spec.check).
	// +optional
	LastCheck *LocationCheck `json:"lastCheck,omitempty"`

	// LastSuccessfulCheckTime is when the last check that found no
	// problem started.
	// +optional
	LastSuccessfulCheckTime *metav1.Time `json:"lastSuccessfulCheckTime,omitempty"`

	// CheckShare is the share of the packs the last check read (1 …
	// spec.check.readDataShares); the next check reads the next one.
	// +optional
	CheckShare int32 `json:"checkShare,omitempty"`

	// Backups is the number of cluster backups in the repository.
	// +optional
	Backups int `json:"backups,omitempty"`

	// VeleroImport is what the import of spec.veleroImport last did.
	// +optional
	VeleroImport *VeleroImportStatus `json:"veleroImport,omitempty"`

	// Replicas is what the last replication of each replica did.
	// +optional
	// +listType=map
	// +listMapKey=name
	Replicas []ReplicaStatus `json:"replicas,omitempty"`

	// Conditions: Ready, with a reason and a message.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// VeleroImportStatus is the progress of spec.veleroImport.
type VeleroImportStatus struct {
	// LastTime is when the Velero location was last read.
	// +optional
	LastTime *metav1.Time `json:"lastTime,omitempty"`
	// Imported is the number of backups in the repository imported from
	// Velero.
	// +optional
	Imported int `json:"imported,omitempty"`
	// Pending is the number of the Velero location's backups not imported
	// yet (or never: unfinished, expired, or of a name the repository has
	// already).
	// +optional
	Pending int `json:"pending,omitempty"`
	// Message says what the last step did, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// BackupLocation is a repository the controller backs up to and restores
// from.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cairn,shortName=bsl
// +kubebuilder:printcolumn:name="Repository",type=string,JSONPath=`.spec.repository`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.default`
// +kubebuilder:printcolumn:name="Access",type=string,JSONPath=`.spec.accessMode`
// +kubebuilder:printcolumn:name="Backups",type=integer,JSONPath=`.status.backups`
type BackupLocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupLocationSpec   `json:"spec,omitempty"`
	Status BackupLocationStatus `json:"status,omitempty"`
}

// BackupLocationList is a list of BackupLocations.
//
// +kubebuilder:object:root=true
type BackupLocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupLocation `json:"items"`
}

func init() { SchemeBuilder.Register(&BackupLocation{}, &BackupLocationList{}) }
