/*
 * test_model.c — the fitted models' exactness (lib/model/model.c) on a synthetic
 * matrix with a known signal (fixed seed):
 *   - the per-feature contributions plus the base value add up to the logit
 *     of the calibrated probability (exactly for the regression, to float
 *     precision for XGBoost's TreeSHAP);
 *   - the regression's "what would turn it green" value puts the account
 *     exactly on the cut-off; the trees' value puts it under;
 *   - a model serialised and loaded again gives the same probabilities;
 *   - the signal is found: held-out AUC well above chance, and the feature
 *     carrying it gets the largest mean |contribution| and most of the
 *     global importance, with the right direction.
 *   - drivers are grouped by family, in a hand-worked order;
 *   - XGBoost's early stopping validates on the last quarter of the fit
 *     rows' days and fits only on rows a horizon before them (row counts
 *     worked out by hand below).
 * Row i: feature 0 ~ U(0,1) drives churn (p = sigmoid(6·x0 − 4)), feature 1
 * ~ U(0,1) is noise with 20% missing, the rest constant 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

enum { N = 3000 };

static uint64_t rng = 99;
static double unif(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static cw_mx mx;
static int64_t fit[N], cal[N], test[N], nfit, ncal, ntest;

static int setup(void **state)
{
    (void)state;
    const cw_metric_info *cat;
    int ncat = cw_metrics_catalog(&cat), na = 0;
    while (na < ncat && cat[na].scope == CW_SCOPE_ACCOUNT)
        na++;
    memset(&mx, 0, sizeof mx);
    mx.nmetrics = na;
    mx.nf = 2 * na;
    mx.rows = N;
    mx.x = calloc((size_t)N * (size_t)mx.nf, sizeof *mx.x);
    mx.y = calloc(N, 1);
    if (!mx.x || !mx.y)
        return -1;
    for (int i = 0; i < N; i++) {
        float *x = mx.x + (size_t)i * (size_t)mx.nf;
        x[0] = (float)unif();
        x[1] = unif() < 0.2 ? NAN : (float)unif();
        double p = 1 / (1 + exp(-(6 * x[0] - 4)));
        mx.y[i] = unif() < p;
        if (i < N / 2)
            fit[nfit++] = i;
        else if (i < 2 * N / 3)
            cal[ncal++] = i;
        else
            test[ntest++] = i;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(mx.x);
    free(mx.y);
    return 0;
}

static char *meta_for(const cw_model *md)
{
    size_t cap = (size_t)mx.nf * 8 + 256, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "{\"horizon_days\":90,\"features\":[");
    for (int j = 0; j < mx.nf; j++)
        len += (size_t)snprintf(s + len, cap - len, "%s\"f%d\"", j ? "," : "", j);
    snprintf(s + len, cap - len, "],\"calibration\":{\"a\":%.17g,\"b\":%.17g}}", md->platt_a,
             md->platt_b);
    return s;
}

static void check_kind(cw_model_kind kind, double tol)
{
    cw_fit_opts fo = {.threads = 2,
                      .seed = 42,
                      .rounds = 40,
                      .horizon_days = 90}; /* 40 rounds: enough here, and quick under valgrind */
    cw_model *md = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_model_fit(kind, &mx, fit, nfit, &fo, &md, &err), CW_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(cw_model_calibrate(md, &mx, cal, ncal, NULL), CW_OK);
    assert_true(md->platt_a > 0);
    double *p = malloc((size_t)ntest * sizeof *p);
    double *c = malloc((size_t)ntest * (size_t)(mx.nf + 1) * sizeof *c);
    unsigned char *y = malloc((size_t)ntest);
    assert_int_equal(cw_model_prob(md, &mx, test, ntest, p, NULL), CW_OK);
    assert_int_equal(cw_model_contribs(md, &mx, test, ntest, c, NULL), CW_OK);
    double mean_abs[2] = {0, 0}, max_other = 0;
    for (int64_t i = 0; i < ntest; i++) {
        const double *ci = c + i * (mx.nf + 1);
        double sum = 0;
        for (int j = 0; j <= mx.nf; j++)
            sum += ci[j];
        assert_true(fabs(sum - log(p[i] / (1 - p[i]))) < tol);
        mean_abs[0] += fabs(ci[0]) / (double)ntest;
        mean_abs[1] += fabs(ci[1]) / (double)ntest;
        for (int j = 2; j < mx.nf; j++)
            if (fabs(ci[j]) > max_other)
                max_other = fabs(ci[j]);
        y[i] = mx.y[test[i]];
    }
    /* the signal feature dominates; constant features contribute nothing */
    assert_true(mean_abs[0] > 5 * mean_abs[1]);
    assert_true(max_other < 1e-9);

    /* global importance: metric 0 (value and its constant trend) carries the
     * same mean |contribution| as above and most of the total; higher values
     * raise the risk (p = sigmoid(6 x0 - 4)); the constant metrics have no
     * share and no direction; evenly spaced 500 rows tell the same story */
    cw_metric_importance *imp = malloc((size_t)mx.nmetrics * sizeof *imp);
    assert_int_equal(cw_model_importance(md, &mx, test, ntest, 0, imp, NULL), CW_OK);
    double total = 0;
    for (int k = 0; k < mx.nmetrics; k++)
        total += imp[k].share;
    assert_true(fabs(total - 1) < 1e-9);
    assert_true(fabs(imp[0].mean_abs - mean_abs[0]) < 1e-9);
    assert_true(imp[0].share > 0.8);
    assert_int_equal(imp[0].direction, 1);
    for (int k = 2; k < mx.nmetrics; k++) {
        assert_true(imp[k].share < 1e-9);
        assert_int_equal(imp[k].direction, 0);
    }
    assert_int_equal(cw_model_importance(md, &mx, test, ntest, 500, imp, NULL), CW_OK);
    assert_true(imp[0].share > 0.8 && imp[0].direction == 1);
    free(imp);
    cw_eval ev;
    assert_int_equal(cw_eval_binary(p, y, ntest, CW_EVAL_PROBABILITIES, &ev), CW_OK);
    assert_true(ev.roc_auc > 0.8);

    /* what would turn it green: the riskiest test row, cut-off 0.3 */
    int64_t r = 0;
    for (int64_t i = 1; i < ntest; i++)
        if (p[i] > p[r])
            r = i;
    assert_true(p[r] > 0.5);
    int found = 0;
    double v = 0;
    assert_int_equal(cw_model_to_green(md, &mx, test[r], 0, 0.3, &found, &v, NULL), CW_OK);
    assert_int_equal(found, 1);
    float *row = mx.x + (size_t)test[r] * (size_t)mx.nf;
    float keep = row[0];
    assert_true(v < keep); /* lower x0, lower risk */
    row[0] = (float)v;
    double pg;
    assert_int_equal(cw_model_prob(md, &mx, &test[r], 1, &pg, NULL), CW_OK);
    row[0] = keep;
    /* x0 is tenure_days, whole days: the regression's exact answer rounded
     * down to a whole number of days; one day more is not green */
    assert_true(v == floor(v));
    if (kind == CW_MODEL_LOGREG) {
        row[0] = (float)(v + 1);
        double pu;
        assert_int_equal(cw_model_prob(md, &mx, &test[r], 1, &pu, NULL), CW_OK);
        row[0] = keep;
        assert_true(pu >= 0.3);
    }
    assert_true(pg < 0.3 + 1e-5);

    /* round trip through the stored form */
    char *body = NULL;
    size_t blen = 0;
    assert_int_equal(cw_model_serialise(md, &body, &blen, NULL), CW_OK);
    char *meta = meta_for(md);
    cw_model *back = NULL;
    assert_int_equal(cw_model_deserialise(cw_model_kind_name(kind), meta, body, blen, &back, &err),
                     CW_OK);
    double *p2 = malloc((size_t)ntest * sizeof *p2);
    assert_int_equal(cw_model_prob(back, &mx, test, ntest, p2, NULL), CW_OK);
    for (int64_t i = 0; i < ntest; i++)
        assert_true(fabs(p2[i] - p[i]) < 1e-9);
    /* a damaged body is refused with a reason */
    cw_model *bad = NULL;
    assert_int_not_equal(
        cw_model_deserialise(cw_model_kind_name(kind), meta, "{\"w\":[1]}", 9, &bad, &err), CW_OK);
    assert_null(bad);
    assert_int_equal(err.status, CW_ERR_INPUT);
    if (kind == CW_MODEL_LOGREG)
        assert_string_equal(err.msg, "model: the stored logistic regression is damaged");
    else
        assert_non_null(strstr(err.msg, "xgboost: load: "));
    free(meta);
    free(body);
    free(p2);
    cw_model_free(back);
    free(p);
    free(c);
    free(y);
    cw_model_free(md);
}

