package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairn-backup/cairn/internal/store"
)

var _ store.Versioned = (*Store)(nil)

// Versioning reports whether the bucket keeps older versions
// (GetBucketVersioning: Enabled, or Suspended with versions kept from
// before). Object lock implies it.
func (s *Store) Versioning(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	out, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		return false, s.wrap("get bucket versioning", "", err)
	}
	return out.Status == types.BucketVersioningStatusEnabled || out.Status == types.BucketVersioningStatusSuspended, nil
}

// Versions lists the versions of exactly key (ListObjectVersions with the
// key as prefix, other keys dropped), latest first, then newest first.
func (s *Store) Versions(ctx context.Context, key string) ([]store.Version, error) {
	vs, err := s.versions(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("s3: versions %s: %w", key, err)
	}
	return vs, nil
}

func (s *Store) versions(ctx context.Context, key string) ([]store.Version, error) {
	if err := begin(ctx, key); err != nil {
		return nil, err
	}
	obj := s.objectKey(key)
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(obj)}
	var out []store.Version
	for {
		page, err := s.client.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, s.classify(err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != obj {
				continue
			}
			out = append(out, store.Version{
				ID: aws.ToString(v.VersionId), ModTime: aws.ToTime(v.LastModified),
				Size: aws.ToInt64(v.Size), IsLatest: aws.ToBool(v.IsLatest),
			})
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		// Versions of one key come together, keys in order: once the
		// listing has passed obj there is nothing more to find.
		if next := aws.ToString(page.NextKeyMarker); next == "" || next > obj {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	// S3 lists a key's versions newest first; keep that order, with the
	// latest first in any case.
	sort.SliceStable(out, func(i, j int) bool { return out[i].IsLatest && !out[j].IsLatest })
	return out, nil
}

// GetVersion is Get on one version of key (GetObject with VersionId).
func (s *Store) GetVersion(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.getVersion(ctx, key, versionID, offset, length)
	if err != nil {
		return nil, fmt.Errorf("s3: get %s version %s: %w", key, versionID, err)
	}
	return rc, nil
}

func (s *Store) getVersion(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, error) {
	if err := begin(ctx, key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: offset %d", store.ErrInvalidRange, offset)
	}
	if length == 0 {
		return s.emptyAtVersion(ctx, key, versionID, offset)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key)), VersionId: aws.String(versionID)}
	switch {
	case length > 0 && length <= math.MaxInt64-offset:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if httpStatus(err) == 416 || apiCode(err) == "InvalidRange" {
			return s.emptyAtVersion(ctx, key, versionID, offset)
		}
		if apiCode(err) == "InvalidArgument" || httpStatus(err) == 400 {
			// A version ID the server cannot parse names no version.
			return nil, fmt.Errorf("%w: %w", store.ErrNotFound, s.classify(err))
		}
		return nil, s.classify(err)
	}
	return out.Body, nil
}

// emptyAtVersion is emptyAt for one version: an empty reader at or before
// its end, ErrInvalidRange past it.
func (s *Store) emptyAtVersion(ctx context.Context, key, versionID string, offset int64) (io.ReadCloser, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key)), VersionId: aws.String(versionID),
	})
	if err != nil {
		if apiCode(err) == "InvalidArgument" || httpStatus(err) == 400 {
			return nil, fmt.Errorf("%w: %w", store.ErrNotFound, s.classify(err))
		}
		return nil, s.classify(err)
	}
	if size := aws.ToInt64(out.ContentLength); offset > size {
		return nil, fmt.Errorf("%w: offset %d past the end (%d bytes)", store.ErrInvalidRange, offset, size)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}
