package requester_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/requester"
)

func key(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerify: an attestation verifies for the object it was made for and
// for nothing else: not with another key, not after any field of the
// identity or the spec changed, not on another object's name or namespace,
// not on an object created long after it was admitted, and never without
// a key.
func TestVerify(t *testing.T) {
	k := key(t)
	now := time.Now()
	attested := func() *cairnv1.NamespaceRestore {
		nr := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "r1", CreationTimestamp: metav1.NewTime(now.Add(time.Second))},
			Spec: cairnv1.NamespaceRestoreSpec{BackupName: "nightly", Requester: cairnv1.Requester{Username: "forged", Groups: []string{"system:masters"}}}}
		u := authnv1.UserInfo{Username: "alice", UID: "u-1", Groups: []string{"team-a", "system:authenticated"}, Extra: map[string]authnv1.ExtraValue{"scopes": {"x"}}}
		if err := requester.Attest(k, nr, u, now); err != nil {
			t.Fatal(err)
		}
		return nr
	}
	nr := attested()
	if nr.Spec.Requester.Username != "alice" || len(nr.Spec.Requester.Groups) != 2 || nr.Spec.Requester.Extra["scopes"][0] != "x" {
		t.Fatalf("attested requester %+v: the request's own value was not replaced", nr.Spec.Requester)
	}
	if err := requester.Verify(k, nr); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for name, edit := range map[string]func(nr *cairnv1.NamespaceRestore){
		"username": func(nr *cairnv1.NamespaceRestore) { nr.Spec.Requester.Username = "admin" },
		"groups": func(nr *cairnv1.NamespaceRestore) {
			nr.Spec.Requester.Groups = append(nr.Spec.Requester.Groups, "system:masters")
		},
		"extra":     func(nr *cairnv1.NamespaceRestore) { nr.Spec.Requester.Extra["scopes"] = []string{"y"} },
		"uid":       func(nr *cairnv1.NamespaceRestore) { nr.Spec.Requester.UID = "u-2" },
		"target":    func(nr *cairnv1.NamespaceRestore) { nr.Spec.TargetNamespace = "team-b" },
		"backup":    func(nr *cairnv1.NamespaceRestore) { nr.Spec.BackupName = "other" },
		"name":      func(nr *cairnv1.NamespaceRestore) { nr.Name = "r2" },
		"namespace": func(nr *cairnv1.NamespaceRestore) { nr.Namespace = "team-b" },
		"late": func(nr *cairnv1.NamespaceRestore) {
			nr.CreationTimestamp = metav1.NewTime(now.Add(requester.MaxAdmissionAge + time.Minute))
		},
		"unsigned": func(nr *cairnv1.NamespaceRestore) { nr.Spec.Requester.Signature = "" },
		"garbage":  func(nr *cairnv1.NamespaceRestore) { nr.Spec.Requester.Signature = "!!" },
	} {
		nr := attested()
		edit(nr)
		if err := requester.Verify(k, nr); !errors.Is(err, requester.ErrNotAttested) {
			t.Errorf("%s changed: verify %v, want ErrNotAttested", name, err)
		}
	}
	if err := requester.Verify(key(t), attested()); !errors.Is(err, requester.ErrNotAttested) {
		t.Errorf("another key: %v", err)
	}
	if err := requester.Verify(nil, attested()); !errors.Is(err, requester.ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if err := requester.Attest([]byte("short"), attested(), authnv1.UserInfo{Username: "a"}, now); !errors.Is(err, requester.ErrNoKey) {
		t.Errorf("attest with a short key: %v", err)
	}
}
