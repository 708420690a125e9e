//go:build !fsonly

package ctlcmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/cli/core"
	s3store "github.com/cairn-backup/cairn/internal/store/s3"
)

const (
	defaultPassphraseKey = "passphrase"
	defaultCAKey         = "ca.crt" // as cert-manager writes it
)

func (a *app) ctlLocationCommand(f *core.CtlFlags) *cobra.Command {
	return a.family("location", "Backup locations: create, get, set, delete",
		a.ctlLocationCreateCommand(f),
		a.getCommand(f, "location names", "List BackupLocations: repository, phase, default, access mode, backups", locations.list(a, nil, nil), nil),
		a.ctlLocationSetCommand(f), a.ctlLocationDeleteCommand(f))
}

// LocationRow is how get, create and set show a location.
type LocationRow struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Phase      string `json:"phase"`
	Default    bool   `json:"default"`
	AccessMode string `json:"accessMode"`
	Backups    int    `json:"backups"`
	Message    string `json:"message,omitempty"`
}

func viewLocation(l *cairnv1.BackupLocation) LocationRow {
	mode := l.Spec.AccessMode
	if mode == "" {
		mode = cairnv1.ReadWrite
	}
	return LocationRow{Name: l.Name, Repository: l.Spec.Repository, Phase: core.Dash(string(l.Status.Phase)), Default: l.Spec.Default,
		AccessMode: string(mode), Backups: l.Status.Backups, Message: l.Status.Message}
}

