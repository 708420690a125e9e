package velero

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/backup"
	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// Tool is the value of layout.LabelImportedFrom for Velero backups.
const Tool = "velero"

// Options say what to import.
type Options struct {
	// Names are the backups to import; empty means every backup in the
	// location.
	Names []string
	// CompletedOnly skips the backups Velero marked Failed or
	// PartiallyFailed (they are imported by default, with that phase and
	// its reason).
	CompletedOnly bool
	// DryRun reads every backup's metadata and reports what would be
	// imported; it writes nothing.
	DryRun bool
	// VolumePasswords are tried, in order, on the kopia repositories of
	// Velero's file-system backups, then DefaultRepoPassword.
	VolumePasswords [][]byte
	// SaveVolume writes a volume's files into the repository (the CLI
	// passes one built on archiver.RunFS: package velero/volumesave).
	// Nil: volume data is not imported, each volume says so, and the
	// resources still are (the controller's import: its binary does not
	// carry the file-system engine).
	SaveVolume VolumeSaver
	// RetainNew, when set, is called before a backup is written with the
	// expiry it will have (object lock: see docs/design/object-lock.md);
	// Retain after it was saved.
	RetainNew func(ctx context.Context, expires *time.Time) error
	Retain    func(ctx context.Context, sn *snapshot.Snapshot) error

	Now      func() time.Time // default time.Now
	Progress *Progress        // may be nil
	Log      *slog.Logger     // may be nil
}

// Progress counts objects read; safe to read concurrently.
type Progress struct {
	Objects atomic.Int64
}

// Outcomes of one backup.
const (
	Imported        = "imported"
	WouldImport     = "would import" // DryRun
	AlreadyImported = "already imported"
	Skipped         = "skipped"
	Failed          = "failed"
)

// Result is what became of one Velero backup.
type Result struct {
	Name     string     `json:"name"`
	Outcome  string     `json:"outcome"`          // one of the outcomes above
	Reason   string     `json:"reason,omitempty"` // why skipped or failed
	Phase    string     `json:"phase,omitempty"`  // Velero's phase
	Start    time.Time  `json:"start,omitzero"`
	Expires  *time.Time `json:"expires,omitempty"`
	Items    int        `json:"items"`
	Snapshot string     `json:"snapshot,omitempty"`
	Warnings []string   `json:"warnings,omitempty"`
	Duration string     `json:"duration,omitempty"`
	// Volumes are the file-system volume backups Velero made, and what
	// became of each (those not imported are also warnings).
	Volumes []VolumeResult `json:"volumes,omitempty"`
}

// Report is what an import did, one result per backup considered.
type Report struct {
	Location string   `json:"location"`
	Results  []Result `json:"results"`
	// Findings are what the import learnt of the Velero location's
	// security (a repository under Velero's default password).
	Findings []string `json:"findings,omitempty"`
}

// Count returns how many results have the outcome.
func (r *Report) Count(outcome string) int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == outcome {
			n++
		}
	}
	return n
}

// ErrPartial: some backups could not be imported (their results say why);
// the others were.
var ErrPartial = errors.New("some Velero backups were not imported")

