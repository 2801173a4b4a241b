#!/usr/bin/env bash
# The two stores compute the same thing (issue 17, "same behaviour on
# both"): one drop goes through the whole pipeline (run with its ingest,
# metrics history, train, predict, score) once into a SQLite file and once
# into a PostgreSQL database, each on its own. Every table whose content
# depends only on the data (not on the wall clock) must then have the same
# `db digest`: the rows ingested, the event rollups, every metric snapshot
# value bit for bit (a "-0.00" in goal_measurements.csv once gave -0 on
# PostgreSQL and +0 on SQLite), the peers, the scores and the predictions.
# PostgreSQL only (CW_TEST_BACKEND=pg, PGHOST/PGPORT): skipped (77) without.
# usage: backend_parity.sh path/to/churnwatch
set -euo pipefail
BIN=$(realpath "$1")
[ "${CW_TEST_BACKEND:-sqlite}" = pg ] || { echo "SKIP: needs PostgreSQL (CW_TEST_BACKEND=pg)"; exit 77; }
T=$(mktemp -d /tmp/cw-parity-XXXXXX)
. "$(dirname "$(realpath "$0")")/lib/db.sh"
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "backend_parity.sh: $*"; exit 1; }
export CHURNWATCH_CONFIG=/dev/null

"$BIN" simulate --accounts 150 --months 9 --seed 1 --start 2025-01-01 --out drop >/dev/null
rm -rf drop/truth drop/manifest.json
grep -q ',-0\.00$' drop/goal_measurements.csv || fail "the world has no -0.00 measurement any more: pick a seed that has one"
P=$(cw_db parity)
S=$T/s.db
for db in "$S" "$P"; do
  "$BIN" init --db "$db" >/dev/null 2>&1
  rm -rf d && cp -r drop d
  "$BIN" run --db "$db" --drop d --as-of 2025-09-01 >run.out 2>&1 || { cat run.out; fail "run on $db"; }
  "$BIN" metrics --db "$db" --from 2025-02-01 --to 2025-08-31 --every 7d --quiet >/dev/null 2>&1 ||
    fail "metrics on $db"
  "$BIN" train --db "$db" --kind logreg --horizon 30 --min-positives 1 --activate >train.out 2>&1 ||
    { cat train.out; fail "train on $db"; }
  "$BIN" predict --db "$db" >/dev/null 2>&1 || fail "predict on $db"
done

"$BIN" db digest --db "$S" --format csv >s.csv
"$BIN" db digest --db "$P" --format csv >p.csv
# The tables that hold a wall-clock time (ingested_at, created_at, a run's
# start, an outbox message's id in a timestamped payload, a model's
# trained_at) differ by design; every other one must be equal.
same=(accounts users subscriptions features trainings tickets surveys goals goal_measurements journey
  subscription_periods event_names event_days account_metrics account_peers user_metrics scores
  predictions)
n=0
for t in "${same[@]}"; do
  a=$(grep "^$t," s.csv) || fail "db digest has no table $t"
  b=$(grep "^$t," p.csv) || fail "db digest on PostgreSQL has no table $t"
  [ "$(cut -d, -f2 <<<"$a")" -gt 0 ] || [ "$t" = journey ] || [ "$t" = subscription_periods ] ||
    fail "the world has no rows in $t"
  [ "$a" = "$b" ] || fail "table $t differs between SQLite and PostgreSQL: $a / $b"
  n=$((n + 1))
done
# The model itself: the same coefficients, whatever its time stamps say.
cmp -s <("$BIN" predict --db "$S" --format csv 2>/dev/null) <("$BIN" predict --db "$P" --format csv 2>/dev/null) ||
  fail "predict prints differently on the two stores"
echo "backend_parity: $n tables equal on SQLite and PostgreSQL"
