/*
 * model_data.c — what the churn model learns from: churn events derived
 * from the subscriptions table, and the feature matrix built from stored
 * metric snapshots.
 *
 * A churn event is the instant an account's MRR goes from positive to 0 —
 * the same definition lib/revenue/revenue.c uses for churned customers — so the
 * model, the backtest's lead time and the revenue reports count the same
 * churns; a comeback is a new life that can churn again. The label of a
 * (snapshot D, account) row is whether such an event falls in
 * (D·86400, D·86400 + horizon], optionally widened to a seat or MRR loss of
 * at least X% within that window. Only accounts with MRR in force at the
 * snapshot instant are rows. Labels are known when the whole window lies
 * before the latest stored snapshot (data_end_day); later rows get
 * CW_LABEL_UNKNOWN and can only be scored.
 */
#include "revenue/ledger.h"
#include "model/model_int.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The model reads the same accounts and subscriptions as the revenue
 * reports (lib/revenue/ledger.c) and keeps them as flat per-account arrays for its
 * binary searches. */
cw_status cw_subs_load(cw_store *st, cw_subs *s)
{
    memset(s, 0, sizeof *s);
    cw_ledger L;
    cw_status rc = cw_ledger_load(st, "model", NULL, &L);
    if (rc != CW_OK) {
        cw_ledger_free(&L);
        return rc;
    }
    int64_t nacc = L.nids, n = L.nsubs;
    s->lo = calloc((size_t)nacc + 1, sizeof *s->lo);
    s->ts = malloc(((size_t)n + 1) * sizeof *s->ts);
    s->mrr = malloc(((size_t)n + 1) * sizeof *s->mrr);
    s->seats = malloc(((size_t)n + 1) * sizeof *s->seats);
    s->ext = calloc((size_t)nacc + 1, sizeof *s->ext);
    if (!s->lo || !s->ts || !s->mrr || !s->seats || !s->ext) {
        cw_ledger_free(&L);
        cw_subs_free(s);
        return cw_store_set_error(st, CW_ERR_NOMEM, "model: out of memory loading subscriptions");
    }
    /* the ledger groups each account's rows; copy them in id order */
    int64_t k = 0;
    for (int64_t a = 0; a < nacc; a++) {
        const cw_ledger_account *la = &L.acc[a];
        s->lo[a] = k;
        if (!la->present)
            continue;
        for (int64_t i = la->lo; i < la->hi; i++, k++) {
            s->ts[k] = L.subs[i].ts_unix;
            s->mrr[k] = L.subs[i].mrr_minor;
            s->seats[k] = L.subs[i].seats;
        }
    }
    s->lo[nacc] = k;
    s->nacc = nacc;
    s->nrows = k;
    /* external ids point into the ledger's string arena, kept */
    s->text = cw_buf_steal(&L.text, NULL);
    if (!s->text) {
        cw_ledger_free(&L);
        cw_subs_free(s);
        return cw_store_set_error(st, CW_ERR_NOMEM, "model: out of memory loading subscriptions");
    }
    for (int64_t a = 0; a < nacc; a++)
        if (L.acc[a].present)
            s->ext[a] = s->text + L.acc[a].ext;
    cw_ledger_free(&L);
    return CW_OK;
}

void cw_subs_free(cw_subs *s)
{
    if (!s)
        return;
    free(s->ext);
    free(s->text);
    free(s->lo);
    free(s->ts);
    free(s->mrr);
    free(s->seats);
    memset(s, 0, sizeof *s);
}

