/*
 * ltv.c — customer lifetime value per segment and overall.
 *
 * Built on the month-end MRR series of each account (ledger.h), with the
 * definitions of revenue.c (docs/revenue.md) and the same range and
 * currency rules as the cohorts (cohorts.c). Lifetime value divides ARPA ×
 * margin by the pooled monthly logo churn rate, and estimates lifetime from
 * a Kaplan–Meier curve of time to first churn.
 * Definitions, and where other tools differ: docs/revenue-cohorts.md.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "store/store.h"
#include "revenue/ledger.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Accumulators per segment (index nsegs = all accounts). */
typedef struct ltv_acc {
    int nm;
    int64_t *accounts, *account_months, *mrr_sum, *start_sum, *churns;
    int64_t *events, *censored; /* [segment][duration 0..nm] */
    int64_t *km_at_risk;        /* scratch for cw_km_curve, nm + 1 */
    double *km_surv;
    int ovf;
} ltv_acc;

static cw_status ltv_account(cw_ledger_months *c, int64_t account, const int64_t *mrr, void *ud)
{
    ltv_acc *a = ud;
    int nm = a->nm;
    int g[2] = {c->L.acc[account].segment, c->L.nsegs};
    int k0 = 0;
    while (k0 < nm && mrr[k0] <= 0)
        k0++;
    if (k0 == nm)
        return CW_OK; /* never a customer at a month end */
    /* Time to first churn, in months from the first paying month end; or
     * censored at the data end. */
    int dur = nm - 1 - k0, event = 0;
    for (int k = k0 + 1; k < nm; k++)
        if (mrr[k] <= 0) {
            dur = k - k0;
            event = 1;
            break;
        }
    for (int j = 0; j < 2; j++) {
        int s = g[j];
        a->accounts[s]++;
        (event ? a->events : a->censored)[(size_t)s * (size_t)(nm + 1) + (size_t)dur]++;
        for (int k = 0; k < nm; k++) {
            int64_t before = k ? mrr[k - 1] : 0; /* nothing is in force before the first month */
            if (mrr[k] > 0) {
                a->account_months[s]++;
                a->ovf |= cw_add_ck(&a->mrr_sum[s], mrr[k]);
            }
            if (before > 0) {
                a->start_sum[s]++;
                a->churns[s] += mrr[k] <= 0;
            }
        }
    }
    return CW_OK;
}

void cw_ltv_opts_init(cw_ltv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->gross_margin = 0.8;
}

void cw_ltv_free(cw_ltv_report *r)
{
    if (!r)
        return;
    free(r->segments);
    free(r);
}

/* Fills the figures of one row from the accumulators of segment s. */
static void ltv_row(const ltv_acc *a, int s, double margin, cw_ltv_segment *o)
{
    o->accounts = a->accounts[s];
    o->account_months = a->account_months[s];
    o->mrr_sum_minor = a->mrr_sum[s];
    o->arpa_minor =
        o->account_months ? (double)o->mrr_sum_minor / (double)o->account_months : (double)NAN;
    o->customers_start_sum = a->start_sum[s];
    o->churns = a->churns[s];
    o->churn_pct = cw_pct(o->churns, o->customers_start_sum);
    o->ltv_minor = o->churns ? o->arpa_minor * margin / (o->churn_pct / 100.0) : (double)NAN;
    /* Kaplan–Meier over whole months: at risk at t = durations >= t (a
     * censoring at t counts as at risk at t); S(t) = Π (1 - d_u / n_u). */
    const int64_t *ev = &a->events[(size_t)s * (size_t)(a->nm + 1)];
    const int64_t *ce = &a->censored[(size_t)s * (size_t)(a->nm + 1)];
    int horizon = 0;
    int64_t at_risk = 0;
    for (int t = 0; t <= a->nm; t++) {
        o->km_events += ev[t];
        o->km_censored += ce[t];
        at_risk += ev[t] + ce[t];
        if (ev[t] + ce[t])
            horizon = t;
    }
    double surv = 1.0, life = 0.0;
    at_risk -= ev[0] + ce[0]; /* duration 0: censored in its first month, never at risk */
    cw_km_curve(horizon, ev + 1, ce + 1, at_risk, a->km_at_risk, a->km_surv, NULL);
    for (int t = 1; t <= horizon; t++) {
        life += surv; /* adds S(t-1) */
        surv = a->km_surv[t - 1];
    }
    o->km_horizon_months = horizon;
    o->km_survival_at_horizon = surv;
    o->lifetime_months = life;
    o->ltv_survival_minor = o->account_months ? life * o->arpa_minor * margin : (double)NAN;
    o->unreliable = o->churns < CW_LTV_MIN_CHURNS;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const cw_ltv_segment *)x)->segment, ((const cw_ltv_segment *)y)->segment);
}