static void logreg(void **state)
{
    (void)state;
    check_kind(CW_MODEL_LOGREG, 1e-9);
}

static void xgboost(void **state)
{
    (void)state;
    check_kind(CW_MODEL_XGBOOST, 1e-4);
}

/* Fit rows 0..1499 on 20 weekly days (75 rows a day from day 20000): the
 * validation slice is the last 5 days (from 20000 + 15·7 = 20105, 375 rows);
 * with a 28-day horizon the early-stopping fit takes days d + 28 < 20105,
 * i.e. 20000..20070, 11 days = 825 rows. */
static void xgboost_early_stopping(void **state)
{
    (void)state;
    mx.day = calloc(N, sizeof *mx.day);
    assert_non_null(mx.day);
    for (int64_t i = 0; i < nfit; i++)
        mx.day[fit[i]] = (int32_t)(20000 + 7 * (i / 75));
    cw_fit_opts fo = {.threads = 2, .seed = 42, .horizon_days = 28};
    cw_model *md = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_model_fit(CW_MODEL_XGBOOST, &mx, fit, nfit, &fo, &md, &err), CW_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(md->es_val_from, 20105);
    assert_int_equal(md->es_val_rows, 375);
    assert_int_equal(md->es_fit_rows, 825);
    assert_true(md->rounds >= 1 && md->rounds < 1000);
    assert_true(md->es_logloss > 0 && md->es_logloss < log(2));
    assert_int_equal(cw_model_calibrate(md, &mx, cal, ncal, NULL), CW_OK);
    double *p = malloc((size_t)ntest * sizeof *p);
    unsigned char *y = malloc((size_t)ntest);
    assert_int_equal(cw_model_prob(md, &mx, test, ntest, p, NULL), CW_OK);
    for (int64_t i = 0; i < ntest; i++)
        y[i] = mx.y[test[i]];
    cw_eval ev;
    assert_int_equal(cw_eval_binary(p, y, ntest, CW_EVAL_PROBABILITIES, &ev), CW_OK);
    assert_true(ev.roc_auc > 0.8);
    free(p);
    free(y);
    cw_model_free(md);
    free(mx.day);
    mx.day = NULL;
}

