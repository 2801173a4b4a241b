#!/usr/bin/env bash
# HTTP load benchmark of `churnwatch serve` — a measurement, not a test.
#
#   bench/serve.sh [ACCOUNTS] [SECONDS] [CONNECTIONS]   (defaults: 100000 20 16)
#
# Builds a database of ACCOUNTS accounts with 12 weekly health scores each
# and one active model's predictions for the latest week, synthesised in SQL
# (a simulated world of 100k accounts would be gigabytes of events the at-
# risk list never reads; the list reads only accounts, scores and
# predictions). Then runs wrk (2 threads, CONNECTIONS connections, SECONDS
# each) against:
#   at-risk      GET /api/v1/accounts            (risk sort, page of 50, sparklines)
#   at-risk-red  GET /api/v1/accounts?colour=red&sort=mrr_at_risk
#   page-100     GET /api/v1/accounts?offset=5000
#   search       GET /api/v1/accounts?q=A00123 (substring of name or id)
#   reference    GET /healthz: the same server and HTTP stack without a
#                query, measured in the same run (the ratio shows what the
#                query costs).
# Prints the first (cold) request's time, then requests/s, p50 and p99
# latency under load and the server's peak RSS as a
# Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-100000} SECONDS_=${2:-20} CONNS=${3:-16}
BIN=$PWD/build/churnwatch
OUT=$PWD/bench/out
mkdir -p "$OUT"
DB=$OUT/serve-$ACCOUNTS.db
if [ ! -f "$DB" ]; then
  rm -f "$DB"*
  "$BIN" init --db "$DB" >/dev/null 2>&1
  "$BIN" token list --db "$DB" >/dev/null # creates and migrates the database
  sqlite3 "$DB" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ACCOUNTS)
INSERT INTO accounts(id, account_id, name, segment, owner, contract_start, seats, mrr_minor,
                     currency, renewal_date, status)
SELECT i, printf('A%07d', i), printf('Account %d', i),
       CASE i % 3 WHEN 0 THEN 'smb' WHEN 1 THEN 'mid-market' ELSE 'enterprise' END,
       printf('csm%02d@vendor.example', i % 40), 1704067200, 5 + i % 200,
       10000 + (i * 7919) % 900000, 'USD', 1751241600 + (i % 365) * 86400, 'active'
FROM n;
WITH RECURSIVE w(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM w WHERE k < 11)
INSERT INTO scores(day, account, scorecard, score, colour, change, contrib)
SELECT 20089 + 7 * k, a.id, 'bench', (37 * a.id + 5 * k) % 100,
       CASE WHEN (37 * a.id + 5 * k) % 100 < 40 THEN 2
            WHEN (37 * a.id + 5 * k) % 100 < 70 THEN 1 ELSE 0 END,
       NULL, '{"usage": 1}'
FROM accounts a, w;
INSERT INTO models(id, name, kind, created_at, active, meta, body) VALUES (1, 'bench', 'logreg', 0, 1, '{}', x'00');
INSERT INTO predictions(day, account, model, probability, drivers)
SELECT day, account, 1, (100.0 - score) / 125.0,
       json_array(json_object('metric', 'active_users', 'value', 1, 'contribution', 0.1,
                              'text', 'Active users fell by ' || (account % 50) || '%'))
FROM scores WHERE day = 20089 + 77;
COMMIT;
ANALYZE;
SQL
fi
TOKEN=$("$BIN" token create --db "$DB" --role read --name bench 2>/dev/null)
"$BIN" serve --db "$DB" --listen 127.0.0.1:0 --threads 2 >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 50); do grep -qs http:// "$OUT/serve.out" && break; sleep 0.1; done
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/serve.out")
run() { # label path
  # The first request on a connection's worker builds the in-memory list
  # (and this sort's order): timed apart, then wrk measures steady state.
  local cold
  cold=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$URL$2")
  wrk -t2 -c"$CONNS" -d"${SECONDS_}s" --latency -H "Authorization: Bearer $TOKEN" "$URL$2" >"$OUT/wrk.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$OUT/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk.txt")
  echo "| $1 | \`$2\` | ${cold}s | $rps | $p50 | $p99 | ${non2xx:-0} |"
  echo "$1 $rps" >>"$OUT/rps"
}
: >"$OUT/rps"
echo "| endpoint | path | first request | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|---|"
run "at-risk" "/api/v1/accounts"
run "at-risk-red" "/api/v1/accounts?colour=red&sort=mrr_at_risk"
run "page-100" "/api/v1/accounts?offset=5000"
run "search" "/api/v1/accounts?q=A00123"
run "reference" "/healthz"
awk '{r[$1]=$2} END {printf "\nat-risk / reference throughput ratio: %.4f\n", r["at-risk"] / r["reference"]}' "$OUT/rps"
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$PID/status)"
