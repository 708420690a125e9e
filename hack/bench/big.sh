#!/usr/bin/env bash
# Scale benchmark of issue 15: many small files and one large file, cairn
# and restic 0.18.1 side by side in one run. For each dataset and tool:
# first backup, unchanged backup, restore into an empty directory, each
# with wall time and peak RSS (/usr/bin/time), then the repository's size.
# For cairn also the index's blob count and the largest live heap the
# collector saw (GODEBUG=gctrace=1), the part of the RSS that the data can
# make grow.
#
#   hack/bench/big.sh [--files "250000 1000000"] [--big-dir N] [--bigfile MiB] [--only cairn|restic] [--keep]
#
# --files: one dataset per count, `mkdata --files N --big-dir N` (N small
# files, --big-dir of them, default 100000, in one folder, the rest over a
# fan-out of folders of about 100); --bigfile: one file of that many MiB,
# `mkdata --bigfile` (mixed content, partly compressible). Without either
# flag: --files "250000 1000000" --bigfile 8192. The generator is
# deterministic, so a dataset is deleted when its measures are done (and
# each repository and restored copy as soon as it is measured) unless
# --keep: the 1 M files take ≈ 4.5 GB on disk, the 8 GiB file 8.6 GB, and
# at most the data, one repository and one restored copy exist at once.
#
# CAIRN_BIN, RESTIC_BIN, BENCH_DIR as for run.sh (default work directory
# .cache/bench-big).
set -euo pipefail
cd "$(dirname "$0")/../.."
files="" bigdir=100000 bigfile="" only="" keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --big-dir) bigdir=$2; shift 2 ;;
    --bigfile) bigfile=$2; shift 2 ;;
    --only) only+=" $2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -n "$files$bigfile" ] || { files="250000 1000000" bigfile=8192; }
[ -n "$only" ] || only=" cairn restic"
if [ -n "${CAIRN_BIN:-}" ]; then cairn=$(realpath "$CAIRN_BIN"); else make -s build-fs; cairn=$PWD/bin/cairn-fs; fi
if [ -n "${RESTIC_BIN:-}" ]; then
  restic=$(realpath "$RESTIC_BIN")
else
  CAIRN_TOOLS_ONLY=restic hack/build-tools.sh >&2
  restic=$PWD/.cache/bin/restic
fi
"$restic" version | grep -q 'restic 0.18.1' || echo "bench: warning: $("$restic" version) is not restic 0.18.1" >&2
work=${BENCH_DIR:-$PWD/.cache/bench-big}
mkdir -p "$work"
go build -o "$work/mkdata" ./hack/mkdata
export RESTIC_PASSWORD=bench-passphrase CAIRN_PASSWORD=bench-passphrase
export RESTIC_CACHE_DIR=$work/restic-cache
results=$work/results.tsv
: > "$results"

# t DATASET TOOL STEP CMD...: time a command; record seconds, peak RSS
# (KiB) and, for cairn, the largest live heap after a collection (MB).
t() {
  local ds=$1 tool=$2 step=$3; shift 3
  GODEBUG=gctrace=1 /usr/bin/time -o "$work/time.txt" -f "%e %M" "$@" >/dev/null 2>"$work/err.log" ||
    { tail -n 20 "$work/err.log" >&2; echo "bench: $tool $step on $ds failed" >&2; exit 1; }
  local secs rss live
  read -r secs rss < <(tail -n 1 "$work/time.txt")
  live=$(grep -o '[0-9]*->[0-9]*->[0-9]* MB' "$work/err.log" | awk -F'->' '{ sub(/ MB/, "", $3); if ($3 + 0 > m) m = $3 + 0 } END { print m + 0 }')
  [ "$tool" = cairn ] || live=-
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ds" "$tool" "$step" "$secs" "$rss" "$live" >> "$results"
  echo "bench: $ds $tool $step: $secs s, $((rss / 1024)) MiB (live heap $live MB)" >&2
}
note() { printf '%s\t%s\t%s\t%s\t0\t-\n' "$1" "$2" "$3" "$4" >> "$results"; }

# warm PATH: read it all once, so that every tool finds it in the page cache.
warm() { tar cf - -C "$(dirname "$1")" "$(basename "$1")" | cat > /dev/null; }

