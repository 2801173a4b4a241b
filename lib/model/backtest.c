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
 * first flagged row in that look-back to the churn. Flagged (core/flag.c,
 * `[model] flag`): by default the riskiest 10% of each test day's scored
 * rows, for models and scorecards alike; with "p >= P" a model's rows at or
 * above P and the scorecard's red rows (colour 2: a score is no
 * probability).
 *
 * Models are calibrated as `train` does before its test: Platt on the
 * calibration slice, the intercept refitted on the latest labelled window
 * before the test period (calib.c); the mean test probability with the
 * Platt sigmoid alone is reported beside it.
 */
#include "core/json.h"
#include "core/util.h"
#include "model/model_int.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *cw_eval_json(const cw_eval *e);
json_t *cw_recal_json(const cw_recal_info *ri);

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
                             const unsigned char *scored, const char *flag_by)
{
    cw_backtest_subject *s = realloc(b->subjects, ((size_t)b->n + 1) * sizeof *s);
    if (!s)
        return CW_ERR_NOMEM;
    b->subjects = s;
    cw_backtest_subject *x = &s[b->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->subject, sizeof x->subject, "%s", name);
    snprintf(x->flag_by, sizeof x->flag_by, "%s", flag_by);
    x->probabilities = probabilities;
    x->mean_platt = NAN;
    for (int64_t i = 0; i < sp->ntest; i++)
        x->flagged_rows += scored[i] && flag[i];
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
    if (s->probabilities) { /* the mean prediction against the observed rate */
        double sum = 0;
        for (size_t q = 0; q < 10; q++)
            sum += s->eval.deciles[q].mean_score * (double)s->eval.deciles[q].n;
        json_t *c = json_object();
        json_object_set_new(c, "mean_predicted",
                            s->eval.n ? json_real(sum / (double)s->eval.n) : json_null());
        json_object_set_new(c, "observed",
                            s->eval.n ? json_real((double)s->eval.positives / (double)s->eval.n)
                                      : json_null());
        json_object_set_new(c, "mean_predicted_platt_only",
                            isfinite(s->mean_platt) ? json_real(s->mean_platt) : json_null());
        json_object_set_new(c, "recalibration", cw_recal_json(&s->recal));
        json_object_set_new(o, "base_rate", c);
    }
    json_object_set_new(o, "metrics", e);
    json_t *fl = json_object();
    json_object_set_new(fl, "rule", json_string(s->flag_by));
    json_object_set_new(fl, "rows", json_integer(s->flagged_rows));
    json_object_set_new(o, "flag", fl);
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

/* ---- --predictions FILE: every scored test row, for checking by hand ---- */

typedef struct pred_csv {
    const char *path;
    char *tmp; /* written here, renamed onto path when the backtest succeeds */
    FILE *f;
} pred_csv;

static cw_status pred_open(cw_store *st, pred_csv *pc)
{
    if (!pc->path)
        return CW_OK;
    pc->tmp = cw_strdupf("%s.tmp", pc->path);
    pc->f = pc->tmp ? fopen(pc->tmp, "w") : NULL;
    if (!pc->f)
        return cw_store_set_error(st, CW_ERR_IO, "%s: cannot write", pc->path);
    fputs("subject,day,account_id,label,risk,p_platt_only,flagged\n", pc->f);
    return CW_OK;
}

/* The subject's scored rows: risk (a probability for models), for models
 * the probability with the calibration slice's Platt alone (logit shifted
 * back by db; NaN db: none), the label and whether it was flagged. */
static cw_status pred_rows(cw_store *st, pred_csv *pc, const cw_split *sp, const char *subject,
                           const double *risk, double db, const unsigned char *y,
                           const unsigned char *flag, const unsigned char *scored)
{
    if (!pc->f)
        return CW_OK;
    for (int64_t i = 0; i < sp->ntest; i++) {
        if (!scored[i] || isnan(risk[i]))
            continue;
        int64_t r = sp->test[i];
        char d[16];
        day_str(sp->mx.day[r], d, sizeof d);
        const char *ext = sp->subs.ext[sp->mx.acc[r]];
        fprintf(pc->f, "%s,%s,%s,%d,%.17g,", subject, d, ext ? ext : "", y[i], risk[i]);
        if (!isnan(db)) {
            double q = risk[i];
            double t = log(q / (1 - q)) - db;
            fprintf(pc->f, "%.17g", 1 / (1 + exp(-t)));
        }
        fprintf(pc->f, ",%d\n", flag[i] ? 1 : 0);
    }
    if (ferror(pc->f))
        return cw_store_set_error(st, CW_ERR_IO, "%s: write failed", pc->path);
    return CW_OK;
}

static cw_status pred_close(cw_store *st, pred_csv *pc, int discard)
{
    cw_status rc = CW_OK;
    if (pc->f) {
        int bad = ferror(pc->f);
        bad |= fclose(pc->f) != 0;
        pc->f = NULL;
        if (!discard && bad)
            rc = cw_store_set_error(st, CW_ERR_IO, "%s: write failed", pc->path);
        if (!discard && !bad && rename(pc->tmp, pc->path) != 0)
            rc = cw_store_set_error(st, CW_ERR_IO, "%s: cannot write", pc->path);
        if (discard || rc != CW_OK)
            remove(pc->tmp);
    }
    free(pc->tmp);
    pc->tmp = NULL;
    return rc;
}

/* What the stages of one backtest share: the split, the subjects so far,
 * the flag rule and the per-test-row scratch arrays. */
typedef struct bt_ctx {
    cw_store *st;
    cw_split sp;
    cw_backtest *b;
    cw_flag_rule fr;
    char rule[48];
    int H;
    unsigned char *y, *flag, *all, *suby;
    double *sub;
    int64_t *tday, *tacc;
    pred_csv pc;
} bt_ctx;

/* Each model kind asked for: trained on the split (calibrated and
 * recalibrated as train does), flagged, judged. */
static cw_status bt_models(bt_ctx *c, const cw_backtest_opts *o)
{
    const cw_split *sp = &c->sp;
    int kinds = o->kinds ? o->kinds : CW_MODEL_LOGREG | CW_MODEL_XGBOOST;
    cw_model_kind kk[2] = {CW_MODEL_LOGREG, CW_MODEL_XGBOOST};
    cw_status rc = CW_OK;
    for (int k = 0; rc == CW_OK && k < 2; k++) {
        if (!(kinds & kk[k]))
            continue;
        cw_model *md;
        double *p;
        cw_eval ev;
        rc = cw_split_train(c->st, sp, kk[k], o->threads, &md, &p, &ev, NULL);
        if (rc != CW_OK)
            break;
        cw_recal_info ri = md->recal;
        double mean_platt = md->test_mean_platt;
        double db = ri.applied ? ri.b - ri.platt_b : 0; /* p_platt from p: shift the log-odds */
        cw_model_free(md);
        if (cw_flag_rows(&c->fr, p, c->tday, c->tacc, sp->ntest, c->flag) < 0)
            rc = cw_store_set_error(c->st, CW_ERR_NOMEM, "backtest: out of memory");
        char name[64];
        snprintf(name, sizeof name, "model:%s", cw_model_kind_name(kk[k]));
        if (rc == CW_OK)
            rc = add_subject(c->b, name, 1, p, c->y, sp->ntest, sp, c->H, c->flag, c->all, c->rule);
        if (rc == CW_OK) {
            c->b->subjects[c->b->n - 1].recal = ri;
            c->b->subjects[c->b->n - 1].mean_platt = mean_platt;
            rc = pred_rows(c->st, &c->pc, sp, name, p, db, c->y, c->flag, c->all);
        }
        free(p);
    }
    return rc;
}

/* Every stored scorecard version on the test rows it scored. */
static cw_status bt_scorecards(bt_ctx *c)
{
    const cw_split *sp = &c->sp;
    cw_sc_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.sp = sp;
    sc.st = c->st;
    cw_status rc = CW_OK;
    /* renewal rows: scored on the snapshots their metrics come from, which
     * may be up to CW_RENEWAL_MAX_STALE days before the observation day */
    int64_t sc_from = sp->mx.snapday ? sp->test_from - CW_RENEWAL_MAX_STALE : sp->test_from;
    if (sp->mx.snapday)
        rc = sc_by_snapshot(c->st, &sc);
    if (rc == CW_OK)
        rc = cw_store_scores_scan(c->st, sc_from, sp->test_to, on_score, &sc);
    free(sc.by_snap);
    for (int k = 0; rc == CW_OK && k < sc.n; k++) {
        int64_t n = 0;
        unsigned char *scored = malloc((size_t)(sp->ntest ? sp->ntest : 1));
        if (!scored) {
            rc = cw_store_set_error(c->st, CW_ERR_NOMEM, "backtest: out of memory");
            break;
        }
        for (int64_t i = 0; i < sp->ntest; i++) {
            scored[i] = !isnan(sc.risk[k][i]);
            if (scored[i]) {
                c->sub[n] = sc.risk[k][i];
                c->suby[n++] = c->y[i];
            }
        }
        char name[96];
        snprintf(name, sizeof name, "scorecard:%s", sc.hash[k]);
        const unsigned char *fl = sc.red[k]; /* "p >= P": a score is no probability */
        if (c->fr.share > 0) {
            if (cw_flag_rows(&c->fr, sc.risk[k], c->tday, c->tacc, sp->ntest, c->flag) < 0)
                rc = cw_store_set_error(c->st, CW_ERR_NOMEM, "backtest: out of memory");
            fl = c->flag;
        }
        if (rc == CW_OK)
            rc = add_subject(c->b, name, 0, c->sub, c->suby, n, sp, c->H, fl, scored,
                             c->fr.share > 0 ? c->rule : "colour red");
        if (rc == CW_OK)
            rc = pred_rows(c->st, &c->pc, sp, name, sc.risk[k], NAN, c->y, fl, scored);
        free(scored);
    }
    for (int k = 0; k < sc.n; k++) {
        free(sc.risk[k]);
        free(sc.red[k]);
    }
    return rc;
}

/* One backtests row per subject, in one transaction; then the rows file. */
static cw_status bt_store(bt_ctx *c, cw_status rc)
{
    const cw_store_ops *ops = cw_store_get_ops(c->st);
    int txn = 0;
    if (rc == CW_OK && (rc = ops->begin(c->st)) == CW_OK)
        txn = 1;
    for (int i = 0; rc == CW_OK && i < c->b->n; i++) {
        char *j = cw_backtest_subject_json(c->b, &c->b->subjects[i]);
        rc = j ? cw_store_backtest_put(c->st, (int64_t)time(NULL), c->b->subjects[i].subject, j)
               : CW_ERR_NOMEM;
        free(j);
    }
    if (rc == CW_OK)
        rc = ops->commit(c->st);
    else if (txn)
        ops->rollback(c->st);
    if (rc == CW_OK) /* the rows file appears only when the backtest is stored */
        rc = pred_close(c->st, &c->pc, 0);
    else
        pred_close(c->st, &c->pc, 1);
    return rc;
}

cw_status cw_backtest_run(cw_store *st, const cw_backtest_opts *o, cw_backtest **out)
{
    cw_store_enter(st, "backtest");
    *out = NULL;
    bt_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.H = o->horizon_days > 0 ? o->horizon_days : 90;
    c.fr = (cw_flag_rule){.share = 0.10};
    if (o->flag_set)
        c.fr = o->flag;
    else if (o->green_below > 0)
        c.fr = (cw_flag_rule){.p_at_least = o->green_below};
    cw_flag_format(&c.fr, c.rule, sizeof c.rule);
    cw_split_opts so = {.from_day = o->from_day,
                        .to_day = o->to_day,
                        .data_end_day = o->data_end_day,
                        .horizon_days = c.H,
                        .test_share = o->test_share > 0 ? o->test_share : 0.25,
                        .no_product_features = o->no_product_features,
                        .min_positives = o->min_positives,
                        .force = o->force,
                        .rows_design = o->rows_design,
                        .renewal_days = o->renewal_days,
                        .recal_days = o->recal_days};
    cw_status rc = cw_split_make_ex(st, &so, &c.sp);
    if (rc != CW_OK)
        return rc;
    const cw_split *sp = &c.sp;
    size_t nt = (size_t)(sp->ntest ? sp->ntest : 1);
    c.pc.path = o->predictions_csv;
    c.b = calloc(1, sizeof *c.b);
    c.y = malloc(nt);
    c.flag = malloc(nt);
    c.all = malloc(nt);
    c.sub = malloc(nt * sizeof *c.sub);
    c.suby = malloc(nt);
    c.tday = malloc(nt * sizeof *c.tday);
    c.tacc = malloc(nt * sizeof *c.tacc);
    if (!c.b || !c.y || !c.flag || !c.all || !c.sub || !c.suby || !c.tday || !c.tacc)
        rc = cw_store_set_error(st, CW_ERR_NOMEM, "backtest: out of memory");
    if (rc == CW_OK)
        rc = pred_open(st, &c.pc);
    if (rc == CW_OK) {
        c.b->flag = c.fr;
        c.b->horizon_days = c.H = sp->horizon_days; /* renewal rows: renewal_days + 1 */
        c.b->test_from = sp->test_from;
        c.b->test_to = sp->test_to;
        c.b->data_end_day = sp->mx.data_end_day;
        c.b->unknown_rows = sp->mx.unknown_rows;
        c.b->rows_design = sp->mx.rows_design;
        c.b->renewal_days = sp->mx.renewal_days;
        /* A share rule flags the riskiest share of each observation day's
         * rows; renewal rows are observed on scattered days (a day often
         * holds one row, and its one row is flagged), so for them the share
         * is taken over all test rows at once (docs/model.md, "Flagged"). */
        int one_group = sp->mx.rows_design == CW_ROWS_RENEWAL;
        for (int64_t i = 0; i < sp->ntest; i++) {
            c.y[i] = sp->mx.y[sp->test[i]];
            c.all[i] = 1;
            c.tday[i] = one_group ? 0 : sp->mx.day[sp->test[i]];
            c.tacc[i] = sp->mx.acc[sp->test[i]];
        }
    }
    if (rc == CW_OK)
        rc = bt_models(&c, o);
    if (rc == CW_OK)
        rc = bt_scorecards(&c);
    rc = bt_store(&c, rc);
    free(c.tday);
    free(c.tacc);
    free(c.y);
    free(c.flag);
    free(c.all);
    free(c.sub);
    free(c.suby);
    cw_split_free(&c.sp);
    if (rc != CW_OK) {
        cw_backtest_free(c.b);
        return rc;
    }
    *out = c.b;
    return CW_OK;
}