static int metric_index(const char *name)
{
    const cw_metric_info *cat;
    int n = cw_metrics_catalog(&cat);
    for (int k = 0; k < n; k++)
        if (strcmp(cat[k].name, name) == 0)
            return k;
    fail_msg("no metric %s", name);
    return -1;
}

/* Drivers grouped by family. Contributions (value + trend):
 *   goal_attainment_worst 0.10 + 0.15 (trend) = 0.25, goal_attainment_mean
 *   0.30 → outcomes 0.55 (its first catalogue metric, goals_active, is 0);
 *   active_licence_ratio 0.40, licence_gap -0.05 → onboarding 0.40;
 *   days_to_renewal 2.0 (commercial: context, never grouped);
 *   nps_latest -0.20 (lowers).
 * Order: goal_attainment_mean, goal_attainment_worst, active_licence_ratio
 * (the single largest raising metric, but its family adds up to less), then
 * by contribution: days_to_renewal first, nps_latest last. */
static void drivers_by_family(void **state)
{
    (void)state;
    int nm = mx.nmetrics;
    double *c = calloc((size_t)(2 * nm + 1), sizeof *c);
    double *fs = malloc((size_t)(2 * nm) * sizeof *fs);
    cw_driver_rank *d = malloc((size_t)nm * sizeof *d);
    int gw = metric_index("goal_attainment_worst"), gm = metric_index("goal_attainment_mean"),
        alr = metric_index("active_licence_ratio"), gap = metric_index("licence_gap"),
        ren = metric_index("days_to_renewal"), nps = metric_index("nps_latest");
    c[gw] = 0.10;
    c[nm + gw] = 0.15;
    c[gm] = 0.30;
    c[alr] = 0.40;
    c[gap] = -0.05;
    c[ren] = 2.0;
    c[nps] = -0.20;
    cw_order_drivers(c, nm, d, fs);
    assert_int_equal(d[0].k, gm);
    assert_int_equal(d[1].k, gw);
    assert_true(fabs(d[1].c - 0.25) < 1e-12);
    assert_int_equal(d[2].k, alr);
    assert_int_equal(d[3].k, ren);
    assert_int_equal(d[nm - 1].k, nps);
    assert_int_equal(d[nm - 2].k, gap);
    assert_true(fabs(fs[gm] - 0.55) < 1e-12 && fabs(fs[gw] - 0.55) < 1e-12);
    assert_true(fabs(fs[alr] - 0.40) < 1e-12);
    assert_true(fs[ren] == 0 && fs[gap] == 0 && fs[nps] == 0);
    free(c);
    free(fs);
    free(d);
}

