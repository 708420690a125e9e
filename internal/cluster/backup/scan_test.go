package backup

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/kubetest"
)

// slowDecode is the reference: the item decoded into a map, then
// decodeObject (what the backup did before the byte scanner).
func slowDecode(raw []byte, r layout.Resource) (*object, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	return decodeObject(top, r)
}

var scanItems = []string{
	`{"metadata":{"name":"a","namespace":"ns","uid":"u","resourceVersion":"1","creationTimestamp":"2024-01-02T03:04:05Z",` +
		`"labels":{"app":"web","x":"y"},"annotations":{"kubernetes.io/config.mirror":"m"},` +
		`"managedFields":[{"manager":"kubectl","operation":"Apply","fieldsV1":{"f:data":{".":{},"f:k":{}}}}]},` +
		`"data":{"k":"v \"quoted\" \\ back\\slash } ] { [","e\u003c":"\u00e9"},"type":"Opaque"}`,
	// kind and apiVersion given (custom resources): replaced all the same.
	`{"apiVersion":"x/v0","kind":"Other","metadata":{"name":"b"},"spec":{"volumeName":"pv-1","storageClassName":"fast"}}`,
	// white space between and inside values is kept inside, dropped between.
	"{ \"spec\" : {\"replicas\": 1} ,\n\t\"metadata\":{ \"name\":\"web\",\"namespace\":\"ns\", \"labels\": {\"a\" : \"b\"} } , \"status\":{}}",
	`{"metadata":{"name":"rb","namespace":"n"},"roleRef":{"kind":"ClusterRole","name":"edit"},"subjects":[{"kind":"ServiceAccount","name":"s","namespace":"n"}]}`,
	`{"metadata":{"name":"n","labels":null,"annotations":{}},"x":[1,2.5e3,true,false,null,"s"],"y":-0.1}`,
	`{"metadata":{"name":"s","annotations":{"a":"b"}},"type":"kubernetes.io/service-account-token"}`,
	// The cases the fast path leaves to decodeObject.
	`{"metadata":{"name":"esc\u0061ped"}}`,
	`{"metadata":{"name":"é"}}`,
	`{"metadata":{"name":"dup","name":"dup2"}}`,
	`{"metadata":{"name":"k","x\u0041":1}}`,
	`{"metadata":{"name":"k"},"a":1,"a":2}`,
	`{"metadata":{"name":"k","creationTimestamp":null}}`,
	`{"metadata":{"name":"k","labels":{"a":1}}}`,
	`{"metadata":{"name":"k","annotations":{"a":1}}}`,
	`{"metadata":{"name":"k","Labels":{"a":"b"}}}`,
	`{"metadata":{"namespace":"no-name"}}`,
	`{"metadata":null}`,
	`{"spec":{}}`,
	`{"metadata":{"name":"k"},"type":7}`,
	`[]`,
	`{"metadata":{"name":"k"}`,
}

func TestDecodeItemMatchesDecodeObject(t *testing.T) {
	for _, r := range []layout.Resource{
		{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true},
		{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true},
		{Version: "v1", Resource: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Namespaced: true},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings", Kind: "RoleBinding", Namespaced: true},
		{Group: "example.com", Version: "v1", Resource: "things", Kind: "Thing"},
	} {
		for _, in := range scanItems {
			compareDecode(t, []byte(in), r)
		}
	}
	// The fast path is taken for the usual items.
	r := layout.Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}
	for _, in := range scanItems[:6] {
		if _, ok := decodeItemFast([]byte(in), r); !ok {
			t.Errorf("fast path not taken for %s", in)
		}
	}
}

