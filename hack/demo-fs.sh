#!/usr/bin/env bash
# The file-system part of the demo (`make demo` runs it after the cluster
# demo in hack/demo/): the cairn CLI on a local
# repository. It makes a sample directory, backs it up, backs it up again
# after a change (incremental), restores into a directory that already
# holds another file (which stays), compares, checks and shows statistics.
# Everything lives in a temporary directory that is removed at the end.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin/cairn"
if [[ ! -x "$bin" ]]; then
	echo "demo: $bin not found; run \`make build\` (or \`make demo\`) first" >&2
	exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
data="$work/data"
target="$work/restore"

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
# cairn shows the command (temporary paths as $WORK) and runs it.
cairn() {
	printf '$ cairn %s\n' "${*//$work/\$WORK}"
	"$bin" "$@"
}

step "Sample data: a directory that looks like a persistent volume"
(cd "$root" && go run ./hack/mkdata "$data" --size 64)
echo "$(find "$data" | wc -l) entries, $(du -sh "$data" | cut -f1)"

step "A passphrase file and a local repository (there is no default passphrase)"
umask 077
printf 'demo passphrase %s\n' "$RANDOM$RANDOM$RANDOM" >"$work/passphrase"
export CAIRN_REPOSITORY="$work/repo" CAIRN_PASSWORD_FILE="$work/passphrase"
echo "CAIRN_REPOSITORY=\$WORK/repo CAIRN_PASSWORD_FILE=\$WORK/passphrase"
cairn repo init

step "First backup: everything is read, chunked, deduplicated, compressed and encrypted"
cairn fs backup "$data" --tag demo --ttl 30d

step "The snapshot list"
cairn snapshots

step "Change one file, then back up again: only the change is read and stored"
changed="$(find "$data" -type f -name '*.log' | sort | head -n 1)"
[[ -n "$changed" ]] || changed="$(find "$data" -type f | sort | head -n 1)"
echo "2026-01-02T00:00:00Z info a new line for the second backup" >>"$changed"
echo "appended a line to ${changed#"$data"/}"
cairn fs backup "$data" --tag demo --ttl 30d
cairn snapshots

step "Restore the latest snapshot into a directory that already holds another file"
mkdir -p "$target"
echo "this file is not in the backup" >"$target/keep-me.txt"
cairn fs restore latest --target "$target" --verify
echo "keep-me.txt is still there: $(cat "$target/keep-me.txt")"

step "Compare the restored tree with the original (diff -r)"
diff -r --no-dereference -x keep-me.txt "$data" "$target"
echo "no differences"

step "Check the repository, reading and verifying all data"
cairn repo check --read-data

step "Repository statistics"
cairn repo stats

step "Done: the temporary directory is removed"