// accessMode checks an --access-mode value.
func accessMode(s string) (cairnv1.AccessMode, error) {
	for _, m := range []cairnv1.AccessMode{cairnv1.ReadWrite, cairnv1.ReadOnly} {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", core.BadInput("--access-mode %q: use ReadWrite or ReadOnly", s)
}

// repositoryURL checks --url: s3://bucket[/prefix], file://path or a path
// on the controller's file system.
func repositoryURL(u string) error {
	switch {
	case u == "":
		return core.BadInput("--url is required: the repository, s3://bucket/prefix or a path on the controller's file system")
	case strings.HasPrefix(u, "s3://"):
		if _, _, err := s3store.ParseURL(u); err != nil {
			return core.BadInput("--url %q: %v", u, err)
		}
	case strings.Contains(u, "://") && !strings.HasPrefix(u, "file://"):
		return core.BadInput("--url %q: use s3://bucket/prefix, file://path or a path", u)
	}
	return nil
}

// clearOtherDefaults unsets default on every location but keep, so that
// one location is the default (as Velero's `backup-location set --default`).
// Two of these at once can leave two marked; the rule is the controller's
// (location.Default), which refuses to choose between them.
func (a *app) clearOtherDefaults(ctx context.Context, c client.Client, ns, keep string) error {
	var l cairnv1.BackupLocationList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range l.Items {
		loc := &l.Items[i]
		if loc.Name == keep || !loc.Spec.Default {
			continue
		}
		patch := client.MergeFrom(loc.DeepCopy())
		loc.Spec.Default = false
		if err := c.Patch(ctx, loc, patch); err != nil {
			return fmt.Errorf("location %s: unset default: %w", loc.Name, err)
		}
		a.Say("location %s is no longer the default", loc.Name)
	}
	return nil
}

// showLocation prints one location after create or set.
func (a *app) showLocation(loc *cairnv1.BackupLocation) error {
	if a.Machine() {
		return a.Emit(viewLocation(loc))
	}
	return nil
}

func (a *app) ctlLocationCreateCommand(f *core.CtlFlags) *cobra.Command {
	var (
		url, passphrase, credentials, ca, mode string
		isDefault                              bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --url URL --passphrase-secret SECRET[:KEY]",
		Short: "Create a BackupLocation: a repository the controller backs up to and restores from",
		Long: `Create a BackupLocation. The repository must exist (cairn repo init); the
controller opens it with the passphrase in the Secret named by
--passphrase-secret (key "passphrase" unless SECRET:KEY), in the controller's
namespace. For s3:// URLs, --credentials-secret names a Secret with keys
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (unset: the controller's
environment), --ca-secret SECRET[:KEY] a Secret with the PEM certificates
of the CAs to trust for the endpoint (key "ca.crt" unless given; they
replace the system's CAs), and the global --s3-endpoint, --s3-region and --s3-path-style
flags are stored in the location (path style is on when --s3-endpoint is
given, unless --s3-path-style=false). Environment variables of this shell
are not stored: they describe how this machine reaches the bucket, not the
controller.

--default makes it the location of Backups without storageLocation and
unsets default on the others. --access-mode ReadOnly lists and restores
backups but writes nothing (e.g. another cluster's bucket).`,
		Args: core.Args(1, 1, "the location's name"),
		RunE: a.RunE(func(ctx context.Context, args []string) error {
			if err := repositoryURL(url); err != nil {
				return err
			}
			secret, key, _ := strings.Cut(passphrase, ":")
			if secret == "" {
				return core.BadInput("--passphrase-secret is required: the Secret holding the repository's passphrase, SECRET or SECRET:KEY")
			}
			if key == "" {
				key = defaultPassphraseKey
			}
			m, err := accessMode(mode)
			if err != nil {
				return err
			}
			spec := cairnv1.BackupLocationSpec{
				Repository: url, Passphrase: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key},
				Default: isDefault, AccessMode: m,
			}
			if credentials != "" {
				spec.Credentials = &corev1.LocalObjectReference{Name: credentials}
			}
			if spec.CA, err = caSecret(ca); err != nil {
				return err
			}
			if strings.HasPrefix(url, "s3://") {
				spec.Endpoint, spec.Region = a.S3.Endpoint, a.S3.Region
				spec.PathStyle = spec.Endpoint != ""
				if a.S3.Set != nil && a.S3.Set.Changed("s3-path-style") {
					spec.PathStyle = a.S3.PathStyle
				}
			} else if credentials != "" || ca != "" || a.S3.Endpoint != "" {
				return core.BadInput("--credentials-secret, --ca-secret and --s3-endpoint are for s3:// repositories")
			}
			c, err := a.KubeClient(f)
			if err != nil {
				return err
			}
			loc := &cairnv1.BackupLocation{ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: a.Namespace(f)}, Spec: spec}
			if err := c.Create(ctx, loc); err != nil {
				return fmt.Errorf("create location %s: %w", loc.Name, err)
			}
			a.Say("location %s created: %s (%s)", loc.Name, url, m)
			if isDefault {
				if err := a.clearOtherDefaults(ctx, c, loc.Namespace, loc.Name); err != nil {
					return err
				}
			}
			a.Say("the controller checks that it opens: see `cairn ctl location get`")
			return a.showLocation(loc)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "the repository: s3://bucket/prefix, or a path or file:// URL on the controller's file system")
	fl.StringVar(&passphrase, "passphrase-secret", "", "Secret (in the controller's namespace) with the passphrase: SECRET or SECRET:KEY (default key "+defaultPassphraseKey+")")
	fl.StringVar(&credentials, "credentials-secret", "", "Secret with the object store's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	fl.StringVar(&ca, "ca-secret", "", "Secret with the PEM certificates of the CAs to trust for the S3 endpoint: SECRET or SECRET:KEY (default key "+defaultCAKey+")")
	fl.BoolVar(&isDefault, "default", false, "make this the default location (unsets default on the others)")
	fl.StringVar(&mode, "access-mode", string(cairnv1.ReadWrite), "ReadWrite or ReadOnly")
	return cmd
}

// locations is how get shows BackupLocations.
var locations = table[cairnv1.BackupLocation, LocationRow]{
	kind: newKind("location", "cairn ctl location get", false,
		func(l *cairnv1.BackupLocationList) []cairnv1.BackupLocation { return l.Items }),
	view:   viewLocation,
	header: []any{"NAME", "REPOSITORY", "PHASE", "DEFAULT", "ACCESS", "BACKUPS", "MESSAGE"},
	cells: func(r LocationRow) []any {
		return []any{r.Name, r.Repository, r.Phase, r.Default, r.AccessMode, r.Backups, core.Dash(r.Message)}
	},
}

func (a *app) ctlLocationSetCommand(f *core.CtlFlags) *cobra.Command {
	var (
		mode, credentials, ca string
		isDefault             bool
	)
	cmd := &cobra.Command{
		Use:   "set NAME [--default] [--access-mode ReadWrite|ReadOnly] [--credentials-secret SECRET] [--ca-secret SECRET[:KEY]]",
		Short: "Change a BackupLocation: default, access mode, credentials, CA",
		Long: `Change a BackupLocation. --default makes it the default and unsets default
on the others; --default=false unsets it. --access-mode ReadOnly stops the
controller from writing to it (backups to it fail; expired backups are not
pruned), ReadWrite allows it again. --credentials-secret "" makes the
controller use its environment's credentials; --ca-secret "" the system's
CAs.`,
		Args: core.Args(1, 1, "the location's name"),
	}
	cmd.RunE = a.RunE(func(ctx context.Context, args []string) error {
		changed := cmd.Flags().Changed
		if !changed("default") && !changed("access-mode") && !changed("credentials-secret") && !changed("ca-secret") {
			return core.BadInput("nothing to set: give --default, --access-mode, --credentials-secret or --ca-secret")
		}
		c, err := a.KubeClient(f)
		if err != nil {
			return err
		}
		loc, err := locations.get(ctx, c, a.Namespace(f), args[0])
		if err != nil {
			return err
		}
		patch := client.MergeFrom(loc.DeepCopy())
		var what []string
		if changed("default") {
			loc.Spec.Default = isDefault
			what = append(what, fmt.Sprintf("default %t", isDefault))
		}
		if changed("access-mode") {
			m, err := accessMode(mode)
			if err != nil {
				return err
			}
			loc.Spec.AccessMode = m
			what = append(what, "access mode "+string(m))
		}
		if changed("credentials-secret") {
			loc.Spec.Credentials = nil
			if credentials != "" {
				loc.Spec.Credentials = &corev1.LocalObjectReference{Name: credentials}
			}
			what = append(what, "credentials "+core.Dash(credentials))
		}
		if changed("ca-secret") {
			sel, err := caSecret(ca)
			if err != nil {
				return err
			}
			loc.Spec.CA = sel
			what = append(what, "CA "+core.Dash(ca))
		}
		if err := c.Patch(ctx, loc, patch); err != nil {
			return fmt.Errorf("set location %s: %w", loc.Name, err)
		}
		a.Say("location %s: %s", loc.Name, strings.Join(what, ", "))
		if changed("default") && isDefault {
			if err := a.clearOtherDefaults(ctx, c, loc.Namespace, loc.Name); err != nil {
				return err
			}
		}
		return a.showLocation(loc)
	})
	fl := cmd.Flags()
	fl.StringVar(&ca, "ca-secret", "", "Secret with the PEM certificates of the CAs to trust for the S3 endpoint: SECRET or SECRET:KEY (default key "+defaultCAKey+")")
	fl.BoolVar(&isDefault, "default", false, "make this the default location (unsets default on the others); --default=false unsets it")
	fl.StringVar(&mode, "access-mode", "", "ReadWrite or ReadOnly")
	fl.StringVar(&credentials, "credentials-secret", "", "Secret with the object store's credentials (\"\" = the controller's environment)")
	return cmd
}

// caSecret is the selector of --ca-secret SECRET[:KEY]; nil for "".
func caSecret(v string) (*corev1.SecretKeySelector, error) {
	if v == "" {
		return nil, nil
	}
	name, key, _ := strings.Cut(v, ":")
	if name == "" {
		return nil, core.BadInput("--ca-secret wants SECRET or SECRET:KEY, not %q", v)
	}
	if key == "" {
		key = defaultCAKey
	}
	return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}, nil
}
