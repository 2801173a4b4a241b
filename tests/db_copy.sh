#!/usr/bin/env bash
# `churnwatch db copy` and `db digest` (docs/operations.md, "Moving a
# database"): a world built by the real pipeline (simulate, init, run with
# its ingest, snapshot, alerts and outbox; metrics history, train) is copied
# into a new database; the digests agree, status and a report print the same
# on both, a non-empty destination is refused without --replace, a wrong
# schema version is refused, and one changed value changes the digest.
# usage: db_copy.sh path/to/churnwatch
set -euo pipefail
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-dbcopy-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "db_copy.sh: $*"; exit 1; }
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