/* Issue 13: a feature missing on every fit row gets no weight and no
 * missing indicator (an indicator that is 1 on every row is a second
 * intercept the L2 penalty would spread the bias over), so its
 * contribution is exactly 0 and it is never a driver; a feature whose
 * missingness varies keeps its indicator. */
static void all_missing_zero_weight(void **state)
{
    (void)state;
    const int J = 5; /* a constant-0 feature made all-missing */
    for (int i = 0; i < N; i++)
        mx.x[(size_t)i * (size_t)mx.nf + J] = NAN;
    cw_fit_opts fo = {1, 42, 0, 90};
    cw_model *md = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_model_fit(CW_MODEL_LOGREG, &mx, fit, nfit, &fo, &md, &err), CW_OK);
    assert_true(md->w[J] == 0 && md->wmiss[J] == 0);
    assert_true(md->wmiss[1] != 0); /* x1 is missing on 20% of rows */
    assert_int_equal(cw_model_calibrate(md, &mx, cal, ncal, NULL), CW_OK);
    double *c = malloc((size_t)ntest * (size_t)(mx.nf + 1) * sizeof *c);
    double *fs = malloc((size_t)(2 * mx.nmetrics) * sizeof *fs);
    cw_driver_rank *d = malloc((size_t)mx.nmetrics * sizeof *d);
    assert_int_equal(cw_model_contribs(md, &mx, test, ntest, c, NULL), CW_OK);
    for (int64_t i = 0; i < ntest; i++) {
        const double *ci = c + i * (mx.nf + 1);
        assert_true(ci[J] == 0);
        cw_order_drivers(ci, mx.nmetrics, d, fs);
        for (int k = 0; k < mx.nmetrics; k++)
            if (d[k].k == J) /* neither raises nor lowers */
                assert_true(d[k].c == 0 && fs[J] == 0);
    }
    /* the same column in the trees: never split on, TreeSHAP 0 */
    cw_model *xg = NULL;
    cw_fit_opts fx = {2, 42, 40, 90};
    assert_int_equal(cw_model_fit(CW_MODEL_XGBOOST, &mx, fit, nfit, &fx, &xg, &err), CW_OK);
    assert_int_equal(cw_model_calibrate(xg, &mx, cal, ncal, NULL), CW_OK);
    assert_int_equal(cw_model_contribs(xg, &mx, test, ntest, c, NULL), CW_OK);
    for (int64_t i = 0; i < ntest; i++)
        assert_true(c[i * (mx.nf + 1) + J] == 0);
    cw_model_free(xg);
    cw_model_free(md);
    free(c);
    free(fs);
    free(d);
    for (int i = 0; i < N; i++)
        mx.x[(size_t)i * (size_t)mx.nf + J] = 0;
}

/* "What would turn it green" proposes only values a metric can take
 * (issue 13): a hand-built regression over standardised values (mean 0,
 * sd 1 unless said, clip [-1, 1]), calibration a = 1, b = 0, cut-off 25%
 * (logit -1.0986123).
 * - nps_category (-1/0/1), weight -2, bias 0: at -1 f = 2; the exact answer
 *   -2 x = -1.0986 gives x = 0.549, which is no category: 1.
 * - events_window (events, whole), weight 1, sd 10, clip [0, 100], bias -3:
 *   at 50 f = 2; (x / 10) - 3 = -1.0986 gives x = 19.01: 19 events. */
