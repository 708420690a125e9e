// Package volumesave is the velero import's VolumeSaver on cairn's
// file-system engine (archiver.RunFS). It is a package of its own so that
// what imports package velero without it (the controller) does not link
// the engine.
package volumesave

import (
	"context"
	"io/fs"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/velero"
)

var _ velero.VolumeSaver = Save

// Save archives fsys's tree at s.Path into r as one snapshot.
func Save(ctx context.Context, r *repo.Repository, fsys fs.FS, s velero.VolumeSnapshot) (*snapshot.Snapshot, int64, int64, error) {
	var prog archiver.Progress
	sn, err := archiver.RunFS(ctx, r, fsys, archiver.Options{
		Paths: []string{s.Path}, Host: s.Host, Labels: s.Labels, Expires: s.Expires,
		Program: s.Program, Now: s.Now, Progress: &prog,
	})
	return sn, prog.Files.Load(), prog.Bytes.Load(), err
}
