package backup

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// lister runs paginated LISTs, a bounded number at a time, and streams the
// items of each page to a callback without holding the page.
type lister struct {
	rc       *rest.RESTClient
	pageSize int64
	selector string
	sem      chan struct{} // one token per page in flight
	pages    func()        // counts a fetched page
}

// newRESTClient returns a client for raw JSON requests on any API path.
func newRESTClient(cfg *rest.Config, qps float32) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	if c.QPS == 0 && c.RateLimiter == nil {
		c.QPS, c.Burst = qps, int(2*qps)
	}
	c.ContentType = "application/json"
	c.AcceptContentTypes = "application/json"
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	c.APIPath = "/"
	// Deprecation notices (v1 Endpoints, …) would print once per LIST; the
	// backup reads what is served, deprecated or not.
	c.WarningHandler = rest.NoWarnings{}
	rc, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("backup: client: %w", err)
	}
	return rc, nil
}

// resourcePath is the URL path that lists r, in namespace ns ("" = all
// namespaces, or a cluster-scoped type).
func resourcePath(r layout.Resource, ns string) string {
	p := "/apis/" + r.Group + "/" + r.Version
	if r.Group == "" {
		p = "/api/" + r.Version
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	return p + "/" + r.Resource
}

// errMorePages stops a list after its first page (see listFirstPage).
var errMorePages = errors.New("more pages")

// maxRestarts bounds how often one list starts over after its continue
// token expired.
const maxRestarts = 3

// list lists r in ns page by page and calls item for every object. When a
// continue token has expired (410), restart is called, a warning is
// given, and the list starts over from the first page. onePage stops after
// the first page, returning errMorePages if there were more.
func (l *lister) list(ctx context.Context, r layout.Resource, ns string, onePage bool,
	item func([]byte) error, restart func(reason string)) error {
	cont := ""
	for restarts := 0; ; {
		next, err := l.page(ctx, r, ns, cont, item)
		if err != nil && cont != "" && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) && restarts < maxRestarts {
			restarts++
			restart(fmt.Sprintf("the list of %s expired during pagination (410); listed again from the start", where(r, ns)))
			cont = ""
			continue
		}
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if onePage {
			return errMorePages
		}
		cont = next
	}
}

// page fetches one page and returns its continue token.
func (l *lister) page(ctx context.Context, r layout.Resource, ns, cont string, item func([]byte) error) (string, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-l.sem }()
	req := l.rc.Get().AbsPath(resourcePath(r, ns)).
		Param("limit", strconv.FormatInt(l.pageSize, 10)).
		SetHeader("Accept", "application/json")
	if cont != "" {
		req = req.Param("continue", cont)
	}
	if l.selector != "" {
		req = req.Param("labelSelector", l.selector)
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return "", err
	}
	defer body.Close()
	l.pages()
	next, err := decodeList(body, item)
	if err != nil {
		return "", fmt.Errorf("reading the list of %s: %w", where(r, ns), err)
	}
	return next, nil
}

// where names a list for messages.
func where(r layout.Resource, ns string) string {
	switch {
	case ns != "":
		return r.GroupResource() + " in namespace " + ns
	case r.Namespaced:
		return r.GroupResource() + " in all namespaces"
	}
	return r.GroupResource()
}

// listError renders a failed list for the manifest, saying what and why.
func listError(r layout.Resource, ns string, err error) string {
	what := "cannot list " + where(r, ns)
	switch {
	case apierrors.IsForbidden(err):
		return "forbidden: " + what + ": " + err.Error()
	case apierrors.IsNotFound(err):
		return "not found: " + what + " (the type was removed during the backup; nothing of it is backed up): " + err.Error()
	}
	return what + ": " + err.Error()
}
