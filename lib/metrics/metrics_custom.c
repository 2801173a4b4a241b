/*
 * metrics_custom.c — custom metrics from the configuration's [metric.NAME]
 * sections, evaluated with the same primitives as the built-ins: count or
 * sum of an event set in a window, distinct users doing it, its percent
 * change window over window, days since the last one, a ratio of two
 * metrics, and normalisation per active user or per seat.
 *
 * While the engine streams an account's event days, every cell whose event
 * belongs to a custom metric's set is appended to that metric's day-ordered
 * list with running totals; each snapshot then needs two binary searches
 * per metric (and a walk over the window for distinct users).
 */
#define _POSIX_C_SOURCE 200809L
#include "metrics/metrics_int.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cw_cm_rec {
    int64_t day, user;
    int64_t cum_n; /* running totals up to and including this record */
    double cum_v;
} cw_cm_rec;

typedef struct cw_cm_metric {
    const cw_custom_metric *def;
    unsigned char *member; /* by event id: 1 when in the set */
    int all;               /* events = * */
    int window;
    int num, den; /* ratio operands: vector indexes */
    cw_cm_rec *recs;
    int64_t n, cap;
} cw_cm_metric;

struct cw_cm_state {
    cw_cm_metric *m;
    int count;
    int64_t nev;
    int64_t *stamp; /* per local user: last snapshot marker, for distinct users */
    int64_t stamp_cap, marker;
};

/* Vector index of metric name: built-in account metric or an earlier custom one. */
static int vec_index(const cw_custom_metric *defs, int upto, const char *name)
{
    int b = cw_metric_index(name);
    if (b >= 0 && b < M__COUNT)
        return b;
    for (int i = 0; i < upto; i++)
        if (strcmp(defs[i].name, name) == 0)
            return M__COUNT + i;
    return -1;
}

cw_status cw_cm_init(cw_cm_state **out, const cw_custom_metric *defs, int n, cw_intern *event_ids,
                     int64_t nev, int default_window)
{
    *out = NULL;
    cw_cm_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return CW_ERR_NOMEM;
    cs->count = n;
    cs->nev = nev;
    cs->m = calloc((size_t)(n ? n : 1), sizeof *cs->m);
    if (!cs->m) {
        cw_cm_free(cs);
        return CW_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        cw_cm_metric *m = &cs->m[i];
        m->def = &defs[i];
        m->window = defs[i].window_days > 0 ? defs[i].window_days : default_window;
        if (defs[i].type == CW_CUSTOM_RATIO) {
            m->num = vec_index(defs, i, defs[i].numerator);
            m->den = vec_index(defs, i, defs[i].denominator);
            continue;
        }
        m->member = calloc((size_t)(nev ? nev : 1), 1);
        if (!m->member) {
            cw_cm_free(cs);
            return CW_ERR_NOMEM;
        }
        /* events: comma-separated names; unknown names match nothing yet */
        const char *p = defs[i].events;
        while (p && *p) {
            while (*p == ' ' || *p == ',')
                p++;
            const char *e = p;
            while (*e && *e != ',')
                e++;
            size_t len = (size_t)(e - p);
            while (len && p[len - 1] == ' ')
                len--;
            if (len == 1 && *p == '*')
                m->all = 1;
            else if (len) {
                int64_t id = cw_intern_get(event_ids, p, len);
                if (id >= 0 && id < nev)
                    m->member[id] = 1;
            }
            p = e;
        }
    }
    *out = cs;
    return CW_OK;
}

void cw_cm_free(cw_cm_state *cs)
{
    if (!cs)
        return;
    for (int i = 0; cs->m && i < cs->count; i++) {
        free(cs->m[i].member);
        free(cs->m[i].recs);
    }
    free(cs->m);
    free(cs->stamp);
    free(cs);
}

void cw_cm_account_reset(cw_cm_state *cs)
{
    for (int i = 0; i < cs->count; i++)
        cs->m[i].n = 0;
}

