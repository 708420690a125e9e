//go:build !fsonly

package ctlcmd

import (
	"context"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
)

// ctlDelete builds `ctl KIND delete NAME...` for one of the controller's
// kinds: it deletes the named objects and says what follows (done), and
// with -o json|yaml lists them.
func (a *app) ctlDelete(f *core.CtlFlags, kind, short, long, done string, newObj func() client.Object) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: short,
		Long:  long,
		Args:  core.Args(1, -1, kind+" names"),
		RunE: a.RunE(func(ctx context.Context, names []string) error {
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			return a.deleteObjects(ctx, c, f, kind, "cairn ctl "+kind+" get", done, names, newObj)
		}),
	}
}

// newObject is a new object of kind T, for deleteObjects to name.
func newObject[T any, P object[T]]() client.Object { return P(new(T)) }

// deleteObjects deletes the named objects of a kind (list: the command
// that lists them, for a name not found).
func (a *app) deleteObjects(ctx context.Context, c client.Client, f *core.CtlFlags, kind, list, done string, names []string, newObj func() client.Object) error {
	type deleted struct {
		Name    string `json:"name"`
		Deleted bool   `json:"deleted"`
	}
	out := []deleted{}
	for _, n := range names {
		obj := newObj()
		obj.SetName(n)
		obj.SetNamespace(a.Namespace(f))
		if err := c.Delete(ctx, obj); err != nil {
			return core.NotFound(err, kind, n, list)
		}
		a.Say("%s %s %s", kind, n, done)
		out = append(out, deleted{n, true})
	}
	if a.Machine() {
		return a.Emit(out)
	}
	return nil
}

func (a *app) ctlBackupDeleteCommand(f *core.CtlFlags) *cobra.Command {
	return a.ctlDelete(f, "backup", "Delete Backups: the controller forgets their snapshots and prunes their data", "",
		"deletion requested; the controller forgets its snapshot",
		newObject[cairnv1.Backup])
}

func (a *app) ctlScheduleDeleteCommand(f *core.CtlFlags) *cobra.Command {
	return a.ctlDelete(f, "schedule", "Delete Schedules (their backups stay until they expire)", "", "deleted",
		newObject[cairnv1.Schedule])
}

func (a *app) ctlLocationDeleteCommand(f *core.CtlFlags) *cobra.Command {
	return a.ctlDelete(f, "location", "Delete BackupLocations (the repository and its backups stay)",
		`Delete BackupLocation objects. Nothing in the repository is deleted: create
the location again to see its backups again. Backups and Schedules that
name the location fail until it exists again.`,
		"deleted; the repository and its backups stay",
		newObject[cairnv1.BackupLocation])
}
