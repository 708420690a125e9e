// Package location opens the repository of a BackupLocation: its URL
// (s3://bucket/prefix, file:///path or an absolute path), the passphrase
// from a Secret, and the object store's credentials from another. Both the
// controller and the CLI use it. It never logs or returns a passphrase or a
// credential in an error.
//
// Pool keeps repositories open between the jobs of a long-running process
// (the node agent): one job at a time per open repository, brought up to
// date with repo.Repository.Refresh before each, closed when idle.
package location
