package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// TestS3LockedAtUpload checks that with object lock, a backup's objects
// are retained from the PUT that writes them: a second client lists every
// version of the bucket and reads its retention over and over while a
// large backup uploads, and finds none without (but lock files); after the
// backup, the bucket owner's credentials cannot delete a single version,
// and every one is retained until the snapshot's expiry plus the margin.
func TestS3LockedAtUpload(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "worm", true)
	e := s3Env(t, srv, "worm", "repo")
	cairn(t, e, "repo", "init", "--object-lock", "compliance", "--lock-margin", "1h").must(t, 0)

	// 80 MiB that do not compress: five packs or more, uploaded while
	// the watcher lists.
	data := t.TempDir()
	testenv.RandomFiles(t, data, 20, 4<<20, 11)

	w := &lockWatcher{c: srv.Client(), bucket: "worm"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.run(ctx, stop)
	}()
	start := time.Now()
	cairn(t, e, "fs", "backup", data, "--ttl", "48h").must(t, 0)
	close(stop)
	wg.Wait()

	if w.packsSeen == 0 || w.roundsDuringUpload < 2 {
		t.Fatalf("the watcher saw %d pack versions in %d rounds while the backup ran: it did not watch the upload", w.packsSeen, w.roundsDuringUpload)
	}
	for _, u := range w.unlocked {
		t.Errorf("seen without retention during the backup: %s", u)
	}
	t.Logf("watcher: %d rounds, %d pack versions seen mid-upload, %d seen in the server's window before their retention was stored", w.roundsDuringUpload, w.packsSeen, w.late)

	// After: nothing can be deleted, and the dates are right.
	want := start.Add(48*time.Hour + time.Hour)
	out, err := srv.Client().ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("worm")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Versions {
		h, err := srv.Client().HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		if until := aws.ToTime(h.ObjectLockRetainUntilDate); h.ObjectLockMode != "COMPLIANCE" || until.Before(want.Add(-time.Second)) {
			t.Errorf("%s: mode %q until %v, want COMPLIANCE until at least %v", aws.ToString(v.Key), h.ObjectLockMode, until, want)
		}
	}
	listed, deleted := s3Attack(t, srv.Client(), "worm")
	if deleted != 0 || listed < 5 {
		t.Errorf("attacker saw %d object versions and deleted %d; want none deleted", listed, deleted)
	}
	target := t.TempDir()
	cairn(t, e, "fs", "restore", "latest", "--target", target, "--verify").must(t, 0)
}

// lockWatcher lists every version of a bucket and reads each one's
// retention, round after round, recording the versions of repository
// objects that have none.
type lockWatcher struct {
	c      *awss3.Client
	bucket string

	roundsDuringUpload int // rounds that saw at least one pack
	packsSeen          int
	late               int // versions whose retention the server stored after it listed them
	unlocked           []string
}

// retainedSoon reports whether the version has its retention within a
// second: the server's window between linking an object and storing the
// retention of its PUT.
func (w *lockWatcher) retainedSoon(ctx context.Context, key, version *string) bool {
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		h, err := w.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: key, VersionId: version})
		if err == nil && h.ObjectLockMode != "" && h.ObjectLockRetainUntilDate != nil && h.ObjectLockRetainUntilDate.After(time.Now()) {
			return true
		}
	}
	return false
}

func (w *lockWatcher) run(ctx context.Context, stop <-chan struct{}) {
	checked := map[string]bool{} // versions found retained (retention cannot go away)
	for {
		select {
		case <-stop:
			return
		default:
		}
		out, err := w.c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String(w.bucket)})
		if err != nil {
			w.unlocked = append(w.unlocked, "list: "+err.Error())
			return
		}
		packs := 0
		for _, v := range out.Versions {
			if strings.HasPrefix(aws.ToString(v.Key), "repo/data/") {
				packs++
			}
		}
		for _, v := range out.Versions {
			key, id := aws.ToString(v.Key), aws.ToString(v.VersionId)
			if strings.HasPrefix(key, "repo/locks/") || checked[key+"@"+id] {
				continue
			}
			h, err := w.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: v.Key, VersionId: v.VersionId})
			if err != nil {
				continue // deleted since the listing
			}
			if h.ObjectLockMode == "" || h.ObjectLockRetainUntilDate == nil || !h.ObjectLockRetainUntilDate.After(time.Now()) {
				// The config and key files exist since init; the backup
				// locks them before it writes its first pack.
				if packs == 0 && (key == "repo/config" || strings.HasPrefix(key, "repo/keys/")) {
					continue
				}
				// versitygw's posix backend makes the object visible, then
				// stores the retention its PUT carried (AWS S3 does both at
				// once): a version of the last moments may show none yet.
				// Such a version must have it a moment later; one that
				// does not was uploaded without retention.
				if w.retainedSoon(ctx, v.Key, v.VersionId) {
					w.late++
					checked[key+"@"+id] = true
					continue
				}
				w.unlocked = append(w.unlocked, fmt.Sprintf("%s (version %s, %d packs listed)", key, id, packs))
				continue
			}
			checked[key+"@"+id] = true
		}
		if packs > 0 {
			w.roundsDuringUpload++
			w.packsSeen += packs
		}
	}
}
