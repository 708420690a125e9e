//go:build !fsonly

// Package clustercmd is the family of cairn commands that work on a
// cluster without cairn-controller: backup run/get/describe/ls, restore
// run, import velero, erase and report (also `cairn ctl report`, for a
// BackupLocation's repository).
//
// The commands parse, connect (core.RestConfig), call package cluster's
// backup and restore, velero, erase and report, and print. Nothing here
// runs a controller; the fsonly build leaves the package out.
package clustercmd
