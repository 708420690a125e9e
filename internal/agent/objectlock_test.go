package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// TestPodVolumeObjectLockS3 runs a Backup with a pod volume on the real
// node — the controller's reconcile for the resources, the agent for the
// volume — into an S3 bucket with object lock (versitygw): afterwards every
// version of every object in the bucket, the agent's volume snapshot and
// its packs included, is retained in compliance mode until at least the
// Backup's expiration plus the margin, and deleting any with the
// location's own credentials fails.
func TestPodVolumeObjectLockS3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := newEnv(ctx, t)
	srv := s3test.Start(t)
	srv.CreateBucket(t, "worm", true)
	st := srv.Store(t, "worm", "cluster")
	r, err := repo.Init(ctx, st, []byte(passphrase), repo.Options{ObjectLock: store.RetentionCompliance, LockMargin: time.Hour})
	must(t, err)
	r.Close()
	must(t, e.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "worm-pass", Namespace: e.ns}, StringData: map[string]string{"passphrase": passphrase}}))
	must(t, e.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "worm-creds", Namespace: e.ns}, StringData: map[string]string{
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
	}}))
	must(t, e.cl.Create(ctx, &cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "worm", Namespace: e.ns},
		Spec: cairnv1.BackupLocationSpec{
			Repository: "s3://worm/cluster", Endpoint: srv.Endpoint, Region: s3test.Region, PathStyle: true,
			Credentials: &corev1.LocalObjectReference{Name: "worm-creds"},
			Passphrase:  corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "worm-pass"}, Key: "passphrase"},
		},
	}))
	e.startAgent(ctx, t)
	app := e.appNamespace(ctx, t)
	e.runPod(ctx, t, app, "writer", nil, emptyDir("scratch"))

	b := &cairnv1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: "locked", Namespace: e.ns},
		Spec: cairnv1.BackupSpec{IncludedNamespaces: []string{app}, StorageLocation: "worm",
			TTL: &metav1.Duration{Duration: 48 * time.Hour}},
	}
	must(t, e.cl.Create(ctx, b))
	for i := 0; i < 4; i++ {
		reconcile(ctx, t, e.rs.Backup, e.ns, b.Name)
		must(t, e.cl.Get(ctx, types.NamespacedName{Namespace: e.ns, Name: b.Name}, b))
		if b.Status.Phase.Finished() {
			break
		}
	}
	if b.Status.Phase != cairnv1.PhaseCompleted || b.Status.Volumes == nil || b.Status.Volumes.Completed != 1 {
		t.Fatalf("backup: phase %s (%s), volumes %+v; want Completed with 1 volume", b.Status.Phase, b.Status.FailureReason, b.Status.Volumes)
	}
	var items cairnv1.PodVolumeBackupList
	must(t, e.cl.List(ctx, &items, client.InNamespace(e.ns), client.MatchingLabels{cairnv1.LabelBackup: b.Name}))
	if len(items.Items) != 1 || items.Items[0].Status.SnapshotID == "" {
		t.Fatalf("work items %+v, want one with a snapshot", items.Items)
	}
	volSnap := "cluster/snapshots/" + items.Items[0].Status.SnapshotID
	want := b.Status.Expiration.Add(time.Hour).Add(-time.Second)

	c := srv.Client()
	out, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("worm")})
	must(t, err)
	var sawVolSnap bool
	snaps := 0
	for _, v := range out.Versions {
		key := aws.ToString(v.Key)
		if strings.HasPrefix(key, "cluster/locks/") {
			t.Errorf("lock file left: %s", key)
			continue
		}
		if strings.HasPrefix(key, "cluster/snapshots/") {
			snaps++
		}
		sawVolSnap = sawVolSnap || key == volSnap
		h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: v.Key, VersionId: v.VersionId})
		must(t, err)
		if until := aws.ToTime(h.ObjectLockRetainUntilDate); h.ObjectLockMode != "COMPLIANCE" || until.Before(want) {
			t.Errorf("%s: mode %q until %v; want COMPLIANCE until at least %v", key, h.ObjectLockMode, until, want)
		}
		if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: v.Key, VersionId: v.VersionId}); err == nil {
			t.Errorf("deleting version %s of %s succeeded", aws.ToString(v.VersionId), key)
		}
	}
	if !sawVolSnap || snaps != 2 {
		t.Errorf("bucket holds %d snapshot files (the volume's %s: %v); want the cluster's and the volume's", snaps, volSnap, sawVolSnap)
	}
}
