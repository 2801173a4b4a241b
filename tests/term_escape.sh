#!/usr/bin/env bash
# Terminal safety (issue 22): control bytes in data never reach a terminal or
# log raw. Fixtures hold ESC ] 0 ; pwned BEL (sets an xterm's title) in an
# enum value (quoted by the ingest error), a C1 CSI (U+009B, which ingest
# accepts) in an account name, and ESC/BEL written into stored text behind
# churnwatch's back (an account name, an alert note). Messages, warnings,
# the quarantine's table, `alerts show/list` and the run's log print them as
# \xNN; csv and json written to a file or pipe keep the exact bytes (JSON
# escaped as \u001b). usage: term_escape.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-term-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "term_escape.sh: $*"; exit 1; }
export CHURNWATCH_CONFIG=
# No raw ESC, BEL, CR, DEL or C1 (U+0080..U+009F) in file $1.
clean() { ! LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1" ||
  { od -c "$1" | head -20; fail "raw control bytes in $1 ($2)"; }; }

"$BIN" simulate --accounts 80 --months 4 --seed 7 --start 2025-01-01 --out drop >/dev/null
rm -rf drop/truth drop/manifest.json
# A bad enum value holding an OSC title sequence, and a C1 CSI in a name.
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nX1,Evil\xc2\x9b31m Co,smb,2025-01-01,3,900,USD,act\x1b]0;pwned\x07ive\nX2,Csi\xc2\x9b2J Ltd,smb,2025-01-01,3,900,USD,active\n' >drop/zz_evil.csv

# 1. ingest: the error quoting the value, on stderr.
set +e
DB_i=$(cw_db i)
"$BIN" init --db "$DB_i" >/dev/null 2>&1
"$BIN" ingest --db "$DB_i" drop/zz_evil.csv >ingest.out 2>ingest.err
rc=$?
set -e
[ $rc -eq 1 ] || fail "ingest of a bad enum: exit $rc, want 1"
clean ingest.err "ingest error"
grep -qF "field 'status': 'act\\x1b]0;pwned\\x07ive'" ingest.err || fail "ingest error: $(cat ingest.err)"

# 2. the daily run quarantines the row; its log is escaped too.
DB_r=$(cw_db r)
"$BIN" init --db "$DB_r" >/dev/null 2>&1
"$BIN" run --db "$DB_r" --drop drop --skip-bad --as-of 2025-05-01 --deliver no >run.out 2>run.err ||
  { cat run.err; fail "run failed"; }
clean run.err "run log"
grep -qF 'pwned' run.err || true
[ "$(cw_q "$DB_r" "SELECT count(*) FROM accounts WHERE account_id = 'X2'")" -eq 1 ] || fail "X2 not stored"

# 3. the quarantine: the table is escaped, csv/json to a file are exact.
"$BIN" quarantine list --db "$DB_r" >q.table
clean q.table "quarantine table"
grep -qF 'act\x1b]0;pwned\x07ive' q.table || fail "quarantine table: $(cat q.table)"
"$BIN" quarantine list --db "$DB_r" --format json >q.json
grep -qF 'act\u001b]0;pwned\u0007ive' q.json || fail "quarantine json: $(cat q.json)"
python3 -c 'import json,sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
assert any("act\x1b]0;pwned\x07ive" in r["record"] and "Evil\x9b31m" in r["record"] for r in rows), rows' \
  q.json || fail "quarantine json is not exact"
"$BIN" quarantine list --db "$DB_r" --format csv >q.csv
LC_ALL=C grep -qaF "$(printf 'act\x1b]0;pwned\x07ive')" q.csv || fail "quarantine csv is not exact"

# 4. stored text with control bytes (written behind churnwatch's back): the
# account name and an alert's note and actor, in `alerts ack/show/list`.
id=$(cw_q "$DB_r" "SELECT min(id) FROM alerts")
acct=$(cw_q "$DB_r" "SELECT account FROM alerts WHERE id = $id")
ch=char # chr() on PostgreSQL
cw_is_pg && ch=chr
cw_q "$DB_r" "UPDATE accounts SET name = 'Evil' || $ch(27) || ']0;pwned' || $ch(7) || ' Co' || $ch(155) WHERE id = $acct"
"$BIN" alerts ack "$id" --db "$DB_r" --by "$(printf 'eve\x1b[2J')" --note "$(printf 'ok\x07\x7f\r')" >ack.out 2>&1
clean ack.out "alerts ack"
"$BIN" alerts show "$id" --db "$DB_r" >show.out
clean show.out "alerts show"
grep -qF 'Evil\x1b]0;pwned\x07 Co\xc2\x9b' show.out || fail "alerts show name: $(cat show.out)"
grep -qF 'eve\x1b[2J' show.out && grep -qF 'ok\x07\x7f\x0d' show.out || fail "alerts show history: $(cat show.out)"
"$BIN" alerts list --db "$DB_r" >list.out
clean list.out "alerts list"

# 5. on a terminal even csv is escaped (a person reads it there).
if command -v script >/dev/null 2>&1; then
  script -qec "$BIN quarantine list --db '$DB_r' --format csv" /dev/null >tty.out </dev/null || true
  tr -d '\r' <tty.out >tty.txt
  clean tty.txt "csv on a terminal"
  grep -qF 'act\x1b]0;pwned\x07ive' tty.txt || fail "csv on a terminal: $(cat tty.txt)"
fi
echo "term_escape.sh: ok"