// Import imports the backups of loc into r, one cluster backup each with
// the Velero backup's name. A backup already imported is left alone, so
// an import run again imports only what is new. The caller holds a
// repository lock. The report lists every backup considered; the error
// wraps ErrPartial when some failed and ErrNoBackup when a named one is
// not in the location.
func Import(ctx context.Context, r *repo.Repository, loc *Location, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	names := opts.Names
	for _, n := range names {
		if !backup.ValidName(n) {
			return nil, fmt.Errorf("velero: %q is not a backup name (lower-case letters, digits, '-' and '.'): %w", n, ErrNoBackup)
		}
	}
	if len(names) == 0 {
		all, err := loc.Names(ctx)
		if err != nil {
			return nil, err
		}
		names = all
	}
	existing, err := backup.List(ctx, r)
	if err != nil {
		return nil, err
	}
	byName := map[string]*snapshot.Snapshot{}
	for _, sn := range existing {
		byName[backup.Name(sn)] = sn
	}
	// Every named backup must be there before anything is imported: a
	// mistyped name is bad input, not a partial import.
	backups := make([]*Backup, len(names))
	readErrs := make([]error, len(names))
	for i, name := range names {
		backups[i], readErrs[i] = loc.Backup(ctx, name)
		if errors.Is(readErrs[i], ErrNoBackup) && len(opts.Names) > 0 {
			return nil, readErrs[i]
		}
	}
	rep := &Report{Location: loc.String(), Results: []Result{}}
	repos := newKopiaRepos(loc, opts.VolumePasswords)
	defer func() { rep.Findings = repos.findings }()
	failed := 0
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res := Result{Name: name}
		err := readErrs[i]
		if err == nil {
			res, err = importOne(ctx, r, loc, repos, backups[i], byName[name], &opts)
		}
		if err != nil {
			var fatal fatalError
			if errors.As(err, &fatal) || ctx.Err() != nil {
				res.Outcome, res.Reason = Failed, err.Error()
				rep.Results = append(rep.Results, res)
				return rep, err
			}
			res.Outcome, res.Reason = Failed, err.Error()
			failed++
			opts.Log.Warn("velero import failed", "backup", name, "error", err)
		}
		rep.Results = append(rep.Results, res)
	}
	switch {
	case failed == 0:
		return rep, nil
	case failed == len(names):
		return rep, fmt.Errorf("velero: no backup could be imported (%d failed; first: %s)", failed, firstFailure(rep))
	}
	return rep, fmt.Errorf("%w: %d of %d failed (first: %s)", ErrPartial, failed, len(names), firstFailure(rep))
}

func firstFailure(rep *Report) string {
	for _, res := range rep.Results {
		if res.Outcome == Failed {
			return res.Name + ": " + res.Reason
		}
	}
	return ""
}

// fatalError ends the whole import (the repository failed), as opposed to
// one backup that cannot be read.
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

// importOne imports one backup; have is the repository's backup of that
// name, if any.
func importOne(ctx context.Context, r *repo.Repository, loc *Location, repos *kopiaRepos, b *Backup, have *snapshot.Snapshot, opts *Options) (Result, error) {
	name := b.Metadata.Name
	res := Result{Name: name}
	res.Phase, res.Start, res.Expires = b.Status.Phase, b.Start(), b.Expires()
	if have != nil {
		if have.Labels[layout.LabelImportedFrom] == Tool && have.Labels[layout.LabelSourceUID] == b.Metadata.UID {
			res.Outcome, res.Snapshot = AlreadyImported, have.ID
			return res, nil
		}
		return res, fmt.Errorf("the repository has another backup named %q (snapshot %s): not imported", name, have.ShortID())
	}
	switch b.Status.Phase {
	case PhaseCompleted:
	case PhaseFailed, PhasePartiallyFailed:
		if opts.CompletedOnly {
			res.Outcome, res.Reason = Skipped, "phase "+b.Status.Phase+" (--completed-only)"
			return res, nil
		}
	default:
		res.Outcome, res.Reason = Skipped, fmt.Sprintf("phase %q: not a finished backup", b.Status.Phase)
		return res, nil
	}
	if exp := b.Expires(); exp != nil && !exp.After(opts.Now()) {
		res.Outcome, res.Reason = Skipped, "expired "+exp.Format(time.RFC3339)+" (Velero would have deleted it)"
		return res, nil
	}
	if opts.DryRun {
		res.Outcome = WouldImport
		return res, nil
	}
	if opts.RetainNew != nil {
		if err := opts.RetainNew(ctx, b.Expires()); err != nil {
			return res, fatalError{err}
		}
	}
	start := opts.Now()
	sn, m, err := write(ctx, r, loc, repos, b, &res, opts)
	if err != nil {
		return res, err
	}
	res.Outcome, res.Snapshot, res.Items, res.Warnings = Imported, sn.ID, m.Items, m.Warnings
	res.Duration = opts.Now().Sub(start).Round(time.Millisecond).String()
	if opts.Retain != nil {
		if err := opts.Retain(ctx, sn); err != nil {
			return res, fatalError{fmt.Errorf("backup %s imported as %s, but %w", name, sn.ShortID(), err)}
		}
	}
	return res, nil
}

