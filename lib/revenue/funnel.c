/*
 * funnel.c — the See-Think-Do-Care journey funnel: visitors grouped by the
 * month and source of their first visit, counted per stage reached, with
 * conversion rates and acquisition costs (cost per lead, per paying
 * customer) from the journey rows' costs in one currency.
 * docs/revenue-reasons.md defines every figure.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct visitor {
    char *id, *source;
    int month;        /* month of the first visit, else of the first row */
    int64_t first_ts; /* of that row */
    int has_visit;
    unsigned stages; /* bit per stage */
    int64_t cost_minor, cost_rows;
} visitor;

typedef struct funnel_ctx {
    cw_store *st;
    visitor *v;
    int64_t n, cap;
    char currency[4];
    char *cur_visitor;
    int64_t cur_ts;
    int ovf;
} funnel_ctx;

static cw_status on_journey(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    funnel_ctx *f = ud;
    /* journey: 0 visitor_id, 1 stage, 2 at, 3 source, 5 cost_minor, 6 currency */
    visitor *x = f->n ? &f->v[f->n - 1] : NULL;
    /* Rows arrive in natural-key order, so a visitor's rows are adjacent. */
    if (!x || strlen(x->id) != v[0].len || memcmp(x->id, v[0].s, v[0].len) != 0) {
        if (f->n == f->cap) {
            int64_t n = f->cap ? f->cap * 2 : 256;
            visitor *g = realloc(f->v, (size_t)n * sizeof *g);
            if (!g)
                return CW_ERR_NOMEM;
            f->v = g;
            f->cap = n;
        }
        x = &f->v[f->n++];
        memset(x, 0, sizeof *x);
        if (!(x->id = cw_strndup(v[0].s, v[0].len)))
            return CW_ERR_NOMEM;
        x->first_ts = INT64_MAX;
    }
    int stage = (int)v[1].i;
    if (stage < 0 || stage >= CW_STAGE__COUNT)
        return CW_OK;
    x->stages |= 1u << stage;
    int is_visit = stage == CW_STAGE_VISIT;
    /* The group is set by the first visit; before any visit, by the first row. */
    if ((is_visit && (!x->has_visit || v[2].i < x->first_ts)) ||
        (!x->has_visit && !is_visit && v[2].i < x->first_ts)) {
        x->first_ts = v[2].i;
        x->month = cw_month_of(v[2].i);
        free(x->source);
        x->source = cw_strndup(v[3].present && v[3].len ? v[3].s : "(none)",
                               v[3].present && v[3].len ? v[3].len : 6);
        if (!x->source)
            return CW_ERR_NOMEM;
        x->has_visit |= is_visit;
    }
    if (v[5].present) {
        char t[32];
        if (!v[6].present || v[6].len != 3)
            return cw_store_set_error(
                f->st, CW_ERR_INPUT, "funnel: visitor '%s' has a cost at %s without a currency",
                x->id, cw_time_format(v[2].i, CW_TIME_TIMESTAMP, t, sizeof t));
        if (!f->currency[0]) {
            memcpy(f->currency, v[6].s, 3);
            free(f->cur_visitor);
            if (!(f->cur_visitor = cw_strndup(x->id, strlen(x->id))))
                return cw_store_set_error(f->st, CW_ERR_NOMEM,
                                          "funnel: out of memory loading journeys");
            f->cur_ts = v[2].i;
        } else if (memcmp(f->currency, v[6].s, 3) != 0) {
            char t2[32];
            return cw_store_set_error(
                f->st, CW_ERR_INPUT,
                "funnel: journey costs use more than one currency (%s for visitor '%s' at %s, "
                "%.3s for visitor '%s' at %s); conversion is not supported yet",
                f->currency, f->cur_visitor,
                cw_time_format(f->cur_ts, CW_TIME_TIMESTAMP, t, sizeof t), v[6].s, x->id,
                cw_time_format(v[2].i, CW_TIME_TIMESTAMP, t2, sizeof t2));
        }
        f->ovf |= __builtin_add_overflow(x->cost_minor, v[5].i, &x->cost_minor);
        x->cost_rows++;
    }
    return CW_OK;
}

static int add_visitor(cw_funnel_row *r, const visitor *x)
{
    for (int s = 0; s < CW_STAGE__COUNT; s++)
        if (x->stages & (1u << s))
            r->visitors[s]++;
    r->cost_rows += x->cost_rows;
    return __builtin_add_overflow(r->cost_minor, x->cost_minor, &r->cost_minor);
}

