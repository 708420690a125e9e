package stats

import (
	"context"
	"fmt"

	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/repo/index"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

// Stats describe a repository.
type Stats struct {
	Location         string  `json:"location"`
	ID               string  `json:"repository_id"`
	Snapshots        int     `json:"snapshots"`
	Keys             int     `json:"keys"`
	IndexFiles       int     `json:"index_files"`
	Packs            int     `json:"packs"`
	PackBytes        int64   `json:"pack_bytes"`
	TotalBytes       int64   `json:"total_stored_bytes"` // every object in the store
	Blobs            int     `json:"blobs"`
	TreeBlobs        int     `json:"tree_blobs"`
	UniqueRawBytes   int64   `json:"unique_raw_bytes"`    // plaintext of every distinct blob
	BlobStoredBytes  int64   `json:"blob_stored_bytes"`   // their sealed size
	LogicalBytes     int64   `json:"logical_bytes"`       // file bytes in all snapshots together
	CompressionRatio float64 `json:"compression_ratio"`   // unique raw / sealed
	DedupRatio       float64 `json:"deduplication_ratio"` // logical / unique raw data
}

// Collect computes the repository's statistics.
func Collect(ctx context.Context, r *repo.Repository) (*Stats, error) {
	s := &Stats{Location: r.Location(), ID: r.Config().ID}
	err := r.Store().List(ctx, "", func(fi store.Info) error {
		s.TotalBytes += fi.Size
		switch kind, _ := repo.KindOf(fi.Key); kind {
		case repo.KindData:
			s.Packs++
			s.PackBytes += fi.Size
		case repo.KindIndex:
			s.IndexFiles++
		case repo.KindKey:
			s.Keys++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stats: list: %w", err)
	}
	var dataRaw int64
	r.EachBlob(func(_ blob.ID, loc index.Location) bool {
		s.Blobs++
		s.UniqueRawBytes += int64(loc.RawLength)
		s.BlobStoredBytes += int64(loc.Length)
		if loc.Type == blob.Tree {
			s.TreeBlobs++
		} else {
			dataRaw += int64(loc.RawLength)
		}
		return true
	})
	snaps, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, err
	}
	s.Snapshots = len(snaps)
	for _, sn := range snaps {
		if sn.Summary != nil {
			s.LogicalBytes += sn.Summary.TotalBytes
		}
	}
	if s.BlobStoredBytes > 0 {
		s.CompressionRatio = round(float64(s.UniqueRawBytes) / float64(s.BlobStoredBytes))
	}
	if dataRaw > 0 {
		s.DedupRatio = round(float64(s.LogicalBytes) / float64(dataRaw))
	}
	return s, nil
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
