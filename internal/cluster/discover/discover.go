package discover

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// Result is what discovery found.
type Result struct {
	// Resources are the listable types, each at its preferred version,
	// sorted by group then resource.
	Resources []layout.Resource
	// Version is the API server's version, e.g. "v1.34.4".
	Version string
	// Warnings name the API groups that could not be discovered (an
	// aggregated API server that is down, typically); their types are
	// missing from Resources.
	Warnings []string
}

// Run discovers the listable resource types of the cluster cfg points at.
// A group that fails discovery is a warning, not an error: the rest of the
// cluster can still be backed up.
func Run(cfg *rest.Config) (*Result, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discover: client: %w", err)
	}
	return FromClient(dc)
}

// FromClient is Run with a discovery client.
func FromClient(dc discovery.DiscoveryInterface) (*Result, error) {
	res := &Result{}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("discover: server version: %w", err)
	}
	res.Version = v.GitVersion
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		var failed *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &failed) {
			return nil, fmt.Errorf("discover: API resources: %w", err)
		}
		res.Warnings = groupWarnings(failed.Groups)
	}
	res.Resources = Listable(lists)
	return res, nil
}

// Listable flattens discovery lists to the resource types that support
// list, without subresources, one entry per group and resource.
func Listable(lists []*metav1.APIResourceList) []layout.Resource {
	seen := map[string]bool{}
	var out []layout.Resource
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			key := layout.Resource{Group: gv.Group, Resource: r.Name}.GroupResource()
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, layout.Resource{
				Group: gv.Group, Version: gv.Version, Resource: r.Name, Kind: r.Kind, Namespaced: r.Namespaced,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Resource < out[j].Resource
	})
	return out
}

func groupWarnings(groups map[schema.GroupVersion]error) []string {
	out := make([]string, 0, len(groups))
	for gv, err := range groups {
		out = append(out, fmt.Sprintf("API group %s not discovered, its resources are not backed up: %v", gv, err))
	}
	sort.Strings(out)
	return out
}
