//go:build !fsonly

// Package ctlcmd is `cairn ctl`: Velero's verbs on the custom resources
// that cairn-controller reconciles (Backup, Restore, Schedule,
// BackupLocation, RestoreTest), for the controller's namespace and for a
// tenant's own (self-service).
//
// The commands create, list, describe and delete objects and wait for
// their phase; the work is the controller's. The fsonly build leaves the
// package out.
package ctlcmd
