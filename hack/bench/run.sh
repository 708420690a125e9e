#!/usr/bin/env bash
# Storage-engine benchmark: cairn against restic 0.18.1 and against what the
# machine allows, side by side in one run, on the same data.
#
#   hack/bench/run.sh [--runs N] [--size MiB] [--real "DIR..."] [--only cairn|restic|bounds]...
#
# It measures bin/cairn-fs (`make build-fs`: cairn without the Kubernetes
# libraries, the build for directories); CAIRN_BIN=path uses that binary
# instead (e.g. bin/cairn, the full CLI). RESTIC_BIN
# that restic instead of the pinned one (hack/tools/restic, built into
# .cache/bin by `CAIRN_TOOLS_ONLY=restic hack/build-tools.sh`, which this
# script runs; `make tools` and `make test` do not build it).
#
# Datasets: mkdata (hack/mkdata --size MiB, deterministic; MKDATA=path runs
# another generator of the same flags) and a
# real tree, by default /usr/lib/x86_64-linux-gnu and /usr/local/go (shared
# libraries and a Go toolchain, ≈ 0.9 GB, 17,000 files), copied once into
# the bench folder so that it is one directory and does not change.
#
# For each run and dataset, every tool alternately (the order alternates
# between runs), page cache warm before each timed step:
#   cairn, restic: first backup, unchanged backup, restore into an empty
#     directory, `snapshots`, repository size; on mkdata also the backup
#     after `mkdata --mutate 2`;
#   bounds: `tar cf - DIR | b2sum` (read everything once, hash it),
#     `find DIR -printf` of the stat fields a backup compares (stat walk),
#     `cp -a DIR` into an empty directory on the same file system, and the
#     same followed by `sync` (a durable copy, as cairn's restore is).
# Each step records wall time and peak RSS (/usr/bin/time). The report gives
# medians, the spread (min–max) and the ratios of issue 15: first backup /
# tar|b2sum, unchanged / (2 × stat walk + key derivation), restore / cp -a,
# repository / restic's, peak RSS / restic's, per command.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=1 size=1024 real="/usr/lib/x86_64-linux-gnu /usr/local/go" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --real) real=$2; shift 2 ;;
    --only) only+=" $2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -n "$only" ] || only=" cairn restic bounds"
if [ -n "${CAIRN_BIN:-}" ]; then
  cairn=$(realpath "$CAIRN_BIN")
else
  make -s build-fs
  cairn=$PWD/bin/cairn-fs
fi
if [ -n "${RESTIC_BIN:-}" ]; then
  restic=$(realpath "$RESTIC_BIN")
else
  CAIRN_TOOLS_ONLY=restic hack/build-tools.sh >&2
  restic=$PWD/.cache/bin/restic
fi
"$restic" version | grep -q 'restic 0.18.1' || echo "bench: warning: $("$restic" version) is not restic 0.18.1" >&2
work=${BENCH_DIR:-$PWD/.cache/bench}
mkdir -p "$work"
mkdata=${MKDATA:-}
[ -n "$mkdata" ] || { go build -o "$work/mkdata" ./hack/mkdata; mkdata=$work/mkdata; }
pristine=$work/mkdata-$size
if [ ! -d "$pristine" ]; then
  echo "bench: creating the ${size} MiB dataset" >&2
  "$mkdata" "$pristine.tmp" --size "$size" && mv "$pristine.tmp" "$pristine"
fi
realdir=$work/real
if [ ! -f "$work/real.from" ] || [ "$(cat "$work/real.from")" != "$real" ]; then
  echo "bench: copying $real into $realdir" >&2
  rm -rf "$realdir" "$realdir.tmp"; mkdir -p "$realdir.tmp"
  for d in $real; do cp -a "$d" "$realdir.tmp/"; done
  mv "$realdir.tmp" "$realdir"; echo "$real" > "$work/real.from"
fi
export RESTIC_PASSWORD=bench-passphrase CAIRN_PASSWORD=bench-passphrase
export RESTIC_CACHE_DIR=$work/restic-cache
results=$work/results.tsv
: > "$results"

# The key derivation of a cairn key (argon2id with the default parameters),
# for the unchanged-backup bound; measured here, in this run.
kdf=$(go test -run '^$' -bench '^BenchmarkDefaultKDF$' -benchtime 20x ./internal/repo/crypto/ | awk '$1 ~ /^BenchmarkDefaultKDF/ { print $3 / 1e9 }')
printf 'all\tcairn\tkdf\t%s\t0\n' "$kdf" >> "$results"

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

size_of() { printf '%s\t%s\tsize\t%s\t0\n' "$1" "$2" "$(du -sb "$3" | cut -f1)" >> "$results"; }

backup() { # TOOL DATASET DIR STEP
  case $1 in
    cairn) t cairn "$2" "$4" "$cairn" fs backup -q --no-progress --repo "$work/repo-cairn" "$3" ;;
    restic) t restic "$2" "$4" "$restic" -q -r "$work/repo-restic" backup "$3" ;;
  esac
}

first() { # TOOL DATASET DIR
  local tool=$1 ds=$2 dir=$3 out=$work/restore-$1
  rm -rf "$work/repo-$tool" "$out" "$RESTIC_CACHE_DIR"
  case $tool in
    cairn) "$cairn" repo init -q --repo "$work/repo-cairn" ;;
    restic) "$restic" init -q -r "$work/repo-restic" ;;
    bounds)
      warm "$dir"
      t bounds "$ds" first bash -o pipefail -c "tar cf - -C '$dir' . | b2sum"
      warm "$dir"
      t bounds "$ds" unchanged find "$dir" -printf '%i %s %T@ %C@ %m %U %G %n %y %p %l\n'
      sync
      t bounds "$ds" restore cp -a "$dir" "$out"
      sync; rm -rf "$out"; sync
      # cairn's restore fsyncs every file before it reports success (issue
      # 10 §7): the durable copy is its bound too.
      t bounds "$ds" restore-durable bash -c "cp -a '$dir' '$out' && sync"
      rm -rf "$out"; sync
      return ;;
  esac
  warm "$dir"; backup "$tool" "$ds" "$dir" first
  warm "$dir"; backup "$tool" "$ds" "$dir" unchanged
}

