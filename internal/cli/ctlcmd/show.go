//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cairn-backup/cairn/internal/cli/core"
)

// The shape of every get, describe and logs: connect, tell whether the
// namespace is the controller's or a tenant's (self-service), read the
// kind's objects there, show them. -o json|yaml prints the rows or the
// object as they are, a table the cells and lines chosen for people.
//
// readCommand is that shape as a command; a kind says how to read one
// kind of object, a table how get and describe show it.

// run is what a get, describe or logs does once connected, in namespace
// ns, with the command's arguments.
type run func(ctx context.Context, c client.Client, ns string, args []string) error

// readCommand completes cmd (its use, help and arguments) into a command
// that runs admin in the controller's namespace or, in self-service, self.
// A family without self-service (self nil) does not ask which it is.
func (a *app) readCommand(f *core.CtlFlags, cmd *cobra.Command, admin, self run) *cobra.Command {
	cmd.RunE = a.RunE(func(ctx context.Context, args []string) error {
		c, tenant, err := a.connectFor(ctx, f, self != nil)
		switch {
		case err != nil:
			return err
		case tenant:
			return self(ctx, c, a.Namespace(f), args)
		}
		return admin(ctx, c, a.Namespace(f), args)
	})
	return cmd
}

// getCommand is `get` with help short: without names (a family that lists
// every object), or with `get [NAME...]` what its arguments are (names).
func (a *app) getCommand(f *core.CtlFlags, names, short string, admin, self run) *cobra.Command {
	cmd := &cobra.Command{Use: "get", Short: short, Args: core.Args(0, 0, "no arguments")}
	if names != "" {
		cmd.Use, cmd.Args = "get [NAME...]", core.Args(0, -1, names)
	}
	return a.readCommand(f, cmd, admin, self)
}

// describeCommand is `describe NAME` with help short, NAME being what name
// says ("the backup's name").
func (a *app) describeCommand(f *core.CtlFlags, name, short string, admin, self run) *cobra.Command {
	return a.readCommand(f, &cobra.Command{Use: "describe NAME", Short: short, Args: core.Args(1, 1, name)}, admin, self)
}

// logsCommand is `logs NAME` with help short and long, NAME being what
// name says.
func (a *app) logsCommand(f *core.CtlFlags, name, short, long string, admin, self run) *cobra.Command {
	return a.readCommand(f, &cobra.Command{Use: "logs NAME", Short: short, Long: long, Args: core.Args(1, 1, name)}, admin, self)
}

// family is `ctl USE`, a group of the commands on one kind.
func (a *app) family(use, short string, cmds ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	a.Group(cmd)
	cmd.AddCommand(cmds...)
	return cmd
}

