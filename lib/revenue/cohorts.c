/*
 * cohorts.c — cohort retention matrices.
 *
 * Built on the month-end MRR series of each account (ledger.h), with the
 * definitions of revenue.c (docs/revenue.md): the MRR at the end of a month
 * is that of the last subscription change effective before the next month's
 * first instant (UTC); an account is a customer while it is > 0; all rows
 * read must share one currency. An account's cohort is the first month at
 * whose end it paid (so a same-month sign-up and cancel never joins one).
 * Cohorts give logo and net revenue retention per month offset (lifetime
 * value, on the same series, is ltv.c).
 * Definitions, and where other tools differ: docs/revenue-cohorts.md.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "store/store.h"
#include "revenue/ledger.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- cohorts ---------------------------------------------------------- */

typedef struct coh_acc {
    int width;            /* months + 1 */
    int64_t *logos, *mrr; /* [month index][offset] */
    int64_t *mrr12;       /* [month index]: MRR at offset 12 */
    int ovf;
} coh_acc;

static cw_status cohort_account(cw_ledger_months *c, int64_t account, const int64_t *mrr, void *ud)
{
    (void)account;
    coh_acc *a = ud;
    int nm = c->last - c->first + 1, k0 = 0;
    while (k0 < nm && mrr[k0] <= 0)
        k0++;
    if (k0 == nm)
        return CW_OK; /* never paid at a month end */
    for (int k = 0; k < a->width && k0 + k < nm; k++) {
        if (mrr[k0 + k] > 0) {
            a->logos[(size_t)k0 * a->width + k]++;
            a->ovf |= cw_add_ck(&a->mrr[(size_t)k0 * a->width + k], mrr[k0 + k]);
        }
    }
    if (k0 + 12 < nm && mrr[k0 + 12] > 0)
        a->ovf |= cw_add_ck(&a->mrr12[k0], mrr[k0 + 12]);
    return CW_OK;
}

void cw_cohorts_opts_init(cw_cohorts_opts *o)
{
    memset(o, 0, sizeof *o);
    o->months = 12;
}

void cw_cohorts_free(cw_cohorts_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ncohorts; i++) {
        free(r->cohorts[i].logos);
        free(r->cohorts[i].mrr_minor);
        free(r->cohorts[i].logo_retention_pct);
        free(r->cohorts[i].revenue_retention_pct);
    }
    free(r->cohorts);
    free(r);
}

cw_status cw_cohorts_compute(cw_store *st, const cw_cohorts_opts *o, cw_cohorts_report **out)
{
    cw_store_enter(st, "cohorts");
    *out = NULL;
    cw_cohorts_opts def;
    if (!o) {
        cw_cohorts_opts_init(&def);
        o = &def;
    }
    if (o->months < 0 || o->months > CW_COHORTS_MAX_MONTHS)
        return cw_store_set_error(st, CW_ERR_USAGE, "cohorts: months must be 0..%d, not %d",
                                  CW_COHORTS_MAX_MONTHS, o->months);
    cw_ledger_months c;
    coh_acc a = {o->months + 1, NULL, NULL, NULL, 0};
    cw_cohorts_report *r = NULL;
    cw_status s = cw_ledger_months_load(st, "cohorts", o->segment, &c);
    if (s != CW_OK)
        goto done;
    int nm = c.last - c.first + 1;
    a.logos = calloc((size_t)nm * (size_t)a.width, sizeof *a.logos);
    a.mrr = calloc((size_t)nm * (size_t)a.width, sizeof *a.mrr);
    a.mrr12 = calloc((size_t)nm, sizeof *a.mrr12);
    r = calloc(1, sizeof *r);
    if (!a.logos || !a.mrr || !a.mrr12 || !r) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "cohorts: out of memory");
        goto done;
    }
    s = cw_ledger_months_each(&c, cohort_account, &a);
    if (s == CW_OK && a.ovf)
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "cohorts: MRR totals overflow 64 bits");
    if (s != CW_OK)
        goto done;
    memcpy(r->currency, c.currency, sizeof r->currency);
    r->months = o->months;
    r->end_year = c.last / 12;
    r->end_month = c.last % 12 + 1;
    int n = 0;
    for (int m = 0; m < nm; m++)
        n += a.logos[(size_t)m * a.width] > 0;
    if (n == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "cohorts: no account paid at a month end%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    if (!(r->cohorts = calloc((size_t)n, sizeof *r->cohorts))) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "cohorts: out of memory");
        goto done;
    }
    for (int m = 0; m < nm; m++) {
        const int64_t *lg = &a.logos[(size_t)m * a.width], *mr = &a.mrr[(size_t)m * a.width];
        if (lg[0] == 0)
            continue;
        cw_cohort *h = &r->cohorts[r->ncohorts++];
        h->year = (c.first + m) / 12;
        h->month = (c.first + m) % 12 + 1;
        h->observed = nm - m < a.width ? nm - m : a.width;
        h->accounts = lg[0];
        h->mrr0_minor = mr[0];
        h->logos = malloc((size_t)a.width * sizeof *h->logos);
        h->mrr_minor = malloc((size_t)a.width * sizeof *h->mrr_minor);
        h->logo_retention_pct = malloc((size_t)a.width * sizeof(double));
        h->revenue_retention_pct = malloc((size_t)a.width * sizeof(double));
        if (!h->logos || !h->mrr_minor || !h->logo_retention_pct || !h->revenue_retention_pct) {
            s = cw_store_set_error(st, CW_ERR_NOMEM, "cohorts: out of memory");
            goto done;
        }
        for (int k = 0; k < a.width; k++) {
            int seen = k < h->observed;
            h->logos[k] = seen ? lg[k] : -1;
            h->mrr_minor[k] = seen ? mr[k] : -1;
            h->logo_retention_pct[k] = seen ? cw_pct(lg[k], lg[0]) : (double)NAN;
            h->revenue_retention_pct[k] = seen ? cw_pct(mr[k], mr[0]) : (double)NAN;
        }
        h->nrr_12m_pct = m + 12 < nm ? cw_pct(a.mrr12[m], mr[0]) : (double)NAN;
    }
done:
    if (s != CW_OK) {
        cw_cohorts_free(r);
        r = NULL;
    }
    *out = r;
    free(a.logos);
    free(a.mrr);
    free(a.mrr12);
    cw_ledger_free(&c.L);
    return s;
}
