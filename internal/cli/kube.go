//go:build !fsonly

package cli

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// ctlFlags are the flags of every `cairn ctl` command.
type ctlFlags struct {
	kube      kubeFlags
	namespace string
}

// ns returns the namespace the ctl commands work in.
func (a *app) ns(f *ctlFlags) string {
	switch {
	case f.namespace != "":
		return f.namespace
	case a.env("CAIRN_NAMESPACE") != "":
		return a.env("CAIRN_NAMESPACE")
	}
	return "cairn-system"
}

// kubeClient connects to the cluster with cairn's types known.
func (a *app) kubeClient(f *ctlFlags) (client.Client, error) {
	cfg, err := a.restConfig(f.kube)
	if err != nil {
		return nil, err
	}
	s := runtime.NewScheme()
	if err := cairnv1.AddToScheme(s); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	return c, nil
}

// notFound turns a missing object into bad input with a hint.
func notFound(err error, kind, name, list string) error {
	if apierrors.IsNotFound(err) {
		return badInput("%s %q not found (see `%s`)", kind, name, list)
	}
	return err
}

// humanPhase shows an empty phase as New.
func humanPhase(p cairnv1.Phase) string {
	if p == "" {
		return string(cairnv1.PhaseNew)
	}
	return string(p)
}

// metaTime shows an optional time, "-" when unset.
func metaTime(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return humanTime(t.Time)
}
