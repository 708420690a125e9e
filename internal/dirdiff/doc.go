// Package dirdiff compares two directory trees, content and metadata, and
// lists the differences. Tests use it to prove a restore reproduces what
// was backed up; `cairn fs restore --verify` does not (it checks against the
// snapshot itself).
package dirdiff
