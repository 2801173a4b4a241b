#!/usr/bin/env bash
# Delivery end to end against receivers on loopback (tests/receiver.py: an
# HTTP receiver that checks the HMAC signature itself, and an SMTP sink):
# 200, 500 then 200 with the backoff clock advanced by --now, a timeout, a
# refused connection, 400 dead at once, N failures dead, 429 + Retry-After,
# SMTP headers and body, SMTP 550/451, tasks, JSON Lines, rate limits,
# dry-run, outbox retry/purge, a kill -9 in the middle of a run followed by
# a second run (every message delivered, none lost), and two deliverers at
# once (each message sent by one of them only).
# usage: deliver.sh path/to/churnwatch path/to/tests
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
HERE=$(realpath "$2")
T=$(mktemp -d /tmp/cw-deliver-XXXXXX)
RPID=
cleanup() {
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null
  cw_db_cleanup
  rm -rf "$T"
}
trap cleanup EXIT
[ -n "${CW_KEEP:-}" ] && trap "kill \$RPID" EXIT
cd "$T"
SECRET='s3cret-for-tests'
python3 "$HERE/receiver.py" "$T" "$SECRET" &
RPID=$!
for _ in $(seq 100); do [ -f ports ] && break; sleep 0.05; done
read -r HP SP <ports
# a port nobody listens on: bind, note, close
CLOSED=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
fail() { echo "deliver.sh: FAIL: $*"; exit 1; }
check() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }

export CW_TEST_SECRET=$SECRET
DB_d=$(cw_db d)
cat >cw.conf <<EOF
[store]
db = $DB_d
[deliver]
smtp_url = smtp://127.0.0.1:$SP
from = churnwatch@example.org
backoff_base_s = 60
backoff_max_s = 3600
jitter_pct = 0
max_attempts = 3
lease_s = 30
[action.hook_ok]
type = webhook
url = http://127.0.0.1:$HP/ok
secret_env = CW_TEST_SECRET
[action.hook_flaky]
type = webhook
url = http://127.0.0.1:$HP/flaky
secret_env = CW_TEST_SECRET
[action.hook_500]
type = webhook
url = http://127.0.0.1:$HP/fail500
secret_env = CW_TEST_SECRET
[action.hook_400]
type = webhook
url = http://127.0.0.1:$HP/bad
[action.hook_slow]
type = webhook
url = http://127.0.0.1:$HP/slow
timeout_ms = 500
[action.hook_refused]
type = webhook
url = http://127.0.0.1:$CLOSED/ok
timeout_ms = 1000
[action.hook_429]
type = webhook
url = http://127.0.0.1:$HP/limited
[action.hook_kill]
type = webhook
url = http://127.0.0.1:$HP/okslow
secret_env = CW_TEST_SECRET
[action.hook_rated]
type = webhook
url = http://127.0.0.1:$HP/ok
rate_per_minute = 5
[action.slack_alert]
url = http://127.0.0.1:$HP/ok
secret_env = CW_TEST_SECRET
[action.inapp_message]
url = http://127.0.0.1:$HP/ok
cta_url = https://app.example.com/tour?account={{account_id}}
[action.jsonl_log]
file = alerts.jsonl
[action.jsonl_full]
type = jsonl
file = /dev/full
EOF
export CHURNWATCH_CONFIG=$T/cw.conf

# alert payload (docs/rules.md) for alert N, user e-mail U
payload() {
  printf '{"alert_id":%s,"rule":"unused_licences_30","description":"Only 32%% of licences active","severity":"warning","scope":"user","account_id":"A-%03d","account_name":"Acme <Corp> & Söhne","segment":"smb","owner":"csm@example.com","user_id":"U-%s","user_email":"%s","opened_day":"2025-03-04","values":{"licence_activation":0.32,"tenure_days":41},"health_score":55.2,"churn_probability":0.31,"playbook":"onboarding_rescue"}' \
    "$1" "$1" "$1" "$2"
}
# enqueue ACTION ALERT_ID [USER_EMAIL]: as the rules side does (cw_outbox_enqueue's SQL)
enqueue() {
  python3 - "$CW_TEST_LIB" "$DB_d" "$1" "$2" "$(payload "$2" "${3:-user$2@example.com}")" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from cwdb import cw_q
cw_q(sys.argv[2], "INSERT INTO outbox(idem_key, action, payload, next_at, created_at) VALUES(?,?,?,?,?)"
     " ON CONFLICT(idem_key) DO NOTHING",
     ("alert:%s:%s" % (sys.argv[4], sys.argv[3]), sys.argv[3], sys.argv[5], 1741132800, 1741132800))
PY
}
q() { cw_q "$DB_d" "$1"; }
T0=1741132800 # 2025-03-05T00:00:00Z
"$BIN" init >/dev/null 2>&1 # creates $DB_d (store.db of cw.conf)

