//go:build !fsonly

package core

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// CtlFlags are the flags of every `cairn ctl` command.
type CtlFlags struct {
	Kube      KubeFlags
	Namespace string
}

// Namespace returns the namespace the ctl commands work in.
func (a *App) Namespace(f *CtlFlags) string {
	switch {
	case f.Namespace != "":
		return f.Namespace
	case a.Env("CAIRN_NAMESPACE") != "":
		return a.Env("CAIRN_NAMESPACE")
	}
	return "cairn-system"
}

// KubeClient connects to the cluster with cairn's types known.
func (a *App) KubeClient(f *CtlFlags) (client.Client, error) {
	cfg, err := a.RestConfig(f.Kube)
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

// NotFound turns a missing object into bad input with a hint.
func NotFound(err error, kind, name, list string) error {
	if apierrors.IsNotFound(err) {
		return BadInput("%s %q not found (see `%s`)", kind, name, list)
	}
	return err
}

// HumanPhase shows an empty phase as New.
func HumanPhase(p cairnv1.Phase) string {
	if p == "" {
		return string(cairnv1.PhaseNew)
	}
	return string(p)
}

// MetaTime shows an optional time, "-" when unset.
func MetaTime(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return HumanTime(t.Time)
}
