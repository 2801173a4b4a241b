#!/usr/bin/env bash
# Ingest through [source.NAME] mappings (docs/importers.md), checked in the
# database: tests/data/mapping/mapping.conf reads a CRM companies CSV, users
# as nested JSON Lines, Segment-like events (where, user_account), Stripe-like
# subscriptions as one JSON document (records, .table) and a helpdesk CSV
# (account_by_domain, .format with an offset), in one run chosen by the
# sources' `files` globs; then a merge, a bad row and a re-ingest.
# usage: mapping.sh path/to/churnwatch tests/data/mapping
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1"); DATA=$(realpath "$2")
T=$(mktemp -d /tmp/cw-mapping-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cp "$DATA"/* "$T"/
cd "$T"
export CHURNWATCH_CONFIG=mapping.conf
pass=0 fail=0
check() { # description, expected, actual
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); printf 'FAIL: %s\n  want: %s\n  got:  %s\n' "$1" "$2" "$3"; fi
}
DB_x=$(cw_db x)
q() { cw_q "$DB_x" "$1" | tr '\n' ';'; }

"$BIN" init --db "$DB_x" >/dev/null 2>&1
"$BIN" ingest --db "$DB_x" crm-companies.csv people.jsonl tickets.csv events.jsonl subs.json \
  >out.txt 2>err.txt
check "first run exits 0" "0" "$?"
check "unmapped column warned once" "1" "$(grep -c "column 'Website' is not mapped by source crm" err.txt)"
check "where counted" "1" "$(grep -c '1 records left out' out.txt)"
# Accounts: $120,000.00 a year / 12 = 1,000,000 cents; €60,000 / 12 = 500,000
# cents; ¥1,200,000 / 12 = 100,000 (no minor unit). Create Date in
# Europe/Berlin: 2024-03-10 09:30 CET = 08:30Z = 1710059400; 2024-03-31 01:30
# (CET, the night DST starts) = 00:30Z = 1711845000; 2024-10-27 02:30 (twice
# that night: the first, CEST) = 00:30Z = 1729989000. Lifecycle Stage:
# customer → mid, evangelist → enterprise, Other → * = smb.
check "accounts" \
  "101|Acme Corp|mid|ann@x.com|1710059400|25|1000000|USD|active;102|Beta GmbH|enterprise||1711845000|100|500000|EUR|active;103|Gamma KK|smb||1729989000|5|100000|JPY|active;" \
  "$(q "select account_id,name,segment,owner,contract_start,seats,mrr_minor,currency,status from accounts order by account_id")"
# Users: account by company name (case-insensitive), created in ms → s,
# role defaulting to the constant 'member'.
check "users" "u1|101|ann@acme.com|admin|1710064800;u2|102|bob@beta.de|member|1710064800;" \
  "$(q "select u.user_id,a.account_id,u.email,u.role,u.provisioned_at from users u join accounts a on a.id=u.account order by 1")"
# Subscriptions from {"data": [...]}: customer ids through customers.csv,
# lower-case currency upper-cased, interval mapped.
check "subscriptions" "101|1711929600|2000|USD|5|Pro|monthly;102|1711929600|120000|EUR|1|Team|annual;" \
  "$(q "select a.account_id,s.effective_at,s.mrr_minor,s.currency,s.seats,s.plan,s.billing_period from subscriptions s join accounts a on a.id=s.account order by 1")"
# Tickets: account by the requester's e-mail domain (users' e-mails in this
# run; www. dropped); 01/04/2024 09:00 at +02:00 = 07:00Z = 1711954800.
check "tickets" "T1|101|1711954800|introductory|5;T2|102|1712044800|bug|;T3|102|1712136600|other|1;" \
  "$(q "select t.ticket_id,a.account_id,t.opened_at,t.category,t.satisfaction from tickets t join accounts a on a.id=t.account order by 1")"
# Events: track and page kept (identify left out); account from
# context.groupId, else the user's account; 2024-04-01T10:00+02:00 is day
# 19814; page's naive timestamp read as UTC (ts.zone) is day 19815.
check "event days" "101|19814|1;102|19815|1;103|19815|1;" \
  "$(q "select a.account_id,d.day,d.events from event_days d join accounts a on a.id=d.account order by 1")"
check "event names" "Home;export;login;" "$(q "select name from event_names order by name")"

# Re-ingest: nothing changes.
before=$(cw_q "$DB_x" "select count(*) from ingest_log")
"$BIN" ingest --db "$DB_x" crm-companies.csv people.jsonl tickets.csv events.jsonl subs.json >out.txt 2>&1
check "re-ingest exits 0" "0" "$?"
check "re-ingest writes nothing" "0 new or changed" "$(grep -o '0 new or changed' out.txt | head -1)"
check "re-ingest logs nothing" "$before" "$(cw_q "$DB_x" "select count(*) from ingest_log")"

# merge = yes: only the fields the record sets; a row without them is unchanged.
"$BIN" ingest --db "$DB_x" --source crm_update crm-update.jsonl >out.txt 2>&1
check "merge exits 0" "0" "$?"
check "merge updates seats only" "101|Acme Corp|30|1000000;102|Beta GmbH|100|500000;" \
  "$(q "select account_id,name,seats,mrr_minor from accounts where account_id in ('101','102') order by 1")"
# A new row through a merge needs every required field: nothing lands.
echo '{"id":"104","employees":3}' >new.jsonl
"$BIN" ingest --db "$DB_x" --source crm_update new.jsonl >out.txt 2>&1
check "merge of a new incomplete row exits 1" "1" "$?"
check "its error" "1" "$(grep -c "new.jsonl:1: field 'name': is required" out.txt)"
check "nothing landed" "0" "$(cw_q "$DB_x" "select count(*) from accounts where account_id='104'")"

# A bad row names both sides and changes nothing.
printf 'Record ID,Company name,Lifecycle Stage,Number of Employees,Annual Revenue,Currency,Create Date\n105,Delta,customer,3,"12,00",USD,2024-01-01 10:00\n' >crm-bad.csv
"$BIN" ingest --db "$DB_x" crm-bad.csv >out.txt 2>&1
check "bad row exits 1" "1" "$?"
check "bad row message" "1" \
  "$(grep -c "crm-bad.csv:2: field 'mrr_minor' (column 'Annual Revenue'): '12,00' is not an amount of money" out.txt)"
check "bad row changed nothing" "0" "$(cw_q "$DB_x" "select count(*) from accounts where account_id='105'")"

# One Segment-like file through the four sections of [source.seg2.*]
# (chosen by `files`): 6 records x 4 sections, 9 kept, 15 left out by where.
# Account 101 exists (CRM): the group call merges only its name; the
# constants (segment, seats, MRR, ...) are defaults for new accounts only.
# 201 is new from the first group call, renamed by the second (merge: the
# plan and employees it lacks stay). Users s1, s2 come from group calls
# (provisioned at the call; s2's second call moves it to 2024-05-04T10:00Z =
# 1714816800), identify adds s1's e-mail and role. Events find their account
# through user_account over those users: day 2024-05-03 = 19846.
"$BIN" ingest --db "$DB_x" segment.jsonl >out.txt 2>err.txt
check "segment exits 0" "0" "$?"
check "segment: no unmapped key" "" "$(cat err.txt)"
check "segment: filtered" "1" "$(grep -c '15 records left out' out.txt)"
check "segment: accounts" "101|Acme Corp|mid|30|1000000;201|Zeta Inc|enterprise|12|0;" \
  "$(q "select account_id,name,segment,seats,mrr_minor from accounts where account_id in ('101','201') order by 1")"
check "segment: users" "s1|101|sue@acme.com|owner|1714554060;s2|201|||1714816800;" \
  "$(q "select u.user_id,a.account_id,u.email,u.role,u.provisioned_at from users u join accounts a on a.id=u.account where u.user_id like 's%' order by 1")"
check "segment: events" "101|19846|1;201|19846|1;" \
  "$(q "select a.account_id,d.day,d.events from event_days d join accounts a on a.id=d.account where d.day=19846 order by 1")"
# Re-ingest: records of one file are merged per key before they are
# written, so nothing changes and nothing is logged.
before=$(cw_q "$DB_x" "select * from accounts order by 1; select * from users order by 1; select * from event_days order by 1, 2; select count(*) from ingest_log")
"$BIN" ingest --db "$DB_x" segment.jsonl >out.txt 2>&1
check "segment re-ingest exits 0" "0" "$?"
check "segment re-ingest changes nothing" "$before" \
  "$(cw_q "$DB_x" "select * from accounts order by 1; select * from users order by 1; select * from event_days order by 1, 2; select count(*) from ingest_log")"
check "segment re-ingest: 0 new or changed" "1" "$(grep -c 'total 9 rows, 0 new or changed, 5 unchanged, 2 duplicates' out.txt)"

# Billing periods through a source with its own data_end (2024-06-30) and
# `each` over invoice lines: cus_C → 103 (customers.csv), ¥2,000 a seat
# (JPY has no minor unit) × 5 = 10000 a month from 2024-04-01
# (1711929600); the last period ends 2024-06-01 (1717200000), before the
# data end: a cancellation then. Clicks of a user no export has given are
# kept through the source's provision_users: newbie is created in 101,
# provisioned at its earliest event, 2024-05-04T09:00Z = 1714813200.
"$BIN" ingest --db "$DB_x" invoices.jsonl clicks.csv >out.txt 2>&1
check "periods and clicks exit 0" "0" "$?"
check "derived change log" "1711929600|10000|JPY|5|pro;1717200000|0|JPY|0|pro;" \
  "$(q "select s.effective_at,s.mrr_minor,s.currency,s.seats,s.plan from subscriptions s join accounts a on a.id=s.account where a.account_id='103' order by 1")"
check "user created on first sight" "newbie|101|1714813200;" \
  "$(q "select u.user_id,a.account_id,u.provisioned_at from users u join accounts a on a.id=u.account where u.user_id='newbie'")"

# A JSON document that does not parse, or lacks the records array: the
# whole run fails and nothing lands.
printf '{"data": [ {"customer": "cus_A",\n' >subs-broken.json
"$BIN" ingest --db "$DB_x" subs-broken.json >out.txt 2>&1
check "broken document exits 1" "1" "$?"
check "broken document message" "1" "$(grep -c "subs-broken.json:2: invalid JSON" out.txt)"
printf '{"object": "list", "items": []}\n' >subs-empty.json
"$BIN" ingest --db "$DB_x" --source billing subs-empty.json >out.txt 2>&1
check "no records array exits 1" "1" "$?"
check "no records array message" "1" "$(grep -c "subs-empty.json: source billing: records: no array at that path" out.txt)"
# Bad values in a document are numbered by record.
printf '{"data": [{"customer": "cus_A", "start_date": 1711929600, "currency": "usd", "quantity": 1, "items": {"data": [{"price": {"unit_amount": 5}}]}}, {"customer": "cus_Z", "start_date": 1711929600, "currency": "usd", "quantity": 1}]}\n' >subs-bad.json
"$BIN" ingest --db "$DB_x" --source billing subs-bad.json >out.txt 2>&1
check "bad record exits 1" "1" "$?"
check "bad record message" "1" "$(grep -c "subs-bad.json:record 2: field 'account_id' (path 'customer'): 'cus_Z' is not in" out.txt)"

# sources check: the mapped rows, and no change to the database.
"$BIN" sources check --db "$DB_x" --source seg --limit 1 events.jsonl >out.txt 2>err.txt
check "check exits 0" "0" "$?"
check "check prints the mapped row" "1" "$(grep -c '^  ts *2024-04-01T08:00:00Z$' out.txt)"
check "check prints only --limit rows" "1" "$(grep -c '^events line' out.txt)"
check "check lists unmapped keys" "1" "$(grep -c "key 'traits' is not mapped" err.txt)"

# A source of several sections reads its file once per section: not stdin.
"$BIN" ingest --db "$DB_x" --source seg2 - <segment.jsonl >out.txt 2>&1
check "several sections from stdin exit 2" "2" "$?"
check "its message" "1" "$(grep -c 'source seg2 has 4 sections, each reading the input again' out.txt)"

"$BIN" sources show seg2 >out.txt 2>&1
check "show prints every part" "4" "$(grep -c '^\[source.seg2\.' out.txt)"
"$BIN" sources list >out.txt 2>&1
check "list shows a source of several parts once" "1" "$(grep -c '^seg2 .*config  accounts, users, events' out.txt)"

echo "mapping: $pass passed, $fail failed"
[ $fail -eq 0 ]