# --- 200, signature, the documented body ------------------------------------
enqueue hook_ok 1
"$BIN" deliver --now $T0 2>log1
check "200 delivered" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:1:hook_ok'")" "1|1"
python3 - <<'PY' || fail "webhook request"
import json
r = [json.loads(l) for l in open("http.jsonl")][-1]
assert r["path"] == "/ok" and r["sig_ok"] is True and r["key"] == "alert:1:hook_ok", r
assert r["ts"] == "1741132800" and r["content_type"] == "application/json", r
b = json.loads(r["body"])
assert b["event"] == "alert" and b["action"] == "hook_ok" and b["idempotency_key"] == "alert:1:hook_ok"
assert b["alert"]["alert_id"] == 1 and b["alert"]["values"]["licence_activation"] == 0.32
assert "action" not in b["alert"]
PY

# --- 500 then 200: retried after the backoff, not before ---------------------
enqueue hook_flaky 2
"$BIN" deliver --now $T0 2>/dev/null
check "500 -> pending" "$(q "SELECT status, attempts, next_at - $T0, last_error FROM outbox WHERE idem_key='alert:2:hook_flaky'")" \
  '0|1|60|HTTP 500: {"error":"test"}'
"$BIN" deliver --now $((T0 + 59)) 2>/dev/null
check "not due before the backoff" "$(q "SELECT attempts FROM outbox WHERE idem_key='alert:2:hook_flaky'")" 1
"$BIN" deliver --now $((T0 + 60)) 2>/dev/null
check "500 then 200" "$(q "SELECT status, attempts, delivered_at - $T0 FROM outbox WHERE idem_key='alert:2:hook_flaky'")" "1|2|60"
check "flaky seen twice" "$(grep -c '"/flaky"' http.jsonl)" 2

# --- N failures -> dead (max_attempts 3: at T0, +60, +60+120) -----------------
enqueue hook_500 3
for t in 0 60 180; do "$BIN" deliver --now $((T0 + t)) 2>/dev/null; done
check "500 x3 dead" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:3:hook_500'")" "2|3"
q "SELECT last_error FROM outbox WHERE idem_key='alert:3:hook_500'" | grep -q '^gave up after 3 attempts: HTTP 500' ||
  fail "dead letter reason"

# --- 400 -> dead at once --------------------------------------------------------
enqueue hook_400 4
"$BIN" deliver --now $T0 2>/dev/null
check "400 dead at once" "$(q "SELECT status, attempts, last_error FROM outbox WHERE idem_key='alert:4:hook_400'")" \
  '2|1|HTTP 400: {"error":"test"}'
check "unsigned without a secret" "$(python3 -c 'import json;print([json.loads(l) for l in open("http.jsonl") if "/bad" in l][0]["sig"])')" None

# --- timeout and refused connection: retried ------------------------------------
enqueue hook_slow 5
enqueue hook_refused 6
start=$(date +%s.%N)
"$BIN" deliver --now $T0 2>/dev/null
took=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
python3 -c "import sys; sys.exit(0 if $took < 2.5 else 1)" || fail "timeout_ms 500 not honoured: took ${took}s"
check "timeout -> retry" "$(q "SELECT status, attempts, next_at - $T0 FROM outbox WHERE idem_key='alert:5:hook_slow'")" "0|1|60"
q "SELECT last_error FROM outbox WHERE idem_key='alert:5:hook_slow'" | grep -qi 'timed out' || fail "timeout reason"
check "refused -> retry" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:6:hook_refused'")" "0|1"
q "SELECT last_error FROM outbox WHERE idem_key='alert:6:hook_refused'" | grep -qi 'connect' || fail "refused reason"

# --- 429 with Retry-After: 300 outweighs the 60 s backoff -------------------------
enqueue hook_429 7
"$BIN" deliver --now $T0 2>/dev/null
check "Retry-After honoured" "$(q "SELECT status, next_at - $T0 FROM outbox WHERE idem_key='alert:7:hook_429'")" "0|300"

