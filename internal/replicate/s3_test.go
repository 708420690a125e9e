package replicate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// TestS3 replicates through a real S3 server (versitygw on 127.0.0.1):
// a local repository with object lock dates → a bucket with object lock
// (the dates follow), that bucket → a second locked bucket (S3 to S3,
// dates read from S3), and back to a local directory.
func TestS3(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "replica", true)
	srv.CreateBucket(t, "replica2", true)

	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := newRetaining(l)
	newRepo(t, src, 6, repo.Options{ObjectLock: store.RetentionCompliance})
	until := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	locked := []string{repo.ConfigKey, keys(t, src, "keys/")[0], keys(t, src, "data/")[0], keys(t, src, "index/")[0], keys(t, src, "snapshots/")[0]}
	for _, k := range locked {
		if err := src.SetRetention(ctx, k, until, store.RetentionCompliance); err != nil {
			t.Fatal(err)
		}
	}

	bucket := srv.Store(t, "replica", "off-site/cluster-a")
	rep, err := replicate.Run(ctx, src, bucket, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retained != len(locked) || len(rep.Warnings) != 0 {
		t.Errorf("local → S3: %d retained, warnings %q; want %d, none", rep.Retained, rep.Warnings, len(locked))
	}
	sameObjects(t, src, bucket)
	for _, k := range locked {
		if got, err := bucket.Retention(ctx, k); err != nil || !got.Equal(until) {
			t.Errorf("%s retained until %s (%v) on S3, want %s", k, got, err, until)
		}
	}
	if err := bucket.Delete(ctx, locked[2]); !errors.Is(err, store.ErrLocked) {
		t.Errorf("delete a replicated locked pack = %v, want ErrLocked", err)
	}

	// S3 → S3: the dates are read from the first bucket.
	bucket2 := srv.Store(t, "replica2", "")
	rep, err = replicate.Run(ctx, bucket, bucket2, replicate.Options{})
	if err != nil || rep.Retained != len(locked) {
		t.Fatalf("S3 → S3: %v, %+v", err, rep)
	}
	for _, k := range locked {
		if got, err := bucket2.Retention(ctx, k); err != nil || !got.Equal(until) {
			t.Errorf("%s retained until %s (%v) on the second bucket, want %s", k, got, err, until)
		}
	}
	if v, err := replicate.Verify(ctx, bucket, bucket2, replicate.VerifyOptions{ReadData: true}); err != nil || !v.InSync {
		t.Errorf("verify S3 → S3: %v, %+v", err, v)
	}

	// S3 → local: everything arrives; the replica cannot lock, and says so.
	back, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rep, err = replicate.Run(ctx, bucket2, back, replicate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "not immutable") {
		t.Errorf("S3 → local warnings %q, want one that says the replica is not immutable", rep.Warnings)
	}
	sameObjects(t, src, back)
	if v, err := replicate.Verify(ctx, bucket2, back, replicate.VerifyOptions{ReadData: true}); err != nil || !v.InSync {
		t.Errorf("verify S3 → local: %v, %+v", err, v)
	}
}
