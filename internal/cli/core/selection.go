package core

import "github.com/spf13/pflag"

// Selection is what the selection flags of a backup or a restore choose:
// namespaces and resources by glob, objects by label. The standalone
// commands and the ctl commands share it, so the two spell the flags the
// same way.
type Selection struct {
	IncludeNamespaces, ExcludeNamespaces []string
	IncludeResources, ExcludeResources   []string
	Selector                             string
}

// Register adds --include-namespaces, --exclude-namespaces,
// --include-resources, --exclude-resources and -l/--selector to f; verb is
// what the command does with what they select ("back up", "restore"), and
// globs how --include-namespaces reads (e.g. "globs; '*' = all").
func (s *Selection) Register(f *pflag.FlagSet, verb, globs string) {
	f.StringSliceVar(&s.IncludeNamespaces, "include-namespaces", nil, verb+" only these namespaces ("+globs+")")
	f.StringSliceVar(&s.ExcludeNamespaces, "exclude-namespaces", nil, "do not "+verb+" these namespaces (globs)")
	f.StringSliceVar(&s.IncludeResources, "include-resources", nil, verb+" only these resources (configmaps, deployments.apps, *)")
	f.StringSliceVar(&s.ExcludeResources, "exclude-resources", nil, "do not "+verb+" these resources")
	f.StringVarP(&s.Selector, "selector", "l", "", verb+" only objects matching this label selector (e.g. velero=backup)")
}