# --- Slack and in-app forms --------------------------------------------------------
enqueue slack_alert 8
enqueue inapp_message 9
"$BIN" deliver --now $T0 2>/dev/null
python3 - <<'PY' || fail "slack / in-app bodies"
import json
rs = [json.loads(l) for l in open("http.jsonl")]
s = [r for r in rs if r["key"] == "alert:8:slack_alert"][0]
assert s["sig_ok"] is True
b = json.loads(s["body"])
assert b["text"] == "[warning] Acme &lt;Corp&gt; &amp; Söhne: Only 32% of licences active", b["text"]
assert b["blocks"][0]["type"] == "section" and b["blocks"][0]["text"]["type"] == "mrkdwn"
assert b["blocks"][0]["text"]["text"].startswith("*Acme &lt;Corp&gt; &amp; Söhne* (smb)")
i = [r for r in rs if r["key"] == "alert:9:inapp_message"][0]
b = json.loads(i["body"])
assert set(b) == {"user_id", "account_id", "message", "cta_url"}, b
assert b["user_id"] == "U-9" and b["account_id"] == "A-009"
assert b["cta_url"] == "https://app.example.com/tour?account=A-009"
assert b["message"].startswith("Did you know? Teams at Acme <Corp> & Söhne")
PY

# --- e-mail through the SMTP sink ------------------------------------------------------
enqueue email_login_reminder 10 "pat@example.com"
enqueue email_value_summary 11
enqueue email_training_invitation 12 "reject@example.com"
enqueue email_feature_tip 13 "busy@example.com"
"$BIN" deliver --now $T0 2>/dev/null
check "mail delivered" "$(q "SELECT status FROM outbox WHERE idem_key IN ('alert:10:email_login_reminder','alert:11:email_value_summary') ORDER BY id")" "1
1"
check "550 dead" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:12:email_training_invitation'")" "2|1"
check "451 retry" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:13:email_feature_tip'")" "0|1"
python3 - <<'PY' || fail "SMTP message"
import json, email, email.policy, hashlib
ms = [json.loads(l) for l in open("smtp.jsonl")]
m = [x for x in ms if x["rcpt"] == ["<pat@example.com>"]][0]
assert m["from"] == "<churnwatch@example.org>", m["from"]
msg = email.message_from_bytes(m["data"].encode(), policy=email.policy.default)
assert msg["To"] == "pat@example.com" and msg["From"] == "churnwatch@example.org"
assert str(msg["Subject"]) == "Your Acme <Corp> & Söhne workspace is waiting for you", msg["Subject"]
mid = "<" + hashlib.sha256(b"alert:10:email_login_reminder").hexdigest()[:32] + "@churnwatch>"
assert msg["Message-ID"] == mid, (msg["Message-ID"], mid)
assert msg["Date"] == "Wed, 05 Mar 2025 00:00:00 +0000", msg["Date"]
assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
assert msg["MIME-Version"] == "1.0" and msg["Content-Transfer-Encoding"] == "8bit"
assert msg["X-Churnwatch-Idempotency-Key"] == "alert:10:email_login_reminder"
body = msg.get_content()
assert "Your team at Acme <Corp> & Söhne is set up" in body, body
assert "customer success manager (csm@example.com)" in body
assert "\r\n" in m["data"] and "\n" not in m["data"].replace("\r\n", "")
v = [x for x in ms if x["rcpt"] == ["<csm@example.com>"]][0]
assert "Health score: 55.2 out of 100." in v["data"]
PY
# SMTP server down: retried
sed "s/127.0.0.1:$SP/127.0.0.1:$CLOSED/" cw.conf >down.conf
enqueue email_login_reminder 14
CHURNWATCH_CONFIG=$T/down.conf "$BIN" deliver --now $T0 2>/dev/null
check "smtp refused -> retry" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:14:email_login_reminder'")" "0|1"
# SMTP login: accepted credentials are used; refused ones are retried (a
# configuration fix must let the waiting e-mails go), never dead
export CW_SMTP_PW=smtp-pw
sed 's/^\[deliver\]$/[deliver]\nsmtp_user = cw\nsmtp_password_env = CW_SMTP_PW/' cw.conf >auth.conf
enqueue email_login_reminder 17 "auth@example.com"
CHURNWATCH_CONFIG=$T/auth.conf "$BIN" deliver --now $T0 2>/dev/null
check "smtp auth delivered" "$(q "SELECT status FROM outbox WHERE idem_key='alert:17:email_login_reminder'")" 1
check "smtp auth user" "$(python3 -c 'import json;print([json.loads(l) for l in open("smtp.jsonl") if "auth@example.com" in l][0]["auth"])')" cw
enqueue email_login_reminder 18 "auth2@example.com"
CW_SMTP_PW=wrong CHURNWATCH_CONFIG=$T/auth.conf "$BIN" deliver --now $T0 2>/dev/null
check "smtp login refused -> retry" "$(q "SELECT status, attempts FROM outbox WHERE idem_key='alert:18:email_login_reminder'")" "0|1"
q "SELECT last_error FROM outbox WHERE idem_key='alert:18:email_login_reminder'" | grep -q "535" || fail "login refused reason"
# a user-scoped e-mail with no user e-mail in the alert: dead, with the reason
python3 - "$CW_TEST_LIB" "$DB_d" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from cwdb import cw_q
cw_q(sys.argv[2], "INSERT INTO outbox(idem_key, action, payload, next_at, created_at) VALUES('alert:15:email_login_reminder','email_login_reminder','{\"alert_id\":15,\"account_id\":\"A-015\",\"account_name\":\"X\",\"user_email\":null}',0,0)")
PY
"$BIN" deliver --now $T0 2>/dev/null
check "no recipient dead" "$(q "SELECT status, last_error FROM outbox WHERE idem_key='alert:15:email_login_reminder'")" \
  "2|no e-mail address to send to (to = user: null in the alert)"

