package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store"
)

// Options say where the bucket is and how to reach it. Only Bucket is
// required; the zero value of every other field means "the usual AWS
// default" (environment, shared files).
type Options struct {
	Bucket string
	Prefix string // key prefix inside the bucket, without leading or trailing '/'

	Endpoint  string // e.g. "https://s3.example.com:9000"; empty: AWS
	Region    string // empty: from the environment, else "us-east-1"
	PathStyle bool   // bucket in the path, not the host name (most non-AWS servers)

	// AccessKey and SecretKey, when set, are used instead of the
	// environment and shared files.
	AccessKey, SecretKey, SessionToken string
	// CredentialsFile is a shared credentials file (as ~/.aws/credentials)
	// to read instead of the default one; Profile picks its section.
	CredentialsFile, Profile string
	// CAFile is a PEM bundle of CAs to trust for the endpoint's
	// certificate (AWS_CA_BUNDLE works too); CA is such a bundle in
	// memory (e.g. from a Secret). Either replaces the system's CAs.
	CAFile string
	CA     []byte

	// MaxAttempts bounds how often one request is tried (default 5).
	MaxAttempts int
}

// Store is a store.Store on one bucket and prefix.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or "prefix/"
	location string
	endpoint string
}

var _ store.Store = (*Store)(nil)
var _ store.Retainer = (*Store)(nil)

// ParseURL splits "s3://bucket/prefix" into bucket and prefix.
func ParseURL(loc string) (bucket, prefix string, err error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%s: want s3://bucket/prefix", loc)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := store.ValidateKey(prefix); err != nil {
			return "", "", fmt.Errorf("%s: prefix: %w", loc, err)
		}
	}
	return u.Host, prefix, nil
}

// New returns the store for opts. It checks that the bucket exists and the
// credentials are accepted, so that a mistake shows up here, once, with a
// message that says what to fix.
func New(ctx context.Context, opts Options) (*Store, error) {
	s, err := newStore(ctx, opts)
	if err != nil {
		return nil, err
	}
	// A GET, not HeadBucket: its error has a body, so the server can say
	// which of "no such bucket", "unknown key" or "bad signature" it is.
	_, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix), MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return nil, s.wrap("open", "", err)
	}
	return s, nil
}

func newStore(ctx context.Context, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3: no bucket given")
	}
	prefix := strings.Trim(opts.Prefix, "/")
	loc := "s3://" + opts.Bucket
	if prefix != "" {
		loc += "/" + prefix
		prefix += "/"
	}
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	})
	lo := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Never the instance metadata service: off AWS it is an address
		// that times out, and cairn's credentials are given explicitly.
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		// Put sets Content-MD5 itself; no aws-chunked trailers, which
		// many S3-compatible servers do not understand. Reads are checked
		// by the repository (SHA-256 names, AEAD).
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 10 * time.Second
				// No client-side retry quota: parallel uploads that all
				// hit one server hiccup must all get their retries.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	if opts.AccessKey != "" {
		lo = append(lo, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, opts.SessionToken)))
	}
	if opts.CredentialsFile != "" {
		if _, err := os.Stat(opts.CredentialsFile); err != nil {
			return nil, fmt.Errorf("s3: credentials file: %w", err)
		}
		lo = append(lo, config.WithSharedCredentialsFiles([]string{opts.CredentialsFile}))
	}
	if opts.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(opts.Profile))
	}
	ca, caFrom := opts.CA, "CA bundle"
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3: CA file: %w", err)
		}
		ca, caFrom = pem, "CA file "+opts.CAFile
	}
	if ca != nil {
		// The SDK would say only "failed to load custom CA bundle PEM".
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("s3: %s holds no PEM certificate", caFrom)
		}
		lo = append(lo, config.WithCustomCABundle(bytes.NewReader(ca)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("s3: load configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
	})
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = "AWS S3 (" + cfg.Region + ")"
	}
	return &Store{client: client, bucket: opts.Bucket, prefix: prefix, location: loc, endpoint: endpoint}, nil
}

// Location is "s3://bucket/prefix".
func (s *Store) Location() string { return s.location }

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Client is the S3 client the store uses (tests use it to reach behind the
// store, as an attacker with the bucket's credentials would).
func (s *Store) Client() *s3.Client { return s.client }

// objectKey is the S3 key of a store key.
func (s *Store) objectKey(key string) string { return s.prefix + key }

// begin checks what every method checks first: a live ctx and a valid key.
func begin(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return store.ValidateKey(key)
}
