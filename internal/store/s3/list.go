package s3

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cairn-backup/cairn/internal/store"
)

// List calls fn for every object whose key starts with prefix, a page of
// ListObjectsV2 (up to 1000 keys) at a time; fn runs between page requests,
// so it may call the store. S3 keys that are not valid store keys (a
// "directory" object "a/", something put there by another program) are
// skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if err := s.list(ctx, prefix, fn); err != nil {
		return fmt.Errorf("s3: list %q: %w", prefix, err)
	}
	return nil
}

func (s *Store) list(ctx context.Context, prefix string, fn func(store.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.ValidatePrefix(prefix); err != nil {
		return err
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.objectKey(prefix)),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.classify(err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || !strings.HasPrefix(key, prefix) || store.ValidateKey(key) != nil {
				continue
			}
			info := store.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}
