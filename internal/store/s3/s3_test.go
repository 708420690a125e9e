package s3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/s3"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
	"github.com/cairn-backup/cairn/internal/store/storetest"
)

// TestConformance runs the store suite on a plain bucket under a prefix,
// and on a bucket with object lock (so versioning) at its top, where
// Delete must remove versions, not add delete markers.
func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	var n atomic.Int32
	for _, tt := range []struct {
		name   string
		lock   bool
		prefix string
	}{
		{"Plain", false, "backups/cluster-a"},
		{"ObjectLock", true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				bucket := fmt.Sprintf("conformance-%d", n.Add(1))
				srv.CreateBucket(t, bucket, tt.lock)
				return srv.Store(t, bucket, tt.prefix)
			})
		})
	}
}

func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		in, bucket, prefix string
		ok                 bool
	}{
		{"s3://b", "b", "", true},
		{"s3://b/", "b", "", true},
		{"s3://b/p/q", "b", "p/q", true},
		{"s3://b/p/q/", "b", "p/q", true},
		{"s3:///p", "", "", false},
		{"file:///p", "", "", false},
		{"s3://b/a//c", "", "", false},
		{"s3://b/../c", "", "", false},
	} {
		b, p, err := s3.ParseURL(tt.in)
		if (err == nil) != tt.ok || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tt.in, b, p, err)
		}
	}
}

// TestActionableErrors checks that the mistakes people make are named.
func TestActionableErrors(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "errors", false)
	ctx := context.Background()

	opts := srv.Options("errors", "")
	opts.SecretKey = "wrong"
	_, err := s3.New(ctx, opts)
	if !errors.Is(err, s3.ErrCredentials) && !errors.Is(err, s3.ErrAccessDenied) {
		t.Errorf("New with a wrong secret = %v, want ErrCredentials", err)
	}
	if err != nil && !strings.Contains(err.Error(), "errors") {
		t.Errorf("error %q does not name the bucket", err)
	}

	opts = srv.Options("errors", "")
	opts.AccessKey = "nobody"
	_, err = s3.New(ctx, opts)
	if !errors.Is(err, s3.ErrCredentials) {
		t.Errorf("New with an unknown access key = %v, want ErrCredentials", err)
	}

	_, err = s3.New(ctx, srv.Options("no-such-bucket", ""))
	if !errors.Is(err, s3.ErrNoBucket) && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("New on a missing bucket = %v, want ErrNoBucket", err)
	}
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("error %v does not name the bucket", err)
	}

	// Nothing listening: the retryer gives up, bounded.
	opts = srv.Options("errors", "")
	opts.Endpoint = "http://127.0.0.1:1"
	start := time.Now()
	if _, err = s3.New(ctx, opts); err == nil {
		t.Error("New on a closed port succeeded")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("New on a closed port took %v", d)
	}
}