/* Index of the row in force just before t, or -1. */
static int64_t row_at(const cw_subs *s, int64_t a, int64_t t)
{
    if (a < 0 || a >= s->nacc)
        return -1;
    int64_t lo = s->lo[a], hi = s->lo[a + 1], k = -1;
    while (lo < hi) { /* last row with ts < t */
        int64_t mid = lo + (hi - lo) / 2;
        if (s->ts[mid] < t) {
            k = mid;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return k;
}

void cw_subs_at(const cw_subs *s, int64_t a, int64_t t, int64_t *mrr, int64_t *seats)
{
    int64_t k = row_at(s, a, t);
    *mrr = k >= 0 ? s->mrr[k] : 0;
    *seats = k >= 0 ? s->seats[k] : 0;
}

int64_t cw_churn_first(const cw_subs *s, int64_t a, int64_t t0, int64_t t1)
{
    if (a < 0 || a >= s->nacc)
        return -1;
    int64_t k = row_at(s, a, t0 + 1); /* in force at t0 (rows effective <= t0) */
    int64_t prev = k >= 0 ? s->mrr[k] : 0;
    for (int64_t i = k + 1 > s->lo[a] ? k + 1 : s->lo[a]; i < s->lo[a + 1] && s->ts[i] <= t1; i++) {
        if (prev > 0 && s->mrr[i] == 0)
            return s->ts[i];
        prev = s->mrr[i];
    }
    return -1;
}

int cw_churn_label(const cw_subs *s, int64_t a, int64_t t, int horizon_days, double seat_loss_pct,
                   double mrr_loss_pct)
{
    int64_t t1 = t + (int64_t)horizon_days * DAY_SECONDS;
    if (cw_churn_first(s, a, t, t1) >= 0)
        return 1;
    if (seat_loss_pct <= 0 && mrr_loss_pct <= 0)
        return 0;
    int64_t mrr0, seats0;
    cw_subs_at(s, a, t + 1, &mrr0, &seats0);
    int64_t k = row_at(s, a, t + 1);
    for (int64_t i = k + 1 > s->lo[a] ? k + 1 : s->lo[a]; i < s->lo[a + 1] && s->ts[i] <= t1; i++) {
        if (seat_loss_pct > 0 && seats0 > 0 &&
            (double)s->seats[i] <= (double)seats0 * (1.0 - seat_loss_pct / 100.0))
            return 1;
        if (mrr_loss_pct > 0 && mrr0 > 0 &&
            (double)s->mrr[i] <= (double)mrr0 * (1.0 - mrr_loss_pct / 100.0))
            return 1;
    }
    return 0;
}

/* ---- the matrix -------------------------------------------------------- */

typedef struct mx_ctx {
    cw_mx *m;
    const cw_subs *s;
    const cw_mx_opts *o;
    cw_store *st;
    int64_t last_day;
} mx_ctx;

static cw_status grow(cw_mx *m)
{
    int64_t n = m->cap ? m->cap * 2 : 4096;
    float *x = realloc(m->x, (size_t)n * (size_t)m->nf * sizeof *x);
    if (!x)
        return CW_ERR_NOMEM;
    m->x = x;
    int32_t *d = realloc(m->day, (size_t)n * sizeof *d);
    if (!d)
        return CW_ERR_NOMEM;
    m->day = d;
    int32_t *a = realloc(m->acc, (size_t)n * sizeof *a);
    if (!a)
        return CW_ERR_NOMEM;
    m->acc = a;
    unsigned char *y = realloc(m->y, (size_t)n);
    if (!y)
        return CW_ERR_NOMEM;
    m->y = y;
    if (m->peers) {
        float *p = realloc(m->peers, (size_t)n * (size_t)m->nmetrics * sizeof *p);
        if (!p)
            return CW_ERR_NOMEM;
        m->peers = p;
    }
    m->cap = n;
    return CW_OK;
}

static cw_status on_row(int64_t day, int64_t account, const double *vals, const double *trend,
                        const double *peers, int n, void *ud)
{
    mx_ctx *c = ud;
    cw_mx *m = c->m;
    if (n < m->nmetrics)
        return cw_store_set_error(c->st, CW_ERR_INPUT,
                                  "model: snapshot %lld holds %d account metrics, fewer than the "
                                  "catalogue's %d; recompute it with `churnwatch metrics`",
                                  (long long)day, n, m->nmetrics);
    int64_t mrr, seats;
    /* active at the instant: a change effective exactly then counts, as the
     * label window (D, D + horizon] starts after it */
    cw_subs_at(c->s, account, day * DAY_SECONDS + 1, &mrr, &seats);
    if (mrr <= 0)
        return CW_OK;
    if (m->rows == m->cap) {
        cw_status rc = grow(m);
        if (rc != CW_OK)
            return rc;
    }
    int64_t r = m->rows++;
    float *x = m->x + r * m->nf;
    for (int j = 0; j < m->nmetrics; j++) {
        x[j] = (float)vals[j];
        x[m->nmetrics + j] = trend ? (float)trend[j] : NAN;
    }
    if (m->peers)
        for (int j = 0; j < m->nmetrics; j++)
            m->peers[r * m->nmetrics + j] = peers ? (float)peers[j] : NAN;
    m->day[r] = (int32_t)day;
    m->acc[r] = (int32_t)account;
    if (day + c->o->horizon_days <= m->data_end_day)
        m->y[r] =
            (unsigned char)cw_churn_label(c->s, account, day * DAY_SECONDS, c->o->horizon_days,
                                          c->o->seat_loss_pct, c->o->mrr_loss_pct);
    else
        m->y[r] = CW_LABEL_UNKNOWN;
    if (m->nsnap == 0 || m->snap[m->nsnap - 1] != day) {
        int64_t *sn = realloc(m->snap, ((size_t)m->nsnap + 1) * sizeof *sn);
        if (!sn)
            return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                      "model: out of memory loading snapshot rows");
        m->snap = sn;
        m->snap[m->nsnap++] = day;
    }
    return CW_OK;
}

static cw_status on_snapshot(int64_t day, void *ud)
{
    int64_t *last = ud;
    if (day > *last)
        *last = day;
    return CW_OK;
}

cw_status cw_mx_load(cw_store *st, const cw_subs *s, const cw_mx_opts *o, cw_mx *m)
{
    memset(m, 0, sizeof *m);
    const cw_metric_info *cat;
    int ncat = cw_metrics_catalog(&cat);
    int na = 0;
    while (na < ncat && cat[na].scope == CW_SCOPE_ACCOUNT)
        na++;
    m->nmetrics = na;
    m->nf = 2 * na;
    const cw_store_ops *ops = cw_store_get_ops(st);
    int64_t last = -1;
    cw_status rc = ops->snapshot_list(st, INT64_MIN, INT64_MAX, on_snapshot, &last);
    if (rc != CW_OK)
        return rc;
    m->data_end_day = last;
    if (o->want_peers) {
        m->peers = malloc(sizeof *m->peers); /* marks "wanted"; grown with the rows */
        if (!m->peers)
            return cw_store_set_error(st, CW_ERR_NOMEM,
                                      "model: out of memory loading the snapshot matrix");
    }
    mx_ctx c = {m, s, o, st, last};
    rc = ops->account_metrics_scan(st, o->from_day ? o->from_day : INT64_MIN,
                                   o->to_day ? o->to_day : INT64_MAX, 0, on_row, &c);
    if (rc != CW_OK) {
        cw_mx_free(m);
        return rc;
    }
    return CW_OK;
}

void cw_mx_free(cw_mx *m)
{
    if (!m)
        return;
    free(m->x);
    free(m->day);
    free(m->acc);
    free(m->y);
    free(m->peers);
    free(m->snap);
    memset(m, 0, sizeof *m);
}

const char *cw_mx_feature_name(const cw_mx *m, int j, char *buf, size_t n)
{
    const cw_metric_info *cat;
    cw_metrics_catalog(&cat);
    if (j < m->nmetrics)
        return cat[j].name;
    snprintf(buf, n, "%s.trend", cat[j - m->nmetrics].name);
    return buf;
}
