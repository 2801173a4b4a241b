#!/usr/bin/env bash
# End-to-end: simulate a world, ingest it, and check that what the store
# holds matches the simulator's own counts (manifest.json); that ingesting
# again changes nothing; that gzip and stdin input give the same store; that
# the simulator is deterministic. usage: e2e.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-e2e-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"

"$BIN" simulate --accounts 150 --months 8 --seed 7 --start 2025-03-01 --out w >/dev/null
DB_a=$(cw_db a)
"$BIN" init --db "$DB_a" >/dev/null 2>&1
"$BIN" ingest --db "$DB_a" --progress never w/*.csv >ingest1.out
"$BIN" status --db "$DB_a" --format json >status.json

python3 - w/manifest.json status.json <<'PY'
import json, sys
from decimal import Decimal
m = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]), parse_float=Decimal)
bad = []
for kind, n in m["rows"].items():
    if kind == "events":
        continue
    if s["rows"].get(kind) != n:
        bad.append(f"rows.{kind}: store {s['rows'].get(kind)} != simulator {n}")
checks = [("events", "events"), ("accounts_active", "active_accounts_at_end"),
          ("seats_active", "seats_active_at_end")]
for sk, mk in checks:
    if s[sk] != m[mk]:
        bad.append(f"{sk}: store {s[sk]} != simulator {mk} {m[mk]}")
# money in major units, exact to the cent: the simulator's minor units / 100
want = Decimal(m["active_mrr_minor_at_end"]) / 100
if s["mrr_active"] != want or str(s["mrr_active"]) != "%.2f" % want:
    bad.append(f"mrr_active: store {s['mrr_active']} != simulator {want}")
if s["currency"] != m["currency"]:
    bad.append("currency differs")
if m["events"] < 10000 or m["rows"]["accounts"] != 150:
    bad.append("world too small to mean anything")
if bad:
    print("\n".join(bad)); sys.exit(1)
print(f"e2e: store matches simulator: {m['events']} events, {m['rows']['accounts']} accounts")
PY

[ "$(cw_integrity "$DB_a")" = ok ] || { echo "integrity check failed"; exit 1; }

# Idempotency: the second ingest writes nothing and the content is identical.
cw_dump "$DB_a" >dump1.sql
"$BIN" ingest --db "$DB_a" --progress never w/*.csv >ingest2.out
cw_dump "$DB_a" >dump2.sql
cmp -s dump1.sql dump2.sql || { echo "re-ingest changed the database"; diff dump1.sql dump2.sql | head; exit 1; }
grep -q "total .* 0 new or changed" ingest2.out || { cat ingest2.out; echo "re-ingest reported changes"; exit 1; }

# Determinism: same seed, same bytes; gzip and stdin give the same events.
"$BIN" simulate --accounts 150 --months 8 --seed 7 --start 2025-03-01 --gzip --out wz >/dev/null
for f in w/*.csv; do
  b=$(basename "$f")
  if [ "$b" = events.csv ]; then
    zcat wz/events.csv.gz | cmp -s - "$f" || { echo "gzip events differ"; exit 1; }
  else
    cmp -s "$f" "wz/$b" || { echo "simulate is not deterministic: $b"; exit 1; }
  fi
done
DB_b=$(cw_db b)
"$BIN" init --db "$DB_b" >/dev/null 2>&1
ls wz/*.csv | grep -v events.csv | xargs "$BIN" ingest --db "$DB_b" --progress never >/dev/null
"$BIN" ingest --db "$DB_b" --progress never wz/events.csv.gz >/dev/null
DB_c=$(cw_db c)
"$BIN" init --db "$DB_c" >/dev/null 2>&1
ls w/*.csv | grep -v events.csv | xargs "$BIN" ingest --db "$DB_c" --progress never >/dev/null
"$BIN" ingest --db "$DB_c" --progress never --kind events - <w/events.csv >/dev/null
q="SELECT account,day,events,$(cw_hex cells),$(cw_hex hashes) FROM event_days ORDER BY 1,2"
[ "$(cw_q "$DB_a" "$q" | md5sum)" = "$(cw_q "$DB_b" "$q" | md5sum)" ] || { echo "gzip ingest differs"; exit 1; }
[ "$(cw_q "$DB_a" "$q" | md5sum)" = "$(cw_q "$DB_c" "$q" | md5sum)" ] || { echo "stdin ingest differs"; exit 1; }

# A different seed gives a different world.
"$BIN" simulate --accounts 150 --months 8 --seed 8 --start 2025-03-01 --out w8 >/dev/null
cmp -s w/events.csv w8/events.csv && { echo "seed has no effect"; exit 1; }
echo "e2e: ok"