// TestRetention checks object lock in compliance mode: a retained object
// cannot be deleted through the store or behind its back, retention only
// grows, and an object whose retention ended can be deleted.
func TestRetention(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "locked", true)
	srv.CreateBucket(t, "unlocked", false)
	ctx := context.Background()
	s := srv.Store(t, "locked", "repo")

	if ok, err := s.ObjectLockEnabled(ctx); err != nil || !ok {
		t.Fatalf("ObjectLockEnabled on a lock bucket = %v, %v", ok, err)
	}
	if ok, err := srv.Store(t, "unlocked", "").ObjectLockEnabled(ctx); err != nil || ok {
		t.Fatalf("ObjectLockEnabled on a plain bucket = %v, %v", ok, err)
	}

	const key = "data/ab/abcd"
	orig := []byte("locked pack")
	if err := s.Put(ctx, key, orig); err != nil {
		t.Fatal(err)
	}
	if until, err := s.Retention(ctx, key); err != nil || !until.IsZero() {
		t.Fatalf("Retention of a new object = %v, %v; want none", until, err)
	}
	hour := time.Now().Add(time.Hour)
	if err := s.SetRetention(ctx, key, hour, store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	until, err := s.Retention(ctx, key)
	if err != nil || until.Before(hour.Truncate(time.Second)) {
		t.Fatalf("Retention = %v, %v; want at least %v", until, err, hour)
	}
	// Never shortened: an earlier date leaves it as it is.
	if err := s.SetRetention(ctx, key, time.Now().Add(time.Minute), store.RetentionCompliance); err != nil {
		t.Fatalf("SetRetention to an earlier date = %v", err)
	}
	if again, _ := s.Retention(ctx, key); !again.Equal(until) {
		t.Errorf("retention changed from %v to %v by an earlier date", until, again)
	}
	// Extended.
	if err := s.SetRetention(ctx, key, hour.Add(time.Hour), store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	if longer, _ := s.Retention(ctx, key); !longer.After(until) {
		t.Errorf("retention %v not extended past %v", longer, until)
	}

	err = s.Delete(ctx, key)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "until") {
		t.Errorf("Delete of a locked object = %v, want ErrLocked naming the date", err)
	}
	if err := s.Put(ctx, key, []byte("attacker")); !errors.Is(err, store.ErrExists) {
		t.Errorf("Put over a locked object = %v, want ErrExists", err)
	}

	// Behind the store's back, with the owner's (root) credentials.
	c := srv.Client()
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("repo/" + key)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String("locked"), Key: aws.String("repo/" + key), VersionId: head.VersionId,
	})
	if err == nil {
		t.Error("raw DeleteObject of the locked version succeeded")
	}
	past := time.Now().Add(-time.Hour)
	_, err = c.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{
		Bucket: aws.String("locked"), Key: aws.String("repo/" + key), VersionId: head.VersionId,
		Retention:                 retention("COMPLIANCE", past),
		BypassGovernanceRetention: aws.Bool(true),
	})
	if err == nil {
		t.Error("shortening a compliance retention succeeded")
	}
	// An overwrite makes a new version; the locked one stays as it was.
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String("locked"), Key: aws.String("repo/" + key), Body: strings.NewReader("attacker"),
	}); err != nil {
		t.Logf("raw overwrite: %v", err)
	}
	got, err := c.GetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String("locked"), Key: aws.String("repo/" + key), VersionId: head.VersionId,
	})
	if err != nil {
		t.Fatalf("get the locked version after an overwrite: %v", err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != string(orig) {
		t.Errorf("locked version reads %q after an overwrite, want %q", b, orig)
	}

	// A short retention ends, and then Delete works.
	const short = "data/cd/cdef"
	if err := s.Put(ctx, short, []byte("short")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRetention(ctx, short, time.Now().Add(2*time.Second), store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, short); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Delete during retention = %v, want ErrLocked", err)
	}
	time.Sleep(3500 * time.Millisecond)
	if err := s.Delete(ctx, short); err != nil {
		t.Errorf("Delete after retention ended = %v", err)
	}
	if _, err := s.Stat(ctx, short); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
}

// TestRetained runs the store.RetainedPutter suite on a bucket with object
// lock, under a prefix, and checks the retention behind the store's back:
// the version PutRetained wrote cannot be deleted with the root
// credentials.
func TestRetained(t *testing.T) {
	srv := s3test.Start(t)
	var n atomic.Int32
	storetest.RunRetained(t, func(t *testing.T) store.Store {
		bucket := fmt.Sprintf("retained-%d", n.Add(1))
		srv.CreateBucket(t, bucket, true)
		return srv.Store(t, bucket, "repo")
	})

	srv.CreateBucket(t, "retained-raw", true)
	s := srv.Store(t, "retained-raw", "repo")
	ctx := context.Background()
	const key = "data/ef/ef01"
	if err := s.PutRetained(ctx, key, []byte("pack"), time.Now().Add(time.Hour), store.RetentionCompliance); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("retained-raw"), Key: aws.String("repo/" + key)})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != "COMPLIANCE" || head.ObjectLockRetainUntilDate == nil {
		t.Errorf("HeadObject: mode %q, until %v; want COMPLIANCE with a date", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String("retained-raw"), Key: aws.String("repo/" + key), VersionId: head.VersionId,
	}); err == nil {
		t.Error("raw DeleteObject of a version written by PutRetained succeeded")
	}
}

// TestVersioned runs the store.Versioned suite on a bucket with object lock
// (so versioning), under a prefix, overwriting with raw PutObjects that
// bypass the store's put-if-absent; and checks that a plain bucket says it
// keeps no versions.
func TestVersioned(t *testing.T) {
	srv := s3test.Start(t)
	var n atomic.Int32
	storetest.RunVersioned(t, func(t *testing.T) store.Store {
		bucket := fmt.Sprintf("versioned-%d", n.Add(1))
		srv.CreateBucket(t, bucket, true)
		return srv.Store(t, bucket, "repo")
	}, func(t *testing.T, s store.Store, key string, data []byte) {
		st := s.(*s3.Store)
		if _, err := st.Client().PutObject(context.Background(), &awss3.PutObjectInput{
			Bucket: aws.String(st.Bucket()), Key: aws.String("repo/" + key), Body: strings.NewReader(string(data)),
		}); err != nil {
			t.Fatalf("raw overwrite of %s: %v", key, err)
		}
	})

	srv.CreateBucket(t, "unversioned", false)
	if on, err := srv.Store(t, "unversioned", "").Versioning(context.Background()); err != nil || on {
		t.Errorf("Versioning of a plain bucket = %v, %v; want false", on, err)
	}
}

// Behind TLS with a private CA: the store opens only when told to trust
// that CA; a bundle without a certificate is refused by name.
func TestPrivateCA(t *testing.T) {
	srv := s3test.StartTLS(t)
	srv.CreateBucket(t, "tls", false)
	ctx := t.Context()
	o := srv.Options("tls", "")
	st, err := s3.New(ctx, o)
	if err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if err := st.Put(ctx, "config", []byte("x")); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	o.CA = nil
	if _, err := s3.New(ctx, o); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want an error about the certificate", err)
	}
	o.CA = []byte("not a certificate")
	if _, err := s3.New(ctx, o); err == nil || !strings.Contains(err.Error(), "CA bundle holds no PEM certificate") {
		t.Errorf("with garbage as CA: %v", err)
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, srv.CA, 0o600); err != nil {
		t.Fatal(err)
	}
	o.CA, o.CAFile = nil, f
	if _, err := s3.New(ctx, o); err != nil {
		t.Errorf("with the CA as a file: %v", err)
	}
}
