// Package testenv holds helpers shared by tests: the rule that a test
// needing a real component fails in CI (CAIRN_REQUIRE_REAL=1) instead of
// skipping, and small fixtures. Only test code imports it.
package testenv
