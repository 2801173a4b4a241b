#!/usr/bin/env bash
# Crash safety: kill -9 an ingest at several moments; the database must pass
# SQLite's integrity check (on PostgreSQL: answer) and hold either none or all of the batch, and a
# re-run must then complete. usage: kill9.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-kill9-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
"$BIN" simulate --accounts 300 --months 12 --seed 11 --out w >/dev/null
expected=$(python3 -c 'import json;print(json.load(open("w/manifest.json"))["events"])')
DB_k=$(cw_db k)
"$BIN" init --db "$DB_k" >/dev/null 2>&1
ls w/*.csv | grep -v events.csv | xargs "$BIN" ingest --db "$DB_k" --progress never >/dev/null
killed_mid=0
for delay in 0.05 0.2 0.5 1.0 1.5; do
  "$BIN" ingest --db "$DB_k" --progress never w/events.csv >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; killed_mid=$((killed_mid + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ "$(cw_integrity "$DB_k")" = ok ] || { echo "integrity check failed after kill at ${delay}s"; exit 1; }
  n=$(cw_q "$DB_k" 'SELECT coalesce(sum(events),0) FROM event_days')
  days=$(cw_q "$DB_k" 'SELECT count(*) FROM event_days')
  if [ "$n" != 0 ] && [ "$n" != "$expected" ]; then
    echo "after kill at ${delay}s: $n events stored, expected 0 or $expected"; exit 1
  fi
  if [ "$n" = 0 ] && [ "$days" != 0 ]; then echo "event days kept without events"; exit 1; fi
  [ "$n" = "$expected" ] && break
  echo "kill9: killed at ${delay}s: none of the batch landed (ok)"
done
[ $killed_mid -ge 1 ] || { echo "kill9: the ingest always finished before the kill; test proves nothing"; exit 1; }
"$BIN" ingest --db "$DB_k" --progress never w/events.csv >/dev/null
n=$(cw_q "$DB_k" 'SELECT sum(events) FROM event_days')
[ "$n" = "$expected" ] || { echo "after re-run: $n events, expected $expected"; exit 1; }
echo "kill9: ok ($killed_mid mid-ingest kills, $expected events after re-run)"
