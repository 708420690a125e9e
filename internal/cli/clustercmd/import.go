//go:build !fsonly

package clustercmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/velero"
	"github.com/cairn-backup/cairn/internal/velero/volumesave"
)

// importVeleroOptions are the flags of `import velero`.
type importVeleroOptions struct {
	from          string
	backups       []string
	all           bool
	completedOnly bool
	dryRun        bool
	volumePWFiles []string
}

func (a *app) importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import backups made by other tools into the repository",
	}
	a.Group(cmd)
	cmd.AddCommand(a.importVeleroCommand())
	return cmd
}

func (a *app) importVeleroCommand() *cobra.Command {
	var o importVeleroOptions
	cmd := &cobra.Command{
		Use:   "velero --from s3://bucket/prefix (--backup NAME ... | --all)",
		Short: "Import Velero backups from a backup storage location as cluster backups",
		Long: `Read the Velero backups in a BackupStorageLocation (--from: the bucket and
prefix of its objectStorage: s3://bucket/prefix; the --s3-* flags and AWS
variables apply to it as to the repository) and write each as a cluster backup
in the repository (--repo), with its name, start time, expiry, labels and
selection. An imported backup restores with ` + "`cairn restore run --from-backup NAME`" + `
like one cairn made, and cairn's retention forgets it when Velero would have
deleted it.

Only the location is read; nothing is written there. A backup imported before
is left alone, so running the import again imports only what is new. Backups
Velero marked Failed or PartiallyFailed are imported with that phase and its
reason, unless --completed-only; unfinished and expired ones are skipped.
The data of Velero's file-system volume backups (kopia) is imported into
pod-volume snapshots of the imported backup, so that a restore brings it
back; their repositories are opened with --velero-repo-password-file, else
with Velero's static default password, which the output reports as a
finding. A volume that cannot be read is named with the reason (and the
backup is PartiallyFailed); its pod's and claim's objects are imported.

Exit 0 when every backup was imported (or was already), 3 when some failed,
1 when none could be, 2 for bad input (a --backup not in the location).`,
		Args: core.Args(0, 0, "no arguments (use --from and --backup or --all)"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error { return a.importVelero(ctx, o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the Velero backup storage location: s3://bucket/prefix, or a directory")
	f.StringSliceVar(&o.backups, "backup", nil, "Velero backups to import (repeat or comma-separate)")
	f.BoolVar(&o.all, "all", false, "import every backup in the location")
	f.BoolVar(&o.completedOnly, "completed-only", false, "skip backups Velero marked Failed or PartiallyFailed")
	f.BoolVar(&o.dryRun, "dry-run", false, "say what would be imported; write nothing")
	f.StringSliceVar(&o.volumePWFiles, "velero-repo-password-file", nil,
		"file holding the password of Velero's file-system backup repositories (its secret velero-repo-credentials, key repository-password); Velero's default is tried after it")
	return cmd
}

func (a *app) importVelero(ctx context.Context, o importVeleroOptions) error {
	switch {
	case o.from == "":
		return core.BadInput("--from is required: the Velero backup storage location (s3://bucket/prefix)")
	case o.all && len(o.backups) > 0:
		return core.BadInput("--all and --backup exclude each other")
	case !o.all && len(o.backups) == 0:
		return core.BadInput("say which backups: --backup NAME (repeatable) or --all")
	}
	src, err := a.veleroStore(ctx, o.from)
	if err != nil {
		return err
	}
	loc := velero.NewLocation(src)
	var pws [][]byte
	for _, f := range o.volumePWFiles {
		pw, err := core.ReadPasswordFile(f, "--velero-repo-password-file")
		if err != nil {
			return err
		}
		pws = append(pws, pw)
	}
	return a.WithRepo(ctx, func(r *repo.Repository) error {
		return r.WithLock(ctx, repo.Shared, "import velero", func(ctx context.Context) error {
			opts := velero.Options{
				Names: o.backups, CompletedOnly: o.completedOnly, DryRun: o.dryRun, VolumePasswords: pws, SaveVolume: volumesave.Save,
				RetainNew: func(ctx context.Context, expires *time.Time) error { return a.RetainNew(ctx, r, expires) },
				Retain:    func(ctx context.Context, sn *snapshot.Snapshot) error { return a.RetainSnapshot(ctx, r, sn) },
				Now:       a.Now, Progress: &velero.Progress{},
			}
			stop := a.StartProgress("import", func() core.Sample {
				return core.Sample{Done: opts.Progress.Objects.Load(), Unit: "objects", Counting: true}
			})
			rep, err := velero.Import(ctx, r, loc, opts)
			stop()
			if errors.Is(err, velero.ErrNoBackup) {
				return core.Usage(err)
			}
			if rep != nil {
				if serr := a.showImport(rep); serr != nil {
					return serr
				}
			}
			return err
		})
	})
}

// veleroStore opens the location to read: an S3 bucket (the --s3-* flags
// apply, as for the repository).
func (a *app) veleroStore(ctx context.Context, loc string) (store.Store, error) {
	if !core.IsS3(loc) {
		return nil, core.BadInput("--from %s: want s3://bucket/prefix, the bucket and prefix of the BackupStorageLocation", loc)
	}
	s, err := a.OpenS3(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("velero location: %w", err)
	}
	return s, nil
}

func (a *app) showImport(rep *velero.Report) error {
	if a.Machine() {
		return a.Emit(rep)
	}
	if len(rep.Results) > 0 && !a.Quiet {
		w := a.Table()
		core.Row(w, "NAME", "RESULT", "PHASE", "ITEMS", "STARTED", "EXPIRES", "SNAPSHOT")
		for _, res := range rep.Results {
			result := res.Outcome
			if res.Reason != "" {
				result += ": " + res.Reason
			}
			exp := "never"
			if res.Expires != nil {
				exp = core.HumanTime(*res.Expires)
			}
			started := ""
			if !res.Start.IsZero() {
				started = core.HumanTime(res.Start)
			}
			snap := res.Snapshot
			if len(snap) > 8 {
				snap = snap[:8]
			}
			core.Row(w, res.Name, result, res.Phase, res.Items, started, exp, snap)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	for _, res := range rep.Results {
		for _, wmsg := range res.Warnings {
			a.Warn("%s: %s", res.Name, wmsg)
		}
		for _, v := range res.Volumes {
			if v.Outcome == velero.VolumeImported {
				a.Say("%s: %s: data imported (%d files, %d bytes, snapshot %.8s)", res.Name, v.PodVolume, v.Files, v.Bytes, v.Snapshot)
			}
		}
	}
	if !a.Quiet {
		for _, f := range rep.Findings {
			fmt.Fprintf(a.Stderr, "cairn: finding: %s\n", f)
		}
	}
	a.Say("velero import from %s: %d imported, %d already imported, %d skipped, %d failed",
		rep.Location, rep.Count(velero.Imported)+rep.Count(velero.WouldImport), rep.Count(velero.AlreadyImported),
		rep.Count(velero.Skipped), rep.Count(velero.Failed))
	return nil
}
