// Package discover finds the resource types a cluster serves, for backup:
// every group's preferred version, custom resources included, keeping only
// the types that can be listed.
//
// It talks to the API server's discovery endpoints only; it lists no
// objects and knows nothing of what a backup selects.
package discover
