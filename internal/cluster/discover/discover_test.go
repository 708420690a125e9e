package discover

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestListable(t *testing.T) {
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: []string{"get", "list"}},
			{Name: "pods/log", Kind: "Pod", Namespaced: true, Verbs: []string{"get"}},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
			{Name: "namespaces", Kind: "Namespace", Verbs: []string{"list"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"list"}},
		}},
		{GroupVersion: "apps/v1beta1", APIResources: []metav1.APIResource{
			{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"list"}},
		}},
	}
	got := Listable(lists)
	want := []string{"/v1/namespaces", "/v1/pods", "apps/v1/deployments"}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %v", got, want)
	}
	for i, r := range got {
		if s := r.Group + "/" + r.Version + "/" + r.Resource; s != want[i] {
			t.Errorf("entry %d = %s, want %s", i, s, want[i])
		}
	}
	if !got[1].Namespaced || got[0].Namespaced || got[1].Kind != "Pod" {
		t.Errorf("scope or kind wrong: %+v", got)
	}
}
