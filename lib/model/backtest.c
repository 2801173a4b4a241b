/*
 * backtest.c — `churnwatch backtest`: judges the scorecard and the models
 * on the same held-out later snapshots, with the same labels.
 *
 * Models are trained on the earlier part of the history (cw_split_make:
 * fit, calibration, purge gap of one horizon) and scored on the later part.
 * Every stored scorecard version (scores.scorecard, a hash of its
 * definition) is evaluated on the test rows it scored, with risk =
 * 100 − score: ranking metrics (ROC AUC, PR AUC, precision / recall / lift)
 * and the observed churn rate by decile of risk are meaningful for any
 * score; the Brier score and the decile's mean prediction need
 * probabilities, so they are left out for the scorecard (risk / 100 is no
 * probability) — docs/model.md.
 *
 * Lead time: for every churn event (cw_churn_first) after the first test
 * snapshot and within a horizon of the last, of an account that has test
 * rows in the look-back of two horizons before the churn, the days from the
 * first red row in that look-back to the churn; red = colour 2 for the
 * scorecard, probability >= green_below for a model.
 */
#include "core/json.h"
#include "model/model_int.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *cw_eval_json(const cw_eval *e);

void cw_backtest_free(cw_backtest *b)
{
    if (!b)
        return;
    free(b->subjects);
    free(b);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Lead time over the test rows of sp flagged in flag[i] (test row i);
 * scored[i] says whether the subject scored the row at all. */
static cw_status lead_time(const cw_split *sp, int horizon_days, const unsigned char *flag,
                           const unsigned char *scored, cw_lead_time *lt)
{
    memset(lt, 0, sizeof *lt);
    lt->median_days = lt->mean_days = lt->never_flagged_share = NAN;
    const cw_mx *m = &sp->mx;
    /* test rows by account: counting sort on account id */
    int64_t nacc = sp->subs.nacc;
    int64_t *start = calloc((size_t)nacc + 1, sizeof *start);
    int64_t *ord = malloc((size_t)(sp->ntest ? sp->ntest : 1) * sizeof *ord);
    double *leads = malloc((size_t)(sp->ntest ? sp->ntest : 1) * sizeof *leads);
    if (!start || !ord || !leads) {
        free(start);
        free(ord);
        free(leads);
        return CW_ERR_NOMEM;
    }
    for (int64_t i = 0; i < sp->ntest; i++)
        if (scored[i])
            start[m->acc[sp->test[i]] + 1]++;
    for (int64_t a = 0; a < nacc; a++)
        start[a + 1] += start[a];
    int64_t *fill = malloc((size_t)(nacc ? nacc : 1) * sizeof *fill);
    if (!fill) {
        free(start);
        free(ord);
        free(leads);
        return CW_ERR_NOMEM;
    }
    memcpy(fill, start, (size_t)nacc * sizeof *fill);
    for (int64_t i = 0; i < sp->ntest; i++) /* test rows are in day order: stays sorted by day */
        if (scored[i])
            ord[fill[m->acc[sp->test[i]]]++] = i;
    free(fill);
    int64_t nlead = 0;
    int64_t H = (int64_t)horizon_days * DAY_SECONDS;
    for (int64_t a = 0; a < nacc; a++) {
        if (start[a] == start[a + 1])
            continue;
        int64_t t = sp->test_from * DAY_SECONDS, end = sp->test_to * DAY_SECONDS + H;
        int64_t c;
        while ((c = cw_churn_first(&sp->subs, a, t, end)) >= 0) {
            int observed = 0;
            int64_t first_red = -1;
            for (int64_t k = start[a]; k < start[a + 1]; k++) {
                int64_t r = sp->test[ord[k]];
                int64_t ts = (int64_t)m->day[r] * DAY_SECONDS;
                if (ts >= c || ts < c - 2 * H)
                    continue;
                observed = 1;
                if (flag[ord[k]] && first_red < 0)
                    first_red = m->day[r];
            }
            if (observed) {
                lt->churns++;
                if (first_red >= 0) {
                    lt->flagged++;
                    leads[nlead++] = (double)(c / DAY_SECONDS - first_red);
                }
            }
            t = c;
        }
    }
    if (lt->churns)
        lt->never_flagged_share = (double)(lt->churns - lt->flagged) / (double)lt->churns;
    if (nlead) {
        qsort(leads, (size_t)nlead, sizeof *leads, dbl_cmp);
        double s = 0;
        for (int64_t i = 0; i < nlead; i++)
            s += leads[i];
        lt->mean_days = s / (double)nlead;
        lt->median_days =
            nlead % 2 ? leads[nlead / 2] : (leads[nlead / 2 - 1] + leads[nlead / 2]) / 2;
    }
    free(start);
    free(ord);
    free(leads);
    return CW_OK;
}

/* ---- scorecards: risk per test row, per scorecard hash ------------------ */

#define MAX_SCORECARDS 32

typedef struct cw_sc_ctx {
    const cw_split *sp;
    struct snap_key *by_snap; /* renewal rows: test positions by (snapshot day, account) */
    int n;
    char hash[MAX_SCORECARDS][80];
    double *risk[MAX_SCORECARDS];
    unsigned char *red[MAX_SCORECARDS];
    cw_store *st;
} cw_sc_ctx;

/* The test row of (day, account), or -1: binary search (rows are in
 * (day, account) order). */
static int64_t find_test_row(const cw_split *sp, int64_t day, int64_t acc)
{
    int64_t lo = 0, hi = sp->ntest;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, r = sp->test[mid];
        int64_t d = sp->mx.day[r], a = sp->mx.acc[r];
        if (d < day || (d == day && a < acc))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < sp->ntest && sp->mx.day[sp->test[lo]] == day && sp->mx.acc[sp->test[lo]] == acc)
        return lo;
    return -1;
}

