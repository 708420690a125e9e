package requester

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// Path is where the controller serves the webhook.
const Path = "/mutate-namespacerestore"

// Webhook is the mutating admission webhook of NamespaceRestores: on
// create it replaces spec.requester with the request's authenticated user
// and signs it (Attest). It is registered for CREATE only: the spec cannot
// change afterwards (the CRD's validation rule).
type Webhook struct {
	Key []byte
	Now func() time.Time // default time.Now
}

var _ admission.Handler = (*Webhook)(nil)

// Handle attests the NamespaceRestore being created.
func (w *Webhook) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("only creates are attested")
	}
	var nr cairnv1.NamespaceRestore
	if err := json.Unmarshal(req.Object.Raw, &nr); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if nr.Name == "" {
		return admission.Denied("a NamespaceRestore needs metadata.name (generateName is not supported: the name is part of what is attested)")
	}
	if nr.Namespace == "" {
		nr.Namespace = req.Namespace
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if err := Attest(w.Key, &nr, req.UserInfo, now()); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	b, err := json.Marshal(&nr)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, b)
}
