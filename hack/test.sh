#!/usr/bin/env bash
# Runs every test (`make test`): the packages that run work concurrently
# under the race detector, the others without it (each package once), then
# every fuzz target for a bounded number of inputs.
#
#   hack/test.sh                          # all of it
#   CAIRN_FUZZTIME=0 hack/test.sh         # no fuzzing
#   CAIRN_FUZZTIME=1000000x hack/test.sh  # longer fuzzing (or a duration: 1m)
#
# The default budget is a count, not a duration: with a duration, Go's fuzz
# coordinator can report a bare "context deadline exceeded" failure when the
# time runs out while a worker is busy on a loaded machine (golang/go#75804,
# fixed only in Go 1.27), which failed CI once without any failing input.
#
# The race list is the engine and everything with worker pools or
# goroutines of its own; a new concurrent package belongs in it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go=${GO:-go}
fuzztime=${CAIRN_FUZZTIME:-50000x}
mod=$($go list -m)

race_re="^$mod/internal/(repo|archiver|restorer|cluster|controller|agent|replicate|store|location|snapshot|swaptest|prune|check|hooks)(/|$)"
all=$($go list ./...)
race=$(grep -E "$race_re" <<<"$all" || true)
plain=$(grep -vE "$race_re" <<<"$all" || true)

echo "== tests under -race: $(wc -w <<<"$race") packages"
# shellcheck disable=SC2086
$go test -race -timeout 45m $race
echo "== other tests: $(wc -w <<<"$plain") packages"
# shellcheck disable=SC2086
$go test -timeout 30m $plain

if [ "$fuzztime" != 0 ]; then
	# Every Fuzz function, found by name so that new ones run too.
	grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' internal api cmd 2>/dev/null | while read -r f; do
		pkg=./$(dirname "$f")
		for fn in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
			echo "== fuzz $pkg $fn ($fuzztime)"
			$go test -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" "$pkg"
		done
	done
fi
