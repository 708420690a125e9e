package core

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
	Set             *pflag.FlagSet
	Endpoint        string
	Region          string
	PathStyle       bool
	CaFile          string
	CredentialsFile string
}

func (a *App) AddS3Flags(f *pflag.FlagSet) {
	a.S3.Set = f
	f.StringVar(&a.S3.Endpoint, "s3-endpoint", "", "S3 endpoint URL, e.g. https://s3.example.com:9000 (env CAIRN_S3_ENDPOINT; default AWS)")
	f.StringVar(&a.S3.Region, "s3-region", "", "S3 region (env CAIRN_S3_REGION or AWS_REGION; default us-east-1)")
	f.BoolVar(&a.S3.PathStyle, "s3-path-style", false, "bucket in the URL path, not the host name (env CAIRN_S3_PATH_STYLE; default: on when --s3-endpoint is set)")
	f.StringVar(&a.S3.CaFile, "s3-ca-file", "", "PEM file of CAs to trust for the S3 endpoint (env CAIRN_S3_CA_FILE or AWS_CA_BUNDLE)")
	f.StringVar(&a.S3.CredentialsFile, "s3-credentials-file", "", "AWS shared credentials file (env AWS_SHARED_CREDENTIALS_FILE; "+
		"else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
}

// s3Options turns the repository URL, the flags and the environment into
// store options.
func (a *App) s3Options(loc string) (s3store.Options, error) {
	bucket, prefix, err := s3store.ParseURL(loc)
	if err != nil {
		return s3store.Options{}, BadInput("repository %v", err)
	}
	o := s3store.Options{
		Bucket: bucket, Prefix: prefix,
		Endpoint:        a.s3Value(a.S3.Endpoint, "CAIRN_S3_ENDPOINT"),
		Region:          a.s3Value(a.S3.Region, "CAIRN_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
		CAFile:          a.s3Value(a.S3.CaFile, "CAIRN_S3_CA_FILE", "AWS_CA_BUNDLE"),
		CredentialsFile: a.s3Value(a.S3.CredentialsFile, "AWS_SHARED_CREDENTIALS_FILE"),
		Profile:         a.Env("AWS_PROFILE"),
		AccessKey:       a.Env("AWS_ACCESS_KEY_ID"),
		SecretKey:       a.Env("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    a.Env("AWS_SESSION_TOKEN"),
		PathStyle:       a.S3.PathStyle,
	}
	if o.AccessKey != "" && o.SecretKey == "" {
		return o, BadInput("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
	}
	if !a.s3CredentialsGiven(o) {
		return o, BadInput("repository %s: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
			"or a credentials file (--s3-credentials-file or AWS_SHARED_CREDENTIALS_FILE)", loc)
	}
	if a.S3.Set == nil || !a.S3.Set.Changed("s3-path-style") {
		o.PathStyle = o.Endpoint != ""
		if v := a.Env("CAIRN_S3_PATH_STYLE"); v != "" {
			if o.PathStyle, err = strconv.ParseBool(v); err != nil {
				return o, BadInput("CAIRN_S3_PATH_STYLE=%q: want true or false", v)
			}
		}
	}
	return o, nil
}

// s3CredentialsGiven reports whether any source of credentials the SDK
// reads is there, so that a repository without any fails at once, before
// a request is made.
func (a *App) s3CredentialsGiven(o s3store.Options) bool {
	if o.AccessKey != "" || o.CredentialsFile != "" || o.Profile != "" {
		return true
	}
	for _, e := range []string{"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if a.Env(e) != "" {
			return true
		}
	}
	if home := a.Env("HOME"); home != "" {
		if _, err := os.Stat(filepath.Join(home, ".aws", "credentials")); err == nil {
			return true
		}
	}
	return false
}

// s3Value is the flag's value, else the first environment variable set.
func (a *App) s3Value(flag string, envs ...string) string {
	if flag != "" {
		return flag
	}
	for _, e := range envs {
		if v := a.Env(e); v != "" {
			return v
		}
	}
	return ""
}

// OpenS3 opens the S3 store of loc; it checks the bucket and credentials.
func (a *App) OpenS3(ctx context.Context, loc string) (*s3store.Store, error) {
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
