package velero

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"testing"
)

func TestParseItemPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want itemPath
		ok   bool
		bad  bool
	}{
		{"resources/pods/namespaces/shop/web-1.json", itemPath{"", "pods", "shop", "web-1", true}, true, false},
		{"resources/deployments.apps/namespaces/shop/web.json", itemPath{"apps", "deployments", "shop", "web", true}, true, false},
		{"resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json", itemPath{"apps", "deployments", "shop", "web", true}, true, false},
		{"resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.example.com.json",
			itemPath{"apiextensions.k8s.io", "customresourcedefinitions", "", "widgets.example.com", false}, true, false},
		{"resources/persistentvolumes/v1-preferredversion/cluster/pv-1.json", itemPath{"", "persistentvolumes", "", "pv-1", false}, true, false},
		{"./resources/namespaces/cluster/shop.json", itemPath{"", "namespaces", "", "shop", false}, true, false},
		{"resources/widgets.example.com/v1beta1/namespaces/shop/w.json", itemPath{}, false, false}, // another version
		{"resources/widgets.example.com/v1beta1/cluster/w.json", itemPath{}, false, false},
		{"metadata/version", itemPath{}, false, false},
		{"resources/pods/namespaces/shop", itemPath{}, false, false},
		{"resources/pods/elsewhere/shop/x.json", itemPath{}, false, true},
		{"resources/pods/namespaces//x.json", itemPath{}, false, true},
	} {
		got, ok, err := parseItemPath(tc.path)
		if (err != nil) != tc.bad || ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseItemPath(%q) = %+v, %v, %v; want %+v, %v, bad=%v", tc.path, got, ok, err, tc.want, tc.ok, tc.bad)
		}
	}
}

func FuzzParseItemPath(f *testing.F) {
	f.Add("resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json")
	f.Add("resources/pods/namespaces/shop/web-1.json")
	f.Fuzz(func(t *testing.T, p string) {
		ip, ok, err := parseItemPath(p)
		if ok && (err != nil || ip.name == "" || ip.resource == "" || ip.namespaced != (ip.namespace != "")) {
			t.Fatalf("%q: %+v %v", p, ip, err)
		}
	})
}

// tarball builds a gzipped tar of path -> content, in the order given.
func tarball(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(files[i+1]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadItems(t *testing.T) {
	cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"shop"}}`
	tb := tarball(t,
		"metadata/version", "1.1.0\n",
		"resources/configmaps/namespaces/shop/a.json", cm,
		"resources/configmaps/v1-preferredversion/namespaces/shop/a.json", cm,
		"resources/configmaps/namespaces/shop/broken.json", `{"apiVersion":`,
		"resources/deployments.apps/namespaces/shop/web.json", `{"apiVersion":"v1","kind":"Deployment","metadata":{"name":"web"}}`,
	)
	var items []Item
	var bad []string
	format, err := ReadItems(context.Background(), bytes.NewReader(tb), func(it Item) error {
		items = append(items, it)
		return nil
	}, func(p string, err error) { bad = append(bad, p) })
	if err != nil || format != "1.1.0" {
		t.Fatalf("ReadItems: %q, %v", format, err)
	}
	if len(items) != 2 || items[0].Kind != "ConfigMap" || items[0].Namespace != "shop" || items[1].Name != "a" {
		t.Fatalf("items %+v", items)
	}
	if len(bad) != 2 {
		t.Fatalf("bad %v, want the broken JSON and the apiVersion of the wrong group", bad)
	}

	for name, tb := range map[string][]byte{
		"format 2":   tarball(t, "metadata/version", "2.0.0\n"),
		"no version": tarball(t, "resources/configmaps/namespaces/shop/a.json", cm),
		"not gzip":   []byte("plain"),
	} {
		if _, err := ReadItems(context.Background(), bytes.NewReader(tb), func(Item) error { return nil }, func(string, error) {}); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

// FuzzReadItems feeds arbitrary bytes (seeded with real-looking tarballs)
// to the tarball reader: it must never panic, and every item it returns
// names its type and object.
func FuzzReadItems(f *testing.F) {
	cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"shop"}}`
	f.Add(tarball(f, "metadata/version", "1.1.0\n", "resources/configmaps/namespaces/shop/a.json", cm))
	f.Add(tarball(f, "metadata/version", "1.1.0\n", "resources/namespaces/cluster/shop.json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}`))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadItems(context.Background(), bytes.NewReader(b), func(it Item) error {
			if it.Name == "" || it.Resource == "" || it.Kind == "" || it.APIVersion == "" || it.Namespaced != (it.Namespace != "") {
				t.Fatalf("item %+v", it)
			}
			return nil
		}, func(string, error) {})
	})
}
