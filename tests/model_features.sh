#!/usr/bin/env bash
# Issue 13 on simulated worlds (docs/model.md, "Features" and "Labels"):
# 1. product features: a world whose churn runs through event names no
#    built-in metric reads (simulate --product-events: insight_pin turns into
#    insight_dismiss) — the automatic event features must raise the held-out
#    ROC AUC by at least 0.05 over the catalogue metrics alone, on the same
#    test rows, and the model must name the event;
# 2. honest labels: the same world with subscriptions known only to an
#    earlier day than events — the rows whose window passes the subscription
#    data end are left out and counted, checked against Python's own count
#    from the database; a declared --data-end is obeyed the same way;
# 3. small data: a tiny world stops with exit 8 unless --force.
# usage: model_features.sh path/to/churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-mfeat-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"

"$BIN" simulate --accounts 1200 --months 24 --seed 11 --start 2024-01-01 --product-events \
  --out w >/dev/null
grep -q ',insight_pin,' w/events.csv && grep -q ',insight_dismiss,' w/events.csv
if grep -q insight w/features.csv; then echo "insight events must be in no feature"; exit 1; fi
DB_m=$(cw_db m)
"$BIN" init --db "$DB_m" >/dev/null 2>&1
"$BIN" ingest --db "$DB_m" --progress never w/*.csv >/dev/null
"$BIN" metrics --db "$DB_m" --from 2024-02-05 --to 2025-12-29 --every 14d --quiet >/dev/null
DB_r=$(cw_db_clone "$DB_m" r)

# ---- 1. automatic event features vs the catalogue alone ----------------------
"$BIN" train --db "$DB_m" --kind logreg --format json >with.json
"$BIN" train --db "$DB_m" --kind logreg --no-product-features --format json >without.json
cw_q "$DB_m" "SELECT meta FROM models WHERE id = 1" >meta-with.json
"$BIN" predict --db "$DB_m" --model 1 --top 200 --format json >pred.json
python3 - <<'PY'
import json
w, wo = json.load(open('with.json')), json.load(open('without.json'))
mw, mo = w['models'][0], wo['models'][0]
meta = json.load(open('meta-with.json'))
ev = meta['feature_set']['events']
assert 'insight_pin' in ev and 'insight_dismiss' in ev, ev
assert w['event_names'] == len(ev) and wo['event_names'] == 0, (w['event_names'], wo['event_names'])
assert w['features'] == wo['features'] + 3 * len(ev), (w['features'], wo['features'])
assert len(meta['features']) == w['features']
assert 'event:insight_pin.count_28d' in meta['features']
# the same rows and labels: only the columns differ
assert (mw['test_rows'], mw['test_positives']) == (mo['test_rows'], mo['test_positives'])
gain = mw['roc_auc'] - mo['roc_auc']
print(f"held-out ROC AUC (logreg): catalogue {mo['roc_auc']:.4f} "
      f"{mo['roc_auc_ci95']}, with event features {mw['roc_auc']:.4f} {mw['roc_auc_ci95']}, "
      f"gain {gain:+.4f}")
assert gain >= 0.05, f"event features raised the AUC by only {gain:.4f}"
lo, hi = mw['roc_auc_ci95']
assert lo < mw['roc_auc'] < hi and hi - lo < 0.1, mw['roc_auc_ci95']
# what it looks at: an insight event among the top drivers
top = [d['metric'] for d in mw['top_drivers']]
assert any(t.startswith('insight_') for t in top), top
# and the explanations name it for some flagged account, in words
p = json.load(open('pred.json'))
texts = [d['text'] for a in p['top'] for d in a['drivers']
         if d['metric'].startswith('insight_') and d['direction'] == 'raises']
assert texts and "events in the last 28 days" in texts[0], texts[:3]
print(f"{len(texts)} raising drivers name an insight event, e.g. {texts[0]!r}")
PY

# ---- 1b. a custom metric is a feature; the event features are right --------
# The last 8 snapshots recomputed with a custom metric counting insight_pin
# over 28 days: the metrics engine's custom metric and the model's own
# event feature (two code paths) must agree, and both must equal a count
# made here from events.csv over the days D-28 .. D-1.
DB_c=$(cw_db_clone "$DB_m" c)
printf '[metric.pins_28d]\ntype = count\nevents = insight_pin\n' >custom.conf
"$BIN" --config custom.conf metrics --db "$DB_c" --from 2025-09-08 --to 2025-12-29 --every 14d \
  --recompute --quiet >/dev/null
"$BIN" --config custom.conf train --db "$DB_c" --kind logreg --dump-matrix mx --format json >c.json
cw_q -csv "$DB_c" "SELECT id, account_id FROM accounts" >ids.csv
python3 - <<'PY'
import json, struct, csv, datetime as dt
from collections import defaultdict
def npy(path):
    b = open(path, 'rb').read()
    hl = struct.unpack('<H', b[8:10])[0]
    hdr = b[10:10 + hl].decode()
    shape = eval(hdr)['shape']
    return hdr, shape, b[10 + hl:]
c = json.load(open('c.json'))
assert c['custom_metrics'] == 1, c
feats = open('mx.features.txt').read().split()
i_c, i_ct, i_e = feats.index('pins_28d'), feats.index('pins_28d.trend'), feats.index('event:insight_pin.count_28d')
_, (n, nf), xb = npy('mx.x.npy')
_, _, rb = npy('mx.rows.npy')
assert nf == len(feats)
ext = {int(r[0]): r[1] for r in csv.reader(open('ids.csv'))}
rows = [struct.unpack_from('<ii', rb, 8 * i) for i in range(n)]
def x(i, j):
    return struct.unpack_from('<f', xb, 4 * (i * nf + j))[0]
pins = defaultdict(lambda: defaultdict(int))   # account -> day -> count
for r in csv.DictReader(open('w/events.csv')):
    if r['event'] == 'insight_pin':
        d = (dt.date.fromisoformat(r['ts'][:10]) - dt.date(1970, 1, 1)).days
        pins[r['account_id']][d] += 1
recent = first = 0
for i, (day, acc) in enumerate(rows):
    ev, cm = x(i, i_e), x(i, i_c)
    want = sum(pins[ext[acc]].get(d, 0) for d in range(day - 28, day))
    assert ev == want, (day, acc, ev, want)
    if cm == cm:   # not NaN: a recomputed snapshot
        assert cm == ev, (day, acc, cm, ev)
        recent += 1
    else:
        first += 1
assert recent > 1000 and first > 1000, (recent, first)
print(f"custom metric = event feature = count from events.csv on {recent} rows; "
      f"{first} earlier rows without the custom metric (NaN)")
PY

# ---- 2. ragged end: subscriptions known to 2025-08-31 only -------------------
CUT=$(python3 -c "import calendar,datetime as d;print(calendar.timegm(d.date(2025,9,1).timetuple()))")
cw_q "$DB_r" "DELETE FROM subscriptions WHERE effective_at >= $CUT"
"$BIN" train --db "$DB_r" --kind logreg --format json >ragged.json
"$BIN" train --db "$DB_r" --kind logreg --data-end 2025-06-30 --format json >declared.json
"$BIN" train --db "$DB_r" --kind logreg --data-end 2025-06-30 >declared.txt
grep -q "labels known to 2025-06-30 (--data-end); [0-9]* row(s) whose window passes it left out" \
  declared.txt || { cat declared.txt; exit 1; }
python3 - "$CW_TEST_LIB" "$DB_r" <<'PY'
import json, sys, datetime as dt, bisect
sys.path.insert(0, sys.argv[1])
from cwdb import cw_q
db = sys.argv[2]
subs = {}
for a, t, m in cw_q(db, "SELECT account, effective_at, mrr_minor FROM subscriptions ORDER BY 1, 2"):
    subs.setdefault(a, ([], []))
    subs[a][0].append(t); subs[a][1].append(m)
end_ts = cw_q(db, "SELECT max(effective_at) FROM subscriptions")[0][0]
def left_out(end_day):
    n = 0
    for day, acc in cw_q(db, "SELECT day, account FROM account_metrics"):
        ts, mrr = subs.get(acc, ([], []))
        k = bisect.bisect_right(ts, day * 86400) - 1   # in force at the instant
        if k >= 0 and mrr[k] > 0 and day + 90 > end_day:
            n += 1
    return n
def day_of(s):
    return (dt.date.fromisoformat(s) - dt.date(1970, 1, 1)).days
r, d = json.load(open('ragged.json')), json.load(open('declared.json'))
end_day = end_ts // 86400
assert r['data_end'] == str(dt.date(1970, 1, 1) + dt.timedelta(days=end_day)), (r['data_end'], end_day)
assert r['data_end'] < '2025-09-01' and r['data_end_from'] == 'latest subscription change'
want = left_out(end_day)
assert r['rows_left_out'] == want, (r['rows_left_out'], want)
# no label window reaches past the data end
assert day_of(r['test_to']) + 90 <= end_day, (r['test_to'], r['data_end'])
assert d['data_end'] == '2025-06-30' and d['data_end_from'] == 'declared'
want_d = left_out(day_of('2025-06-30'))
assert d['rows_left_out'] == want_d, (d['rows_left_out'], want_d)
assert day_of(d['test_to']) + 90 <= day_of('2025-06-30')
print(f"ragged end: data end {r['data_end']}, {want} rows left out; declared 2025-06-30: {want_d}")
PY

# ---- 3. small data: exit 8 unless --force -------------------------------------
# (the bar raised above this world's churn rows; the default is 30)
set +e
"$BIN" train --db "$DB_m" --kind logreg --min-positives 100000 >small.out 2>small.err
rc=$?
set -e
[ "$rc" = 8 ] || { cat small.out small.err; echo "small data: exit $rc, want 8"; exit 1; }
grep -q "too few churns to judge a model: [0-9]* churn row(s) in the fit rows and [0-9]* in the test rows, at least 100000 each are needed" small.err ||
  { cat small.err; exit 1; }
"$BIN" train --db "$DB_m" --kind logreg --min-positives 100000 --force --format json >forced.json
"$BIN" train --db "$DB_m" --kind logreg --min-positives 100000 --force >forced.txt
grep -q "^warning: under --min-positives" forced.txt || { cat forced.txt; exit 1; }
python3 -c "
import json; f = json.load(open('forced.json'))
assert f['small_data'] is True and f['models'][0]['roc_auc_ci95'][0] is not None, f
print('small data: exit 8; with --force trained and marked small_data')"
"$BIN" help exit-codes | grep -q "^  8  train / backtest: too few churns"
echo "model_features: ok"