func compareDecode(t *testing.T, raw []byte, r layout.Resource) {
	t.Helper()
	want, werr := slowDecode(raw, r)
	// decodeItem may be given a reused buffer: it must not keep raw.
	buf := append([]byte(nil), raw...)
	got, gerr := decodeItem(buf, r)
	for i := range buf {
		buf[i] = 'X'
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s %s: error %v, decodeObject's %v", r.Resource, raw, gerr, werr)
	}
	if werr != nil {
		return
	}
	if string(got.data) != string(want.data) {
		t.Fatalf("%s %s:\nstored %s\nwant   %s", r.Resource, raw, got.data, want.data)
	}
	if !reflect.DeepEqual(got.meta, want.meta) || got.secretType != want.secretType || got.spec != want.spec ||
		got.roleRef != want.roleRef || !reflect.DeepEqual(got.subjects, want.subjects) {
		t.Fatalf("%s %s:\nobject %+v\nwant   %+v", r.Resource, raw, got, want)
	}
}

// TestDecodeListItems checks that the list scanner hands out each item as
// sent, including strings with brackets and escapes, and nested arrays.
func TestDecodeListItems(t *testing.T) {
	items := []string{scanItems[0], scanItems[3], scanItems[4], `{"a":"]}\\\"","b":[[],[{}]]}`}
	body := `{"kind":"List","apiVersion":"v1","items":[` + strings.Join(items, " ,\n ") + `],"metadata":{"continue":"c\"d"}}`
	var got []string
	// A small buffer: values cross the reader's buffer boundaries.
	next, err := decodeList(strings.NewReader(body), func(raw []byte) error {
		got = append(got, string(raw))
		return nil
	})
	if err != nil || next != `c"d` || !reflect.DeepEqual(got, items) {
		t.Fatalf("next %q err %v items:\n%q\nwant\n%q", next, err, got, items)
	}
	for _, bad := range []string{``, `{`, `{"items":[{"a":1}`, `{"items":[{"a":1}}`, `{"items":"x"}`, `{"items":nul}`, `{"metadata":{"continue":1}}`, `{"items":[]x`} {
		if _, err := decodeList(strings.NewReader(bad), func([]byte) error { return nil }); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, ok := range []string{`{}`, ` { "items" : [ ] } `, `{"items":null}`} {
		if _, err := decodeList(strings.NewReader(ok), func([]byte) error { return nil }); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// FuzzDecodeItem checks the fast path against decodeObject on any valid
// JSON object.
func FuzzDecodeItem(f *testing.F) {
	for _, in := range scanItems {
		f.Add([]byte(in))
	}
	r := layout.Resource{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		compareDecode(t, b, r)
	})
}

// TestDecodeItemRealLists pins the fast path to decodeObject on what a
// real API server sends (managedFields, annotations, RBAC rules, CRDs…):
// the same stored bytes, so backups taken before and after it deduplicate.
func TestDecodeItemRealLists(t *testing.T) {
	c := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := newRESTClient(c.Config, 100)
	if err != nil {
		t.Fatal(err)
	}
	l := &lister{rc: rc, pageSize: 50, sem: make(chan struct{}, 1), pages: func() {}}
	fast, total := 0, 0
	for _, r := range []layout.Resource{
		{Version: "v1", Resource: "namespaces", Kind: "Namespace"},
		{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true},
		{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true},
		{Version: "v1", Resource: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true},
		{Version: "v1", Resource: "services", Kind: "Service", Namespaced: true},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles", Kind: "ClusterRole"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings", Kind: "ClusterRoleBinding"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings", Kind: "RoleBinding", Namespaced: true},
		{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices", Kind: "APIService"},
		{Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Resource: "prioritylevelconfigurations", Kind: "PriorityLevelConfiguration"},
	} {
		err := l.list(ctx, r, "", false, func(raw []byte) error {
			total++
			if _, ok := decodeItemFast(raw, r); ok {
				fast++
			}
			compareDecode(t, raw, r)
			return nil
		}, func(string) {})
		if err != nil {
			t.Fatalf("list %s: %v", r.Resource, err)
		}
	}
	if total < 100 || fast != total {
		t.Errorf("%d objects, %d by the fast path", total, fast)
	}
}
