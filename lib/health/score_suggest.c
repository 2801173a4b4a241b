/*
 * score_suggest.c — `churnwatch backtest --suggest-weights`: what the
 * history says the scorecard's weights should be.
 *
 * The scorecard's own measures, bands and applicability stay as they are;
 * only the weights are fitted. On the time split of the churn model
 * (model_train.c: fit on earlier snapshots, purge gap, test on later ones)
 * every row's measure points are computed as the scorecard computes them;
 * a regularised logistic regression of churn-within-horizon on those points
 * (a missing measure at its training mean, which is what re-spreading its
 * weight amounts to) gives one coefficient per measure. More points mean
 * less risk, so a measure's suggested weight is its negative coefficient
 * (zero when the history says the measure points the wrong way). The
 * suggested scorecard is scored with the same re-spreading and both are
 * compared by ROC AUC on the later snapshots.
 */
#define _POSIX_C_SOURCE 200809L
#include "model/model_int.h"
#include "health/scorecard_int.h"
#include "core/util.h"
#include "ingest/validate.h"
#include "store/store.h"

#include <linear.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A held-out ROC AUC change under this is not a verdict either way. */
#define SUGGEST_MIN_GAIN 0.005

/* Segments by account id (for measures with a segments filter). */
typedef struct seg_ctx {
    char **seg;
    int64_t n;
    cw_store *st; /* for the error message */
} seg_ctx;

static cw_status on_acc(int64_t id, const cw_value *v, void *ud)
{
    seg_ctx *c = ud;
    if (id < 0 || id > INT32_MAX)
        return cw_store_set_error(c->st, CW_ERR_DB, "suggest-weights: account id %lld out of range",
                                  (long long)id);
    if (id >= c->n) {
        int64_t n = c->n ? c->n : 256;
        while (n <= id)
            n *= 2;
        char **p = realloc(c->seg, (size_t)n * sizeof *p);
        if (!p)
            return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                      "suggest-weights: out of memory loading account segments");
        memset(p + c->n, 0, (size_t)(n - c->n) * sizeof *p);
        c->seg = p;
        c->n = n;
    }
    c->seg[id] = cw_strndup(v[2].s ? v[2].s : "", v[2].len); /* accounts: 2 segment */
    if (!c->seg[id])
        return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                  "suggest-weights: out of memory loading account segments");
    return CW_OK;
}

/* Measure inputs of row r of the matrix: value, trend or peer percentile
 * of a built-in metric (custom and milestone metrics are not in the
 * matrix: missing). */
static void row_inputs(const cw_scorecard *sc, const cw_mx *m, int64_t r, double *in)
{
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *ms = &sc->measures[i];
        int j = cw_metric_index(ms->metric);
        double v = NAN;
        if (j >= 0 && j < m->nmetrics) {
            if (ms->source == SC_SRC_VALUE)
                v = m->x[r * m->nf + j];
            else if (ms->source == SC_SRC_TREND && m->nf >= 2 * m->nmetrics)
                v = m->x[r * m->nf + m->nmetrics + j];
            else if (ms->source == SC_SRC_PEER && m->peers)
                v = m->peers[r * m->nmetrics + j];
        }
        in[i] = v;
    }
}

/* Points of each measure for row r (NaN: does not apply or no data and
 * dropped), and the row's stage. */
static void row_points(const cw_scorecard *sc, const cw_mx *m, int64_t r, const seg_ctx *sg,
                       double *pts, int *stage)
{
    double in[SC_MAX_MEASURES];
    row_inputs(sc, m, r, in);
    int t = cw_metric_index("tenure_days");
    *stage = cw_scorecard_stage(sc, m->x[r * m->nf + t]);
    int64_t a = m->acc[r];
    const char *seg = a >= 0 && a < sg->n ? sg->seg[a] : NULL;
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *ms = &sc->measures[i];
        pts[i] = NAN;
        if (!(ms->stages & (1u << *stage)) || !cw_sc_segment_applies(ms, seg))
            continue;
        if (isnan(in[i]))
            pts[i] = ms->missing == SC_MISSING_POINTS ? ms->missing_pts : (double)NAN;
        else
            pts[i] = cw_sc_points(ms, in[i]);
    }
}

