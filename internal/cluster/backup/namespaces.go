package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// listNamespaces selects the namespaces to back up and stores their
// objects (kept in the snapshot unless a selector leaves them empty).
// A namespace carrying the opt-out label is skipped whole.
func (b *backup) listNamespaces(ctx context.Context) error {
	b.nsIndex = -1
	for i, r := range b.resources {
		if r.Group == "" && r.Resource == "namespaces" {
			b.nsIndex = i
		}
	}
	if b.nsIndex < 0 {
		return errors.New("backup: the API server does not serve namespaces")
	}
	r := b.resources[b.nsIndex]
	var optedOut []string
	reset := func() {
		b.nsEntries, b.nsMatch, b.selected, optedOut = map[string]entry{}, map[string]bool{}, map[string]bool{}, nil
	}
	reset()
	err := b.lAll.list(ctx, r, "", false, func(raw []byte) error {
		obj, err := decodeItem(raw, r)
		if err != nil {
			b.warn(fmt.Sprintf("namespaces: an object could not be read: %v", err))
			return nil
		}
		name := obj.meta.Name
		switch {
		case !b.opts.namespaceSelected(name):
			return nil
		case b.opts.optedOut(obj.meta.Labels):
			optedOut = append(optedOut, name)
			return nil
		}
		e, added, err := b.saveObject(obj)
		if err != nil {
			return fatal{fmt.Errorf("backup: store namespace %s: %w", name, err)}
		}
		if added {
			b.added++
		}
		b.nsEntries[name], b.selected[name] = e, true
		b.nsMatch[name] = b.selector.Matches(labels.Set(obj.meta.Labels))
		return nil
	}, func(reason string) { reset(); b.warn(reason) })
	if err != nil {
		if err := b.listFailed(r, "", err); err != nil {
			return err
		}
		if err := b.namedNamespaces(r); err != nil {
			return err
		}
	}
	for ns := range b.selected {
		b.namespaces = append(b.namespaces, ns)
	}
	sort.Strings(b.namespaces)
	if len(optedOut) > 0 {
		sort.Strings(optedOut)
		b.warn(fmt.Sprintf("skipped %d namespace(s) opted out by label %s or %s=true, with all their objects: %s",
			len(optedOut), b.opts.OptOutLabel, VeleroExcludeLabel, abbreviate(optedOut, 10)))
	}
	return nil
}

// namedNamespaces falls back, when namespaces cannot be listed, to the
// namespaces named literally in IncludeNamespaces. Their Namespace objects
// are then missing from the backup (the error says so).
func (b *backup) namedNamespaces(r layout.Resource) error {
	names := b.opts.literalNamespaces()
	if names == nil {
		b.mu.Lock()
		msg := b.errors[len(b.errors)-1]
		b.mu.Unlock()
		return fmt.Errorf("backup: %s; to back up without listing namespaces, name them with --include-namespaces", msg)
	}
	for _, ns := range names {
		if b.opts.namespaceSelected(ns) {
			b.selected[ns] = true
		}
	}
	b.warn(fmt.Sprintf("namespaces could not be listed; backing up the namespaces named by --include-namespaces without their %s objects", r.Kind))
	return nil
}

func abbreviate(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}
