package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/cairn-backup/cairn/internal/store"
)

// Errors a person must act on. They are wrapped with the bucket, the
// endpoint and what the server said.
var (
	// ErrCredentials: the server rejected the access key or signature, or
	// no credentials were found at all.
	ErrCredentials = errors.New("S3 rejected the credentials")
	// ErrAccessDenied: the credentials are valid but may not do this.
	ErrAccessDenied = errors.New("S3 denied access")
	// ErrNoCredentials: no credentials were found at all; it is also an
	// ErrCredentials.
	ErrNoCredentials error = noCredentials{}
	// ErrNoBucket: the bucket does not exist at the endpoint.
	ErrNoBucket = errors.New("S3 bucket does not exist")
	// ErrClockSkew: this machine's clock and the server's differ too much
	// for request signatures to be accepted.
	ErrClockSkew = errors.New("clock differs too much from the S3 server's")
)

type noCredentials struct{}

func (noCredentials) Error() string        { return "no S3 credentials found" }
func (noCredentials) Is(target error) bool { return target == ErrCredentials }

// wrap names the operation and key, and turns S3's answer into the
// store's sentinel errors or into one of the errors above.
func (s *Store) wrap(op, key string, err error) error {
	what := op
	if key != "" {
		what += " " + key
	}
	return fmt.Errorf("s3: %s: %w", what, s.classify(err))
}

func (s *Store) classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code, status := apiCode(err), httpStatus(err)
	switch {
	case code == "NoSuchBucket":
		return fmt.Errorf("%w: %s at %s", ErrNoBucket, s.bucket, s.endpoint)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
		code == "InvalidToken" || code == "ExpiredToken" || code == "InvalidClientTokenId" ||
		code == "XAdminUserNotFound": // versitygw's answer to an unknown access key
		return fmt.Errorf("%w for bucket %s at %s (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "+
			"AWS_SESSION_TOKEN or the credentials file): %w", ErrCredentials, s.bucket, s.endpoint, err)
	case strings.Contains(err.Error(), "failed to retrieve credentials"):
		return fmt.Errorf("%w for bucket %s: %w", ErrNoCredentials, s.bucket, err)
	case code == "RequestTimeTooSkewed":
		return fmt.Errorf("%w at %s: set this machine's time right (NTP): %w", ErrClockSkew, s.endpoint, err)
	case code == "NoSuchKey" || code == "NotFound" || code == "NoSuchVersion" || status == 404:
		return store.ErrNotFound
	case code == "PreconditionFailed" || status == 412:
		return store.ErrExists
	case status == 403:
		return fmt.Errorf("%w to bucket %s at %s (check the credentials' permissions): %w",
			ErrAccessDenied, s.bucket, s.endpoint, err)
	}
	return err
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
