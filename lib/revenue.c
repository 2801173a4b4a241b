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
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One subscription change, as the store holds it. */
typedef struct rev_row {
    int64_t account; /* internal id */
    int64_t ts_unix; /* effective_at */
    int64_t mrr_minor;
    int64_t seats;
} rev_row;

/* One account with its changes rows[lo, hi) (sorted by time). */
typedef struct rev_account {
    int64_t lo, hi;
    int first_paid_month; /* first month at whose end it paid; INT32_MAX = never */
} rev_account;

typedef struct rev_ctx {
    cw_store *st;
    const char *segment;
    /* accounts by internal id: 1 = included (segment), and the external id */
    unsigned char *included;
    char **ext;
    int64_t nids;
    rev_row *rows;
    int64_t nrows, caprows;
    char currency[4];
    int64_t currency_account; /* the first row's account, for the error message */
    int64_t currency_ts;
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
    if (acc < 1 || acc >= c->nids || !c->included[acc])
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

/* Months are counted as year*12 + month-1 (UTC): cw_month_of() in time.c. */
static cw_status on_account(int64_t id, const cw_value *v, void *ud)
{
    rev_ctx *c = ud;
    if (id < 1 || id > INT32_MAX)
        return cw_store_set_error(c->st, CW_ERR_DB, "revenue: account id %lld out of range",
                                  (long long)id);
    if (id >= c->nids) {
        int64_t n = c->nids ? c->nids : 64;
        while (n <= id)
            n *= 2;
        unsigned char *inc = realloc(c->included, (size_t)n);
        if (!inc)
            return CW_ERR_NOMEM;
        c->included = inc;
        char **ext = realloc(c->ext, (size_t)n * sizeof *ext);
        if (!ext)
            return CW_ERR_NOMEM;
        c->ext = ext;
        memset(c->included + c->nids, 0, (size_t)(n - c->nids));
        memset(c->ext + c->nids, 0, (size_t)(n - c->nids) * sizeof *ext);
        c->nids = n;
    }
    /* accounts: 0 account_id, 2 segment */
    c->ext[id] = cw_strndup(v[0].s ? v[0].s : "", v[0].len);
    if (!c->ext[id])
        return CW_ERR_NOMEM;
    c->included[id] = !c->segment || (v[2].present && strlen(c->segment) == v[2].len &&
                                      memcmp(c->segment, v[2].s, v[2].len) == 0);
    return CW_OK;
}

static cw_status on_subscription(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    rev_ctx *c = ud;
    /* subscriptions: 0 account, 1 effective_at, 2 mrr_minor, 3 currency, 4 seats */
    int64_t acc = v[0].i;
    if (acc < 1 || acc >= c->nids || !c->included[acc])
        return CW_OK;
    if (!c->currency[0]) {
        memcpy(c->currency, v[3].s, v[3].len < 3 ? v[3].len : 3);
        c->currency_account = acc;
        c->currency_ts = v[1].i;
    } else if (v[3].len != 3 || memcmp(c->currency, v[3].s, 3) != 0) {
        char t1[32], t2[32];
        return cw_store_set_error(
            c->st, CW_ERR_INPUT,
            "revenue: subscriptions use more than one currency (%s for account '%s' at %s, "
            "%.*s for account '%s' at %s); revenue analytics needs a single currency, and "
            "conversion is not supported yet (docs/revenue.md)",
            c->currency, c->ext[c->currency_account] ? c->ext[c->currency_account] : "?",
            cw_time_format(c->currency_ts, 0, t1, sizeof t1), (int)v[3].len, v[3].s,
            c->ext[acc] ? c->ext[acc] : "?", cw_time_format(v[1].i, 0, t2, sizeof t2));
    }
    if (c->nrows == c->caprows) {
        int64_t n = c->caprows ? c->caprows * 2 : 256;
        rev_row *r = realloc(c->rows, (size_t)n * sizeof *r);
        if (!r)
            return CW_ERR_NOMEM;
        c->rows = r;
        c->caprows = n;
    }
    c->rows[c->nrows++] = (rev_row){acc, v[1].i, v[2].i, v[4].i};
    return CW_OK;
}

/* The row of rows[lo, hi) in force just before instant t, or -1. */
static int64_t in_force(const rev_row *rows, int64_t lo, int64_t hi, int64_t t)
{
    int64_t k = -1;
    for (int64_t i = lo; i < hi && rows[i].ts_unix < t; i++)
        k = i;
    return k;
}

/* a += b, failing on overflow. */
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
        int64_t k0 = in_force(c->rows, A->lo, A->hi, t0);
        int64_t k1 = in_force(c->rows, A->lo, A->hi, t1);
        int64_t before = k0 >= 0 ? c->rows[k0].mrr_minor : 0;
        int64_t after = k1 >= 0 ? c->rows[k1].mrr_minor : 0;
        if (before > 0) {
            int64_t seats0 = c->rows[k0].seats;
            int64_t seats1 = after > 0 ? c->rows[k1].seats : 0;
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
            for (int64_t i = k0 + 1 > A->lo ? k0 + 1 : A->lo; i < A->hi && c->rows[i].ts_unix < t1;
                 i++)
                if (c->rows[i].mrr_minor > 0) {
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
    *out = NULL;
    cw_revenue_opts def;
    if (!o) {
        cw_revenue_opts_init(&def);
        o = &def;
    }
    const cw_store_ops *ops = cw_store_get_ops(st);
    rev_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.segment = o->segment;
    rev_account *acc = NULL;
    cw_revenue_report *r = NULL;
    cw_status s = ops->scan_rows(st, CW_KIND_ACCOUNTS, on_account, &c);
    if (s == CW_OK)
        s = ops->scan_rows(st, CW_KIND_SUBSCRIPTIONS, on_subscription, &c);
    if (s == CW_OK)
        s = ops->scan_rows(st, CW_KIND_USERS, on_user, &c);
    if (s != CW_OK)
        goto done;
    if (c.nrows == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "revenue: no subscriptions%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    /* Rows arrive in (account, effective_at) order: cut them per account and
     * find the first month each account paid at the month's end. */
    int64_t nacc = 0;
    acc = calloc((size_t)c.nrows, sizeof *acc);
    if (!acc) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    int first = INT32_MAX, last = 0;
    for (int64_t i = 0; i < c.nrows;) {
        int64_t j = i;
        while (j < c.nrows && c.rows[j].account == c.rows[i].account)
            j++;
        rev_account *A = &acc[nacc++];
        A->lo = i, A->hi = j;
        A->first_paid_month = INT32_MAX;
        for (int64_t k = i; k < j; k++) {
            int m = cw_month_of(c.rows[k].ts_unix);
            first = m < first ? m : first;
            last = m > last ? m : last;
            /* In force at the end of its month unless superseded within it. */
            int superseded = k + 1 < j && cw_month_of(c.rows[k + 1].ts_unix) == m;
            if (c.rows[k].mrr_minor > 0 && !superseded && m < A->first_paid_month)
                A->first_paid_month = m;
        }
        i = j;
    }
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
        s = CW_ERR_NOMEM;
        goto done;
    }
    memcpy(r->currency, c.currency, sizeof r->currency);
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
    for (int64_t i = 0; i < c.nids; i++)
        free(c.ext[i]);
    free(c.ext);
    free(c.included);
    free(c.rows);
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
