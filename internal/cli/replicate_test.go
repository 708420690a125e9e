package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
)

// TestReplicateRestore is issue 6 §3 through the CLI: back up into A,
// replicate A to B with no passphrase anywhere in the environment, restore
// from B with the passphrase alone; verify reports the lag of a newer
// backup until the next replicate.
func TestReplicateRestore(t *testing.T) {
	t.Parallel()
	a := newRepo(t)
	data := sampleData(t)
	cairn(t, a, "fs", "backup", data, "--host", "node-1").must(t, 0)
	b := filepath.Join(t.TempDir(), "replica")
	noKey := env{} // replicate runs where the key is not

	r := cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b).must(t, 0)
	if !strings.Contains(r.stdout, "new replica") || !strings.Contains(r.stdout, "copied") {
		t.Errorf("replicate output:\n%s", r.stdout)
	}
	r = cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b, "-o", "json").must(t, 0)
	var rep replicate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Copied != 0 || rep.Present == 0 {
		t.Errorf("second replicate: %v %+v", err, rep)
	}
	cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b, "--verify", "--read-data").must(t, 0)

	replica := a.with("CAIRN_REPOSITORY", b)
	target := t.TempDir()
	cairn(t, replica, "fs", "restore", "latest", "--target", target).must(t, 0)
	sameTree(t, data, target, "")

	// A new backup on A: the replica lags until the next run.
	writeFile(t, filepath.Join(data, "new.txt"), "after the first replication\n")
	cairn(t, a, "fs", "backup", data, "--host", "node-1").must(t, 0)
	newest := snapshotsJSON(t, a)[1]
	r = cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b, "--verify").must(t, 1)
	if !strings.Contains(r.stdout, "DIFFERS") || !strings.Contains(r.stdout, newest.ShortID) {
		t.Errorf("verify of a lagging replica does not name snapshot %s:\n%s", newest.ShortID, r.stdout)
	}
	r = cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b, "--verify", "-o", "json").must(t, 1)
	var v replicate.VerifyReport
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.InSync || v.Lag.Snapshots != 1 || v.Lag.Newest != newest.ID {
		t.Errorf("verify -o json: %v %+v", err, v.Lag)
	}
	cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b).must(t, 0)
	cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b, "--verify").must(t, 0)
	target = t.TempDir()
	cairn(t, replica, "fs", "restore", "latest", "--target", target).must(t, 0)
	sameTree(t, data, target, "")

	// Another repository is not a replica: bad input, nothing written.
	other := newRepo(t)
	before := listing(t, other["CAIRN_REPOSITORY"])
	r = cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", other["CAIRN_REPOSITORY"]).must(t, 2)
	if !strings.Contains(r.stderr, "holds repository") {
		t.Errorf("replicate into another repository: %s", r.stderr)
	}
	if listing(t, other["CAIRN_REPOSITORY"]) != before {
		t.Error("replicate changed another repository")
	}
	// A dry run into a new directory creates nothing.
	fresh := filepath.Join(t.TempDir(), "fresh")
	r = cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", fresh, "--dry-run").must(t, 0)
	if !strings.Contains(r.stdout, "would copy") {
		t.Errorf("dry run output:\n%s", r.stdout)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("dry run created %s: %v", fresh, err)
	}
	cairn(t, noKey, "replicate", "--to", b).must(t, 2)
	cairn(t, noKey, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", b, "--verify", "--prune").must(t, 2)
}

// TestReplicateS3 replicates a local repository to a bucket and restores
// from the bucket.
func TestReplicateS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "offsite", true)
	a := newRepo(t)
	data := sampleData(t)
	cairn(t, a, "fs", "backup", data).must(t, 0)
	s3 := env{}
	for k, v := range srv.Env() {
		s3[k] = v
	}
	cairn(t, s3, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", "s3://offsite/cluster-a").must(t, 0)
	cairn(t, s3, "replicate", "--from", a["CAIRN_REPOSITORY"], "--to", "s3://offsite/cluster-a", "--verify", "--read-data").must(t, 0)
	replica := s3.with("CAIRN_REPOSITORY", "s3://offsite/cluster-a", "CAIRN_PASSWORD_FILE", a["CAIRN_PASSWORD_FILE"])
	target := t.TempDir()
	cairn(t, replica, "fs", "restore", "latest", "--target", target).must(t, 0)
	sameTree(t, data, target, "")
	// And back from S3 to a local directory.
	back := filepath.Join(t.TempDir(), "back")
	cairn(t, s3, "replicate", "--from", "s3://offsite/cluster-a", "--to", back).must(t, 0)
	cairn(t, s3, "replicate", "--from", "s3://offsite/cluster-a", "--to", back, "--verify", "--read-data").must(t, 0)
}
