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
 * within the subscription data (data_end_day: a declared end, else the
 * latest subscription change) — not the latest snapshot: events and
 * subscriptions often come from different systems and end on different
 * days, and a window past the subscription data would read as "no churn".
 * Later rows get CW_LABEL_UNKNOWN and can only be scored.
 *
 * Beyond the catalogue's metrics the matrix holds the configuration's
 * custom metrics (read from the stored vectors by name) and behaviour
 * features of the product's own event names, computed from the daily event
 * rollups at each snapshot day over the days before it (no leakage): per
 * name the 28-day count, the count per active user and the % change
 * against the previous 28 days. Names are chosen without labels: the most
 * widely used ones (by accounts), with a minimum support and a cap.
 */
#include "revenue/ledger.h"
#include "core/util.h"
#include "model/model_int.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Unix seconds to days since 1970-01-01, rounding down. */
static int64_t floor_div_day(int64_t t)
{
    return t >= 0 ? t / DAY_SECONDS : -((-t + DAY_SECONDS - 1) / DAY_SECONDS);
}

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
    s->billing = malloc((size_t)n + 1);
    s->start_day = malloc(((size_t)nacc + 1) * sizeof *s->start_day);
    s->ext = calloc((size_t)nacc + 1, sizeof *s->ext);
    if (!s->lo || !s->ts || !s->mrr || !s->seats || !s->billing || !s->start_day || !s->ext) {
        cw_ledger_free(&L);
        cw_subs_free(s);
        return cw_store_set_error(st, CW_ERR_NOMEM, "model: out of memory loading subscriptions");
    }
    /* the ledger groups each account's rows; copy them in id order */
    int64_t k = 0;
    for (int64_t a = 0; a < nacc; a++) {
        const cw_ledger_account *la = &L.acc[a];
        s->lo[a] = k;
        s->start_day[a] = INT64_MIN;
        if (!la->present)
            continue;
        if (la->contract_start_unix)
            s->start_day[a] = floor_div_day(la->contract_start_unix);
        for (int64_t i = la->lo; i < la->hi; i++, k++) {
            s->ts[k] = L.subs[i].ts_unix;
            s->mrr[k] = L.subs[i].mrr_minor;
            s->seats[k] = L.subs[i].seats;
            s->billing[k] = (signed char)L.subs[i].billing;
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

int64_t cw_subs_data_end_day(const cw_subs *s)
{
    int64_t t = INT64_MIN;
    for (int64_t i = 0; i < s->nrows; i++)
        if (s->ts[i] > t)
            t = s->ts[i];
    if (t == INT64_MIN)
        return -1;
    return floor_div_day(t);
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
    free(s->billing);
    free(s->start_day);
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

/* Discovery: event names used by fewer accounts than this share (and this
 * many) are left out; at most max_event_names are kept, the most widely used
 * first. */
#define EVENT_MIN_SHARE    0.02
#define EVENT_MIN_ACCOUNTS 10
#define EVENT_MAX_NAMES    40
#define EVENT_WINDOW_DAYS  28

void cw_mx_spec_free(cw_mx_spec *sp)
{
    if (!sp)
        return;
    for (int i = 0; i < sp->ncustom; i++)
        free(sp->custom[i]);
    for (int i = 0; i < sp->nevents; i++)
        free(sp->events[i]);
    free(sp->custom);
    free(sp->events);
    memset(sp, 0, sizeof *sp);
}

static cw_status spec_add(char ***names, int *n, const char *name, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen((*names)[i]) == len && memcmp((*names)[i], name, len) == 0)
            return CW_OK;
    char **v = realloc(*names, ((size_t)*n + 1) * sizeof *v);
    if (!v)
        return CW_ERR_NOMEM;
    *names = v;
    char *c = malloc(len + 1);
    if (!c)
        return CW_ERR_NOMEM;
    memcpy(c, name, len);
    c[len] = 0;
    v[(*n)++] = c;
    return CW_OK;
}

typedef struct snap_cat {
    int64_t day;
    int *pos; /* per custom metric: its index in the stored vector, or -1 */
} snap_cat;

typedef struct mx_ctx {
    cw_mx *m;
    const cw_subs *s;
    const cw_mx_opts *o;
    cw_store *st;
    int64_t last_day;
    snap_cat *cats;
    int ncats, cur_cat;
    struct renewal_obs *obs; /* renewal rows to build, by (snapshot, account, day) */
    int64_t nobs, cur_obs;
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
    if (m->rows_design == CW_ROWS_RENEWAL) {
        int32_t *sd = realloc(m->snapday, (size_t)n * sizeof *sd);
        if (!sd)
            return CW_ERR_NOMEM;
        m->snapday = sd;
        int32_t *rd = realloc(m->renewal, (size_t)n * sizeof *rd);
        if (!rd)
            return CW_ERR_NOMEM;
        m->renewal = rd;
    }
    m->cap = n;
    return CW_OK;
}

/* A renewal row to build: observed on day, about the renewal on ren, with
 * the metrics of snapshot snap. */
typedef struct renewal_obs {
    int32_t snap, acc, day, ren;
} renewal_obs;

/* Appends the row of account observed on day with the stored vector of
 * snapshot snap (= day for weekly rows) and its label. */
static cw_status add_row(mx_ctx *c, int64_t snap, int64_t day, int64_t ren, int64_t account,
                         const double *vals, const double *trend, const double *peers, int n)
{
    cw_mx *m = c->m;
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
    /* custom metrics: by name in this snapshot's catalogue */
    int nc = m->spec.ncustom, base = 2 * m->nmetrics;
    while (c->cur_cat < c->ncats && c->cats[c->cur_cat].day < snap)
        c->cur_cat++;
    const int *pos =
        c->cur_cat < c->ncats && c->cats[c->cur_cat].day == snap ? c->cats[c->cur_cat].pos : NULL;
    for (int i = 0; i < nc; i++) {
        int p = pos ? pos[i] : -1;
        x[base + i] = p >= 0 && p < n ? (float)vals[p] : NAN;
        x[base + nc + i] = p >= 0 && p < n && trend ? (float)trend[p] : NAN;
    }
    for (int j = base + 2 * nc; j < m->nf; j++)
        x[j] = NAN; /* event features: filled from the rollups afterwards */
    if (m->peers)
        for (int j = 0; j < m->nmetrics; j++)
            m->peers[r * m->nmetrics + j] = peers ? (float)peers[j] : NAN;
    m->day[r] = (int32_t)day;
    m->acc[r] = (int32_t)account;
    if (m->rows_design == CW_ROWS_RENEWAL) {
        m->snapday[r] = (int32_t)snap;
        m->renewal[r] = (int32_t)ren;
        /* did it churn between the observation and the end of the renewal
         * day? Known when that day (+1: the whole day) is within the data */
        if (day + m->renewal_days + 1 <= m->data_end_day) {
            m->y[r] = cw_churn_first(c->s, account, day * DAY_SECONDS,
                                     ren * DAY_SECONDS + DAY_SECONDS - 1) >= 0;
        } else {
            m->y[r] = CW_LABEL_UNKNOWN;
            m->unknown_rows++;
        }
        return CW_OK; /* snapshot days: after sorting (cw_mx_load) */
    }
    if (day + c->o->horizon_days <= m->data_end_day) {
        m->y[r] =
            (unsigned char)cw_churn_label(c->s, account, day * DAY_SECONDS, c->o->horizon_days,
                                          c->o->seat_loss_pct, c->o->mrr_loss_pct);
    } else {
        m->y[r] = CW_LABEL_UNKNOWN;
        m->unknown_rows++;
    }
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
    if (m->rows_design == CW_ROWS_RENEWAL) {
        /* the renewal rows whose latest snapshot this is (both in order) */
        while (c->cur_obs < c->nobs &&
               (c->obs[c->cur_obs].snap < day ||
                (c->obs[c->cur_obs].snap == day && c->obs[c->cur_obs].acc < account)))
            c->cur_obs++;
        cw_status rc = CW_OK;
        for (; rc == CW_OK && c->cur_obs < c->nobs && c->obs[c->cur_obs].snap == day &&
               c->obs[c->cur_obs].acc == account;
             c->cur_obs++) {
            const renewal_obs *ob = &c->obs[c->cur_obs];
            rc = add_row(c, day, ob->day, ob->ren, account, vals, trend, peers, n);
        }
        return rc;
    }
    int64_t mrr, seats;
    /* active at the instant: a change effective exactly then counts, as the
     * label window (D, D + horizon] starts after it */
    cw_subs_at(c->s, account, day * DAY_SECONDS + 1, &mrr, &seats);
    if (mrr <= 0)
        return CW_OK;
    return add_row(c, day, day, -1, account, vals, trend, peers, n);
}

/* ---- renewal rows -------------------------------------------------------- */

/* A billing period's term in months (monthly, annual, quarterly,
 * semiannual; other and unknown: annual, as days_to_renewal counts). */
static int term_months(int billing)
{
    static const int t[] = {1, 12, 3, 6, 12};
    return billing >= 0 && billing < 5 ? t[billing] : 12;
}

int64_t cw_renewals_of(const cw_subs *s, int64_t a, int n_days, int64_t lo, int64_t hi, int64_t *o,
                       int64_t *r, int64_t cap)
{
    if (a < 0 || a >= s->nacc)
        return 0;
    int64_t i1 = s->lo[a + 1], k = s->lo[a], n = 0;
    int first = 1;
    while (k < i1) {
        /* a life: from a paid change (after a cancellation: a new contract,
         * anchored on its day; the first: contract_start) to the next
         * cancellation (MRR 0) */
        int cancelled = 0;
        while (k < i1 && s->mrr[k] <= 0) {
            cancelled = 1;
            k++;
        }
        if (k >= i1)
            break;
        int64_t A = first && !cancelled && s->start_day[a] != INT64_MIN ? s->start_day[a]
                                                                        : floor_div_day(s->ts[k]);
        first = 0;
        int64_t e = k;
        while (e < i1 && s->mrr[e] > 0)
            e++;
        int64_t end_ts = e < i1 ? s->ts[e] : INT64_MAX;
        for (int64_t P = A;;) {
            int64_t kk = row_at(s, a, (P + 1) * DAY_SECONDS); /* in force on day P */
            int64_t R = cw_next_anniversary(A, term_months(kk >= 0 ? s->billing[kk] : -1), P + 1);
            int64_t O = R - n_days > P + 1 ? R - n_days : P + 1;
            if (O > hi)
                break;
            if (O >= lo && O * DAY_SECONDS < end_ts) {
                int64_t mrr, seats;
                cw_subs_at(s, a, O * DAY_SECONDS + 1, &mrr, &seats);
                if (mrr > 0) {
                    if (n < cap) {
                        o[n] = O;
                        r[n] = R;
                    }
                    n++;
                }
            }
            if (R * DAY_SECONDS >= end_ts)
                break;
            P = R;
        }
        k = e;
    }
    return n;
}

static int obs_cmp(const void *x, const void *y)
{
    const renewal_obs *a = x, *b = y;
    if (a->snap != b->snap)
        return a->snap < b->snap ? -1 : 1;
    if (a->acc != b->acc)
        return a->acc < b->acc ? -1 : 1;
    return (a->day > b->day) - (a->day < b->day);
}

/* The renewal rows of the snapshots days[0..nd) (ascending): every
 * account's renewals observed on a day in [days[0], days[nd-1]], each with
 * the latest snapshot at or before it (none older than
 * CW_RENEWAL_MAX_STALE days). */
static cw_status renewal_plan(mx_ctx *c, const int64_t *days, int nd)
{
    cw_mx *m = c->m;
    const cw_subs *s = c->s;
    if (nd == 0)
        return CW_OK;
    int64_t cap = 64, cnt = 0;
    int64_t *od = malloc((size_t)cap * sizeof *od), *rd = malloc((size_t)cap * sizeof *rd);
    if (!od || !rd) {
        free(od);
        free(rd);
        return CW_ERR_NOMEM;
    }
    cw_status rc = CW_OK;
    for (int64_t a = 0; rc == CW_OK && a < s->nacc; a++) {
        int64_t k;
        while ((k = cw_renewals_of(s, a, m->renewal_days, days[0], days[nd - 1], od, rd, cap)) >
               cap) {
            cap = k;
            int64_t *o2 = realloc(od, (size_t)cap * sizeof *o2);
            if (o2)
                od = o2;
            int64_t *r2 = o2 ? realloc(rd, (size_t)cap * sizeof *r2) : NULL;
            if (!o2 || !r2) {
                rc = CW_ERR_NOMEM;
                break;
            }
            rd = r2;
        }
        for (int64_t i = 0; rc == CW_OK && i < k; i++) {
            m->renewals_seen++;
            int lo = 0, hi = nd; /* the latest snapshot <= O */
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (days[mid] <= od[i])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            int64_t S = days[lo - 1];
            if (od[i] - S > CW_RENEWAL_MAX_STALE)
                continue;
            if (cnt == c->nobs) {
                int64_t nc = cnt ? 2 * cnt : 1024;
                renewal_obs *no = realloc(c->obs, (size_t)nc * sizeof *no);
                if (!no) {
                    rc = CW_ERR_NOMEM;
                    break;
                }
                c->obs = no;
                c->nobs = nc;
            }
            c->obs[cnt++] = (renewal_obs){(int32_t)S, (int32_t)a, (int32_t)od[i], (int32_t)rd[i]};
        }
    }
    free(od);
    free(rd);
    c->nobs = cnt;
    if (rc == CW_OK && cnt > 1)
        qsort(c->obs, (size_t)cnt, sizeof *c->obs, obs_cmp);
    return rc;
}

typedef struct row_key {
    int32_t day, acc;
    int64_t r;
} row_key;

static int row_key_cmp(const void *x, const void *y)
{
    const row_key *a = x, *b = y;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    if (a->acc != b->acc)
        return a->acc < b->acc ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

#define PERMUTE(arr, type, width)                                                                  \
    do {                                                                                           \
        if (arr) {                                                                                 \
            type *t_ = malloc((size_t)(n ? n : 1) * (size_t)(width) * sizeof *t_);                 \
            if (!t_) {                                                                             \
                rc = CW_ERR_NOMEM;                                                                 \
                break;                                                                             \
            }                                                                                      \
            for (int64_t i_ = 0; i_ < n; i_++)                                                     \
                memcpy(t_ + i_ * (width), (arr) + k[i_].r * (width),                               \
                       (size_t)(width) * sizeof *t_);                                              \
            memcpy(arr, t_, (size_t)n *(size_t)(width) * sizeof *t_);                              \
            free(t_);                                                                              \
        }                                                                                          \
    } while (0)

/* Renewal rows come in snapshot order: puts them in (day, account) order,
 * lists their days and measures how stale their snapshots are. */
static cw_status renewal_finish(cw_mx *m)
{
    int64_t n = m->rows;
    row_key *k = malloc((size_t)(n ? n : 1) * sizeof *k);
    if (!k)
        return CW_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        k[i] = (row_key){m->day[i], m->acc[i], i};
    if (n > 1)
        qsort(k, (size_t)n, sizeof *k, row_key_cmp);
    cw_status rc = CW_OK;
    PERMUTE(m->x, float, m->nf);
    if (rc == CW_OK)
        PERMUTE(m->day, int32_t, 1);
    if (rc == CW_OK)
        PERMUTE(m->acc, int32_t, 1);
    if (rc == CW_OK)
        PERMUTE(m->y, unsigned char, 1);
    if (rc == CW_OK)
        PERMUTE(m->snapday, int32_t, 1);
    if (rc == CW_OK)
        PERMUTE(m->renewal, int32_t, 1);
    if (rc == CW_OK && m->peers)
        PERMUTE(m->peers, float, m->nmetrics);
    free(k);
    double sum = 0;
    for (int64_t i = 0; rc == CW_OK && i < n; i++) {
        int64_t st = m->day[i] - m->snapday[i];
        sum += (double)st;
        m->stale_max = st > m->stale_max ? st : m->stale_max;
        if (m->nsnap == 0 || m->snap[m->nsnap - 1] != m->day[i]) {
            int64_t *sn = realloc(m->snap, ((size_t)m->nsnap + 1) * sizeof *sn);
            if (!sn) {
                rc = CW_ERR_NOMEM;
                break;
            }
            m->snap = sn;
            m->snap[m->nsnap++] = m->day[i];
        }
    }
    m->stale_mean = n ? sum / (double)n : 0;
    return rc;
}

typedef struct day_list {
    int64_t *days;
    int n, cap;
} day_list;

static cw_status on_snapshot(int64_t day, void *ud)
{
    day_list *l = ud;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        int64_t *d = realloc(l->days, (size_t)cap * sizeof *d);
        if (!d)
            return CW_ERR_NOMEM;
        l->days = d;
        l->cap = cap;
    }
    l->days[l->n++] = day;
    return CW_OK;
}

/* Whether catalogue entry name (len bytes) is a custom metric: not a
 * built-in, not a milestone's days. */
static int is_custom_entry(const char *name, size_t len)
{
    static const char ms[] = "days_to_milestone:";
    return len > 0 && !(len >= sizeof ms - 1 && memcmp(name, ms, sizeof ms - 1) == 0);
}

/* Each snapshot's custom-metric positions (and, when discover, the custom
 * metric names of the snapshots in range into m->spec). */
static cw_status load_catalogs(cw_store *st, const day_list *days, int64_t lo, int64_t hi,
                               int discover, cw_mx *m, mx_ctx *c)
{
    const cw_store_ops *ops = cw_store_get_ops(st);
    char *buf = malloc(65536);
    if (!buf)
        return CW_ERR_NOMEM;
    cw_status rc = CW_OK;
    for (int pass = discover ? 0 : 1; rc == CW_OK && pass < 2; pass++) {
        for (int k = 0; rc == CW_OK && k < days->n; k++) {
            int64_t d = days->days[k];
            if (d < lo || d > hi)
                continue;
            int found = 0;
            rc = ops->snapshot_catalog(st, d, buf, 65536, &found);
            if (rc != CW_OK || !found)
                continue;
            int *pos = NULL;
            if (pass == 1 && m->spec.ncustom > 0) {
                pos = malloc((size_t)m->spec.ncustom * sizeof *pos);
                if (!pos) {
                    rc = CW_ERR_NOMEM;
                    break;
                }
                for (int i = 0; i < m->spec.ncustom; i++)
                    pos[i] = -1;
            }
            const char *p = buf;
            for (int idx = 0; *p; idx++) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                if (idx >= m->nmetrics && is_custom_entry(p, len)) {
                    if (pass == 0)
                        rc = spec_add(&m->spec.custom, &m->spec.ncustom, p, len);
                    else
                        for (int i = 0; pos && i < m->spec.ncustom; i++)
                            if (strlen(m->spec.custom[i]) == len &&
                                memcmp(m->spec.custom[i], p, len) == 0)
                                pos[i] = idx;
                }
                p = e ? e + 1 : p + len;
            }
            if (pass == 1) {
                snap_cat *nc = realloc(c->cats, ((size_t)c->ncats + 1) * sizeof *nc);
                if (!nc) {
                    free(pos);
                    rc = CW_ERR_NOMEM;
                    break;
                }
                c->cats = nc;
                c->cats[c->ncats++] = (snap_cat){d, pos};
            }
        }
    }
    free(buf);
    return rc;
}

/* ---- event behaviour features ------------------------------------------ */

typedef struct ev_names {
    char **name; /* by event id (NULL: unused id) */
    int64_t n;
} ev_names;

static cw_status on_event_name(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    (void)aux;
    ev_names *e = ud;
    if (id < 0 || id > 10000000)
        return CW_OK;
    if (id >= e->n) {
        char **v = realloc(e->name, (size_t)(id + 1) * sizeof *v);
        if (!v)
            return CW_ERR_NOMEM;
        for (int64_t i = e->n; i <= id; i++)
            v[i] = NULL;
        e->name = v;
        e->n = id + 1;
    }
    char *c = malloc(len + 1);
    if (!c)
        return CW_ERR_NOMEM;
    memcpy(c, ext, len);
    c[len] = 0;
    free(e->name[id]);
    e->name[id] = c;
    return CW_OK;
}

static void ev_names_free(ev_names *e)
{
    for (int64_t i = 0; i < e->n; i++)
        free(e->name[i]);
    free(e->name);
}

typedef struct ev_support {
    int64_t nev, last_acc, accounts;
    int64_t *acc_count, *seen; /* by event id: accounts using it, last account seen */
    int64_t lo_day, hi_day;
} ev_support;

static cw_status on_support_day(int64_t account, int64_t day, const cw_event_cell *cells, size_t n,
                                void *ud)
{
    ev_support *s = ud;
    if (day < s->lo_day || day > s->hi_day)
        return CW_OK;
    if (account != s->last_acc) {
        s->last_acc = account;
        s->accounts++;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t e = cells[i].event;
        if (e >= 0 && e < s->nev && s->seen[e] != account + 1) {
            s->seen[e] = account + 1;
            s->acc_count[e]++;
        }
    }
    return CW_OK;
}

typedef struct ev_rank {
    int64_t id, accounts;
    const char *name;
} ev_rank;

static int ev_rank_cmp(const void *a, const void *b)
{
    const ev_rank *x = a, *y = b;
    if (x->accounts != y->accounts)
        return x->accounts > y->accounts ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Chooses the event names (no labels involved): those used by at least
 * EVENT_MIN_SHARE of the accounts with events (and EVENT_MIN_ACCOUNTS),
 * the most widely used first, at most max_names. */
static cw_status discover_events(cw_store *st, const ev_names *en, int64_t lo_day, int64_t hi_day,
                                 int max_names, cw_mx_spec *spec)
{
    const cw_store_ops *ops = cw_store_get_ops(st);
    ev_support s = {en->n,
                    -1,
                    0,
                    calloc((size_t)(en->n ? en->n : 1), sizeof(int64_t)),
                    calloc((size_t)(en->n ? en->n : 1), sizeof(int64_t)),
                    lo_day,
                    hi_day};
    ev_rank *rk = malloc((size_t)(en->n ? en->n : 1) * sizeof *rk);
    cw_status rc = s.acc_count && s.seen && rk ? CW_OK : CW_ERR_NOMEM;
    if (rc == CW_OK)
        rc = ops->scan_event_days(st, INT64_MIN, INT64_MAX, on_support_day, &s);
    int64_t nr = 0;
    double min = EVENT_MIN_SHARE * (double)s.accounts;
    if (min < EVENT_MIN_ACCOUNTS)
        min = EVENT_MIN_ACCOUNTS;
    for (int64_t e = 0; rc == CW_OK && e < en->n; e++)
        if (en->name[e] && (double)s.acc_count[e] >= min)
            rk[nr++] = (ev_rank){e, s.acc_count[e], en->name[e]};
    if (rc == CW_OK) {
        qsort(rk, (size_t)nr, sizeof *rk, ev_rank_cmp);
        for (int64_t i = 0; rc == CW_OK && i < nr && i < max_names; i++)
            rc = spec_add(&spec->events, &spec->nevents, rk[i].name, strlen(rk[i].name));
    }
    free(s.acc_count);
    free(s.seen);
    free(rk);
    return rc;
}

typedef struct ev_fill {
    cw_mx *m;
    int ne, base, iau;
    int *sel; /* by event id: selected index or -1 */
    int64_t nev;
    int64_t *start; /* rows of account a: ord[start[a] .. start[a+1]) */
    int64_t *ord;
    int64_t nacc;
    int64_t cur;   /* account being gathered, -1 none */
    int32_t *days; /* its event days */
    int64_t *cum;  /* (ndays + 1) × ne prefix sums */
    int ndays, cap;
} ev_fill;

static int64_t lower_day(const int32_t *d, int n, int64_t day)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (d[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Writes the event features of the gathered account's rows. */
static void ev_flush(ev_fill *f)
{
    if (f->cur < 0 || f->cur >= f->nacc)
        return;
    cw_mx *m = f->m;
    for (int64_t k = f->start[f->cur]; k < f->start[f->cur + 1]; k++) {
        int64_t r = f->ord[k], D = m->day[r];
        float *x = m->x + r * m->nf + f->base;
        int64_t hi = lower_day(f->days, f->ndays, D);
        int64_t lo = lower_day(f->days, f->ndays, D - EVENT_WINDOW_DAYS);
        int64_t plo = lower_day(f->days, f->ndays, D - 2 * EVENT_WINDOW_DAYS);
        double au = f->iau >= 0 ? m->x[r * m->nf + f->iau] : NAN;
        for (int e = 0; e < f->ne; e++) {
            double cur = (double)(f->cum[hi * f->ne + e] - f->cum[lo * f->ne + e]);
            double prev = (double)(f->cum[lo * f->ne + e] - f->cum[plo * f->ne + e]);
            x[CW_EVENT_FEATURES * e] = (float)cur;
            x[CW_EVENT_FEATURES * e + 1] = au > 0 ? (float)(cur / au) : NAN;
            x[CW_EVENT_FEATURES * e + 2] = prev > 0 ? (float)((cur - prev) / prev * 100.0) : NAN;
        }
    }
}

static cw_status on_fill_day(int64_t account, int64_t day, const cw_event_cell *cells, size_t n,
                             void *ud)
{
    ev_fill *f = ud;
    if (account != f->cur) {
        ev_flush(f);
        f->cur = account;
        f->ndays = 0;
    }
    if (account < 0 || account >= f->nacc || f->start[account] == f->start[account + 1])
        return CW_OK;
    if (f->ndays + 1 >= f->cap) {
        int cap = f->cap ? 2 * f->cap : 1024;
        int32_t *d = realloc(f->days, (size_t)cap * sizeof *d);
        if (!d)
            return CW_ERR_NOMEM;
        f->days = d;
        int64_t *c = realloc(f->cum, ((size_t)cap + 1) * (size_t)f->ne * sizeof *c);
        if (!c)
            return CW_ERR_NOMEM;
        f->cum = c;
        f->cap = cap;
    }
    int k = f->ndays++;
    f->days[k] = (int32_t)day;
    int64_t *prev = f->cum + (int64_t)k * f->ne, *row = prev + f->ne;
    if (k == 0)
        memset(prev, 0, (size_t)f->ne * sizeof *prev);
    memcpy(row, prev, (size_t)f->ne * sizeof *row);
    for (size_t i = 0; i < n; i++) {
        int64_t e = cells[i].event;
        if (e >= 0 && e < f->nev && f->sel[e] >= 0)
            row[f->sel[e]] += cells[i].n;
    }
    return CW_OK;
}

/* Fills the event features of every row from the stored daily rollups:
 * for row (D, a), the account's events on days D-28 .. D-1 and, for the
 * change, D-56 .. D-29 — all before the snapshot instant. */
static cw_status fill_events(cw_store *st, const ev_names *en, cw_mx *m)
{
    int ne = m->spec.nevents;
    ev_fill f;
    memset(&f, 0, sizeof f);
    f.m = m;
    f.ne = ne;
    f.base = 2 * m->nmetrics + 2 * m->spec.ncustom;
    f.iau = cw_metric_index("active_users");
    if (f.iau >= m->nmetrics)
        f.iau = -1;
    f.nev = en->n;
    f.cur = -1;
    int64_t nacc = 0;
    for (int64_t r = 0; r < m->rows; r++)
        if (m->acc[r] + 1 > nacc)
            nacc = m->acc[r] + 1;
    f.nacc = nacc;
    f.sel = malloc((size_t)(en->n ? en->n : 1) * sizeof *f.sel);
    f.start = calloc((size_t)nacc + 2, sizeof *f.start);
    f.ord = malloc((size_t)(m->rows ? m->rows : 1) * sizeof *f.ord);
    int64_t *fill = malloc((size_t)(nacc ? nacc : 1) * sizeof *fill);
    cw_status rc = f.sel && f.start && f.ord && fill ? CW_OK : CW_ERR_NOMEM;
    for (int64_t e = 0; rc == CW_OK && e < en->n; e++) {
        f.sel[e] = -1;
        for (int k = 0; en->name[e] && k < ne; k++)
            if (strcmp(en->name[e], m->spec.events[k]) == 0)
                f.sel[e] = k;
    }
    if (rc == CW_OK) {
        /* rows by account (counting sort; each account's rows stay in day
         * order); rows without events: zero counts */
        for (int64_t r = 0; r < m->rows; r++)
            f.start[m->acc[r] + 1]++;
        for (int64_t a = 0; a < nacc; a++)
            f.start[a + 1] += f.start[a];
        memcpy(fill, f.start, (size_t)nacc * sizeof *fill);
        for (int64_t r = 0; r < m->rows; r++)
            f.ord[fill[m->acc[r]]++] = r;
        for (int64_t r = 0; r < m->rows; r++) {
            float *x = m->x + r * m->nf + f.base;
            double au = f.iau >= 0 ? m->x[r * m->nf + f.iau] : NAN;
            for (int e = 0; e < ne; e++) {
                x[CW_EVENT_FEATURES * e] = 0;
                x[CW_EVENT_FEATURES * e + 1] = au > 0 ? 0 : NAN;
                x[CW_EVENT_FEATURES * e + 2] = NAN;
            }
        }
        const cw_store_ops *ops = cw_store_get_ops(st);
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int64_t a = 0; a < nacc; a++)
            if (f.start[a] < f.start[a + 1]) {
                lo = a < lo ? a : lo;
                hi = a;
            }
        if (lo <= hi)
            rc = ops->scan_event_days(st, lo, hi, on_fill_day, &f);
        if (rc == CW_OK)
            ev_flush(&f);
    }
    free(fill);
    free(f.sel);
    free(f.start);
    free(f.ord);
    free(f.days);
    free(f.cum);
    return rc;
}

static cw_status spec_copy(const cw_mx_spec *from, cw_mx_spec *to)
{
    cw_status rc = CW_OK;
    for (int i = 0; rc == CW_OK && i < from->ncustom; i++)
        rc = spec_add(&to->custom, &to->ncustom, from->custom[i], strlen(from->custom[i]));
    for (int i = 0; rc == CW_OK && i < from->nevents; i++)
        rc = spec_add(&to->events, &to->nevents, from->events[i], strlen(from->events[i]));
    return rc;
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
    const cw_store_ops *ops = cw_store_get_ops(st);
    day_list days = {NULL, 0, 0};
    cw_status rc = ops->snapshot_list(st, INT64_MIN, INT64_MAX, on_snapshot, &days);
    int64_t last = days.n ? days.days[days.n - 1] : -1;
    int64_t lo = o->from_day ? o->from_day : INT64_MIN, hi = o->to_day ? o->to_day : INT64_MAX;
    m->data_end_declared = o->data_end_day != 0;
    m->data_end_day = o->data_end_day ? o->data_end_day : cw_subs_data_end_day(s);
    m->rows_design = o->rows_design == CW_ROWS_RENEWAL ? CW_ROWS_RENEWAL : CW_ROWS_WEEKLY;
    m->renewal_days = o->renewal_days > 0 ? o->renewal_days : 30;
    mx_ctx c = {m, s, o, st, last, NULL, 0, 0, NULL, 0, 0};
    ev_names en = {NULL, 0};
    if (rc == CW_OK && o->spec)
        rc = spec_copy(o->spec, &m->spec);
    if (rc == CW_OK)
        rc = load_catalogs(st, &days, lo, hi, !o->spec && !o->no_product_features, m, &c);
    if (rc == CW_OK && (o->spec ? o->spec->nevents > 0 : !o->no_product_features))
        rc = ops->load_ids(st, CW_KIND_EVENTS, on_event_name, &en);
    if (rc == CW_OK && !o->spec && !o->no_product_features) {
        int64_t first = lo;
        for (int k = 0; k < days.n; k++)
            if (days.days[k] >= lo) {
                first = days.days[k];
                break;
            }
        int64_t upto = hi < last ? hi : last;
        rc = discover_events(st, &en, first - 2 * EVENT_WINDOW_DAYS, upto - 1,
                             o->max_event_names > 0 ? o->max_event_names : EVENT_MAX_NAMES,
                             &m->spec);
    }
    m->nf = 2 * na + 2 * m->spec.ncustom + CW_EVENT_FEATURES * m->spec.nevents;
    if (rc == CW_OK && o->want_peers) {
        m->peers = malloc(sizeof *m->peers); /* marks "wanted"; grown with the rows */
        if (!m->peers)
            rc = cw_store_set_error(st, CW_ERR_NOMEM,
                                    "model: out of memory loading the snapshot matrix");
    }
    if (rc == CW_OK && m->rows_design == CW_ROWS_RENEWAL) {
        int k0 = 0, k1 = days.n; /* the snapshots in range */
        while (k0 < days.n && days.days[k0] < lo)
            k0++;
        while (k1 > k0 && days.days[k1 - 1] > hi)
            k1--;
        rc = renewal_plan(&c, days.days + k0, k1 - k0);
        if (rc != CW_OK)
            rc = cw_store_set_error(st, rc, "model: out of memory planning renewal rows");
    }
    if (rc == CW_OK)
        rc = ops->account_metrics_scan(st, lo, hi, 0, on_row, &c);
    if (rc == CW_OK && m->rows_design == CW_ROWS_RENEWAL) {
        m->renewals_nosnap = m->renewals_seen - m->rows;
        if (renewal_finish(m) != CW_OK)
            rc = cw_store_set_error(st, CW_ERR_NOMEM, "model: out of memory sorting renewal rows");
    }
    free(c.obs);
    if (rc == CW_OK && m->spec.nevents > 0)
        rc = fill_events(st, &en, m);
    ev_names_free(&en);
    for (int i = 0; i < c.ncats; i++)
        free(c.cats[i].pos);
    free(c.cats);
    free(days.days);
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
    free(m->snapday);
    free(m->renewal);
    cw_mx_spec_free(&m->spec);
    memset(m, 0, sizeof *m);
}

void cw_mx_keep(cw_mx *m, const unsigned char *keep)
{
    int64_t n = 0;
    for (int64_t r = 0; r < m->rows; r++) {
        if (!keep[r])
            continue;
        if (n != r) {
            memmove(m->x + n * m->nf, m->x + r * m->nf, (size_t)m->nf * sizeof *m->x);
            m->day[n] = m->day[r];
            m->acc[n] = m->acc[r];
            m->y[n] = m->y[r];
            if (m->peers)
                memmove(m->peers + n * m->nmetrics, m->peers + r * m->nmetrics,
                        (size_t)m->nmetrics * sizeof *m->peers);
            if (m->snapday)
                m->snapday[n] = m->snapday[r];
            if (m->renewal)
                m->renewal[n] = m->renewal[r];
        }
        n++;
    }
    m->rows = n;
}

static const char *const event_feature_suffix[CW_EVENT_FEATURES] = {"count_28d", "per_active_user",
                                                                    "change_pct"};

const char *cw_mx_feature_name(const cw_mx *m, int j, char *buf, size_t n)
{
    const cw_metric_info *cat;
    cw_metrics_catalog(&cat);
    int na = m->nmetrics, nc = m->spec.ncustom;
    if (j < na)
        return cat[j].name;
    if (j < 2 * na) {
        snprintf(buf, n, "%s.trend", cat[j - na].name);
        return buf;
    }
    j -= 2 * na;
    if (j < nc)
        return m->spec.custom[j];
    if (j < 2 * nc) {
        snprintf(buf, n, "%s.trend", m->spec.custom[j - nc]);
        return buf;
    }
    j -= 2 * nc;
    snprintf(buf, n, "event:%s.%s", m->spec.events[j / CW_EVENT_FEATURES],
             event_feature_suffix[j % CW_EVENT_FEATURES]);
    return buf;
}

int cw_mx_groups(const cw_mx *m)
{
    return m->nmetrics + m->spec.ncustom + m->spec.nevents;
}

int cw_mx_group(const cw_mx *m, int j)
{
    int na = m->nmetrics, nc = m->spec.ncustom;
    if (j < 2 * na)
        return j < na ? j : j - na;
    j -= 2 * na;
    if (j < 2 * nc)
        return na + (j < nc ? j : j - nc);
    return na + nc + (j - 2 * nc) / CW_EVENT_FEATURES;
}

int cw_mx_group_feature(const cw_mx *m, int g)
{
    int na = m->nmetrics, nc = m->spec.ncustom;
    if (g < na)
        return g;
    if (g < na + nc)
        return 2 * na + (g - na);
    return 2 * na + 2 * nc + CW_EVENT_FEATURES * (g - na - nc);
}

const char *cw_mx_group_name(const cw_mx *m, int g)
{
    const cw_metric_info *cat;
    cw_metrics_catalog(&cat);
    if (g < m->nmetrics)
        return cat[g].name;
    g -= m->nmetrics;
    if (g < m->spec.ncustom)
        return m->spec.custom[g];
    return m->spec.events[g - m->spec.ncustom];
}

const char *cw_mx_group_family(const cw_mx *m, int g)
{
    const cw_metric_info *cat;
    cw_metrics_catalog(&cat);
    if (g < m->nmetrics)
        return cat[g].family;
    return g < m->nmetrics + m->spec.ncustom ? "custom" : "events";
}
