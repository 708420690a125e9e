#!/usr/bin/env bash
# `make demo`, the main job on the embedded default (after `make tools build`):
#  1. the cluster demo (hack/demo): a real local control plane, sample
#     workloads, a backup into a local repository, the namespaces deleted,
#     a restore that reports what came back and what was skipped and why;
#     then, on a real node (`make node-deps`), a stateful app whose namespace
#     and disk are lost comes back with its data (controller + node agent);
#  2. the file-system demo (hack/demo-fs.sh): the storage engine on a
#     directory: incremental backup, restore that keeps unrelated files,
#     check, statistics.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
go run ./hack/demo -cairn "$root/bin/cairn"
hack/demo-fs.sh
