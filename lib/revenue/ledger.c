/*
 * ledger.c — accounts and subscription histories loaded once, for every
 * revenue module (see ledger.h), with the single-currency check, the
 * month-end MRR series shared by cohorts and LTV, and the Kaplan–Meier
 * product shared by LTV and the survival report.
 *
 * Every subscription row of every account is kept, with the segment filter
 * recorded per account rather than applied while reading: reasons and chain
 * look at accounts outside the checked set, and the rows of an unused
 * segment cost 32 bytes each. The currency check runs after loading over a
 * set of accounts, so each report can choose which rows must agree.
 */
#include "revenue/ledger.h"
#include "core/util.h"
#include "ingest/validate.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ACC_STATUS_CHURNED = 1 }; /* index in accounts.status's enum */

/* Appends s[0..n) and a NUL to the arena; *off receives its offset. */
static cw_status text_add(cw_ledger *L, const char *s, size_t n, size_t *off)
{
    *off = L->text.len;
    cw_buf_add(&L->text, s, n);
    return cw_buf_addc(&L->text, '\0');
}

static cw_status grow_ids(cw_ledger *L, int64_t id)
{
    if (id < 1 || id > INT32_MAX)
        return CW_ERR_DB;
    if (id < L->nids)
        return CW_OK;
    int64_t n = L->nids ? L->nids : 64;
    while (n <= id)
        n *= 2;
    cw_ledger_account *a = realloc(L->acc, (size_t)n * sizeof *a);
    if (!a)
        return cw_store_set_error(L->st, CW_ERR_NOMEM, "ledger: out of memory loading accounts");
    memset(a + L->nids, 0, (size_t)(n - L->nids) * sizeof *a);
    L->acc = a;
    L->nids = n;
    return CW_OK;
}

typedef struct load_ctx {
    cw_ledger *L;
    const char *what;
} load_ctx;

static cw_status on_account(int64_t id, const cw_value *v, void *ud)
{
    load_ctx *x = ud;
    cw_ledger *L = x->L;
    cw_status s = grow_ids(L, id);
    if (s == CW_ERR_DB)
        return cw_store_set_error(L->st, CW_ERR_DB, "%s: account id %lld out of range", x->what,
                                  (long long)id);
    if (s != CW_OK)
        return s;
    cw_ledger_account *a = &L->acc[id];
    /* accounts: 0 account_id, 2 segment, 4 contract_start, 9 status,
     * 10 churn_date, 11 churn_reason */
    if ((s = text_add(L, v[0].s ? v[0].s : "", v[0].s ? v[0].len : 0, &a->ext)) != CW_OK)
        return s;
    if (v[11].present && v[11].len &&
        (s = text_add(L, v[11].s, v[11].len, &a->churn_reason)) != CW_OK)
        return s;
    const char *sg = v[2].present && v[2].s ? v[2].s : "";
    size_t sl = v[2].present && v[2].s ? v[2].len : 0;
    int64_t k = cw_intern_get(L->segs, sg, sl);
    if (k < 0) {
        if (L->nsegs == L->capsegs) {
            int n = L->capsegs ? L->capsegs * 2 : 8;
            size_t *names = realloc(L->seg_name, (size_t)n * sizeof *names);
            if (!names)
                return cw_store_set_error(L->st, CW_ERR_NOMEM, "%s: out of memory loading accounts",
                                          x->what);
            L->seg_name = names;
            L->capsegs = n;
        }
        if ((s = text_add(L, sg, sl, &L->seg_name[L->nsegs])) != CW_OK)
            return s;
        k = L->nsegs++;
        if ((s = cw_intern_put(L->segs, sg, sl, k)) != CW_OK)
            return s;
    }
    a->segment = (int32_t)k;
    a->present = 1;
    a->included = !L->segment || (strlen(L->segment) == sl && memcmp(L->segment, sg, sl) == 0);
    a->contract_start_unix = v[4].present ? v[4].i : 0;
    a->churned = v[9].present && v[9].i == ACC_STATUS_CHURNED && v[10].present;
    a->churn_unix = v[10].present ? v[10].i : 0;
    return CW_OK;
}

