//go:build tools

// Package tools pins the kopia CLI of Velero's fork of kopia (the same
// module, at the same version, that Velero v1.18.3 writes its file-system
// backups with), which hack/build-tools.sh builds on demand
// (CAIRN_TOOLS_ONLY=kopia) for the tests of internal/kopia: they make
// repositories with the real kopia and read them with cairn's reader.
// Velero's node agent cannot run its file-system backups on the test
// node (its uploads run in a pod of the Velero image, without host
// networking), so this is how a repository that kopia itself wrote is
// tested. It is a separate module so that the main module's
// `go test ./...` never descends into it.
package tools

import (
	_ "github.com/kopia/kopia"
)
