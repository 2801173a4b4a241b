#!/usr/bin/env bash
# The daily run (docs/alerts.md): `churnwatch run --drop DIR` ingests the
# files of DIR and moves them to DIR/done, computes the day's snapshot,
# evaluates the rules and queues playbook messages; a second run on the same
# day changes nothing (every table compared, via cw_dump). Also: an earlier
# day is refused, a later day moves on, and a bad rule stops the run before
# anything is written. usage: run.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-run-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "run.sh: $*"; exit 1; }

"$BIN" simulate --accounts 120 --months 5 --seed 11 --start 2025-01-01 --out drop >/dev/null
rm -rf drop/truth drop/manifest.json
n=$(ls drop/*.csv | wc -l)
DB_r=$(cw_db r)
"$BIN" init --db "$DB_r" >/dev/null 2>&1
"$BIN" run --db "$DB_r" --drop drop --as-of 2025-05-01 2>run1.err || { cat run1.err; fail "first run failed"; }
[ "$(ls drop/*.csv 2>/dev/null | wc -l)" -eq 0 ] || fail "files not moved"
[ "$(ls drop/done/*.csv | wc -l)" -eq "$n" ] || fail "files not in done/"
grep -q "1 snapshot computed" run1.err || fail "no snapshot computed: $(cat run1.err)"
opened=$(cw_q "$DB_r" "SELECT count(*) FROM alerts")
queued=$(cw_q "$DB_r" "SELECT count(*) FROM outbox")
[ "$opened" -gt 0 ] || fail "no alert raised"
[ "$queued" -gt 0 ] || fail "nothing queued"
# exactly one outbox row per (acted-on alert, playbook action)
want=$(cw_q "$DB_r" "SELECT count(*) FROM outbox o JOIN play_assignments p
  ON o.idem_key LIKE 'alert:' || p.alert || ':%' WHERE p.control = 0")
[ "$want" -eq "$queued" ] || fail "outbox rows $queued != rows of acted-on alerts $want"
[ "$(cw_q "$DB_r" "SELECT count(*) FROM outbox o JOIN play_assignments p
  ON o.idem_key LIKE 'alert:' || p.alert || ':%' WHERE p.control = 1")" -eq 0 ] ||
  fail "held-out alerts got messages"
cw_dump "$DB_r" runs >dump1.sql # the run log grows, by design

# Same day again: nothing changes. Delivery is left out of this run: the
# first run's failed attempts are due again after a backoff counted on the
# wall clock, so on a slow machine a retry would be (rightly) attempted and
# the outbox would change (the retry clock is tested with `deliver --now`).
"$BIN" run --db "$DB_r" --drop drop --as-of 2025-05-01 --deliver no 2>run2.err || { cat run2.err; fail "second run failed"; }
cw_dump "$DB_r" runs >dump2.sql
cmp -s dump1.sql dump2.sql || { diff dump1.sql dump2.sql | head -20; fail "second run changed the database"; }
grep -q "0 opened" run2.err || fail "second run opened alerts: $(cat run2.err)"
# …but the run log has both runs, ended, with exit 0 (docs/operations.md).
[ "$(cw_q "$DB_r" "SELECT count(*) FROM runs WHERE exit_code = 0 AND ended_at >= started_at
  AND day = $(($(date -ud 2025-05-01 +%s) / 86400))")" -eq 2 ] ||
  fail "run log: $(cw_q "$DB_r" "SELECT * FROM runs")"

# An earlier day is refused; nothing is written.
set +e
"$BIN" evaluate --db "$DB_r" --as-of 2025-04-01 2>early.err
rc=$?
set -e
[ $rc -eq 2 ] || fail "earlier day: exit $rc, want 2"
grep -q "alerts move forward in time" early.err || fail "earlier day: $(cat early.err)"

# A bad rule stops the run before anything is written.
printf '[rule.bad]\nwhen = licence_activaton < 1\n' >bad.conf
set +e
"$BIN" --config bad.conf run --db "$DB_r" --as-of 2025-05-08 2>bad.err
rc=$?
set -e
[ $rc -eq 3 ] || fail "bad rule: exit $rc, want 3"
grep -q "bad.conf:2:8: \[rule.bad\] when: unknown metric 'licence_activaton' (did you mean licence_activation?)" bad.err ||
  fail "bad rule message: $(cat bad.err)"
cw_dump "$DB_r" runs >dump3.sql
cmp -s dump1.sql dump3.sql || fail "a failed run changed the database"

# A CSM's actions through the CLI, and the history they leave.
id=$(cw_q "$DB_r" "SELECT min(id) FROM alerts WHERE status = 1")
id2=$(cw_q "$DB_r" "SELECT max(id) FROM alerts WHERE status = 1")
"$BIN" alerts ack "$id" --db "$DB_r" --by dana --note "called them" | grep -q "alert $id acknowledged" || fail "ack"
"$BIN" alerts snooze "$id" --db "$DB_r" --until 2025-05-20 --by dana | grep -q "snoozed" || fail "snooze"
"$BIN" alerts list --db "$DB_r" --format json | grep -q "\"id\":$id," && fail "snoozed alert listed"
"$BIN" alerts resolve "$id2" --db "$DB_r" --by dana --note done | grep -q "resolved" || fail "resolve"
"$BIN" alerts show "$id" --db "$DB_r" >show.out
grep -q "status    snoozed (3) until 2025-05-20" show.out || fail "show: $(cat show.out)"
grep -q "acked .*by dana  called them" show.out || fail "history: $(cat show.out)"
grep -q "snoozed .*by dana  until 2025-05-20" show.out || fail "history: $(cat show.out)"
[ "$(cw_q "$DB_r" "SELECT status FROM alerts WHERE id = $id2")" = 5 ] || fail "resolve status"
set +e
"$BIN" alerts ack "$id2" --db "$DB_r" >/dev/null 2>closed.err
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "already closed" closed.err || fail "ack of a closed alert: exit $rc"

# A week later: a new snapshot, and episodes move on.
"$BIN" run --db "$DB_r" --as-of 2025-05-08 2>run3.err || { cat run3.err; fail "later run failed"; }
grep -q "1 snapshot computed" run3.err || fail "later day: $(cat run3.err)"
"$BIN" alerts list --db "$DB_r" >list.out
grep -q "alert(s)" list.out || fail "alerts list"
echo "run.sh: ok: $opened alerts and $queued messages on the first day; second run identical"
