//go:build !fsonly

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cli/clustercmd"
	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/repo/blob"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
)

// erase plan against real cluster backups: two backups of a namespace
// (one kept 2 days, one 10), a later one without it, a pod volume of the
// namespace, and a replica. Each target finds exactly the copies that
// hold it, and the last copy's date is the latest expiry.
func TestErasePlan(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Clientset(t)
	shop, other := c.Namespace(t), c.Namespace(t)
	mk := func(ns, name string, lbl map[string]string) {
		t.Helper()
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk(shop, "customer-4711", map[string]string{"customer": "4711"})
	mk(shop, "settings", nil)
	mk(other, "unrelated", map[string]string{"customer": "42"})
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	cairn(t, e, "backup", "run", "short", "--ttl", "48h", "--include-namespaces", shop, "--no-progress").must(t, 0)
	cairn(t, e, "backup", "run", "long", "--ttl", "240h", "--include-namespaces", shop+","+other, "--no-progress").must(t, 0)
	cairn(t, e, "backup", "run", "elsewhere", "--ttl", "0", "--include-namespaces", other, "--no-progress").must(t, 0)

	// A pod volume of the shop namespace, kept 5 days.
	r := openTestRepo(t, e)
	tree, err := snapshot.SaveTree(ctx, r, &snapshot.Tree{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(120 * time.Hour)
	if err := snapshot.Save(ctx, r, &snapshot.Snapshot{
		Time: time.Now(), Host: "node-1", Paths: []string{"/data"}, Tree: tree, Expires: &exp,
		Labels: podvolume.SnapshotLabels("long", shop, "db-0", "data", "data-db-0", "StatefulSet/db"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	plan := func(args ...string) erase.Plan {
		t.Helper()
		res := cairn(t, e, append([]string{"erase", "plan", "-o", "json"}, args...)...).must(t, 0)
		var p erase.Plan
		if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
			t.Fatalf("erase plan %v: %v\n%s", args, err, res.stdout)
		}
		return p
	}
	names := func(p erase.Plan) string {
		var out []string
		for _, c := range p.Copies {
			n := c.Backup + ":" + c.Kind
			if c.Volume != "" {
				n += ":" + c.Volume
			}
			out = append(out, n)
		}
		return strings.Join(out, " ")
	}

	p := plan("--namespace", shop)
	if got, want := names(p), "short:cluster long:cluster long:pod-volume:"+shop+"/db-0/data"; got != want {
		t.Errorf("namespace %s: copies %q, want %q", shop, got, want)
	}
	if p.LastGoneBy == nil || p.Copies[1].Expires == nil || !p.LastGoneBy.Equal(*p.Copies[1].Expires) {
		t.Errorf("last gone by %v, want the long backup's expiry %v", p.LastGoneBy, p.Copies[1].Expires)
	}
	if p.Copies[0].Objects < 2 {
		t.Errorf("short holds %d objects of %s, want ≥ 2", p.Copies[0].Objects, shop)
	}

	if got := names(plan("--object", "configmap/"+shop+"/customer-4711")); got != "short:cluster long:cluster" {
		t.Errorf("object: copies %q", got)
	}
	if got := names(plan("--object", "configmaps/"+other+"/unrelated")); got != "long:cluster elsewhere:cluster" {
		t.Errorf("object in the other namespace: copies %q", got)
	}
	if got := names(plan("--object", "pvc/"+shop+"/data-db-0")); got != "long:pod-volume:"+shop+"/db-0/data" {
		t.Errorf("claim: copies %q", got)
	}
	if got := names(plan("--object", "configmap/"+shop+"/nope")); got != "" {
		t.Errorf("an object no backup holds: copies %q", got)
	}
	p = plan("--selector", "customer=4711")
	if got := names(p); got != "short:cluster long:cluster" || p.Copies[0].Objects != 1 {
		t.Errorf("selector: copies %q (%+v)", got, p.Copies)
	}
	// The backup that never expires: no date, named instead.
	p = plan("--selector", "customer=42")
	if p.LastGoneBy != nil || len(p.Never) != 1 || !strings.Contains(p.Never[0], "elsewhere") {
		t.Errorf("a copy that never expires: last gone by %v, never %v", p.LastGoneBy, p.Never)
	}
	res := cairn(t, e, "erase", "plan", "--selector", "customer=42").must(t, 0)
	if !strings.Contains(res.stdout, "never expire") {
		t.Errorf("table output does not say that a copy never expires:\n%s", res.stdout)
	}

	// A replica holds the same copies, listed under its own location.
	replica := filepath.Join(t.TempDir(), "replica")
	cairn(t, e, "replicate", "--to", replica, "--no-progress").must(t, 0)
	p = plan("--namespace", shop, "--replica", replica)
	if len(p.Copies) != 6 || p.Copies[3].Repository != replica && p.Copies[0].Repository != replica {
		t.Errorf("with the replica: %d copies (%q), want 6, three in %s", len(p.Copies), names(p), replica)
	}

	for _, bad := range [][]string{
		{}, {"--namespace", shop, "--selector", "a=b"}, {"--object", "configmap"}, {"--object", "a//b"},
		{"--selector", "a in (b"}, {"--selector", ""},
	} {
		cairn(t, e, append([]string{"erase", "plan"}, bad...)...).must(t, 2)
	}
}

// erase apply on real cluster backups and a pod volume: without --yes it
// refuses; with it, the namespace's objects and volume are gone from every
// backup and, after its prune, from every byte of every pack; the other
// namespace's data, the backups' names and expiries stay; the receipt says
// what happened; the old snapshot IDs find the new backups.
func TestEraseApply(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := c.Clientset(t)
	shop, other := c.Namespace(t), c.Namespace(t)
	secret := "customer-4711-address-" + shop // unique in this repository
	kept := "kept-data-of-" + other
	for ns, v := range map[string]string{shop: secret, other: kept} {
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Data: map[string]string{"v": v}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	cairn(t, e, "backup", "run", "one", "--ttl", "48h", "--include-namespaces", shop+","+other, "--no-progress").must(t, 0)
	cairn(t, e, "backup", "run", "two", "--ttl", "240h", "--include-namespaces", shop+","+other, "--no-progress").must(t, 0)

	open := func() *repo.Repository { return openTestRepo(t, e) }
	// A volume of the shop namespace whose file holds the secret too.
	r := open()
	fid, _, err := r.SaveBlob(ctx, blob.Data, []byte("volume file: "+secret))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := snapshot.SaveTree(ctx, r, &snapshot.Tree{Nodes: []snapshot.Node{{Name: "f", Type: snapshot.TypeFile, Mode: 0o644, Content: []blob.ID{fid}}}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(120 * time.Hour)
	if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Time: time.Now(), Host: "node-1", Paths: []string{"/data"}, Tree: tree, Expires: &exp,
		Labels: podvolume.SnapshotLabels("two", shop, "db-0", "data", "data-db-0", "StatefulSet/db")}); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	before := map[string]*snapshot.Snapshot{}
	sns, err := backup.List(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range sns {
		before[backup.Name(sn)] = sn
	}
	if n := packsHolding(t, ctx, open(), secret); n == 0 {
		t.Fatal("the secret is in no pack before the erasure: the test would prove nothing")
	}

	cairn(t, e, "erase", "apply", "--namespace", shop).must(t, 2) // no --yes
	res := cairn(t, e, "erase", "apply", "--namespace", shop, "--yes", "-o", "json").must(t, 0)
	var out struct {
		ID string `json:"receipt"`
		erase.Receipt
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("erase apply -o json: %v\n%s", err, res.stdout)
	}
	if len(out.Rewritten) != 2 || len(out.Forgotten) != 1 || len(out.Locked) != 0 || !out.Pruned || out.ID == "" {
		t.Fatalf("receipt: %+v", out)
	}

	if p := plan(t, e, "--namespace", shop); len(p.Copies) != 0 {
		t.Errorf("after the erasure, copies of %s remain: %+v", shop, p.Copies)
	}
	r = open()
	if n := packsHolding(t, ctx, r, secret); n != 0 {
		t.Errorf("after erase apply and its prune, %d packs still hold the erased data", n)
	}
	if n := packsHolding(t, ctx, r, kept); n == 0 {
		t.Errorf("the other namespace's data is gone too")
	}
	for name, old := range before {
		sn, err := backup.Find(ctx, r, old.ID)
		if err != nil || backup.Name(sn) != name || sn.ID == old.ID || !sn.Expires.Equal(*old.Expires) || !sn.Time.Equal(old.Time) {
			t.Errorf("backup %s by its old ID %.8s: %v, %+v", name, old.ID, err, sn)
		}
	}
	res = cairn(t, e, "backup", "describe", "two").must(t, 0)
	if !strings.Contains(res.stdout, "erasure of namespace "+shop) {
		t.Errorf("describe does not say that objects were erased:\n%s", res.stdout)
	}
	cairn(t, e, "backup", "ls", "two", "resources/core/configmaps/namespaces/"+other+"/data.json").must(t, 0)
	cairn(t, e, "backup", "ls", "two", "resources/core/configmaps/namespaces/"+shop).must(t, 2)
	rcs, _, err := erase.Receipts(ctx, r)
	if err != nil || len(rcs) != 1 || rcs[0].Target != "namespace "+shop || len(rcs[0].Rewritten) != 2 {
		t.Fatalf("receipts: %v %+v", err, rcs)
	}
	if strings.Contains(res.stdout, secret) {
		t.Errorf("describe shows the erased data")
	}

	// A second erasure works on the rewritten backups (a chain of
	// replacements); the first IDs still find the newest.
	cairn(t, e, "erase", "apply", "--object", "configmap/"+other+"/data", "--yes").must(t, 0)
	r2 := open()
	if n := packsHolding(t, ctx, r2, kept); n != 0 {
		t.Errorf("second erasure: %d packs still hold the object", n)
	}
	for name, old := range before {
		if sn, err := backup.Find(ctx, r2, old.ID); err != nil || backup.Name(sn) != name {
			t.Errorf("backup %s by its first ID after two erasures: %v", name, err)
		}
	}
	if got := len(cairn(t, e, "backup", "get", "-o", "json").must(t, 0).stdout); got == 0 {
		t.Error("backup get prints nothing")
	}
	var views []clustercmd.BackupView
	if err := json.Unmarshal([]byte(cairn(t, e, "backup", "get", "-o", "json").must(t, 0).stdout), &views); err != nil || len(views) != 2 {
		t.Errorf("backup get after two erasures: %v, %d backups, want 2", err, len(views))
	}
}

// plan runs erase plan -o json.
func plan(t *testing.T, e env, args ...string) erase.Plan {
	t.Helper()
	res := cairn(t, e, append([]string{"erase", "plan", "-o", "json"}, args...)...).must(t, 0)
	var p erase.Plan
	if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
		t.Fatalf("erase plan %v: %v\n%s", args, err, res.stdout)
	}
	return p
}

// packsHolding counts the packs in the store with a blob whose plaintext
// contains s: every pack file is read and every blob in it decrypted,
// indexed or not.
func packsHolding(t *testing.T, ctx context.Context, r *repo.Repository, s string) int {
	t.Helper()
	n := 0
	err := r.Store().List(ctx, "data/", func(fi store.Info) error {
		id, err := blob.ParseID(path.Base(fi.Key))
		if err != nil {
			return err
		}
		entries, err := r.PackHeader(ctx, id)
		if err != nil {
			return err
		}
		for _, en := range entries {
			sealed, err := r.ReadPackRange(ctx, id, int64(en.Offset), int64(en.Length))
			if err != nil {
				return err
			}
			plain, err := r.OpenBlob(en.Type, en.ID, sealed, en.RawLength, nil)
			if err != nil {
				return err
			}
			if strings.Contains(string(plain), s) {
				n++
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A backup older than an erasure that could not change it (it was locked)
// still holds the data: restoring it warns for each such object, so that
// the erased data is not brought back unnoticed.
func TestRestoreWarnsOfErasedData(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Clientset(t)
	ns := c.Namespace(t)
	for _, name := range []string{"customer-4711", "settings"} {
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	cairn(t, e, "backup", "run", "locked", "--include-namespaces", ns, "--no-progress").must(t, 0)

	// The receipt of an erasure that found this backup locked.
	r := openTestRepo(t, e)
	obj := &erase.ObjectTarget{Kind: "configmap", Namespace: ns, Name: "customer-4711"}
	if _, err := erase.SaveReceipt(ctx, r, &erase.Receipt{Target: "configmap/" + ns + "/customer-4711", Spec: erase.TargetSpec{Object: obj}, Time: time.Now().UTC()}, nil); err != nil {
		t.Fatal(err)
	}
	// And a damaged receipt: it must not stop the restore.
	gid, _, err := r.SaveBlob(ctx, blob.Data, []byte("not a receipt"))
	if err != nil {
		t.Fatal(err)
	}
	gtree, err := snapshot.SaveTree(ctx, r, &snapshot.Tree{Nodes: []snapshot.Node{{Name: erase.ReceiptPath, Type: snapshot.TypeFile, Content: []blob.ID{gid}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Save(ctx, r, &snapshot.Snapshot{Time: time.Now(), Host: "cairn", Paths: []string{"erasure-receipt"}, Tree: gtree,
		Labels: map[string]string{snapshot.LabelKind: erase.KindReceipt}}); err != nil {
		t.Fatal(err)
	}

	res := cairn(t, e, "restore", "run", "--from-backup", "locked", "--namespace-mapping", ns+"="+ns+"-copy", "--include-namespaces", ns, "-o", "json", "--no-progress").must(t, 0)
	var rep struct {
		Items []struct {
			Kind, Namespace, Name string
			Warnings              []string
		}
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("restore -o json: %v\n%s", err, res.stdout)
	}
	warned := map[string]bool{}
	for _, it := range rep.Items {
		for _, w := range it.Warnings {
			if strings.Contains(w, "erased since this backup") {
				warned[it.Kind+"/"+it.Name] = true
			}
		}
	}
	if !warned["ConfigMap/customer-4711"] || warned["ConfigMap/settings"] || len(warned) != 1 {
		t.Errorf("warnings of erased objects: %v, want only ConfigMap/customer-4711\n%s", warned, res.stdout)
	}
}

// "latest" in the fs commands is the newest snapshot of a directory: a
// newer cluster backup, pod volume or erasure receipt is not taken for it.
func TestLatestIsADirectorySnapshot(t *testing.T) {
	ctx := context.Background()
	e := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "hello.txt"), "hello")
	cairn(t, e, "fs", "backup", src, "--no-progress").must(t, 0)

	r := openTestRepo(t, e)
	if _, err := erase.SaveReceipt(ctx, r, &erase.Receipt{Target: "namespace x", Time: time.Now().Add(time.Hour).UTC()}, nil); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "out")
	cairn(t, e, "fs", "restore", "latest", "--target", dst, "--no-progress").must(t, 0)
	if b, err := os.ReadFile(filepath.Join(dst, "hello.txt")); err != nil || string(b) != "hello" {
		t.Errorf("fs restore latest restored %q (%v), want the directory's hello.txt: it took the newer receipt", b, err)
	}
	if res := cairn(t, e, "ls", "latest").must(t, 0); !strings.Contains(res.stdout, "hello.txt") {
		t.Errorf("ls latest:\n%s", res.stdout)
	}
}

// An erase apply killed between writing a backup's replacement and
// deleting the old snapshot leaves both: listings and lookups use the
// replacement, the plan still counts the old one as a copy, and the next
// apply deletes it.
func TestInterruptedEraseIsFinished(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := c.Namespace(t)
	if _, err := c.Clientset(t).CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "data"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newRepo(t).with("KUBECONFIG", c.Kubeconfig)
	cairn(t, e, "backup", "run", "one", "--include-namespaces", ns, "--no-progress").must(t, 0)

	// The state the kill leaves: a replacement saved, the old one still there.
	r := openTestRepo(t, e)
	old, err := backup.Find(ctx, r, "one")
	if err != nil {
		t.Fatal(err)
	}
	repl := *old
	repl.ID, repl.Labels = "", maps.Clone(old.Labels)
	repl.Labels[layout.LabelReplaces] = old.ID
	repl.Time = old.Time.Add(time.Second)
	if err := snapshot.Save(ctx, r, &repl); err != nil {
		t.Fatal(err)
	}

	var views []clustercmd.BackupView
	if err := json.Unmarshal([]byte(cairn(t, e, "backup", "get", "-o", "json").must(t, 0).stdout), &views); err != nil || len(views) != 1 {
		t.Fatalf("backup get while interrupted: %v, %d backups, want 1", err, len(views))
	}
	if sn, err := backup.Find(ctx, r, old.ID); err != nil || sn.ID != repl.ID {
		t.Errorf("the old ID finds %v (%v), want the replacement %.8s", sn, err, repl.ID)
	}
	if p := plan(t, e, "--namespace", ns); len(p.Copies) != 1 || p.Copies[0].Snapshot != old.ID {
		t.Errorf("plan while interrupted: %+v, want the old snapshot as the one copy", p.Copies)
	}
	cairn(t, e, "erase", "apply", "--namespace", "nothing-here", "--yes").must(t, 0)
	if _, err := snapshot.Load(ctx, r, old.ID); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("the replaced snapshot is still there after the next apply: %v", err)
	}
}
