#!/usr/bin/env bash
# bench/deliver.sh [MESSAGES] [RUNS] — delivery throughput (not a test).
#
# MESSAGES signed webhooks (default 2000) are queued and drained by
# `churnwatch deliver` into tests/receiver.py on loopback; the reference is
# curl itself sending the same number of POSTs of the same size to the same
# receiver over one connection (`curl --config`: one process, keep-alive),
# i.e. the HTTP cost without the outbox's claim and record transactions.
# Also a JSON Lines run (one fsync per line). Prints a Markdown table of
# medians over RUNS runs (default 3) with peak RSS. Needs a release build in
# build/.
set -euo pipefail
N=${1:-2000}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/churnwatch
W=$(mktemp -d /tmp/cw-bench-deliver-XXXXXX)
RPID=
trap '[ -n "$RPID" ] && kill $RPID 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
python3 "$ROOT/tests/receiver.py" "$W" benchsecret &
RPID=$!
for _ in $(seq 100); do [ -f ports ] && break; sleep 0.05; done
read -r HP _ <ports
export CW_BENCH_SECRET=benchsecret
cat >b.conf <<EOF
[store]
db = b.db
[action.hook]
type = webhook
url = http://127.0.0.1:$HP/ok
secret_env = CW_BENCH_SECRET
[action.line]
type = jsonl
file = $W/out.jsonl
EOF
export CHURNWATCH_CONFIG=$W/b.conf
PAYLOAD='{"alert_id":1,"rule":"unused_licences_30","description":"Only 32% of licences active","severity":"warning","scope":"account","account_id":"A-001","account_name":"Acme","segment":"smb","owner":"csm@example.com","user_id":null,"user_email":null,"opened_day":"2025-03-04","values":{"licence_activation":0.32,"tenure_days":41},"health_score":55.2,"churn_probability":0.31,"playbook":"onboarding_rescue"}'
fill() { # action
  rm -f b.db b.db-wal b.db-shm
  "$BIN" outbox list >/dev/null
  python3 - "$1" "$N" "$PAYLOAD" <<'PY'
import sqlite3, sys
db = sqlite3.connect("b.db")
db.executemany("INSERT INTO outbox(idem_key, action, payload, next_at, created_at) VALUES(?,?,?,0,0)",
               [("alert:%d:%s" % (i, sys.argv[1]), sys.argv[1], sys.argv[3]) for i in range(int(sys.argv[2]))])
db.commit()
PY
}
measure() { # label, command... -> "seconds rss_kib"
  /usr/bin/time -f "%e %M" -o t.out "$@" >/dev/null 2>&1
  cat t.out
}
# curl's reference: N POSTs of a body as large as churnwatch's webhook body
python3 - "$N" "$HP" "$PAYLOAD" <<'PY'
import sys
n, port, p = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = '{"event":"alert","action":"hook","idempotency_key":"alert:0:hook","alert":%s}' % p
with open("curl.cfg", "w") as f:
    for i in range(n):
        f.write('%surl = "http://127.0.0.1:%s/ok"\nrequest = POST\nheader = "Content-Type: application/json"\n'
                'data-raw = %s\noutput = /dev/null\n' % ("next\n" if i else "", port, '"' + body.replace('"', '\\"') + '"'))
PY
declare -A T R
for what in deliver reference jsonl; do
  ts=() rs=()
  for _ in $(seq "$RUNS"); do
    case $what in
    deliver) fill hook; out=$(measure "$BIN" deliver --quiet) ;;
    reference) out=$(measure curl -s --config curl.cfg) ;;
    jsonl) fill line; rm -f out.jsonl; out=$(measure "$BIN" deliver --quiet) ;;
    esac
    ts+=("${out% *}") rs+=("${out#* }")
  done
  T[$what]=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
  R[$what]=$(printf '%s\n' "${rs[@]}" | sort -n | tail -1)
done
[ "$(sqlite3 b.db 'SELECT count(*) FROM outbox WHERE status=1')" = "$N" ] || { echo "not all delivered"; exit 1; }
echo "| what | median s | messages/s | peak RSS MiB | vs reference |"
echo "|---|---|---|---|---|"
for what in deliver reference jsonl; do
  awk -v w="$what" -v t="${T[$what]}" -v r="${R[$what]}" -v n="$N" -v ref="${T[reference]}" \
    'BEGIN { printf "| %s | %.2f | %.0f | %.1f | %s |\n", w, t, n / t, r / 1024, (w == "jsonl" ? "-" : sprintf("%.2fx", t / ref)) }'
done
