#!/usr/bin/env bash
# Events ingested in many small batches (ingest.batch_rows = 1024), out of
# order and overlapping, end up exactly as the CSV says: for every
# account-day, event_days holds the number of distinct events (by event_id,
# or by content when it has none), and its cells
# the per-(user, event) counts and value sums, recomputed here in Python from
# the simulator's events.csv. The batches read and write their account-days
# together (on PostgreSQL: COPY into temporary tables, one join, one upsert;
# docs/architecture.md, "Ingest"), so this covers a batch whose days are
# partly stored (the overlap), whose stored rows come back in another order
# than the file's (the shuffled second part) and whose every event is a
# duplicate (the whole file again), each with the counts the ingest reports.
# usage: ingest_batches.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-ingest-batches-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" simulate --accounts 25 --months 3 --seed 7 --out w >/dev/null
DB=$(cw_db batches)
"$BIN" init --db "$DB" >/dev/null 2>&1
"$BIN" ingest --db "$DB" --progress never w/accounts.csv w/users.csv >/dev/null

# part1: the first 60 % of the events in file order; part2: the last 60 %
# (so 20 % overlap), shuffled with a fixed seed.
python3 - w/events.csv <<'PY'
import random, sys
lines = open(sys.argv[1]).read().splitlines(True)
head, rows = lines[0], lines[1:]
n = len(rows)
a, b = rows[: n * 6 // 10], rows[n * 4 // 10 :]
random.Random(11).shuffle(b)
open("part1.csv", "w").writelines([head] + a)
open("part2.csv", "w").writelines([head] + b)
open("counts", "w").write(f"{n} {len(a)} {len(b)} {len(a) + len(b) - n}\n")
PY
read -r N N1 N2 OVER <counts
[ "$N" -gt 20000 ] || fail "the world has only $N events: too few batches"

# ingest FILE: "new duplicates" from the summary line.
ingest() {
  "$BIN" --set ingest.batch_rows=1024 ingest --db "$DB" --progress never "$1" |
    sed -n 's/^  total .*rows, \([0-9]*\) new or changed, .* \([0-9]*\) duplicates skipped.*/\1 \2/p'
}
[ "$(ingest part1.csv)" = "$N1 0" ] || fail "part1: expected $N1 new, 0 duplicates"
[ "$(ingest part2.csv)" = "$((N2 - OVER)) $OVER" ] ||
  fail "part2: expected $((N2 - OVER)) new, $OVER duplicates"
[ "$(ingest w/events.csv)" = "0 $N" ] || fail "the whole file again: expected 0 new, $N duplicates"

cw_q "$DB" "SELECT a.account_id, e.day, e.events, $(cw_hex e.cells) FROM event_days e
            JOIN accounts a ON a.id = e.account ORDER BY a.account_id, e.day" >stored
cw_q "$DB" "SELECT u.id, u.user_id FROM users u ORDER BY u.id" >users
cw_q "$DB" "SELECT id, name FROM event_names ORDER BY id" >names
python3 - w/events.csv stored users names <<'PY'
import csv, struct, sys, datetime as dt
from collections import defaultdict
want_n, want_cells, seen = defaultdict(int), defaultdict(lambda: [0, 0.0]), set()
for r in csv.DictReader(open(sys.argv[1])):
    # identity: the event_id, else the content (as ingest hashes it)
    ident = r["event_id"] or (r["account_id"], r["user_id"], r["event"], r["ts"],
                              float(r["value"]) if r["value"] else 0.0)
    if ident in seen:
        continue
    seen.add(ident)
    t = dt.datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    key = (r["account_id"], int(t.timestamp()) // 86400)
    want_n[key] += 1
    c = want_cells[key + (r["user_id"], r["event"])]
    c[0] += 1
    c[1] += float(r["value"]) if r["value"] else 0.0
users = {int(i): u for i, u in (l.rstrip("\n").split("|") for l in open(sys.argv[3]))}
names = {int(i): n for i, n in (l.rstrip("\n").split("|") for l in open(sys.argv[4]))}
got_n, got_cells = {}, {}
for l in open(sys.argv[2]):
    acc, day, events, cells = l.rstrip("\n").split("|")
    key = (acc, int(day))
    got_n[key] = int(events)
    b = bytes.fromhex(cells)
    for i in range(0, len(b), 20):
        u, e, n, v = struct.unpack("<IIId", b[i : i + 20])
        got_cells[key + (users.get(u, "") if u else "", names[e])] = [n, v]
assert got_n == dict(want_n), "event counts per account-day differ from the CSV"
assert set(got_cells) == set(want_cells), "the cells' (user, event) keys differ from the CSV"
for k, (n, v) in want_cells.items():
    assert got_cells[k][0] == n and abs(got_cells[k][1] - v) < 1e-6 * max(1.0, abs(v)), (k, got_cells[k], (n, v))
print(f"ok: {len(seen)} events, {len(got_n)} account-days, {len(got_cells)} cells")
PY
echo "ingest_batches: ok"
