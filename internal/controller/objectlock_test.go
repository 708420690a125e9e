package controller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// TestBackupObjectLockS3 runs a Backup through the controller into an S3
// bucket with object lock (the real versitygw): every version of every
// object the backup left — packs, index files, snapshot, config, key —
// is retained in compliance mode until at least the Backup's expiration
// plus the margin, and deleting any of them with the same credentials
// the BackupLocation uses fails.
func TestBackupObjectLockS3(t *testing.T) {
	e := newEnv(t, noGuardrails)
	srv := s3test.Start(t)
	srv.CreateBucket(t, "worm", true)
	st := srv.Store(t, "worm", "cluster")
	r, err := repo.Init(e.ctx, st, []byte(passphrase), repo.Options{ObjectLock: store.RetentionCompliance, LockMargin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3-pass", Namespace: e.ns}, StringData: map[string]string{"passphrase": passphrase}})
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3-creds", Namespace: e.ns}, StringData: map[string]string{
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
	}})
	e.create(&cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "worm", Namespace: e.ns},
		Spec: cairnv1.BackupLocationSpec{
			Repository: "s3://worm/cluster", Default: true,
			Endpoint: srv.Endpoint, Region: s3test.Region, PathStyle: true,
			Credentials: &corev1.LocalObjectReference{Name: "s3-creds"},
			Passphrase:  corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s3-pass"}, Key: "passphrase"},
		},
	})
	for _, n := range []string{"app-config", "app-settings", "feature-flags"} {
		e.configMap(n)
	}
	e.create(&cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: "locked", Namespace: e.ns},
		Spec:       cairnv1.BackupSpec{IncludedNamespaces: []string{e.ns}, TTL: ttl(48 * time.Hour)},
	})
	e.reconcile(e.rs.Backup, "locked")
	var b cairnv1.Backup
	e.get("locked", &b)
	if b.Status.Phase == cairnv1.PhaseNew || b.Status.Phase == "" {
		e.reconcile(e.rs.Backup, "locked")
		e.get("locked", &b)
	}
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Expiration == nil {
		t.Fatalf("phase %s (%s), expiration %v; want Completed", b.Status.Phase, b.Status.FailureReason, b.Status.Expiration)
	}
	want := b.Status.Expiration.Add(time.Hour).Add(-time.Second)
	e.reconcile(e.rs.Location, "worm")
	if got := gather(t).value("cairn_location_object_lock", map[string]string{"location": "worm"}); got != 1 {
		t.Errorf("cairn_location_object_lock of a locked repository = %v, want 1", got)
	}

	c := srv.Client()
	out, err := c.ListObjectVersions(e.ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("worm")})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, v := range out.Versions {
		key := aws.ToString(v.Key)
		kinds[strings.SplitN(strings.TrimPrefix(key, "cluster/"), "/", 2)[0]]++
		h, err := c.HeadObject(e.ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		if until := aws.ToTime(h.ObjectLockRetainUntilDate); h.ObjectLockMode != "COMPLIANCE" || until.Before(want) {
			t.Errorf("%s: mode %q until %v; want COMPLIANCE until at least %v", key, h.ObjectLockMode, until, want)
		}
		if _, err := c.DeleteObject(e.ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: v.Key, VersionId: v.VersionId}); err == nil {
			t.Errorf("deleting version %s of %s succeeded", aws.ToString(v.VersionId), key)
		}
	}
	for _, k := range []string{"config", "keys", "data", "index", "snapshots"} {
		if kinds[k] == 0 {
			t.Errorf("no %s object in the bucket (%v)", k, kinds)
		}
	}
	if kinds["locks"] != 0 {
		t.Errorf("lock files left: %v", kinds)
	}
}
