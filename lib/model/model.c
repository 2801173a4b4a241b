/*
 * model.c — the two model kinds behind `churnwatch train` and their
 * calibration, contributions and serialisation.
 *
 * Logistic regression (liblinear, L2-regularised, primal trust-region
 * solver): each raw feature is imputed with its training median, clipped
 * to its training 1st–99th percentiles (heavy-tailed counts would otherwise
 * dominate), standardised, and paired with a missing indicator when the
 * training rows had missing values. A feature's contribution is
 * weight × standardised value, so it is measured against an average
 * account and the contributions add up exactly to the log-odds.
 *
 * Gradient-boosted trees (XGBoost C API): raw features, NaN as missing
 * (XGBoost learns a default direction per split); contributions are its
 * exact TreeSHAP values (pred_contribs).
 *
 * Both give a raw decision value f (log-odds scale); a Platt sigmoid
 * p = 1 / (1 + exp(-(a f + b))) fitted on a held-out calibration slice turns
 * it into a probability. Contributions are reported on the calibrated
 * log-odds scale (multiplied by a; b joins the base value).
 */
#include "model/model_int.h"
#include "core/json.h"
#include "core/util.h"

#include <jansson.h>
#include <linear.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#define LR_C           0.05
/* Rounds when there is too little history to stop early (see
 * xgb_pick_rounds), and the bounds of early stopping. */
#define XGB_ROUNDS     250
#define XGB_MAX_ROUNDS 1000
#define XGB_PATIENCE   50
#define XGB_CHUNK      65536
#define QUANTILE_SAMP  200000

/* A failed allocation in stage what: the message names the stage. */
static cw_status nomem(cw_error *err, const char *what)
{
    return cw_error_set(err, CW_ERR_NOMEM, "model: %s: out of memory", what);
}

const char *cw_model_kind_name(cw_model_kind kind)
{
    return kind == CW_MODEL_XGBOOST ? "xgboost" : "logreg";
}

void cw_model_library_version(cw_model_kind kind, char *buf, size_t n)
{
    if (kind == CW_MODEL_XGBOOST) {
        int a, b, c;
        XGBoostVersion(&a, &b, &c);
        snprintf(buf, n, "xgboost %d.%d.%d", a, b, c);
    } else {
        snprintf(buf, n, "liblinear %d.%d", LIBLINEAR_VERSION / 100, LIBLINEAR_VERSION % 100);
    }
}

void cw_model_free(cw_model *md)
{
    if (!md)
        return;
    free(md->median);
    free(md->clip_lo);
    free(md->clip_hi);
    free(md->mean);
    free(md->sd);
    free(md->w);
    free(md->wmiss);
    free(md->meta);
    if (md->thr)
        for (int j = 0; j < md->nf; j++)
            free(md->thr[j]);
    free(md->thr);
    free(md->nthr);
    if (md->booster)
        XGBoosterFree(md->booster);
    cw_mx_spec_free(&md->spec);
    free(md);
}

static cw_model *model_new(cw_model_kind kind, int nf, int nmetrics)
{
    cw_model *md = calloc(1, sizeof *md);
    if (!md)
        return NULL;
    md->kind = kind;
    md->nf = nf;
    md->nmetrics = nmetrics;
    md->platt_a = 1;
    if (kind == CW_MODEL_LOGREG) {
        md->median = calloc((size_t)nf, sizeof(double));
        md->clip_lo = calloc((size_t)nf, sizeof(double));
        md->clip_hi = calloc((size_t)nf, sizeof(double));
        md->mean = calloc((size_t)nf, sizeof(double));
        md->sd = calloc((size_t)nf, sizeof(double));
        md->w = calloc((size_t)nf, sizeof(double));
        md->wmiss = calloc((size_t)nf, sizeof(double));
        if (!md->median || !md->clip_lo || !md->clip_hi || !md->mean || !md->sd || !md->w ||
            !md->wmiss) {
            cw_model_free(md);
            return NULL;
        }
    }
    return md;
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The standardised value of raw feature j (NaN imputed), and whether it was missing. */
static inline double lr_z(const cw_model *md, int j, float v, int *missing)
{
    double x = v;
    *missing = isnan(x);
    if (*missing)
        x = md->median[j];
    if (x < md->clip_lo[j])
        x = md->clip_lo[j];
    if (x > md->clip_hi[j])
        x = md->clip_hi[j];
    return md->sd[j] > 0 ? (x - md->mean[j]) / md->sd[j] : 0;
}

static double lr_decision(const cw_model *md, const float *x)
{
    double f = md->bias;
    for (int j = 0; j < md->nf; j++) {
        int miss;
        double z = lr_z(md, j, x[j], &miss);
        f += md->w[j] * z + (miss ? md->wmiss[j] : 0);
    }
    return f;
}

static void quiet(const char *s)
{
    (void)s;
}

/* The model's scaling from the n fit rows idx: median and 1% / 99% clip
 * bounds from quantiles on an evenly strided sample, then the mean and sd
 * of the clipped values. hasmiss[j] is set when feature j is missing in
 * some rows but not all: a missing indicator for j only where missingness
 * varies over the fit rows, since an indicator that is 1 on every row is a
 * second intercept, and the L2 penalty spreads the bias over all of them (65
 * all-missing columns took most of the weight on a real dataset). A feature
 * missing on every fit row gets sd 0: weight 0, no indicator. */
static cw_status lr_scale(cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                          unsigned char *hasmiss)
{
    int nf = m->nf;
    float *col = malloc((size_t)(n < QUANTILE_SAMP ? n : QUANTILE_SAMP) * sizeof *col);
    if (!col)
        return CW_ERR_NOMEM;
    int64_t step = n > QUANTILE_SAMP ? (n + QUANTILE_SAMP - 1) / QUANTILE_SAMP : 1;
    for (int j = 0; j < nf; j++) {
        int64_t k = 0, nmiss = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = m->x[idx[i] * nf + j];
            if (isnan(v))
                nmiss++;
            else if (i % step == 0)
                col[k++] = v;
        }
        hasmiss[j] = nmiss > 0 && nmiss < n;
        if (k == 0) {
            md->median[j] = md->clip_lo[j] = md->clip_hi[j] = 0;
            continue;
        }
        qsort(col, (size_t)k, sizeof *col, float_cmp);
        md->median[j] = col[k / 2];
        md->clip_lo[j] = col[(int64_t)(0.01 * (double)(k - 1))];
        md->clip_hi[j] = col[(int64_t)(0.99 * (double)(k - 1))];
    }
    free(col);
    for (int j = 0; j < nf; j++)
        md->sd[j] = 1; /* so lr_z gives the clipped, centred-later value */
    double *sum = calloc((size_t)nf, sizeof *sum), *sq = calloc((size_t)nf, sizeof *sq);
    if (!sum || !sq) {
        free(sum);
        free(sq);
        return CW_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *x = m->x + idx[i] * nf;
        for (int j = 0; j < nf; j++) {
            int miss;
            double v = lr_z(md, j, x[j], &miss); /* mean 0, sd 1: the clipped value */
            sum[j] += v;
            sq[j] += v * v;
        }
    }
    for (int j = 0; j < nf; j++) {
        md->mean[j] = sum[j] / (double)n;
        double var = sq[j] / (double)n - md->mean[j] * md->mean[j];
        md->sd[j] = var > 1e-12 ? sqrt(var) : 0;
    }
    free(sum);
    free(sq);
    return CW_OK;
}

