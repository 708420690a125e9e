// Package s3 is a store.Store on S3-compatible object storage: the
// repository at s3://bucket/prefix keeps object key "a/b" as the S3 object
// "prefix/a/b" in bucket.
//
// How the contract maps onto S3:
//
//   - Put is one PutObject with "If-None-Match: *" (S3 conditional writes,
//     supported by AWS since 2024, MinIO, Ceph RGW and versitygw): the
//     server refuses the write when the key exists (412), atomically, so two
//     backups storing the same pack race safely. A server that ignores the
//     header would overwrite; since every key but "config" is named by the
//     SHA-256 of its bytes, the bytes written would be the same ones. Every
//     PUT carries Content-MD5, so the server rejects a body damaged on the
//     way. Objects are at most a pack (tens of MiB): no multipart uploads.
//   - Get is GetObject with a Range header; Stat is HeadObject; List is
//     ListObjectsV2, paginated, with keys given relative to the prefix.
//   - Delete asks HeadObject first (S3's DELETE succeeds for missing keys,
//     the contract wants ErrNotFound), then deletes that exact version: in
//     a versioned bucket (object lock needs one) a DELETE without a version
//     only hides the object behind a delete marker. An object whose
//     retain-until date is in the future is not even tried: Delete returns
//     store.ErrLocked naming the date.
//   - Retention (the store.Retainer capability) is PutObjectRetention, read
//     first and only ever extended.
//
// Transient failures (5xx, throttling, connection resets) are retried by
// the SDK's standard retryer with exponential backoff, a bounded number of
// times. Errors that a person must fix (rejected credentials, a missing
// bucket, a skewed clock) say so, naming the bucket and endpoint.
//
// Credentials come from Options, else the usual AWS sources: the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
// the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE),
// web identity. The EC2 instance metadata service is never asked.
//
// This package must not overwrite an object, and must not know what the
// bytes mean.
package s3
