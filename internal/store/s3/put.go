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
	sum := md5.Sum(data)
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.objectKey(key)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		IfNoneMatch:   aws.String("*"),
	}
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
	}
}
