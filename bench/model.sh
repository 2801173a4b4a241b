#!/usr/bin/env bash
# Churn model benchmark — a measurement, not a test.
#
#   bench/model.sh [METRICS_DB] [SCORE_ACCOUNTS] [SCORE_MONTHS]
#     METRICS_DB     a database with the 10k-account world of bench/metrics.sh
#                    (default bench/out/metrics-10000-24.db); it is copied, not written
#     SCORE_ACCOUNTS accounts of the world scored by predict (default 100000)
#     SCORE_MONTHS   its months (default 2)
#
# 1. train: on a copy of METRICS_DB with 104 weekly snapshots (missing ones are
#    computed first, untimed), `churnwatch train --kind logreg` and
#    `--kind xgboost`, each timed separately (wall, peak RSS, the fit time the
#    command reports); the first also writes the exact matrix (--dump-matrix).
# 2. reference, same run: bench/model_ref.py fits scikit-learn's
#    LogisticRegression (same preprocessing) and python3-xgboost (same
#    parameters) on the same fit rows and scores the same test rows: fit
#    time and ROC AUC.
# 3. predict: simulates a SCORE_ACCOUNTS world, ingests it, computes one
#    snapshot (untimed), copies the two trained models in and times
#    `churnwatch predict` (scoring, explanations, what-would-turn-it-green,
#    storing every prediction) with each.
# Prints Markdown for docs/benchmarks.md. Large files are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-$PWD/bench/out/metrics-10000-24.db}
NS=${2:-100000} MS=${3:-2}
BIN=$PWD/build/churnwatch
PY=/usr/bin/python3 # Debian's python3 with python3-sklearn / python3-xgboost
OUT=$PWD/bench/out
mkdir -p "$OUT"
DB=$OUT/model-10k.db
T=$OUT/model-times
: >"$T"
measure() { # label, command... ; appends "label wall_s rss_kib" to $T, stdout to $OUT/$label.out
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/t.$$" "$@" >"$OUT/$label.out" 2>"$OUT/$label.err" ||
    { cat "$OUT/$label.err"; exit 1; }
  echo "$label $(cat "$OUT/t.$$")" >>"$T"
  rm -f "$OUT/t.$$"
}

rm -f "$DB" "$DB-wal" "$DB-shm"
cp "$SRC" "$DB"
"$BIN" init --db "$DB" >/dev/null 2>&1
"$BIN" metrics --db "$DB" --from 2024-01-10 --to 2025-12-31 --every 7d --quiet >/dev/null
SNAPS=$(sqlite3 "$DB" "SELECT count(*) FROM metric_snapshots")
ROWS=$(sqlite3 "$DB" "SELECT count(*) FROM account_metrics")
measure train_logreg "$BIN" train --db "$DB" --kind logreg --threads 2 --format json --dump-matrix "$OUT/mx"
measure train_xgboost "$BIN" train --db "$DB" --kind xgboost --threads 2 --format json
measure ref "$PY" bench/model_ref.py "$OUT/mx"

# The scoring world.
W=$OUT/sworld-$NS-$MS
SDB=$OUT/score-$NS-$MS.db
if [ ! -f "$SDB" ]; then
  rm -rf "$W"
  "$BIN" simulate --accounts "$NS" --months "$MS" --seed 3 --start 2025-01-01 --out "$W" >/dev/null
  "$BIN" init --db "$SDB" >/dev/null 2>&1
  "$BIN" ingest --db "$SDB" --progress never "$W"/*.csv >/dev/null
  rm -rf "$W"
fi
LAST=$(sqlite3 "$SDB" "SELECT date(max(effective_at), 'unixepoch') FROM subscriptions")
SDAY=$($PY -c "import datetime as d;s=d.date.fromisoformat('2025-01-01');m=$MS;print(d.date(s.year+(s.month-1+m)//12,(s.month-1+m)%12+1,1)-d.timedelta(days=1))")
"$BIN" metrics --db "$SDB" --as-of "$SDAY" --quiet --format csv >/dev/null
sqlite3 "$SDB" "DELETE FROM models; DELETE FROM predictions;
  ATTACH '$DB' AS src; INSERT INTO models SELECT * FROM src.models;"
LR=$(sqlite3 "$SDB" "SELECT id FROM models WHERE kind='logreg' ORDER BY id DESC LIMIT 1")
XG=$(sqlite3 "$SDB" "SELECT id FROM models WHERE kind='xgboost' ORDER BY id DESC LIMIT 1")
measure predict_logreg "$BIN" predict --db "$SDB" --model "$LR" --as-of "$SDAY" --format json --top 0
measure predict_xgboost "$BIN" predict --db "$SDB" --model "$XG" --as-of "$SDAY" --format json --top 0
SCORED=$(sqlite3 "$SDB" "SELECT count(*) FROM predictions WHERE model=$XG")

$PY - "$T" "$OUT" "$SNAPS" "$ROWS" "$NS" "$SCORED" "$SDAY" <<'PY'
import sys, json, os
t, out, snaps, rows, ns, scored, sday = sys.argv[1:8]
m = {l.split()[0]: (float(l.split()[1]), int(l.split()[2]) / 1024) for l in open(t)}
tl = json.load(open(f"{out}/train_logreg.out")); tx = json.load(open(f"{out}/train_xgboost.out"))
ref = json.load(open(f"{out}/ref.out"))
L, X = tl["models"][0], tx["models"][0]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} cores; training db: {snaps} weekly snapshots, {int(rows):,} account rows;"
      f" matrix {L['fit_rows']:,} fit + {L['calibration_rows']:,} calibration + {L['test_rows']:,} test rows x {tl['features']} features")
print()
print("| what | wall s | fit s | peak RSS MiB | test ROC AUC | fit time vs reference |")
print("|---|---|---|---|---|---|")
print(f"| churnwatch train --kind logreg (load, fit, calibrate, test, save; + matrix dump) | {m['train_logreg'][0]:.1f} | {L['fit_s']:.1f} | {m['train_logreg'][1]:.0f} | {L['roc_auc']:.4f} | {ref['logreg']['fit_s']/L['fit_s']:.2f}x |")
print(f"| reference: scikit-learn LogisticRegression, same rows and preprocessing | | {ref['logreg']['fit_s']:.1f} | | {ref['logreg']['roc_auc']:.4f} | 1x |")
print(f"| churnwatch train --kind xgboost | {m['train_xgboost'][0]:.1f} | {X['fit_s']:.1f} | {m['train_xgboost'][1]:.0f} | {X['roc_auc']:.4f} | {ref['xgboost']['fit_s']/X['fit_s']:.2f}x |")
print(f"| reference: python3-xgboost, same rows and parameters | | {ref['xgboost']['fit_s']:.1f} | | {ref['xgboost']['roc_auc']:.4f} | 1x |")
print(f"| reference script as a whole (load .npy, both fits, scoring) | {m['ref'][0]:.1f} | | {m['ref'][1]:.0f} | | |")
print()
print(f"| score {int(scored):,} accounts ({ns} simulated), snapshot {sday} | wall s | accounts/s | peak RSS MiB |")
print("|---|---|---|---|")
for k in ("logreg", "xgboost"):
    w, r = m[f"predict_{k}"]
    print(f"| churnwatch predict, {k} (score, explain, to-green, store) | {w:.1f} | {int(scored)/w:,.0f} | {r:.0f} |")
print()
print("reference details:", json.dumps(ref))
PY
rm -f "$DB" "$DB-wal" "$DB-shm" "$OUT"/mx.*