static cw_status on_subscription(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    load_ctx *x = ud;
    cw_ledger *L = x->L;
    /* subscriptions: 0 account, 1 effective_at, 2 mrr_minor, 3 currency, 4 seats, 5 plan,
     * 6 billing_period */
    int64_t acc = v[0].i;
    if (acc < 1 || acc >= L->nids || !L->acc[acc].present)
        return CW_OK;
    char cur[4] = {0};
    memcpy(cur, v[3].s, v[3].len < 3 ? v[3].len : 3);
    if (v[3].len > 3)
        cur[0] = '\0'; /* never equal to a valid code; the schema allows none */
    int k = 0;
    while (k < L->ncurrencies && memcmp(L->currencies[k], cur, 4) != 0)
        k++;
    if (k == L->ncurrencies) {
        if (L->ncurrencies == L->capcurrencies) {
            int n = L->capcurrencies ? L->capcurrencies * 2 : 4;
            char(*c)[4] = realloc(L->currencies, (size_t)n * sizeof *c);
            if (!c)
                return cw_store_set_error(L->st, CW_ERR_NOMEM,
                                          "%s: out of memory loading subscriptions", x->what);
            L->currencies = c;
            L->capcurrencies = n;
        }
        memcpy(L->currencies[L->ncurrencies++], cur, 4);
    }
    if (L->nsubs == L->capsubs) {
        int64_t n = L->capsubs ? L->capsubs * 2 : 256;
        cw_ledger_sub *r = realloc(L->subs, (size_t)n * sizeof *r);
        if (!r)
            return cw_store_set_error(L->st, CW_ERR_NOMEM,
                                      "%s: out of memory loading subscriptions", x->what);
        L->subs = r;
        L->capsubs = n;
    }
    L->subs[L->nsubs++] = (cw_ledger_sub){
        v[1].i, v[2].i, v[4].i, (int32_t)acc, k, (int8_t)(v[6].present ? v[6].i : -1)};
    if (L->acc[acc].included) {
        L->nsubs_included++;
        int m = cw_month_of(v[1].i);
        L->first_month = m < L->first_month ? m : L->first_month;
        L->last_month = m > L->last_month ? m : L->last_month;
    }
    return CW_OK;
}

cw_status cw_ledger_load(cw_store *st, const char *what, const char *segment, cw_ledger *L)
{
    memset(L, 0, sizeof *L);
    cw_buf_init(&L->text, CW_BUF_MAX_DOC);
    L->st = st;
    L->segment = segment;
    L->first_month = INT32_MAX;
    L->last_month = INT32_MIN;
    size_t empty;
    if (!(L->segs = cw_intern_new()) || text_add(L, "", 0, &empty) != CW_OK)
        return cw_store_set_error(st, CW_ERR_NOMEM, "%s: %s", what, cw_strerror(CW_ERR_NOMEM));
    load_ctx x = {L, what};
    const cw_store_ops *ops = cw_store_get_ops(st);
    cw_status s = ops->scan_rows(st, CW_KIND_ACCOUNTS, on_account, &x);
    if (s == CW_OK)
        s = ops->scan_rows(st, CW_KIND_SUBSCRIPTIONS, on_subscription, &x);
    if (s == CW_ERR_NOMEM) /* the callbacks' allocations fail without a message */
        return cw_store_set_error(st, s, "%s: loading accounts and subscriptions: %s", what,
                                  cw_strerror(s));
    if (s != CW_OK)
        return s;
    /* Rows arrive in (account, effective_at) order. */
    for (int64_t i = 0; i < L->nsubs;) {
        int64_t j = i;
        while (j < L->nsubs && L->subs[j].account == L->subs[i].account)
            j++;
        L->acc[L->subs[i].account].lo = i;
        L->acc[L->subs[i].account].hi = j;
        i = j;
    }
    return CW_OK;
}

void cw_ledger_free(cw_ledger *L)
{
    if (!L)
        return;
    free(L->acc);
    free(L->subs);
    cw_buf_free(&L->text);
    free(L->seg_name);
    cw_intern_free(L->segs);
    free(L->currencies);
    memset(L, 0, sizeof *L);
}

