package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store"
)

// Get returns length bytes of the object from offset (length < 0: to the
// end) with one ranged GetObject. S3 answers 416 for a range that starts
// at or past the end; only then is the object's size asked for, to tell
// "at the end" (empty) from "past the end" (ErrInvalidRange).
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.get(ctx, key, offset, length)
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	return rc, nil
}

func (s *Store) get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := begin(ctx, key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: offset %d", store.ErrInvalidRange, offset)
	}
	if length == 0 {
		return s.emptyAt(ctx, key, offset)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))}
	switch {
	case length > 0 && length <= math.MaxInt64-offset:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if httpStatus(err) == 416 || apiCode(err) == "InvalidRange" {
			return s.emptyAt(ctx, key, offset)
		}
		return nil, s.classify(err)
	}
	return out.Body, nil
}

// emptyAt returns an empty reader if offset is within or at the end of the
// object, ErrInvalidRange if it is past the end.
func (s *Store) emptyAt(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	info, err := s.stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if offset > info.Size {
		return nil, fmt.Errorf("%w: offset %d past the end (%d bytes)", store.ErrInvalidRange, offset, info.Size)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// Stat is one HeadObject.
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	info, err := s.stat(ctx, key)
	if err != nil {
		return store.Info{}, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	return info, nil
}

func (s *Store) stat(ctx context.Context, key string) (store.Info, error) {
	out, err := s.head(ctx, key)
	if err != nil {
		return store.Info{}, err
	}
	return store.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// head is HeadObject with the store's checks and error mapping.
func (s *Store) head(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	if err := begin(ctx, key); err != nil {
		return nil, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key)),
	})
	if err != nil {
		return nil, s.classify(err)
	}
	return out, nil
}