// write streams one backup's tarball into a new cluster backup.
func write(ctx context.Context, r *repo.Repository, loc *Location, repos *kopiaRepos, b *Backup, res *Result, opts *Options) (*snapshot.Snapshot, *layout.Manifest, error) {
	name := b.Metadata.Name
	m := manifest(b, loc, opts.Now())
	w, err := backup.NewWriter(ctx, r, name, opts.Now)
	if err != nil {
		if errors.Is(err, backup.ErrExists) || errors.Is(err, backup.ErrInvalid) {
			return nil, nil, err
		}
		return nil, nil, fatalError{err}
	}
	bad := 0
	vols, err := loc.PodVolumes(ctx, name)
	if err != nil {
		m.Warnings = append(m.Warnings, err.Error())
	}
	who := newPodObjects(vols)
	rc, err := loc.Contents(ctx, name)
	switch {
	case errors.Is(err, ErrNoBackup) && b.Status.Phase == PhaseFailed:
		m.Warnings = append(m.Warnings, "velero wrote no contents for this failed backup: it has no objects")
	case err != nil:
		return nil, nil, err
	default:
		defer rc.Close()
		format, err := ReadItems(ctx, rc, func(it Item) error {
			who.note(it)
			res := layout.Resource{
				Group: it.Group, Version: version(it.APIVersion), Resource: it.Resource,
				Kind: it.Kind, Namespaced: it.Namespaced,
			}
			if _, err := w.Add(ctx, res, it.Data); err != nil {
				if !errors.Is(err, backup.ErrBadObject) {
					return fatalError{err}
				}
				bad++
				m.Warnings = append(m.Warnings, fmt.Sprintf("velero: %s/%s %s: not imported: %v", it.Resource, it.Namespace, it.Name, err))
			}
			opts.Progress.Objects.Add(1)
			return nil
		}, func(path string, err error) {
			bad++
			m.Warnings = append(m.Warnings, fmt.Sprintf("velero: %s: not imported: %v", path, err))
		})
		if err != nil {
			return nil, nil, err
		}
		if m.Source.FormatVersion == "" {
			m.Source.FormatVersion = format
		}
	}
	// Each volume's data goes from Velero's kopia repository into a
	// pod-volume snapshot of this backup, before the backup itself is
	// saved (a backup in the repository is one whose volumes are in).
	missed := 0
	for _, v := range vols {
		vr, err := importVolume(ctx, r, repos, b, v, who, opts)
		if err != nil {
			return nil, nil, err
		}
		res.Volumes = append(res.Volumes, vr)
		switch vr.Outcome {
		case VolumeNotImported:
			missed++
			m.Warnings = append(m.Warnings, fmt.Sprintf("velero: %s (PodVolumeBackup %s): data not imported: %s; the pod's and claim's objects are", v, v.Name, vr.Reason))
		case VolumePartial:
			missed++
			m.Warnings = append(m.Warnings, fmt.Sprintf("velero: %s (PodVolumeBackup %s): data imported as snapshot %.8s, but %s", v, v.Name, vr.Snapshot, vr.Reason))
		}
	}
	// Claims Velero kept by snapshots: their objects are imported, their
	// data is not in the bucket (or not in a form cairn reads).
	snaps, err := loc.SnapshotVolumes(ctx, name)
	if err != nil {
		m.Warnings = append(m.Warnings, err.Error())
	}
	for _, v := range snaps {
		res.Volumes = append(res.Volumes, VolumeResult{
			PodVolume: PodVolume{PodNamespace: v.Namespace}, Method: v.Method, Claim: v.Claim,
			Outcome: VolumeNotImported, Reason: v.Why(),
		})
		missed++
		m.Warnings = append(m.Warnings, fmt.Sprintf("velero: %s: data not imported: %s; the claim's objects are", v, v.Why()))
	}
	if missed > 0 && m.Phase == layout.PhaseCompleted {
		m.Phase = layout.PhasePartiallyFailed
		m.Errors = append(m.Errors, fmt.Sprintf("cairn import: the data of %d of the %d volumes Velero backed up could not be imported in full (see warnings)", missed, len(vols)+len(snaps)))
	}
	if bad > 0 && m.Phase == layout.PhaseCompleted {
		m.Phase = layout.PhasePartiallyFailed
		m.Errors = append(m.Errors, fmt.Sprintf("cairn import: %d objects of the Velero backup could not be read (see warnings)", bad))
	}
	labels := map[string]string{layout.LabelImportedFrom: Tool, layout.LabelSourceUID: b.Metadata.UID}
	if s := b.Metadata.Labels[LabelScheduleName]; s != "" {
		labels[layout.LabelSchedule] = s
	}
	sn, err := w.Save(ctx, m, labels)
	if err != nil {
		return nil, nil, fatalError{err}
	}
	return sn, m, nil
}