cw_status cw_ledger_one_currency(const cw_ledger *L, const unsigned char *mark, const char *what,
                                 char cur[4])
{
    int64_t first = -1;
    cur[0] = '\0';
    for (int64_t i = 0; i < L->nsubs; i++) {
        const cw_ledger_sub *r = &L->subs[i];
        if (mark ? !mark[r->account] : !L->acc[r->account].included)
            continue;
        if (first < 0) {
            first = i;
            memcpy(cur, L->currencies[r->currency], 4);
        } else if (r->currency != L->subs[first].currency) {
            char t1[32], t2[32];
            const cw_ledger_sub *f = &L->subs[first];
            cur[0] = '\0';
            return cw_store_set_error(
                L->st, CW_ERR_INPUT,
                "%s: subscriptions use more than one currency (%s for account '%s' at %s, "
                "%s for account '%s' at %s); revenue analytics needs a single currency, and "
                "conversion is not supported yet (docs/revenue.md)",
                what, L->currencies[f->currency], cw_ledger_str(L, L->acc[f->account].ext),
                cw_time_format(f->ts_unix, CW_TIME_TIMESTAMP, t1, sizeof t1),
                L->currencies[r->currency], cw_ledger_str(L, L->acc[r->account].ext),
                cw_time_format(r->ts_unix, CW_TIME_TIMESTAMP, t2, sizeof t2));
        }
    }
    return CW_OK;
}

int64_t cw_ledger_in_force(const cw_ledger *L, int64_t account, int64_t t)
{
    int64_t k = -1;
    const cw_ledger_account *a = &L->acc[account];
    for (int64_t i = a->lo; i < a->hi && L->subs[i].ts_unix < t; i++)
        k = i;
    return k;
}

cw_status cw_ledger_months_load(cw_store *st, const char *what, const char *segment,
                                cw_ledger_months *c)
{
    memset(c, 0, sizeof *c);
    cw_status s = cw_ledger_load(st, what, segment, &c->L);
    if (s == CW_OK)
        s = cw_ledger_one_currency(&c->L, NULL, what, c->currency);
    c->first = c->L.first_month;
    c->last = c->L.last_month;
    if (s == CW_OK && c->L.nsubs_included == 0)
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "%s: no subscriptions%s%s%s", what,
                               segment ? " in segment '" : "", segment ? segment : "",
                               segment ? "'" : "");
    if (s == CW_OK && c->last - c->first >= 12 * 200)
        s = cw_store_set_error(st, CW_ERR_INPUT, "%s: subscriptions span more than 200 years",
                               what);
    return s;
}

/* Fills mrr[0..last-first] with the account's MRR at each month end of the
 * data range, from its rows (in effective_at order). */
static void month_ends(const cw_ledger_months *c, const cw_ledger_account *a, int64_t *mrr)
{
    int64_t cur = 0, i = a->lo;
    for (int m = c->first; m <= c->last; m++) {
        int64_t t = cw_month_start_unix(m + 1);
        while (i < a->hi && c->L.subs[i].ts_unix < t)
            cur = c->L.subs[i++].mrr_minor;
        mrr[m - c->first] = cur;
    }
}

cw_status cw_ledger_months_each(cw_ledger_months *c,
                                cw_status (*fn)(cw_ledger_months *c, int64_t account,
                                                const int64_t *mrr, void *ud),
                                void *ud)
{
    int nm = c->last - c->first + 1;
    int64_t *mrr = malloc((size_t)nm * sizeof *mrr);
    if (!mrr)
        return cw_store_set_error(c->L.st, CW_ERR_NOMEM, "ledger: out of memory for %d months", nm);
    cw_status s = CW_OK;
    for (int64_t id = 1; id < c->L.nids && s == CW_OK; id++) {
        const cw_ledger_account *a = &c->L.acc[id];
        if (!a->included || a->lo == a->hi)
            continue;
        month_ends(c, a, mrr);
        s = fn(c, id, mrr, ud);
    }
    free(mrr);
    return s;
}

void cw_km_curve(int64_t n, const int64_t *d, const int64_t *c, int64_t n0, int64_t *at_risk,
                 double *surv, double *gw)
{
    double s = 1.0, g = 0.0;
    int64_t r = n0;
    for (int64_t i = 0; i < n; i++) {
        at_risk[i] = r;
        if (r > 0 && d[i] > 0) {
            s *= 1.0 - (double)d[i] / (double)r;
            g = d[i] < r ? g + (double)d[i] / ((double)r * (double)(r - d[i])) : (double)INFINITY;
        }
        surv[i] = s;
        if (gw)
            gw[i] = g;
        r -= d[i] + c[i];
    }
}
