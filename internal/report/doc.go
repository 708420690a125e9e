// Package report gathers the evidence an auditor asks of a backup system,
// per control, from a repository and (when given) the cluster's
// namespaces: coverage (each user namespace, the days of the period on
// which a successful backup held it), retention (per schedule, against the
// guardrails), protection (encryption, keys, object lock and how much of
// each backup it covers), tests (restore drills), and the findings, each
// naming the control it touches.
//
// The report's JSON form is versioned (Schema); docs/design/report.md
// describes it. The package reads only: no lock is taken, nothing is
// written. It does not import Kubernetes: the caller lists namespaces.
package report
