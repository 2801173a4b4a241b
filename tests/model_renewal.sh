#!/usr/bin/env bash
# Issue 13 item 5: renewal rows (`train --rows renewal`, docs/model.md
# "Observation design"), on a simulated world with a fixed seed:
# 1. the rows churnwatch builds (train --dump-matrix PREFIX writes every row
#    to PREFIX.obs.csv) are recomputed here independently in Python from
#    the simulator's subscriptions.csv and accounts.csv, the snapshot days
#    asked of `metrics` and which accounts the snapshots hold: the same
#    accounts, observation days, snapshots, renewal days and labels, the
#    same number of renewals whose outcome is unknown at the data end
#    (train's rows_left_out), the fit / calibration / test rows labelled;
# 2. a declared earlier --data-end leaves out exactly the renewals Python
#    says are not known by then;
# 3. backtest --rows renewal end to end: the same model AUC as train, the
#    scorecard judged on the same renewal rows (matched by their snapshot);
# 4. predict with the renewal model scores exactly the active accounts
#    whose next renewal falls in the 30 days after the snapshot;
# 5. bad values are clear errors with exit 2; the default stays weekly.
# usage: model_renewal.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-renewal-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"

"$BIN" simulate --accounts 600 --months 24 --seed 7 --start 2024-01-01 --out w >/dev/null
DB=$(cw_db m)
"$BIN" init --db "$DB" >/dev/null 2>&1
"$BIN" ingest --db "$DB" --progress never w/*.csv >/dev/null
"$BIN" metrics --db "$DB" --from 2024-02-05 --to 2025-12-29 --every 7d --quiet >/dev/null
"$BIN" score --db "$DB" --quiet --limit 1 >/dev/null
cw_q -csv "$DB" "SELECT m.day, a.account_id FROM account_metrics m JOIN accounts a
  ON a.id = m.account ORDER BY 1, 2" >snaprows.csv

# ---- 1. the rows, recomputed ------------------------------------------------
"$BIN" train --db "$DB" --rows renewal --kind logreg --dump-matrix mx --format json >r.json
"$BIN" train --db "$DB" --rows renewal --renewal-days 30 --kind logreg --data-end 2025-09-30 \
  --dump-matrix mx2 --format json >r2.json
cat >renewals.py <<'PY'
"""Renewal rows from the simulator's CSVs, written from docs/model.md's rule."""
import csv, calendar, datetime as dt
from collections import defaultdict

DAY = 86400
EPOCH = dt.date(1970, 1, 1)
TERM = {'monthly': 1, 'annual': 12, 'quarterly': 3, 'semiannual': 6}


def day_of(d):
    return (d - EPOCH).days


def ts_of(s):
    return int(dt.datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp())


def add_months(day, months):
    d = EPOCH + dt.timedelta(days=day)
    k = d.month - 1 + months
    y, m = d.year + k // 12, k % 12 + 1
    return day_of(dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1])))


def load(world):
    subs = defaultdict(list)
    for r in csv.DictReader(open(f'{world}/subscriptions.csv')):
        subs[r['account_id']].append((ts_of(r['effective_at']), int(r['mrr_minor']),
                                      r['billing_period']))
    for v in subs.values():
        v.sort()
    start = {r['account_id']: day_of(dt.date.fromisoformat(r['contract_start']))
             for r in csv.DictReader(open(f'{world}/accounts.csv'))}
    data_end = max(t for v in subs.values() for t, _, _ in v) // DAY
    return subs, start, data_end


def in_force(rows, t):
    """The row in force just before instant t (effective < t), or None."""
    last = None
    for r in rows:
        if r[0] < t:
            last = r
    return last


def renewals(rows, start, n, lo, hi):
    """(observation day, renewal day) of every renewal observed in [lo, hi]."""
    out, k, first = [], 0, True
    while k < len(rows):
        cancelled = False
        while k < len(rows) and rows[k][1] <= 0:
            cancelled, k = True, k + 1
        if k == len(rows):
            break
        A = start if first and not cancelled and start is not None else rows[k][0] // DAY
        first = False
        e = k
        while e < len(rows) and rows[e][1] > 0:
            e += 1
        end = rows[e][0] if e < len(rows) else float('inf')
        P = A
        while True:
            r = in_force(rows, (P + 1) * DAY)
            term = TERM.get(r[2] if r else '', 12)
            j = 0
            while add_months(A, j * term) < P + 1:
                j += 1
            R = add_months(A, j * term)
            O = max(R - n, P + 1)
            if O > hi:
                break
            if O >= lo and O * DAY < end:
                f = in_force(rows, O * DAY + 1)
                if f and f[1] > 0:
                    out.append((O, R))
            if R * DAY >= end:
                break
            P = R
        k = e
    return out


def churned(rows, t0, t1):
    """Whether MRR went from positive to 0 in (t0, t1]."""
    prev = in_force(rows, t0 + 1)
    prev = prev[1] if prev else 0
    for t, mrr, _ in rows:
        if t <= t0:
            continue
        if t > t1:
            break
        if prev > 0 and mrr == 0:
            return True
        prev = mrr
    return False
PY
python3 - <<'PY'
import csv, json, datetime as dt
from renewals import *

subs, start, data_end = load('w')
N = 30
# the snapshot days asked of metrics, and the accounts each holds
snaps = [day_of(dt.date(2024, 2, 5)) + 7 * k for k in range(200)
         if day_of(dt.date(2024, 2, 5)) + 7 * k <= day_of(dt.date(2025, 12, 29))]
held = set()
for line in open('snaprows.csv'):
    d, a = line.strip().split(',')
    held.add((int(d), a))
assert {d for d, _ in held} == set(snaps), "metrics stored other days than asked"


def expect(end):
    rows, seen, unknown = {}, 0, 0
    for a, v in subs.items():
        for O, R in renewals(v, start.get(a), N, snaps[0], snaps[-1]):
            seen += 1
            S = max(s for s in snaps if s <= O)
            if O - S > 31 or (S, a) not in held:
                continue
            known = O + N + 1 <= end
            unknown += not known
            rows[(a, O)] = (S, R, (int(churned(v, O * DAY, R * DAY + DAY - 1)) if known
                                   else 'unknown'))
    return rows, seen, unknown


def got(prefix):
    out, sets = {}, {}
    for r in csv.DictReader(open(f'{prefix}.obs.csv')):
        d = lambda s: day_of(dt.date.fromisoformat(s))
        key = (r['account_id'], d(r['observed']))
        assert key not in out, f"two rows for {key}"
        out[key] = (d(r['snapshot']), d(r['renewal']),
                    r['label'] if r['label'] == 'unknown' else int(r['label']))
        sets[key] = r['set']
    return out, sets


for prefix, js, end in (('mx', 'r.json', data_end),
                        ('mx2', 'r2.json', day_of(dt.date(2025, 9, 30)))):
    want, seen, unknown = expect(end)
    have, sets = got(prefix)
    j = json.load(open(js))
    missing = sorted(set(want) - set(have))[:5]
    extra = sorted(set(have) - set(want))[:5]
    assert not missing and not extra, f"{prefix}: missing {missing}, extra {extra}"
    diff = [(k, want[k], have[k]) for k in want if want[k] != have[k]][:5]
    assert not diff, f"{prefix}: (account, observed): expected (snapshot, renewal, label), got: {diff}"
    rw = j['rows']
    assert rw['design'] == 'renewal' and rw['renewal_days'] == N, rw
    assert rw['built'] == len(want) and rw['renewals'] == seen, (rw, len(want), seen)
    assert rw['no_snapshot'] == seen - len(want), rw
    assert j['rows_left_out'] == unknown == rw['unknown'], (j['rows_left_out'], unknown)
    assert j['data_end'] == (EPOCH + dt.timedelta(days=end)).isoformat(), j['data_end']
    # no leakage: features from a snapshot at or before the observation day,
    # the observation before the renewal, at most N days before it
    assert all(S <= O and O - S <= 31 and O < R and R - O <= N
               for (a, O), (S, R, _) in have.items())
    assert rw['snapshot_stale_max_days'] == max(O - S for (a, O), (S, R, _) in have.items())
    # every fit / calibration / test row is labelled; the unknown ones are in none
    assert all(sets[k] == '' for k, v in have.items() if v[2] == 'unknown')
    m = j['models'][0]
    used = {s: sum(1 for v in sets.values() if v == s) for s in ('fit', 'calibration', 'test')}
    assert (used['fit'], used['calibration'], used['test']) == \
        (m['fit_rows'], m['calibration_rows'], m['test_rows']), (used, m)
    assert m['test_positives'] == sum(1 for k, s in sets.items() if s == 'test' and have[k][2] == 1)
    # the purge gap: every training row's label window closes before the test
    test_from = min(O for (a, O), s in sets.items() if s == 'test')
    assert all(O + N + 1 < test_from for (a, O), s in sets.items() if s in ('fit', 'calibration'))
    monthly = sum(1 for (a, O), (S, R, _) in have.items() if R - O < N)
    pos = sum(1 for v in have.values() if v[2] == 1)
    print(f"{prefix}: {len(have)} renewal rows of {seen} renewals ({seen - len(want)} without "
          f"the account's snapshot), {unknown} unknown at {j['data_end']}, {pos} churned, "
          f"{monthly} observed the day after the previous renewal; stale <= "
          f"{rw['snapshot_stale_max_days']} d; held-out AUC {m['roc_auc']:.3f} "
          f"{m['roc_auc_ci95']} on {m['test_rows']} rows")
    assert m['name'].startswith('churn-logreg-renewal30d-'), m['name']
PY
cw_q "$DB" "SELECT meta FROM models WHERE id = 1" >meta.json
python3 - <<'PY'
import json
m = json.load(open('meta.json'))
assert m['rows']['design'] == 'renewal' and m['rows']['days_before'] == 30, m['rows']
assert m['horizon_days'] == 31, m['horizon_days']
PY

# ---- 3. backtest on renewal rows --------------------------------------------
"$BIN" backtest --db "$DB" --rows renewal --kind logreg --format json \
  --predictions btrows.csv >bt.json
python3 - <<'PY'
import csv, json
r = json.load(open('r.json'))['models'][0]
bt = json.load(open('bt.json'))
# "top 10%" on renewal rows: one share over all the test rows (their
# observation days are scattered), the riskiest, ties to the lower account
rows = list(csv.DictReader(open('btrows.csv')))
for b in bt:
    g = [x for x in rows if x['subject'] == b['subject']]
    assert len(g) == b['metrics']['rows'], (b['subject'], len(g), b['metrics']['rows'])
    f = [float(x['risk']) for x in g if x['flagged'] == '1']
    u = [float(x['risk']) for x in g if x['flagged'] != '1']
    assert len(f) == (len(g) + 9) // 10, (b['subject'], len(f), len(g))  # ceil(10% of n)
    assert not u or min(f) >= max(u), (b['subject'], min(f), max(u))
    assert b['flag'] == {'rule': 'top 10%', 'rows': len(f)}, (b['subject'], b['flag'])
    days = {x['day'] for x in g}
    print(f"{b['subject']}: {len(f)} of {len(g)} renewal rows flagged, over {len(days)} days")
subj = {b['subject']: b for b in bt}
lr = subj['model:logreg']
assert lr['rows'] == 'renewal' and lr['renewal_days'] == 30, lr
assert abs(lr['metrics']['roc_auc'] - r['roc_auc']) < 1e-9, (lr['metrics']['roc_auc'], r['roc_auc'])
assert lr['metrics']['rows'] == r['test_rows'], (lr['metrics']['rows'], r['test_rows'])
sc = [b for k, b in subj.items() if k.startswith('scorecard:')]
assert sc, list(subj)
# the scorecard scored every snapshot, so it judges every test row, by the
# snapshot the row's metrics come from
assert sc[0]['metrics']['rows'] == r['test_rows'], (sc[0]['metrics']['rows'], r['test_rows'])
assert sc[0]['metrics']['positives'] == r['test_positives']
print(f"backtest: logreg AUC {lr['metrics']['roc_auc']:.3f} = train's; scorecard AUC "
      f"{sc[0]['metrics']['roc_auc']:.3f} on the same {r['test_rows']} renewal rows")
PY

# ---- 4. predict with the renewal model ----------------------------------------
"$BIN" predict --db "$DB" --model 1 --top 100000 --format json >p.json
python3 - <<'PY'
import json, datetime as dt
from renewals import *
subs, start, data_end = load('w')
p = json.load(open('p.json'))
D = day_of(dt.date.fromisoformat(p['day']))
held = {a for d, a in (l.strip().split(',') for l in open('snaprows.csv')) if int(d) == D}
active = {a for a in held if (lambda f: f and f[1] > 0)(in_force(subs[a], D * DAY + 1))}
due = {a for a in active
       if any(D < R <= D + 30 for O, R in renewals(subs[a], start.get(a), 30, -10**6, D + 30))}
scored = {x['account_id'] for x in p['top']}
assert p['rows'] == 'renewal' and p['renewal_days'] == 30, p
assert scored == due, (sorted(scored - due)[:5], sorted(due - scored)[:5])
assert p['accounts'] == len(due) and p['not_due'] == len(active) - len(due), \
    (p['accounts'], len(due), p['not_due'], len(active))
print(f"predict: {len(due)} of {len(active)} active accounts renew in the 30 days after "
      f"{p['day']} and are scored; {p['not_due']} not due")
PY
"$BIN" predict --db "$DB" --model 1 --top 3 | grep -q "renewal model: scores the accounts whose next renewal falls in the 30 days after"

# ---- 5. bad values, the default -----------------------------------------------
expect_usage() { # expect_usage MESSAGE-PART ARGS...
  local want=$1; shift
  set +e
  "$@" >out.txt 2>err.txt
  local rc=$?
  set -e
  if [ "$rc" -ne 2 ] || ! grep -qF -- "$want" err.txt || [ -s out.txt ]; then
    echo "FAIL: $* -> exit $rc, stderr: $(cat err.txt)"; exit 1
  fi
}
expect_usage "--rows monthly: expected weekly or renewal" "$BIN" train --db "$DB" --rows monthly
expect_usage "--rows Renewal: expected weekly or renewal" "$BIN" backtest --db "$DB" --rows Renewal
expect_usage "--renewal-days 3: expected a number from 7 to 365" \
  "$BIN" train --db "$DB" --rows renewal --renewal-days 3
expect_usage "--renewal-days 30.5: expected a whole number" \
  "$BIN" train --db "$DB" --rows renewal --renewal-days 30.5
expect_usage "--renewal-days applies to renewal rows" "$BIN" train --db "$DB" --renewal-days 30
expect_usage "--horizon applies to weekly rows" "$BIN" train --db "$DB" --rows renewal --horizon 60
expect_usage "--seat-loss applies to weekly rows" "$BIN" train --db "$DB" --rows renewal --seat-loss 50
expect_usage "--suggest-weights applies to weekly rows" \
  "$BIN" backtest --db "$DB" --rows renewal --suggest-weights
printf '[model]\nrows = biweekly\n' >bad.conf
set +e
"$BIN" --config bad.conf train --db "$DB" >out.txt 2>err.txt
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "rows" err.txt || { echo "FAIL: model.rows = biweekly: exit $rc, $(cat err.txt)"; exit 1; }
n=$(cw_q "$DB" "SELECT count(*) FROM models")
[ "$n" = 2 ] || { echo "FAIL: a refused run saved a model ($n models)"; exit 1; }
# model.rows = renewal in the configuration chooses renewal rows too
printf '[model]\nrows = renewal\nrenewal_days = 45\n' >ren.conf
"$BIN" --config ren.conf train --db "$DB" --kind logreg --force --format json >c.json
python3 -c "
import json; j = json.load(open('c.json'))
assert j['rows']['design'] == 'renewal' and j['rows']['renewal_days'] == 45, j['rows']
assert j['models'][0]['name'].startswith('churn-logreg-renewal45d-'), j['models'][0]['name']"
"$BIN" train --db "$DB" --kind logreg --no-product-features --format json >wk.json
python3 -c "
import json; j = json.load(open('wk.json'))
assert j['rows'] == {'design': 'weekly', 'built': j['rows']['built']}, j['rows']
assert j['models'][0]['name'].startswith('churn-logreg-90d-'), j['models'][0]['name']"
echo "model_renewal: ok"