static void to_green_domains(void **state)
{
    (void)state;
    int nf = mx.nf, nps = metric_index("nps_category"), ev = metric_index("events_window");
    size_t cap = (size_t)nf * 64 + 512, len = 0;
    char *body = malloc(cap);
    const char *keys[8] = {"median", "clip_lo", "clip_hi", "mean", "sd", "w", "w_missing", NULL};
    len += (size_t)snprintf(body + len, cap - len, "{");
    for (int k = 0; keys[k]; k++) {
        len += (size_t)snprintf(body + len, cap - len, "%s\"%s\":[", k ? "," : "", keys[k]);
        for (int j = 0; j < nf; j++) {
            double v = 0;
            if (k == 1)
                v = j == ev ? 0 : -1;
            else if (k == 2)
                v = j == ev ? 100 : 1;
            else if (k == 4)
                v = j == ev ? 10 : 1;
            else if (k == 5)
                v = j == nps ? -2 : 0;
            len += (size_t)snprintf(body + len, cap - len, "%s%g", j ? "," : "", v);
        }
        len += (size_t)snprintf(body + len, cap - len, "]");
    }
    snprintf(body + len, cap - len, ",\"bias\":0}");
    cw_model md0 = {.platt_a = 1};
    char *meta = meta_for(&md0);
    cw_model *md = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_model_deserialise("logreg", meta, body, strlen(body), &md, &err), CW_OK);
    float *row = mx.x; /* row 0, restored below */
    float *keep = malloc((size_t)nf * sizeof *keep);
    memcpy(keep, row, (size_t)nf * sizeof *keep);
    for (int j = 0; j < nf; j++)
        row[j] = 0;
    row[nps] = -1;
    int found = 0;
    double v = 0;
    assert_int_equal(cw_model_to_green(md, &mx, 0, nps, 0.25, &found, &v, NULL), CW_OK);
    assert_int_equal(found, 1);
    assert_true(v == 1);
    /* the same regression on events_window */
    md->w[nps] = 0;
    md->w[ev] = 1;
    md->bias = -3;
    row[ev] = 50;
    assert_int_equal(cw_model_to_green(md, &mx, 0, ev, 0.25, &found, &v, NULL), CW_OK);
    assert_int_equal(found, 1);
    assert_true(v == 19);
    memcpy(row, keep, (size_t)nf * sizeof *keep);
    free(keep);
    free(meta);
    free(body);
    cw_model_free(md);
}

static void single_class_refused(void **state)
{
    (void)state;
    unsigned char *keep = malloc(N);
    memcpy(keep, mx.y, N);
    memset(mx.y, 0, N);
    cw_fit_opts fo = {.threads = 1, .seed = 1, .horizon_days = 90};
    cw_model *md = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_model_fit(CW_MODEL_LOGREG, &mx, fit, nfit, &fo, &md, &err), CW_ERR_INPUT);
    assert_null(md);
    assert_int_equal(err.status, CW_ERR_INPUT);
    assert_string_equal(err.msg, "logreg: the training rows hold a single class");
    memcpy(mx.y, keep, N);
    free(keep);
}

/* Every refusal of a stored model names its cause (issue 16). */
static void deserialise_errors(void **state)
{
    (void)state;
    cw_model *md = NULL;
    cw_error err;
    assert_int_equal(cw_model_deserialise("forest", "{}", "", 0, &md, &err), CW_ERR_INPUT);
    assert_null(md);
    assert_int_equal(err.status, CW_ERR_INPUT);
    assert_string_equal(err.msg, "model: unknown kind 'forest'");
    assert_int_equal(cw_model_deserialise("logreg", "{bad", "", 0, &md, &err), CW_ERR_INPUT);
    assert_null(md);
    assert_non_null(strstr(err.msg, "model: meta: "));
    /* trained on another catalogue: 2 features here, 2 per account metric in this build */
    const cw_metric_info *cat;
    int ncat = cw_metrics_catalog(&cat), na = 0;
    while (na < ncat && cat[na].scope == CW_SCOPE_ACCOUNT)
        na++;
    char want[128];
    snprintf(want, sizeof want,
             "model: it was trained on 2 features, this build has %d; train again", 2 * na);
    assert_int_equal(
        cw_model_deserialise("logreg", "{\"features\":[\"a\",\"b\"]}", "", 0, &md, &err),
        CW_ERR_INPUT);
    assert_null(md);
    assert_string_equal(err.msg, want);
    /* the status alone when the caller passes no cw_error */
    assert_int_equal(cw_model_deserialise("forest", "{}", "", 0, &md, NULL), CW_ERR_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(logreg),
        cmocka_unit_test(xgboost),
        cmocka_unit_test(xgboost_early_stopping),
        cmocka_unit_test(drivers_by_family),
        cmocka_unit_test(single_class_refused),
        cmocka_unit_test(deserialise_errors),
        cmocka_unit_test(all_missing_zero_weight),
        cmocka_unit_test(to_green_domains),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
