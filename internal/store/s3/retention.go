package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairn-backup/cairn/internal/store"
)

// ObjectLockEnabled reports whether the bucket was created with object lock
// (GetObjectLockConfiguration).
func (s *Store) ObjectLockEnabled(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	out, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{
		Bucket: aws.String(s.bucket),
	})
	if err != nil {
		switch apiCode(err) {
		case "ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound":
			return false, nil
		}
		return false, s.wrap("get object lock configuration", "", err)
	}
	c := out.ObjectLockConfiguration
	return c != nil && c.ObjectLockEnabled == types.ObjectLockEnabledEnabled, nil
}

// Retention returns the object's retain-until date (zero: none), as
// HeadObject reports it.
func (s *Store) Retention(ctx context.Context, key string) (time.Time, error) {
	until, err := s.retention(ctx, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("s3: retention %s: %w", key, err)
	}
	return until, nil
}

func (s *Store) retention(ctx context.Context, key string) (time.Time, error) {
	head, err := s.head(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	if head.ObjectLockMode == "" {
		return time.Time{}, nil
	}
	return aws.ToTime(head.ObjectLockRetainUntilDate), nil
}

// SetRetention extends the object's retention to until (PutObjectRetention
// on the current version). It reads the retention first and leaves it
// alone when it already reaches until: retention is never shortened, and
// an unchanged object costs one HEAD.
func (s *Store) SetRetention(ctx context.Context, key string, until time.Time, mode string) error {
	if err := s.setRetention(ctx, key, until, mode); err != nil {
		return fmt.Errorf("s3: set retention of %s until %s: %w", key, until.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// lockMode is S3's name of a store retention mode.
func lockMode(mode string) (types.ObjectLockRetentionMode, error) {
	switch mode {
	case store.RetentionCompliance:
		return types.ObjectLockRetentionModeCompliance, nil
	case store.RetentionGovernance:
		return types.ObjectLockRetentionModeGovernance, nil
	}
	return "", fmt.Errorf("unknown retention mode %q (want %s or %s)", mode, store.RetentionCompliance, store.RetentionGovernance)
}

// ceilSecond rounds t up to the second: S3 keeps retain-until dates to
// the second, and the date kept must never be before the one asked for.
func ceilSecond(t time.Time) time.Time {
	c := t.UTC().Truncate(time.Second)
	if c.Before(t) {
		c = c.Add(time.Second)
	}
	return c
}

func (s *Store) setRetention(ctx context.Context, key string, until time.Time, mode string) error {
	m, err := lockMode(mode)
	if err != nil {
		return err
	}
	head, err := s.head(ctx, key)
	if err != nil {
		return err
	}
	until = ceilSecond(until)
	if cur := head.ObjectLockRetainUntilDate; head.ObjectLockMode != "" && cur != nil && !cur.Before(until) {
		return nil
	}
	in := &s3.PutObjectRetentionInput{
		Bucket:    aws.String(s.bucket),
		Key:       aws.String(s.objectKey(key)),
		Retention: &types.ObjectLockRetention{Mode: m, RetainUntilDate: aws.Time(until)},
	}
	if v := aws.ToString(head.VersionId); v != "" {
		in.VersionId = aws.String(v)
	}
	if _, err := s.client.PutObjectRetention(ctx, in); err != nil {
		return s.classify(err)
	}
	return nil
}
