#!/usr/bin/env bash
# Issue 13, items 6 and 7 (docs/model.md, "Calibration" and "Flagged"), on a
# simulated world whose churn rate drops for good on 2025-01-10
# (simulate --churn-shift 2025-01-10:0.25): about 10% of the rows churn
# within 90 days in the fit months, under 4% in the test months.
# 6. The backtest's models are recalibrated on the latest fully labelled
#    window before the test: their mean test prediction, recomputed here
#    from the written rows (--predictions), must lie closer to the observed
#    churn rate than with the calibration slice's Platt sigmoid alone; the
#    calibration table by decile (backtest and train, JSON and table) must
#    add up to the rows and churns, and match deciles recomputed here.
# 7. Flagged = the riskiest 10% of each test day's scored rows: per subject
#    and day exactly ceil(10% of the rows), the riskiest ones; the lead time
#    and "missed" recomputed here from the rows and the subscription
#    changes in the database must equal the backtest's. With --flag
#    "p >= 0.1" a model's flagged rows are those at or above 0.1.
# usage: model_calib.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-mcalib-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"

"$BIN" simulate --accounts 1500 --months 24 --seed 5 --start 2024-01-01 \
  --churn-shift 2025-01-10:0.25 --out w >/dev/null
grep -q '"churn_shift": {"from": "2025-01-10", "factor": 0.25}' w/manifest.json
DB=$(cw_db m)
"$BIN" init --db "$DB" >/dev/null 2>&1
"$BIN" ingest --db "$DB" --progress never w/*.csv >/dev/null
"$BIN" metrics --db "$DB" --from 2024-02-05 --to 2025-12-29 --every 14d --quiet >/dev/null
# The default scorecard over every snapshot: a subject without probabilities
# (integer-ish scores, so the share rule meets ties).
"$BIN" score --db "$DB" --quiet --limit 1 >/dev/null
cw_q -csv "$DB" "SELECT a.account_id, s.effective_at, s.mrr_minor FROM subscriptions s
  JOIN accounts a ON a.id = s.account ORDER BY a.account_id, s.effective_at" >subs.csv

"$BIN" backtest --db "$DB" --predictions rows.csv --format json >bt.json
"$BIN" backtest --db "$DB" --kind logreg >bt.txt
"$BIN" backtest --db "$DB" --kind logreg --flag 'p >= 0.1' --predictions rows-p.csv \
  --format json >bt-p.json
"$BIN" train --db "$DB" --format json >train.json
"$BIN" train --db "$DB" --kind logreg >train.txt
for f in bt.txt train.txt; do
  grep -q "calibration of .* by decile of risk" $f || { cat $f; exit 1; }
  grep -q "recalibrated before the test: snapshots" $f || { cat $f; exit 1; }
done
grep -q "^flagged: top 10% of each test day's scored rows" bt.txt || { cat bt.txt; exit 1; }
grep -q "saved model recalibrated on: snapshots" train.txt || { cat train.txt; exit 1; }
# a bad rule is a usage error naming the option
if "$BIN" backtest --db "$DB" --flag 'top 10' >/dev/null 2>bad.err; then exit 1; fi
grep -q -- "--flag top 10: must be a share" bad.err || { cat bad.err; exit 1; }

python3 - <<'PY'
import csv, json, math, datetime as dt
from collections import defaultdict

H = 90
def day(s): return (dt.date.fromisoformat(s) - dt.date(1970, 1, 1)).days

def load_rows(path):
    rows = defaultdict(list)
    for r in csv.DictReader(open(path)):
        rows[r['subject']].append(r)
    return rows

def deciles(rows):
    """Ascending risk (ties: the later row first, as eval.c's descending
    order read backwards); decile d holds ascending ranks
    [floor(d n / 10), floor((d + 1) n / 10)) (docs/model.md)."""
    o = sorted(range(len(rows)), key=lambda i: (float(rows[i]['risk']), -i))
    n, out = len(o), []
    for d in range(10):
        g = [rows[i] for i in o[d * n // 10:(d + 1) * n // 10]]
        m = len(g)
        out.append((m, sum(int(r['label']) for r in g),
                    sum(float(r['risk']) for r in g) / m if m else None))
    return out

# churn instants per account: MRR from > 0 to 0 (cw_churn_first)
churns, prev = defaultdict(list), {}
for acc, ts, mrr in csv.reader(open('subs.csv')):
    ts, mrr = int(ts), int(mrr)
    if prev.get(acc, 0) > 0 and mrr == 0:
        churns[acc].append(ts)
    prev[acc] = mrr

def lead_time(rows, test_from, test_to):
    by = defaultdict(list)
    for r in rows:
        by[r['account_id']].append((day(r['day']), r['flagged'] == '1'))
    n = flagged = 0
    leads = []
    for acc, rs in by.items():
        for c in churns.get(acc, []):
            if not (test_from * 86400 < c <= (test_to + H) * 86400):
                continue
            look = sorted(d for d in rs if c - 2 * H * 86400 <= d[0] * 86400 < c)
            if not look:
                continue
            n += 1
            first = next((d for d, f in look if f), None)
            if first is not None:
                flagged += 1
                leads.append(c // 86400 - first)
    leads.sort()
    med = None
    if leads:
        k = len(leads)
        med = leads[k // 2] if k % 2 else (leads[k // 2 - 1] + leads[k // 2]) / 2
    return n, flagged, med, (n - flagged) / n if n else None

bt = {s['subject']: s for s in json.load(open('bt.json'))}
rows = load_rows('rows.csv')
assert 'model:logreg' in bt and 'model:xgboost' in bt, list(bt)
assert any(k.startswith('scorecard:') for k in bt), list(bt)
for subj, s in bt.items():
    rs = rows[subj]
    m = s['metrics']
    tf, tt = day(s['test_from']), day(s['test_to'])
    # ---- 6. the decile table adds up, and matches our own deciles
    dec = m['calibration']
    assert sum(d['rows'] for d in dec) == m['rows'] == len(rs), (subj, m['rows'], len(rs))
    assert sum(d['positives'] for d in dec) == m['positives'] == sum(int(r['label']) for r in rs)
    mine = deciles(rs)
    for d, (n, pos, mean) in zip(dec, mine):
        assert (d['rows'], d['positives']) == (n, pos), (subj, d, n, pos)
        assert abs(d['observed'] - pos / n) < 1e-6, (subj, d)
        if s['probabilities']:
            assert abs(d['mean_score'] - mean) < 1e-6, (subj, d, mean)
    # ---- 7. flagged: ceil(10%) of each day's rows, the riskiest
    assert s['flag']['rule'] == 'top 10%', s['flag']
    per = defaultdict(list)
    for r in rs:
        per[r['day']].append(r)
    total = 0
    for d, g in per.items():
        f = [float(r['risk']) for r in g if r['flagged'] == '1']
        u = [float(r['risk']) for r in g if r['flagged'] != '1']
        assert len(f) == (len(g) + 9) // 10, (subj, d, len(f), len(g))  # ceil(10% of n)
        assert not u or min(f) >= max(u), (subj, d)
        total += len(f)
    assert s['flag']['rows'] == total, (subj, s['flag'], total)
    n, fl, med, missed = lead_time(rs, tf, tt)
    lt = s['lead_time']
    assert (lt['churns'], lt['flagged']) == (n, fl), (subj, lt, n, fl)
    assert (med is None and lt['median_days'] is None) or abs(lt['median_days'] - med) < 1e-9, (subj, lt, med)
    assert abs(lt['never_flagged_share'] - missed) < 1e-6, (subj, lt, missed)
    print(f"{subj}: {len(rs)} rows, {total} flagged over {len(per)} days; "
          f"{n} churns, {fl} flagged first, median lead {med} d, missed {missed:.3f}")

# ---- 6. the recalibrated mean prediction follows the base rate
for subj in ('model:logreg', 'model:xgboost'):
    rs, br = rows[subj], bt[subj]['base_rate']
    obs = sum(int(r['label']) for r in rs) / len(rs)
    mean = sum(float(r['risk']) for r in rs) / len(rs)
    platt = sum(float(r['p_platt_only']) for r in rs) / len(rs)
    assert abs(br['observed'] - obs) < 1e-6 and abs(br['mean_predicted'] - mean) < 1e-6
    assert abs(br['mean_predicted_platt_only'] - platt) < 1e-6, (br, platt)
    rc = br['recalibration']
    assert rc and day(rc['window_to']) + H < day(bt[subj]['test_from']), rc
    print(f"{subj}: test churn {obs:.4f}; mean prediction recalibrated {mean:.4f} "
          f"(window {rc['window_from']} .. {rc['window_to']}, churn {rc['observed']:.4f}), "
          f"Platt alone {platt:.4f}")
    assert platt > obs, "the world's base rate drops: the old calibration over-predicts"
    assert abs(mean - obs) < abs(platt - obs), (subj, mean, platt, obs)

# ---- 7. "p >= 0.1": a model's flagged rows are those at or above it
bp = {s['subject']: s for s in json.load(open('bt-p.json'))}
rp = load_rows('rows-p.csv')
lg = rp['model:logreg']
assert bp['model:logreg']['flag']['rule'] == 'p >= 0.1'
assert all((r['flagged'] == '1') == (float(r['risk']) >= 0.1) for r in lg)
assert bp['model:logreg']['flag']['rows'] == sum(r['flagged'] == '1' for r in lg)
n, fl, med, missed = lead_time(lg, day(bp['model:logreg']['test_from']), day(bp['model:logreg']['test_to']))
assert (bp['model:logreg']['lead_time']['churns'], bp['model:logreg']['lead_time']['flagged']) == (n, fl)

# ---- train: the decile table in its JSON, and the saved model's window
tr = json.load(open('train.json'))
for m in tr['models']:
    c = m['calibration']
    assert sum(d['rows'] for d in c['deciles']) == m['test_rows']
    assert sum(d['positives'] for d in c['deciles']) == m['test_positives']
    assert abs(c['observed'] - m['test_positives'] / m['test_rows']) < 1e-6
    # the saved model follows the latest labelled window: it ends at the last test day
    assert c['recalibration']['window_to'] == tr['test_to'], (c['recalibration'], tr['test_to'])
    assert c['test_recalibration']['window_to'] <= tr['train_to']
    assert abs(c['recalibration']['mean_after'] - c['recalibration']['observed']) < 0.002, c
print("calibration and flags: ok")
PY
