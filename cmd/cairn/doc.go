// Command cairn is the cairn command line: backups and restores into an
// encrypted, deduplicating repository. Everything it does is in
// internal/cli; this main only wires the process to it.
package main
