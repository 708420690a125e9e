package velero

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/cairn-backup/cairn/internal/store"
)

// Store is what the package needs of a backup storage location: reads
// only. A store.Store satisfies it.
type Store interface {
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(store.Info) error) error
	Location() string
}

// Sentinel errors.
var (
	// ErrNoBackup: the location holds no backup of that name.
	ErrNoBackup = errors.New("no such Velero backup")
	// ErrFormat: what the location holds is not a Velero backup this
	// package can read (bad JSON, an unknown format version, a broken
	// tarball).
	ErrFormat = errors.New("not a readable Velero backup")
)

// Keys of a backup in the location, relative to its prefix.
const backupsDir = "backups/"

func metadataKey(name string) string { return backupsDir + name + "/velero-backup.json" }
func contentsKey(name string) string { return backupsDir + name + "/" + name + ".tar.gz" }
func podVolumesKey(name string) string {
	return backupsDir + name + "/" + name + "-podvolumebackups.json.gz"
}
func volumeInfoKey(name string) string {
	return backupsDir + name + "/" + name + "-volumeinfo.json.gz"
}

// kopiaDir is where Velero keeps the kopia repository of the file-system
// backups of a namespace's pod volumes: <prefix>/kopia/<namespace>/.
func kopiaDir(namespace string) string { return "kopia/" + namespace + "/" }

// Location is a Velero backup storage location, read through a store
// opened on its bucket and prefix.
type Location struct{ s Store }

// NewLocation reads the location in s.
func NewLocation(s Store) *Location { return &Location{s: s} }

// String names the location (the store's location).
func (l *Location) String() string { return l.s.Location() }

