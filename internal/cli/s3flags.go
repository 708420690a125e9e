package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/pflag"

	s3store "github.com/cairn-backup/cairn/internal/store/s3"
)

// s3Flags are the global flags that say how to reach an s3:// repository.
// Each has an environment variable; the flag wins.
type s3Flags struct {
	set             *pflag.FlagSet
	endpoint        string
	region          string
	pathStyle       bool
	caFile          string
	credentialsFile string
}

func (a *app) addS3Flags(f *pflag.FlagSet) {
	a.s3.set = f
	f.StringVar(&a.s3.endpoint, "s3-endpoint", "", "S3 endpoint URL, e.g. https://s3.example.com:9000 (env CAIRN_S3_ENDPOINT; default AWS)")
	f.StringVar(&a.s3.region, "s3-region", "", "S3 region (env CAIRN_S3_REGION or AWS_REGION; default us-east-1)")
	f.BoolVar(&a.s3.pathStyle, "s3-path-style", false, "bucket in the URL path, not the host name (env CAIRN_S3_PATH_STYLE; default: on when --s3-endpoint is set)")
	f.StringVar(&a.s3.caFile, "s3-ca-file", "", "PEM file of CAs to trust for the S3 endpoint (env CAIRN_S3_CA_FILE or AWS_CA_BUNDLE)")
	f.StringVar(&a.s3.credentialsFile, "s3-credentials-file", "", "AWS shared credentials file (env AWS_SHARED_CREDENTIALS_FILE; "+
		"else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
}

// s3Options turns the repository URL, the flags and the environment into
// store options.
func (a *app) s3Options(loc string) (s3store.Options, error) {
	bucket, prefix, err := s3store.ParseURL(loc)
	if err != nil {
		return s3store.Options{}, badInput("repository %v", err)
	}
	o := s3store.Options{
		Bucket: bucket, Prefix: prefix,
		Endpoint:        a.s3Value(a.s3.endpoint, "CAIRN_S3_ENDPOINT"),
		Region:          a.s3Value(a.s3.region, "CAIRN_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
		CAFile:          a.s3Value(a.s3.caFile, "CAIRN_S3_CA_FILE", "AWS_CA_BUNDLE"),
		CredentialsFile: a.s3Value(a.s3.credentialsFile, "AWS_SHARED_CREDENTIALS_FILE"),
		Profile:         a.env("AWS_PROFILE"),
		AccessKey:       a.env("AWS_ACCESS_KEY_ID"),
		SecretKey:       a.env("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    a.env("AWS_SESSION_TOKEN"),
		PathStyle:       a.s3.pathStyle,
	}
	if o.AccessKey != "" && o.SecretKey == "" {
		return o, badInput("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
	}
	if !a.s3CredentialsGiven(o) {
		return o, badInput("repository %s: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
			"or a credentials file (--s3-credentials-file or AWS_SHARED_CREDENTIALS_FILE)", loc)
	}
	if a.s3.set == nil || !a.s3.set.Changed("s3-path-style") {
		o.PathStyle = o.Endpoint != ""
		if v := a.env("CAIRN_S3_PATH_STYLE"); v != "" {
			if o.PathStyle, err = strconv.ParseBool(v); err != nil {
				return o, badInput("CAIRN_S3_PATH_STYLE=%q: want true or false", v)
			}
		}
	}
	return o, nil
}

// s3CredentialsGiven reports whether any source of credentials the SDK
// reads is there, so that a repository without any fails at once, before
// a request is made.
func (a *app) s3CredentialsGiven(o s3store.Options) bool {
	if o.AccessKey != "" || o.CredentialsFile != "" || o.Profile != "" {
		return true
	}
	for _, e := range []string{"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if a.env(e) != "" {
			return true
		}
	}
	if home := a.env("HOME"); home != "" {
		if _, err := os.Stat(filepath.Join(home, ".aws", "credentials")); err == nil {
			return true
		}
	}
	return false
}

// s3Value is the flag's value, else the first environment variable set.
func (a *app) s3Value(flag string, envs ...string) string {
	if flag != "" {
		return flag
	}
	for _, e := range envs {
		if v := a.env(e); v != "" {
			return v
		}
	}
	return ""
}

// openS3 opens the S3 store of loc; it checks the bucket and credentials.
func (a *app) openS3(ctx context.Context, loc string) (*s3store.Store, error) {
	o, err := a.s3Options(loc)
	if err != nil {
		return nil, err
	}
	s, err := s3store.New(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", loc, err)
	}
	return s, nil
}
