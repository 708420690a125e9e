//go:build !fsonly

package ctlcmd

import (
	"context"
	"io"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// The shape of every get and describe: -o json|yaml prints the rows or the
// object as they are, a table the cells and lines chosen for people.

// showList prints rows: the array under -o json|yaml, else a table of
// header and the cells of each row.
func showList[R any](a *app, rows []R, header []any, cells func(R) []any) error {
	if a.Machine() {
		return a.Emit(rows)
	}
	w := a.Table()
	core.Row(w, header...)
	for _, r := range rows {
		core.Row(w, cells(r)...)
	}
	return w.Flush()
}

// showOne prints one object: obj (as the API server has it) under
// -o json|yaml, else the name and value lines describe writes.
func (a *app) showOne(obj any, describe func(w io.Writer)) error {
	if a.Machine() {
		return a.Emit(obj)
	}
	w := a.Table()
	describe(w)
	return w.Flush()
}

// connect returns the client of a ctl command and whether it works
// self-service, in a tenant's namespace (selfService).
func (a *app) connect(ctx context.Context, f *core.CtlFlags) (c client.Client, self bool, err error) {
	if c, err = a.KubeClient(f); err != nil {
		return nil, false, err
	}
	self, err = a.selfService(ctx, c, f)
	return c, self, err
}

// get reads the object name of the ctl commands' namespace into obj; a
// missing one is bad input that names the command listing them.
func (a *app) get(ctx context.Context, c client.Client, f *core.CtlFlags, name string, obj client.Object, kind, list string) error {
	if err := c.Get(ctx, client.ObjectKey{Namespace: a.Namespace(f), Name: name}, obj); err != nil {
		return core.NotFound(err, kind, name, list)
	}
	return nil
}
