package check_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/archiver"
	"github.com/cairn-backup/cairn/internal/check"
	"github.com/cairn-backup/cairn/internal/dirdiff"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
	"github.com/cairn-backup/cairn/internal/testenv"
)

// TestShadowedOnS3: on a real S3 server, in a bucket with object lock (so
// versioning), garbage PUT over a pack, an index file and the snapshot file
// with raw PutObjects (bypassing the store's put-if-absent, as anyone with
// the bucket's credentials can) adds newer versions. The restore is still
// byte-identical, read from the older versions; check reports the
// shadowing as a finding.
func TestShadowedOnS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "shadowed", true)
	ctx := context.Background()
	st := srv.Store(t, "shadowed", "repo")
	r, err := repo.Init(ctx, st, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := t.TempDir()
	testenv.RandomFiles(t, filepath.Join(src, "big"), 2, 3<<20, 1)
	testenv.RandomFiles(t, filepath.Join(src, "small"), 20, 10<<10, 2)
	sn, err := archiver.Run(ctx, r, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	walkFiles(t, r, sn.Tree.String(), func(path string, content []string) {
		if victim == "" && strings.HasPrefix(path, "big/") {
			victim = content[0]
		}
	})
	loc, _ := r.Lookup(mustParse(t, victim))
	var indexKey string
	if err := st.List(ctx, "index/", func(fi store.Info) error { indexKey = fi.Key; return nil }); err != nil {
		t.Fatal(err)
	}
	overwritten := []string{repo.PackKey(loc.Pack), indexKey, repo.KindSnapshot.Key(sn.ID)}
	for _, key := range overwritten {
		if _, err := srv.Client().PutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String("shadowed"), Key: aws.String("repo/" + key),
			Body: bytes.NewReader(bytes.Repeat([]byte("encrypted by ransomware "), 1000)),
		}); err != nil {
			t.Fatalf("raw PutObject over %s: %v", key, err)
		}
	}

	o, err := repo.Open(ctx, st, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatalf("open after the overwrites: %v", err)
	}
	defer o.Close()
	got, err := snapshot.Find(ctx, o, sn.ID, snapshot.Filter{})
	if err != nil {
		t.Fatalf("find the overwritten snapshot: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restorer.Run(ctx, o, got, restorer.Options{Target: dst, Verify: true}); err != nil {
		t.Fatalf("restore after the overwrites: %v", err)
	}
	if diffs, err := dirdiff.Compare(src, dst, dirdiff.Options{}); err != nil || len(diffs) > 0 {
		t.Fatalf("restore differs: %v %v", diffs, err)
	}

	c, err := repo.Open(ctx, st, []byte("pw"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := check.Run(ctx, c, check.Options{ReadData: true})
	if !errors.Is(err, check.ErrDamaged) {
		t.Fatalf("check --read-data: %v, want ErrDamaged (the shadowing is a finding)", err)
	}
	if len(rep.DamagedPacks) != 0 || len(rep.Unreadable) != 0 {
		t.Fatalf("check found damage: %+v / %+v; the good versions are there", rep.DamagedPacks, rep.Unreadable)
	}
	shadowed := map[string]bool{}
	for _, s := range rep.Shadowed {
		shadowed[s.Key] = true
	}
	for _, key := range overwritten {
		if !shadowed[key] {
			t.Errorf("check did not report %s as shadowed: %+v", key, rep.Shadowed)
		}
	}
	msg := strings.Join(rep.Errors, "\n")
	for _, want := range []string{"pack " + loc.Pack.String() + ": current version does not match its name; version ", "the object was overwritten"} {
		if !strings.Contains(msg, want) {
			t.Errorf("check errors lack %q:\n%s", want, msg)
		}
	}
}
