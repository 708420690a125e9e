package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type object struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
}

type objectSet struct {
	namespaces []string
	objects    []object // namespaced, in no particular order
	counts     map[string]int
}

var (
	cmGVR     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	svcGVR    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	nsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// generate makes n objects over ns namespaces: 45% config maps and 45%
// secrets of about 1 KiB, 5% deployments, 5% services.
func generate(n, ns int) *objectSet {
	s := &objectSet{counts: map[string]int{}}
	for i := 0; i < ns; i++ {
		s.namespaces = append(s.namespaces, fmt.Sprintf("bench-%02d", i))
	}
	payload := strings.Repeat("x", 1000)
	for i := 0; i < n; i++ {
		ns := s.namespaces[i%len(s.namespaces)]
		name := fmt.Sprintf("obj-%05d", i)
		var o object
		switch k := i % 20; {
		case kinds == "configmaps" || k < 9:
			o = object{cmGVR, mk("v1", "ConfigMap", ns, name, map[string]any{"data": map[string]any{"payload": payload}})}
		case k < 18:
			o = object{secretGVR, mk("v1", "Secret", ns, name, map[string]any{"type": "Opaque", "stringData": map[string]any{"payload": payload}})}
		case k == 18:
			labels := map[string]any{"app": name}
			o = object{deployGVR, mk("apps/v1", "Deployment", ns, name, map[string]any{"spec": map[string]any{
				"replicas": int64(1),
				"selector": map[string]any{"matchLabels": labels},
				"template": map[string]any{
					"metadata": map[string]any{"labels": labels},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "nginx:1.27"}}},
				},
			}})}
		default:
			o = object{svcGVR, mk("v1", "Service", ns, name, map[string]any{"spec": map[string]any{
				"selector": map[string]any{"app": name},
				"ports":    []any{map[string]any{"port": int64(80)}},
			}})}
		}
		s.counts[o.obj.GetKind()]++
		s.objects = append(s.objects, o)
	}
	return s
}

func mk(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	obj := map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"bench": "restore"}}}
	for k, v := range fields {
		obj[k] = v
	}
	return &unstructured.Unstructured{Object: obj}
}
