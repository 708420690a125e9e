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

// Location is a Velero backup storage location, read through a store
// opened on its bucket and prefix.

// kopiaDir is where Velero keeps the kopia repository of the file-system
// backups of a namespace's pod volumes: <prefix>/kopia/<namespace>/.
func kopiaDir(namespace string) string { return "kopia/" + namespace + "/" }

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

// PodVolumes returns the file-system volume backups the backup made
// (backups/<name>/<name>-podvolumebackups.json.gz; none when it is
// missing).
func (l *Location) PodVolumes(ctx context.Context, name string) ([]PodVolume, error) {
	key := podVolumesKey(name)
	rc, err := l.s.Get(ctx, key, 0, -1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("velero: read %s: %w", key, err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("velero: %s: %v: %w", key, err, ErrFormat)
	}
	var list []podVolumeRecord
	if err := json.NewDecoder(io.LimitReader(zr, 64<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("velero: %s: %v: %w", key, err, ErrFormat)
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
