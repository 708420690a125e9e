#!/usr/bin/env bash
# Before/after benchmark of two cairn binaries on the same data, in one run:
#
#   hack/bench/ab.sh OLD_BIN NEW_BIN [--runs N] [--size MiB] [--real DIR]
#
# For a change on a hot path (e.g. descriptor-relative file access): build
# the binary before and after the change (`git worktree add /tmp/old REV &&
# (cd /tmp/old && go build -o /tmp/cairn-old ./cmd/cairn)`), then run this.
# Each run measures, for both binaries alternately (which goes first
# alternates between runs): first backup, unchanged backup and restore of
# the mkdata dataset and of a real tree, with the page cache warm. It prints
# the medians and new/old ratios as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: hack/bench/ab.sh OLD_BIN NEW_BIN [--runs N] [--size MiB] [--real DIR]" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2"); shift 2
[ -x "$old" ] && [ -x "$new" ] || { echo "bench: $old and $new must be executables" >&2; exit 2; }
runs=3 size=512 real=/usr/lib/x86_64-linux-gnu
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --real) real=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
work=${BENCH_DIR:-$PWD/.cache/bench-ab}
mkdir -p "$work"
mkdata=${MKDATA:-}
[ -n "$mkdata" ] || { go build -o "$work/mkdata" ./hack/mkdata; mkdata=$work/mkdata; }
data=$work/mkdata-$size
if [ ! -d "$data" ]; then
  echo "bench: creating the ${size} MiB dataset" >&2
  "$mkdata" "$data.tmp" --size "$size" && mv "$data.tmp" "$data"
fi
export CAIRN_PASSWORD=bench-passphrase
results=$work/results.tsv
: > "$results"

t() { # WHICH DATASET STEP CMD...
  local which=$1 ds=$2 step=$3; shift 3
  /usr/bin/time -o "$work/time.txt" -f "%e %M" "$@" >/dev/null 2>"$work/err.log" || { cat "$work/err.log" >&2; echo "bench: $which $step failed" >&2; exit 1; }
  local secs rss; read -r secs rss < <(tail -n 1 "$work/time.txt")
  printf '%s\t%s\t%s\t%s\t%s\n' "$ds" "$which" "$step" "$secs" "$rss" >> "$results"
}
warm() { find "$1" -type f -print0 | xargs -0 -r cat > /dev/null 2>&1 || true; }

one() { # WHICH BIN DATASET DIR
  local which=$1 bin=$2 ds=$3 dir=$4 repo=$work/repo-$1 out=$work/restore-$1
  rm -rf "$repo" "$out"
  "$bin" repo init -q --repo "$repo"
  warm "$dir"
  t "$which" "$ds" first "$bin" fs backup -q --no-progress --repo "$repo" "$dir"
  warm "$dir"
  t "$which" "$ds" unchanged "$bin" fs backup -q --no-progress --repo "$repo" "$dir"
  sync
  t "$which" "$ds" restore "$bin" fs restore -q --no-progress --repo "$repo" latest --target "$out"
  sync
  rm -rf "$repo" "$out"
}

for run in $(seq "$runs"); do
  echo "bench: run $run of $runs" >&2
  order="old new"; [ $((run % 2)) -eq 0 ] && order="new old"
  for ds in mkdata real; do
    dir=$data; [ $ds = real ] && dir=$real
    [ -d "$dir" ] || continue
    for which in $order; do
      bin=$old; [ $which = new ] && bin=$new
      one "$which" "$bin" "$ds" "$dir"
    done
  done
done

python3 - "$results" "$size" "$real" "$runs" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
val = collections.defaultdict(list); mem = collections.defaultdict(int)
for ds, which, step, secs, rss in rows:
    val[(ds, which, step)].append(float(secs))
    mem[(ds, which, step)] = max(mem[(ds, which, step)], int(rss))
print(f"Datasets: mkdata {sys.argv[2]} MiB, real = {sys.argv[3]}; median of {sys.argv[4]} run(s), order alternating\n")
print("| dataset | measure | old | new | new/old | old RSS | new RSS |")
print("|---|---|---|---|---|---|---|")
for ds in ("mkdata", "real"):
    for step in ("first", "unchanged", "restore"):
        o, n = val.get((ds, "old", step)), val.get((ds, "new", step))
        if not o or not n: continue
        om, nm = statistics.median(o), statistics.median(n)
        print(f"| {ds} | {step} | {om:.2f} s | {nm:.2f} s | {nm/om:.3f} | {mem[(ds,'old',step)]/1024:.0f} MiB | {mem[(ds,'new',step)]/1024:.0f} MiB |")
PY
