//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
)

// Self-service: in a namespace that is not a controller's, `ctl backup`
// and `ctl restore` work on the namespace's view of its backups
// (NamespaceBackups, kept by the controller) and on restore requests
// (NamespaceRestores, run by the controller with the requester's rights),
// which a namespace's owners may read and create with a kubeconfig of
// their own.

// selfService reports whether the ctl commands work on the self-service
// objects of the namespace: a namespace in which the user may not list
// BackupLocations, or that holds neither BackupLocations nor Backups, is
// not a controller's. The default namespace (no -n, no CAIRN_NAMESPACE)
// is the controller's: a user who may not read it is told to name theirs.
func (a *app) selfService(ctx context.Context, c client.Client, f *core.CtlFlags) (bool, error) {
	ns := a.Namespace(f)
	explicit := f.Namespace != "" || a.Env("CAIRN_NAMESPACE") != ""
	var locs cairnv1.BackupLocationList
	switch err := c.List(ctx, &locs, client.InNamespace(ns), client.Limit(1)); {
	case apierrors.IsForbidden(err) && !explicit:
		return false, core.BadInput("you may not read cairn's objects in namespace %s (the controller's, the default): "+
			"give -n NAMESPACE to see and restore the backups of your namespace", ns)
	case apierrors.IsForbidden(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("list backup locations in namespace %s: %w", ns, err)
	case len(locs.Items) > 0 || !explicit:
		return false, nil
	}
	var backups cairnv1.BackupList
	switch err := c.List(ctx, &backups, client.InNamespace(ns), client.Limit(1)); {
	case apierrors.IsForbidden(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("list backups in namespace %s: %w", ns, err)
	}
	return len(backups.Items) == 0, nil
}

// NsBackupRow is a NamespaceBackup as `ctl backup get` shows it.
type NsBackupRow struct {
	Name      string       `json:"name"`
	Phase     string       `json:"phase"`
	Items     int          `json:"items"`
	Volumes   int          `json:"volumes"`
	Started   *metav1.Time `json:"started,omitempty"`
	Completed *metav1.Time `json:"completed,omitempty"`
	Expires   *metav1.Time `json:"expires,omitempty"`
	Schedule  string       `json:"schedule,omitempty"`
	Location  string       `json:"storageLocation,omitempty"`
}

func viewNamespaceBackup(b *cairnv1.NamespaceBackup) NsBackupRow {
	st := b.Status
	return NsBackupRow{
		Name: b.Name, Phase: core.HumanPhase(st.Phase), Items: st.Items, Volumes: st.Volumes,
		Started: st.StartTimestamp, Completed: st.CompletionTimestamp, Expires: st.Expiration,
		Schedule: st.Schedule, Location: st.StorageLocation,
	}
}

// nsBackups is how get and describe show NamespaceBackups.
var nsBackups = table[cairnv1.NamespaceBackup, NsBackupRow]{
	kind: newKind("backup", "cairn ctl backup get", true,
		func(l *cairnv1.NamespaceBackupList) []cairnv1.NamespaceBackup { return l.Items }),
	view:   viewNamespaceBackup,
	header: []any{"NAME", "PHASE", "ITEMS", "VOLUMES", "STARTED", "EXPIRES", "SCHEDULE"},
	cells: func(r NsBackupRow) []any {
		return []any{r.Name, r.Phase, r.Items, r.Volumes, core.MetaTime(r.Started), core.MetaTime(r.Expires), core.Dash(r.Schedule)}
	},
}

// describeNamespaceBackup is `ctl backup describe` in self-service.
func describeNamespaceBackup(w io.Writer, b *cairnv1.NamespaceBackup, r NsBackupRow) {
	core.Row(w, "Name:", r.Name)
	core.Row(w, "Namespace:", b.Namespace)
	core.Row(w, "Phase:", r.Phase)
	core.Row(w, "Schedule:", core.Dash(r.Schedule))
	core.Row(w, "Location:", core.Dash(r.Location))
	core.Row(w, "Items:", r.Items)
	core.Row(w, "Volumes:", r.Volumes)
	core.Row(w, "Started:", core.MetaTime(r.Started))
	core.Row(w, "Completed:", core.MetaTime(r.Completed))
	core.Row(w, "Expires:", core.MetaTime(r.Expires))
}

// nsBackupLog is `ctl backup logs` in self-service: the view holds the
// backup's phase, not its warnings and errors; those are in the
// repository, which the administrator reads (`ctl backup logs` in the
// controller's namespace).
func (a *app) nsBackupLog(_ context.Context, _ client.Client, b *cairnv1.NamespaceBackup) error {
	st := b.Status
	level := "info"
	if st.Phase != cairnv1.PhaseCompleted {
		level = "warning"
	}
	lines := []LogLine{
		{level, fmt.Sprintf("backup %s is %s", b.Name, core.HumanPhase(st.Phase))},
		{"info", fmt.Sprintf("its warnings and errors are the administrator's to read: `cairn ctl backup logs %s` in the controller's namespace",
			core.Dash(st.BackupName))},
	}
	return a.showLog(lines, func() {
		a.Say("backup %s of namespace %s: %s, %d objects, %d volumes, %s to %s", b.Name, b.Namespace, core.HumanPhase(st.Phase),
			st.Items, st.Volumes, core.MetaTime(st.StartTimestamp), core.MetaTime(st.CompletionTimestamp))
	})
}

// nsRestoreSpec turns the flags of `ctl restore create`, as the Restore
// they would make, into a NamespaceRestore's spec in namespace ns, or
// refuses what a namespace restore cannot do before anything is created.
func nsRestoreSpec(ns string, rs cairnv1.RestoreSpec) (cairnv1.NamespaceRestoreSpec, error) {
	only := "a namespace restore restores only namespace " + ns + "'s namespaced objects"
	spec := cairnv1.NamespaceRestoreSpec{
		BackupName: rs.BackupName, IncludedResources: rs.IncludedResources, ExcludedResources: rs.ExcludedResources,
		LabelSelector: rs.LabelSelector, ExistingResourcePolicy: rs.ExistingResourcePolicy,
	}
	switch {
	case len(rs.IncludedNamespaces) > 0 || len(rs.ExcludedNamespaces) > 0:
		return spec, core.BadInput("--include-namespaces and --exclude-namespaces do not apply: %s", only)
	case rs.IncludeClusterResources == "true":
		return spec, core.BadInput("--include-cluster-resources=true: %s (ask an administrator for cluster-scoped objects)", only)
	case rs.PreserveNodePorts:
		return spec, core.BadInput("--preserve-nodeports does not apply: %s (a node port is the cluster's to give)", only)
	}
	for from, to := range rs.NamespaceMapping {
		if from != ns {
			return spec, core.BadInput("--namespace-mapping %s=%s: %s; map it as %s=TARGET", from, to, only, ns)
		}
		spec.TargetNamespace = to
	}
	switch rs.ExistingResourcePolicy {
	case "", "none", "update":
	default:
		return spec, core.BadInput("--existing-resource-policy %q: use none or update", rs.ExistingResourcePolicy)
	}
	return spec, nil
}

// nsRestoreCreate is `ctl restore create` in self-service: it creates a
// NamespaceRestore named name in ns from the flags' Restore spec and,
// with wait, waits for its end.
func (a *app) nsRestoreCreate(ctx context.Context, c client.Client, ns, name string, rs cairnv1.RestoreSpec, wait bool) error {
	spec, err := nsRestoreSpec(ns, rs)
	if err != nil {
		return err
	}
	if rs.ScheduleName != "" {
		b, err := newestNamespaceBackup(ctx, c, ns, rs.ScheduleName)
		if err != nil {
			return err
		}
		spec.BackupName = b
	} else if _, err := nsBackups.get(ctx, c, ns, spec.BackupName); err != nil {
		return err
	}
	nr := &cairnv1.NamespaceRestore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if err := c.Create(ctx, nr); err != nil {
		return fmt.Errorf("create namespace restore %s in %s: %w", name, ns, err)
	}
	a.Say("restore %s of backup %s created in namespace %s", name, spec.BackupName, ns)
	if !wait {
		a.Say("see `cairn ctl restore describe %s -n %s`", name, ns)
		return nil
	}
	err = a.waitPhase(ctx, "restore "+name, errPartialRestore, func() (cairnv1.Phase, string, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(nr), nr); err != nil {
			return "", "", err
		}
		return nr.Status.Phase, nr.Status.FailureReason, nil
	})
	if st := nr.Status; st.Phase.Finished() {
		a.Say("restore %s of backup %s: %d created, %d updated, %d skipped, %d failed", name, spec.BackupName,
			st.Created, st.Updated, st.Skipped, st.Failed)
		for _, fl := range st.Failures {
			a.Say("failed: %s", fl)
		}
		if more := st.Failed - len(st.Failures); more > 0 && len(st.Failures) > 0 {
			a.Say("%d more objects failed (the status lists the first %d)", more, len(st.Failures))
		}
	}
	return err
}

// newestNamespaceBackup is the newest Completed NamespaceBackup of
// schedule in ns, by start time.
func newestNamespaceBackup(ctx context.Context, c client.Client, ns, schedule string) (string, error) {
	var l cairnv1.NamespaceBackupList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return "", fmt.Errorf("list the backups of namespace %s: %w", ns, err)
	}
	var newest *cairnv1.NamespaceBackup
	for i := range l.Items {
		b := &l.Items[i]
		if b.Status.Schedule != schedule || b.Status.Phase != cairnv1.PhaseCompleted || b.Status.StartTimestamp == nil {
			continue
		}
		if newest == nil || b.Status.StartTimestamp.After(newest.Status.StartTimestamp.Time) {
			newest = b
		}
	}
	if newest == nil {
		return "", core.BadInput("no Completed backup of schedule %s holds namespace %s (see `cairn ctl backup get -n %s`)", schedule, ns, ns)
	}
	return newest.Name, nil
}

