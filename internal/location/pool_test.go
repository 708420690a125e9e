package location

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store/local"
)

// TestPoolReusesAndExpires: a repository given back is handed out again
// (and must be refreshed); one given back after a failure, one idle for
// too long and one whose passphrase changed are not.
func TestPoolReusesAndExpires(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Init(ctx, s, []byte("one"), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddKey(ctx, []byte("two"), ""); err != nil {
		t.Fatal(err)
	}
	r.Close()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pass", Namespace: "cairn"}, Data: map[string][]byte{"passphrase": []byte("one")}}
	cl := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).Build()
	if err := corev1.AddToScheme(cl.Scheme()); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	loc := &cairnv1.BackupLocation{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "cairn", UID: "loc-1", Generation: 1},
		Spec: cairnv1.BackupLocationSpec{Repository: dir, Passphrase: corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "pass"}, Key: "passphrase"}},
	}
	p := &Pool{Idle: time.Hour}
	get := func() *Lease {
		t.Helper()
		l, err := p.Get(ctx, cl, loc)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Fresh(ctx); err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := get()
	if a.reused {
		t.Fatal("the first lease is a reused repository")
	}
	a.Release(true)
	b := get()
	if !b.reused || b.Repository != a.Repository {
		t.Fatal("a repository given back was not handed out again")
	}
	c := get() // while b is out: another one
	if c.reused || c.Repository == b.Repository {
		t.Fatal("one repository handed out to two jobs at once")
	}
	c.Release(true)
	b.Release(false) // failed: closed, not pooled
	if d := get(); d.Repository != c.Repository {
		t.Fatal("the pool did not hand out the one given back after success")
	} else {
		d.Release(true)
	}

	// Another passphrase (the Secret changed): another repository.
	sec.Data["passphrase"] = []byte("two")
	if err := cl.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if e := get(); e.reused || e.KeyID() == c.KeyID() {
		t.Fatal("a changed passphrase was served the repository opened with the old one")
	} else {
		e.Release(true)
	}

	// Idle for too long (by the pool's clock, before its timer fired): a
	// new one is opened.
	now := time.Now()
	p.Now = func() time.Time { return now }
	f := get()
	f.Release(true)
	now = now.Add(p.Idle + time.Second)
	if g := get(); g.Repository == f.Repository {
		t.Fatal("an idle repository outlived the pool's idle time")
	}
}