static void score_rows(const cw_scorecard *sc, const cw_mx *m, const int64_t *idx, int64_t n,
                       const seg_ctx *sg, double *risk)
{
    for (int64_t k = 0; k < n; k++) {
        double in[SC_MAX_MEASURES];
        int64_t r = idx[k];
        row_inputs(sc, m, r, in);
        int t = cw_metric_index("tenure_days");
        int stage = cw_scorecard_stage(sc, m->x[r * m->nf + t]);
        int64_t a = m->acc[r];
        double s =
            cw_scorecard_eval(sc, in, stage, a >= 0 && a < sg->n ? sg->seg[a] : NULL, NULL, NULL);
        /* No score: the middle of the scale, so it ranks neither way. */
        risk[k] = isnan(s) ? 50 : 100 - s;
    }
}

/* The scorecard's score from precomputed points (NaN = does not count), as
 * cw_scorecard_eval computes it, with effective measure weights mw (%). */
static double score_points(const cw_scorecard *sc, const double *pts, int stage)
{
    double gsum[SC_MAX_GROUPS] = {0}, gpts[SC_MAX_GROUPS] = {0}, total = 0, score = 0;
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *m = &sc->measures[i];
        if (isnan(pts[i]) || m->weight <= 0)
            continue;
        gsum[m->group] += m->weight;
        gpts[m->group] += m->weight * pts[i];
    }
    for (int g = 0; g < sc->ngroups; g++)
        if (gsum[g] > 0) {
            total += sc->groups[g].weight[stage];
            score += sc->groups[g].weight[stage] * gpts[g] / gsum[g];
        }
    return total > 0 ? score / total : (double)NAN;
}

/* Sets s2's established group weights and measure weights from effective
 * measure weights w (any scale). */
static void set_weights(cw_scorecard *s2, const double *w, double *gw_out)
{
    for (int g = 0; g < s2->ngroups; g++) {
        double gw = 0;
        for (int i = 0; i < s2->nmeasures; i++)
            if (s2->measures[i].group == g)
                gw += w[i];
        if (gw_out)
            gw_out[g] = gw;
        s2->groups[g].base = gw;
        s2->groups[g].weight[SC_STAGE_ESTABLISHED] = gw;
        for (int i = 0; i < s2->nmeasures; i++)
            if (s2->measures[i].group == g)
                s2->measures[i].weight = gw > 0 ? w[i] / gw : 0;
    }
}

/* ROC AUC of s2 over the n rows of points xs (stages st, labels y). */
static double auc_of(const cw_scorecard *s2, const double *xs, const int *stages,
                     const unsigned char *y, int64_t n, double *risk)
{
    for (int64_t k = 0; k < n; k++) {
        double v = score_points(s2, xs + k * s2->nmeasures, stages[k]);
        risk[k] = isnan(v) ? 50 : 100 - v;
    }
    cw_eval ev;
    return cw_eval_binary(risk, y, n, CW_EVAL_RANKS, &ev) == CW_OK ? ev.roc_auc : (double)NAN;
}

static void quiet(const char *s)
{
    (void)s;
}

/* What the stages of cw_score_suggest share: the time split, the segments,
 * the training rows' measure points, and the scorecard being tuned. */
typedef struct suggest_ctx {
    cw_store *st;
    const cw_scorecard *sc;
    int nm; /* the scorecard's measures */
    cw_split sp;
    seg_ctx sg;
    int64_t ntrain;               /* training rows: the split's fit and calibration rows */
    double *xs;                   /* ntrain × nm points (NaN: does not count) */
    int *stages;                  /* each training row's stage */
    unsigned char *ytr;           /* churned within the horizon: 1, else 0 */
    double *ys;                   /* the same as +1 / -1, for liblinear */
    double *rtr;                  /* scratch: each training row's risk */
    double mean[SC_MAX_MEASURES]; /* mean points over the rows that have them */
    cw_scorecard *s2;             /* sc with the suggested weights */
} suggest_ctx;

