#!/usr/bin/env bash
# Exception management end to end, rule to receiver: a simulated world,
# ingest, weekly snapshots, then `churnwatch run` on five consecutive weekly
# days with a configured rule whose playbook has a signed webhook, an e-mail
# to the owner, a Slack-form message, the stock csm_task and a webhook whose
# receiver is down (HTTP 500) for the first two days — all against
# tests/receiver.py on loopback. Checked against the alerts, play_assignments,
# outbox and tasks tables (cw_q): every acted-on alert produces exactly one
# accepted message per action (distinct Idempotency-Key alert:<id>:<action>),
# held-out alerts none, tasks go to the account owner, every signature
# verifies, a second run on a day sends nothing, an auto-resolved alert sends
# nothing more, and the outage's messages arrive on a later run (none lost).
# Then --backfill: the same days with the first two backfilled open the very
# same alerts but queue nothing for them. And check-config on the
# configuration (exit 0) and on a broken one (exit 3, file:line).
# usage: alerts_e2e.sh path/to/churnwatch path/to/tests
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
HERE=$(realpath "$2")
T=$(mktemp -d /tmp/cw-alerts-e2e-XXXXXX)
RPID=
cleanup() {
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null
  cw_db_cleanup
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
fail() { echo "alerts_e2e.sh: FAIL: $*"; exit 1; }
check() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }
SECRET='e2e-s3cret'
python3 "$HERE/receiver.py" "$T" "$SECRET" &
RPID=$!
for _ in $(seq 100); do [ -f ports ] && break; sleep 0.05; done
read -r HP SP <ports
export CW_E2E_SECRET=$SECRET

