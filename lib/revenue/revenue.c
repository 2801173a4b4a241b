/*
 * revenue.c — revenue analytics: the MRR bridge (new, expansion,
 * contraction, churn, reactivation), logo counts and the retention rates
 * derived from them, per calendar month or quarter (UTC).
 *
 * Everything is computed from the subscriptions table, which records each
 * account's MRR and seats "from this instant on". An account's MRR at a
 * period boundary is the MRR of its last change effective before that
 * instant; each movement compares an account's MRR at the period's start
 * with its MRR at the period's end, so what happens inside a period nets out
 * and the bridge is exact by construction. Definitions, and where they differ
 * from ChartMogul's and Baremetrics', are in docs/revenue.md.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "ingest/validate.h"
#include "store/store.h"
#include "revenue/ledger.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One account with its changes L->subs[lo, hi) (sorted by time). */
typedef struct rev_account {
    int64_t lo, hi;
    int first_paid_month; /* first month at whose end it paid; INT32_MAX = never */
} rev_account;

typedef struct rev_ctx {
    cw_store *st;
    cw_ledger L;
    /* users of included accounts: provisioned and deactivated (INT64_MAX: never) */
    int64_t (*users)[2];
    int64_t nusers, capusers;
} rev_ctx;

static cw_status on_user(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    rev_ctx *c = ud;
    /* users: 1 account_id, 5 provisioned_at, 6 deactivated_at */
    int64_t acc = v[1].i;
    if (acc < 1 || acc >= c->L.nids || !c->L.acc[acc].included)
        return CW_OK;
    if (c->nusers == c->capusers) {
        int64_t cap = c->capusers ? c->capusers * 2 : 1024;
        int64_t(*u)[2] = realloc(c->users, sizeof *u * (size_t)cap);
        if (!u)
            return CW_ERR_NOMEM;
        c->users = u;
        c->capusers = cap;
    }
    c->users[c->nusers][0] = v[5].i;
    c->users[c->nusers][1] = v[6].present ? v[6].i : INT64_MAX;
    c->nusers++;
    return CW_OK;
}

/* User churn of a period [t0, t1): users of the included accounts
 * provisioned before t0 and not deactivated by then, and how many of them
 * were deactivated within the period. */
static void user_churn(const rev_ctx *c, int64_t t0, int64_t t1, cw_revenue_period *p)
{
    for (int64_t i = 0; i < c->nusers; i++) {
        if (c->users[i][0] >= t0 || c->users[i][1] < t0)
            continue;
        p->users_start++;
        p->users_lost += c->users[i][1] < t1;
    }
    p->user_churn_pct = cw_pct(p->users_lost, p->users_start);
}

/* The row of subs[lo, hi) in force just before instant t, or -1. */
static int64_t in_force(const cw_ledger_sub *rows, int64_t lo, int64_t hi, int64_t t)
{
    int64_t k = -1;
    for (int64_t i = lo; i < hi && rows[i].ts_unix < t; i++)
        k = i;
    return k;
}

/* Fills p for the months [m0, m1] from every account's changes. */
static cw_status compute_period(rev_ctx *c, const rev_account *acc, int64_t nacc, int m0, int m1,
                                cw_revenue_period *p)
{
    memset(p, 0, sizeof *p);
    p->year = m0 / 12;
    p->month = m0 % 12 + 1;
    p->months = m1 - m0 + 1;
    int64_t t0 = cw_month_start_unix(m0), t1 = cw_month_start_unix(m1 + 1);
    int ovf = 0;
    for (int64_t a = 0; a < nacc; a++) {
        const rev_account *A = &acc[a];
        int64_t k0 = in_force(c->L.subs, A->lo, A->hi, t0);
        int64_t k1 = in_force(c->L.subs, A->lo, A->hi, t1);
        int64_t before = k0 >= 0 ? c->L.subs[k0].mrr_minor : 0;
        int64_t after = k1 >= 0 ? c->L.subs[k1].mrr_minor : 0;
        if (before > 0) {
            int64_t seats0 = c->L.subs[k0].seats;
            int64_t seats1 = after > 0 ? c->L.subs[k1].seats : 0;
            p->customers_start++;
            ovf |= cw_add_ck(&p->mrr_start_minor, before);
            ovf |= cw_add_ck(&p->seats_start, seats0);
            if (seats1 < seats0)
                p->seats_lost += seats0 - seats1;
        }
        if (after > 0) {
            p->customers_end++;
            ovf |= cw_add_ck(&p->mrr_end_minor, after);
        }
        if (before > 0 && after == 0) {
            p->customers_churned++;
            ovf |= cw_add_ck(&p->churn_minor, before);
        } else if (before == 0 && after > 0) {
            if (A->first_paid_month < m0) {
                p->customers_reactivated++;
                ovf |= cw_add_ck(&p->reactivation_minor, after);
            } else {
                p->customers_new++;
                ovf |= cw_add_ck(&p->new_minor, after);
            }
        } else if (before > 0 && after > before) {
            ovf |= cw_add_ck(&p->expansion_minor, after - before);
        } else if (before > 0 && after < before) {
            ovf |= cw_add_ck(&p->contraction_minor, before - after);
        } else if (before == 0 && after == 0) {
            for (int64_t i = k0 + 1 > A->lo ? k0 + 1 : A->lo;
                 i < A->hi && c->L.subs[i].ts_unix < t1; i++)
                if (c->L.subs[i].mrr_minor > 0) {
                    p->customers_in_and_out++;
                    break;
                }
        }
    }
    if (ovf)
        return cw_store_set_error(c->st, CW_ERR_TOOBIG, "revenue: MRR totals overflow 64 bits");
    int64_t lost = p->contraction_minor + p->churn_minor; /* each ≤ mrr_start: no overflow */
    p->logo_churn_pct = cw_pct(p->customers_churned, p->customers_start);
    p->gross_revenue_churn_pct = cw_pct(lost, p->mrr_start_minor);
    p->grr_pct = cw_pct(p->mrr_start_minor - lost, p->mrr_start_minor);
    p->nrr_pct = cw_pct(p->mrr_start_minor - lost + p->expansion_minor, p->mrr_start_minor);
    p->quick_ratio =
        lost ? ((double)p->new_minor + (double)p->expansion_minor + (double)p->reactivation_minor) /
                   (double)lost
             : (double)NAN;
    p->seat_churn_pct = cw_pct(p->seats_lost, p->seats_start);
    return CW_OK;
}