/* The time split of the churn model and the accounts' segments; an error
 * when either side has too few rows to judge. */
static cw_status suggest_split(suggest_ctx *c, const cw_suggest_opts *o)
{
    cw_status s =
        cw_split_make(c->st, o->from_day, o->to_day, o->horizon_days, 0, 0, 0.3, 1, &c->sp);
    if (s != CW_OK)
        return s;
    c->sg.st = c->st;
    if ((s = cw_store_get_ops(c->st)->scan_rows(c->st, CW_KIND_ACCOUNTS, on_acc, &c->sg)) != CW_OK)
        return s;
    c->ntrain = c->sp.nfit + c->sp.ncal;
    if (c->ntrain < 50 || c->sp.ntest < 50)
        return cw_store_set_error(c->st, CW_ERR_NOTFOUND,
                                  "suggest-weights: too few labelled snapshot rows (%lld to fit, "
                                  "%lld to test); compute a longer metric history",
                                  (long long)c->ntrain, (long long)c->sp.ntest);
    return CW_OK;
}

/* Points, stage and label of every training row, and each measure's mean
 * points over the rows that have them (50 when none has). */
static cw_status suggest_points(suggest_ctx *c, cw_suggest_result *res)
{
    const cw_split *sp = &c->sp;
    const int nm = c->nm;
    const int64_t ntrain = c->ntrain;
    int64_t *trows = malloc((size_t)ntrain * sizeof *trows);
    c->xs = malloc((size_t)ntrain * (size_t)nm * sizeof *c->xs);
    c->ys = malloc((size_t)ntrain * sizeof *c->ys);
    c->stages = malloc((size_t)ntrain * sizeof *c->stages);
    c->ytr = malloc((size_t)ntrain);
    c->rtr = malloc((size_t)ntrain * sizeof *c->rtr);
    if (!trows || !c->xs || !c->ys || !c->stages || !c->ytr || !c->rtr) {
        free(trows);
        return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                  "suggest-weights: out of memory computing measure points");
    }
    memcpy(trows, sp->fit, (size_t)sp->nfit * sizeof *trows);
    memcpy(trows + sp->nfit, sp->cal, (size_t)sp->ncal * sizeof *trows);
    double *xs = c->xs;
    int64_t cnt[SC_MAX_MEASURES] = {0};
    for (int64_t k = 0; k < ntrain; k++) {
        row_points(c->sc, &sp->mx, trows[k], &c->sg, xs + k * nm, &c->stages[k]);
        c->ytr[k] = sp->mx.y[trows[k]] ? 1 : 0;
        c->ys[k] = sp->mx.y[trows[k]] ? 1 : -1;
        res->train_positives += sp->mx.y[trows[k]] ? 1 : 0;
        for (int i = 0; i < nm; i++)
            if (!isnan(xs[k * nm + i])) {
                c->mean[i] += xs[k * nm + i];
                cnt[i]++;
            }
    }
    free(trows);
    for (int i = 0; i < nm; i++)
        c->mean[i] = cnt[i] ? c->mean[i] / (double)cnt[i] : 50;
    return CW_OK;
}

/* The regularised logistic regression of churn on the training rows'
 * points: one coefficient per measure in res->coef, and the start weights
 * (negative coefficients) in res->weight. */
