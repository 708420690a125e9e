package restore

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// selection applies the options' filters to the backup's content.
type selection struct {
	o          *Options
	sel        labels.Selector
	nsFiltered bool         // a namespace filter narrows the restore
	warn       func(string) // the report's warnings
}

func newSelection(o *Options) (*selection, error) {
	sel, err := labels.Parse(o.Selector)
	if err != nil {
		return nil, err
	}
	nsFiltered := len(o.ExcludeNamespaces) > 0
	for _, p := range o.IncludeNamespaces {
		if p != "*" {
			nsFiltered = true
		}
	}
	return &selection{o: o, sel: sel, nsFiltered: nsFiltered}, nil
}

func (s *selection) namespace(ns string) bool {
	in := len(s.o.IncludeNamespaces) == 0
	for _, p := range s.o.IncludeNamespaces {
		if ok, _ := path.Match(p, ns); ok {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, p := range s.o.ExcludeNamespaces {
		if ok, _ := path.Match(p, ns); ok {
			return false
		}
	}
	return true
}

// resourceMatch reports whether pattern names e's resource: "*", the
// plural, plural.group or the kind (case-insensitive).
func resourceMatch(pattern string, e *entry) bool {
	p := strings.ToLower(strings.TrimSpace(pattern))
	switch p {
	case "*", e.ref.Resource, e.ref.GroupResource(), strings.ToLower(e.kind):
		return true
	}
	return e.ref.Group == "" && p == e.ref.Resource+"."+layout.CoreGroup
}

func (s *selection) resourceExcluded(e *entry) bool {
	for _, p := range s.o.ExcludeResources {
		if resourceMatch(p, e) {
			return true
		}
	}
	return false
}

func (s *selection) resource(e *entry) bool {
	in := len(s.o.IncludeResources) == 0
	for _, p := range s.o.IncludeResources {
		if resourceMatch(p, e) {
			in = true
			break
		}
	}
	return in && !s.resourceExcluded(e)
}

// base reports whether e is selected on its own (before dependencies).
func (s *selection) base(e *entry) bool {
	if !s.resource(e) || !s.sel.Matches(labels.Set(e.labels)) {
		return false
	}
	switch {
	case e.ref.Namespace != "":
		return s.namespace(e.ref.Namespace)
	case isNamespace(e):
		return s.namespace(e.ref.Name)
	}
	switch s.o.IncludeClusterResources {
	case ClusterTrue:
		return true
	case ClusterFalse:
		return false
	}
	return !s.nsFiltered
}

// apply marks the selected entries: those selected on their own, and the
// cluster-scoped objects they need (their namespace, the CRD of a custom
// resource, the PV of a PVC, the storage class of either), whatever the
// namespace filter and label selector say, unless their resource is
// excluded explicitly.
func (s *selection) apply(entries []*entry) {
	byPath := make(map[string]*entry, len(entries))
	for _, e := range entries {
		byPath[e.path] = e
		e.selected = s.base(e)
	}
	need := func(group, resource, name string) {
		if name == "" {
			return
		}
		if d := byPath[layout.ObjectPath(group, resource, "", name)]; d != nil && !d.selected && !s.resourceExcluded(d) {
			d.selected = true
		}
	}
	// Two rounds: a PVC pulls in its PV, which pulls in its class.
	for range 2 {
		for _, e := range entries {
			if !e.selected {
				continue
			}
			if e.ref.Namespace != "" {
				need("", "namespaces", e.ref.Namespace)
			}
			if e.ref.Group != "" { // a CRD's name is <plural>.<group>
				need("apiextensions.k8s.io", "customresourcedefinitions", e.ref.Resource+"."+e.ref.Group)
			}
			if e.ref.Group == "" && (e.ref.Resource == "persistentvolumeclaims" || e.ref.Resource == "persistentvolumes") {
				if e.ref.Resource == "persistentvolumeclaims" {
					need("", "persistentvolumes", e.volumeName)
				}
				need("storage.k8s.io", "storageclasses", e.storageClass)
			}
		}
	}
	for _, e := range entries {
		e.labels = nil
	}
	if s.o.NamespacedOnly {
		var left []string
		for _, e := range entries {
			if e.selected && e.ref.Namespace == "" {
				e.selected = false
				left = append(left, e.ref.GroupResource()+"/"+e.ref.Name)
			}
		}
		if len(left) > 0 && s.warn != nil {
			s.warn(fmt.Sprintf("%d cluster-scoped objects are not restored by a namespace restore: %s", len(left), strings.Join(first(left, 10), ", ")))
		}
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func isNamespace(e *entry) bool { return e.ref.Group == "" && e.ref.Resource == "namespaces" }