void cw_revenue_opts_init(cw_revenue_opts *o)
{
    memset(o, 0, sizeof *o);
    o->from_month = o->to_month = -1;
}

cw_status cw_revenue_compute(cw_store *st, const cw_revenue_opts *o, cw_revenue_report **out)
{
    cw_store_enter(st, "revenue");
    *out = NULL;
    cw_revenue_opts def;
    if (!o) {
        cw_revenue_opts_init(&def);
        o = &def;
    }
    rev_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    rev_account *acc = NULL;
    cw_revenue_report *r = NULL;
    char currency[4];
    cw_status s = cw_ledger_load(st, "revenue", o->segment, &c.L);
    if (s == CW_OK)
        s = cw_ledger_one_currency(&c.L, NULL, "revenue", currency);
    if (s == CW_OK)
        s = cw_store_get_ops(st)->scan_rows(st, CW_KIND_USERS, on_user, &c);
    if (s != CW_OK)
        goto done;
    if (c.L.nsubs_included == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "revenue: no subscriptions%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    /* Find the first month each included account paid at the month's end. */
    int64_t nacc = 0;
    acc = calloc((size_t)c.L.nsubs_included, sizeof *acc);
    if (!acc) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "revenue: out of memory");
        goto done;
    }
    for (int64_t id = 1; id < c.L.nids; id++) {
        const cw_ledger_account *la = &c.L.acc[id];
        if (!la->included || la->lo == la->hi)
            continue;
        rev_account *A = &acc[nacc++];
        A->lo = la->lo, A->hi = la->hi;
        A->first_paid_month = INT32_MAX;
        for (int64_t k = A->lo; k < A->hi; k++) {
            int m = cw_month_of(c.L.subs[k].ts_unix);
            /* In force at the end of its month unless superseded within it. */
            int superseded = k + 1 < A->hi && cw_month_of(c.L.subs[k + 1].ts_unix) == m;
            if (c.L.subs[k].mrr_minor > 0 && !superseded && m < A->first_paid_month)
                A->first_paid_month = m;
        }
    }
    int first = c.L.first_month, last = c.L.last_month;
    /* A range given at one end only extends the other as needed. */
    int m0 = o->from_month >= 0 ? o->from_month : first;
    int m1 = o->to_month >= 0 ? o->to_month : last;
    if (o->from_month < 0 && m0 > m1)
        m0 = m1;
    if (o->to_month < 0 && m1 < m0)
        m1 = m0;
    if (m1 < m0) {
        s = cw_store_set_error(st, CW_ERR_USAGE, "revenue: the range ends before it starts");
        goto done;
    }
    int step = o->by_quarter ? 3 : 1;
    if (o->by_quarter) {
        m0 -= m0 % 3;
        m1 += 2 - m1 % 3;
    }
    int np = (m1 - m0 + 1) / step;
    if (np > 12 * 200) {
        s = cw_store_set_error(st, CW_ERR_USAGE, "revenue: range longer than 200 years");
        goto done;
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->periods = calloc((size_t)np, sizeof *r->periods))) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "revenue: out of memory");
        goto done;
    }
    memcpy(r->currency, currency, sizeof r->currency);
    for (int k = 0; k < np && s == CW_OK; k++) {
        int a0 = m0 + k * step, a1 = a0 + step - 1;
        s = compute_period(&c, acc, nacc, a0, a1, &r->periods[k]);
        user_churn(&c, cw_month_start_unix(a0), cw_month_start_unix(a1 + 1), &r->periods[k]);
    }
    r->nperiods = np;
done:
    if (s != CW_OK) {
        cw_revenue_free(r);
        r = NULL;
    }
    *out = r;
    cw_ledger_free(&c.L);
    free(c.users);
    free(acc);
    return s;
}

void cw_revenue_free(cw_revenue_report *r)
{
    if (!r)
        return;
    free(r->periods);
    free(r);
}

int cw_currency_exponent(const char *currency)
{
    static const char zero[] =
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
    static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
    if (!currency || strlen(currency) != 3)
        return 2;
    for (int i = 0; i < 3; i++)
        if (currency[i] < 'A' || currency[i] > 'Z')
            return 2;
    if (strstr(zero, currency))
        return 0;
    if (strstr(three, currency))
        return 3;
    return 2;
}
