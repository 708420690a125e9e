// Package archiver backs up directories into a repository: it walks the
// given paths, chunks and saves changed files with a bounded pool of
// workers, reuses the content of files unchanged since a parent snapshot
// without reading them, saves one tree per directory and finally the
// snapshot manifest.
//
// It reads the file system and writes only through repo.Repository; it
// knows nothing of Kubernetes or of the CLI.
package archiver
