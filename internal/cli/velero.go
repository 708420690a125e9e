package cli

import "strings"

// Velero's verbs at the top level (`cairn backup create …` as `velero backup
// create …`), so that a Velero runbook translates by replacing the binary
// name. In a cluster those verbs act on the controller's objects, which
// live under `cairn ctl`; the top-level `backup` and `restore` groups are
// also the standalone commands (a kubeconfig and a repository). veleroArgs
// routes a command line to `ctl` when it can only mean the in-cluster one:
// `schedule` and `location` always, `backup|restore logs|delete` always,
// and `backup|restore create|get|describe` when no repository is given
// (no --repo, no CAIRN_REPOSITORY): without a repository there is nothing
// standalone to do.
func veleroArgs(args []string, env func(string) string) []string {
	group, gi := -1, -1
	verb := ""
	repo := env("CAIRN_REPOSITORY") != ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
			if name == "repo" || name == "r" {
				repo = true
			}
			if !strings.Contains(a, "=") && globalValueFlags[name] {
				i++ // its value
			}
			continue
		}
		if gi < 0 {
			gi, group = i, i
			continue
		}
		verb = a
		break
	}
	if gi < 0 {
		return args
	}
	inCluster := false
	switch args[group] {
	case "schedule", "location":
		inCluster = true
	case "backup", "restore":
		switch verb {
		case "logs", "delete":
			inCluster = true
		case "create", "get", "describe":
			inCluster = !repo
		}
	}
	if !inCluster {
		return args
	}
	out := make([]string, 0, len(args)+1)
	out = append(out, args[:group]...)
	out = append(out, "ctl")
	return append(out, args[group:]...)
}

// globalValueFlags are the root's flags that take a value (see rootCommand).
var globalValueFlags = map[string]bool{
	"repo": true, "r": true, "password-file": true, "output": true, "o": true, "progress-interval": true,
	"s3-endpoint": true, "s3-region": true, "s3-ca-file": true, "s3-credentials-file": true, "s3-profile": true,
}
