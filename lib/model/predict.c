/*
 * predict.c — `churnwatch predict`: scores one metric snapshot with a stored
 * model, in one batch, explains each score (model_explain.c) and stores the
 * predictions with their drivers in one transaction. docs/model.md.
 */
#include "model/model_int.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cw_model_is_stale(const cw_predictions *p)
{
    return p && p->tested_to >= 0 && p->day - p->tested_to > p->horizon_days + 180;
}

void cw_predictions_free(cw_predictions *p)
{
    if (!p)
        return;
    for (int64_t i = 0; i < p->n; i++)
        free(p->rows[i].drivers_json);
    free(p->rows);
    free(p);
}

static int pred_desc(const void *a, const void *b)
{
    const cw_prediction *x = a, *y = b;
    if (x->probability != y->probability)
        return x->probability < y->probability ? 1 : -1;
    return (x->account > y->account) - (x->account < y->account);
}

static cw_status on_last(int64_t day, void *ud)
{
    *(int64_t *)ud = day;
    return CW_OK;
}

/* What the stages of cw_model_predict share. */
typedef struct predict_ctx {
    cw_store *st;
    cw_model *md;
    int64_t id;        /* the model's id */
    char *name;        /* its name */
    int64_t tested_to; /* the last day of its test window, -1 unknown */
    int horizon;       /* its label horizon (days) */
    int rows_design;   /* its row design; renewal: scores accounts renewing soon */
    int renewal_days;
    int64_t not_due; /* renewal model: active accounts whose renewal is not due */
    int64_t day;     /* the snapshot scored */
    cw_subs subs;
    cw_mx m;   /* the snapshot's rows */
    double *p; /* each row's probability */
    double *c; /* each row's contributions, m.nf + 1 per row */
    cw_driver_rank *scratch;
    double *fam_sum;
    double green;  /* probability under which an account is green */
    int *best;     /* each flagged row's first risk-raising feature, -1 none */
    int64_t *gpos; /* its index in the to-green batch, -1 none */
    int *gfound;   /* per batch entry: a value turning it green was found */
    double *gval;  /* and that value */
} predict_ctx;

/* Loads the model (o->model_id, 0 = the active one) and its test window
 * and horizon from the metadata. */
static cw_status predict_load_model(predict_ctx *P, int64_t model_id)
{
    char *kind, *meta;
    cw_error err = {CW_OK, ""};
    void *body;
    size_t blen;
    cw_status rc =
        cw_store_model_load(P->st, model_id, &P->id, &P->name, &kind, &meta, &body, &blen);
    if (rc != CW_OK)
        return rc;
    rc = cw_model_deserialise(kind, meta, body, blen, &P->md, &err);
    json_t *mj = meta ? json_loads(meta, 0, NULL) : NULL;
    const char *tt = json_string_value(json_object_get(json_object_get(mj, "windows"), "test_to"));
    int64_t t;
    if (tt && cw_time_parse(tt, strlen(tt), CW_TIME_NAIVE_UTC, &t, NULL) == CW_OK)
        P->tested_to = t / DAY_SECONDS;
    P->horizon = (int)json_integer_value(json_object_get(mj, "horizon_days"));
    json_t *rw = json_object_get(mj, "rows");
    const char *design = json_string_value(json_object_get(rw, "design"));
    if (design && !strcmp(design, "renewal")) {
        P->rows_design = CW_ROWS_RENEWAL;
        P->renewal_days = (int)json_integer_value(json_object_get(rw, "days_before"));
        if (P->renewal_days <= 0)
            P->renewal_days = 30;
    }
    json_decref(mj);
    free(kind);
    free(meta);
    free(body);
    if (rc != CW_OK) {
        rc = cw_store_set_error(P->st, rc, "%s", err.msg[0] ? err.msg : "model: cannot load");
    }
    return rc;
}

/* The snapshot day to score: day, or the latest stored when 0; an error
 * when there is none. */
static cw_status predict_day(predict_ctx *P, int64_t day)
{
    const cw_store_ops *ops = cw_store_get_ops(P->st);
    cw_status rc;
    if (!day) {
        day = -1;
        rc = ops->snapshot_list(P->st, INT64_MIN, INT64_MAX, on_last, &day);
        if (rc == CW_OK && day < 0)
            rc = cw_store_set_error(P->st, CW_ERR_NOTFOUND,
                                    "no metric snapshot stored: run `churnwatch metrics` first");
    } else {
        int ex = 0;
        rc = ops->snapshot_exists(P->st, day, &ex);
        if (rc == CW_OK && !ex) {
            char b[32];
            rc = cw_store_set_error(P->st, CW_ERR_NOTFOUND, "no metric snapshot on %s",
                                    cw_time_format(day * DAY_SECONDS, CW_TIME_DATE, b, sizeof b));
        }
    }
    P->day = day;
    return rc;
}

