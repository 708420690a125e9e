package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairn-backup/cairn/internal/store"
)

// Delete removes the object. It asks HeadObject first, for three reasons:
// S3's DELETE answers "done" for a missing key (the contract wants
// ErrNotFound); an object under retention is refused without trying
// (ErrLocked with its retain-until date); and in a versioned bucket only a
// DELETE of the exact version removes the object (a DELETE without one
// leaves the data behind a delete marker).
//
// Between the HEAD and the DELETE another client could delete the object
// (then this Delete reports ErrNotFound) or delete and re-put it (then the
// DELETE names a version that is gone, also ErrNotFound): both are what a
// concurrent delete looks like anyway.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.delete(ctx, key); err != nil {
		return fmt.Errorf("s3: delete %s: %w", key, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, key string) error {
	head, err := s.head(ctx, key)
	if err != nil {
		return err
	}
	if err := locked(head.ObjectLockMode, head.ObjectLockRetainUntilDate, head.ObjectLockLegalHoldStatus); err != nil {
		return err
	}
	in := &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))}
	if v := aws.ToString(head.VersionId); v != "" {
		in.VersionId = aws.String(v)
	}
	_, err = s.client.DeleteObject(ctx, in)
	if err == nil {
		return nil
	}
	err = s.classify(err)
	if errors.Is(err, ErrAccessDenied) {
		// The server may count time differently from this machine, or
		// the bucket may have a default retention HEAD does not show.
		if until, rerr := s.retention(ctx, key); rerr == nil && !until.IsZero() {
			return fmt.Errorf("%w until %s (the server refused the delete)", store.ErrLocked, until.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("%w (the server refused the delete, probably object lock): %w", store.ErrLocked, err)
	}
	return err
}

// locked returns ErrLocked, naming the date, if HeadObject's lock fields
// say the object is under retention or legal hold now.
func locked(mode types.ObjectLockMode, until *time.Time, hold types.ObjectLockLegalHoldStatus) error {
	if hold == types.ObjectLockLegalHoldStatusOn {
		return fmt.Errorf("%w: legal hold", store.ErrLocked)
	}
	if mode != "" && until != nil && until.After(time.Now()) {
		return fmt.Errorf("%w until %s (%s mode)", store.ErrLocked, until.UTC().Format(time.RFC3339), mode)
	}
	return nil
}
