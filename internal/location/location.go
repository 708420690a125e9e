package location

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cairnv1 "github.com/cairn-backup/cairn/api/v1alpha1"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/store"
	"github.com/cairn-backup/cairn/internal/store/local"
	"github.com/cairn-backup/cairn/internal/store/s3"
)

// Open opens loc's repository with the passphrase from its Secret, read
// through secrets. The caller closes it.
func Open(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation) (*repo.Repository, error) {
	return OpenWith(ctx, secrets, loc, nil)
}

// OpenWith is Open for a long-running process: with a keyring, opening the
// same repository again with the same passphrase skips the key derivation.
func OpenWith(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation, ring *repo.Keyring) (*repo.Repository, error) {
	pass, err := passphrase(ctx, secrets, loc)
	if err != nil {
		return nil, err
	}
	return openWithPassphrase(ctx, secrets, loc, ring, pass)
}

// passphrase reads loc's passphrase from its Secret.
func passphrase(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation) ([]byte, error) {
	ref := loc.Spec.Passphrase
	if ref.Name == "" || ref.Key == "" {
		return nil, errors.New("spec.passphrase needs the name and key of a Secret holding the repository's passphrase")
	}
	return secretKey(ctx, secrets, loc.Namespace, ref.Name, ref.Key)
}

// openWithPassphrase opens loc's repository with pass, which it clears.
func openWithPassphrase(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation, ring *repo.Keyring, pass []byte) (*repo.Repository, error) {
	defer clear(pass)
	ref := loc.Spec.Passphrase
	s, err := openStore(ctx, secrets, loc)
	if err != nil {
		return nil, err
	}
	var r *repo.Repository
	if ring != nil {
		r, err = ring.Open(ctx, s, pass, repo.Options{})
	} else {
		r, err = repo.Open(ctx, s, pass, repo.Options{})
	}
	switch {
	case errors.Is(err, repo.ErrWrongPassword):
		return nil, fmt.Errorf("the passphrase in Secret %s (key %s) does not open repository %s: %w", ref.Name, ref.Key, s.Location(), err)
	case errors.Is(err, repo.ErrNotRepository):
		return nil, fmt.Errorf("%s is not a cairn repository (create it with `cairn repo init`): %w", s.Location(), err)
	case err != nil:
		return nil, fmt.Errorf("open repository %s: %w", s.Location(), err)
	}
	return r, nil
}

// secretKey returns one key of a Secret in namespace ns.
func secretKey(ctx context.Context, secrets client.Reader, ns, name, key string) ([]byte, error) {
	var sec corev1.Secret
	if err := secrets.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s/%s not found", ns, name)
		}
		return nil, fmt.Errorf("read Secret %s/%s: %w", ns, name, err)
	}
	v, ok := sec.Data[key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("secret %s/%s has no key %q (or it is empty)", ns, name, key)
	}
	return []byte(strings.TrimRight(string(v), "\r\n")), nil
}

// openStore returns the store of loc.Spec.Repository: s3://bucket/prefix,
// file:///path or a path.
func openStore(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation) (store.Store, error) {
	u := loc.Spec.Repository
	if loc.Spec.CA != nil && !strings.HasPrefix(u, "s3://") {
		return nil, fmt.Errorf("repository %s: spec.ca is for s3:// repositories", u)
	}
	switch {
	case strings.HasPrefix(u, "s3://"):
		return s3Store(ctx, secrets, loc, u, loc.Spec.Endpoint, loc.Spec.Region, loc.Spec.PathStyle, loc.Spec.Credentials)
	case strings.HasPrefix(u, "file://"):
		pu, err := url.Parse(u)
		if err != nil || (pu.Host != "" && pu.Host != "localhost") {
			return nil, fmt.Errorf("repository %s: a file:// URL needs an absolute path (file:///srv/backup)", u)
		}
		return local.New(pu.Path)
	case strings.Contains(u, "://"):
		return nil, fmt.Errorf("repository %s: unsupported URL; use s3://bucket/prefix, file:///path or a path", u)
	case !filepath.IsAbs(u):
		return nil, fmt.Errorf("repository %s: a path must be absolute", u)
	}
	return local.New(u)
}