// manifest describes the Velero backup b as a cairn backup manifest
// (without the objects, which the Writer counts).
func manifest(b *Backup, loc *Location, now time.Time) *layout.Manifest {
	s := b.Spec
	sel := layout.Selection{
		IncludeNamespaces: s.IncludedNamespaces, ExcludeNamespaces: s.ExcludedNamespaces,
		IncludeResources:        slices.Concat(s.IncludedResources, s.IncludedClusterScopedResources, s.IncludedNamespaceScopedResources),
		ExcludeResources:        slices.Concat(s.ExcludedResources, s.ExcludedClusterScopedResources, s.ExcludedNamespaceScopedResources),
		IncludeClusterResources: backup.ClusterAuto,
	}
	if s.IncludeClusterResources != nil {
		sel.IncludeClusterResources = fmt.Sprint(*s.IncludeClusterResources)
	}
	var sels []string
	if s.LabelSelector != nil {
		sels = append(sels, metav1.FormatLabelSelector(s.LabelSelector))
	}
	for _, ls := range s.OrLabelSelectors {
		sels = append(sels, metav1.FormatLabelSelector(ls))
	}
	sel.Selector = strings.Join(sels, " OR ")
	m := &layout.Manifest{
		Name: b.Metadata.Name, Phase: phase(b.Status.Phase),
		ClusterVersion: b.Metadata.Annotations[AnnotationK8sVersion],
		Start:          b.Start(), End: b.End(), Selection: sel,
		Expires: b.Expires(), Labels: b.Metadata.Labels,
		Source: &layout.Source{
			Tool: Tool, Location: loc.String(), Name: b.Metadata.Name, UID: b.Metadata.UID,
			FormatVersion: b.Status.FormatVersion, Phase: b.Status.Phase, FailureReason: b.Status.FailureReason,
			Imported: now.UTC(),
		},
	}
	if s.TTL.Duration > 0 {
		m.TTL = s.TTL.Duration.String()
	}
	if b.Status.Phase != PhaseCompleted {
		why := b.Status.FailureReason
		if why == "" {
			why = "no reason recorded"
		}
		m.Errors = append(m.Errors, fmt.Sprintf("velero: phase %s: %s", b.Status.Phase, why))
	}
	if b.Status.Errors > 0 {
		m.Errors = append(m.Errors, fmt.Sprintf("velero: %d errors during the backup (velero backup logs %s)", b.Status.Errors, b.Metadata.Name))
	}
	for _, v := range b.Status.ValidationErrors {
		m.Errors = append(m.Errors, "velero: validation: "+v)
	}
	if b.Status.Warnings > 0 {
		m.Warnings = append(m.Warnings, fmt.Sprintf("velero: %d warnings during the backup", b.Status.Warnings))
	}
	return m
}

// phase maps a finished Velero phase to cairn's (the same names).
func phase(p string) string {
	switch p {
	case PhaseFailed:
		return layout.PhaseFailed
	case PhasePartiallyFailed:
		return layout.PhasePartiallyFailed
	}
	return layout.PhaseCompleted
}

// version is the version part of an apiVersion.
func version(apiVersion string) string {
	if _, v, ok := strings.Cut(apiVersion, "/"); ok {
		return v
	}
	return apiVersion
}

// Pending returns the names of the backups in loc that the repository has
// no backup of (by name), oldest name first, and how many backups of the
// repository were imported from Velero. An import of the pending ones,
// one at a time, is what an in-cluster sync does.
func Pending(ctx context.Context, r *repo.Repository, loc *Location) (pending []string, imported int, err error) {
	names, err := loc.Names(ctx)
	if err != nil {
		return nil, 0, err
	}
	existing, err := backup.List(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	have := map[string]bool{}
	for _, sn := range existing {
		have[backup.Name(sn)] = true
		if sn.Labels[layout.LabelImportedFrom] == Tool {
			imported++
		}
	}
	for _, n := range names {
		if !have[n] {
			pending = append(pending, n)
		}
	}
	return pending, imported, nil
}