// connectFor is connect, or (ask false) only the client.
func (a *app) connectFor(ctx context.Context, f *core.CtlFlags, ask bool) (client.Client, bool, error) {
	if ask {
		return a.connect(ctx, f)
	}
	c, err := a.KubeClient(f)
	return c, false, err
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

// object is a pointer to a kind's Go type, which the client reads into.
type object[T any] interface {
	*T
	client.Object
}

// objectList is a pointer to a kind's list type.
type objectList[L any] interface {
	*L
	client.ObjectList
}

// kind is one kind of object the ctl commands read, in messages name
// ("backup", "restore drill"), listed by the command list names (a
// missing one is bad input that names it).
type kind[T any] struct {
	name, list string
	// tenant: a view in a tenant's namespace, whose list command names it.
	tenant bool
	items  func(ctx context.Context, c client.Client, opts ...client.ListOption) ([]T, error)
	read   func(ctx context.Context, c client.Client, key client.ObjectKey) (*T, error)
}

// newKind is the kind whose list type L holds its objects as items.
func newKind[T any, P object[T], L any, PL objectList[L]](name, list string, tenant bool, items func(*L) []T) kind[T] {
	return kind[T]{
		name: name, list: list, tenant: tenant,
		items: func(ctx context.Context, c client.Client, opts ...client.ListOption) ([]T, error) {
			var l L
			if err := c.List(ctx, PL(&l), opts...); err != nil {
				return nil, err
			}
			return items(&l), nil
		},
		read: func(ctx context.Context, c client.Client, key client.ObjectKey) (*T, error) {
			var obj T
			if err := c.Get(ctx, key, P(&obj)); err != nil {
				return nil, err
			}
			return &obj, nil
		},
	}
}

// get reads the object name in ns; a missing one is bad input that names
// the command listing them (with -n ns for a tenant's view).
func (k kind[T]) get(ctx context.Context, c client.Client, ns, name string) (*T, error) {
	obj, err := k.read(ctx, c, client.ObjectKey{Namespace: ns, Name: name})
	if err != nil {
		list := k.list
		if k.tenant {
			list += " -n " + ns
		}
		return nil, core.NotFound(err, k.name, name, list)
	}
	return obj, nil
}

// named reads the named objects in ns, in that order, or without names
// all of them (with opts).
func (k kind[T]) named(ctx context.Context, c client.Client, ns string, names []string, opts ...client.ListOption) ([]T, error) {
	if len(names) == 0 {
		items, err := k.items(ctx, c, append([]client.ListOption{client.InNamespace(ns)}, opts...)...)
		if err != nil {
			return nil, fmt.Errorf("list the %ss of namespace %s: %w", k.name, ns, err)
		}
		return items, nil
	}
	items := make([]T, 0, len(names))
	for _, n := range names {
		obj, err := k.get(ctx, c, ns, n)
		if err != nil {
			return nil, err
		}
		items = append(items, *obj)
	}
	return items, nil
}

// one is a command on the object its first argument names: do with it.
func (k kind[T]) one(do func(ctx context.Context, c client.Client, obj *T) error) run {
	return func(ctx context.Context, c client.Client, ns string, args []string) error {
		obj, err := k.get(ctx, c, ns, args[0])
		if err != nil {
			return err
		}
		return do(ctx, c, obj)
	}
}

// table is how get and describe show a kind: each object as its row R,
// get the header and cells of each row.
type table[T, R any] struct {
	kind[T]
	view   func(*T) R
	header []any
	cells  func(R) []any
}

// list is get: the rows of the named objects or, without names, of all
// (listed with opts, nil none), those keep takes (nil: all).
func (t table[T, R]) list(a *app, opts func() []client.ListOption, keep func(*T) bool) run {
	return func(ctx context.Context, c client.Client, ns string, names []string) error {
		var o []client.ListOption
		if opts != nil {
			o = opts()
		}
		items, err := t.named(ctx, c, ns, names, o...)
		if err != nil {
			return err
		}
		rows := []R{}
		for i := range items {
			if keep == nil || keep(&items[i]) {
				rows = append(rows, t.view(&items[i]))
			}
		}
		return showList(a, rows, t.header, t.cells)
	}
}

// describe is describe: the object under -o json|yaml, else the lines
// writes of it and its row; then hint's line, if any (hint nil: none).
func (t table[T, R]) describe(a *app, lines func(w io.Writer, obj *T, r R), hint func(*T) string) run {
	return t.one(func(_ context.Context, _ client.Client, obj *T) error {
		r := t.view(obj)
		if err := a.showOne(obj, func(w io.Writer) { lines(w, obj, r) }); err != nil {
			return err
		}
		if hint != nil {
			if h := hint(obj); h != "" {
				a.Say("%s", h)
			}
		}
		return nil
	})
}

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

// showLog prints a log: the lines under -o json|yaml, else head's lines
// and each line as "level: message".
func (a *app) showLog(lines []LogLine, head func()) error {
	if a.Machine() {
		return a.Emit(lines)
	}
	head()
	for _, l := range lines {
		fmt.Fprintf(a.Stdout, "%s: %s\n", l.Level, l.Message)
	}
	return nil
}

// conditions writes a describe's line of each condition.
func conditions(w io.Writer, cs []metav1.Condition) {
	for _, cd := range cs {
		core.Row(w, "Condition "+cd.Type+":", fmt.Sprintf("%s (%s) %s", cd.Status, cd.Reason, cd.Message))
	}
}