// Names returns the names of the backups in the location (those with a
// velero-backup.json), sorted.
func (l *Location) Names(ctx context.Context) ([]string, error) {
	var names []string
	err := l.s.List(ctx, backupsDir, func(fi store.Info) error {
		rest := strings.TrimPrefix(fi.Key, backupsDir)
		if dir, file := path.Split(rest); file == "velero-backup.json" && dir != "" && !strings.Contains(strings.TrimSuffix(dir, "/"), "/") {
			names = append(names, strings.TrimSuffix(dir, "/"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("velero: list backups in %s: %w", l, err)
	}
	sort.Strings(names)
	return names, nil
}

// Backup reads the Backup object of the backup name.
func (l *Location) Backup(ctx context.Context, name string) (*Backup, error) {
	key := metadataKey(name)
	rc, err := l.s.Get(ctx, key, 0, -1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("velero: backup %q in %s: %w", name, l, ErrNoBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("velero: read %s: %w", key, err)
	}
	defer rc.Close()
	var b Backup
	if err := json.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(&b); err != nil {
		return nil, fmt.Errorf("velero: %s: %v: %w", key, err, ErrFormat)
	}
	if b.Kind != "Backup" || !strings.HasPrefix(b.APIVersion, "velero.io/") {
		return nil, fmt.Errorf("velero: %s: apiVersion %q kind %q, want velero.io/v1 Backup: %w", key, b.APIVersion, b.Kind, ErrFormat)
	}
	if b.Metadata.Name != name {
		return nil, fmt.Errorf("velero: %s: names backup %q: %w", key, b.Metadata.Name, ErrFormat)
	}
	return &b, nil
}

// Contents opens the tarball of the backup name; the caller closes it.
// The error wraps ErrNoBackup when the location has none (a backup that
// failed before it wrote its contents).
func (l *Location) Contents(ctx context.Context, name string) (io.ReadCloser, error) {
	key := contentsKey(name)
	rc, err := l.s.Get(ctx, key, 0, -1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("velero: %s in %s: %w", key, l, ErrNoBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("velero: read %s: %w", key, err)
	}
	return rc, nil
}

// PodVolume is one of Velero's file-system volume backups (a
// PodVolumeBackup record of the backup).
type PodVolume struct {
	Name         string `json:"name"` // the PodVolumeBackup's name
	PodNamespace string `json:"pod_namespace"`
	Pod          string `json:"pod"`
	Volume       string `json:"volume"`
	Uploader     string `json:"uploader"` // kopia or restic
	Phase        string `json:"phase"`
	SnapshotID   string `json:"snapshot_id,omitempty"` // in Velero's repository
	Node         string `json:"node,omitempty"`        // where Velero read it
	Message      string `json:"message,omitempty"`     // Velero's, for a volume it did not back up
}

// String names the volume for messages: <ns>/<pod> volume <volume>.
func (v PodVolume) String() string { return v.PodNamespace + "/" + v.Pod + " volume " + v.Volume }

// podVolumeRecord is the part of a PodVolumeBackup the import reads.
type podVolumeRecord struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Node string `json:"node"`
		Pod  struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"pod"`
		Volume       string `json:"volume"`
		UploaderType string `json:"uploaderType"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		SnapshotID string `json:"snapshotID"`
		Message    string `json:"message"`
	} `json:"status"`
}

// readGzipJSON decodes the gzipped JSON object key into v (at most 64 MiB
// of JSON); a missing object leaves v as it is.
func (l *Location) readGzipJSON(ctx context.Context, key string, v any) error {
	rc, err := l.s.Get(ctx, key, 0, -1)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("velero: read %s: %w", key, err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("velero: %s: %v: %w", key, err, ErrFormat)
	}
	if err := json.NewDecoder(io.LimitReader(zr, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("velero: %s: %v: %w", key, err, ErrFormat)
	}
	return nil
}

// PodVolumes returns the file-system volume backups the backup made
// (backups/<name>/<name>-podvolumebackups.json.gz; none when it is
// missing).
func (l *Location) PodVolumes(ctx context.Context, name string) ([]PodVolume, error) {
	var list []podVolumeRecord
	if err := l.readGzipJSON(ctx, podVolumesKey(name), &list); err != nil {
		return nil, err
	}
	out := make([]PodVolume, 0, len(list))
	for _, p := range list {
		out = append(out, PodVolume{
			Name: p.Metadata.Name, PodNamespace: p.Spec.Pod.Namespace, Pod: p.Spec.Pod.Name, Volume: p.Spec.Volume,
			Uploader: p.Spec.UploaderType, Phase: p.Status.Phase, SnapshotID: p.Status.SnapshotID,
			Node: p.Spec.Node, Message: p.Status.Message,
		})
	}
	return out, nil
}

// Velero's ways of keeping a volume's data (backupMethod in its volume
// information): NativeSnapshot and CSISnapshot keep it outside the bucket,
// in the storage system, unless a CSI snapshot's data was moved into the
// bucket (snapshotDataMoved, Velero's data mover).
const (
	MethodPodVolumeBackup = "PodVolumeBackup"
	MethodCSISnapshot     = "CSISnapshot"
	MethodNativeSnapshot  = "NativeSnapshot"
)

// SnapshotVolume is a claim whose data Velero kept by a snapshot, not by a
// file-system backup: the import cannot bring its data and says so.
type SnapshotVolume struct {
	Namespace string `json:"namespace"`
	Claim     string `json:"claim"`
	PV        string `json:"pv,omitempty"`
	Method    string `json:"method"`               // CSISnapshot or NativeSnapshot
	DataMoved bool   `json:"data_moved,omitempty"` // by Velero's data mover into the bucket
	Handle    string `json:"snapshot_handle,omitempty"`
	Driver    string `json:"driver,omitempty"` // the CSI driver
	Result    string `json:"result,omitempty"` // Velero's: succeeded or failed
}

// String names the volume for messages: <ns>/<claim>.
func (v SnapshotVolume) String() string { return "claim " + v.Namespace + "/" + v.Claim }

// volumeInfoRecord is the part of an entry of Velero's volume information
// the import reads.
type volumeInfoRecord struct {
	PVCName      string `json:"pvcName"`
	PVCNamespace string `json:"pvcNamespace"`
	PVName       string `json:"pvName"`
	BackupMethod string `json:"backupMethod"`
	DataMoved    bool   `json:"snapshotDataMoved"`
	Skipped      bool   `json:"skipped"`
	Result       string `json:"result"`
	CSI          *struct {
		SnapshotHandle string `json:"snapshotHandle"`
		Driver         string `json:"driver"`
	} `json:"csiSnapshotInfo"`
	Moved *struct {
		SnapshotHandle string `json:"snapshotHandle"`
	} `json:"snapshotDataMovementInfo"`
	Native *struct {
		SnapshotHandle string `json:"snapshotHandle"`
	} `json:"nativeSnapshotInfo"`
}

// SnapshotVolumes returns the claims of the backup whose data Velero kept
// by a snapshot (backups/<name>/<name>-volumeinfo.json.gz, written by
// Velero 1.13 and later; none when it is missing). Volumes Velero backed
// up from the file system are PodVolumes; skipped ones have no data.
func (l *Location) SnapshotVolumes(ctx context.Context, name string) ([]SnapshotVolume, error) {
	var list []volumeInfoRecord
	if err := l.readGzipJSON(ctx, volumeInfoKey(name), &list); err != nil {
		return nil, err
	}
	var out []SnapshotVolume
	for _, v := range list {
		if v.Skipped || (v.BackupMethod != MethodCSISnapshot && v.BackupMethod != MethodNativeSnapshot) {
			continue
		}
		sv := SnapshotVolume{Namespace: v.PVCNamespace, Claim: v.PVCName, PV: v.PVName, Method: v.BackupMethod, DataMoved: v.DataMoved, Result: v.Result}
		switch {
		case v.DataMoved && v.Moved != nil:
			sv.Handle = v.Moved.SnapshotHandle
		case v.CSI != nil:
			sv.Handle, sv.Driver = v.CSI.SnapshotHandle, v.CSI.Driver
		case v.Native != nil:
			sv.Handle = v.Native.SnapshotHandle
		}
		if v.CSI != nil {
			sv.Driver = v.CSI.Driver
		}
		out = append(out, sv)
	}
	return out, nil
}

// Why says why the import cannot bring the volume's data.
func (v SnapshotVolume) Why() string {
	switch {
	case v.DataMoved:
		return "Velero's data mover moved its CSI snapshot's data into the bucket (snapshot " + v.Handle + "); cairn does not import data-mover backups"
	case v.Method == MethodCSISnapshot:
		return "Velero kept it as a CSI snapshot (driver " + v.Driver + ", handle " + v.Handle + ") in the storage system, not in the bucket"
	default:
		return "Velero kept it as a snapshot of the cloud provider's volume (" + v.Handle + "), not in the bucket"
	}
}