/* The liblinear problem over the scaled rows (nonzero standardised values,
 * missing indicators as features nf+1 .. 2nf, the bias as an extra
 * feature) and its L2-regularised logistic fit into md's weights. */
static cw_status lr_fit(cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                        const unsigned char *hasmiss, cw_error *err)
{
    int nf = m->nf;
    int64_t nz = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = m->x + idx[i] * nf;
        for (int j = 0; j < nf; j++) {
            int miss;
            double z = lr_z(md, j, x[j], &miss);
            nz += (z != 0) + (miss && hasmiss[j]);
        }
    }
    struct feature_node *nodes = malloc(((size_t)nz + 2 * (size_t)n) * sizeof *nodes);
    struct feature_node **rows = malloc((size_t)n * sizeof *rows);
    double *y = malloc((size_t)n * sizeof *y);
    cw_status rc = CW_OK;
    if (!nodes || !rows || !y) {
        rc = nomem(err, "logreg");
        goto out;
    }
    struct feature_node *p = nodes;
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = m->x + idx[i] * nf;
        rows[i] = p;
        for (int j = 0; j < nf; j++) {
            int miss;
            double z = lr_z(md, j, x[j], &miss);
            if (z != 0)
                *p++ = (struct feature_node){j + 1, z};
        }
        for (int j = 0; j < nf; j++)
            if (hasmiss[j] && isnan(x[j]))
                *p++ = (struct feature_node){nf + j + 1, 1.0};
        *p++ = (struct feature_node){2 * nf + 1, 1.0}; /* bias */
        *p++ = (struct feature_node){-1, 0};
        y[i] = m->y[idx[i]] ? 1 : 0;
        pos += m->y[idx[i]] != 0;
    }
    struct problem prob = {(int)n, 2 * nf + 1, y, rows, -1};
    struct parameter par;
    memset(&par, 0, sizeof par);
    par.solver_type = L2R_LR;
    par.eps = 0.01;
    par.C = LR_C;
    const char *why = check_parameter(&prob, &par);
    if (why || pos == 0 || pos == n) {
        rc = cw_error_set(err, CW_ERR_INPUT, "logreg: %s",
                          why ? why : "the training rows hold a single class");
        goto out;
    }
    set_print_string_function(quiet);
    struct model *lm = train(&prob, &par);
    if (!lm) {
        rc = nomem(err, "logreg: train");
        goto out;
    }
    int labels[2];
    get_labels(lm, labels);
    int li = labels[0] == 1 ? 0 : 1;
    for (int j = 0; j < nf; j++) {
        md->w[j] = get_decfun_coef(lm, j + 1, li);
        md->wmiss[j] = get_decfun_coef(lm, nf + j + 1, li);
    }
    md->bias = get_decfun_coef(lm, 2 * nf + 1, li);
    free_and_destroy_model(&lm);
out:
    free(nodes);
    free(rows);
    free(y);
    return rc;
}

static cw_status fit_logreg(const cw_mx *m, const int64_t *idx, int64_t n, cw_model **out,
                            cw_error *err)
{
    cw_model *md = model_new(CW_MODEL_LOGREG, m->nf, m->nmetrics);
    unsigned char *hasmiss = calloc((size_t)m->nf, 1);
    cw_status rc = !md || !hasmiss ? CW_ERR_NOMEM : lr_scale(md, m, idx, n, hasmiss);
    if (rc != CW_OK)
        rc = nomem(err, "logreg"); /* lr_scale fails only for memory */
    if (rc == CW_OK)
        rc = lr_fit(md, m, idx, n, hasmiss, err);
    free(hasmiss);
    if (rc != CW_OK) {
        cw_model_free(md);
        return rc;
    }
    *out = md;
    return CW_OK;
}

/* A failed XGBoost call in stage what, with XGBoost's own message. */
static cw_status xgb_error(cw_error *err, const char *what)
{
    return cw_error_set(err, CW_ERR_INPUT, "xgboost: %s: %s", what, XGBGetLastError());
}

/* Threads for DMatrix construction: XGBoost's hist method also builds its
 * gradient index with the DMatrix's own thread count, which the plain
 * XGDMatrixCreateFromMat sets to 1: on the benchmark matrix the fit took
 * 29 s that way and 7.7 s with both cores. */