/* Renewal rows: the test positions ordered by (snapshot day, account), so
 * that a scorecard's score of a snapshot finds the row built from it. */
typedef struct snap_key {
    int32_t snap, acc;
    int64_t pos;
} snap_key;

static int snap_cmp(const void *x, const void *y)
{
    const snap_key *a = x, *b = y;
    if (a->snap != b->snap)
        return a->snap < b->snap ? -1 : 1;
    if (a->acc != b->acc)
        return a->acc < b->acc ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static int64_t find_test_row_snap(const cw_sc_ctx *c, int64_t day, int64_t acc)
{
    int64_t lo = 0, hi = c->sp->ntest;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (c->by_snap[mid].snap < day ||
            (c->by_snap[mid].snap == day && c->by_snap[mid].acc < acc))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->sp->ntest && c->by_snap[lo].snap == day && c->by_snap[lo].acc == acc)
        return c->by_snap[lo].pos;
    return -1;
}

/* Orders the test rows by the snapshot their metrics come from. */
static cw_status sc_by_snapshot(cw_store *st, cw_sc_ctx *sc)
{
    const cw_split *sp = sc->sp;
    sc->by_snap = malloc((size_t)(sp->ntest ? sp->ntest : 1) * sizeof *sc->by_snap);
    if (!sc->by_snap)
        return cw_store_set_error(st, CW_ERR_NOMEM, "backtest: out of memory");
    for (int64_t i = 0; i < sp->ntest; i++)
        sc->by_snap[i] = (snap_key){sp->mx.snapday[sp->test[i]], sp->mx.acc[sp->test[i]], i};
    if (sp->ntest > 1)
        qsort(sc->by_snap, (size_t)sp->ntest, sizeof *sc->by_snap, snap_cmp);
    return CW_OK;
}

static cw_status on_score(int64_t day, int64_t account, const char *scorecard, double score,
                          int colour, void *ud)
{
    cw_sc_ctx *c = ud;
    int64_t i =
        c->by_snap ? find_test_row_snap(c, day, account) : find_test_row(c->sp, day, account);
    if (i < 0)
        return CW_OK;
    const char *h = scorecard ? scorecard : "";
    int k = 0;
    while (k < c->n && strcmp(c->hash[k], h) != 0)
        k++;
    if (k == c->n) {
        if (c->n == MAX_SCORECARDS)
            return CW_OK; /* more versions than a backtest compares; the oldest are kept */
        snprintf(c->hash[k], sizeof c->hash[k], "%s", h);
        c->risk[k] = malloc((size_t)c->sp->ntest * sizeof(double));
        c->red[k] = calloc((size_t)c->sp->ntest, 1);
        if (!c->risk[k] || !c->red[k]) {
            free(c->risk[k]);
            free(c->red[k]);
            return CW_ERR_NOMEM;
        }
        for (int64_t j = 0; j < c->sp->ntest; j++)
            c->risk[k][j] = NAN;
        c->n++;
    }
    c->risk[k][i] = 100.0 - score;
    c->red[k][i] = colour == 2;
    return CW_OK;
}