# --- task and JSON Lines ---------------------------------------------------------------
enqueue csm_task 16
enqueue jsonl_log 16
"$BIN" deliver --now $T0 2>/dev/null
check "task row" "$(q "SELECT account, assignee, $(cw_date due_day), status, title FROM tasks WHERE idem_key='alert:16:csm_task'")" \
  "A-016|csm@example.com|2025-03-07|0|Acme <Corp> & Söhne: Only 32% of licences active"
check "task delivered" "$(q "SELECT status FROM outbox WHERE idem_key='alert:16:csm_task'")" 1
"$BIN" tasks list | grep -q "A-016 .*csm@example.com" || fail "tasks list"
# csv: the jsonl objects' keys and values, one row each (issue 18).
"$BIN" tasks list --format csv >tasks.csv && "$BIN" tasks list --format jsonl >tasks.jsonl &&
  python3 -c 'import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
objs = [json.loads(l) for l in open(sys.argv[2])]
assert objs and len(rows) == len(objs), (len(rows), len(objs))
for r, o in zip(rows, objs):
    assert list(r) == list(o), (list(r), list(o))
    for k, v in o.items():
        assert r[k] == ("" if v is None else str(v)), (k, r[k], v)' tasks.csv tasks.jsonl || fail "tasks list --format csv"
id=$(q "SELECT id FROM tasks WHERE idem_key='alert:16:csm_task'")
"$BIN" tasks done "$id" >/dev/null
check "task done" "$(q "SELECT status FROM tasks WHERE id=$id")" 1
check "tasks list hides done" "$("$BIN" tasks list)" "tasks: none"
python3 -c '
import json
l = [json.loads(x) for x in open("alerts.jsonl")]
assert len(l) == 1 and l[0]["idempotency_key"] == "alert:16:jsonl_log" and l[0]["alert"]["alert_id"] == 16, l
' || fail "jsonl line"
# A JSON Lines file that cannot be written (a full disk: /dev/full) stays due
# with the system's reason.
enqueue jsonl_full 17
"$BIN" deliver --now $T0 2>/dev/null
check "jsonl on a full disk" "$(q "SELECT status, last_error FROM outbox WHERE idem_key='alert:17:jsonl_full'")" \
  "0|/dev/full: write failed: No space left on device"

# --- rate limit: 5 per minute per destination --------------------------------------------
for i in $(seq 101 112); do enqueue hook_rated "$i"; done
"$BIN" deliver --now $T0 2>/dev/null
check "5 in the first minute" "$(q "SELECT count(*) FROM outbox WHERE action='hook_rated' AND status=1")" 5
check "7 wait, no attempt counted" "$(q "SELECT count(*) FROM outbox WHERE action='hook_rated' AND status=0 AND attempts=0 AND next_at=$((T0 + 60))")" 7
"$BIN" deliver --now $((T0 + 30)) 2>/dev/null
check "none more in the same minute" "$(q "SELECT count(*) FROM outbox WHERE action='hook_rated' AND status=1")" 5
"$BIN" deliver --now $((T0 + 60)) 2>/dev/null
check "5 more in the next" "$(q "SELECT count(*) FROM outbox WHERE action='hook_rated' AND status=1")" 10
"$BIN" deliver --now $((T0 + 120)) 2>/dev/null
check "the last 2" "$(q "SELECT count(*) FROM outbox WHERE action='hook_rated' AND status=1")" 12