static int xgb_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* A DMatrix of rows idx[0..n) of m (copied). */
static int xgb_dmatrix(const cw_mx *m, const int64_t *idx, int64_t n, int with_labels,
                       DMatrixHandle *out)
{
    float *buf = calloc((size_t)(n ? n : 1) * (size_t)m->nf, sizeof *buf);
    if (!buf)
        return -2;
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + i * m->nf, m->x + idx[i] * m->nf, (size_t)m->nf * sizeof *buf);
    int rc =
        XGDMatrixCreateFromMat_omp(buf, (bst_ulong)n, (bst_ulong)m->nf, NAN, out, xgb_threads());
    free(buf);
    if (rc == 0 && with_labels) {
        float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
        if (!y) {
            XGDMatrixFree(*out);
            return -2;
        }
        for (int64_t i = 0; i < n; i++)
            y[i] = m->y[idx[i]] ? 1.0f : 0.0f;
        rc = XGDMatrixSetFloatInfo(*out, "label", y, (bst_ulong)n);
        free(y);
    }
    return rc;
}

/* A booster on dm with churnwatch's tree parameters. Shallow trees, a small
 * step, column sampling and a minimum leaf weight: on the simulated worlds
 * (four of them, docs/model.md) this regularisation with early stopping
 * ranked held-out accounts better than deeper trees boosted longer. */
const char cw_xgb_params_text[] = "hist, max_depth 4, eta 0.03, min_child_weight 10, "
                                  "subsample 0.8, colsample_bytree 0.5, lambda 1";

static int xgb_booster(DMatrixHandle dm, const cw_fit_opts *o, BoosterHandle *out)
{
    if (XGBoosterCreate(&dm, 1, out) != 0)
        return -1;
    char threads[16], seed[24];
    snprintf(threads, sizeof threads, "%d", o->threads > 0 ? o->threads : 2);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)(o->seed % 2147483647ULL));
    const char *params[][2] = {
        {"objective", "binary:logistic"},
        {"eval_metric", "logloss"},
        {"tree_method", "hist"},
        {"max_depth", "4"},
        {"eta", "0.03"},
        {"min_child_weight", "10"},
        {"subsample", "0.8"},
        {"colsample_bytree", "0.5"},
        {"lambda", "1"}, /* keep cw_xgb_params_text in step */
        {"nthread", threads},
        {"seed", seed},
        {"verbosity", "0"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (XGBoosterSetParam(*out, params[i][0], params[i][1]) != 0) {
            XGBoosterFree(*out);
            return -1;
        }
    return 0;
}

/* The validation log-loss from XGBoosterEvalOneIter's "[i]\tval-logloss:x". */
static double xgb_eval_logloss(BoosterHandle b, int it, DMatrixHandle val)
{
    const char *names[1] = {"val"}, *res = NULL;
    if (XGBoosterEvalOneIter(b, it, &val, names, 1, &res) != 0 || !res)
        return NAN;
    const char *c = strrchr(res, ':');
    return c ? strtod(c + 1, NULL) : NAN;
}

/*
 * The number of boosting rounds, by early stopping on a purged validation
 * slice of the fit rows: the last quarter of their snapshot days validates,
 * and only rows whose label window ends before it (day + horizon < first
 * validation day) fit. Without the purge the validation rows share label
 * windows with the fitting rows and reward over-fitting. Returns 0 and
 * leaves *rounds alone when the slices are too small to judge.
 */
static int xgb_pick_rounds(const cw_mx *m, const int64_t *idx, int64_t n, const cw_fit_opts *o,
                           cw_model *md, int *rounds, cw_error *err)
{
    /* distinct days of the fit rows (rows are in snapshot order) */
    int nd = 0;
    int64_t *days = malloc((size_t)(n ? n : 1) * sizeof *days);
    int64_t *fi = malloc((size_t)(n ? n : 1) * sizeof *fi);
    int64_t *va = malloc((size_t)(n ? n : 1) * sizeof *va);
    int ret = -2;
    if (!days || !fi || !va)
        goto out;
    for (int64_t i = 0; i < n; i++) {
        int64_t d = m->day[idx[i]];
        if (nd == 0 || days[nd - 1] != d) {
            if (nd > 0 && d < days[nd - 1]) { /* not sorted: no early stopping */
                ret = 0;
                goto out;
            }
            days[nd++] = d;
        }
    }
    ret = 0;
    if (nd < 8)
        goto out;
    int64_t val_from = days[nd - nd / 4];
    int64_t nfi = 0, nva = 0, pfi = 0, pva = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx[i], d = m->day[r];
        if (d >= val_from) {
            va[nva++] = r;
            pva += m->y[r];
        } else if (d + o->horizon_days < val_from) {
            fi[nfi++] = r;
            pfi += m->y[r];
        }
    }
    if (pfi < 20 || pva < 20 || nva - pva < 20)
        goto out;
    DMatrixHandle dfi, dva;
    int rc = xgb_dmatrix(m, fi, nfi, 1, &dfi);
    if (rc != 0) {
        ret = rc == -2 ? -2 : -1;
        goto out;
    }
    rc = xgb_dmatrix(m, va, nva, 1, &dva);
    if (rc != 0) {
        XGDMatrixFree(dfi);
        ret = rc == -2 ? -2 : -1;
        goto out;
    }
    BoosterHandle b;
    if (xgb_booster(dfi, o, &b) != 0) {
        XGDMatrixFree(dfi);
        XGDMatrixFree(dva);
        ret = -1;
        goto out;
    }
    double best = INFINITY;
    int best_it = -1;
    for (int it = 0; it < XGB_MAX_ROUNDS && it - best_it <= XGB_PATIENCE; it++) {
        if (XGBoosterUpdateOneIter(b, it, dfi) != 0) {
            ret = -1;
            break;
        }
        double ll = xgb_eval_logloss(b, it, dva);
        if (!isfinite(ll)) {
            ret = -1;
            break;
        }
        if (ll < best) {
            best = ll;
            best_it = it;
        }
    }
    XGBoosterFree(b);
    XGDMatrixFree(dfi);
    XGDMatrixFree(dva);
    if (ret == 0 && best_it >= 0) {
        *rounds = best_it + 1;
        md->es_val_from = val_from;
        md->es_fit_rows = nfi;
        md->es_val_rows = nva;
        md->es_logloss = best;
    }
out:
    if (ret == -1)
        xgb_error(err, "early stopping");
    free(days);
    free(fi);
    free(va);
    return ret;
}

