package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/erase"
	"github.com/cairn-backup/cairn/internal/kubetest"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store/local"
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
	s, err := local.New(e["CAIRN_REPOSITORY"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, s, []byte(testPassphrase), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
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
	r.Close()

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
