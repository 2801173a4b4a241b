/*
 * store/sqlite/sqlite_model.c — the SQLite side of the churn model: models,
 * predictions, backtests, and reading the scorecard's scores for the
 * backtest. Parameterised statements only; callers own the transaction.
 */
#include "model/model_int.h"
#include "core/util.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static cw_status db_err(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "%s: %s", what, sqlite3_errmsg(cw_store_sqlite(st)));
}

cw_status cw_store_model_save(cw_store *st, const char *name, cw_model_kind kind, const char *meta,
                              const void *body, size_t body_len, int activate, int64_t now,
                              int64_t *id)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    if (activate && sqlite3_exec(db, "UPDATE models SET active = 0 WHERE active = 1", NULL, NULL,
                                 NULL) != SQLITE_OK)
        return db_err(st, "models");
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO models(name, kind, created_at, active, meta, body)"
                           " VALUES(?,?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(st, "models");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, cw_model_kind_name(kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now);
    sqlite3_bind_int(q, 4, activate ? 1 : 0);
    sqlite3_bind_text(q, 5, meta, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(q, 6, body, body_len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return db_err(st, "models");
    *id = sqlite3_last_insert_rowid(db);
    return CW_OK;
}

cw_status cw_store_model_activate(cw_store *st, int64_t id)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(cw_store_sqlite(st), "UPDATE models SET active = (id = ?1)", -1, &q,
                           NULL) != SQLITE_OK)
        return db_err(st, "models");
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : db_err(st, "models");
}

cw_status cw_store_model_load(cw_store *st, int64_t id, int64_t *out_id, char **name, char **kind,
                              char **meta, void **body, size_t *body_len)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    *name = *kind = *meta = NULL;
    *body = NULL;
    const char *sql = id ? "SELECT id, name, kind, meta, body FROM models WHERE id = ?"
                         : "SELECT id, name, kind, meta, body FROM models WHERE active = 1"
                           " ORDER BY id DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_err(st, "models");
    if (id)
        sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return db_err(st, "models");
        if (id)
            return cw_store_set_error(st, CW_ERR_NOTFOUND, "model %lld: no such model",
                                      (long long)id);
        return cw_store_set_error(st, CW_ERR_NOTFOUND,
                                  "no active model: run `churnwatch train --activate` first");
    }
    *out_id = sqlite3_column_int64(q, 0);
    *name = cw_strdupf("%s", (const char *)sqlite3_column_text(q, 1));
    *kind = cw_strdupf("%s", (const char *)sqlite3_column_text(q, 2));
    *meta = cw_strdupf("%s", (const char *)sqlite3_column_text(q, 3));
    size_t n = (size_t)sqlite3_column_bytes(q, 4);
    *body = malloc(n + 1);
    if (*body && n)
        memcpy(*body, sqlite3_column_blob(q, 4), n);
    *body_len = n;
    sqlite3_finalize(q);
    if (!*name || !*kind || !*meta || !*body) {
        free(*name);
        free(*kind);
        free(*meta);
        free(*body);
        *name = *kind = *meta = NULL;
        *body = NULL;
        return cw_store_set_error(st, CW_ERR_NOMEM, "models: out of memory loading a model");
    }
    return CW_OK;
}

cw_status cw_store_predictions_clear(cw_store *st, int64_t day, int64_t model)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM predictions WHERE day = ? AND model = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return db_err(st, "predictions");
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, model);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : db_err(st, "predictions");
}

cw_status cw_store_predictions_put(cw_store *st, int64_t day, int64_t model, int64_t n,
                                   const cw_prediction *rows)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO predictions(day, account, model, probability, drivers)"
                           " VALUES(?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(st, "predictions");
    int rc = SQLITE_DONE;
    for (int64_t i = 0; i < n && rc == SQLITE_DONE; i++) {
        sqlite3_bind_int64(q, 1, day);
        sqlite3_bind_int64(q, 2, rows[i].account);
        sqlite3_bind_int64(q, 3, model);
        sqlite3_bind_double(q, 4, rows[i].probability);
        sqlite3_bind_text(q, 5, rows[i].drivers_json, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : db_err(st, "predictions");
}

cw_status cw_store_backtest_put(cw_store *st, int64_t at, const char *subject, const char *json)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO backtests(at, subject, result) VALUES(?,?,?)", -1, &q,
                           NULL) != SQLITE_OK)
        return db_err(st, "backtests");
    sqlite3_bind_int64(q, 1, at);
    sqlite3_bind_text(q, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : db_err(st, "backtests");
}

cw_status cw_store_scores_scan(cw_store *st, int64_t lo, int64_t hi,
                               cw_status (*fn)(int64_t day, int64_t account, const char *scorecard,
                                               double score, int colour, void *ud),
                               void *ud)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT day, account, scorecard, score, colour FROM scores"
                           " WHERE day BETWEEN ? AND ? ORDER BY day, account",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(st, "scores");
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    int rc;
    cw_status s = CW_OK;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        s = fn(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1),
               (const char *)sqlite3_column_text(q, 2), sqlite3_column_double(q, 3),
               sqlite3_column_int(q, 4), ud);
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_err(st, "scores");
    sqlite3_finalize(q);
    return s;
}