/* A renewal model learnt from accounts observed renewal_days before a
 * renewal: it scores the accounts whose next renewal falls in
 * (day, day + renewal_days] and passes over the others (counted). */
static cw_status predict_renewal_filter(predict_ctx *P)
{
    cw_mx *m = &P->m;
    int64_t D = P->day, N = P->renewal_days;
    unsigned char *keep = malloc((size_t)(m->rows ? m->rows : 1));
    int64_t cap = 512;
    int64_t *o = malloc((size_t)cap * sizeof *o), *r = malloc((size_t)cap * sizeof *r);
    if (!keep || !o || !r) {
        free(keep);
        free(o);
        free(r);
        return cw_store_set_error(P->st, CW_ERR_NOMEM, "predict: out of memory");
    }
    for (int64_t i = 0; i < m->rows; i++) {
        /* renewals observed up to D + N: R - N <= O <= D + N */
        int64_t k = cw_renewals_of(&P->subs, m->acc[i], (int)N, D - 2 * N - 400, D + N, o, r, cap);
        keep[i] = 0;
        for (int64_t j = 0; j < k && j < cap; j++)
            if (r[j] > D && r[j] <= D + N)
                keep[i] = 1;
        P->not_due += !keep[i];
    }
    cw_mx_keep(m, keep);
    free(keep);
    free(o);
    free(r);
    return CW_OK;
}

/* What would turn each flagged account green: the value of the first
 * driver raising its risk (cw_order_groups), all rows in one batch. */
static cw_status predict_to_green(predict_ctx *P)
{
    const cw_mx *m = &P->m;
    const int64_t n = m->rows;
    int64_t *grow_ = malloc((size_t)(n ? n : 1) * sizeof *grow_);
    int *gfeat = malloc((size_t)(n ? n : 1) * sizeof *gfeat);
    P->gfound = calloc((size_t)(n ? n : 1), sizeof *P->gfound);
    P->gval = calloc((size_t)(n ? n : 1), sizeof *P->gval);
    P->best = malloc((size_t)(n ? n : 1) * sizeof *P->best);
    P->gpos = malloc((size_t)(n ? n : 1) * sizeof *P->gpos);
    int64_t ng = 0;
    cw_status rc = CW_OK;
    if (!grow_ || !gfeat || !P->gfound || !P->gval || !P->best || !P->gpos)
        rc = cw_store_set_error(P->st, CW_ERR_NOMEM, "predict: out of memory");
    for (int64_t i = 0; rc == CW_OK && i < n; i++) {
        const double *ci = P->c + i * (m->nf + 1);
        P->best[i] = -1;
        P->gpos[i] = -1;
        if (P->p[i] < P->green)
            continue;
        cw_order_groups(m, ci, P->scratch, P->fam_sum);
        if (P->fam_sum[P->scratch[0].k] > 0)
            P->best[i] = cw_mx_group_feature(m, P->scratch[0].k);
        if (P->best[i] >= 0) {
            P->gpos[i] = ng;
            grow_[ng] = i;
            gfeat[ng++] = P->best[i];
        }
    }
    cw_error err = {CW_OK, ""};
    if (rc == CW_OK && ng &&
        (rc = cw_model_to_green_many(P->md, m, grow_, gfeat, ng, P->green, P->gfound, P->gval,
                                     &err)) != CW_OK)
        cw_store_set_error(P->st, rc, "%s", cw_error_why(&err));
    free(grow_);
    free(gfeat);
    return rc;
}

/* One prediction per row, with its drivers explained (ndrv per direction). */
static cw_status predict_rows(predict_ctx *P, cw_predictions *res, int ndrv)
{
    const cw_mx *m = &P->m;
    for (int64_t i = 0; i < m->rows; i++) {
        cw_prediction *pr = &res->rows[res->n++];
        pr->account = m->acc[i];
        pr->probability = P->p[i];
        const char *ext =
            m->acc[i] < P->subs.nacc && P->subs.ext[m->acc[i]] ? P->subs.ext[m->acc[i]] : "?";
        snprintf(pr->account_id, sizeof pr->account_id, "%s", ext);
        int64_t gi = P->gpos[i];
        pr->drivers_json = cw_model_explain_row(
            m, i, P->c + i * (m->nf + 1), P->p[i], P->green, ndrv, P->scratch, P->fam_sum,
            P->best[i], gi >= 0 ? P->gfound[gi] : 0, gi >= 0 ? P->gval[gi] : 0);
        if (!pr->drivers_json)
            return cw_store_set_error(P->st, CW_ERR_NOMEM, "predict: out of memory");
    }
    return CW_OK;
}

