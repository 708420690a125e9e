package backup

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

func TestNamespaceSelected(t *testing.T) {
	cases := []struct {
		opts Options
		ns   string
		want bool
	}{
		{Options{}, "team-a", true},
		{Options{}, "kube-system", false},
		{Options{}, "cairn-system", false},
		{Options{IncludeNamespaces: []string{"*"}}, "kube-system", true},
		{Options{IncludeNamespaces: []string{"team-*"}}, "team-a", true},
		{Options{IncludeNamespaces: []string{"team-*"}}, "other", false},
		{Options{ExcludeNamespaces: []string{"team-?"}}, "team-a", false},
		{Options{IncludeNamespaces: []string{"kube-system"}}, "kube-system", true},
		{Options{PlatformNamespaces: []string{"monitoring"}}, "kube-system", true},
		{Options{PlatformNamespaces: []string{"monitoring"}}, "monitoring", false},
	}
	for _, c := range cases {
		c.opts.Name = "x"
		c.opts.fill()
		if got := c.opts.namespaceSelected(c.ns); got != c.want {
			t.Errorf("%+v: namespaceSelected(%s) = %v, want %v", c.opts, c.ns, got, c.want)
		}
	}
}

func TestMatchResource(t *testing.T) {
	deploy := layout.Resource{Group: "apps", Resource: "deployments"}
	cm := layout.Resource{Resource: "configmaps"}
	cases := []struct {
		pats           []string
		r              layout.Resource
		match, explict bool
	}{
		{[]string{"*"}, deploy, true, false},
		{[]string{"deployments"}, deploy, true, true},
		{[]string{"deployments.apps"}, deploy, true, true},
		{[]string{"Deployments.Apps"}, deploy, true, true},
		{[]string{"deployments.extensions"}, deploy, false, false},
		{[]string{"configmaps.core"}, cm, true, true},
		{[]string{"secrets"}, cm, false, false},
		{nil, cm, false, false},
	}
	for _, c := range cases {
		m, e := matchResource(c.pats, c.r)
		if m != c.match || e != c.explict {
			t.Errorf("matchResource(%q, %s) = %v,%v want %v,%v", c.pats, c.r.GroupResource(), m, e, c.match, c.explict)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Options{
		{},
		{Name: "Upper"},
		{Name: "ok", IncludeNamespaces: []string{"[x"}},
		{Name: "ok", Selector: "a in (b"},
		{Name: "ok", IncludeClusterResources: "maybe"},
		{Name: "ok", IncludeResources: []string{""}},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	good := Options{Name: "daily-2024.01.01", IncludeNamespaces: []string{"team-*"}, Selector: "velero=backup", IncludeClusterResources: "true"}
	if err := good.Validate(); err != nil {
		t.Errorf("%+v: %v", good, err)
	}
}

func TestDecodeObject(t *testing.T) {
	r := layout.Resource{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Namespaced: true}
	item := `{"spec":{"replicas":1},"metadata":{"name":"web","namespace":"ns","labels":{"a":"b"},
		"managedFields":[{"manager":"kubectl"}],"creationTimestamp":"2024-01-02T03:04:05Z"},"status":{}}`
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal([]byte(item), &a); err != nil {
		t.Fatal(err)
	}
	// The same object, keys in another order and other spacing.
	if err := json.Unmarshal([]byte(`{"status":{},"metadata":{"creationTimestamp":"2024-01-02T03:04:05Z","labels":{"a":"b"},"managedFields":[],"name":"web","namespace":"ns"},"spec":{"replicas":1}}`), &b); err != nil {
		t.Fatal(err)
	}
	oa, err := decodeObject(a, r)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := decodeObject(b, r)
	if err != nil {
		t.Fatal(err)
	}
	if string(oa.data) != string(ob.data) {
		t.Errorf("not stable:\n%s\n%s", oa.data, ob.data)
	}
	want := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"creationTimestamp":"2024-01-02T03:04:05Z","labels":{"a":"b"},"name":"web","namespace":"ns"},"spec":{"replicas":1},"status":{}}`
	if string(oa.data) != want {
		t.Errorf("stored\n%s\nwant\n%s", oa.data, want)
	}
	if oa.meta.Name != "web" || oa.meta.Namespace != "ns" || oa.meta.Labels["a"] != "b" || oa.mtime() != 1704164645000000000 {
		t.Errorf("meta %+v mtime %d", oa.meta, oa.mtime())
	}
}

func TestRebuilt(t *testing.T) {
	pods := layout.Resource{Resource: "pods"}
	secrets := layout.Resource{Resource: "secrets"}
	slices := layout.Resource{Group: "discovery.k8s.io", Resource: "endpointslices"}
	eps := layout.Resource{Resource: "endpoints"}
	obj := func(ns, name string, labels, ann map[string]string, typ string) *object {
		return &object{meta: meta{Name: name, Namespace: ns, Labels: labels, Annotations: ann}, secretType: typ}
	}
	cases := []struct {
		r    layout.Resource
		o    *object
		skip bool
	}{
		{pods, obj("a", "p", nil, nil, ""), false},
		{pods, obj("a", "p", nil, map[string]string{"kubernetes.io/config.mirror": "x"}, ""), true},
		{secrets, obj("a", "s", nil, nil, "kubernetes.io/service-account-token"), true},
		{secrets, obj("a", "s", nil, nil, "Opaque"), false},
		{slices, obj("a", "s", map[string]string{labelESManagedBy: "endpointslice-controller.k8s.io"}, nil, ""), true},
		{slices, obj("a", "s", map[string]string{labelESManagedBy: "my-operator"}, nil, ""), false},
		{eps, obj("a", "e", map[string]string{labelEPManagedBy: "endpoint-controller"}, nil, ""), true},
		{eps, obj("a", "e", nil, nil, ""), false},
		{eps, obj("default", "kubernetes", nil, nil, ""), true},
	}
	for i, c := range cases {
		if got := rebuilt(c.r, c.o) != ""; got != c.skip {
			t.Errorf("case %d: rebuilt = %v, want %v", i, got, c.skip)
		}
	}
	if neverReason(layout.Resource{Resource: "events"}) == "" || neverReason(layout.Resource{Group: "coordination.k8s.io", Resource: "leases"}) == "" {
		t.Error("events or leases not in the never list")
	}
}

func TestDecodeList(t *testing.T) {
	body := `{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"tok"},
		"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`
	var names []string
	next, err := decodeList(strings.NewReader(body), func(raw []byte) error {
		names = append(names, string(raw))
		return nil
	})
	if err != nil || next != "tok" || len(names) != 2 || names[1] != `{"metadata":{"name":"b"}}` {
		t.Fatalf("next %q names %q err %v", next, names, err)
	}
	// items before metadata (custom resource lists), and null items
	for _, body := range []string{`{"items":[{"metadata":{"name":"a"}}],"metadata":{"continue":""}}`, `{"items":null,"metadata":{}}`} {
		if _, err := decodeList(strings.NewReader(body), func([]byte) error { return nil }); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	if _, err := decodeList(strings.NewReader(`{"items":[{"metadata":`), func([]byte) error { return nil }); err == nil {
		t.Error("truncated list: no error")
	}
}

func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"metadata":{"continue":"x"},"items":[{"metadata":{"name":"a"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := layout.Resource{Resource: "configmaps", Version: "v1", Kind: "ConfigMap"}
		_, _ = decodeList(strings.NewReader(string(b)), func(raw []byte) error {
			_, _ = decodeItem(raw, r)
			return nil
		})
	})
}

// TestEncodeSortedMatchesMarshal pins encodeSorted to json.Marshal's
// output for compact input, so backups stay byte-identical (and dedup).
func TestEncodeSortedMatchesMarshal(t *testing.T) {
	for _, in := range []string{
		`{"b":1,"a":{"x":[1,2,{"y":"z"}]},"kind":"ConfigMap","metadata":{"name":"n"}}`,
		`{"data":{"k\u003c":"v\u0026"},"c":null,"é":"ü"}`,
		`{}`,
	} {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeSorted(nil, m); string(got) != string(want) {
			t.Errorf("encodeSorted(%s) = %s, json.Marshal gives %s", in, got, want)
		}
	}
}