static cw_status add_subject(cw_backtest *b, const char *name, int probabilities,
                             const double *score, const unsigned char *y, int64_t n,
                             const cw_split *sp, int horizon, const unsigned char *flag,
                             const unsigned char *scored)
{
    cw_backtest_subject *s = realloc(b->subjects, ((size_t)b->n + 1) * sizeof *s);
    if (!s)
        return CW_ERR_NOMEM;
    b->subjects = s;
    cw_backtest_subject *x = &s[b->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->subject, sizeof x->subject, "%s", name);
    x->probabilities = probabilities;
    cw_status rc = cw_eval_binary(score, y, n,
                                  probabilities ? CW_EVAL_PROBABILITIES : CW_EVAL_RANKS, &x->eval);
    if (rc == CW_OK)
        rc = lead_time(sp, horizon, flag, scored, &x->lead);
    return rc;
}

static void day_str(int64_t day, char *buf, size_t n)
{
    time_t t = (time_t)(day * DAY_SECONDS);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d", &tm);
}

char *cw_backtest_subject_json(const cw_backtest *b, const cw_backtest_subject *s)
{
    json_t *o = json_object();
    char d[16];
    json_object_set_new(o, "subject", json_string(s->subject));
    json_object_set_new(o, "horizon_days", json_integer(b->horizon_days));
    json_object_set_new(o, "rows",
                        json_string(b->rows_design == CW_ROWS_RENEWAL ? "renewal" : "weekly"));
    if (b->rows_design == CW_ROWS_RENEWAL)
        json_object_set_new(o, "renewal_days", json_integer(b->renewal_days));
    day_str(b->test_from, d, sizeof d);
    json_object_set_new(o, "test_from", json_string(d));
    day_str(b->test_to, d, sizeof d);
    json_object_set_new(o, "test_to", json_string(d));
    json_object_set_new(o, "probabilities", json_boolean(s->probabilities));
    json_t *e = cw_eval_json(&s->eval);
    if (!s->probabilities) { /* no probabilities: keep the observed rates only */
        json_t *dec;
        size_t i;
        json_object_set_new(e, "brier", json_null());
        json_array_foreach (json_object_get(e, "calibration"), i, dec)
            json_object_del(dec, "mean_score");
    }
    json_object_set_new(o, "metrics", e);
    json_t *l = json_object();
    json_object_set_new(l, "churns", json_integer(s->lead.churns));
    json_object_set_new(l, "flagged", json_integer(s->lead.flagged));
    json_object_set_new(l, "median_days",
                        isfinite(s->lead.median_days) ? json_real(s->lead.median_days)
                                                      : json_null());
    json_object_set_new(l, "mean_days",
                        isfinite(s->lead.mean_days) ? json_real(s->lead.mean_days) : json_null());
    json_object_set_new(l, "never_flagged_share",
                        isfinite(s->lead.never_flagged_share)
                            ? json_real(s->lead.never_flagged_share)
                            : json_null());
    json_object_set_new(o, "lead_time", l);
    char *str = cw_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    return str;
}

