#!/usr/bin/env bash
# Billing periods (docs/importers.md, "Billing periods"): a warehouse-shaped
# export (tests/data/periods/) becomes the subscription change log and the
# MRR bridge worked out below by hand. Also: re-ingest changes nothing; a
# later export that renews the "cancelled" line turns the cancellation into
# a continuation; inclusive and exclusive ends give the same log; a missing
# data end, bad rows and mixing a subscriptions file with periods for one
# account are errors that change nothing.
# usage: periods.sh path/to/churnwatch path/to/tests/data/periods
#
# The export, data end 2025-06-30 (every date 00:00 UTC; ends exclusive):
#
# P1  Pro        monthly 100.00 × 5 seats from 2025-01-01 (three renewals),
#                3 seats from 2025-04-01 (downgrade), last period
#                2025-05-01..2025-06-01 ends before the data end: cancelled
#                at 2025-06-01.
#     Analytics  add-on 20.00 × 1, 25 % off: 2000 × 0.75 = 1500 a month,
#                2025-02-15..2025-04-15, then gone (last end ≤ data end).
#     Log: 01-01 50000/5 seats; 02-15 50000+1500 = 51500/6; 04-01 30000+1500
#          = 31500/4; 04-15 30000/3; 06-01 0/0. Plan = Pro throughout (the
#          line with the highest MRR). Renewals at the same price give no row.
# P2  Team       6-month term (month × 6) at 600.00: 60000 / 6 = 10000 a
#                month from 2024-12-01; renewed 2025-06-01 at 660.00 → 11000,
#                that term ends 2025-12-01 > data end: still running.
#     Log: 2024-12-01 10000/1 semiannual; 2025-06-01 11000/1.
# P3  Enterprise yearly 1200.00 × 2, 240.00 off, then 10 % off:
#                (240000 − 24000) × 0.9 / 12 = 16200 from 2025-03-10, running.
# P4  (no product) mrr_minor 5000 given: Jan, Feb, then a gap (March, April),
#                then May, June (ends 2025-07-01 > data end: running).
#     Log: 01-01 5000/1; 03-01 0/0 (the gap = stop); 05-01 5000/1 (restart).
#
# The bridge (an account's MRR at a month's end is its last change effective
# strictly before the next month's first instant, docs/revenue.md):
#   2024-12  new 10000 (P2)                                      end 10000
#   2025-01  new 50000 (P1) + 5000 (P4) = 55000                  end 65000
#   2025-02  expansion 1500 (P1 add-on)                          end 66500
#   2025-03  new 16200 (P3); churn 5000 (P4: 0 from 03-01)       end 77700
#            (P1's 04-01 downgrade is effective at April's first
#            instant: it counts for April, not March)
#   2025-04  contraction 51500 − 30000 = 21500 (P1)              end 56200
#   2025-05  reactivation 5000 (P4)                              end 61200
#   2025-06  expansion 1000 (P2); churn 30000 (P1)               end 32200
#   check: 11000 (P2) + 16200 (P3) + 5000 (P4) = 32200.
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
D=$(realpath "$2")
T=$(mktemp -d /tmp/cw-periods-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
fail() {
    echo "periods.sh: $*"
    exit 1
}
LOG="SELECT a.account_id, $(cw_date s.effective_at), s.mrr_minor, s.seats,
  coalesce(s.plan, ''), coalesce(s.billing_period, ''), s.origin
  FROM subscriptions s JOIN accounts a ON a.id = s.account ORDER BY 1, 2"

# ---- no data end: an error that says how to give one; nothing written
DB_a=$(cw_db a)
"$BIN" init --db "$DB_a" >/dev/null 2>&1
if "$BIN" ingest --db "$DB_a" "$D/accounts.csv" "$D/periods.csv" >out 2>&1; then
    fail "ingest without a data end succeeded"
fi
grep -q "give --data-end YYYY-MM-DD" out || fail "no hint about --data-end: $(cat out)"
[ "$(cw_q "$DB_a" 'SELECT count(*) FROM accounts')" -eq 0 ] || fail "rows written without data end"

# ---- the export
"$BIN" ingest --db "$DB_a" --data-end 2025-06-30 "$D/accounts.csv" "$D/periods.csv" >out 2>&1 ||
    fail "ingest failed: $(cat out)"
grep -q "change log derived for 4 account(s), 4 of them changed" out || fail "summary: $(cat out)"
cat >want.log <<'EOF'
P1|2025-01-01|50000|5|Pro|monthly|periods
P1|2025-02-15|51500|6|Pro|monthly|periods
P1|2025-04-01|31500|4|Pro|monthly|periods
P1|2025-04-15|30000|3|Pro|monthly|periods
P1|2025-06-01|0|0|Pro|monthly|periods
P2|2024-12-01|10000|1|Team|semiannual|periods
P2|2025-06-01|11000|1|Team|semiannual|periods
P3|2025-03-10|16200|2|Enterprise|annual|periods
P4|2025-01-01|5000|1||monthly|periods
P4|2025-03-01|0|0||monthly|periods
P4|2025-05-01|5000|1||monthly|periods
EOF
cw_q "$DB_a" "$LOG" >got.log
diff want.log got.log || fail "derived change log differs (want, got above)"

"$BIN" report revenue --db "$DB_a" --format csv >rev.csv || fail "report revenue failed"
cut -d, -f1,3-9 rev.csv >got.bridge
cat >want.bridge <<'EOF'
period,mrr_start,new,expansion,contraction,churn,reactivation,mrr_end
2024-12,0.00,100.00,0.00,0.00,0.00,0.00,100.00
2025-01,100.00,550.00,0.00,0.00,0.00,0.00,650.00
2025-02,650.00,0.00,15.00,0.00,0.00,0.00,665.00
2025-03,665.00,162.00,0.00,0.00,50.00,0.00,777.00
2025-04,777.00,0.00,0.00,215.00,0.00,0.00,562.00
2025-05,562.00,0.00,0.00,0.00,0.00,50.00,612.00
2025-06,612.00,0.00,10.00,0.00,300.00,0.00,322.00
EOF
diff want.bridge got.bridge || fail "MRR bridge differs (want, got above)"

# ---- re-ingest: nothing changes, not even the ingest log
cw_dump "$DB_a" >dump1.sql
"$BIN" ingest --db "$DB_a" --data-end 2025-06-30 "$D/accounts.csv" "$D/periods.csv" >out 2>&1 ||
    fail "re-ingest failed: $(cat out)"
grep -q "0 of them changed" out || fail "re-ingest changed derived rows: $(cat out)"
cw_dump "$DB_a" >dump2.sql
cmp -s dump1.sql dump2.sql || {
    diff dump1.sql dump2.sql | head -20
    fail "re-ingest changed the database"
}

# ---- inclusive ends (2025-01-01..2025-01-31) give the same log
DB_b=$(cw_db b)
"$BIN" init --db "$DB_b" >/dev/null 2>&1
"$BIN" ingest -q --db "$DB_b" --data-end 2025-06-30 "$D/accounts.csv" "$D/periods_inclusive.csv" ||
    fail "inclusive ingest failed"
cw_q "$DB_b" "$LOG" >got_incl.log
diff want.log got_incl.log || fail "inclusive ends give another log"

# ---- a later export (data end 2025-07-15) renews P1's Pro line: the
# cancellation at 2025-06-01 becomes a continuation at 30000. Only P1 is
# re-derived (the others keep their log).
"$BIN" ingest --db "$DB_a" --data-end 2025-07-15 "$D/periods_later.csv" >out 2>&1 ||
    fail "later export failed: $(cat out)"
grep -q "derived for 1 account(s), 1 of them changed" out || fail "later summary: $(cat out)"
grep -v '^P1|2025-06-01|' want.log >want_later.log
cw_q "$DB_a" "$LOG" >got_later.log
diff want_later.log got_later.log || fail "renewal did not replace the cancellation"
"$BIN" report revenue --db "$DB_a" --format csv | cut -d, -f1,3-9 | grep '^2025-06' >got.jun
[ "$(cat got.jun)" = "2025-06,612.00,0.00,10.00,0.00,0.00,0.00,622.00" ] || fail "June after renewal: $(cat got.jun)"

# ---- bad rows: file:line: field 'x': why, and nothing written
cw_dump "$DB_a" >dump3.sql
if "$BIN" ingest --db "$DB_a" --data-end 2025-06-30 "$D/bad.csv" >out 2>&1; then
    fail "bad rows accepted"
fi
for want in "bad.csv:2: field 'period_end': must be after period_start" \
    "bad.csv:3: field 'account_id': unknown account 'NOPE'" \
    "bad.csv:4: field 'amount_minor': must not be negative (-100)"; do
    grep -qF "$want" out || fail "missing error '$want' in: $(cat out)"
done

# ---- one account's change log comes from one place only
"$BIN" ingest -q --db "$DB_a" "$D/p5_subscriptions.csv" || fail "P5 subscriptions failed"
cw_dump "$DB_a" >dump3.sql
if "$BIN" ingest --db "$DB_a" --data-end 2025-06-30 "$D/p5_periods.csv" >out 2>&1; then
    fail "periods accepted for an account with a subscriptions file"
fi
grep -qF "p5_periods.csv:2: field 'account_id': account 'P5' has subscription changes from a subscriptions file" out ||
    fail "conflict message: $(cat out)"
printf 'account_id,effective_at,mrr_minor,currency,seats\nP1,2025-09-01,100,USD,1\n' >s1.csv
if "$BIN" ingest --db "$DB_a" s1.csv >out 2>&1; then
    fail "subscriptions accepted for an account with billing periods"
fi
grep -qF "s1.csv:2: field 'account_id': account 'P1' has billing periods" out ||
    fail "conflict message: $(cat out)"
cw_dump "$DB_a" >dump4.sql
cmp -s dump3.sql dump4.sql || fail "a refused ingest changed the database"

# ---- one account's periods share one currency: against the stored ones
# and against earlier rows of the run
printf 'account_id,product,period_start,mrr_minor,currency\nP2,Extra,2025-07-01,100,EUR\n' >eur.csv
if "$BIN" ingest --db "$DB_a" --data-end 2025-07-15 eur.csv >out 2>&1; then
    fail "a second currency was accepted"
fi
grep -qF "eur.csv:2: field 'currency': is EUR, but account 'P2' is billed in USD" out ||
    fail "currency message: $(cat out)"
printf 'account_id,product,period_start,mrr_minor,currency\nP5,A,2025-07-01,100,EUR\nP5,B,2025-07-01,100,USD\n' >mixed.csv
DB_c=$(cw_db c)
"$BIN" init --db "$DB_c" >/dev/null 2>&1
if "$BIN" ingest --db "$DB_c" --data-end 2025-07-15 "$D/accounts.csv" mixed.csv >out 2>&1; then
    fail "two currencies in one run were accepted"
fi
grep -qF "mixed.csv:3: field 'currency': is USD, but account 'P5' is billed in EUR" out ||
    fail "currency message: $(cat out)"
cw_dump "$DB_a" >dump5.sql
cmp -s dump3.sql dump5.sql || fail "a refused ingest changed the database"

# ---- bad --data-end
if "$BIN" ingest --db "$DB_a" --data-end 2025-13-01 "$D/periods.csv" >out 2>&1; then
    fail "bad --data-end accepted"
fi
grep -q -- "--data-end 2025-13-01" out || fail "bad --data-end message: $(cat out)"
echo "periods.sh: ok"