static void finish_row(cw_funnel_row *r)
{
    r->visit_to_registration_pct =
        cw_pct(r->visitors[CW_STAGE_REGISTRATION], r->visitors[CW_STAGE_VISIT]);
    r->registration_to_paid_pct =
        cw_pct(r->visitors[CW_STAGE_PAID], r->visitors[CW_STAGE_REGISTRATION]);
    r->paid_to_upgrade_pct = cw_pct(r->visitors[CW_STAGE_UPGRADE], r->visitors[CW_STAGE_PAID]);
    int costed = r->cost_rows > 0;
    r->cost_per_lead_minor = costed && r->visitors[CW_STAGE_LEAD]
                                 ? (double)r->cost_minor / (double)r->visitors[CW_STAGE_LEAD]
                                 : (double)NAN;
    r->acquisition_cost_minor = costed && r->visitors[CW_STAGE_PAID]
                                    ? (double)r->cost_minor / (double)r->visitors[CW_STAGE_PAID]
                                    : (double)NAN;
}

static int cmp_visitor_source(const void *a, const void *b)
{
    return strcmp(((const visitor *)a)->source, ((const visitor *)b)->source);
}

void cw_funnel_opts_init(cw_funnel_opts *o)
{
    o->from_month = o->to_month = -1;
}

cw_status cw_funnel_compute(cw_store *st, const cw_funnel_opts *o, cw_funnel_report **out)
{
    cw_store_enter(st, "funnel");
    *out = NULL;
    cw_funnel_opts def;
    if (!o) {
        cw_funnel_opts_init(&def);
        o = &def;
    }
    funnel_ctx f;
    memset(&f, 0, sizeof f);
    f.st = st;
    cw_funnel_report *r = NULL;
    cw_status s = cw_store_get_ops(st)->scan_rows(st, CW_KIND_JOURNEY, on_journey, &f);
    if (s != CW_OK)
        goto done;
    /* Keep the visitors whose group month is in range. */
    int64_t k = 0;
    for (int64_t i = 0; i < f.n; i++) {
        visitor *x = &f.v[i];
        if ((o->from_month >= 0 && x->month < o->from_month) ||
            (o->to_month >= 0 && x->month > o->to_month) || !x->source) {
            free(x->id);
            free(x->source);
            continue;
        }
        f.v[k++] = *x;
    }
    f.n = k;
    if (f.n == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "funnel: no journey rows in range");
        goto done;
    }
    if (f.ovf) {
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "funnel: costs overflow 64 bits");
        goto done;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "funnel: out of memory");
        goto done;
    }
    memcpy(r->currency, f.currency, sizeof r->currency);
    int m0 = INT32_MAX, m1 = INT32_MIN;
    for (int64_t i = 0; i < f.n; i++) {
        m0 = f.v[i].month < m0 ? f.v[i].month : m0;
        m1 = f.v[i].month > m1 ? f.v[i].month : m1;
    }
    if (m1 - m0 >= 12 * 200) {
        s = cw_store_set_error(st, CW_ERR_USAGE, "funnel: range longer than 200 years");
        goto done;
    }
    r->nmonths = m1 - m0 + 1;
    r->months = calloc((size_t)r->nmonths, sizeof *r->months);
    r->sources = calloc((size_t)f.n, sizeof *r->sources);
    if (!r->months || !r->sources || !(r->total.key = cw_strndup("all", 3))) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "funnel: out of memory");
        goto done;
    }
    int ovf = 0;
    for (int i = 0; i < r->nmonths; i++) {
        int m = m0 + i;
        if (!(r->months[i].key = cw_strdupf("%04d-%02d", m / 12, m % 12 + 1))) {
            s = cw_store_set_error(st, CW_ERR_NOMEM, "funnel: out of memory");
            goto done;
        }
    }
    qsort(f.v, (size_t)f.n, sizeof *f.v, cmp_visitor_source);
    for (int64_t i = 0; i < f.n; i++) {
        const visitor *x = &f.v[i];
        if (!r->nsources || strcmp(r->sources[r->nsources - 1].key, x->source) != 0) {
            if (!(r->sources[r->nsources].key = cw_strndup(x->source, strlen(x->source)))) {
                s = cw_store_set_error(st, CW_ERR_NOMEM, "funnel: out of memory");
                goto done;
            }
            r->nsources++;
        }
        ovf |= add_visitor(&r->sources[r->nsources - 1], x);
        ovf |= add_visitor(&r->months[x->month - m0], x);
        ovf |= add_visitor(&r->total, x);
    }
    if (ovf) {
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "funnel: costs overflow 64 bits");
        goto done;
    }
    finish_row(&r->total);
    for (int i = 0; i < r->nsources; i++)
        finish_row(&r->sources[i]);
    for (int i = 0; i < r->nmonths; i++)
        finish_row(&r->months[i]);
done:
    if (s != CW_OK) {
        cw_funnel_free(r);
        r = NULL;
    }
    *out = r;
    for (int64_t i = 0; i < f.n; i++) {
        free(f.v[i].id);
        free(f.v[i].source);
    }
    free(f.v);
    free(f.cur_visitor);
    return s;
}

void cw_funnel_free(cw_funnel_report *r)
{
    if (!r)
        return;
    free(r->total.key);
    for (int i = 0; i < r->nsources; i++)
        free(r->sources[i].key);
    for (int i = 0; i < r->nmonths; i++)
        free(r->months[i].key);
    free(r->sources);
    free(r->months);
    free(r);
}