"$BIN" simulate --accounts 60 --months 6 --seed 5 --start 2025-01-01 --out w >/dev/null
DB_d=$(cw_db d)
"$BIN" init --db "$DB_d" >/dev/null 2>&1
"$BIN" ingest --db "$DB_d" w/*.csv >/dev/null 2>&1
"$BIN" metrics --db "$DB_d" --from 2025-06-02 --to 2025-06-30 --every 7d >/dev/null 2>&1
DB_world=$(cw_db_clone "$DB_d" world) # for the backfill part

# Only this test's rule: every stock rule off.
"$BIN" rules list | awk 'NR > 1 && $5 == "stock" { printf "[rule.%s]\nenabled = false\n", $1 }' >stock_off.ini
[ "$(grep -c '^\[rule' stock_off.ini)" -ge 10 ] || fail "stock rules not listed"
cat >cw.conf <<EOF
[store]
db = $DB_d
[deliver]
smtp_url = smtp://127.0.0.1:$SP
from = churnwatch@example.org
backoff_base_s = 1
backoff_max_s = 1
jitter_pct = 0
max_attempts = 20
[action.hook]
type = webhook
url = http://127.0.0.1:$HP/ok
secret_env = CW_E2E_SECRET
[action.mail_owner]
type = email
to = owner
template = e2e_mail
[template.e2e_mail]
subject = {{account_name}}: health {{health_score}}
body = {{description}} (alert {{alert_id}}, {{values.health_score}})
[action.chat]
type = slack
url = http://127.0.0.1:$HP/ok
template = slack_alert
[action.hook_outage]
type = webhook
url = http://127.0.0.1:$HP/outage
secret_env = CW_E2E_SECRET
[playbook.e2e_rescue]
description = Health under 50: everyone hears of it
actions = hook, mail_owner, chat, csm_task, hook_outage
control_share = 0.2
[rule.e2e_low_health]
description = Health score under 50
when = health_score < 50
clear_when = health_score >= 60
cooldown_days = 14
playbook = e2e_rescue
EOF
cat stock_off.ini >>cw.conf
export CHURNWATCH_CONFIG=$T/cw.conf
NACT=5 # actions of the playbook; 4 reach the receiver, csm_task is a row in tasks

# --- check-config ---------------------------------------------------------------
"$BIN" check-config --config cw.conf >cc.out 2>&1 || fail "check-config: $(cat cc.out)"
sed 's|^url = http://127.0.0.1:'"$HP"'/outage|url = ftp://127.0.0.1/outage|' cw.conf >broken.conf
line=$(grep -n '^url = ftp' broken.conf | cut -d: -f1)
set +e
"$BIN" check-config --config broken.conf >cc_bad.out 2>&1
rc=$?
set -e
check "broken check-config exit" "$rc" 3
grep -q "broken.conf:$line: \[action.hook_outage\] url: " cc_bad.out || fail "broken config message: $(cat cc_bad.out)"

q() { cw_q "$DB_d" "$1"; }
# accepted (HTTP 200) requests per key, and every request's signature
http_ok() { python3 -c 'import json,sys
n=0
for l in open("http.jsonl"):
  r=json.loads(l)
  if r["status"]==200: n+=1
print(n)'; }
smtp_n() { [ -f smtp.jsonl ] && wc -l <smtp.jsonl || echo 0; }

touch down # the /outage receiver answers 500 until this file goes
DAYS="2025-06-02 2025-06-09 2025-06-16 2025-06-23 2025-06-30"
i=0
for d in $DAYS; do
  i=$((i + 1))
  [ $i -eq 3 ] && rm -f down # back up for the third day's run
  "$BIN" run --as-of "$d" >run$i.out 2>run$i.err || { cat run$i.err; fail "run $d"; }
  if [ $i -eq 1 ]; then
    # after day 1: the outage messages failed once and wait; the rest arrived
    n1=$(q "SELECT count(*) FROM play_assignments WHERE control = 0")
    [ "$n1" -gt 0 ] || fail "no acted-on alert on day 1"
    check "day 1 outage pending" "$(q "SELECT count(*), min(attempts), max(attempts) FROM outbox
      WHERE action = 'hook_outage' AND status = 0")" "$n1|1|1"
    check "day 1 others delivered" "$(q "SELECT count(*) FROM outbox WHERE action <> 'hook_outage' AND status = 1")" \
      $((n1 * 4))
  fi
  if [ $i -eq 2 ]; then
    check "day 2 outage retried, still pending" "$(q "SELECT count(*) FROM outbox
      WHERE action = 'hook_outage' AND status = 0 AND attempts = 2")" "$n1"
  fi
  if [ $i -eq 3 ]; then
    check "day 3: the outage's messages delivered" "$(q "SELECT count(*) FROM outbox WHERE status <> 1")" 0
    # the same day again: nothing is sent, no table changes
    cw_tables "$DB_d" alerts outbox tasks alert_events >before_rerun
    h=$(wc -l <http.jsonl)
    m=$(smtp_n)
    "$BIN" run --as-of "$d" >rerun.out 2>rerun.err || { cat rerun.err; fail "rerun $d"; }
    grep -q " 0 opened" rerun.err || fail "rerun opened alerts: $(cat rerun.err)"
    grep -q "run: deliver: 0 attempted" rerun.err || fail "rerun delivered: $(cat rerun.err)"
    check "rerun: no HTTP request" "$(wc -l <http.jsonl)" "$h"
    check "rerun: no e-mail" "$(smtp_n)" "$m"
    cw_tables "$DB_d" alerts outbox tasks alert_events >after_rerun
    cmp -s before_rerun after_rerun || fail "a second run on the same day changed the tables"
  fi
  sleep 1.1 # the next run's clock is past every retry's backoff
done
grep -q "run: deliver:" run5.err || fail "run did not deliver: $(cat run5.err)"

# --- the numbers --------------------------------------------------------------------
alerts=$(q "SELECT count(*) FROM alerts")
acted=$(q "SELECT count(*) FROM play_assignments WHERE control = 0")
held=$(q "SELECT count(*) FROM play_assignments WHERE control = 1")
resolved=$(q "SELECT count(*) FROM alerts WHERE status = 4")
days_opened=$(q "SELECT count(DISTINCT opened_day) FROM alerts")
[ "$alerts" -ge 5 ] || fail "only $alerts alerts"
[ "$held" -ge 1 ] || fail "no alert held out"
[ "$resolved" -ge 1 ] || fail "no alert auto-resolved"
[ "$days_opened" -ge 2 ] || fail "alerts opened on $days_opened day(s) only"
check "every alert has a play" "$((acted + held))" "$alerts"
check "outbox rows" "$(q "SELECT count(*) FROM outbox")" $((acted * NACT))
check "all delivered, none dead" "$(q "SELECT count(*) FROM outbox WHERE status = 1")" $((acted * NACT))
# the outage's messages of days 1 and 2 needed a later run; none was lost
check "outage retried on a later run" "$(q "SELECT count(*) FROM outbox WHERE action = 'hook_outage' AND attempts >= 2")" \
  "$(q "SELECT count(*) FROM alerts a JOIN play_assignments p ON p.alert = a.id
        WHERE p.control = 0 AND a.opened_day <= 20248")"
check "day-1 outage messages: 3 attempts" "$(q "SELECT count(*) FROM outbox o JOIN alerts a
  ON o.idem_key = 'alert:' || a.id || ':hook_outage' WHERE a.opened_day = 20241 AND o.attempts = 3")" "$n1"

# What the receiver saw, against the tables: one accepted request per
# (acted-on alert, HTTP action), its key alert:<id>:<action>, nothing for
# held-out alerts, every signature verified.
q "SELECT a.id, p.control, a.status, acc.owner FROM alerts a JOIN play_assignments p ON p.alert = a.id
   JOIN accounts acc ON acc.id = a.account" >alerts.txt
python3 - "$acted" <<'PY' || fail "receiver vs tables"
import json, sys, email
acted = int(sys.argv[1])
alerts = {}
for l in open("alerts.txt"):
    i, c, st, owner = l.rstrip("\n").split("|")
    alerts[int(i)] = (int(c), int(st), owner)
http = [json.loads(l) for l in open("http.jsonl")]
ok = [r for r in http if r["status"] == 200]
keys = [r["key"] for r in ok]
assert len(keys) == len(set(keys)), "a key accepted twice"
want = set()
for i, (c, st, owner) in alerts.items():
    if not c:
        for a in ("hook", "chat", "hook_outage"):
            want.add("alert:%d:%s" % (i, a))
assert set(keys) == want, (sorted(set(keys) ^ want)[:5], len(keys), len(want))
assert len(keys) == 3 * acted
# failed attempts: only the outage, only before it came back
bad = [r for r in http if r["status"] != 200]
assert bad and all(r["path"] == "/outage" and r["status"] == 500 for r in bad), bad[:2]
for r in http:
    if r["path"] in ("/outage",) or json.loads(r["body"]).get("event") == "alert":
        assert r["sig_ok"] is True, r
    if "blocks" in r["body"]:
        b = json.loads(r["body"])
        assert "text" in b and isinstance(b["blocks"], list), b
        assert r["sig_ok"] is None  # the Slack action has no secret
hook = [json.loads(r["body"]) for r in ok if r["path"] == "/ok" and r["key"].endswith(":hook")]
for b in hook:
    a = b["alert"]
    assert b["idempotency_key"] == "alert:%d:hook" % a["alert_id"]
    assert a["rule"] == "e2e_low_health" and a["values"]["health_score"] < 50, a
    assert a["owner"] == alerts[a["alert_id"]][2]
# e-mail: one per acted-on alert, to the owner, keyed alert:<id>:mail_owner
mails = [json.loads(l) for l in open("smtp.jsonl")]
assert len(mails) == acted, (len(mails), acted)
mk = set()
for m in mails:
    msg = email.message_from_string(m["data"])
    k = msg["X-Churnwatch-Idempotency-Key"]
    i = int(k.split(":")[1])
    assert k == "alert:%d:mail_owner" % i and alerts[i][0] == 0, k
    assert m["rcpt"] == ["<%s>" % alerts[i][2]], (m["rcpt"], alerts[i])
    assert ("alert %d," % i) in msg.get_payload(), msg.get_payload()
    mk.add(k)
assert len(mk) == acted
print("receiver: %d HTTP accepted, %d refused (outage), %d e-mails" % (len(ok), len(bad), len(mails)))
PY
bad_n=$(python3 -c 'import json;print(sum(1 for l in open("http.jsonl") if json.loads(l)["status"]!=200))')
# every refused request is an outage attempt before the last one
check "refused attempts" "$bad_n" "$(q "SELECT sum(attempts - 1) FROM outbox WHERE action = 'hook_outage'")"

# Tasks: one per acted-on alert, assigned to the account's owner.
check "tasks" "$(q "SELECT count(*) FROM tasks")" "$acted"
check "tasks to the owner" "$(q "SELECT count(*) FROM tasks t JOIN outbox o ON o.idem_key = t.idem_key
  JOIN alerts a ON o.idem_key = 'alert:' || a.id || ':csm_task' JOIN accounts acc ON acc.id = a.account
  WHERE t.assignee = acc.owner AND o.action = 'csm_task'")" "$acted"
check "no task for held-out alerts" "$(q "SELECT count(*) FROM tasks t JOIN play_assignments p
  ON t.idem_key = 'alert:' || p.alert || ':csm_task' WHERE p.control = 1")" 0

# An auto-resolved alert sent its messages once, when it opened, and nothing
# after: every outbox row of a resolved alert was created on its opening run.
check "auto-resolved alerts sent nothing after resolving" "$(q "SELECT count(*) FROM outbox o JOIN alerts a
  ON o.idem_key LIKE 'alert:' || a.id || ':%' JOIN alert_events e ON e.alert = a.id AND e.kind = 6
  WHERE o.created_at > e.at OR o.delivered_at IS NULL")" 0
check "resolved alerts' messages" "$(q "SELECT count(*) FROM outbox o JOIN alerts a
  ON o.idem_key LIKE 'alert:' || a.id || ':%' WHERE a.status = 4")" \
  $(($(q "SELECT count(*) FROM alerts a JOIN play_assignments p ON p.alert = a.id WHERE a.status = 4 AND p.control = 0") * NACT))

# --- backfill: the first two days backfilled on the same world -------------------
DB_b=$(cw_db_clone "$DB_world" b)
for d in 2025-06-02 2025-06-09; do
  "$BIN" init --db "$DB_b" >/dev/null 2>&1
  "$BIN" run --db "$DB_b" --as-of "$d" --deliver no --backfill 2>>b.err || { cat b.err; fail "backfill run"; }
done
bq() { cw_q "$DB_b" "$1"; }
check "backfill: no message" "$(bq "SELECT count(*) FROM outbox")" 0
check "backfill: no play" "$(bq "SELECT count(*) FROM play_assignments")" 0
check "backfill: one event per alert" "$(bq "SELECT count(*), count(DISTINCT alert) FROM alert_events WHERE kind = 10")" \
  "$(bq "SELECT count(*) || '|' || count(*) FROM alerts")"
grep -q "backfill: playbooks not run" b.err || fail "backfill summary: $(cat b.err)"
for d in 2025-06-16 2025-06-23 2025-06-30; do
  "$BIN" run --db "$DB_b" --as-of "$d" --deliver no 2>>b.err || { cat b.err; fail "run after backfill"; }
done
# The very same alerts as without the backfill…
same="SELECT id, rule, account, status, opened_day, closed_day FROM alerts ORDER BY id"
check "backfill: same alerts" "$(bq "$same" | md5sum)" "$(q "$same" | md5sum)"
# …but messages and plays only for those opened after the backfilled days.
late=$(q "SELECT count(*) FROM alerts WHERE opened_day > 20248") # after 2025-06-09
[ "$late" -ge 1 ] || fail "no alert opened after the backfilled days"
check "backfill: plays of later alerts only" "$(bq "SELECT count(*) FROM play_assignments")" "$late"
check "backfill: same draws for later alerts" "$(bq "SELECT alert, control FROM play_assignments ORDER BY alert" | md5sum)" \
  "$(q "SELECT p.alert, p.control FROM play_assignments p JOIN alerts a ON a.id = p.alert
        WHERE a.opened_day > 20248 ORDER BY p.alert" | md5sum)"
late_acted=$(bq "SELECT count(*) FROM play_assignments WHERE control = 0")
check "backfill: messages of later alerts only" "$(bq "SELECT count(*) FROM outbox")" $((late_acted * NACT))
check "backfill: no message for a backfilled alert" "$(bq "SELECT count(*) FROM outbox o JOIN alerts a
  ON o.idem_key LIKE 'alert:' || a.id || ':%' WHERE a.opened_day <= 20248")" 0
"$BIN" report plays --db "$DB_b" >plays.out 2>&1 || fail "report plays: $(cat plays.out)"

echo "alerts_e2e.sh: ok: $alerts alerts over 5 days ($acted acted on, $held held out, $resolved auto-resolved);" \
  "$((acted * NACT)) messages delivered, $bad_n refused during the outage; backfill left $late of them to act on"