static cw_status fit_xgboost(const cw_mx *m, const int64_t *idx, int64_t n, const cw_fit_opts *o,
                             cw_model **out, cw_error *err)
{
    cw_model *md = model_new(CW_MODEL_XGBOOST, m->nf, m->nmetrics);
    if (!md)
        return nomem(err, "xgboost");
    int rounds = o->rounds > 0 ? o->rounds : XGB_ROUNDS;
    if (o->rounds <= 0) {
        int rc = xgb_pick_rounds(m, idx, n, o, md, &rounds, err);
        if (rc != 0) {
            cw_model_free(md);
            return rc == -2 ? nomem(err, "xgboost: early stopping") : CW_ERR_INPUT;
        }
    }
    md->rounds = rounds;
    DMatrixHandle dm;
    int rc = xgb_dmatrix(m, idx, n, 1, &dm);
    if (rc == -2) {
        cw_model_free(md);
        return nomem(err, "xgboost: matrix");
    }
    if (rc != 0) {
        cw_model_free(md);
        return xgb_error(err, "matrix");
    }
    BoosterHandle b;
    if (xgb_booster(dm, o, &b) != 0) {
        XGDMatrixFree(dm);
        cw_model_free(md);
        return xgb_error(err, "create");
    }
    md->booster = b;
    for (int it = 0; it < rounds; it++)
        if (XGBoosterUpdateOneIter(b, it, dm) != 0) {
            XGDMatrixFree(dm);
            cw_model_free(md);
            return xgb_error(err, "training");
        }
    XGDMatrixFree(dm);
    *out = md;
    return CW_OK;
}

cw_status cw_model_fit(cw_model_kind kind, const cw_mx *m, const int64_t *idx, int64_t n,
                       const cw_fit_opts *o, cw_model **out, cw_error *err)
{
    *out = NULL;
    if (kind == CW_MODEL_XGBOOST)
        return fit_xgboost(m, idx, n, o, out, err);
    return fit_logreg(m, idx, n, out, err);
}

/* Raw decision values (log-odds before calibration) of rows idx. */
static cw_status decision(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                          double *f, cw_error *err)
{
    if (md->kind == CW_MODEL_LOGREG) {
        for (int64_t i = 0; i < n; i++)
            f[i] = lr_decision(md, m->x + idx[i] * m->nf);
        return CW_OK;
    }
    for (int64_t c0 = 0; c0 < n; c0 += XGB_CHUNK) {
        int64_t cn = n - c0 < XGB_CHUNK ? n - c0 : XGB_CHUNK;
        DMatrixHandle dm;
        int rc = xgb_dmatrix(m, idx + c0, cn, 0, &dm);
        if (rc == -2)
            return nomem(err, "xgboost: predict");
        bst_ulong len = 0;
        const float *res = NULL;
        if (rc == 0)
            rc = XGBoosterPredict(md->booster, dm, 1, 0, 0, &len, &res);
        if (rc == 0 && len != (bst_ulong)cn)
            rc = -1;
        for (int64_t i = 0; rc == 0 && i < cn; i++)
            f[c0 + i] = res[i];
        XGDMatrixFree(dm);
        if (rc != 0)
            return xgb_error(err, "predict");
    }
    return CW_OK;
}

cw_status cw_model_decision(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                            double *f, cw_error *err)
{
    return decision(md, m, idx, n, f, err);
}

static inline double sigmoid(double t)
{
    return 1.0 / (1.0 + exp(-t));
}

cw_status cw_model_calibrate(cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                             cw_error *err)
{
    double *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f)
        return nomem(err, "calibration");
    cw_status rc = decision(md, m, idx, n, f, err);
    if (rc != CW_OK) {
        free(f);
        return rc;
    }
    /* Platt (1999) with the targets of Lin, Lin & Weng (2007), Newton's
     * method with backtracking on the regularised log-loss. */
    int64_t np = 0;
    for (int64_t i = 0; i < n; i++)
        np += m->y[idx[i]] != 0;
    double hi = ((double)np + 1) / ((double)np + 2), lo = 1 / ((double)(n - np) + 2);
    double a = 1, b = 0;
    for (int it = 0; it < 100; it++) {
        double g1 = 0, g2 = 0, h11 = 1e-12, h22 = 1e-12, h21 = 0, loss = 0;
        for (int64_t i = 0; i < n; i++) {
            double t = m->y[idx[i]] ? hi : lo;
            double p = sigmoid(a * f[i] + b);
            double d = p - t, q = p * (1 - p);
            g1 += d * f[i];
            g2 += d;
            h11 += q * f[i] * f[i];
            h22 += q;
            h21 += q * f[i];
            loss -= t * log(p + 1e-300) + (1 - t) * log(1 - p + 1e-300);
        }
        if (fabs(g1) < 1e-7 * (double)n && fabs(g2) < 1e-7 * (double)n)
            break;
        double det = h11 * h22 - h21 * h21;
        if (det <= 0)
            break;
        double da = -(h22 * g1 - h21 * g2) / det, db = -(-h21 * g1 + h11 * g2) / det;
        double step = 1;
        for (; step > 1e-8; step /= 2) {
            double na = a + step * da, nb = b + step * db, nl = 0;
            for (int64_t i = 0; i < n; i++) {
                double t = m->y[idx[i]] ? hi : lo;
                double p = sigmoid(na * f[i] + nb);
                nl -= t * log(p + 1e-300) + (1 - t) * log(1 - p + 1e-300);
            }
            if (nl < loss + 1e-4 * step * (g1 * da + g2 * db)) {
                a = na;
                b = nb;
                break;
            }
        }
        if (step <= 1e-8)
            break;
    }
    free(f);
    md->platt_a = a;
    md->platt_b = b;
    return CW_OK;
}

