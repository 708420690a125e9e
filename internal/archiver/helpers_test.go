package archiver_test

import (
	"context"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func loadSnap(r *repo.Repository, id string) (*snapshot.Snapshot, error) {
	return snapshot.Load(context.Background(), r, id)
}
