package fscmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/internal/cli/core"
	"github.com/cairn-backup/cairn/internal/replicate"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/mem"
)

// replicateOptions are the flags of `replicate`.
type replicateOptions struct {
	from, to                string
	verify, readData        bool
	prune, dryRun           bool
	parallel                int
	toEndpoint, toRegion    string
	toCAFile, toCredentials string
	toProfile               string
}

func (a *app) replicateCommand() *cobra.Command {
	var o replicateOptions
	cmd := &cobra.Command{
		Use:   "replicate --from REPO --to REPO",
		Short: "Copy a repository's encrypted objects to another store, or compare the two",
		Long: `Copy the repository in --from (default: --repo or CAIRN_REPOSITORY) to --to,
object by object, as it is stored: encrypted, without the passphrase. Only
objects the target lacks are copied, each checked against its SHA-256 name;
an interrupted run is resumed by running it again. Snapshots are copied last,
so the target is a repository that restores at every moment. When both sides
are S3 buckets with object lock, every object keeps its retain-until date.

Nothing is deleted on the target unless --prune is given, and then only
objects the source no longer has whose retention has ended.

--verify copies nothing: it compares both sides (listings, sizes; with
--read-data it reads and hashes every object on both) and reports the lag,
the newest snapshot not yet replicated. It exits 1 when the replica lacks or
damages anything.

Both sides may be paths or s3:// URLs; the --s3-* flags and AWS variables
apply to both, --to-s3-* override them for the target.`,
		Args: core.Args(0, 0, "no arguments (use --from and --to)"),
		RunE: a.RunE(func(ctx context.Context, _ []string) error { return a.replicate(ctx, o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "repository to copy (default: --repo or CAIRN_REPOSITORY)")
	f.StringVar(&o.to, "to", "", "replica: a path or s3:// URL (created if missing)")
	f.BoolVar(&o.verify, "verify", false, "compare the replica with the source; copy nothing")
	f.BoolVar(&o.readData, "read-data", false, "with --verify: read and hash every object on both sides")
	f.BoolVar(&o.prune, "prune", false, "delete objects on the target that the source no longer has, once their retention ended")
	f.BoolVar(&o.dryRun, "dry-run", false, "report what would be copied and pruned; change nothing")
	f.IntVar(&o.parallel, "parallel", replicate.DefaultParallel, "objects copied or read at once")
	f.StringVar(&o.toEndpoint, "to-s3-endpoint", "", "S3 endpoint of the target (default: --s3-endpoint)")
	f.StringVar(&o.toRegion, "to-s3-region", "", "S3 region of the target (default: --s3-region)")
	f.StringVar(&o.toCAFile, "to-s3-ca-file", "", "PEM file of CAs to trust for the target's endpoint (default: --s3-ca-file)")
	f.StringVar(&o.toCredentials, "to-s3-credentials-file", "", "AWS shared credentials file for the target; "+
		"with it (or --to-s3-profile) the target ignores AWS_ACCESS_KEY_ID")
	f.StringVar(&o.toProfile, "to-s3-profile", "", "profile of the credentials file for the target (default: AWS_PROFILE)")
	return cmd
}

func (a *app) replicate(ctx context.Context, o replicateOptions) error {
	if o.readData {
		o.verify = true
	}
	if o.verify && (o.prune || o.dryRun) {
		return core.BadInput("--verify compares only: it does not go with --prune or --dry-run")
	}
	if o.parallel < 1 {
		return core.BadInput("--parallel must be at least 1")
	}
	if o.from == "" {
		loc, err := a.RepoLocation()
		if err != nil {
			return core.BadInput("no source given: set --from (or --repo, CAIRN_REPOSITORY)")
		}
		o.from = loc
	}
	if o.to == "" {
		return core.BadInput("no target given: set --to")
	}
	from, err := a.SourceStore(ctx, o.from)
	if err != nil {
		return err
	}
	to, err := a.replicaStore(ctx, o)
	if err != nil {
		return err
	}
	if from.Location() == to.Location() {
		return core.BadInput("--from and --to are the same repository (%s)", from.Location())
	}
	progress := &replicate.Progress{}
	stop := a.StartProgress("replicate", func() core.Sample {
		return core.Sample{Done: progress.Objects.Load(), Total: progress.TotalObjects.Load(), Unit: "objects"}
	})
	if o.verify {
		rep, err := replicate.Verify(ctx, from, to, replicate.VerifyOptions{ReadData: o.readData, Parallel: o.parallel, Progress: progress})
		stop()
		return a.showVerify(rep, replicateError(err))
	}
	rep, err := replicate.Run(ctx, from, to, replicate.Options{
		Parallel: o.parallel, Prune: o.prune, DryRun: o.dryRun, Now: a.Now, Progress: progress,
	})
	stop()
	return a.showReplicate(rep, replicateError(err))
}

// replicateError marks a target that holds another repository as bad input.
func replicateError(err error) error {
	if errors.Is(err, replicate.ErrOtherRepository) {
		return core.Usage(err)
	}
	return err
}

// replicaStore opens the target: S3 with the --to-s3-* overrides, or a
// local directory, created unless nothing is to be written.
func (a *app) replicaStore(ctx context.Context, o replicateOptions) (store.Store, error) {
	b := *a.App
	b.RepoFlag = o.to
	if core.IsS3(o.to) {
		if o.toEndpoint != "" {
			b.S3.Endpoint = o.toEndpoint
		}
		if o.toRegion != "" {
			b.S3.Region = o.toRegion
		}
		if o.toCAFile != "" {
			b.S3.CaFile = o.toCAFile
		}
		if o.toCredentials != "" || o.toProfile != "" {
			// The target's own credentials: the source's keys from the
			// environment must not be used for it.
			b.S3.CredentialsFile = o.toCredentials
			b.Env = func(k string) string {
				switch k {
				case "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN":
					return ""
				case "AWS_PROFILE":
					if o.toProfile != "" {
						return o.toProfile
					}
				}
				return a.Env(k)
			}
		}
		return b.OpenS3(ctx, o.to)
	}
	dir, err := b.RepoDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		switch {
		case o.verify:
			return nil, core.BadInput("replica %s does not exist", dir)
		case o.dryRun:
			return emptyStore{mem.New(), dir}, nil
		}
	}
	s, err := local.New(dir)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	return s, nil
}

// emptyStore stands for a local replica that does not exist yet, in a
// dry run: empty, and named as the directory will be.
type emptyStore struct {
	*mem.Mem
	location string
}

func (s emptyStore) Location() string { return s.location }

func (a *app) showReplicate(rep *replicate.Report, err error) error {
	if rep == nil {
		return err
	}
	if a.Machine() {
		if eerr := a.Emit(rep); eerr != nil && err == nil {
			err = eerr
		}
		return err
	}
	for _, w := range rep.Warnings {
		a.Warn("%s", w)
	}
	verb := "copied"
	if rep.DryRun {
		verb = "would copy"
	}
	a.Say("replicate %s → %s (repository %s)", rep.From, rep.To, core.ShortID(rep.Repository))
	if rep.ConfigCopied {
		a.Say("  new replica: config %s", map[bool]string{true: "would be written", false: "written"}[rep.DryRun])
	}
	a.Say("  %s %d of %d objects, %s of %s; %d already there; %s",
		verb, rep.Copied, rep.Objects, core.HumanBytes(rep.CopiedBytes), core.HumanBytes(rep.Bytes), rep.Present,
		core.HumanDuration(time.Duration(rep.Seconds*float64(time.Second))))
	if rep.Retained > 0 {
		a.Say("  object lock: retention extended on %d objects to the source's dates", rep.Retained)
	}
	if len(rep.Vanished) > 0 {
		a.Say("  %d objects were deleted on the source while copying (a prune there)", len(rep.Vanished))
	}
	if len(rep.Pruned) > 0 || len(rep.Locked) > 0 {
		pverb := "pruned"
		if rep.DryRun {
			pverb = "would prune"
		}
		a.Say("  %s %d objects the source no longer has", pverb, len(rep.Pruned))
		for _, l := range rep.Locked {
			until := "retained"
			if !l.Until.IsZero() {
				until = "retained until " + l.Until.UTC().Format(time.RFC3339)
			}
			a.Say("  left %s: %s", l.Key, until)
		}
	}
	for _, k := range rep.Corrupt {
		a.Say("  corrupt on the source, not copied: %s", k)
	}
	for _, k := range rep.Damaged {
		a.Say("  differs in size on the target: %s", k)
	}
	return err
}

func (a *app) showVerify(rep *replicate.VerifyReport, err error) error {
	if rep == nil {
		return err
	}
	if a.Machine() {
		if eerr := a.Emit(rep); eerr != nil && err == nil {
			err = eerr
		}
		return err
	}
	if rep.Repository == "" { // failed before comparing anything
		return err
	}
	state := "in sync"
	if !rep.InSync {
		state = "DIFFERS"
	}
	read := "listings compared"
	if rep.DataRead {
		read = fmt.Sprintf("listings compared, %s read and hashed", core.HumanBytes(rep.ReadBytes))
	}
	a.Say("verify %s against %s (repository %s): %s", rep.To, rep.From, core.ShortID(rep.Repository), state)
	a.Say("  source: %d objects, %s; %s", rep.Objects, core.HumanBytes(rep.Bytes), read)
	if rep.Lag.Objects > 0 {
		a.Say("  lag: %d objects (%s) missing, %d snapshots", rep.Lag.Objects, core.HumanBytes(rep.Lag.Bytes), rep.Lag.Snapshots)
		if rep.Lag.NewestTime != nil {
			a.Say("  newest snapshot not replicated: %s from %s", core.ShortID(rep.Lag.Newest), core.HumanTime(*rep.Lag.NewestTime))
		}
		for _, k := range rep.Missing {
			a.Say("  missing %s", k)
		}
	}
	for _, m := range rep.SizeMismatch {
		a.Say("  size differs %s: %d on the source, %d on the target", m.Key, m.SourceSize, m.TargetSize)
	}
	for _, d := range rep.Corrupt {
		a.Say("  corrupt on the %s: %s", d.Side, d.Key)
	}
	if rep.ExtraObjects > 0 {
		a.Say("  %d objects (%s) the source no longer has (replicate --prune removes them)", rep.ExtraObjects, core.HumanBytes(rep.ExtraBytes))
	}
	return err
}
