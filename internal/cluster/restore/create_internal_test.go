package restore

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-backup/cairn/internal/kubetest"
)

// The creates ask for the created object's metadata only, and the real
// API server answers so: the answer carries the UID (which owner
// references need) and not the object's data.
func TestCreateAnswersMetadataOnly(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x := &restorer{o: &Options{}, rep: &Report{}}
	if err := x.o.fill(); err != nil {
		t.Fatal(err)
	}
	if err := x.connect(c.Config); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]any{"payload": "x"}}
	uid, err := x.create(ctx, x.createIn(gvr, ns), x.resource(gvr, ns), obj, false)
	if err != nil || uid == "" {
		t.Fatalf("create: uid %q, %v", uid, err)
	}
	out, err := x.createIn(gvr, ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "other"}, "data": map[string]any{"payload": "x"}}}, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		t.Fatal(err)
	}
	if out.GetKind() != "PartialObjectMetadata" || out.Object["data"] != nil || out.GetUID() == "" {
		t.Errorf("the create's answer: kind %q, data %v, uid %q; want the metadata only", out.GetKind(), out.Object["data"], out.GetUID())
	}
}
