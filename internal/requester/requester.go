package requester

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// MaxAdmissionAge bounds the time between the webhook's admission of a
// NamespaceRestore and its creation time on the server: an attestation
// copied onto a NamespaceRestore created later does not verify.
const MaxAdmissionAge = 2 * time.Minute

// MinKeyLen is the shortest key accepted (bytes).
const MinKeyLen = 16

// Errors of Verify.
var (
	// ErrNoKey: the controller has no key, so nothing can be attested.
	ErrNoKey = errors.New("no requester key is configured")
	// ErrNotAttested: the requester was not written by the webhook, or
	// the object changed since.
	ErrNotAttested = errors.New("the requester was not written by cairn's admission webhook")
)

// Attest fills nr.Spec.Requester from the API server's userInfo of the
// request creating nr, admitted at now, and signs it with key.
func Attest(key []byte, nr *cairnv1.NamespaceRestore, u authnv1.UserInfo, now time.Time) error {
	if len(key) < MinKeyLen {
		return ErrNoKey
	}
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	r := cairnv1.Requester{Username: u.Username, UID: u.UID, Groups: u.Groups, Admitted: &at}
	if len(u.Extra) > 0 {
		r.Extra = map[string][]string{}
		for k, v := range u.Extra {
			r.Extra[k] = []string(v)
		}
	}
	nr.Spec.Requester = r
	sig, err := sign(key, nr)
	if err != nil {
		return err
	}
	nr.Spec.Requester.Signature = base64.RawURLEncoding.EncodeToString(sig)
	return nil
}

// Verify returns nil when nr's requester was attested with key for this
// very object (namespace, name and spec) within MaxAdmissionAge before its
// creation.
func Verify(key []byte, nr *cairnv1.NamespaceRestore) error {
	if len(key) < MinKeyLen {
		return ErrNoKey
	}
	r := nr.Spec.Requester
	if r.Signature == "" || r.Admitted == nil || r.Username == "" {
		return fmt.Errorf("%w: it carries no signature", ErrNotAttested)
	}
	want, err := sign(key, nr)
	if err != nil {
		return err
	}
	got, err := base64.RawURLEncoding.DecodeString(r.Signature)
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("%w: its signature does not match", ErrNotAttested)
	}
	created := nr.CreationTimestamp.Time
	if d := created.Sub(r.Admitted.Time); d > MaxAdmissionAge || d < -MaxAdmissionAge {
		return fmt.Errorf("%w: admitted at %s, created at %s", ErrNotAttested, r.Admitted.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339))
	}
	return nil
}

// signed is what the signature covers; its JSON encoding is canonical
// (struct fields in order, map keys sorted).
type signed struct {
	Version   int                          `json:"v"`
	Namespace string                       `json:"namespace"`
	Name      string                       `json:"name"`
	Spec      cairnv1.NamespaceRestoreSpec `json:"spec"`
}

func sign(key []byte, nr *cairnv1.NamespaceRestore) ([]byte, error) {
	s := signed{Version: 1, Namespace: nr.Namespace, Name: nr.Name, Spec: *nr.Spec.DeepCopy()}
	s.Spec.Requester.Signature = ""
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(nil), nil
}
