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

cw_status cw_model_predict(cw_store *st, const cw_predict_opts *o, cw_predictions **out)
{
    *out = NULL;
    int64_t id;
    char *name, *kind, *meta;
    void *body;
    size_t blen;
    cw_status rc = cw_store_model_load(st, o->model_id, &id, &name, &kind, &meta, &body, &blen);
    if (rc != CW_OK)
        return rc;
    cw_model *md = NULL;
    cw_error err = {CW_OK, ""};
    rc = cw_model_deserialise(kind, meta, body, blen, &md, &err);
    int64_t tested_to = -1;
    int horizon = 0;
    json_t *mj = meta ? json_loads(meta, 0, NULL) : NULL;
    const char *tt = json_string_value(json_object_get(json_object_get(mj, "windows"), "test_to"));
    int64_t t;
    if (tt && cw_time_parse(tt, strlen(tt), 1, &t, NULL) == CW_OK)
        tested_to = t / DAY_SECONDS;
    horizon = (int)json_integer_value(json_object_get(mj, "horizon_days"));
    json_decref(mj);
    free(kind);
    free(meta);
    free(body);
    if (rc != CW_OK) {
        free(name);
        return cw_store_set_error(st, rc, "%s", err.msg[0] ? err.msg : "model: cannot load");
    }
    const cw_store_ops *ops = cw_store_get_ops(st);
    int64_t day = o->day;
    if (!day) {
        day = -1;
        rc = ops->snapshot_list(st, INT64_MIN, INT64_MAX, on_last, &day);
        if (rc == CW_OK && day < 0)
            rc = cw_store_set_error(st, CW_ERR_NOTFOUND,
                                    "no metric snapshot stored: run `churnwatch metrics` first");
    } else {
        int ex = 0;
        rc = ops->snapshot_exists(st, day, &ex);
        if (rc == CW_OK && !ex) {
            char b[32];
            rc = cw_store_set_error(st, CW_ERR_NOTFOUND, "no metric snapshot on %s",
                                    cw_time_format(day * DAY_SECONDS, 1, b, sizeof b));
        }
    }
    cw_subs subs;
    cw_mx m;
    memset(&subs, 0, sizeof subs);
    memset(&m, 0, sizeof m);
    if (rc == CW_OK)
        rc = cw_subs_load(st, &subs);
    cw_mx_opts mo = {day, day, 90, 0, 0, 1};
    if (rc == CW_OK)
        rc = cw_mx_load(st, &subs, &mo, &m);
    cw_predictions *res = calloc(1, sizeof *res);
    int64_t n = m.rows;
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    double *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    double *c = malloc((size_t)(n ? n : 1) * (size_t)(m.nf + 1) * sizeof *c);
    cw_driver_rank *scratch = malloc((size_t)(m.nmetrics ? m.nmetrics : 1) * sizeof *scratch);
    double *fam_sum = malloc((size_t)(m.nmetrics ? 2 * m.nmetrics : 1) * sizeof *fam_sum);
    if (rc == CW_OK && (!res || !idx || !p || !c || !scratch || !fam_sum))
        rc = cw_store_set_error(st, CW_ERR_NOMEM, "predict: out of memory");
    if (rc == CW_OK) {
        res->rows = calloc((size_t)(n ? n : 1), sizeof *res->rows);
        if (!res->rows)
            rc = cw_store_set_error(st, CW_ERR_NOMEM, "predict: out of memory");
    }
    for (int64_t i = 0; rc == CW_OK && i < n; i++)
        idx[i] = i;
    if (rc == CW_OK)
        rc = cw_model_prob(md, &m, idx, n, p, &err);
    if (rc == CW_OK)
        rc = cw_model_contribs(md, &m, idx, n, c, &err);
    if (rc != CW_OK && err.status != CW_OK) /* the model's failure: move its message */
        cw_store_set_error(st, rc, "%s", cw_error_why(&err));
    double green = o->green_below > 0 ? o->green_below : 0.25;
    int ndrv = o->drivers > 0 ? o->drivers : 3;
    int txn = 0;
    if (rc == CW_OK && (rc = ops->begin(st)) == CW_OK)
        txn = 1;
    if (rc == CW_OK)
        rc = cw_store_predictions_clear(st, day, id);
    /* What would turn each flagged account green: the value of the first
     * driver raising its risk (cw_order_drivers), all rows in one batch. */
    int64_t *grow_ = malloc((size_t)(n ? n : 1) * sizeof *grow_);
    int *gfeat = malloc((size_t)(n ? n : 1) * sizeof *gfeat);
    int *gfound = calloc((size_t)(n ? n : 1), sizeof *gfound);
    double *gval = calloc((size_t)(n ? n : 1), sizeof *gval);
    int *best = malloc((size_t)(n ? n : 1) * sizeof *best);
    int64_t *gpos = malloc((size_t)(n ? n : 1) * sizeof *gpos);
    int64_t ng = 0;
    if (rc == CW_OK && (!grow_ || !gfeat || !gfound || !gval || !best || !gpos))
        rc = cw_store_set_error(st, CW_ERR_NOMEM, "predict: out of memory");
    for (int64_t i = 0; rc == CW_OK && i < n; i++) {
        const double *ci = c + i * (m.nf + 1);
        best[i] = -1;
        gpos[i] = -1;
        if (p[i] < green)
            continue;
        cw_order_drivers(ci, m.nmetrics, scratch, fam_sum);
        if (fam_sum[scratch[0].k] > 0)
            best[i] = scratch[0].k;
        if (best[i] >= 0) {
            gpos[i] = ng;
            grow_[ng] = i;
            gfeat[ng++] = best[i];
        }
    }
    if (rc == CW_OK && ng &&
        (rc = cw_model_to_green_many(md, &m, grow_, gfeat, ng, green, gfound, gval, &err)) != CW_OK)
        cw_store_set_error(st, rc, "%s", cw_error_why(&err));
    for (int64_t i = 0; rc == CW_OK && i < n; i++) {
        cw_prediction *pr = &res->rows[res->n++];
        pr->account = m.acc[i];
        pr->probability = p[i];
        const char *ext = m.acc[i] < subs.nacc && subs.ext[m.acc[i]] ? subs.ext[m.acc[i]] : "?";
        snprintf(pr->account_id, sizeof pr->account_id, "%s", ext);
        int64_t gi = gpos[i];
        pr->drivers_json =
            cw_model_explain_row(&m, i, c + i * (m.nf + 1), p[i], green, ndrv, scratch, fam_sum,
                                 best[i], gi >= 0 ? gfound[gi] : 0, gi >= 0 ? gval[gi] : 0);
        if (!pr->drivers_json)
            rc = cw_store_set_error(st, CW_ERR_NOMEM, "predict: out of memory");
    }
    if (rc == CW_OK)
        rc = cw_store_predictions_put(st, day, id, res->n, res->rows);
    if (rc == CW_OK)
        rc = ops->commit(st);
    else if (txn)
        ops->rollback(st);
    free(grow_);
    free(gfeat);
    free(gfound);
    free(gval);
    free(best);
    free(gpos);
    free(idx);
    free(p);
    free(c);
    free(scratch);
    free(fam_sum);
    cw_mx_free(&m);
    cw_subs_free(&subs);
    cw_model_free(md);
    if (rc != CW_OK) {
        free(name);
        cw_predictions_free(res);
        return rc;
    }
    qsort(res->rows, (size_t)res->n, sizeof *res->rows, pred_desc);
    res->day = day;
    res->model_id = id;
    res->tested_to = tested_to;
    res->horizon_days = horizon;
    snprintf(res->model_name, sizeof res->model_name, "%s", name);
    free(name);
    *out = res;
    return CW_OK;
}
