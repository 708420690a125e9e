package backup

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// meta is the part of an object's metadata the backup decides on.
type meta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	CreationTimestamp string            `json:"creationTimestamp"`
}

// ref names an object another one points at.
type ref struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// spec holds the few fields that tie a namespaced object to the
// cluster-scoped ones it needs. Unknown fields are ignored.
type spec struct {
	VolumeName       string `json:"volumeName"`       // PVC -> PV
	StorageClassName string `json:"storageClassName"` // PVC, PV -> StorageClass
}

// object is one item of a LIST page, cleaned and ready to store.
type object struct {
	meta       meta
	data       []byte // the JSON to store
	secretType string // secrets: their type
	spec       spec   // PVCs, PVs
	roleRef    ref    // role bindings
	subjects   []ref  // role bindings
}

// mtime is the creation time in Unix nanoseconds (0 when absent): the
// file time shown for the object, stable across backups.
func (o *object) mtime() int64 {
	t, err := time.Parse(time.RFC3339, o.meta.CreationTimestamp)
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

// decodeObject cleans one list item: it removes metadata.managedFields,
// sets apiVersion and kind (list items of built-in types carry neither)
// and re-encodes the object with sorted keys, so that the same object
// always yields the same bytes.
func decodeObject(top map[string]json.RawMessage, r layout.Resource) (*object, error) {
	var md map[string]json.RawMessage
	if err := json.Unmarshal(top["metadata"], &md); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	delete(md, "managedFields")
	mdJSON := encodeSorted(nil, md)
	obj := &object{}
	if err := json.Unmarshal(mdJSON, &obj.meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if obj.meta.Name == "" {
		return nil, fmt.Errorf("object without a name")
	}
	top["metadata"] = mdJSON
	top["apiVersion"] = json.RawMessage(strconv.Quote(apiVersion(r)))
	top["kind"] = json.RawMessage(strconv.Quote(r.Kind))
	get := func(k string) (json.RawMessage, bool) { v, ok := top[k]; return v, ok }
	if err := obj.decodeRefs(get, r); err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Kind, obj.meta.Name, err)
	}
	obj.data = encodeSorted(make([]byte, 0, rawSize(top)), top)
	return obj, nil
}

// encodeSorted appends m as a JSON object, keys sorted as json.Marshal
// sorts them, values exactly as the API server sent them. json.Marshal
// would give the same bytes for the server's compact JSON, after a second
// full pass over every value to re-compact it; this skips that pass.
func encodeSorted(dst []byte, m map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		if plainKey(k) {
			dst = append(append(append(dst, '"'), k...), '"')
		} else {
			q, _ := json.Marshal(k)
			dst = append(dst, q...)
		}
		dst = append(dst, ':')
		dst = append(dst, m[k]...)
	}
	return append(dst, '}')
}

// plainKey reports whether k needs no escaping in JSON (field names).
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func rawSize(m map[string]json.RawMessage) int {
	n := 2
	for k, v := range m {
		n += len(k) + len(v) + 4
	}
	return n
}

// decodeRefs reads what ties an object to others, for the kinds that
// need it; get returns a top-level field.
func (o *object) decodeRefs(get func(string) (json.RawMessage, bool), r layout.Resource) error {
	switch r.GroupResource() {
	case "secrets":
		if t, ok := get("type"); ok {
			return json.Unmarshal(t, &o.secretType)
		}
	case "persistentvolumeclaims", "persistentvolumes":
		if s, ok := get("spec"); ok {
			return json.Unmarshal(s, &o.spec)
		}
	case "rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io":
		if rr, ok := get("roleRef"); ok {
			if err := json.Unmarshal(rr, &o.roleRef); err != nil {
				return err
			}
		}
		if s, ok := get("subjects"); ok {
			return json.Unmarshal(s, &o.subjects)
		}
	}
	return nil
}

func apiVersion(r layout.Resource) string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}