# --- dry run changes nothing ----------------------------------------------------------------
for i in 20 21 22 23 24; do enqueue hook_ok $i; done
before=$(q "SELECT id, status, attempts, next_at FROM outbox ORDER BY id")
n_http=$(wc -l <http.jsonl)
"$BIN" deliver --dry-run --now $T0 >dry.out 2>/dev/null
grep -q '^#[0-9]* hook_ok \[webhook\] -> 127.0.0.1:'"$HP"' (key alert:20:hook_ok, attempt 1)' dry.out || fail "dry-run listing"
grep -q 'POST http://127.0.0.1:'"$HP"'/ok (signed)' dry.out || fail "dry-run POST line"
check "dry-run lists every due message once" "$(grep '^#' dry.out | cut -d' ' -f1 | sort -u | wc -l)" \
  "$(q "SELECT count(*) FROM outbox WHERE status=0 AND next_at<=$T0")"
check "dry-run count" "$(grep -c '^#' dry.out)" 5
"$BIN" --set deliver.batch=1 deliver --dry-run --now $T0 >dry1.out 2>/dev/null
cmp -s dry.out dry1.out || fail "dry-run pages differently with batch 1"
check "dry-run sends nothing" "$(wc -l <http.jsonl)" "$n_http"
check "dry-run writes nothing" "$(q "SELECT id, status, attempts, next_at FROM outbox ORDER BY id")" "$before"