cw_status cw_model_prob(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                        double *p, cw_error *err)
{
    cw_status rc = decision(md, m, idx, n, p, err);
    if (rc != CW_OK)
        return rc;
    for (int64_t i = 0; i < n; i++)
        p[i] = sigmoid(md->platt_a * p[i] + md->platt_b);
    return CW_OK;
}

cw_status cw_model_contribs(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                            double *contrib, cw_error *err)
{
    int nf = md->nf;
    double a = md->platt_a;
    if (md->kind == CW_MODEL_LOGREG) {
        for (int64_t i = 0; i < n; i++) {
            const float *x = m->x + idx[i] * nf;
            double *c = contrib + i * (nf + 1);
            for (int j = 0; j < nf; j++) {
                int miss;
                double z = lr_z(md, j, x[j], &miss);
                c[j] = a * (md->w[j] * z + (miss ? md->wmiss[j] : 0));
            }
            c[nf] = a * md->bias + md->platt_b;
        }
        return CW_OK;
    }
    for (int64_t c0 = 0; c0 < n; c0 += XGB_CHUNK) {
        int64_t cn = n - c0 < XGB_CHUNK ? n - c0 : XGB_CHUNK;
        DMatrixHandle dm;
        int rc = xgb_dmatrix(m, idx + c0, cn, 0, &dm);
        if (rc == -2)
            return nomem(err, "xgboost: contributions");
        bst_ulong len = 0;
        const float *res = NULL;
        if (rc == 0)
            rc = XGBoosterPredict(md->booster, dm, 4, 0, 0, &len, &res);
        if (rc == 0 && len != (bst_ulong)(cn * (nf + 1)))
            rc = -1;
        for (int64_t i = 0; rc == 0 && i < cn; i++) {
            double *c = contrib + (c0 + i) * (nf + 1);
            for (int j = 0; j <= nf; j++)
                c[j] = a * res[i * (nf + 1) + j];
            c[nf] += md->platt_b;
        }
        XGDMatrixFree(dm);
        if (rc != 0)
            return xgb_error(err, "contributions");
    }
    return CW_OK;
}

cw_status cw_model_importance(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                              int64_t max_rows, cw_metric_importance *imp, cw_error *err)
{
    int nf = md->nf, ng = cw_mx_groups(m);
    int64_t step = max_rows > 0 && n > max_rows ? (n + max_rows - 1) / max_rows : 1;
    int64_t ns = n > 0 ? (n + step - 1) / step : 0;
    int64_t *rows = malloc((size_t)(ns ? ns : 1) * sizeof *rows);
    double *c = malloc((size_t)(ns ? ns : 1) * (size_t)(nf + 1) * sizeof *c);
    double *acc = calloc((size_t)ng * 7, sizeof *acc); /* per group: |sum|, x, y, xx, yy, xy, n */
    int *first = malloc((size_t)(ng ? ng : 1) * sizeof *first);
    double *gy = malloc((size_t)(ng ? ng : 1) * sizeof *gy);
    cw_status rc = rows && c && acc && first && gy ? CW_OK : nomem(err, "importance");
    for (int64_t i = 0; rc == CW_OK && i < ns; i++)
        rows[i] = idx[i * step];
    if (rc == CW_OK && ns > 0)
        rc = cw_model_contribs(md, m, rows, ns, c, err);
    if (rc == CW_OK) {
        for (int g = 0; g < ng; g++)
            first[g] = -1;
        for (int j = 0; j < nf; j++)
            if (first[cw_mx_group(m, j)] < 0)
                first[cw_mx_group(m, j)] = j;
    }
    /* value and trend contributions summed, as in the explanations; the
     * direction from the correlation of the value with that sum */
    for (int64_t i = 0; rc == CW_OK && i < ns; i++) {
        const double *ci = c + i * (nf + 1);
        for (int g = 0; g < ng; g++)
            gy[g] = 0;
        for (int j = 0; j < nf; j++)
            gy[cw_mx_group(m, j)] += ci[j];
        for (int g = 0; g < ng; g++) {
            double *a = acc + 7 * g, y = gy[g];
            a[0] += fabs(y);
            double x = first[g] >= 0 ? m->x[rows[i] * m->nf + first[g]] : NAN;
            if (isnan(x))
                continue;
            a[1] += x;
            a[2] += y;
            a[3] += x * x;
            a[4] += y * y;
            a[5] += x * y;
            a[6] += 1;
        }
    }
    double total = 0;
    for (int g = 0; rc == CW_OK && g < ng; g++) {
        const double *a = acc + 7 * g;
        double nv = a[6];
        imp[g].metric = g;
        imp[g].mean_abs = ns ? a[0] / (double)ns : 0;
        imp[g].direction = 0;
        if (nv > 1) {
            double cov = a[5] - a[1] * a[2] / nv, vx = a[3] - a[1] * a[1] / nv,
                   vy = a[4] - a[2] * a[2] / nv;
            double r = vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : 0;
            imp[g].direction = r > 0.1 ? 1 : r < -0.1 ? -1 : 0;
        }
        total += imp[g].mean_abs;
    }
    for (int g = 0; rc == CW_OK && g < ng; g++)
        imp[g].share = total > 0 ? imp[g].mean_abs / total : 0;
    free(rows);
    free(c);
    free(acc);
    free(first);
    free(gy);
    return rc;
}

/* ---- serialisation ------------------------------------------------------ */

static json_t *darr(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(isfinite(v[i]) ? v[i] : 0));
    return a;
}

