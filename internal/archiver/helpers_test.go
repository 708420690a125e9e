package archiver_test

import (
	"context"
	"os"
	"syscall"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

func loadSnap(r *repo.Repository, id string) (*snapshot.Snapshot, error) {
	return snapshot.Load(context.Background(), r, id)
}

func inodeOf(fi os.FileInfo) uint64 {
	return fi.Sys().(*syscall.Stat_t).Ino
}