cw_status cw_ltv_compute(cw_store *st, const cw_ltv_opts *o, cw_ltv_report **out)
{
    cw_store_enter(st, "ltv");
    *out = NULL;
    cw_ltv_opts def;
    if (!o) {
        cw_ltv_opts_init(&def);
        o = &def;
    }
    if (!(o->gross_margin > 0.0 && o->gross_margin <= 1.0))
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "ltv: gross margin must be a fraction in (0, 1], not %g",
                                  o->gross_margin);
    cw_ledger_months c;
    ltv_acc a;
    memset(&a, 0, sizeof a);
    cw_ltv_report *r = NULL;
    cw_status s = cw_ledger_months_load(st, "ltv", o->segment, &c);
    if (s != CW_OK)
        goto done;
    a.nm = c.last - c.first + 1;
    size_t ng = (size_t)c.L.nsegs + 1, nd = ng * (size_t)(a.nm + 1);
    a.accounts = calloc(ng, sizeof(int64_t));
    a.account_months = calloc(ng, sizeof(int64_t));
    a.mrr_sum = calloc(ng, sizeof(int64_t));
    a.start_sum = calloc(ng, sizeof(int64_t));
    a.churns = calloc(ng, sizeof(int64_t));
    a.events = calloc(nd, sizeof(int64_t));
    a.censored = calloc(nd, sizeof(int64_t));
    a.km_at_risk = calloc((size_t)a.nm + 1, sizeof(int64_t));
    a.km_surv = calloc((size_t)a.nm + 1, sizeof(double));
    r = calloc(1, sizeof *r);
    if (!a.accounts || !a.account_months || !a.mrr_sum || !a.start_sum || !a.churns || !a.events ||
        !a.censored || !a.km_at_risk || !a.km_surv || !r ||
        !(r->segments = calloc(ng, sizeof *r->segments))) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "ltv: out of memory");
        goto done;
    }
    s = cw_ledger_months_each(&c, ltv_account, &a);
    if (s == CW_OK && a.ovf)
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "ltv: MRR totals overflow 64 bits");
    if (s != CW_OK)
        goto done;
    if (a.accounts[c.L.nsegs] == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "ltv: no account paid at a month end%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    memcpy(r->currency, c.currency, sizeof r->currency);
    r->gross_margin = o->gross_margin;
    r->start_year = c.first / 12;
    r->start_month = c.first % 12 + 1;
    r->end_year = c.last / 12;
    r->end_month = c.last % 12 + 1;
    for (int g = 0; g < c.L.nsegs; g++) {
        if (a.accounts[g] == 0)
            continue;
        cw_ltv_segment *row = &r->segments[r->nsegments++];
        snprintf(row->segment, sizeof row->segment, "%s", cw_ledger_str(&c.L, c.L.seg_name[g]));
        ltv_row(&a, g, o->gross_margin, row);
    }
    qsort(r->segments, (size_t)r->nsegments, sizeof *r->segments, by_name);
    if (!o->segment) { /* with one segment the total would repeat it */
        cw_ltv_segment *row = &r->segments[r->nsegments++];
        row->all = 1;
        ltv_row(&a, c.L.nsegs, o->gross_margin, row);
    }
done:
    if (s != CW_OK) {
        cw_ltv_free(r);
        r = NULL;
    }
    *out = r;
    free(a.accounts);
    free(a.account_months);
    free(a.mrr_sum);
    free(a.start_sum);
    free(a.churns);
    free(a.events);
    free(a.censored);
    free(a.km_at_risk);
    free(a.km_surv);
    cw_ledger_free(&c.L);
    return s;
}