static cw_status suggest_fit(suggest_ctx *c, cw_suggest_result *res)
{
    const int nm = c->nm;
    const int64_t ntrain = c->ntrain;
    /* liblinear rows: points / 100 centred on the mean, plus a bias term. */
    struct feature_node *nodes = malloc((size_t)ntrain * (size_t)(nm + 2) * sizeof *nodes);
    struct feature_node **rows = malloc((size_t)ntrain * sizeof *rows);
    if (!nodes || !rows) {
        free(nodes);
        free(rows);
        return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                  "suggest-weights: out of memory fitting weights");
    }
    for (int64_t k = 0; k < ntrain; k++) {
        struct feature_node *f = nodes + k * (nm + 2);
        rows[k] = f;
        for (int i = 0; i < nm; i++) {
            double v = c->xs[k * nm + i];
            f[i].index = i + 1;
            f[i].value = ((isnan(v) ? c->mean[i] : v) - c->mean[i]) / 100;
        }
        f[nm].index = nm + 1;
        f[nm].value = 1;
        f[nm + 1].index = -1;
    }
    struct problem prob = {(int)ntrain, nm + 1, c->ys, rows, -1};
    struct parameter par;
    memset(&par, 0, sizeof par);
    par.solver_type = L2R_LR;
    par.C = 1;
    par.eps = 1e-4;
    set_print_string_function(quiet);
    cw_status s = CW_OK;
    struct model *lr = NULL;
    const char *bad = check_parameter(&prob, &par);
    if (bad)
        s = cw_store_set_error(c->st, CW_ERR_USAGE, "suggest-weights: liblinear: %s", bad);
    else if (!(lr = train(&prob, &par)))
        s = cw_store_set_error(c->st, CW_ERR_NOMEM,
                               "suggest-weights: liblinear: training failed (out of memory?)");
    if (lr) {
        /* w is the decision function of liblinear's first label (which it
         * makes +1 for -1/+1 problems, whatever the row order). */
        double sign = lr->label[0] > 0 ? 1 : -1;
        for (int i = 0; i < nm; i++) {
            res->coef[i] = sign * lr->w[i];
            res->weight[i] = res->coef[i] < 0 ? -res->coef[i] : 0;
        }
        free_and_destroy_model(&lr);
    }
    free(nodes);
    free(rows);
    return s;
}

/* The logistic weights are a start; the scorecard re-spreads missing
 * measures and averages points, which a regression does not, so the
 * weights are then tuned for the scorecard's own ranking on the training
 * rows: coordinate ascent on ROC AUC over a few multiplicative steps per
 * measure (each step kept only when it helps), starting from the better of
 * the logistic and the current weights. Sets c->s2 and res's weights and
 * training AUCs. */
static cw_status suggest_tune(suggest_ctx *c, cw_suggest_result *res)
{
    const cw_scorecard *sc = c->sc;
    const int nm = c->nm;
    const int64_t ntrain = c->ntrain;
    cw_scorecard *s2 = c->s2 = malloc(sizeof *s2);
    if (!s2)
        return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                  "suggest-weights: out of memory tuning thresholds");
    memcpy(s2, sc, sizeof *s2);
    s2->definition = NULL;
    double total = 0;
    for (int i = 0; i < nm; i++)
        total += res->weight[i];
    double w[SC_MAX_MEASURES], cur[SC_MAX_MEASURES];
    double gtot = 0, gsum[SC_MAX_GROUPS] = {0};
    for (int i = 0; i < nm; i++)
        gsum[sc->measures[i].group] += sc->measures[i].weight;
    for (int g = 0; g < sc->ngroups; g++)
        if (gsum[g] > 0)
            gtot += sc->groups[g].weight[SC_STAGE_ESTABLISHED];
    for (int i = 0; i < nm; i++) {
        const cw_sc_measure *m = &sc->measures[i];
        cur[i] = gtot > 0 ? 100 * sc->groups[m->group].weight[SC_STAGE_ESTABLISHED] / gtot *
                                m->weight / gsum[m->group]
                          : 0;
        w[i] = total > 0 ? 100 * res->weight[i] / total : 0;
    }
    set_weights(s2, w, NULL);
    double best = auc_of(s2, c->xs, c->stages, c->ytr, ntrain, c->rtr);
    set_weights(s2, cur, NULL);
    double from_cur = auc_of(s2, c->xs, c->stages, c->ytr, ntrain, c->rtr);
    if (!(best >= from_cur)) {
        memcpy(w, cur, sizeof w);
        best = from_cur;
    }
    res->auc_train_start = best;
    static const double steps[] = {0, 0.5, 2, 4};
    for (int pass = 0; pass < 3; pass++) {
        int improved = 0;
        for (int i = 0; i < nm; i++) {
            double keep = w[i], bestv = w[i];
            for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
                w[i] = keep > 0 ? keep * steps[k] : (k == 0 ? 0 : 2 * steps[k]);
                set_weights(s2, w, NULL);
                double a2 = auc_of(s2, c->xs, c->stages, c->ytr, ntrain, c->rtr);
                if (a2 > best + 1e-4) {
                    best = a2;
                    bestv = w[i];
                    improved = 1;
                }
            }
            w[i] = bestv;
        }
        if (!improved)
            break;
    }
    res->auc_train = best;
    double wt = 0;
    for (int i = 0; i < nm; i++)
        wt += w[i];
    for (int i = 0; i < nm; i++)
        res->weight[i] = wt > 0 ? 100 * w[i] / wt : 0;
    set_weights(s2, res->weight, res->group_weight);
    return CW_OK;
}