cw_status cw_cm_add_cell(cw_cm_state *cs, int64_t day, int64_t user, int64_t event, int64_t n,
                         double vsum)
{
    for (int i = 0; i < cs->count; i++) {
        cw_cm_metric *m = &cs->m[i];
        if (!m->member || !(m->all || (event >= 0 && event < cs->nev && m->member[event])))
            continue;
        if (m->n == m->cap) {
            int64_t cap = m->cap ? m->cap * 2 : 256;
            cw_cm_rec *r = realloc(m->recs, sizeof *r * (size_t)cap);
            if (!r)
                return CW_ERR_NOMEM;
            m->recs = r;
            m->cap = cap;
        }
        const cw_cm_rec *prev = m->n ? &m->recs[m->n - 1] : NULL;
        m->recs[m->n++] =
            (cw_cm_rec){day, user, (prev ? prev->cum_n : 0) + n, (prev ? prev->cum_v : 0) + vsum};
    }
    return CW_OK;
}

/* First record with day >= d. */
static int64_t lower(const cw_cm_metric *m, int64_t d)
{
    int64_t lo = 0, hi = m->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (m->recs[mid].day < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int64_t cum_n(const cw_cm_metric *m, int64_t i)
{
    return i ? m->recs[i - 1].cum_n : 0;
}
static double cum_v(const cw_cm_metric *m, int64_t i)
{
    return i ? m->recs[i - 1].cum_v : 0;
}

cw_status cw_cm_compute(cw_cm_state *cs, int64_t D, int64_t nusers, double *vals)
{
    for (int i = 0; i < cs->count; i++) {
        cw_cm_metric *m = &cs->m[i];
        double *out = &vals[M__COUNT + i];
        const cw_custom_metric *d = m->def;
        if (d->type == CW_CUSTOM_RATIO) {
            double a = m->num >= 0 ? vals[m->num] : NAN, b = m->den >= 0 ? vals[m->den] : NAN;
            *out = b != 0 && !isnan(a) && !isnan(b) ? a / b : NAN;
        } else {
            int64_t hi = lower(m, D), lo = lower(m, D - m->window);
            switch (d->type) {
            case CW_CUSTOM_COUNT: *out = (double)(cum_n(m, hi) - cum_n(m, lo)); break;
            case CW_CUSTOM_SUM: *out = cum_v(m, hi) - cum_v(m, lo); break;
            case CW_CUSTOM_PCT_CHANGE: {
                int64_t plo = lower(m, D - 2 * m->window);
                double cur = (double)(cum_n(m, hi) - cum_n(m, lo));
                double prev = (double)(cum_n(m, lo) - cum_n(m, plo));
                *out = prev > 0 ? (cur - prev) / prev * 100.0 : NAN;
                break;
            }
            case CW_CUSTOM_DAYS_SINCE:
                *out = hi > 0 ? (double)(D - m->recs[hi - 1].day) : NAN;
                break;
            case CW_CUSTOM_DISTINCT_USERS: {
                if (nusers + 1 > cs->stamp_cap) {
                    int64_t *p = realloc(cs->stamp, sizeof *p * (size_t)(nusers + 1) * 2);
                    if (!p)
                        return CW_ERR_NOMEM;
                    memset(p, 0, sizeof *p * (size_t)(nusers + 1) * 2);
                    cs->stamp = p;
                    cs->stamp_cap = (nusers + 1) * 2;
                    cs->marker = 0;
                }
                cs->marker++;
                int64_t k = 0;
                for (int64_t r = lo; r < hi; r++) {
                    int64_t u = m->recs[r].user;
                    if (u < 0 || u >= nusers || cs->stamp[u] == cs->marker)
                        continue;
                    cs->stamp[u] = cs->marker;
                    k++;
                }
                *out = (double)k;
                break;
            }
            default: *out = NAN;
            }
        }
        if (d->per == CW_PER_ACTIVE_USER)
            *out = vals[M_ACTIVE_USERS] > 0 ? *out / vals[M_ACTIVE_USERS] : NAN;
        else if (d->per == CW_PER_SEAT)
            *out = vals[M_SEATS] > 0 ? *out / vals[M_SEATS] : NAN;
    }
    return CW_OK;
}
