#!/usr/bin/env bash
# `churnwatch db copy` and `db digest` (docs/operations.md, "Moving a
# database"): a world built by the real pipeline (simulate, init, run with
# its ingest, snapshot, alerts and outbox; metrics history, train) is copied
# into a new database; the digests agree, status and a report print the same
# on both, a non-empty destination is refused without --replace, a wrong
# schema version is refused, and one changed value changes the digest.
# With CW_TEST_BACKEND=pg (the db_copy_pg twin) the same world goes the
# round trip instead: SQLite -> PostgreSQL -> SQLite, equal digests at each
# step, every table of the SQLite end equal to the start, commands and the
# API (`serve` on both ends) answering the same, and the same PostgreSQL
# database named two ways refused.
# usage: db_copy.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-dbcopy-XXXXXX)
SPIDS=()
cleanup() {
  local p
  for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cw_db_cleanup
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
fail() { echo "db_copy.sh: $*" >&2; exit 1; }
export CHURNWATCH_CONFIG=/dev/null

"$BIN" simulate --accounts 80 --months 6 --seed 5 --start 2025-01-01 --out drop >/dev/null
rm -rf drop/truth drop/manifest.json
"$BIN" init --db a.db >/dev/null 2>&1
"$BIN" run --db a.db --drop drop --as-of 2025-06-01 >/dev/null 2>run.err || { cat run.err; fail "run failed"; }
"$BIN" metrics --db a.db --from 2025-02-01 --to 2025-05-31 --every 7d --quiet >/dev/null 2>&1 ||
  fail "metrics failed"
"$BIN" train --db a.db --kind logreg --horizon 30 --min-positives 1 --activate >/dev/null 2>&1 ||
  fail "train failed"
"$BIN" predict --db a.db >/dev/null 2>&1 || fail "predict failed"
"$BIN" token create --db a.db --role read --name copy >/dev/null
for t in accounts users event_days account_metrics alerts outbox api_tokens runs models predictions; do
  [ "$(sqlite3 a.db "SELECT count(*) FROM $t")" -gt 0 ] || fail "the world has no rows in $t"
done

# digest_of DB: the overall digest `db digest` prints.
digest_of() {
  "$BIN" db digest --db "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
}
# copy_ok FROM TO OUT: db copy, both digests equal; prints the digest.
copy_ok() {
  "$BIN" db copy --from "$1" --to "$2" >"$3" 2>"$3.err" || { cat "$3.err"; fail "copy $1 -> $2 failed"; }
  local s d
  s=$(awk '/^source digest:/ {print $3}' "$3")
  d=$(awk '/^destination digest:/ {print $3}' "$3")
  [ -n "$s" ] && [ "$s" = "$d" ] || { cat "$3"; fail "digests differ after copy $1 -> $2"; }
  echo "$s"
}
# start_serve VAR DB: starts `serve` on DB in this shell (so that the EXIT
# trap ends it), its URL in VAR.
start_serve() {
  local o=serve.$RANDOM u
  "$BIN" serve --db "$2" --listen 127.0.0.1:0 >"$o.out" 2>"$o.err" &
  SPIDS+=($!)
  for _ in $(seq 100); do grep -qs 'http://' "$o.out" && break; sleep 0.05; done
  u=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$o.out") || fail "serve on $2 did not start: $(cat "$o.err")"
  printf -v "$1" '%s' "$u"
}

# norm FILE DB: FILE with the name of the database DB (as the header shows it) replaced.
norm() { python3 -c 'import sys; print(open(sys.argv[1]).read().replace(sys.argv[2], "DB"), end="")' "$1" "$2"; }

if cw_is_pg; then
  # ---- the round trip: SQLite -> PostgreSQL -> SQLite ----
  P=$(cw_db pg)
  "$BIN" init --db "$P" >/dev/null 2>&1
  # Timeline entries of one second (A000001): three tickets, written out of
  # id order, and a survey. Both backends must list them newest first, then
  # by type (survey before ticket), then by id (docs/api.md).
  mkdir tie
  printf '%s\n' "ticket_id,account_id,user_id,opened_at,closed_at,category,priority,satisfaction" \
    "TIE-3,A000001,,2025-05-20T12:00:00Z,,other,high," \
    "TIE-1,A000001,,2025-05-20T12:00:00Z,,billing,low," \
    "TIE-2,A000001,,2025-05-20T12:00:00Z,,bug,normal," >tie/tickets.csv
  printf '%s\n' "survey_id,account_id,user_id,type,sent_at,responded_at,score,reason,comment" \
    "TIE-0,A000001,,csat,2025-05-19T12:00:00Z,2025-05-20T12:00:00Z,3,,tie" >tie/surveys.csv
  "$BIN" ingest --db a.db --quiet --progress never tie/tickets.csv tie/surveys.csv 2>tie.err ||
    { cat tie.err; fail "ingest of the tied timeline"; }
  d0=$(digest_of a.db)
  d1=$(copy_ok a.db "$P" topg.out)
  [ "$d1" = "$d0" ] || fail "SQLite -> PostgreSQL: source digest $d1, db digest of a.db $d0"
  [ "$(digest_of "$P")" = "$d0" ] || fail "db digest of the PostgreSQL copy differs"
  grep -Eq "^accounts +80 *$" topg.out || { cat topg.out; fail "accounts not copied to PostgreSQL"; }
  "$BIN" init --db back.db >/dev/null 2>&1
  d2=$(copy_ok "$P" back.db back.out)
  [ "$d2" = "$d0" ] && [ "$(digest_of back.db)" = "$d0" ] || fail "PostgreSQL -> SQLite: digest $d2, want $d0"
  # Every table of the SQLite end holds the start's rows, value for value.
  for t in $(sqlite3 a.db "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"); do
    cmp -s <(sqlite3 a.db ".mode quote" "SELECT * FROM $t ORDER BY 1,2") \
      <(sqlite3 back.db ".mode quote" "SELECT * FROM $t ORDER BY 1,2") || fail "table $t differs after the round trip"
  done
  # The commands print the same on all three.
  for cmd in "status" "status --format json" "report revenue --format csv" "alerts list --format csv" \
    "alerts list --all --format csv" "token list --format csv" "score --no-compute --format csv"; do
    # shellcheck disable=SC2086
    "$BIN" $cmd --db a.db >c.a 2>&1 || fail "'$cmd' on a.db: $(cat c.a)"
    # shellcheck disable=SC2086
    "$BIN" $cmd --db "$P" >c.p 2>&1 || fail "'$cmd' on PostgreSQL: $(cat c.p)"
    # shellcheck disable=SC2086
    "$BIN" $cmd --db back.db >c.b 2>&1 || fail "'$cmd' on back.db: $(cat c.b)"
    cmp -s <(norm c.a a.db) <(norm c.p "$P") || { diff <(norm c.a a.db) <(norm c.p "$P") | head; fail "'$cmd' differs between SQLite and PostgreSQL"; }
    cmp -s <(norm c.a a.db) <(norm c.b back.db) || fail "'$cmd' differs after the round trip"
  done
  # The API answers the same from both ends: lists, facets, every account's page.
  TA=$("$BIN" token create --db a.db --role read --name rt 2>/dev/null)
  TP=$("$BIN" token create --db "$P" --role read --name rt 2>/dev/null)
  start_serve UA a.db
  start_serve UP "$P"
  paths=("accounts?limit=500" "accounts?sort=name&limit=500" "accounts?sort=mrr_at_risk&limit=500"
    facets "alerts?limit=500" "alerts?status=all&limit=500" reports/revenue models backtests)
  for id in $(sqlite3 a.db "SELECT account_id FROM accounts ORDER BY id"); do paths+=("accounts/$id"); done
  for p in "${paths[@]}"; do
    ca=$(curl -sS -o r.a -w '%{http_code}' -H "Authorization: Bearer $TA" "$UA/api/v1/$p")
    cp_=$(curl -sS -o r.p -w '%{http_code}' -H "Authorization: Bearer $TP" "$UP/api/v1/$p")
    [ "$ca" = 200 ] && [ "$cp_" = 200 ] || fail "GET $p: $ca / $cp_"
    cmp -s r.a r.p || { python3 -c 'import json,sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
def walk(x, y, at):
    if type(x) != type(y) or (not isinstance(x, (dict, list)) and x != y):
        print(at, repr(x)[:120], "|", repr(y)[:120]); return True
    if isinstance(x, dict):
        return any(walk(x.get(k), y.get(k), at + "." + k) for k in sorted(set(x) | set(y)))
    if isinstance(x, list):
        if len(x) != len(y): print(at, "lengths", len(x), len(y)); return True
        return any(walk(u, v, f"{at}[{i}]") for i, (u, v) in enumerate(zip(x, y)))
walk(a, b, "")' r.a r.p | head -5; fail "GET $p differs between SQLite and PostgreSQL"; }
  done
  # The tied second of A000001's timeline, in the documented order on both.
  for u in "$UA" "$UP"; do
    curl -sS -o r.t -H "Authorization: Bearer $([ "$u" = "$UA" ] && echo "$TA" || echo "$TP")" "$u/api/v1/accounts/A000001"
    python3 - r.t tie/tickets.csv <<'PY' || fail "the timeline's tie order on $u"
import csv, json, sys
tl = [e for e in json.load(open(sys.argv[1]))["timeline"] if e["at"] == "2025-05-20T12:00:00Z"]
tickets = sorted(csv.DictReader(open(sys.argv[2])), key=lambda r: r["ticket_id"].encode())
want = ["CSAT survey: 3"] + [f'{r["category"]} ticket ({r["priority"]})' for r in tickets]
got = [e["title"] for e in tl]
assert got == want, (got, want)
PY
  done
  # New ids on PostgreSQL continue after the copied ones.
  [ "$(cw_q "$P" "SELECT count(DISTINCT id) FROM api_tokens")" -eq 2 ] || fail "token ids collide on PostgreSQL"
  # The same PostgreSQL database under another name is refused, and left alone.
  n=$(cw_q "$P" "SELECT current_database()")
  set +e
  "$BIN" db copy --from "$P" --to "dbname=$n host=$PGHOST port=$PGPORT" --replace >/dev/null 2>same.err
  rc=$?
  set -e
  [ $rc -eq 2 ] && grep -q "same database" same.err || fail "same PostgreSQL database: exit $rc $(cat same.err)"
  # --replace into PostgreSQL: the SQLite end again, same digest.
  "$BIN" db copy --from back.db --to "$P" --replace >/dev/null 2>rep.err || { cat rep.err; fail "--replace into PostgreSQL"; }
  [ "$(digest_of "$P")" = "$(digest_of back.db)" ] || fail "--replace into PostgreSQL: digests differ"
  echo "db_copy: ok (SQLite -> PostgreSQL -> SQLite, digest $d0, ${#paths[@]} API answers equal)"
  exit 0
fi

# Copy into a fresh database: rows and both digests printed, equal.
"$BIN" init --db b.db >/dev/null 2>&1
"$BIN" db copy --from a.db --to b.db >copy.out 2>copy.err || { cat copy.err; fail "copy failed"; }
src=$(awk '/^source digest:/ {print $3}' copy.out)
dst=$(awk '/^destination digest:/ {print $3}' copy.out)
[ -n "$src" ] && [ "$src" = "$dst" ] || { cat copy.out; fail "digests differ after copy"; }
[ ! -s copy.err ] || { cat copy.err; fail "copy wrote to stderr (no terminal: quiet)"; }
grep -Eq "^accounts +80 *$" copy.out || { cat copy.out; fail "accounts not copied"; }
da=$("$BIN" db digest --db a.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
db=$("$BIN" db digest --db b.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
[ "$da" = "$src" ] && [ "$db" = "$src" ] || fail "db digest: $da / $db, copy said $src"
"$BIN" db digest --db a.db --format csv | head -1 | grep -qx "table,rows,sha256" || fail "digest csv"
[ "$("$BIN" db digest --db a.db --format jsonl | wc -l)" -ge 35 ] || fail "digest jsonl"
"$BIN" db copy --from a.db --to b.db --replace --format json >copy.json
python3 - copy.json <<'EOF' || fail "copy json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["match"] is True and d["source_digest"] == d["destination_digest"], d
assert any(t["table"] == "accounts" and t["rows"] == 80 for t in d["tables"]), d
EOF

# Every table holds the same rows (a dump compares every value's text).
for t in $(sqlite3 a.db "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"); do
  cmp -s <(sqlite3 a.db ".mode quote" "SELECT * FROM $t ORDER BY 1,2") \
    <(sqlite3 b.db ".mode quote" "SELECT * FROM $t ORDER BY 1,2") || fail "table $t differs"
done
# ... and the program sees the same database.
for cmd in "status" "status --format json" "report revenue --format csv" "alerts list --format csv" \
  "token list --format csv"; do
  # shellcheck disable=SC2086
  cmp -s <("$BIN" $cmd --db a.db 2>&1 | sed 's/a\.db/X.db/g') \
    <("$BIN" $cmd --db b.db 2>&1 | sed 's/b\.db/X.db/g') || fail "'$cmd' differs between copies"
done
# New ids continue after the copied ones.
"$BIN" token create --db b.db --role read --name next >/dev/null
[ "$(sqlite3 b.db "SELECT count(DISTINCT id) FROM api_tokens")" -eq 2 ] || fail "token ids collide"

# A non-empty destination is refused without --replace, and left alone.
before=$(sqlite3 b.db "SELECT count(*) FROM api_tokens")
set +e
"$BIN" db copy --from a.db --to b.db >/dev/null 2>ne.err
rc=$?
set -e
[ $rc -eq 2 ] || fail "non-empty destination: exit $rc, want 2"
grep -q "not empty" ne.err || fail "non-empty destination: $(cat ne.err)"
[ "$(sqlite3 b.db "SELECT count(*) FROM api_tokens")" -eq "$before" ] || fail "refused copy wrote"
# --replace empties it first.
"$BIN" db copy --from a.db --to b.db --replace >/dev/null 2>&1 || fail "--replace failed"
[ "$("$BIN" db digest --db b.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" = "$src" ] ||
  fail "--replace: digests differ"

# The same database twice, a missing destination, missing options.
set +e
"$BIN" db copy --from a.db --to ./a.db >/dev/null 2>same.err; rc=$?
[ $rc -eq 2 ] || fail "same database: exit $rc"
ln a.db hard.db
"$BIN" db copy --from sqlite:hard.db --to a.db --replace >/dev/null 2>same.err; rc=$?
[ $rc -eq 2 ] && grep -q "same database" same.err || fail "same database by a hard link: exit $rc $(cat same.err)"
"$BIN" db copy --from a.db --to nowhere.db >/dev/null 2>missing.err; rc=$?
[ $rc -eq 5 ] && grep -q "churnwatch init" missing.err || fail "missing destination: exit $rc $(cat missing.err)"
"$BIN" db copy --from a.db >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no --to: exit $rc"
set -e

# A wrong schema version is refused: a destination newer than the source,
# and a source this build does not read.
"$BIN" init --db c.db >/dev/null 2>&1
sqlite3 c.db "PRAGMA user_version=99"
set +e
"$BIN" db copy --from a.db --to c.db >/dev/null 2>v.err; rc=$?
[ $rc -eq 5 ] && grep -q "schema version" v.err || fail "newer destination: exit $rc $(cat v.err)"
cp a.db old.db
sqlite3 old.db "PRAGMA user_version=3"
"$BIN" init --db d.db >/dev/null 2>&1
"$BIN" db copy --from old.db --to d.db >/dev/null 2>v2.err; rc=$?
[ $rc -eq 5 ] && grep -q "schema version" v2.err || fail "older source: exit $rc $(cat v2.err)"
set -e
[ "$(sqlite3 d.db "SELECT count(*) FROM accounts")" -eq 0 ] || fail "refused copy wrote"

# One changed value (and one changed type) changes the digest, in that table only.
cp b.db e.db
sqlite3 e.db "UPDATE accounts SET seats = seats + 1 WHERE id = (SELECT min(id) FROM accounts)"
de=$("$BIN" db digest --db e.db --format csv)
[ "$(echo "$de" | grep '^\*,' | cut -d, -f3)" != "$src" ] || fail "a changed value kept the digest"
[ "$({ diff <("$BIN" db digest --db b.db --format csv) <(echo "$de") || true; } | grep -c '^>')" -eq 2 ] ||
  fail "more than the accounts table and the total changed"
cp b.db f.db
sqlite3 f.db "UPDATE runs SET exit_code = CAST(CAST(exit_code AS TEXT) AS BLOB) WHERE id = 1"
[ "$(sqlite3 f.db "SELECT typeof(exit_code) FROM runs WHERE id = 1")" = blob ] || fail "setup"
[ "$("$BIN" db digest --db f.db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" != "$src" ] ||
  fail "a changed type kept the digest"
echo "db_copy: ok"