// OpenStore returns the store of loc's repository, for work that needs no
// key (replication copies ciphertext).
func OpenStore(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation) (store.Store, error) {
	return openStore(ctx, secrets, loc)
}

// OpenReplica returns the store of loc's replica rs: its own endpoint,
// region and credentials, or else the location's, and the location's CA.
func OpenReplica(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation, rs cairnv1.ReplicaSpec) (store.Store, error) {
	if rs.Repository == loc.Spec.Repository {
		return nil, fmt.Errorf("replica %s: its repository is the location's own (%s)", rs.Name, rs.Repository)
	}
	r := loc.DeepCopy()
	r.Spec.Repository = rs.Repository
	if !strings.HasPrefix(rs.Repository, "s3://") {
		r.Spec.CA = nil // the location's CA is for its object store
	}
	if rs.Endpoint != "" {
		r.Spec.Endpoint, r.Spec.PathStyle = rs.Endpoint, rs.PathStyle
	}
	if rs.Region != "" {
		r.Spec.Region = rs.Region
	}
	if rs.Credentials != nil {
		r.Spec.Credentials = rs.Credentials
	}
	s, err := openStore(ctx, secrets, r)
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", rs.Name, err)
	}
	return s, nil
}

// OpenVelero opens, for reading, the Velero backup storage location that
// loc.Spec.VeleroImport names: its own endpoint, region and credentials,
// or else the location's, and the location's CA.
func OpenVelero(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation) (store.Store, error) {
	v := loc.Spec.VeleroImport
	if v == nil {
		return nil, errors.New("spec.veleroImport is not set")
	}
	endpoint, region, pathStyle, creds := v.Endpoint, v.Region, v.PathStyle, v.Credentials
	if endpoint == "" {
		endpoint, pathStyle = loc.Spec.Endpoint, loc.Spec.PathStyle || v.PathStyle
	}
	if region == "" {
		region = loc.Spec.Region
	}
	if creds == nil {
		creds = loc.Spec.Credentials
	}
	s, err := s3Store(ctx, secrets, loc, v.Location, endpoint, region, pathStyle, creds)
	if err != nil {
		return nil, fmt.Errorf("velero location %s: %w", v.Location, err)
	}
	return s, nil
}

// s3Store opens the bucket and prefix of url with the given service and
// credentials (a Secret in loc's namespace; nil: the environment's) and
// loc's CA.
func s3Store(ctx context.Context, secrets client.Reader, loc *cairnv1.BackupLocation, u, endpoint, region string, pathStyle bool,
	creds *corev1.LocalObjectReference) (store.Store, error) {
	bucket, prefix, err := s3.ParseURL(u)
	if err != nil {
		return nil, err
	}
	o := s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: endpoint, Region: region, PathStyle: pathStyle}
	if c := creds; c != nil {
		id, err := secretKey(ctx, secrets, loc.Namespace, c.Name, "AWS_ACCESS_KEY_ID")
		if err != nil {
			return nil, err
		}
		key, err := secretKey(ctx, secrets, loc.Namespace, c.Name, "AWS_SECRET_ACCESS_KEY")
		if err != nil {
			return nil, err
		}
		o.AccessKey, o.SecretKey = string(id), string(key)
		if tok, err := secretKey(ctx, secrets, loc.Namespace, c.Name, "AWS_SESSION_TOKEN"); err == nil {
			o.SessionToken = string(tok)
		}
	}
	if c := loc.Spec.CA; c != nil {
		if c.Name == "" || c.Key == "" {
			return nil, errors.New("spec.ca needs the name and key of a Secret holding the CA certificates (PEM)")
		}
		pem, err := secretKey(ctx, secrets, loc.Namespace, c.Name, c.Key)
		if err != nil {
			return nil, fmt.Errorf("spec.ca: %w", err)
		}
		o.CA = pem
	}
	return s3.New(ctx, o)
}