cw_status cw_model_serialise(const cw_model *md, char **body, size_t *body_len, cw_error *err)
{
    *body = NULL;
    *body_len = 0;
    if (md->kind == CW_MODEL_LOGREG) {
        json_t *o = json_object();
        json_object_set_new(o, "median", darr(md->median, md->nf));
        json_object_set_new(o, "clip_lo", darr(md->clip_lo, md->nf));
        json_object_set_new(o, "clip_hi", darr(md->clip_hi, md->nf));
        json_object_set_new(o, "mean", darr(md->mean, md->nf));
        json_object_set_new(o, "sd", darr(md->sd, md->nf));
        json_object_set_new(o, "w", darr(md->w, md->nf));
        json_object_set_new(o, "w_missing", darr(md->wmiss, md->nf));
        json_object_set_new(o, "bias", json_real(md->bias));
        char *s = cw_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(o);
        if (!s)
            return nomem(err, "logreg: save");
        *body = s;
        *body_len = strlen(s);
        return CW_OK;
    }
    bst_ulong len = 0;
    const char *buf = NULL;
    if (XGBoosterSaveModelToBuffer(md->booster, "{\"format\": \"json\"}", &len, &buf) != 0)
        return xgb_error(err, "save");
    *body = malloc((size_t)len + 1);
    if (!*body)
        return nomem(err, "xgboost: save");
    memcpy(*body, buf, (size_t)len);
    (*body)[len] = 0;
    *body_len = (size_t)len;
    return CW_OK;
}

static int jarr(json_t *o, const char *key, double *out, int n)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || (int)json_array_size(a) != n)
        return 0;
    for (int i = 0; i < n; i++)
        out[i] = json_number_value(json_array_get(a, (size_t)i));
    return 1;
}

/* The custom metrics and event names of a model's meta JSON ("feature_set")
 * into *spec (caller frees with cw_mx_spec_free); 0 when out of memory or
 * damaged. */
static int spec_from_meta(json_t *mj, cw_mx_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    json_t *fs = json_object_get(mj, "feature_set");
    for (int part = 0; part < 2; part++) {
        json_t *a = json_object_get(fs, part ? "events" : "custom");
        size_t i;
        json_t *v;
        int cnt = json_is_array(a) ? (int)json_array_size(a) : 0;
        char ***dst = part ? &spec->events : &spec->custom;
        if (cnt && !(*dst = calloc((size_t)cnt, sizeof **dst)))
            return 0;
        json_array_foreach (a, i, v) {
            const char *str = json_string_value(v);
            char *cp = str ? cw_strdupf("%s", str) : NULL;
            if (!cp)
                return 0;
            (*dst)[i] = cp;
            if (part)
                spec->nevents++;
            else
                spec->ncustom++;
        }
    }
    return 1;
}

