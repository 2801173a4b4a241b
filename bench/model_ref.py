#!/usr/bin/python3
"""Reference for bench/model.sh: the exact matrix `churnwatch train
--dump-matrix PREFIX` trained on, fitted with scikit-learn and python3-xgboost.

Fit rows = set 0, test rows = set 2 (calibration rows, set 1, are not used:
ROC AUC depends only on the ranking, which a monotone calibration keeps).
Preprocessing for the logistic regression mirrors lib/model/model.c: median
imputation plus missing indicators, clipping to the fit rows' 1st..99th
percentiles, standardisation; L2 with C = 0.05 (liblinear's C on the same
loss). XGBoost parameters and the choice of rounds are lib/model/model.c's:
early stopping (log-loss, patience 50, at most 1000 rounds) on the last
quarter of the fit rows' snapshot days, fitting on the rows a horizon
before them, then a fit of that many rounds on all fit rows; both are
timed. Prints JSON: fit seconds and test ROC AUC per kind.

usage: model_ref.py PREFIX [HORIZON_DAYS]"""
import json, sys, time
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
import xgboost as xgb

prefix = sys.argv[1]
horizon = int(sys.argv[2]) if len(sys.argv) > 2 else 90
X = np.load(prefix + ".x.npy", mmap_mode="r")
y = np.load(prefix + ".y.npy")
s = np.load(prefix + ".set.npy")
fit, test = s == 0, s == 2
Xf, Xt = np.asarray(X[fit]), np.asarray(X[test])
out = {"fit_rows": int(fit.sum()), "test_rows": int(test.sum())}

t0 = time.time()
med = np.nanmedian(Xf, axis=0)
med = np.where(np.isnan(med), 0, med)
lo = np.nanpercentile(Xf, 1, axis=0)
hi = np.nanpercentile(Xf, 99, axis=0)
lo, hi = np.where(np.isnan(lo), 0, lo), np.where(np.isnan(hi), 0, hi)
hasmiss = np.isnan(Xf).any(axis=0)
def prep(A, mean=None, sd=None):
    miss = np.isnan(A)
    B = np.where(miss, med, A)
    B = np.clip(B, lo, hi)
    return B, miss[:, hasmiss].astype(np.float32)
Bf, Mf = prep(Xf)
mean, sd = Bf.mean(axis=0), Bf.std(axis=0)
sd = np.where(sd > 1e-6, sd, 1)
Zf = np.hstack([(Bf - mean) / sd, Mf])
lr = LogisticRegression(C=0.05, max_iter=1000).fit(Zf, y[fit])
out_lr_fit = time.time() - t0
Bt, Mt = prep(Xt)
pl = lr.decision_function(np.hstack([(Bt - mean) / sd, Mt]))
out["logreg"] = {"fit_s": out_lr_fit, "roc_auc": roc_auc_score(y[test], pl)}

t0 = time.time()
params = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
          "max_depth": 4, "eta": 0.03, "min_child_weight": 10, "subsample": 0.8,
          "colsample_bytree": 0.5, "lambda": 1, "nthread": 2, "seed": 42, "verbosity": 0}
days = np.load(prefix + ".rows.npy")[:, 0]
fdays = np.unique(days[fit])
val_from = fdays[len(fdays) - len(fdays) // 4]
es_fit = fit & (days + horizon < val_from)
es_val = fit & (days >= val_from)
de = xgb.DMatrix(np.asarray(X[es_fit]), label=y[es_fit], missing=np.nan, nthread=2)
dv = xgb.DMatrix(np.asarray(X[es_val]), label=y[es_val], missing=np.nan, nthread=2)
es = xgb.train(params, de, num_boost_round=1000, evals=[(dv, "val")],
               early_stopping_rounds=50, verbose_eval=False)
rounds = es.best_iteration + 1
d = xgb.DMatrix(Xf, label=y[fit], missing=np.nan, nthread=2)
bst = xgb.train(params, d, num_boost_round=rounds)
out_x_fit = time.time() - t0
px = bst.predict(xgb.DMatrix(Xt, missing=np.nan, nthread=2))
out["xgboost"] = {"fit_s": out_x_fit, "roc_auc": roc_auc_score(y[test], px), "rounds": rounds,
                  "version": xgb.__version__}
print(json.dumps(out))
