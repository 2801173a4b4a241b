/*
 * model_data.c — what the churn model learns from: churn events derived
 * from the subscriptions table, and the feature matrix built from stored
 * metric snapshots.
 *
 * A churn event is the instant an account's MRR goes from positive to 0 —
 * the same definition lib/revenue.c uses for churned customers — so the
 * model, the backtest's lead time and the revenue reports count the same
 * churns; a comeback is a new life that can churn again. The label of a
 * (snapshot D, account) row is whether such an event falls in
 * (D·86400, D·86400 + horizon], optionally widened to a seat or MRR loss of
 * at least X% within that window. Only accounts with MRR in force at the
 * snapshot instant are rows. Labels are known when the whole window lies
 * before the latest stored snapshot (data_end_day); later rows get
 * CW_LABEL_UNKNOWN and can only be scored.
 */
#include "model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct sub_row {
    int64_t acc, ts, mrr, seats;
} sub_row;

typedef struct subs_ctx {
    sub_row *rows;
    int64_t n, cap, maxacc;
    cw_subs *s;
} subs_ctx;

static cw_status on_account(int64_t id, const cw_value *v, void *ud)
{
    subs_ctx *c = ud;
    cw_subs *s = c->s;
    if (id < 0)
        return CW_OK;
    if (id >= s->nacc) {
        int64_t n = id + 1 > s->nacc * 2 ? id + 1 : s->nacc * 2 + 16;
        char **e = realloc(s->ext, (size_t)n * sizeof *e);
        if (!e)
            return CW_ERR_NOMEM;
        memset(e + s->nacc, 0, (size_t)(n - s->nacc) * sizeof *e);
        s->ext = e;
        s->nacc = n;
    }
    free(s->ext[id]);
    s->ext[id] = cw_strndup(v[0].s ? v[0].s : "", v[0].len);
    return s->ext[id] ? CW_OK : CW_ERR_NOMEM;
}

static cw_status on_sub(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    subs_ctx *c = ud;
    /* subscriptions: 0 account, 1 effective_at, 2 mrr_minor, 3 currency, 4 seats */
    if (c->n == c->cap) {
        int64_t n = c->cap ? c->cap * 2 : 1024;
        sub_row *r = realloc(c->rows, (size_t)n * sizeof *r);
        if (!r)
            return CW_ERR_NOMEM;
        c->rows = r;
        c->cap = n;
    }
    c->rows[c->n++] = (sub_row){v[0].i, v[1].i, v[2].i, v[4].i};
    if (v[0].i > c->maxacc)
        c->maxacc = v[0].i;
    return CW_OK;
}

static int sub_cmp(const void *a, const void *b)
{
    const sub_row *x = a, *y = b;
    if (x->acc != y->acc)
        return x->acc < y->acc ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

cw_status cw_subs_load(cw_store *st, cw_subs *s)
{
    memset(s, 0, sizeof *s);
    subs_ctx c = {NULL, 0, 0, 0, s};
    const cw_store_ops *ops = cw_store_get_ops(st);
    cw_status rc = ops->scan_rows(st, CW_KIND_ACCOUNTS, on_account, &c);
    if (rc == CW_OK)
        rc = ops->scan_rows(st, CW_KIND_SUBSCRIPTIONS, on_sub, &c);
    if (rc != CW_OK) {
        free(c.rows);
        cw_subs_free(s);
        return rc;
    }
    if (c.n > 1)
        qsort(c.rows, (size_t)c.n, sizeof *c.rows, sub_cmp);
    int64_t nacc = s->nacc > c.maxacc + 1 ? s->nacc : c.maxacc + 1;
    if (nacc > s->nacc) {
        char **e = realloc(s->ext, (size_t)nacc * sizeof *e);
        if (!e) {
            free(c.rows);
            cw_subs_free(s);
            return CW_ERR_NOMEM;
        }
        memset(e + s->nacc, 0, (size_t)(nacc - s->nacc) * sizeof *e);
        s->ext = e;
        s->nacc = nacc;
    }
    s->lo = calloc((size_t)nacc + 1, sizeof *s->lo);
    s->ts = malloc(((size_t)c.n + 1) * sizeof *s->ts);
    s->mrr = malloc(((size_t)c.n + 1) * sizeof *s->mrr);
    s->seats = malloc(((size_t)c.n + 1) * sizeof *s->seats);
    if (!s->lo || !s->ts || !s->mrr || !s->seats) {
        free(c.rows);
        cw_subs_free(s);
        return CW_ERR_NOMEM;
    }
    for (int64_t i = 0; i < c.n; i++) {
        s->ts[i] = c.rows[i].ts;
        s->mrr[i] = c.rows[i].mrr;
        s->seats[i] = c.rows[i].seats;
        if (c.rows[i].acc >= 0)
            s->lo[c.rows[i].acc + 1]++;
    }
    for (int64_t a = 0; a < nacc; a++)
        s->lo[a + 1] += s->lo[a];
    s->nrows = c.n;
    free(c.rows);
    return CW_OK;
}

void cw_subs_free(cw_subs *s)
{
    if (!s)
        return;
    if (s->ext)
        for (int64_t a = 0; a < s->nacc; a++)
            free(s->ext[a]);
    free(s->ext);
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
            return CW_ERR_NOMEM;
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
            return CW_ERR_NOMEM;
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
