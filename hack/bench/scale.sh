#!/usr/bin/env bash
# Memory of cairn as the data grows: first backup, unchanged backup,
# restore and prune of 1×, 4× and 16× a dataset, wall time and peak RSS of
# each. The prune frees about half: a backup of half the trees is made,
# the two full ones are forgotten, and prune deletes (or rewrites) the
# packs only they used.
#
#   hack/bench/scale.sh [--size MiB] [--factors "1 4 16"]
#
# The k× dataset is k different mkdata trees of --size MiB each (seeds
# 1..k, hack/mkdata), so k× has k times the files, blobs and
# bytes, and nothing deduplicates between them. CAIRN_BIN=path measures that
# binary (default bin/cairn-fs, `make build-fs`). It also prints the number
# of blobs in the index, since the index is what grows with the data.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=256 factors="1 4 16"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --factors) factors=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
if [ -n "${CAIRN_BIN:-}" ]; then cairn=$(realpath "$CAIRN_BIN"); else make -s build-fs; cairn=$PWD/bin/cairn-fs; fi
work=${BENCH_DIR:-$PWD/.cache/bench-scale}
mkdir -p "$work"
mkdata=${MKDATA:-}
[ -n "$mkdata" ] || { go build -o "$work/mkdata" ./hack/mkdata; mkdata=$work/mkdata; }
export CAIRN_PASSWORD=bench-passphrase
max=0; for k in $factors; do [ "$k" -gt "$max" ] && max=$k; done
for s in $(seq "$max"); do
  d=$work/mkdata-seed-$s
  [ -d "$d" ] || { echo "bench: creating $d" >&2; "$mkdata" "$d.tmp" --size "$size" --seed "$s" >/dev/null && mv "$d.tmp" "$d"; }
done
t() { # LABEL CMD...
  local label=$1; shift
  /usr/bin/time -o "$work/time.txt" -f "%e %M" "$@" >/dev/null 2>"$work/err.log" || { cat "$work/err.log" >&2; exit 1; }
  read -r secs rss < <(tail -n 1 "$work/time.txt")
  printf ' %s s, %s MiB |' "$secs" $((rss / 1024))
}
echo "| data | files | bytes | blobs | packs | first backup | unchanged backup | restore | prune (packs deleted/rewritten) |"
echo "|---|---:|---:|---:|---:|---|---|---|---|"
for k in $factors; do
  rm -rf "$work/repo" "$work/out"
  dirs=(); for s in $(seq "$k"); do dirs+=("$work/mkdata-seed-$s"); done
  "$cairn" repo init -q --repo "$work/repo"
  files=$(find "${dirs[@]}" -type f | wc -l); bytes=$(du -scb "${dirs[@]}" | tail -n 1 | cut -f1)
  line="| ${k}× | $files | $((bytes / 1048576)) MiB |"
  find "${dirs[@]}" -type f -print0 | xargs -0 cat >/dev/null
  r1=$(t first "$cairn" fs backup -q --no-progress --repo "$work/repo" "${dirs[@]}")
  r2=$(t unchanged "$cairn" fs backup -q --no-progress --repo "$work/repo" "${dirs[@]}")
  sync
  r3=$(t restore "$cairn" fs restore -q --no-progress --repo "$work/repo" latest --target "$work/out")
  stats=$("$cairn" repo stats -o json --repo "$work/repo" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("blobs","?"), "|", d.get("packs","?"))' 2>/dev/null || echo "? | ?")
  half=("${dirs[@]:0:$(( (k + 1) / 2 ))}")
  "$cairn" fs backup -q --no-progress --repo "$work/repo" "${half[@]}"
  old=$("$cairn" snapshots -o json --repo "$work/repo" | python3 -c 'import json,sys; s=sorted(json.load(sys.stdin), key=lambda x: x["time"]); print(" ".join(x["id"] for x in s[:-1]))')
  "$cairn" forget -q --repo "$work/repo" $old
  r4=$(t prune "$cairn" repo prune -q --no-progress --repo "$work/repo")
  echo "$line $stats |$r1$r2$r3$r4"
  rm -rf "$work/repo" "$work/out"
done
