// Package s3test starts a real S3 server for tests: versitygw (built into
// .cache/bin by `make tools`) on 127.0.0.1, with a posix backend in a
// temporary directory, versioning and object lock enabled. Only test code
// imports it.
//
// A missing binary is testenv.RequireReal: a skip on a laptop, a failure
// in CI (CAIRN_REQUIRE_REAL=1).
package s3test
