package velero_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/restorer"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/s3/s3test"
	"github.com/cairn-backup/cairn/internal/velero"
	"github.com/cairn-backup/cairn/internal/velero/velerotest"
)

// volumeFiles fills dir with the volume's data: files of several sizes
// (one of several kopia chunks), a folder, a symlink, modes and an owner.
func volumeFiles(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	files := map[string][]byte{
		"hello.txt":           []byte("hello from a velero backup\n"),
		"db/data.bin":         random(9 << 20), // several kopia chunks: an indirect object
		"db/small.bin":        random(70 << 10),
		"db/empty":            nil,
		"deep/a/b/c/leaf.txt": []byte("leaf\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must0(t, os.Chmod(filepath.Join(dir, "db/small.bin"), 0o600))
	must0(t, os.Chown(filepath.Join(dir, "db/small.bin"), 1234, 5678))
	must0(t, os.Symlink("../hello.txt", filepath.Join(dir, "db/link")))
	old := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	must0(t, os.Chtimes(filepath.Join(dir, "hello.txt"), old, old))
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRealVeleroVolumes makes a file-system backup of a pod's volume with
// the real Velero (server and node agent, kopia uploader) on the real
// node, imports it with `cairn import velero`, and restores the imported
// pod-volume snapshot: every file comes back byte for byte, with its
// mode, owner, time and symlink target. The repository Velero made has
// Velero's default password, which the import reports as a finding.
func TestRealVeleroVolumes(t *testing.T) {
	src := kubetest.Start(t, kubetest.WithNode(kubetest.WithNodeNetwork(), kubetest.WithNodeImage(velerotest.Image)))
	n := src.Node
	srv := s3test.Start(t)
	srv.CreateBucket(t, "velero", false)
	cs := src.Clientset(t)
	ctx := context.Background()
	ns := "shop"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vol := n.LocalVolume(t, ns, "data")
	volumeFiles(t, vol.Path)
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: corev1.PodSpec{
			HostNetwork: true, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "db", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vol.PVC}}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "db", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod shop/db not running after 2 min (%v)\n%s", err, n.LogTails(20))
		}
	}

	vs := velerotest.Start(t, src, srv, "velero", "cluster-a")
	vs.StartNodeAgent(n, src)
	start := time.Now()
	b := vs.Backup("daily-1", map[string]any{"includedNamespaces": []any{ns}, "defaultVolumesToFsBackup": true, "ttl": "720h0m0s"})
	t.Logf("velero file-system backup of %s: %s", ns, time.Since(start).Round(time.Millisecond))
	if phase, _, _ := unstructured.NestedString(b.Object, "status", "phase"); phase != "Completed" {
		t.Fatalf("velero backup: phase %s: %v\nserver:\n%s\nnode agent:\n%s", phase, b.Object["status"], tailOf(vs.Log(), 30), tailOf(vs.AgentLog(), 30))
	}
	dyn, err := dynamic.NewForConfig(src.Config)
	if err != nil {
		t.Fatal(err)
	}
	pvbs, err := dyn.Resource(schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "podvolumebackups"}).Namespace("velero").List(ctx, metav1.ListOptions{})
	if err != nil || len(pvbs.Items) != 1 {
		t.Fatalf("PodVolumeBackups: %v %v", pvbs, err)
	}
	if phase, _, _ := unstructured.NestedString(pvbs.Items[0].Object, "status", "phase"); phase != "Completed" {
		t.Fatalf("PodVolumeBackup: %v\nnode agent:\n%s", pvbs.Items[0].Object["status"], tailOf(vs.AgentLog(), 40))
	}
	// The data path ran where Velero runs it: in a pod of the Velero image
	// on the node (the webhook gave it the node's network), not in the agent.
	if !strings.Contains(vs.AgentLog(), "Hosting pod is created") || vs.PodsPatched() < 2 {
		t.Errorf("the node agent made no data-path pod (pods patched: %d)\n%s", vs.PodsPatched(), tailOf(vs.AgentLog(), 20))
	}

	dir := t.TempDir()
	env := map[string]string{
		"CAIRN_REPOSITORY": filepath.Join(dir, "repo"), "CAIRN_PASSWORD": passphrase,
		"CAIRN_S3_ENDPOINT": srv.Endpoint, "CAIRN_S3_REGION": s3test.Region,
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
	}
	must(t, 0, env, "repo", "init")
	start = time.Now()
	out := must(t, 0, env, "import", "velero", "--from", "s3://velero/cluster-a", "--all", "-o", "json")
	t.Logf("cairn import velero (1 backup, 1 volume): %s", time.Since(start).Round(time.Millisecond))
	var rep velero.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Results) != 1 || len(rep.Results[0].Volumes) != 1 {
		t.Fatalf("import: %s", out)
	}
	v := rep.Results[0].Volumes[0]
	if v.Outcome != velero.VolumeImported || v.Pod != "db" || v.Volume != "data" || v.Files != 5 {
		t.Fatalf("volume: %+v", v)
	}
	t.Logf("volume %s: %d files, %d bytes imported", v.PodVolume, v.Files, v.Bytes)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0], velero.DefaultRepoPassword) || !strings.Contains(rep.Findings[0], "namespace shop") {
		t.Errorf("findings: %q, want the default password of shop's repository", rep.Findings)
	}
	// Again: nothing new.
	if out := must(t, 0, env, "import", "velero", "--from", "s3://velero/cluster-a", "--all"); !strings.Contains(out, "0 imported, 1 already imported") {
		t.Errorf("second import:\n%s", out)
	}
	// The human output of a first import (into another repository) names
	// the volume and the finding.
	other := map[string]string{}
	for k, v := range env {
		other[k] = v
	}
	other["CAIRN_REPOSITORY"] = filepath.Join(dir, "other")
	must(t, 0, other, "repo", "init")
	code, hout, errs := cairn(t, other, "import", "velero", "--from", "s3://velero/cluster-a", "--all")
	if code != 0 || !strings.Contains(hout, "daily-1: "+v.PodVolume.String()+": data imported (5 files") ||
		!strings.Contains(errs, "cairn: finding: ") || !strings.Contains(errs, velero.DefaultRepoPassword) {
		t.Errorf("import, human output: exit %d\nstdout:\n%s\nstderr:\n%s", code, hout, errs)
	}

	// The restore finds the volume's data by the labels the agent's own
	// snapshots carry: the backup, the namespace and the claim.
	s, err := local.New(env["CAIRN_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s, []byte(passphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all, err := snapshot.List(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	f := snapshot.Filter{Label: map[string]string{podvolume.LabelKind: podvolume.KindPodVolume, podvolume.LabelBackup: "daily-1",
		podvolume.LabelNamespace: ns, podvolume.LabelPVC: vol.PVC, podvolume.LabelOwner: "Pod/db", podvolume.LabelVolume: "data"}}
	var sn *snapshot.Snapshot
	for _, x := range all {
		if f.Match(x) {
			sn = x
		}
	}
	if sn == nil || sn.ID != v.Snapshot {
		t.Fatalf("no pod-volume snapshot with the restore's labels (%s); snapshots: %d", v.Snapshot, len(all))
	}
	target := filepath.Join(t.TempDir(), "restored")
	must0(t, os.Mkdir(target, 0o700))
	start = time.Now()
	if _, err := restorer.Run(ctx, r, sn, restorer.Options{Target: target, RootMeta: true}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Logf("restore of the imported volume: %s", time.Since(start).Round(time.Millisecond))
	sameTree(t, vol.Path, target)
}

// sameTree compares two folders: names, types, contents, modes, owners,
// file times and symlink targets.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.Walk(want, func(p string, wi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		gp := filepath.Join(got, rel)
		gi, err := os.Lstat(gp)
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		n++
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		ws, gs := wi.Sys().(*syscallStat), gi.Sys().(*syscallStat)
		if ws.Uid != gs.Uid || ws.Gid != gs.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, gs.Uid, gs.Gid, ws.Uid, ws.Gid)
		}
		switch {
		case wi.Mode()&os.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(gp)
			if wl != gl {
				t.Errorf("%s: symlink to %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			if !wi.ModTime().Equal(gi.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(gp)
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: %d bytes restored differ from the %d of the original", rel, len(gb), len(wb))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries compared", n)
}

func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type syscallStat = syscall.Stat_t