restore() { # TOOL DATASET
  local tool=$1 ds=$2 out=$work/restore-$1
  [ "$tool" = bounds ] && return
  sync
  case $tool in
    cairn)
      t cairn "$ds" restore "$cairn" fs restore -q --no-progress --repo "$work/repo-cairn" latest --target "$out"
      t cairn "$ds" snapshots "$cairn" snapshots --repo "$work/repo-cairn" ;;
    restic)
      t restic "$ds" restore "$restic" -q -r "$work/repo-restic" restore latest --target "$out"
      t restic "$ds" snapshots "$restic" -q -r "$work/repo-restic" snapshots ;;
  esac
  sync; rm -rf "$out"
  size_of "$ds" "$tool" "$work/repo-$tool"
}

: > "$work/load.txt"
for run in $(seq "$runs"); do
  echo "bench: run $run of $runs" >&2
  cat /proc/loadavg >> "$work/load.txt"
  data=$work/run-data
  rm -rf "$data"; mkdir -p "$data"; cp -a "$pristine/." "$data/"
  # Write the copy back before timing anything: otherwise the first tool
  # measured shares the CPUs and the disk with the kernel's writeback.
  sync
  order=$only; [ $((run % 2)) -eq 0 ] && order=$(echo $only | tr ' ' '\n' | tac | tr '\n' ' ')
  for tool in $order; do first "$tool" mkdata "$data"; done
  "$mkdata" "$data" --mutate 2 >/dev/null
  sync
  for tool in $order; do
    [ "$tool" = bounds ] && continue
    warm "$data"; backup "$tool" mkdata "$data" mutated
    restore "$tool" mkdata
  done
  for tool in $order; do first "$tool" real "$realdir"; restore "$tool" real; done
done
rm -rf "$work/run-data" "$work"/repo-* "$work"/restore-* "$RESTIC_CACHE_DIR"

python3 - "$results" "$size" "$real" "$runs" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
val = collections.defaultdict(list); rss = collections.defaultdict(int)
for ds, tool, step, secs, kib in rows:
    val[(ds, tool, step)].append(float(secs))
    rss[(ds, tool, step)] = max(rss[(ds, tool, step)], int(kib))
kdf = statistics.median(val[("all", "cairn", "kdf")]) if val.get(("all", "cairn", "kdf")) else 0.0
med = lambda k: statistics.median(val[k]) if val.get(k) else None
def fmt(k, step):
    v = val.get(k)
    if not v: return "–"
    if step == "size": return f"{statistics.median(v)/1e6:.0f} MB"
    s = f"{statistics.median(v):.2f} s"
    if len(v) > 1: s += f" ({min(v):.2f}–{max(v):.2f})"
    return s
print(f"Datasets: mkdata {sys.argv[2]} MiB (hack/mkdata), real = copy of {sys.argv[3]}; "
      f"median (min–max) of {sys.argv[4]} run(s); key derivation {kdf*1000:.0f} ms\n")
print("| dataset | measure | cairn | restic 0.18.1 | machine bound | cairn/bound | target | cairn/restic | cairn RSS | restic RSS | RSS ratio (≤ 0.80) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
bounds = {"first": ("tar \\| b2sum", lambda b: b, 1.6), "unchanged": ("2 × stat walk + KDF", lambda b: 2*b + kdf, 1.0),
          "restore": ("cp -a", lambda b: b, 0.8), "restore-durable": ("cp -a && sync", lambda b: b, 0.8)}
for ds in ("mkdata", "real"):
    for step in ("first", "mutated", "unchanged", "restore", "restore-durable", "snapshots", "size"):
        src = "restore" if step == "restore-durable" else step  # the same cairn and restic restore, another bound
        if step == "restore-durable" and med((ds, "bounds", step)) is None: continue
        c, r = med((ds, "cairn", src)), med((ds, "restic", src))
        if c is None and r is None: continue
        bcol, bratio, tgt = "–", "–", "–"
        if step in bounds and med((ds, "bounds", step)) is not None:
            name, f, lim = bounds[step]
            b = f(med((ds, "bounds", step)))
            bcol = f"{b:.2f} s ({name})"
            if c is not None:
                bratio = f"{c/b:.2f}" + (" ✓" if c/b <= lim else " ✗")
            tgt = f"≤ {lim:.2f}"
        if step == "size":
            tgt = "≤ 1.02 × restic"
        cr = "–"
        if c is not None and r:
            cr = f"{c/r:.2f}" + ((" ✓" if c/r <= 1.02 else " ✗") if step == "size" else "")
        cm, rm = rss.get((ds, "cairn", src), 0), rss.get((ds, "restic", src), 0)
        mib = lambda v: f"{v/1024:.0f} MiB" if v else "–"
        rcol = "–" if not cm or not rm else f"{cm/rm:.2f}" + (" ✓" if cm/rm <= 0.8 else " ✗")
        print(f"| {ds} | {step} | {fmt((ds,'cairn',src), step)} | {fmt((ds,'restic',src), step)} | {bcol} | {bratio} | {tgt} | {cr} | "
              f"{mib(cm)} | {mib(rm)} | {rcol} |")
print("\nLoad average (1 min) at the start of each run: " + ", ".join(l.split()[0] for l in open(sys.argv[1].replace("results.tsv", "load.txt"))))
PY
