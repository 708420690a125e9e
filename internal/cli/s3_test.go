package cli

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// s3Env is the environment for a repository at s3://bucket/prefix on srv.
func s3Env(t *testing.T, srv *s3test.Server, bucket, prefix string) env {
	t.Helper()
	e := env{
		"CAIRN_REPOSITORY":    "s3://" + bucket + "/" + prefix,
		"CAIRN_PASSWORD_FILE": writeFile(t, filepath.Join(t.TempDir(), "pass"), testPassphrase+"\n"),
	}
	for k, v := range srv.Env() {
		e[k] = v
	}
	return e
}

func TestS3BackupRestoreCheck(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "cli", false)
	e := s3Env(t, srv, "cli", "team/repo")
	data := sampleData(t)

	r := cairn(t, e, "repo", "init").must(t, 0)
	if !strings.Contains(r.stdout, "s3://cli/team/repo") {
		t.Errorf("init output does not name the repository: %s", r.stdout)
	}
	cairn(t, e, "repo", "init").must(t, 2)
	cairn(t, e, "fs", "backup", data, "--host", "node-1").must(t, 0)
	writeFile(t, filepath.Join(data, "hello.txt"), "hello again\n")
	cairn(t, e, "fs", "backup", data, "--host", "node-1").must(t, 0)
	target := t.TempDir()
	cairn(t, e, "fs", "restore", "latest", "--target", target, "--verify").must(t, 0)
	sameTree(t, data, target, "")
	cairn(t, e, "repo", "check", "--read-data").must(t, 0)

	// The same through flags instead of the environment.
	flags := []string{"--s3-endpoint", srv.Endpoint, "--s3-region", s3test.Region, "--s3-path-style"}
	e2 := e.with("CAIRN_S3_ENDPOINT", "", "CAIRN_S3_PATH_STYLE", "", "CAIRN_S3_REGION", "")
	cairn(t, e2, append([]string{"snapshots"}, flags...)...).must(t, 0)

	// Mistakes a person makes get a message that says what to fix.
	r = cairn(t, e.with("AWS_SECRET_ACCESS_KEY", "wrong"), "snapshots").must(t, 1)
	if !strings.Contains(r.stderr, "S3") || !strings.Contains(r.stderr, "cli") {
		t.Errorf("wrong secret: %s", r.stderr)
	}
	r = cairn(t, e.with("AWS_ACCESS_KEY_ID", "nobody"), "snapshots").must(t, 1)
	if !strings.Contains(r.stderr, "rejected the credentials") {
		t.Errorf("unknown access key: %s", r.stderr)
	}
	r = cairn(t, e.with("CAIRN_REPOSITORY", "s3://missing/repo"), "snapshots").must(t, 1)
	if !strings.Contains(r.stderr, "bucket does not exist") {
		t.Errorf("missing bucket: %s", r.stderr)
	}
	r = cairn(t, e.with("CAIRN_REPOSITORY", "s3://cli/empty"), "snapshots").must(t, 2)
	if !strings.Contains(r.stderr, "repo init") {
		t.Errorf("no repository: %s", r.stderr)
	}
}