cw_status cw_model_deserialise(const char *kind, const char *meta, const void *body,
                               size_t body_len, cw_model **out, cw_error *err)
{
    *out = NULL;
    cw_model_kind k = strcmp(kind, "xgboost") == 0 ? CW_MODEL_XGBOOST : CW_MODEL_LOGREG;
    if (k == CW_MODEL_LOGREG && strcmp(kind, "logreg") != 0)
        return cw_error_set(err, CW_ERR_INPUT, "model: unknown kind '%s'", kind);
    json_error_t je;
    json_t *mj = json_loads(meta, 0, &je);
    if (!mj)
        return cw_error_set(err, CW_ERR_INPUT, "model: meta: %s", je.text);
    json_t *feats = json_object_get(mj, "features");
    json_t *cal = json_object_get(mj, "calibration");
    int nf = json_is_array(feats) ? (int)json_array_size(feats) : 0;
    const cw_metric_info *cat;
    int ncat = cw_metrics_catalog(&cat), na = 0;
    while (na < ncat && cat[na].scope == CW_SCOPE_ACCOUNT)
        na++;
    /* the custom metrics and event names it learnt from (none before they
     * were features) */
    cw_mx_spec spec;
    int ok = spec_from_meta(mj, &spec);
    int want = 2 * na + 2 * spec.ncustom + CW_EVENT_FEATURES * spec.nevents;
    if (!ok || nf != want) {
        json_decref(mj);
        cw_mx_spec_free(&spec);
        if (!ok)
            return cw_error_set(err, CW_ERR_INPUT, "model: the stored feature set is damaged");
        return cw_error_set(err, CW_ERR_INPUT,
                            "model: it was trained on %d features, this build has %d; train again",
                            nf, want);
    }
    cw_model *md = model_new(k, nf, na);
    if (!md) {
        json_decref(mj);
        cw_mx_spec_free(&spec);
        return nomem(err, "load");
    }
    md->spec = spec;
    md->platt_a = json_number_value(json_object_get(cal, "a"));
    md->platt_b = json_number_value(json_object_get(cal, "b"));
    md->horizon_days = (int)json_integer_value(json_object_get(mj, "horizon_days"));
    json_decref(mj);
    if (k == CW_MODEL_LOGREG) {
        json_t *o = json_loadb(body, body_len, 0, &je);
        ok = o && jarr(o, "median", md->median, nf) && jarr(o, "clip_lo", md->clip_lo, nf) &&
             jarr(o, "clip_hi", md->clip_hi, nf) && jarr(o, "mean", md->mean, nf) &&
             jarr(o, "sd", md->sd, nf) && jarr(o, "w", md->w, nf) &&
             jarr(o, "w_missing", md->wmiss, nf);
        if (ok)
            md->bias = json_number_value(json_object_get(o, "bias"));
        json_decref(o);
        if (!ok) {
            cw_model_free(md);
            return cw_error_set(err, CW_ERR_INPUT,
                                "model: the stored logistic regression is damaged");
        }
    } else {
        BoosterHandle b;
        if (XGBoosterCreate(NULL, 0, &b) != 0) {
            cw_model_free(md);
            return xgb_error(err, "create");
        }
        md->booster = b;
        if (XGBoosterLoadModelFromBuffer(b, body, (bst_ulong)body_len) != 0) {
            cw_model_free(md);
            return xgb_error(err, "load");
        }
        char threads[16];
        snprintf(threads, sizeof threads, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
        XGBoosterSetParam(b, "nthread", threads);
    }
    *out = md;
    return CW_OK;
}

/* ---- what would turn it green -------------------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct thr_acc {
    double **v;
    int *n, *cap, nf;
} thr_acc;

static void collect_splits(json_t *node, thr_acc *t)
{
    json_t *split = json_object_get(node, "split");
    if (json_is_string(split)) {
        const char *s = json_string_value(split);
        char *end;
        long f = (s[0] == 'f') ? strtol(s + 1, &end, 10) : -1;
        if (f >= 0 && f < t->nf) {
            if (t->n[f] == t->cap[f]) {
                int nc = t->cap[f] ? t->cap[f] * 2 : 16;
                double *nv = realloc(t->v[f], (size_t)nc * sizeof *nv);
                if (!nv)
                    return;
                t->v[f] = nv;
                t->cap[f] = nc;
            }
            t->v[f][t->n[f]++] = json_number_value(json_object_get(node, "split_condition"));
        }
    }
    json_t *kids = json_object_get(node, "children");
    size_t i;
    json_t *k;
    json_array_foreach (kids, i, k)
        collect_splits(k, t);
}

/* Reads every feature's distinct split thresholds from the model dump once. */
static cw_status xgb_thresholds(cw_model *md, cw_error *err)
{
    if (md->thr)
        return CW_OK;
    bst_ulong ntrees = 0;
    const char **dump = NULL;
    if (XGBoosterDumpModelEx(md->booster, "", 0, "json", &ntrees, &dump) != 0)
        return xgb_error(err, "dump");
    thr_acc t = {calloc((size_t)md->nf, sizeof(double *)), calloc((size_t)md->nf, sizeof(int)),
                 calloc((size_t)md->nf, sizeof(int)), md->nf};
    if (!t.v || !t.n || !t.cap) {
        free(t.v);
        free(t.n);
        free(t.cap);
        return nomem(err, "xgboost: split values");
    }
    for (bst_ulong i = 0; i < ntrees; i++) {
        json_error_t je;
        json_t *tree = json_loads(dump[i], 0, &je);
        if (tree)
            collect_splits(tree, &t);
        json_decref(tree);
    }
    for (int j = 0; j < md->nf; j++)
        if (t.n[j] > 1) {
            qsort(t.v[j], (size_t)t.n[j], sizeof(double), dbl_cmp);
            int k = 1;
            for (int i = 1; i < t.n[j]; i++)
                if (t.v[j][i] != t.v[j][k - 1])
                    t.v[j][k++] = t.v[j][i];
            t.n[j] = k;
        }
    free(t.cap);
    md->thr = t.v;
    md->nthr = t.n;
    return CW_OK;
}

/* The values feature j can take, so "what would turn it green" proposes
 * only real values (issue 13: it proposed an NPS category of 0.854):
 * integers for counts, the set of a category, the metric's bounds. From the
 * catalogue's units for the account metrics; event counts are integers
 * >= 0, counts per user >= 0, % changes >= -100; trends and custom metrics
 * are left free. */
typedef struct feat_domain {
    double lo, hi;
    int integer, nset;
    double set[3];
} feat_domain;

static feat_domain domain_of(const cw_model *md, int j)
{
    feat_domain d = {-INFINITY, INFINITY, 0, 0, {0, 0, 0}};
    int na = md->nmetrics, nc = md->spec.ncustom;
    if (j >= 2 * na + 2 * nc) {
        int f = (j - 2 * na - 2 * nc) % CW_EVENT_FEATURES;
        d.lo = f == 2 ? -100 : 0;
        d.integer = f == 0;
        return d;
    }
    if (j >= na)
        return d;
    const cw_metric_info *cat;
    cw_metrics_catalog(&cat);
    const char *u = cat[j].unit, *name = cat[j].name;
    if (!strcmp(u, "count") || !strcmp(u, "users") || !strcmp(u, "events") ||
        !strcmp(u, "tickets") || !strcmp(u, "seats") || !strcmp(u, "days") ||
        !strcmp(u, "minor units")) {
        d.integer = 1;
        d.lo = 0;
        if (!strcmp(name, "seats"))
            d.lo = 1;
        else if (!strcmp(name, "seat_change_90d") || !strcmp(name, "mrr_change_90d"))
            d.lo = -INFINITY;
        else if (!strcmp(name, "features_per_active_user"))
            d.integer = 0;
        else if (!strcmp(name, "active_days_per_user")) {
            d.integer = 0;
            d.hi = 28;
        }
    } else if (!strcmp(u, "ratio") || !strcmp(u, "index")) {
        d.lo = 0;
        d.hi = strcmp(name, "tickets_per_active_user") ? 1 : INFINITY;
    } else if (!strcmp(u, "%")) {
        d.lo = -100;
    } else if (!strcmp(u, "weeks")) {
        d.lo = 0;
        d.hi = 8;
    } else if (!strcmp(u, "hours")) {
        d.lo = 0;
    } else if (!strcmp(u, "1-5")) {
        d.lo = 1;
        d.hi = 5;
    } else if (!strcmp(u, "0-10")) {
        d.lo = 0;
        d.hi = 10;
        d.integer = 1;
    } else if (!strcmp(u, "-100..100")) {
        d.lo = -100;
        d.hi = 100;
    } else if (!strcmp(u, "flag")) {
        d.nset = 2;
        d.set[0] = 0;
        d.set[1] = 1;
    } else if (!strcmp(u, "-1/0/1")) {
        d.nset = 3;
        d.set[0] = -1;
        d.set[1] = 0;
        d.set[2] = 1;
    }
    return d;
}

/* The value of the domain nearest to v on one side: the largest <= v (up
 * 0) or the smallest >= v (up 1); NaN when there is none. strict: < / >. */
static double domain_snap(const feat_domain *d, double v, int up, int strict)
{
    if (d->nset) {
        double best = NAN;
        for (int i = 0; i < d->nset; i++) {
            double s = d->set[i];
            int ok = up ? (strict ? s > v : s >= v) : (strict ? s < v : s <= v);
            if (ok && (isnan(best) || (up ? s < best : s > best)))
                best = s;
        }
        return best;
    }
    double x = v;
    if (d->integer) {
        x = up ? ceil(v) : floor(v);
        if (strict && x == v)
            x += up ? 1 : -1;
    } else if (strict) {
        x = nextafter(v, up ? INFINITY : -INFINITY);
    }
    if (x < d->lo)
        x = up ? d->lo : NAN;
    if (x > d->hi)
        x = up ? NAN : d->hi;
    if (!isnan(x) && d->integer)
        x = up ? ceil(x) : floor(x);
    if (!isnan(x) && (x < d->lo || x > d->hi))
        return NAN;
    return x;
}

/* The regression's exact answer for row r, feature j. */
static void lr_to_green(const cw_model *md, const float *x, int j, double target, int *found,
                        double *value)
{
    int miss;
    double z = lr_z(md, j, x[j], &miss);
    double f = lr_decision(md, x);
    double f_wo = f - md->w[j] * z - (miss ? md->wmiss[j] : 0);
    *found = 0;
    if (md->w[j] == 0 || md->sd[j] == 0 || md->platt_a <= 0)
        return;
    double znew = (target - 1e-9 - f_wo) / md->w[j];
    double v = md->mean[j] + znew * md->sd[j];
    if (v < md->clip_lo[j] || v > md->clip_hi[j]) /* beyond what the model saw */
        return;
    /* every value on the side of v that lowers the risk works: the one of
     * the metric's possible values nearest to v there */
    feat_domain d = domain_of(md, j);
    v = domain_snap(&d, v, md->w[j] < 0, 0);
    if (isnan(v))
        return;
    *found = 1;
    *value = v;
}

#define GREEN_BATCH_ROWS 262144

cw_status cw_model_to_green_many(cw_model *md, const cw_mx *m, const int64_t *rows, const int *feat,
                                 int64_t k, double g, int *found, double *value, cw_error *err)
{
    double target = (log(g / (1 - g)) - md->platt_b) / md->platt_a; /* decision value at g */
    for (int64_t i = 0; i < k; i++)
        found[i] = 0;
    if (md->kind == CW_MODEL_LOGREG) {
        for (int64_t i = 0; i < k; i++)
            if (feat[i] >= 0)
                lr_to_green(md, m->x + rows[i] * m->nf, feat[i], target, &found[i], &value[i]);
        return CW_OK;
    }
    cw_status rc = xgb_thresholds(md, err);
    if (rc != CW_OK)
        return rc;
    /* Candidates per row: each split threshold of its feature (goes right:
     * x >= t) and the float just below it (goes left); rows are batched so
     * one DMatrix and one prediction serve thousands of accounts. */
    int maxthr = 1;
    for (int j = 0; j < m->nf; j++)
        if (md->nthr[j] > maxthr)
            maxthr = md->nthr[j];
    int64_t cap = GREEN_BATCH_ROWS > 2 * (int64_t)maxthr ? GREEN_BATCH_ROWS : 2 * (int64_t)maxthr;
    float *buf = calloc((size_t)cap * (size_t)m->nf, sizeof *buf);
    float *cand = malloc((size_t)cap * sizeof *cand);
    if (!buf || !cand) {
        free(buf);
        free(cand);
        return nomem(err, "xgboost: what would turn it green");
    }
    int xr = 0;
    for (int64_t i0 = 0; xr == 0 && i0 < k;) {
        int64_t i1 = i0, nc = 0;
        for (; i1 < k; i1++) {
            int64_t add = feat[i1] >= 0 ? 2 * (int64_t)md->nthr[feat[i1]] : 0;
            if (nc + add > cap)
                break;
            for (int t = 0; add && t < md->nthr[feat[i1]]; t++) {
                const float *x = m->x + rows[i1] * m->nf;
                float th = (float)md->thr[feat[i1]][t];
                feat_domain dm = domain_of(md, feat[i1]);
                for (int h = 0; h < 2; h++, nc++) {
                    memcpy(buf + nc * m->nf, x, (size_t)m->nf * sizeof *buf);
                    /* a value the metric can take on each side of the split
                     * (x < th goes left): the smallest >= th, the largest < th */
                    double cv = domain_snap(&dm, th, !h, h);
                    cand[nc] = (float)cv;
                    if (!isnan(cv) && (h ? cand[nc] >= th : cand[nc] < th))
                        cand[nc] = NAN; /* float rounding put it on the other side */
                    buf[nc * m->nf + feat[i1]] = isnan(cand[nc]) ? x[feat[i1]] : cand[nc];
                }
            }
        }
        if (nc > 0) {
            DMatrixHandle dm;
            bst_ulong len = 0;
            const float *res = NULL;
            xr = XGDMatrixCreateFromMat_omp(buf, (bst_ulong)nc, (bst_ulong)m->nf, NAN, &dm,
                                            xgb_threads());
            if (xr == 0) {
                xr = XGBoosterPredict(md->booster, dm, 1, 0, 0, &len, &res);
                if (xr == 0 && len != (bst_ulong)nc)
                    xr = -1;
                for (int64_t i = i0, c = 0; xr == 0 && i < i1; i++) {
                    if (feat[i] < 0)
                        continue;
                    float x = m->x[rows[i] * m->nf + feat[i]];
                    double best = INFINITY;
                    for (int64_t e = c + 2 * (int64_t)md->nthr[feat[i]]; c < e; c++) {
                        if (res[c] >= target || isnan(cand[c]))
                            continue;
                        double d = isnan(x) ? fabs(cand[c]) : fabs((double)cand[c] - x);
                        if (d < best) {
                            best = d;
                            value[i] = cand[c];
                            found[i] = 1;
                        }
                    }
                }
                XGDMatrixFree(dm);
            }
        }
        i0 = i1;
    }
    free(buf);
    free(cand);
    return xr == 0 ? CW_OK : xgb_error(err, "what would turn it green");
}

cw_status cw_model_to_green(cw_model *md, const cw_mx *m, int64_t r, int j, double g, int *found,
                            double *value, cw_error *err)
{
    return cw_model_to_green_many(md, m, &r, &j, 1, g, found, value, err);
}
