#!/usr/bin/env bash
# Storage-engine benchmark: cairn against restic, side by side in one run,
# on the same data. Usage: hack/bench/run.sh [--runs N] [--size MiB] [--real DIR]
# (CAIRN_BIN=path uses that binary instead of building bin/cairn).
#
# For each run and each dataset it measures, for both tools alternately:
# first backup, backup after `mkdata --mutate 2`, backup of unchanged data,
# restore of the latest snapshot into an empty directory, repository size,
# and peak memory (max RSS over all steps). It prints a markdown table of
# medians and cairn/restic ratios. Page cache is warm for both tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=1 size=1024 real=/usr/lib
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --real) real=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
mkdata=${MKDATA:-../shared/bench/mkdata}
[ -x "$mkdata" ] || { echo "bench: $mkdata not found (set MKDATA)" >&2; exit 2; }
if ! command -v restic >/dev/null; then
  echo "bench: installing restic from Debian's packages" >&2
  (apt-get update -qq && apt-get install -y -qq restic) >/dev/null
fi
if [ -n "${CAIRN_BIN:-}" ]; then
  cairn=$CAIRN_BIN
else
  make -s build
  cairn=$PWD/bin/cairn
fi
work=${BENCH_DIR:-$PWD/.cache/bench}
mkdir -p "$work"
pristine=$work/data-$size
if [ ! -d "$pristine" ]; then
  echo "bench: creating the ${size} MiB dataset" >&2
  python3 "$mkdata" "$pristine.tmp" --size "$size" && mv "$pristine.tmp" "$pristine"
fi
export RESTIC_PASSWORD=bench-passphrase CAIRN_PASSWORD=bench-passphrase
results=$work/results.tsv
: > "$results"

# t TOOL DATASET STEP CMD... : time a command, record seconds and max RSS (KiB).
t() {
  local tool=$1 ds=$2 step=$3; shift 3
  /usr/bin/time -o "$work/time.txt" -f "%e %M" "$@" >/dev/null 2>"$work/err.log" || { cat "$work/err.log" >&2; echo "bench: $tool $step failed" >&2; exit 1; }
  local secs rss; read -r secs rss < <(tail -n 1 "$work/time.txt")
  printf '%s\t%s\t%s\t%s\t%s\n' "$ds" "$tool" "$step" "$secs" "$rss" >> "$results"
}

# warm DIR: read every file, so that each tool finds the data in the page
# cache (this machine reclaims pages it has not used for a while, and the
# first tool to read a cold dataset would pay for all).
warm() { find "$1" -type f -print0 | xargs -0 -r cat > /dev/null 2>&1 || true; }

bench_tool() { # TOOL DATASET DIR MUTATE
  local tool=$1 ds=$2 dir=$3 mutate=$4 repo=$work/repo-$1 out=$work/restore-$1
  rm -rf "$repo" "$out"
  case $tool in
    cairn)
      "$cairn" repo init -q --repo "$repo"
      warm "$dir"
      t cairn "$ds" first   "$cairn" fs backup -q --no-progress --repo "$repo" "$dir"
      warm "$dir"
      t cairn "$ds" unchanged "$cairn" fs backup -q --no-progress --repo "$repo" "$dir"
      ;;
    restic)
      restic init -q -r "$repo"
      warm "$dir"
      t restic "$ds" first   restic -q -r "$repo" backup "$dir"
      warm "$dir"
      t restic "$ds" unchanged restic -q -r "$repo" backup "$dir"
      ;;
  esac
}

after_mutate() { # TOOL DATASET DIR
  local tool=$1 ds=$2 dir=$3 repo=$work/repo-$1 out=$work/restore-$1
  case $tool in
    cairn)
      warm "$dir"
      t cairn "$ds" mutated "$cairn" fs backup -q --no-progress --repo "$repo" "$dir"
      t cairn "$ds" restore "$cairn" fs restore -q --no-progress --repo "$repo" latest --target "$out"
      ;;
    restic)
      warm "$dir"
      t restic "$ds" mutated restic -q -r "$repo" backup "$dir"
      t restic "$ds" restore restic -q -r "$repo" restore latest --target "$out"
      ;;
  esac
  printf '%s\t%s\t%s\t%s\t0\n' "$ds" "$tool" size "$(du -sb "$repo" | cut -f1)" >> "$results"
  rm -rf "$out"
}

for run in $(seq "$runs"); do
  echo "bench: run $run of $runs" >&2
  data=$work/run-data
  rm -rf "$data"; mkdir -p "$data"; cp -a "$pristine/." "$data/"
  # Write the copy back before timing anything: otherwise the first tool
  # measured shares the CPUs and the disk with the kernel's writeback.
  sync
  order="cairn restic"; [ $((run % 2)) -eq 0 ] && order="restic cairn"
  for tool in $order; do bench_tool "$tool" mkdata "$data" yes; done
  python3 "$mkdata" "$data" --mutate 2 >/dev/null
  sync
  for tool in $order; do after_mutate "$tool" mkdata "$data"; done
  if [ -d "$real" ]; then
    for tool in $order; do bench_tool "$tool" real "$real" no; done
    for tool in $order; do
      repo=$work/repo-$tool out=$work/restore-$tool
      case $tool in
        cairn) t cairn real restore "$cairn" fs restore -q --no-progress --repo "$repo" latest --target "$out" ;;
        restic) t restic real restore restic -q -r "$repo" restore latest --target "$out" ;;
      esac
      printf '%s\t%s\t%s\t%s\t0\n' real "$tool" size "$(du -sb "$repo" | cut -f1)" >> "$results"
      rm -rf "$out"
    done
  fi
done
rm -rf "$work/run-data" "$work"/repo-* "$work"/restore-*

python3 - "$results" "$size" "$real" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
val = collections.defaultdict(list); mem = collections.defaultdict(int)
for ds, tool, step, secs, rss in rows:
    val[(ds, tool, step)].append(float(secs))
    mem[(ds, tool)] = max(mem[(ds, tool)], int(rss))
targets = {"first": 1/3, "unchanged": 1/5, "restore": 1/2, "mutated": None, "size": 1.0}
print(f"Datasets: mkdata {sys.argv[2]} MiB (../shared/bench/mkdata), real = {sys.argv[3]}; median of {len(val[('mkdata','cairn','first')])} run(s)\n")
print("| dataset | measure | cairn | restic | cairn/restic | target |")
print("|---|---|---|---|---|---|")
for ds in ("mkdata", "real"):
    for step in ("first", "mutated", "unchanged", "restore", "size"):
        c, r = val.get((ds, "cairn", step)), val.get((ds, "restic", step))
        if not c or not r: continue
        cm, rm = statistics.median(c), statistics.median(r)
        unit = (lambda v: f"{v/2**20:.0f} MiB") if step == "size" else (lambda v: f"{v:.2f} s")
        tgt = targets[step]; ratio = cm / rm
        mark = "" if tgt is None else (" ✓" if ratio <= tgt else " ✗")
        print(f"| {ds} | {step} | {unit(cm)} | {unit(rm)} | {ratio:.2f}{mark} | {'≤ %.2f' % tgt if tgt else '—'} |")
    if mem.get((ds, "cairn")):
        c, r = mem[(ds, "cairn")], mem[(ds, "restic")]
        print(f"| {ds} | peak memory | {c/1024:.0f} MiB | {r/1024:.0f} MiB | {c/r:.2f}{' ✓' if c <= r else ' ✗'} | ≤ 1.00 |")
PY