// nsRestoreRow is a NamespaceRestore as `ctl restore get` shows it.
type nsRestoreRow struct {
	restoreRow
	Target    string `json:"targetNamespace,omitempty"`
	Requester string `json:"requester,omitempty"`
}

func viewNamespaceRestore(nr *cairnv1.NamespaceRestore) nsRestoreRow {
	st := nr.Status
	return nsRestoreRow{
		restoreRow: restoreRow{Name: nr.Name, Backup: nr.Spec.BackupName, Phase: core.HumanPhase(st.Phase), Created: st.Created,
			Updated: st.Updated, Skipped: st.Skipped, Failed: st.Failed, Started: st.StartTimestamp, Reason: st.FailureReason, Failures: st.Failures},
		Target: nr.Spec.TargetNamespace, Requester: nr.Spec.Requester.Username,
	}
}

// nsRestores is how get and describe show NamespaceRestores.
var nsRestores = table[cairnv1.NamespaceRestore, nsRestoreRow]{
	kind: newKind("restore", "cairn ctl restore get", true,
		func(l *cairnv1.NamespaceRestoreList) []cairnv1.NamespaceRestore { return l.Items }),
	view:   viewNamespaceRestore,
	header: []any{"NAME", "BACKUP", "PHASE", "CREATED", "SKIPPED", "FAILED", "STARTED", "REQUESTER"},
	cells: func(r nsRestoreRow) []any {
		return []any{r.Name, r.Backup, r.Phase, r.Created, r.Skipped, r.Failed, core.MetaTime(r.Started), core.Dash(r.Requester)}
	},
}

