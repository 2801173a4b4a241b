#!/usr/bin/env bash
# bench/evaluate.sh [ACCOUNTS] [RUNS] [BIN...] — the first evaluation of a
# customer base (not a test).
#
# A world of ACCOUNTS accounts (default 2000, 12 months, seed 7) is
# ingested, its last weekly snapshot computed and scored once; then each
# run copies that database and times `churnwatch evaluate` on the day with
# the stock rule pack: every account already off track opens an alert and
# queues one outbox row per playbook action (~28k rows at 2000 accounts).
# The reference, measured in the same run, is `evaluate --backfill`: the same
# alerts without the playbooks, i.e. without the outbox inserts. Every BIN
# given (default build/churnwatch) is timed the same way, so an older build
# can be compared. Prints a Markdown table of medians over RUNS runs (default
# 3) with peak RSS (/usr/bin/time -v).
set -euo pipefail
N=${1:-2000}
RUNS=${2:-3}
shift 2 2>/dev/null || shift $#
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BINS=()
for b in "$@"; do BINS+=("$(realpath "$b")"); done
[ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/build/churnwatch")
W=$(mktemp -d /tmp/cw-bench-evaluate-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
B0=${BINS[0]}
DAY=2025-12-29
"$B0" simulate --accounts "$N" --months 12 --seed 7 --start 2025-01-01 --out w >/dev/null
"$BIN" init --db base.db >/dev/null 2>&1
"$B0" ingest --db base.db w/*.csv >/dev/null 2>&1
"$B0" metrics --db base.db --as-of $DAY >/dev/null 2>&1
"$B0" score --db base.db --as-of $DAY --quiet >/dev/null 2>&1
unset CHURNWATCH_CONFIG # the stock pack and defaults
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
one() { # bin, extra args -> "seconds rss_kib rows"
  rm -f r.db r.db-wal r.db-shm
  cp base.db r.db
  "$BIN" init --db r.db >/dev/null 2>&1
  /usr/bin/time -f '%e %M' -o t.txt "$1" evaluate --db r.db --as-of $DAY --quiet "${@:2}"
  echo "$(cat t.txt) $(sqlite3 r.db 'SELECT count(*) FROM outbox')"
}
echo "| binary | what | median s | peak RSS MiB | outbox rows |"
echo "|---|---|---|---|---|"
for b in "${BINS[@]}"; do
  for mode in evaluate backfill; do
    # an older build without --backfill: its evaluate only
    [ $mode = backfill ] && ! grep -q -- --backfill "$b" && continue
    : >res.txt
    for _ in $(seq "$RUNS"); do
      if [ $mode = backfill ]; then one "$b" --backfill >>res.txt; else one "$b" >>res.txt; fi
    done
    s=$(cut -d' ' -f1 res.txt | median)
    m=$(cut -d' ' -f2 res.txt | median)
    rows=$(cut -d' ' -f3 res.txt | head -1)
    printf '| %s | %s | %s | %.1f | %s |\n' "$(basename "$b")" "$mode" "$s" "$(echo "$m / 1024" | bc -l)" "$rows"
  done
done