measure() { # DATASET PATH
  local ds=$1 data=$2 tool out=$work/restore
  for tool in $only; do
    rm -rf "$work/repo" "$out" "$RESTIC_CACHE_DIR"
    echo "bench: $ds $tool (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    note "$ds" "$tool" load "$(cut -d' ' -f1 /proc/loadavg)"
    case $tool in
      cairn)
        "$cairn" repo init -q --repo "$work/repo"
        warm "$data"
        t "$ds" cairn first "$cairn" fs backup -q --no-progress --repo "$work/repo" "$data"
        t "$ds" cairn unchanged "$cairn" fs backup -q --no-progress --repo "$work/repo" "$data"
        sync
        t "$ds" cairn restore "$cairn" fs restore -q --no-progress --repo "$work/repo" latest --target "$out"
        note "$ds" cairn blobs "$("$cairn" repo stats -o json --repo "$work/repo" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("blobs","?"))')"
        ;;
      restic)
        "$restic" init -q -r "$work/repo"
        warm "$data"
        t "$ds" restic first "$restic" -q -r "$work/repo" backup "$data"
        t "$ds" restic unchanged "$restic" -q -r "$work/repo" backup "$data"
        sync
        t "$ds" restic restore "$restic" -q -r "$work/repo" restore latest --target "$out"
        ;;
    esac
    note "$ds" "$tool" size "$(du -sb "$work/repo" | cut -f1)"
    # The restored copy must be the data (sizes, by path).
    local want got
    want=$(cd "$data/.." && find "$(basename "$data")" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { print n, s }')
    got=$(find "$out" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { print n, s }')
    [ "$want" = "$got" ] || { echo "bench: $tool restored $got (files, bytes), the data is $want" >&2; exit 1; }
    rm -rf "$work/repo" "$out" "$RESTIC_CACHE_DIR"
  done
}

for n in $files; do
  ds=files-$n data=$work/files-$n
  [ -d "$data" ] || { echo "bench: creating $n files in $data" >&2; rm -rf "$data.tmp"; "$work/mkdata" "$data.tmp" --files "$n" --big-dir "$bigdir" && mv "$data.tmp" "$data"; }
  note "$ds" data bytes "$(du -sb "$data" | cut -f1)"
  measure "$ds" "$data"
  [ -n "$keep" ] || rm -rf "$data"
done
if [ -n "$bigfile" ]; then
  ds=bigfile-$bigfile data=$work/bigfile-$bigfile
  [ -f "$data/big.img" ] || { echo "bench: creating a $bigfile MiB file in $data" >&2; rm -rf "$data"; "$work/mkdata" "$data/big.img" --bigfile "$bigfile"; }
  note "$ds" data bytes "$(du -sb "$data" | cut -f1)"
  measure "$ds" "$data"
  [ -n "$keep" ] || rm -rf "$data"
fi

# The report: one row per dataset and step, cairn against restic.
python3 - "$results" <<'EOF'
import sys, collections
rows = collections.defaultdict(dict)
order = []
for line in open(sys.argv[1]):
    ds, tool, step, v, rss, live = line.rstrip("\n").split("\t")
    if ds not in order: order.append(ds)
    rows[ds][(tool, step)] = (v, int(rss), live)
def g(ds, tool, step, i=0):
    return rows[ds].get((tool, step), ("-", 0, "-"))[i]
print("| data | measure | cairn | restic 0.18.1 | cairn/restic | cairn RSS | restic RSS | RSS ratio | cairn live heap |")
print("|---|---|---|---|---|---|---|---|---|")
for ds in order:
    for step in ("first", "unchanged", "restore"):
        c, r = g(ds, "cairn", step), g(ds, "restic", step)
        cm, rm = g(ds, "cairn", step, 1) // 1024, g(ds, "restic", step, 1) // 1024
        ratio = f"{float(c) / float(r):.2f}" if c != "-" and r != "-" else "-"
        rr = f"{cm / rm:.2f}" if cm and rm else "-"
        print(f"| {ds} | {step} | {c} s | {r} s | {ratio} | {cm} MiB | {rm} MiB | {rr} | {g(ds, 'cairn', step, 2)} MB |")
    c, r = g(ds, "cairn", "size"), g(ds, "restic", "size")
    ratio = f"{int(c) / int(r):.2f}" if c != "-" and r != "-" else "-"
    mb = lambda x: f"{int(x) / 1e6:.0f} MB" if x != "-" else "-"
    print(f"| {ds} | repository | {mb(c)} | {mb(r)} | {ratio} | – | – | – | {g(ds, 'cairn', 'blobs')} blobs |")
    print(f"| {ds} | load (1 min) | {g(ds, 'cairn', 'load')} | {g(ds, 'restic', 'load')} | | | | | data {mb(g(ds, 'data', 'bytes'))} |")
EOF
