package restore

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitCRDs waits until every named CRD is Established and its resource is
// listed by discovery, so that the custom resources restored later are
// served. A CRD that does not get there in time is a warning: its custom
// resources will fail with the API server's reason.
func (x *restorer) waitCRDs(ctx context.Context, names []string) error {
	for _, name := range names {
		if err := x.waitCRD(ctx, name); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			x.rep.warn(fmt.Sprintf("CRD %s: %v", name, err))
		}
	}
	return nil
}

func (x *restorer) waitCRD(ctx context.Context, name string) error {
	deadline := x.o.Now().Add(x.o.EstablishTimeout)
	for {
		ok, err := x.crdReady(ctx, name)
		if ok {
			return nil
		}
		if x.o.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("not established and served after %s", x.o.EstablishTimeout)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// crdReady reports whether the CRD is Established and discovery lists its
// resource in every served version.
func (x *restorer) crdReady(ctx context.Context, name string) (bool, error) {
	crd, err := x.dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	established := false
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			established = true
		}
	}
	if !established {
		return false, nil
	}
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if served, _ := m["served"].(bool); !served {
			continue
		}
		version, _ := m["name"].(string)
		list, err := x.disc.ServerResourcesForGroupVersion(group + "/" + version)
		if err != nil {
			return false, err
		}
		found := false
		for _, r := range list.APIResources {
			if r.Name == plural {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}
