/*
 * store/sql/sql.c — dispatch of the statement seam (store/sql.h) to the
 * store's backend, and the small helpers every lib/store/sql/ file shares.
 */
#include "store/sql.h"
#include "store/store.h"

#include <stdlib.h>

cw_dialect cw_sql_dialect(cw_store *st)
{
    return cw_sql_driver_of(st)->dialect;
}

int cw_sql_prepare(cw_store *st, const char *sql, unsigned flags, cw_stmt **out)
{
    return cw_sql_driver_of(st)->prepare(st, sql, flags, out);
}

int cw_sql_exec(cw_store *st, const char *sql)
{
    return cw_sql_driver_of(st)->exec(st, sql);
}

int64_t cw_sql_changes(cw_store *st)
{
    return cw_sql_driver_of(st)->changes(st);
}

const char *cw_sql_errmsg(cw_store *st)
{
    return cw_sql_driver_of(st)->errmsg(st);
}

int cw_sql_errcode(cw_store *st)
{
    return cw_sql_driver_of(st)->errcode(st);
}

cw_status cw_sql_fail(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "%s: %s", what, cw_sql_errmsg(st));
}

cw_status cw_sql_prep(cw_store *st, const char *sql, unsigned flags, cw_stmt **q, const char *what)
{
    if (cw_sql_prepare(st, sql, flags, q) != CW_SQL_OK)
        return cw_sql_fail(st, what);
    return CW_OK;
}

cw_status cw_sql_lazy(cw_store *st, cw_stmt **q, const char *sql, const char *what)
{
    if (*q) {
        cw_sql_reset(*q);
        cw_sql_clear_bindings(*q);
        return CW_OK;
    }
    return cw_sql_prep(st, sql, CW_SQL_PERSISTENT, q, what);
}

cw_status cw_sql_step_done(cw_store *st, cw_stmt *q, const char *what)
{
    int rc = cw_sql_step(q);
    cw_status s = rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, what);
    cw_sql_reset(q);
    return s;
}

cw_status cw_sql_step_id(cw_store *st, cw_stmt *q, int64_t *id, const char *what)
{
    *id = -1;
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW) {
        *id = cw_sql_col_i64(q, 0);
        /* SQLite made the change on the first step; the second ends the
         * statement so that it holds no lock. */
        rc = cw_sql_step(q);
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, what);
    cw_sql_reset(q);
    return s;
}

cw_status cw_sql_scalar_i64(cw_store *st, const char *sql, int64_t *out, int *isnull)
{
    cw_stmt *q;
    *out = 0;
    *isnull = 1;
    cw_status s = cw_sql_prep(st, sql, 0, &q, sql);
    if (s != CW_OK)
        return s;
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW) {
        if (cw_sql_col_type(q, 0) != CW_SQL_NULL) {
            *out = cw_sql_col_i64(q, 0);
            *isnull = 0;
        }
    } else if (rc != CW_SQL_DONE) {
        s = cw_sql_fail(st, sql);
    }
    cw_sql_finalize(q);
    return s;
}

int cw_sql_bulk_open(cw_store *st, const char *table, const char *cols, int ncols, cw_bulk **out)
{
    return cw_sql_driver_of(st)->bulk_open(st, table, cols, ncols, out);
}