cw_status cw_backtest_run(cw_store *st, const cw_backtest_opts *o, cw_backtest **out)
{
    cw_store_enter(st, "backtest");
    *out = NULL;
    int H = o->horizon_days > 0 ? o->horizon_days : 90;
    double green = o->green_below > 0 ? o->green_below : 0.25;
    cw_split sp;
    cw_split_opts so;
    memset(&so, 0, sizeof so);
    so.from_day = o->from_day;
    so.to_day = o->to_day;
    so.data_end_day = o->data_end_day;
    so.horizon_days = H;
    so.test_share = o->test_share > 0 ? o->test_share : 0.25;
    so.no_product_features = o->no_product_features;
    so.min_positives = o->min_positives;
    so.force = o->force;
    so.rows_design = o->rows_design;
    so.renewal_days = o->renewal_days;
    cw_status rc = cw_split_make_ex(st, &so, &sp);
    if (rc != CW_OK)
        return rc;
    cw_backtest *b = calloc(1, sizeof *b);
    unsigned char *y = malloc((size_t)(sp.ntest ? sp.ntest : 1));
    unsigned char *flag = malloc((size_t)(sp.ntest ? sp.ntest : 1));
    unsigned char *all = malloc((size_t)(sp.ntest ? sp.ntest : 1));
    double *sub = malloc((size_t)(sp.ntest ? sp.ntest : 1) * sizeof *sub);
    unsigned char *suby = malloc((size_t)(sp.ntest ? sp.ntest : 1));
    if (!b || !y || !flag || !all || !sub || !suby)
        rc = cw_store_set_error(st, CW_ERR_NOMEM, "backtest: out of memory");
    if (rc == CW_OK) {
        b->horizon_days = H = sp.horizon_days; /* renewal rows: renewal_days + 1 */
        b->test_from = sp.test_from;
        b->test_to = sp.test_to;
        b->data_end_day = sp.mx.data_end_day;
        b->unknown_rows = sp.mx.unknown_rows;
        b->rows_design = sp.mx.rows_design;
        b->renewal_days = sp.mx.renewal_days;
        for (int64_t i = 0; i < sp.ntest; i++) {
            y[i] = sp.mx.y[sp.test[i]];
            all[i] = 1;
        }
    }
    int kinds = o->kinds ? o->kinds : CW_MODEL_LOGREG | CW_MODEL_XGBOOST;
    cw_model_kind kk[2] = {CW_MODEL_LOGREG, CW_MODEL_XGBOOST};
    for (int k = 0; rc == CW_OK && k < 2; k++) {
        if (!(kinds & kk[k]))
            continue;
        cw_model *md;
        double *p;
        cw_eval ev;
        rc = cw_split_train(st, &sp, kk[k], o->threads, &md, &p, &ev, NULL);
        if (rc != CW_OK)
            break;
        cw_model_free(md);
        for (int64_t i = 0; i < sp.ntest; i++)
            flag[i] = p[i] >= green;
        char name[64];
        snprintf(name, sizeof name, "model:%s", cw_model_kind_name(kk[k]));
        rc = add_subject(b, name, 1, p, y, sp.ntest, &sp, H, flag, all);
        free(p);
    }
    cw_sc_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.sp = &sp;
    sc.st = st;
    int64_t sc_from = sp.mx.snapday ? sp.test_from - CW_RENEWAL_MAX_STALE : sp.test_from;
    if (rc == CW_OK && sp.mx.snapday) /* renewal rows: scored on their snapshots */
        rc = sc_by_snapshot(st, &sc);
    if (rc == CW_OK)
        rc = cw_store_scores_scan(st, sc_from, sp.test_to, on_score, &sc);
    free(sc.by_snap);
    for (int k = 0; rc == CW_OK && k < sc.n; k++) {
        int64_t n = 0;
        unsigned char *scored = malloc((size_t)(sp.ntest ? sp.ntest : 1));
        if (!scored) {
            rc = cw_store_set_error(st, CW_ERR_NOMEM, "backtest: out of memory");
            break;
        }
        for (int64_t i = 0; i < sp.ntest; i++) {
            scored[i] = !isnan(sc.risk[k][i]);
            if (scored[i]) {
                sub[n] = sc.risk[k][i];
                suby[n++] = y[i];
            }
        }
        char name[96];
        snprintf(name, sizeof name, "scorecard:%s", sc.hash[k]);
        rc = add_subject(b, name, 0, sub, suby, n, &sp, H, sc.red[k], scored);
        free(scored);
    }
    for (int k = 0; k < sc.n; k++) {
        free(sc.risk[k]);
        free(sc.red[k]);
    }
    const cw_store_ops *ops = cw_store_get_ops(st);
    int txn = 0;
    if (rc == CW_OK && (rc = ops->begin(st)) == CW_OK)
        txn = 1;
    for (int i = 0; rc == CW_OK && i < b->n; i++) {
        char *j = cw_backtest_subject_json(b, &b->subjects[i]);
        rc = j ? cw_store_backtest_put(st, (int64_t)time(NULL), b->subjects[i].subject, j)
               : CW_ERR_NOMEM;
        free(j);
    }
    if (rc == CW_OK)
        rc = ops->commit(st);
    else if (txn)
        ops->rollback(st);
    free(y);
    free(flag);
    free(all);
    free(sub);
    free(suby);
    cw_split_free(&sp);
    if (rc != CW_OK) {
        cw_backtest_free(b);
        return rc;
    }
    *out = b;
    return CW_OK;
}
