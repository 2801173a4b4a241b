#!/usr/bin/env bash
# Issue 17's concurrency promises on one PostgreSQL database, with the real
# pipeline on a small simulated world (PostgreSQL only: exit 77 otherwise):
# 1. two `run`s of one day started together: one runs, the other exits 7
#    naming the holder; with --wait both succeed and the content equals one
#    run on a clone; a run killed with -9 while holding the lock leaves it free;
# 2. two `deliver`s against one outbox of a few hundred webhooks: each message
#    reaches the receiver (tests/receiver.py) exactly once;
# 3. two `serve`s answering API requests in a loop while a `run` of the next
#    day and an `ingest` write: no failed request, then both serve the new day;
# 4. the API's change counter (cw_api_version, the accounts cache's data
#    version on PostgreSQL): the servers' reads, an `alerts ack` and an ack
#    through a server leave it alone; an `ingest` renaming an account and a `score --recompute` raise
#    it, and the running servers' next answer (the at-risk list's search,
#    served from their cache) shows the new name.
# usage: pg_concurrency.sh path/to/churnwatch path/to/tests
set -euo pipefail
if [ "${CW_TEST_BACKEND:-sqlite}" != pg ]; then
  echo "SKIP: pg_concurrency.sh needs CW_TEST_BACKEND=pg"
  exit 77
