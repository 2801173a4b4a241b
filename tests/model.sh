#!/usr/bin/env bash
# The churn model's quality bar on a simulated world with a fixed seed
# (docs/model.md, "Quality"): simulate 2000 accounts x 24 months, ingest,
# compute weekly snapshots, train both kinds, predict four held-out test
# snapshots and judge the predictions in Python against labels it derives
# itself from subscriptions.csv and the simulator's hidden drivers
# (truth/ground_truth.csv). Then backtest, with a scorecard made from the
# predictions, and check the backtest against the same independent numbers.
# Last, a second world (seed 6) is trained and held to the same AUC bar.
# usage: model.sh path/to/churnwatch [full|quick]
# quick (the sanitizer build): 400 accounts x 15 months, the same pipeline and
# cross-checks, no quality thresholds.
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
MODE=${2:-full}
T=$(mktemp -d /tmp/cw-model-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"

if [ "$MODE" = quick ]; then
  ACCOUNTS=400 MONTHS=15 TO=2025-03-24
else
  ACCOUNTS=2000 MONTHS=24 TO=2025-12-29
fi
"$BIN" simulate --accounts $ACCOUNTS --months $MONTHS --seed 5 --start 2024-01-01 --out w >/dev/null
DB_m=$(cw_db m)
"$BIN" init --db "$DB_m" >/dev/null 2>&1
"$BIN" ingest --db "$DB_m" --progress never w/*.csv >/dev/null
"$BIN" metrics --db "$DB_m" --from 2024-02-05 --to $TO --every 7d --quiet >/dev/null
"$BIN" train --db "$DB_m" --activate --format json >train.json
cw_q -csv "$DB_m" "SELECT id, account_id FROM accounts" >ids.csv

# Four held-out snapshots, four weeks apart, from the first test snapshot.
read -r TEST_FROM < <(python3 -c "import json;print(json.load(open('train.json'))['test_from'])")
for k in 0 4 8 12; do
  D=$(python3 -c "import datetime as d;print(d.date.fromisoformat('$TEST_FROM')+d.timedelta(weeks=$k))")
  "$BIN" predict --db "$DB_m" --as-of "$D" --top 100000 --format json >"pred-$k.json"
done
"$BIN" predict --db "$DB_m" --as-of "$TEST_FROM" --top 3 >pred.txt
grep -q "accounts scored with model" pred.txt || { cat pred.txt; echo "predict table"; exit 1; }
# --offset / --top select the same ranks in json, jsonl and csv (issue 18).
"$BIN" predict --db "$DB_m" --as-of "$TEST_FROM" --top 100000 --format json >pall.json
"$BIN" predict --db "$DB_m" --as-of "$TEST_FROM" --offset 2 --top 3 --format jsonl >ppart.jsonl
"$BIN" predict --db "$DB_m" --as-of "$TEST_FROM" --offset 2 --limit 3 --format csv >ppart.csv
python3 - <<'PY' || { echo "predict --offset/--top: json, jsonl and csv disagree"; exit 1; }
import csv, json
top = json.load(open("pall.json"))["top"]
part = [json.loads(l) for l in open("ppart.jsonl")]
assert len(top) >= 5 and part == top[2:5], (len(top), part)
rows = list(csv.DictReader(open("ppart.csv", newline="")))
assert [r["account_id"] for r in rows] == [t["account_id"] for t in top[2:5]], rows
PY
# A model that has not seen the last half year is flagged (not an error):
# the fresh one scoring the newest snapshot is not; the same model told its
# test period ended 2024-03-01 is.
"$BIN" predict --db "$DB_m" --top 0 >/dev/null 2>fresh.err
if grep -q "retrain" fresh.err; then cat fresh.err; echo "fresh model called stale"; exit 1; fi
# set_test_to DATE: the active model's meta.windows.test_to (jsonb_set on PG)
set_test_to() {
  local e="json_set(meta, '\$.windows.test_to', '$1')"
  cw_is_pg && e="CAST(jsonb_set(CAST(meta AS jsonb), '{windows,test_to}', to_jsonb(CAST('$1' AS TEXT))) AS TEXT)"
  cw_q "$DB_m" "UPDATE models SET meta = $e WHERE active <> 0"
}
set_test_to 2024-03-01
"$BIN" predict --db "$DB_m" --top 0 >/dev/null 2>stale.err
grep -q "tested on snapshots up to 2024-03-01, .* days before .*retrain it" stale.err ||
  { cat stale.err; echo "stale model not flagged"; exit 1; }
set_test_to "$(python3 -c "import json;print(json.load(open('train.json'))['test_to'])")"
cw_q "$DB_m" "DELETE FROM predictions WHERE day = (SELECT max(day) FROM metric_snapshots)"

# A scorecard made from the predictions (score = 100 - 100 p, red at p >= 25%),
# so the backtest's scorecard path can be checked against Python's AUC.
cw_q "$DB_m" "INSERT INTO scores(day, account, scorecard, score, colour, change, contrib)
  SELECT day, account, 'from-predictions', 100 - 100 * probability,
         CASE WHEN probability >= 0.25 THEN 2 WHEN probability >= 0.1 THEN 1 ELSE 0 END,
         NULL, '{}' FROM predictions"
"$BIN" backtest --db "$DB_m" --format json >backtest.json
"$BIN" backtest --db "$DB_m" --kind logreg >backtest.txt
grep -q "calibration of model:logreg" backtest.txt || { cat backtest.txt; exit 1; }

# The real (default) scorecard through the same backtest, and its weights
# fitted to the history (backtest --suggest-weights).
"$BIN" score --db "$DB_m" --quiet --limit 1 >/dev/null
"$BIN" backtest --db "$DB_m" --kind logreg --format json >backtest-sc.json
"$BIN" backtest --db "$DB_m" --suggest-weights >suggest.txt
python3 - <<'PY'
import json, re
hash_ = open('suggest.txt').read().split('(')[1].split(')')[0]
subj = {s['subject']: s for s in json.load(open('backtest-sc.json'))}
sc = subj.get('scorecard:' + hash_)
assert sc, f"no backtest of the default scorecard {hash_}: {list(subj)}"
auc = sc['metrics']['roc_auc']
assert 0.55 < auc < 1, f"default scorecard AUC {auc}"
txt = open('suggest.txt').read()
rows = re.findall(r'^\S+\s+\S+\s+([0-9.]+)\s+([0-9.]+)\s+(-?[0-9.]+)$', txt, re.M)
now = sum(float(r[0]) for r in rows); sug = sum(float(r[1]) for r in rows)
assert len(rows) >= 15 and abs(now - 100) < 0.5 and abs(sug - 100) < 0.5, (len(rows), now, sug)
m = re.search(r'ROC AUC ([0-9.]+) at the start of the tuning, ([0-9.]+) after', txt)
assert m and float(m.group(2)) >= float(m.group(1)), m and m.groups()
t = re.search(r'([0-9.]+) now, ([0-9.]+) with the suggested weights', txt)
v = re.search(r'^Verdict: (.*)$', txt, re.M)
gain = float(t.group(2)) - float(t.group(1))
want = 'better' if gain >= 0.005 else 'NOT recommended' if gain <= -0.005 else 'no clear gain'
assert v and want in v.group(1), (gain, v and v.group(1))
print(f"model: default scorecard backtest AUC {auc:.3f}; suggested weights: held-out AUC "
      f"{t.group(1)} -> {t.group(2)}, fitting rows {m.group(1)} -> {m.group(2)}")
PY

MODE=$MODE python3 - <<'PY'
import csv, os, json, datetime as dt, glob
ep = dt.date(1970, 1, 1)
day = lambda s: (dt.date.fromisoformat(s[:10]) - ep).days
H = 90
# Churn events from subscriptions.csv: the instants MRR goes from > 0 to 0.
subs = {}
for r in csv.DictReader(open('w/subscriptions.csv')):
    subs.setdefault(r['account_id'], []).append((r['effective_at'], int(r['mrr_minor'])))
churns = {}
for a, rows in subs.items():
    rows.sort()
    prev = 0
    for ts, m in rows:
        if prev > 0 and m == 0:
            t = dt.datetime.fromisoformat(ts.replace('Z', '+00:00'))
            churns.setdefault(a, []).append(t.timestamp() / 86400)
        prev = m
def label(a, d):
    return int(any(d < c <= d + H for c in churns.get(a, [])))
gt = {r['account_id']: r for r in csv.DictReader(open('w/truth/ground_truth.csv'))}
natural = {'out_of_business', 'outgrew', 'staff_change'}
family = {'poor_onboarding': {'onboarding'}, 'unused_licences': {'onboarding'},
          'narrow_usage': {'breadth'}, 'falling_engagement': {'engagement'},
          'late_intro_tickets': {'support'}, 'detractor': {'voice', 'support'},
          'outcome_behind': {'outcomes'}}

def auc(pairs):  # (score, label): Mann-Whitney with ties counted half
    pairs = sorted(pairs)
    pos = sum(y for _, y in pairs); neg = len(pairs) - pos
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        r = (i + 1 + j) / 2
        rank_sum += r * sum(y for _, y in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)

rows = []  # (day, account, p, label, driver, onset passed, top raising driver's family)
for f in sorted(glob.glob('pred-*.json')):
    P = json.load(open(f))
    d = day(P['day'])
    for r in P['top']:
        g = gt[r['account_id']]
        onset = g['driver_onset_date']
        passed = bool(onset) and day(onset) <= d
        top = next((x for x in r['drivers'] if x['direction'] == 'raises'), None)
        rows.append((d, r['account_id'], r['probability'], label(r['account_id'], d),
                     g['driver'], passed, top['family'] if top else None))
bad = []
quick = os.environ['MODE'] == 'quick'
T = json.load(open('train.json'))
auc_train = {m['kind']: m['roc_auc'] for m in T['models']}
best = max(T['models'], key=lambda m: (m['roc_auc'], m['kind'] == 'xgboost'))
if [m['active'] for m in T['models']] != [m is best for m in T['models']]:
    bad.append(f"--activate did not pick the higher held-out AUC: {[(m['kind'], m['roc_auc'], m['active']) for m in T['models']]}")
for m in T['models']:  # what each model looks at: 8 metrics, largest share first
    sh = [d['share'] for d in m['top_drivers']]
    if len(sh) != 8 or sh != sorted(sh, reverse=True) or not 0 < sum(sh) <= 1 + 1e-9:
        bad.append(f"{m['kind']} top drivers {m['top_drivers']}")
    print(f"model: {m['kind']} looks most at " + ", ".join(
        f"{d['metric']} {100 * d['share']:.1f}%" for d in m['top_drivers'][:4]))
all_auc = auc([(p, y) for _, _, p, y, *_ in rows])
beh_auc = auc([(p, y) for _, _, p, y, drv, *_ in rows if drv not in natural])
print(f"model: train's held-out ROC AUC: logreg {auc_train['logreg']:.3f}, xgboost {auc_train['xgboost']:.3f}")
print(f"model: predictions on 4 test snapshots: {len(rows)} rows, {sum(r[3] for r in rows)} churn in 90 d;"
      f" AUC {all_auc:.3f}, without natural-cause accounts {beh_auc:.3f}")
# Measured on this world: xgboost 0.807 (train's split), 0.812 (these
# predictions), logreg 0.754. The bar (issue: >= 0.80 held-out) is close to
# what these worlds allow: ~25% of churns are natural causes no metric
# shows, and an oracle told each behavioural driver and its onset reaches
# 0.82 (docs/model.md, "Quality on simulated worlds").
if not quick:
    if auc_train['xgboost'] < 0.80: bad.append(f"xgboost held-out AUC {auc_train['xgboost']:.3f} < 0.80")
    if auc_train['logreg'] < 0.73: bad.append(f"logreg held-out AUC {auc_train['logreg']:.3f} < 0.73")
    if all_auc < 0.80: bad.append(f"prediction AUC {all_auc:.3f} < 0.80")
    if beh_auc < 0.85: bad.append(f"AUC without natural causes {beh_auc:.3f} < 0.85")
# Explanations: accounts flagged (p >= 25%) whose behavioural driver has set in.
ex = [r for r in rows if r[4] in family and r[5] and r[2] >= 0.25]
hit = sum(1 for r in ex if r[6] in family[r[4]])
share = hit / len(ex) if ex else 0
print(f"model: top driver names the hidden driver's family for {hit} of {len(ex)} flagged accounts ({share:.0%})")
if not quick and (len(ex) < 100 or share <= 0.5): bad.append(f"top driver family matches {share:.0%} of {len(ex)} (want > 50%)")
# Natural causes are not blamed on behaviour: rows 90 days before a churn.
pn = [r[2] for r in rows if r[3] and r[4] in natural]
pb = [r[2] for r in rows if r[3] and r[4] in family]
mn, mb = sum(pn) / max(len(pn), 1), sum(pb) / max(len(pb), 1)
print(f"model: mean probability before churn: natural causes {mn:.3f} ({len(pn)} rows), behavioural {mb:.3f} ({len(pb)} rows)")
if not quick and not mn < 0.6 * mb: bad.append(f"natural-cause churns {mn:.3f} not well below behavioural {mb:.3f}")

# Backtest: same split and seeds as train, so the same test AUC; the
# scorecard built from the predictions ranks exactly as they do.
B = {s['subject']: s for s in json.load(open('backtest.json'))}
for k in ('logreg', 'xgboost'):
    got = B[f'model:{k}']['metrics']['roc_auc']
    if abs(got - auc_train[k]) > 1e-6: bad.append(f"backtest {k} AUC {got} != train's {auc_train[k]}")
sc = B.get('scorecard:from-predictions')
if not sc:
    bad.append("backtest has no scorecard subject")
else:
    lo, hi = day(sc['test_from']), day(sc['test_to'])
    want = auc([(p, y) for d, _, p, y, *_ in rows if lo <= d <= hi])
    got = sc['metrics']['roc_auc']
    n = sum(1 for r in rows if lo <= r[0] <= hi)
    print(f"model: backtest scorecard AUC {got:.6f} on {sc['metrics']['rows']} rows; Python on the same rows {want:.6f} ({n})")
    if abs(got - want) > 1e-6 or sc['metrics']['rows'] != n: bad.append("scorecard AUC/rows differ from Python's")
    if sc['metrics']['brier'] is not None: bad.append("scorecard has a Brier score")
    lt = sc['lead_time']
    if not (lt['churns'] > 0 and 0 <= lt['never_flagged_share'] <= 1): bad.append(f"lead time {lt}")
    print(f"model: scorecard lead time: {lt}")
xl = B['model:xgboost']
if len(xl['metrics']['roc']) > 101 or xl['metrics']['roc'][0] != [0, 0] or xl['metrics']['roc'][-1] != [1, 1]:
    bad.append("ROC curve points")
if bad:
    print("\n".join(bad)); raise SystemExit(1)
print("model: quality bar met")
PY

# A second world (seed 6), train only: the bar must not hang on one seed.
if [ "$MODE" = full ]; then
  "$BIN" simulate --accounts $ACCOUNTS --months $MONTHS --seed 6 --start 2024-01-01 --out w6 >/dev/null
  DB_m6=$(cw_db m6)
  "$BIN" init --db "$DB_m6" >/dev/null 2>&1
  "$BIN" ingest --db "$DB_m6" --progress never w6/*.csv >/dev/null
  rm -rf w6
  "$BIN" metrics --db "$DB_m6" --from 2024-02-05 --to $TO --every 7d --quiet >/dev/null
  "$BIN" train --db "$DB_m6" --format json >train6.json
  python3 - <<'PY'
import json
a = {m['kind']: m['roc_auc'] for m in json.load(open('train6.json'))['models']}
print(f"model: second world (seed 6): held-out ROC AUC logreg {a['logreg']:.3f}, xgboost {a['xgboost']:.3f}")
if a['xgboost'] < 0.80 or a['logreg'] < 0.73:
    raise SystemExit("second world below the bar (xgboost >= 0.80, logreg >= 0.73)")
PY
fi