# --- outbox retry and purge ---------------------------------------------------------------------
dead=$(q "SELECT id FROM outbox WHERE idem_key='alert:4:hook_400'")
"$BIN" outbox retry "$dead" --now $T0 >/dev/null
check "retry resets" "$(q "SELECT status, attempts FROM outbox WHERE id=$dead")" "0|0"
"$BIN" outbox list --status dead --format jsonl | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert rows and all(r["status"] == "dead" for r in rows), rows' || fail "outbox list --status dead"
# --format json is one document: the same rows in one array.
[ "$("$BIN" outbox list --status dead --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = \
  "$("$BIN" outbox list --status dead --format jsonl | wc -l)" ] || fail "outbox list --format json"
"$BIN" outbox list --status all --format csv >outbox.csv &&
  "$BIN" outbox list --status all --format jsonl >outbox.jsonl &&
  python3 -c 'import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
objs = [json.loads(l) for l in open(sys.argv[2])]
assert objs and len(rows) == len(objs), (len(rows), len(objs))
for r, o in zip(rows, objs):
    assert list(r) == list(o), (list(r), list(o))
    for k, v in o.items():
        assert r[k] == ("" if v is None else str(v)), (k, r[k], v)' outbox.csv outbox.jsonl || fail "outbox list --format csv"
[ "$("$BIN" outbox list --status all --format csv --offset 1 --limit 2 | tail -n +2)" = "$(sed -n 3,4p outbox.csv)" ] ||
  fail "outbox list csv --offset 1 --limit 2"
"$BIN" outbox show "$dead" | grep -q "^idem_key     alert:4:hook_400" || fail "outbox show"
n_del=$(q "SELECT count(*) FROM outbox WHERE status=1 AND delivered_at < $((T0 + 60))")
"$BIN" outbox purge --delivered-before 2025-03-05T00:01:00Z | grep -q "$n_del delivered message(s) purged" || fail "purge count"
check "purged" "$(q "SELECT count(*) FROM outbox WHERE status=1 AND delivered_at < $((T0 + 60))")" 0
check "pending kept" "$(q "SELECT count(*) FROM outbox WHERE id=$dead")" 1

# --- kill -9 in the middle of a run, then recovery: nothing lost ------------------------------------
N=400
python3 - "$CW_TEST_LIB" "$DB_d" $N <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from cwdb import cw_q
n = int(sys.argv[3])
cw_q(sys.argv[2], "INSERT INTO outbox(idem_key, action, payload, next_at, created_at) VALUES"
     + ",".join(["(?,?,?,?,?)"] * n),
     [v for i in range(n) for v in ("alert:%d:hook_kill" % (1000 + i), "hook_kill",
                                    '{"alert_id":%d}' % (1000 + i), 1741132800, 1741132800)])
PY
"$BIN" deliver --now $T0 --quiet &
pid=$!
sleep 1.5
kill -0 "$pid" 2>/dev/null || fail "the run finished before the kill; the test proves nothing"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ "$(cw_integrity "$DB_d")" = ok ] || fail "integrity after kill"
mid=$(q "SELECT count(*) FROM outbox WHERE action='hook_kill' AND status=1")
[ "$mid" -gt 0 ] && [ "$mid" -lt $N ] || fail "kill landed at $mid of $N delivered"
# rows claimed but not recorded are due again after their lease: at most
# batch (20) x time limit (10 s) + lease_s (30); not before that
leased=$(q "SELECT count(*) FROM outbox WHERE action='hook_kill' AND status=0 AND next_at > $T0")
[ "$leased" -ge 1 ] && [ "$leased" -le 20 ] || fail "$leased messages leased by the killed run (1..20 expected)"
"$BIN" deliver --now $((T0 + 29)) --quiet
check "the unclaimed ones go, the leased wait" "$(q "SELECT count(*) FROM outbox WHERE action='hook_kill' AND status=1")" $((N - leased))
"$BIN" deliver --now $((T0 + 230)) --quiet
check "all delivered after recovery" "$(q "SELECT count(*) FROM outbox WHERE action='hook_kill' AND status=1")" $N
distinct=$(python3 -c '
import json
print(len({r["key"] for r in map(json.loads, open("http.jsonl")) if r["path"] == "/okslow" and r["sig_ok"]}))')
check "distinct keys at the receiver" "$distinct" $N
total=$(grep -c '"/okslow"' http.jsonl)
echo "deliver.sh: kill after $mid of $N ($leased leased); receiver saw $total requests for $distinct keys (re-sends: $((total - distinct)))"

# --- two deliverers at once: each message claimed by one of them only ----------------------------------
python3 - "$CW_TEST_LIB" "$DB_d" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from cwdb import cw_q
cw_q(sys.argv[2], "INSERT INTO outbox(idem_key, action, payload, next_at, created_at) VALUES"
     + ",".join(["(?,?,?,?,?)"] * 120),
     [v for i in range(120) for v in ("alert:%d:hook_kill" % (5000 + i), "hook_kill",
                                      '{"alert_id":%d}' % (5000 + i), 1741132800, 1741132800)])
PY
before=$(grep -c '"/okslow"' http.jsonl)
"$BIN" deliver --now $((T0 + 1000)) 2>run1.log &
p1=$!
"$BIN" deliver --now $((T0 + 1000)) 2>run2.log &
p2=$!
wait $p1
wait $p2
check "both runs together deliver all" "$(q "SELECT count(*) FROM outbox WHERE idem_key LIKE 'alert:5___:hook_kill' AND status=1 AND attempts=1")" 120
check "no message sent twice" "$(($(grep -c '"/okslow"' http.jsonl) - before))" 120
d1=$(grep -c ': delivered$' run1.log || true)
d2=$(grep -c ': delivered$' run2.log || true)
check "the two runs shared the work" "$((d1 + d2))" 120
[ "$d1" -gt 0 ] && [ "$d2" -gt 0 ] || fail "one run did everything ($d1 / $d2): the test proves nothing"

# --- configuration errors are reported with file:line ------------------------------------------------
printf '[action.x]\ntype = webhook\nurl = ftp://nope\n' >bad1.conf
out=$(CHURNWATCH_CONFIG=$T/bad1.conf "$BIN" deliver 2>&1) && fail "bad url accepted"
check "bad url" "$out" "churnwatch: $T/bad1.conf:3: [action.x] url: 'ftp://nope': expected an http:// or https:// URL"
printf '[template.t]\nsubject = Hi {{acount_name}}\nbody = x\n' >bad2.conf
out=$(CHURNWATCH_CONFIG=$T/bad2.conf "$BIN" deliver 2>&1; echo "exit $?") || true
echo "$out" | grep -q "bad2.conf:2: \[template.t\] subject: {{acount_name}} is not a field of the alert payload" || fail "placeholder check: $out"
echo "$out" | grep -q "exit 3" || fail "config error exit code: $out"
echo "deliver.sh: ok"