// TestS3ObjectLock is issue 6 §2 end to end on a real S3 server:
// compliance mode, retention extended for reused packs, a restore after an
// attacker deleted all it could, and prune leaving locked objects.
func TestS3ObjectLock(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "plain", false)
	srv.CreateBucket(t, "worm", true)

	r := cairn(t, s3Env(t, srv, "plain", "repo"), "repo", "init", "--object-lock", "compliance").must(t, 2)
	if !strings.Contains(r.stderr, "object lock") {
		t.Errorf("init --object-lock on a plain bucket: %s", r.stderr)
	}

	e := s3Env(t, srv, "worm", "repo")
	cairn(t, e, "repo", "init", "--object-lock", "compliance", "--lock-margin", "2s").must(t, 0)
	st := srv.Store(t, "worm", "repo")
	data := sampleData(t)

	// A: short expiry. Its packs get a lock.
	cairn(t, e, "fs", "backup", data, "--ttl", "1s").must(t, 0)
	packs := s3Keys(t, st, "data/")
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	first := s3Retentions(t, st, packs)
	for k, until := range first {
		if until.IsZero() || until.Before(time.Now()) {
			t.Errorf("%s retained until %v after backup", k, until)
		}
	}
	for _, k := range []string{"config", s3Keys(t, st, "keys/")[0], s3Keys(t, st, "index/")[0], s3Keys(t, st, "snapshots/")[0]} {
		if until, err := st.Retention(ctx, k); err != nil || until.IsZero() {
			t.Errorf("%s: retention %v, %v", k, until, err)
		}
	}

	// B: the same data, deduplicated against A's packs, expiring in an
	// hour: the reused packs' locks are extended.
	cairn(t, e, "fs", "backup", data, "--ttl", "1h").must(t, 0)
	if got := s3Keys(t, st, "data/"); len(got) != len(packs) {
		t.Errorf("backup of unchanged data stored packs: %d, before %d", len(got), len(packs))
	}
	hour := time.Now().Add(50 * time.Minute)
	for k, until := range s3Retentions(t, st, packs) {
		if until.Before(hour) || !until.After(first[k]) {
			t.Errorf("reused pack %s retained until %v (was %v), want about an hour", k, until, first[k])
		}
	}

	// Deleting or overwriting a locked object fails, through the store and
	// behind its back with the owner's credentials.
	if err := st.Delete(ctx, packs[0]); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Delete of a locked pack = %v", err)
	}
	if err := st.Put(ctx, "locks/stray", []byte("unlocked")); err != nil {
		t.Fatal(err)
	}
	listed, deleted := s3Attack(t, srv.Client(), "worm")
	if deleted != 1 || listed < len(packs)+5 {
		t.Errorf("attacker saw %d object versions and deleted %d; want only the stray lock deleted", listed, deleted)
	}
	if got := s3Keys(t, st, "data/"); len(got) < len(packs) {
		t.Errorf("attacker deleted packs: %d left of %d", len(got), len(packs))
	}

	// Restore still works with the passphrase alone.
	target := t.TempDir()
	cairn(t, e, "fs", "restore", "latest", "--target", target, "--verify").must(t, 0)
	sameTree(t, data, target, "")

	// C: other data, short expiry. Once A's and C's locks end, forget and
	// prune remove them; the packs B still locks are left and reported.
	other := filepath.Join(t.TempDir(), "other")
	writeFile(t, filepath.Join(other, "c.txt"), strings.Repeat("C data only\n", 20000))
	cairn(t, e, "fs", "backup", other, "--ttl", "1s").must(t, 0)
	cPacks := s3NewKeys(s3Keys(t, st, "data/"), packs)
	time.Sleep(4 * time.Second)
	cairn(t, e, "forget").must(t, 0)
	// Hide B the way an attacker can (a delete marker), so that its packs
	// look unused to prune, while they are still locked.
	for _, k := range s3Keys(t, st, "snapshots/") {
		if _, err := srv.Client().DeleteObject(ctx, &awss3.DeleteObjectInput{
			Bucket: aws.String("worm"), Key: aws.String("repo/" + k),
		}); err != nil {
			t.Fatal(err)
		}
	}
	r = cairn(t, e, "repo", "prune", "-o", "json").must(t, 0)
	var rep struct {
		Locked []string `json:"locked"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("prune -o json: %v\n%s", err, r.stdout)
	}
	for _, p := range packs {
		if !s3Has(rep.Locked, p) {
			t.Errorf("prune did not report locked pack %s: %v", p, rep.Locked)
		}
	}
	left := s3Keys(t, st, "data/")
	for _, p := range cPacks {
		if s3Has(left, p) {
			t.Errorf("prune left expired pack %s", p)
		}
	}
	for _, p := range packs {
		if !s3Has(left, p) {
			t.Errorf("locked pack %s is gone", p)
		}
	}
}

// attack deletes, with the bucket owner's credentials, every object
// version it can, as an intruder would; locked ones refuse.
func s3Attack(t *testing.T, c *awss3.Client, bucket string) (listed, deleted int) {
	t.Helper()
	ctx := context.Background()
	out, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Versions {
		_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId})
		if err == nil {
			deleted++
		}
	}
	return len(out.Versions), deleted
}

func s3Keys(t *testing.T, s store.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), prefix, func(info store.Info) error {
		out = append(out, info.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func s3Retentions(t *testing.T, s store.Retainer, ks []string) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	for _, k := range ks {
		until, err := s.Retention(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		m[k] = until
	}
	return m
}

func s3NewKeys(all, old []string) []string {
	var out []string
	for _, k := range all {
		if !s3Has(old, k) {
			out = append(out, k)
		}
	}
	return out
}

func s3Has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