/* Both scorecards, the current and the suggested one, on the later
 * snapshots; fills the rest of res. */
static cw_status suggest_test(suggest_ctx *c, cw_suggest_result *res)
{
    const cw_split *sp = &c->sp;
    double *risk = malloc((size_t)sp->ntest * sizeof *risk);
    unsigned char *yt = malloc((size_t)sp->ntest);
    cw_status s = CW_ERR_NOMEM;
    if (!risk || !yt) {
        s = cw_store_set_error(c->st, CW_ERR_NOMEM,
                               "suggest-weights: out of memory testing weights");
        goto out;
    }
    for (int64_t k = 0; k < sp->ntest; k++) {
        yt[k] = sp->mx.y[sp->test[k]];
        res->test_positives += yt[k];
    }
    cw_eval ev;
    score_rows(c->sc, &sp->mx, sp->test, sp->ntest, &c->sg, risk);
    if ((s = cw_eval_binary(risk, yt, sp->ntest, CW_EVAL_RANKS, &ev)) != CW_OK)
        goto out;
    res->auc_current = ev.roc_auc;
    res->lift10_current = ev.lift_10;
    score_rows(c->s2, &sp->mx, sp->test, sp->ntest, &c->sg, risk);
    if ((s = cw_eval_binary(risk, yt, sp->ntest, CW_EVAL_RANKS, &ev)) != CW_OK)
        goto out;
    res->auc_suggested = ev.roc_auc;
    res->lift10_suggested = ev.lift_10;
    res->train_rows = c->ntrain;
    res->test_rows = sp->ntest;
    res->train_from = sp->fit_from;
    res->train_to = sp->cal_to > 0 ? sp->cal_to : sp->fit_to;
    res->test_from = sp->test_from;
    res->test_to = sp->test_to;
    res->nmeasures = c->nm;
out:
    free(risk);
    free(yt);
    return s;
}

cw_status cw_score_suggest(cw_store *st, const cw_scorecard *sc, const cw_suggest_opts *o,
                           cw_suggest_result *res)
{
    cw_store_enter(st, "suggest-weights");
    memset(res, 0, sizeof *res);
    suggest_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.sc = sc;
    c.nm = sc->nmeasures;
    cw_status s = suggest_split(&c, o);
    if (s == CW_OK)
        s = suggest_points(&c, res);
    if (s == CW_OK)
        s = suggest_fit(&c, res);
    if (s == CW_OK)
        s = suggest_tune(&c, res);
    if (s == CW_OK)
        s = suggest_test(&c, res);
    free(c.s2);
    free(c.stages);
    free(c.ytr);
    free(c.rtr);
    free(c.xs);
    free(c.ys);
    for (int64_t i = 0; i < c.sg.n; i++)
        free(c.sg.seg[i]);
    free(c.sg.seg);
    cw_split_free(&c.sp);
    return s;
}

