/*
 * store/sql/store_model.c — the churn model's tables over the statement seam
 * (store/sql.h), for either backend: models, predictions, backtests, and
 * reading the scorecard's scores for the backtest. Parameterised statements
 * only; callers own the transaction.
 */
#include "model/model_int.h"
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

cw_status cw_store_model_save(cw_store *st, const char *name, cw_model_kind kind, const char *meta,
                              const void *body, size_t body_len, int activate, int64_t now,
                              int64_t *id)
{
    cw_stmt *q = NULL;
    if (activate && cw_sql_exec(st, "UPDATE models SET active = 0 WHERE active = 1") != CW_SQL_OK)
        return cw_sql_fail(st, "models");
    cw_status s = cw_sql_prep(st,
                              "INSERT INTO models(name, kind, created_at, active, meta, body)"
                              " VALUES(?,?,?,?,?,?) RETURNING id",
                              0, &q, "models");
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(q, 1, name, -1);
    cw_sql_bind_text(q, 2, cw_model_kind_name(kind), -1);
    cw_sql_bind_i64(q, 3, now);
    cw_sql_bind_i64(q, 4, activate ? 1 : 0);
    cw_sql_bind_text(q, 5, meta, -1);
    cw_sql_bind_blob(q, 6, body, body_len);
    s = cw_sql_step_id(st, q, id, "models");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_store_model_activate(cw_store *st, int64_t id)
{
    cw_stmt *q = NULL;
    cw_status s = cw_sql_prep(st, "UPDATE models SET active = CASE WHEN id = ?1 THEN 1 ELSE 0 END",
                              0, &q, "models");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, id);
    s = cw_sql_step_done(st, q, "models");
    cw_sql_finalize(q);
    return s;
}

/* The row q stands on into the caller's strings and body (all malloc'd). */
static cw_status model_row(cw_store *st, cw_stmt *q, int64_t *out_id, char **name, char **kind,
                           char **meta, void **body, size_t *body_len)
{
    *out_id = cw_sql_col_i64(q, 0);
    *name = cw_strdupf("%s", (const char *)cw_sql_col_text(q, 1));
    *kind = cw_strdupf("%s", (const char *)cw_sql_col_text(q, 2));
    *meta = cw_strdupf("%s", (const char *)cw_sql_col_text(q, 3));
    const void *blob = cw_sql_col_blob(q, 4);
    size_t n = (size_t)cw_sql_col_bytes(q, 4);
    *body = malloc(n + 1);
    if (*body && n)
        memcpy(*body, blob, n);
    *body_len = n;
    if (*name && *kind && *meta && *body)
        return CW_OK;
    free(*name);
    free(*kind);
    free(*meta);
    free(*body);
    *name = *kind = *meta = NULL;
    *body = NULL;
    return cw_store_set_error(st, CW_ERR_NOMEM, "models: out of memory loading a model");
}

cw_status cw_store_model_load(cw_store *st, int64_t id, int64_t *out_id, char **name, char **kind,
                              char **meta, void **body, size_t *body_len)
{
    cw_stmt *q = NULL;
    *name = *kind = *meta = NULL;
    *body = NULL;
    const char *sql = id ? "SELECT id, name, kind, meta, body FROM models WHERE id = ?"
                         : "SELECT id, name, kind, meta, body FROM models WHERE active = 1"
                           " ORDER BY id DESC LIMIT 1";
    cw_status s = cw_sql_prep(st, sql, 0, &q, "models");
    if (s != CW_OK)
        return s;
    if (id)
        cw_sql_bind_i64(q, 1, id);
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW)
        s = model_row(st, q, out_id, name, kind, meta, body, body_len);
    else if (rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "models");
    else if (id)
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "model %lld: no such model", (long long)id);
    else
        s = cw_store_set_error(st, CW_ERR_NOTFOUND,
                               "no active model: run `churnwatch train --activate` first");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_store_predictions_clear(cw_store *st, int64_t day, int64_t model)
{
    cw_stmt *q = NULL;
    cw_status s = cw_sql_prep(st, "DELETE FROM predictions WHERE day = ? AND model = ?", 0, &q,
                              "predictions");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_i64(q, 2, model);
    s = cw_sql_step_done(st, q, "predictions");
    cw_sql_finalize(q);
    return s;
}

/* One row per account: the day's predictions were cleared first, so a
 * conflict means the same account twice in rows; the last one wins.
 * Persistent: one plan for the whole batch on PostgreSQL. */
cw_status cw_store_predictions_put(cw_store *st, int64_t day, int64_t model, int64_t n,
                                   const cw_prediction *rows)
{
    cw_stmt *q = NULL;
    cw_status s = cw_sql_prep(st,
                              "INSERT INTO predictions(day, account, model, probability, drivers)"
                              " VALUES(?,?,?,?,?) ON CONFLICT(day, account, model)"
                              " DO UPDATE SET probability = excluded.probability,"
                              " drivers = excluded.drivers",
                              CW_SQL_PERSISTENT, &q, "predictions");
    for (int64_t i = 0; s == CW_OK && i < n; i++) {
        cw_sql_bind_i64(q, 1, day);
        cw_sql_bind_i64(q, 2, rows[i].account);
        cw_sql_bind_i64(q, 3, model);
        cw_sql_bind_double(q, 4, rows[i].probability);
        cw_sql_bind_text(q, 5, rows[i].drivers_json, -1);
        s = cw_sql_step_done(st, q, "predictions");
    }
    cw_sql_finalize(q);
    return s;
}

cw_status cw_store_backtest_put(cw_store *st, int64_t at, const char *subject, const char *json)
{
    cw_stmt *q = NULL;
    cw_status s = cw_sql_prep(st, "INSERT INTO backtests(at, subject, result) VALUES(?,?,?)", 0, &q,
                              "backtests");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, at);
    cw_sql_bind_text(q, 2, subject, -1);
    cw_sql_bind_text(q, 3, json, -1);
    s = cw_sql_step_done(st, q, "backtests");
    cw_sql_finalize(q);
    return s;
}

/* A long range (every account on every test day): streamed. fn must not
 * use the store (the backtest's callback only collects). */
cw_status cw_store_scores_scan(cw_store *st, int64_t lo, int64_t hi,
                               cw_status (*fn)(int64_t day, int64_t account, const char *scorecard,
                                               double score, int colour, void *ud),
                               void *ud)
{
    cw_stmt *q = NULL;
    cw_status s = cw_sql_prep(st,
                              "SELECT day, account, scorecard, score, colour FROM scores"
                              " WHERE day BETWEEN ? AND ? ORDER BY day, account",
                              CW_SQL_STREAM, &q, "scores");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    int rc = CW_SQL_DONE;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = fn(cw_sql_col_i64(q, 0), cw_sql_col_i64(q, 1), (const char *)cw_sql_col_text(q, 2),
               cw_sql_col_double(q, 3), cw_sql_col_int(q, 4), ud);
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "scores");
    cw_sql_finalize(q);
    return s;
}
