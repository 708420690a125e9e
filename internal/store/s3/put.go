package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairn-backup/cairn/internal/store"
)

// Put stores data under key unless an object has that key: one PutObject
// with If-None-Match: *, which the server evaluates atomically, and
// Content-MD5, which it checks against the body it received.
//
// A server that does not support conditional writes would overwrite
// instead of answering 412. That is harmless for every key but "config",
// which the repository writes once, at init: the other keys are the
// SHA-256 of their bytes, so an "overwrite" writes the same bytes.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := begin(ctx, key); err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	return s.put(ctx, key, s.putInput(key, data))
}

// PutRetained is Put with the object's retention in the same PutObject
// (x-amz-object-lock-mode, x-amz-object-lock-retain-until-date): the
// version is locked from the instant it exists. S3 requires Content-MD5
// (or a checksum) on such a PutObject; Put always sends it. The date is
// rounded up to the second, S3's precision.
func (s *Store) PutRetained(ctx context.Context, key string, data []byte, until time.Time, mode string) error {
	if err := begin(ctx, key); err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	m, err := lockMode(mode)
	if err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	in := s.putInput(key, data)
	in.ObjectLockMode = types.ObjectLockMode(m)
	in.ObjectLockRetainUntilDate = aws.Time(ceilSecond(until))
	return s.put(ctx, key, in)
}

func (s *Store) putInput(key string, data []byte) *s3.PutObjectInput {
	sum := md5.Sum(data)
	return &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.objectKey(key)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		IfNoneMatch:   aws.String("*"),
	}
}

func (s *Store) put(ctx context.Context, key string, in *s3.PutObjectInput) error {
	for attempt := 1; ; attempt++ {
		_, err := s.client.PutObject(ctx, in)
		if err == nil {
			return nil
		}
		// 409 ConditionalRequestConflict: another conditional write of the
		// key is in flight. Try again: it ends in success or 412.
		if apiCode(err) != "ConditionalRequestConflict" || attempt == 5 {
			return s.wrap("put", key, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("s3: put %s: %w", key, ctx.Err())
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
		if r, ok := in.Body.(*bytes.Reader); ok {
			_, _ = r.Seek(0, 0)
		}
	}
}

var _ store.RetainedPutter = (*Store)(nil)