cw_status cw_model_predict(cw_store *st, const cw_predict_opts *o, cw_predictions **out)
{
    cw_store_enter(st, "predict");
    *out = NULL;
    predict_ctx P;
    memset(&P, 0, sizeof P);
    P.st = st;
    P.tested_to = -1;
    cw_status rc = predict_load_model(&P, o->model_id);
    if (rc != CW_OK) {
        free(P.name);
        return rc;
    }
    const cw_store_ops *ops = cw_store_get_ops(st);
    rc = predict_day(&P, o->day);
    if (rc == CW_OK)
        rc = cw_subs_load(st, &P.subs);
    cw_mx_opts mo = {.from_day = P.day,
                     .to_day = P.day,
                     .horizon_days = 90,
                     .want_peers = 1,
                     .spec = P.md ? &P.md->spec : NULL, /* the columns the model was trained on */
                     .no_product_features = 1};
    if (rc == CW_OK)
        rc = cw_mx_load(st, &P.subs, &mo, &P.m);
    if (rc == CW_OK && P.rows_design == CW_ROWS_RENEWAL)
        rc = predict_renewal_filter(&P);
    const cw_mx *m = &P.m;
    cw_predictions *res = calloc(1, sizeof *res);
    int64_t n = m->rows;
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    P.p = malloc((size_t)(n ? n : 1) * sizeof *P.p);
    P.c = malloc((size_t)(n ? n : 1) * (size_t)(m->nf + 1) * sizeof *P.c);
    int ngroups = cw_mx_groups(m);
    P.scratch = malloc((size_t)(ngroups ? ngroups : 1) * sizeof *P.scratch);
    P.fam_sum = malloc((size_t)(ngroups ? 2 * ngroups : 1) * sizeof *P.fam_sum);
    if (rc == CW_OK && (!res || !idx || !P.p || !P.c || !P.scratch || !P.fam_sum))
        rc = cw_store_set_error(st, CW_ERR_NOMEM, "predict: out of memory");
    if (rc == CW_OK) {
        res->rows = calloc((size_t)(n ? n : 1), sizeof *res->rows);
        if (!res->rows)
            rc = cw_store_set_error(st, CW_ERR_NOMEM, "predict: out of memory");
    }
    for (int64_t i = 0; idx && i < n; i++)
        idx[i] = i;
    cw_error err = {CW_OK, ""};
    if (rc == CW_OK)
        rc = cw_model_prob(P.md, m, idx, n, P.p, &err);
    if (rc == CW_OK)
        rc = cw_model_contribs(P.md, m, idx, n, P.c, &err);
    if (rc != CW_OK && err.status != CW_OK) /* the model's failure: move its message */
        cw_store_set_error(st, rc, "%s", cw_error_why(&err));
    free(idx);
    P.green = o->green_below > 0 ? o->green_below : 0.25;
    int txn = 0;
    if (rc == CW_OK && (rc = ops->begin(st)) == CW_OK)
        txn = 1;
    if (rc == CW_OK)
        rc = cw_store_predictions_clear(st, P.day, P.id);
    if (rc == CW_OK)
        rc = predict_to_green(&P);
    if (rc == CW_OK)
        rc = predict_rows(&P, res, o->drivers > 0 ? o->drivers : 3);
    if (rc == CW_OK)
        rc = cw_store_predictions_put(st, P.day, P.id, res->n, res->rows);
    if (rc == CW_OK)
        rc = ops->commit(st);
    else if (txn)
        ops->rollback(st);
    free(P.gfound);
    free(P.gval);
    free(P.best);
    free(P.gpos);
    free(P.p);
    free(P.c);
    free(P.scratch);
    free(P.fam_sum);
    cw_mx_free(&P.m);
    cw_subs_free(&P.subs);
    cw_model_free(P.md);
    if (rc != CW_OK) {
        free(P.name);
        cw_predictions_free(res);
        return rc;
    }
    qsort(res->rows, (size_t)res->n, sizeof *res->rows, pred_desc);
    res->day = P.day;
    res->model_id = P.id;
    res->tested_to = P.tested_to;
    res->horizon_days = P.horizon;
    res->rows_design = P.rows_design;
    res->renewal_days = P.renewal_days;
    res->not_due = P.not_due;
    snprintf(res->model_name, sizeof res->model_name, "%s", P.name);
    free(P.name);
    *out = res;
    return CW_OK;
}