// describeNamespaceRestore is `ctl restore describe` in self-service.
func describeNamespaceRestore(w io.Writer, nr *cairnv1.NamespaceRestore, r nsRestoreRow) {
	target := nr.Spec.TargetNamespace
	if target == "" {
		target = nr.Namespace
	}
	core.Row(w, "Name:", r.Name)
	core.Row(w, "Backup:", r.Backup)
	core.Row(w, "Target namespace:", target)
	core.Row(w, "Requester:", core.Dash(nr.Spec.Requester.Username))
	if g := nr.Spec.Requester.Groups; len(g) > 0 {
		core.Row(w, "Requester groups:", strings.Join(g, ","))
	}
	core.Row(w, "Phase:", r.Phase)
	if r.Reason != "" {
		core.Row(w, "Reason:", r.Reason)
	}
	core.Row(w, "Resources:", core.Dash(strings.Join(nr.Spec.IncludedResources, ",")))
	core.Row(w, "Excluded resources:", core.Dash(strings.Join(nr.Spec.ExcludedResources, ",")))
	core.Row(w, "Selector:", core.Dash(nr.Spec.LabelSelector))
	core.Row(w, "Existing objects:", core.Dash(nr.Spec.ExistingResourcePolicy))
	restoreCounts(w, r.restoreRow, nr.Status.CompletionTimestamp)
	conditions(w, nr.Status.Conditions)
}

// ctlRestoreDeleteCommand deletes Restores, or in self-service the
// namespace's NamespaceRestores.
func (a *app) ctlRestoreDeleteCommand(f *core.CtlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete Restore objects (what they restored stays)",
		Long: `Delete Restore objects; in a namespace of your own (self-service, see
` + "`cairn ctl --help`" + `), NamespaceRestores. What they restored stays.`,
		Args: core.Args(1, -1, "restore names"),
		RunE: a.RunE(func(ctx context.Context, names []string) error {
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			self, err := a.selfService(ctx, c, f)
			if err != nil {
				return err
			}
			newObj := newObject[cairnv1.Restore]
			list := "cairn ctl restore get"
			if self {
				newObj = newObject[cairnv1.NamespaceRestore]
				list += " -n " + a.Namespace(f)
			}
			return a.deleteObjects(ctx, c, f, "restore", list, "deleted", names, newObj)
		}),
	}
}

// selfServiceHelp is the part of `cairn ctl --help` about namespace owners.
var selfServiceHelp = strings.Join([]string{
	"Namespace owners (self-service): in a namespace that is not a controller's",
	"(you may not list its BackupLocations, or it holds neither BackupLocations",
	"nor Backups), `backup get|describe|logs` show the namespace's",
	"NamespaceBackups (the backups that hold it; their full logs are the",
	"administrator's) and `restore create|get|describe|logs|delete`",
	"work on NamespaceRestores, which the controller runs with your own rights:",
	"",
	"  cairn ctl backup get -n team-a",
	"  cairn ctl restore create --from-backup daily-backup-20250101000000 -n team-a --wait",
	"",
	"A namespace restore restores only that namespace's namespaced objects:",
	"--namespace-mapping takes only team-a=TARGET (a namespace you own), and",
	"--include-namespaces, --exclude-namespaces, --include-cluster-resources=true",
	"and --preserve-nodeports are refused. Without -n (and CAIRN_NAMESPACE) the",
	"namespace is the controller's; a user who may not read it is asked for -n.",
}, "\n")