fi
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
HERE=$(realpath "$2")
T=$(mktemp -d /tmp/cw-pgconc-XXXXXX)
PIDS=()
cleanup() {
  local p
  touch "$T/stop" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cw_db_cleanup
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
export CHURNWATCH_CONFIG=
fail() { echo "pg_concurrency.sh: FAIL: $*"; exit 1; }
note() { echo "pg_concurrency.sh: $*"; }
DAY1=2025-06-02
DAY2=2025-06-09

# The wall-clock columns (when a row was written) differ between any two
# runs; made equal here, on a database nobody uses any more, before digests.
normalize() {
  cw_q "$1" "UPDATE metric_snapshots SET computed_at = 0; UPDATE scorecards SET created_at = 0;
    UPDATE outbox SET next_at = next_at - created_at, created_at = 0;
    UPDATE alerts SET created_at = 0; UPDATE alert_events SET at = 0;
    UPDATE alert_days SET at = 0" >/dev/null
}
# Per-table digests of DB (db digest, CSV) without the run log and the total.
digests() { "$BIN" db digest --db "$1" --format csv | grep -v -e '^runs,' -e '^\*,'; }
# Whether any session holds an advisory lock in DB (the run lock).
lock_held() {
  [ "$(cw_q "$1" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" != 0 ]
}

"$BIN" simulate --accounts 200 --months 6 --seed 7 --start 2025-01-01 --out world >/dev/null
rm -rf world/truth world/manifest.json
BASE=$(cw_db base)
"$BIN" init --db "$BASE" >/dev/null 2>&1
"$BIN" ingest --db "$BASE" --quiet --progress never world/*.csv

# The reference: one run of DAY1 on a clone.
REF=$(cw_db_clone "$BASE" ref)
"$BIN" run --db "$REF" --as-of $DAY1 --deliver no 2>ref.err || { cat ref.err; fail "reference run"; }
grep -q "1 snapshot computed" ref.err || fail "reference run: $(cat ref.err)"
normalize "$REF"
digests "$REF" >ref.dig

# --- 1a. two runs at the same moment: one runs, the other exits 7 ------------------------
R1=$(cw_db_clone "$BASE" r1)
mkdir -p a/drop b/drop
(cd a && exec "$BIN" run --db "$R1" --drop drop --as-of $DAY1 --deliver no 2>../a.err) &
pa=$!
(cd b && exec "$BIN" run --db "$R1" --drop drop --as-of $DAY1 --deliver no 2>../b.err) &
pb=$!
set +e
wait $pa
ra=$?
wait $pb
rb=$?
set -e
if [ $ra -eq 0 ] && [ $rb -eq 7 ]; then
  win=$pa lose=b.err
elif [ $ra -eq 7 ] && [ $rb -eq 0 ]; then
  win=$pb lose=a.err
else
  cat a.err b.err
  fail "two runs at once: exits $ra and $rb, want 0 and 7"
fi
grep -q "^churnwatch: run: another run is in progress (churnwatch run pid $win host $(hostname) since [0-9-]* [0-9:]* UTC)$" $lose ||
  fail "refusal does not name the holder (pid $win): $(cat $lose)"
[ "$(wc -l <$lose)" -eq 1 ] || fail "the refused run did something: $(cat $lose)"
[ "$(cw_q "$R1" "SELECT count(*) FROM runs")" = 1 ] || fail "run log: $(cw_q "$R1" "SELECT * FROM runs")"
lock_held "$R1" && fail "run lock still held after both runs ended"
normalize "$R1"
digests "$R1" >r1.dig
diff ref.dig r1.dig || fail "one run + one refused differs from a single run"
note "1a. two runs at once: exits $ra / $rb; refused: $(cat $lose)"

# --- 1b. the same with --wait 120: both run, one after the other -------------------------
R2=$(cw_db_clone "$BASE" r2)
"$BIN" run --db "$R2" --as-of $DAY1 --deliver no --wait 120 2>a.err &
pa=$!
"$BIN" run --db "$R2" --as-of $DAY1 --deliver no --wait 120 2>b.err &
pb=$!
set +e
wait $pa
ra=$?
wait $pb
rb=$?
set -e
[ $ra -eq 0 ] && [ $rb -eq 0 ] || { cat a.err b.err; fail "--wait 120: exits $ra and $rb, want 0 and 0"; }
# one computed the day, the other found it stored
c=$(cat a.err b.err | grep -c "metrics: 1 snapshot computed, 0 already stored" || true)
s=$(cat a.err b.err | grep -c "metrics: 0 snapshot computed, 1 already stored" || true)
[ "$c" = 1 ] && [ "$s" = 1 ] || { cat a.err b.err; fail "--wait: the runs overlapped ($c computed, $s stored)"; }
[ "$(cw_q "$R2" "SELECT count(*) FROM runs WHERE exit_code = 0 AND ended_at IS NOT NULL")" = 2 ] ||
  fail "run log: $(cw_q "$R2" "SELECT * FROM runs")"
# they did not overlap: one began after the other ended
cw_q "$R2" "SELECT max(started_at) - min(ended_at) FROM runs" | grep -qv '^-' ||
  fail "runs overlapped: $(cw_q "$R2" "SELECT * FROM runs")"
# R2 serves part 3: its digest on a clone, normalised there
R2N=$(cw_db_clone "$R2" r2n)
normalize "$R2N"
digests "$R2N" >r2.dig
diff ref.dig r2.dig || fail "two waiting runs differ from a single run"
note "1b. two runs with --wait 120: both exit 0, content equals a single run"

# --- 1c. a run killed with -9 while it holds the lock leaves it free -----------------------
"$BIN" run --db "$R1" --as-of $DAY2 --deliver no 2>k.err &
pk=$!
for _ in $(seq 200); do lock_held "$R1" && break; sleep 0.05; done
lock_held "$R1" || fail "the run to kill never held the lock: $(cat k.err)"
kill -0 $pk 2>/dev/null || fail "the run ended before the kill; the test proves nothing"
kill -9 $pk
wait $pk 2>/dev/null || true
# the server ends the session when it sees the connection closed
for _ in $(seq 100); do lock_held "$R1" || break; sleep 0.1; done
lock_held "$R1" && fail "the killed run's lock is still held after 10 s"
"$BIN" run --db "$R1" --as-of $DAY2 --deliver no 2>k2.err || { cat k2.err; fail "the run after kill -9"; }
grep -q "^evaluate $DAY2" k2.err || fail "the run after kill -9 did not evaluate: $(cat k2.err)"
note "1c. run killed with -9 holding the lock: lock released, the next run exits 0"

# --- 2. two deliverers on one outbox: every message sent exactly once ----------------------
N=300
SECRET=s3cret-for-tests
python3 "$HERE/receiver.py" "$T" "$SECRET" &
PIDS+=($!)
for _ in $(seq 100); do [ -f ports ] && break; sleep 0.05; done
read -r HP _ <ports
export CW_TEST_SECRET=$SECRET
DB_d=$(cw_db deliver)
# One message a claim: the two deliverers select and claim all the time, so
# a claim that does not exclude the other's (without FOR UPDATE SKIP LOCKED
# and the attempts check) sends dozens of messages twice here.
cat >deliver.conf <<EOF
[store]
db = $DB_d
[deliver]
batch = 1
lease_s = 300
[action.hook]
type = webhook
url = http://127.0.0.1:$HP/okslow
secret_env = CW_TEST_SECRET
EOF
"$BIN" init --db "$DB_d" >/dev/null 2>&1
T0=1741132800
cw_q "$DB_d" "INSERT INTO outbox(idem_key, action, payload, next_at, created_at)
  SELECT 'alert:' || g || ':hook', 'hook', '{\"alert_id\":' || g || '}', $T0, $T0
  FROM generate_series(1, $N) AS g" >/dev/null
CHURNWATCH_CONFIG=$T/deliver.conf "$BIN" deliver --now $T0 2>d1.log &
p1=$!
CHURNWATCH_CONFIG=$T/deliver.conf "$BIN" deliver --now $T0 2>d2.log &
p2=$!
wait $p1 || { cat d1.log; fail "deliverer 1"; }
wait $p2 || { cat d2.log; fail "deliverer 2"; }
[ "$(cw_q "$DB_d" "SELECT count(*) FROM outbox WHERE status = 1 AND attempts = 1")" = $N ] ||
  fail "outbox: $(cw_q "$DB_d" "SELECT status, attempts, count(*) FROM outbox GROUP BY 1, 2")"
python3 - $N <<'PY' || fail "receiver"
import collections, json, sys
n = int(sys.argv[1])
reqs = [json.loads(l) for l in open("http.jsonl") if l.strip()]
keys = collections.Counter(r["key"] for r in reqs if r["path"] == "/okslow")
twice = [k for k, c in keys.items() if c > 1]
assert not twice, "sent more than once: %s" % twice[:10]
assert len(keys) == n, "%d distinct keys at the receiver, want %d" % (len(keys), n)
assert all(r["sig_ok"] for r in reqs), "a bad signature"
PY
d1=$(grep -c ': delivered$' d1.log || true)
d2=$(grep -c ': delivered$' d2.log || true)
[ $((d1 + d2)) = $N ] || fail "deliverers report $d1 + $d2 delivered, want $N"
[ "$d1" -gt 0 ] && [ "$d2" -gt 0 ] || fail "one deliverer did everything ($d1 / $d2): the test proves nothing"
note "2. two deliverers: $d1 + $d2 of $N messages, each key once at the receiver"

# --- 3. two servers answer while a run and an ingest write -------------------------------
TOK=$("$BIN" token create --db "$R2" --role read --name concurrency 2>/dev/null)
# start_serve N: a server on a free port (in this shell, so that the EXIT
# trap ends it), its base URL in UN.
start_serve() {
  "$BIN" serve --db "$R2" --listen 127.0.0.1:0 >"serve$1.out" 2>"serve$1.err" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q 'http://' "serve$1.out" 2>/dev/null && break; sleep 0.05; done
  local u
  u=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "serve$1.out") || fail "serve $1 did not start: $(cat "serve$1.err")"
  printf -v "U$1" '%s' "$u"
}
start_serve 1
start_serve 2
[ "$U1" != "$U2" ] || fail "both servers on $U1"
PATHS=("accounts?sort=name&limit=20" "alerts?limit=20" facets "reports/revenue" "accounts/A000001" session)
get() { curl -sS --max-time 20 -o "$3" -w '%{http_code}' -H "Authorization: Bearer $TOK" "$1/api/v1/$2"; }
# hammer URL N: requests in a loop until the file stop exists; codes to codesN
hammer() {
  local p code
  while [ ! -e stop ]; do
    for p in "${PATHS[@]}"; do
      code=$(get "$1" "$p" "body$2" 2>>"curl$2.err") || code="curl-exit-$?"
      echo "$code $p" >>codes$2
    done
  done
}
hammer "$U1" 1 &
h1=$!
hammer "$U2" 2 &
h2=$!
PIDS+=("$h1" "$h2")
"$BIN" ingest --db "$R2" --quiet --progress never world/events.csv world/tickets.csv 2>ing.err &
pi=$!
"$BIN" run --db "$R2" --as-of $DAY2 --deliver no 2>run2.err || { cat run2.err; fail "run of $DAY2 beside the servers"; }
wait $pi || { cat ing.err; fail "ingest beside the servers and the run"; }
sleep 1
touch stop
wait $h1 $h2
bad=$(cat codes1 codes2 | grep -cv '^200 ' || true)
total=$(cat codes1 codes2 | wc -l)
[ "$bad" = 0 ] || { cat codes1 codes2 | grep -v '^200 ' | sort | uniq -c | head; cat curl*.err serve*.err | head; fail "$bad of $total requests failed"; }
[ "$total" -gt 50 ] || fail "only $total requests: the test proves nothing"
for p in "${PATHS[@]}"; do
  get "$U1" "$p" one.json >/dev/null
  get "$U2" "$p" two.json >/dev/null
  cmp -s one.json two.json || fail "the servers differ on $p: $(head -c 300 one.json) / $(head -c 300 two.json)"
done
for u in "$U1" "$U2"; do
  [ "$(get "$u" facets f.json)" = 200 ] && grep -q "\"as_of\":\"$DAY2\"" f.json ||
    fail "$u does not serve $DAY2: $(cat f.json)"
done
note "3. two servers: $total requests during a run and an ingest, all 200; both serve $DAY2"

# --- 4. the API's change counter -----------------------------------------------------------
ver() { cw_q "$R2" "SELECT n FROM cw_api_version"; }
# found U QUERY: the at-risk list's total for search QUERY on server U
found() {
  [ "$(get "$1" "accounts?q=$2&limit=5" t.json)" = 200 ] || fail "accounts?q=$2 on $1: $(cat t.json)"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' t.json
}
NEW="Zq Renamed Holdings"
for u in "$U1" "$U2"; do [ "$(found "$u" zq%20renamed)" = 0 ] || fail "$u: $NEW before the rename"; done
v0=$(ver)
for _ in 1 2 3; do
  for p in "${PATHS[@]}"; do get "$U1" "$p" r1.json >/dev/null; get "$U2" "$p" r2.json >/dev/null; done
done
[ "$(ver)" = "$v0" ] || fail "reads moved the change counter: $v0 -> $(ver)"
# An alert acknowledged by another process: served at once, the counter stays.
AID=$(cw_q "$R2" "SELECT min(id) FROM alerts WHERE status = 1")
[ -n "$AID" ] || fail "no open alert to acknowledge"
AACC=$(cw_q "$R2" "SELECT a.account_id FROM alerts l JOIN accounts a ON a.id = l.account WHERE l.id = $AID")
"$BIN" alerts ack "$AID" --db "$R2" --by counter-test >/dev/null 2>ack.err || { cat ack.err; fail "alerts ack"; }
[ "$(ver)" = "$v0" ] || fail "alerts ack moved the change counter: $v0 -> $(ver)"
for u in "$U1" "$U2"; do
  [ "$(get "$u" "alerts?account=$AACC&limit=500" a.json)" = 200 ] &&
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
assert any(a["id"] == int(sys.argv[2]) and a["acked_by"] == "counter-test" for a in d["items"])' a.json "$AID" ||
    fail "$u does not serve the ack of alert $AID: $(head -c 300 a.json)"
done
# An alert acknowledged through a server (serve's own write): the counter stays.
WTOK=$("$BIN" token create --db "$R2" --role write --name counter-writer 2>/dev/null)
AID2=$(cw_q "$R2" "SELECT min(id) FROM alerts WHERE status = 1")
[ -n "$AID2" ] || fail "no second open alert to acknowledge"
code=$(curl -sS --max-time 20 -o ack.json -w '%{http_code}' -X POST -H "Authorization: Bearer $WTOK" \
  "$U1/api/v1/alerts/$AID2/ack")
[ "$code" = 200 ] || fail "POST alerts/$AID2/ack: $code $(cat ack.json)"
[ "$(cw_q "$R2" "SELECT status FROM alerts WHERE id = $AID2")" = 2 ] || fail "the API ack did not land"
[ "$(ver)" = "$v0" ] || fail "an ack through serve moved the change counter: $v0 -> $(ver)"
# An account renamed by an ingest: the counter moves, both caches are refilled.
mkdir -p upd
python3 - world/accounts.csv upd/accounts.csv "$NEW" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
r = next(x for x in rows if x["account_id"] == "A000001")
r["name"] = sys.argv[3]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerow(r)
PY
"$BIN" ingest --db "$R2" --quiet --progress never upd/accounts.csv 2>upd.err || { cat upd.err; fail "ingest of the rename"; }
v1=$(ver)
[ "$v1" -gt "$v0" ] || fail "the rename did not move the change counter ($v0 -> $v1)"
for u in "$U1" "$U2"; do
  [ "$(found "$u" zq%20renamed)" = 1 ] || fail "$u still serves the old name of A000001: $(cat t.json)"
done
[ "$(ver)" = "$v1" ] || fail "reads moved the change counter: $v1 -> $(ver)"
"$BIN" score --db "$R2" --as-of $DAY2 --recompute --quiet >/dev/null 2>score.err || { cat score.err; fail "score --recompute"; }
[ "$(ver)" -gt "$v1" ] || fail "score --recompute did not move the change counter"
[ "$(cw_q "$R2" "SELECT count(*) FROM cw_api_pending")" = 0 ] || fail "cw_api_pending keeps rows"
note "4. change counter: reads, alerts ack and an API ack leave it at $v0; the rename ($v1) and a rescore move it; both servers serve the new name"
echo "pg_concurrency.sh: ok"
