#!/usr/bin/env bash
# Metrics engine benchmark — a measurement, not a test.
#
#   bench/metrics.sh [ACCOUNTS] [MONTHS] [SNAPSHOTS]     (defaults: 10000 24 104)
#
# Simulates a world (10k accounts x 24 months: ~280k users, >100M events),
# ingests it, then measures
#   history    `churnwatch metrics --from .. --to .. --every 7d` for SNAPSHOTS
#              weekly snapshots of the whole catalogue (46 account + 11 user
#              metrics, trends, peer percentiles), stored;
#   one        the same engine for the last date alone;
#   reference  equivalent SQL in SQLite for one snapshot, over the raw events
#              imported with `sqlite3 .import` and indexed by (account, ts): the
#              window metrics that SQL can express directly (see bench/metrics-ref.sql)
#              — a subset of the catalogue, so the ratio is conservative.
# Prints wall times, events/s, peak RSS and the time split as Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-10000} MONTHS=${2:-24} SNAPS=${3:-104}
BIN=$PWD/build/churnwatch
OUT=$PWD/bench/out
mkdir -p "$OUT"
W=$OUT/mworld-$ACCOUNTS-$MONTHS
DB=$OUT/metrics-$ACCOUNTS-$MONTHS.db
if [ ! -f "$W/manifest.json" ]; then
  "$BIN" simulate --accounts "$ACCOUNTS" --months "$MONTHS" --seed 2 --start 2024-01-01 --out "$W" >/dev/null
fi
if [ ! -f "$DB" ]; then
  "$BIN" init --db "$DB" >/dev/null 2>&1
  /usr/bin/time -f "ingest %e s %M KiB" "$BIN" ingest --db "$DB" --progress never "$W"/*.csv | tail -1
fi
EVENTS=$(python3 -c "import json;print(json.load(open('$W/manifest.json'))['events'])")
USERS=$(python3 -c "import json;print(json.load(open('$W/manifest.json'))['rows']['users'])")
# Weekly snapshots ending on the last full week of the period.
read -r FROM TO LAST <<<"$(python3 - "$W/manifest.json" "$SNAPS" <<'PY'
import json, sys, datetime as dt
m = json.load(open(sys.argv[1])); n = int(sys.argv[2])
end = dt.date.fromisoformat(m["end"]) if "end" in m else dt.date.fromisoformat(m["start"]) + dt.timedelta(days=30*m["months"])
to = end - dt.timedelta(days=1)
fr = to - dt.timedelta(days=7*(n-1))
print(fr, to, to)
PY
)"
T=$OUT/metrics-times.txt
# Each timed run starts with no stored snapshots (clearing them is not timed).
clear() { sqlite3 "$DB" "DELETE FROM metric_snapshots; DELETE FROM account_metrics;
  DELETE FROM account_peers; DELETE FROM user_metrics;"; }
clear
/usr/bin/time -f "%e %M" -o "$T.hist1" "$BIN" metrics --db "$DB" --from "$FROM" --to "$TO" --every 7d --threads 1 >/dev/null 2>"$OUT/metrics-hist1.log"
clear
/usr/bin/time -f "%e %M" -o "$T.hist" "$BIN" metrics --db "$DB" --from "$FROM" --to "$TO" --every 7d --threads 2 >/dev/null 2>"$OUT/metrics-hist.log"
clear
/usr/bin/time -f "%e %M" -o "$T.one" "$BIN" metrics --db "$DB" --as-of "$LAST" --format csv >/dev/null 2>"$OUT/metrics-one.log"
REF=$OUT/ref-$ACCOUNTS-$MONTHS.db
if [ ! -f "$REF" ]; then
  sqlite3 "$REF" -cmd ".mode csv" ".import $W/events.csv events" ".import $W/users.csv users" \
    ".import $W/accounts.csv accounts" ".import $W/features.csv features" \
    "CREATE INDEX events_account_ts ON events(account_id, ts);"
fi
DAY=$(python3 -c "import datetime as d;print(d.date.fromisoformat('$LAST'))")
sed "s/@DAY@/$DAY/g" bench/metrics-ref.sql >"$OUT/ref.sql"
/usr/bin/time -f "%e %M" -o "$T.ref" sqlite3 "$REF" <"$OUT/ref.sql" >"$OUT/ref-result.csv"
python3 - "$T" "$EVENTS" "$USERS" "$SNAPS" "$ACCOUNTS" "$OUT/metrics-hist.log" <<'PY'
import sys, re, os
t, events, users, snaps, accounts, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
def rd(p):
    s, k = open(p).read().split(); return float(s), int(k) / 1024
hs, hr = rd(t + ".hist"); h1, h1r = rd(t + ".hist1"); os_, orss = rd(t + ".one"); rs, rr = rd(t + ".ref")
split = open(log).read().strip().splitlines()[-1]
split1 = open(log.replace("hist.log", "hist1.log")).read().strip().splitlines()[-1]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} cores; {accounts} accounts, {users:,} users, {events:,} events")
print()
print("| what | wall s | per snapshot s | events/s (read) | peak RSS MiB | per-snapshot speed vs reference |")
print("|---|---|---|---|---|---|")
print(f"| history: {snaps} weekly snapshots, 1 thread | {h1:.1f} | {h1/snaps:.2f} | {events/h1:,.0f} | {h1r:.0f} | {rs/(h1/snaps):.0f}x |")
print(f"| history: {snaps} weekly snapshots, 2 threads | {hs:.1f} | {hs/snaps:.2f} | {events/hs:,.0f} | {hr:.0f} | {rs/(hs/snaps):.0f}x |")
print(f"| one snapshot | {os_:.1f} | {os_:.2f} | {events/os_:,.0f} | {orss:.0f} | {rs/os_:.1f}x |")
print(f"| reference: SQL, one snapshot (subset) | {rs:.1f} | {rs:.2f} | | {rr:.0f} | 1x |")
print()
print("engine's own split, 1 thread:", split1)
print()
print("engine's own split, 2 threads:", split)
PY