void cw_score_suggest_print(const cw_scorecard *sc, const cw_suggest_result *r, FILE *out)
{
    char a[16], b[16], c[16], d[16];
    cw_time_format(r->train_from * 86400, CW_TIME_DATE, a, sizeof a);
    cw_time_format(r->train_to * 86400, CW_TIME_DATE, b, sizeof b);
    cw_time_format(r->test_from * 86400, CW_TIME_DATE, c, sizeof c);
    cw_time_format(r->test_to * 86400, CW_TIME_DATE, d, sizeof d);
    fprintf(out,
            "Suggested weights for scorecard %s (%s), fitted on %lld rows (%s..%s, %lld churned "
            "within the horizon), tested on %lld later rows (%s..%s, %lld churned)\n\n",
            sc->name, sc->hash, (long long)r->train_rows, a, b, (long long)r->train_positives,
            (long long)r->test_rows, c, d, (long long)r->test_positives);
    fprintf(out, "%-12s %-28s %10s %10s %12s\n", "group", "measure", "now %", "suggested %",
            "coefficient");
    /* Current effective weights of an established account with every
     * measure present: group share × measure share. */
    double gtot = 0, gsum[SC_MAX_GROUPS] = {0};
    for (int i = 0; i < sc->nmeasures; i++)
        if (sc->measures[i].stages & (1u << SC_STAGE_ESTABLISHED))
            gsum[sc->measures[i].group] += sc->measures[i].weight;
    for (int g = 0; g < sc->ngroups; g++)
        if (gsum[g] > 0)
            gtot += sc->groups[g].weight[SC_STAGE_ESTABLISHED];
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *m = &sc->measures[i];
        double now = (m->stages & (1u << SC_STAGE_ESTABLISHED)) && gtot > 0
                         ? 100 * sc->groups[m->group].weight[SC_STAGE_ESTABLISHED] / gtot *
                               m->weight / gsum[m->group]
                         : 0;
        fprintf(out, "%-12s %-28s %10.1f %10.1f %12.4f\n", sc->groups[m->group].name, m->name, now,
                r->weight[i], r->coef[i]);
    }
    fprintf(out,
            "\nROC AUC on the later snapshots: %.3f now, %.3f with the suggested weights (%+.3f); "
            "churners in the riskiest 10%%: lift %.2f now, %.2f suggested\n",
            r->auc_current, r->auc_suggested, r->auc_suggested - r->auc_current, r->lift10_current,
            r->lift10_suggested);
    fprintf(out, "(on the fitting rows: ROC AUC %.3f at the start of the tuning, %.3f after)\n",
            r->auc_train_start, r->auc_train);
    /* The verdict reads the held-out rows only: a gain on the fitting rows
     * that does not carry over is over-fitting, not an improvement. */
    double gain = r->auc_suggested - r->auc_current;
    if (gain >= SUGGEST_MIN_GAIN)
        fprintf(out, "Verdict: the suggested weights rank the later snapshots better; worth "
                     "trying.\n");
    else if (gain > -SUGGEST_MIN_GAIN)
        fprintf(out,
                "Verdict: no clear gain on the later snapshots (under %.3f either way); keep "
                "the current weights unless the measures' bands change.\n",
                SUGGEST_MIN_GAIN);
    else
        fprintf(out,
                "Verdict: NOT recommended: the suggested weights rank the later snapshots worse "
                "than the current ones (they fit the earlier history only); keep the current "
                "weights, or try again with more history.\n");
    fprintf(out, "\n; The suggested weights as configuration: edit them into a copy of the\n"
                 "; scorecard (`churnwatch score --default-scorecard` prints the built-in one).\n"
                 "; Stage variants of the group weights (weight.onboarding) are kept.\n");
    for (int g = 0; g < sc->ngroups; g++) {
        fprintf(out, "[group.%s]\nweight = %.1f\n", sc->groups[g].name, r->group_weight[g]);
        for (int i = 0; i < sc->nmeasures; i++) {
            if (sc->measures[i].group != g)
                continue;
            if (r->weight[i] > 0)
                fprintf(out, "[measure.%s]\nweight = %.2f\n", sc->measures[i].name,
                        r->group_weight[g] > 0 ? 10 * r->weight[i] / r->group_weight[g] : 0);
            else
                fprintf(out,
                        "; [measure.%s]: its points do not lower churn in this history: "
                        "review its bands, or drop it\n",
                        sc->measures[i].name);
        }
    }
}
