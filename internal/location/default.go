package location

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
)

// Errors of Default.
var (
	// ErrNoDefault: no BackupLocation of the list is marked default.
	ErrNoDefault = errors.New("no BackupLocation is marked default")
	// ErrSeveralDefaults: more than one is.
	ErrSeveralDefaults = errors.New("several BackupLocations are marked default")
)

// Default returns the one location of locs marked default (spec.default).
// None is ErrNoDefault; more than one is ErrSeveralDefaults, naming them:
// where a Backup without storageLocation goes must not depend on the order
// of a list. Clients that mark a location default unset it on the others
// (`cairn ctl location set --default`), but two of them at once can leave
// two marked; this, read where the location is used, is the rule.
func Default(locs []cairnv1.BackupLocation) (*cairnv1.BackupLocation, error) {
	var found []*cairnv1.BackupLocation
	for i := range locs {
		if locs[i].Spec.Default {
			found = append(found, &locs[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoDefault
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, l := range found {
		names[i] = l.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: %s", ErrSeveralDefaults, strings.Join(names, ", "))
}
