/*
 * store/sqlite/sqlite_driver.c — the SQLite side of the statement seam
 * (store/sql.h): a statement is a sqlite3_stmt behind the common header, and
 * every call maps one to one onto SQLite's own.
 */
#include "store/sql.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sq_stmt {
    cw_stmt h;
    sqlite3_stmt *q;
} sq_stmt;

#define SQ(x) (((sq_stmt *)(x))->q)

static int sq_prepare(cw_store *st, const char *sql, unsigned flags, cw_stmt **out)
{
    *out = NULL;
    sq_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return SQLITE_NOMEM;
    unsigned pf = (flags & CW_SQL_PERSISTENT) ? SQLITE_PREPARE_PERSISTENT : 0;
    int rc = sqlite3_prepare_v3(cw_store_sqlite(st), sql, -1, pf, &s->q, NULL);
    if (rc != SQLITE_OK) {
        free(s);
        return rc;
    }
    s->h.drv = &cw_sqlite_driver;
    s->h.st = st;
    *out = &s->h;
    return SQLITE_OK;
}

static int sq_bind_i64(cw_stmt *q, int i, int64_t v)
{
    return sqlite3_bind_int64(SQ(q), i, v);
}
static int sq_bind_double(cw_stmt *q, int i, double v)
{
    return sqlite3_bind_double(SQ(q), i, v);
}
static int sq_bind_text(cw_stmt *q, int i, const char *v, int len, int copy)
{
    return sqlite3_bind_text(SQ(q), i, v, len, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}
static int sq_bind_blob(cw_stmt *q, int i, const void *v, size_t len, int copy)
{
    return sqlite3_bind_blob64(SQ(q), i, v, (sqlite3_uint64)len,
                               copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}
static int sq_bind_null(cw_stmt *q, int i)
{
    return sqlite3_bind_null(SQ(q), i);
}
static int sq_param_index(cw_stmt *q, const char *name)
{
    return sqlite3_bind_parameter_index(SQ(q), name);
}
static int sq_param_count(cw_stmt *q)
{
    return sqlite3_bind_parameter_count(SQ(q));
}
static int sq_step(cw_stmt *q)
{
    int rc = sqlite3_step(SQ(q));
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? rc : (rc & 0xff);
}
static int sq_reset(cw_stmt *q)
{
    return sqlite3_reset(SQ(q));
}
static void sq_clear_bindings(cw_stmt *q)
{
    sqlite3_clear_bindings(SQ(q));
}
static void sq_finalize(cw_stmt *q)
{
    sqlite3_finalize(SQ(q));
    free(q);
}
static int sq_col_count(cw_stmt *q)
{
    return sqlite3_column_count(SQ(q));
}
static const char *sq_col_name(cw_stmt *q, int i)
{
    return sqlite3_column_name(SQ(q), i);
}
static int sq_col_type(cw_stmt *q, int i)
{
    return sqlite3_column_type(SQ(q), i);
}
static int64_t sq_col_i64(cw_stmt *q, int i)
{
    return sqlite3_column_int64(SQ(q), i);
}
static double sq_col_double(cw_stmt *q, int i)
{
    return sqlite3_column_double(SQ(q), i);
}
static const unsigned char *sq_col_text(cw_stmt *q, int i)
{
    return sqlite3_column_text(SQ(q), i);
}
static const void *sq_col_blob(cw_stmt *q, int i)
{
    return sqlite3_column_blob(SQ(q), i);
}
static int sq_col_bytes(cw_stmt *q, int i)
{
    return sqlite3_column_bytes(SQ(q), i);
}
static int sq_exec(cw_store *st, const char *sql)
{
    return sqlite3_exec(cw_store_sqlite(st), sql, NULL, NULL, NULL) & 0xff;
}
static int64_t sq_changes(cw_store *st)
{
    return sqlite3_changes64(cw_store_sqlite(st));
}
static const char *sq_errmsg(cw_store *st)
{
    return sqlite3_errmsg(cw_store_sqlite(st));
}
static int sq_errcode(cw_store *st)
{
    return sqlite3_errcode(cw_store_sqlite(st)) & 0xff;
}

/* ---- bulk insert: one persistent INSERT stepped per row ---- */

typedef struct sq_bulk {
    cw_bulk h;
    sqlite3_stmt *q;
    int ncols, field; /* fields bound in the current row */
    int bad;          /* a field of the current row failed: the row is dropped */
    char table[];
} sq_bulk;

#define SB(x) ((sq_bulk *)(x))

/* Leaves msg as the connection's error message: SQLite has no call that
 * sets one, so a statement naming a table called msg is prepared, and fails
 * with "no such table: msg". */
static int sq_set_error(sqlite3 *db, const char *msg)
{
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\"", msg ? msg : "out of memory");
    sqlite3_stmt *x = NULL;
    if (sql)
        sqlite3_prepare_v2(db, sql, -1, &x, NULL);
    sqlite3_finalize(x);
    sqlite3_free(sql);
    return SQLITE_ERROR;
}

static int sq_bulk_open(cw_store *st, const char *table, const char *cols, int ncols, cw_bulk **out)
{
    *out = NULL;
    sqlite3 *db = cw_store_sqlite(st);
    char *err = NULL, *qcols = cw_sql_bulk_columns(table, cols, ncols, &err);
    if (!qcols) {
        sq_set_error(db, err);
        free(err);
        return SQLITE_ERROR;
    }
    sqlite3_str *sql = sqlite3_str_new(db);
    sqlite3_str_appendf(sql, "INSERT INTO \"%w\"(%s) VALUES (?", table, qcols);
    for (int i = 1; i < ncols; i++)
        sqlite3_str_appendall(sql, ",?");
    sqlite3_str_appendall(sql, ")");
    char *text = sqlite3_str_finish(sql);
    free(qcols);
    sq_bulk *s = text ? calloc(1, sizeof *s + strlen(table) + 1) : NULL;
    if (!s) {
        sqlite3_free(text);
        return SQLITE_NOMEM;
    }
    int rc = sqlite3_prepare_v3(db, text, -1, SQLITE_PREPARE_PERSISTENT, &s->q, NULL);
    sqlite3_free(text);
    if (rc != SQLITE_OK) {
        free(s);
        return rc & 0xff;
    }
    s->h.drv = &cw_sqlite_driver;
    s->h.st = st;
    s->ncols = ncols;
    memcpy(s->table, table, strlen(table) + 1);
    *out = &s->h;
    return SQLITE_OK;
}

/* The index of the next field of the row; 0 (error set) when it is full. */
static int sq_field(cw_bulk *b)
{
    sq_bulk *s = SB(b);
    if (s->field >= s->ncols) {
        char msg[160];
        snprintf(msg, sizeof msg, "bulk insert into %.64s: more than %d fields in a row", s->table,
                 s->ncols);
        sq_set_error(sqlite3_db_handle(s->q), msg);
        s->bad = 1;
        return 0;
    }
    return ++s->field;
}

/* The result of binding a field: a failure drops the row. */
static int sq_bound(cw_bulk *b, int rc)
{
    if (rc != SQLITE_OK)
        SB(b)->bad = 1;
    return rc & 0xff;
}

static int sq_bulk_i64(cw_bulk *b, int64_t v)
{
    int i = sq_field(b);
    return i ? sq_bound(b, sqlite3_bind_int64(SB(b)->q, i, v)) : SQLITE_ERROR;
}
static int sq_bulk_double(cw_bulk *b, double v)
{
    int i = sq_field(b);
    return i ? sq_bound(b, sqlite3_bind_double(SB(b)->q, i, v)) : SQLITE_ERROR;
}
static int sq_bulk_text(cw_bulk *b, const char *v, int len)
{
    int i = sq_field(b);
    return i ? sq_bound(b, sqlite3_bind_text(SB(b)->q, i, v, len, SQLITE_TRANSIENT)) : SQLITE_ERROR;
}
static int sq_bulk_blob(cw_bulk *b, const void *v, size_t len)
{
    int i = sq_field(b);
    if (!i)
        return SQLITE_ERROR;
    if (!v && len == 0)
        return sqlite3_bind_null(SB(b)->q, i);
    /* zero bytes is an empty blob, not NULL: SQLite wants a pointer */
    return sq_bound(
        b, sqlite3_bind_blob64(SB(b)->q, i, len ? v : "", (sqlite3_uint64)len, SQLITE_TRANSIENT));
}
static int sq_bulk_null(cw_bulk *b)
{
    int i = sq_field(b);
    return i ? sqlite3_bind_null(SB(b)->q, i) : SQLITE_ERROR;
}

static int sq_bulk_row(cw_bulk *b)
{
    sq_bulk *s = SB(b);
    int n = s->field, bad = s->bad;
    s->field = 0;
    s->bad = 0;
    if (bad || n != s->ncols) {
        sqlite3_clear_bindings(s->q);
        if (bad)
            return SQLITE_ERROR; /* the message is the failed field's */
        char msg[160];
        snprintf(msg, sizeof msg, "bulk insert into %.64s: a row of %d fields for %d columns",
                 s->table, n, s->ncols);
        return sq_set_error(sqlite3_db_handle(s->q), msg);
    }
    int rc = sqlite3_step(s->q);
    sqlite3_reset(s->q);
    return rc == SQLITE_DONE ? SQLITE_OK : (rc & 0xff);
}

static int sq_bulk_flush(cw_bulk *b)
{
    (void)b;
    return SQLITE_OK;
}

static int sq_bulk_close(cw_bulk *b)
{
    sqlite3_finalize(SB(b)->q);
    free(b);
    return SQLITE_OK;
}

const cw_sql_driver cw_sqlite_driver = {
    .name = "sqlite",
    .dialect = CW_DIALECT_SQLITE,
    .prepare = sq_prepare,
    .bind_i64 = sq_bind_i64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .param_index = sq_param_index,
    .param_count = sq_param_count,
    .step = sq_step,
    .reset = sq_reset,
    .clear_bindings = sq_clear_bindings,
    .finalize = sq_finalize,
    .col_count = sq_col_count,
    .col_name = sq_col_name,
    .col_type = sq_col_type,
    .col_i64 = sq_col_i64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .col_bytes = sq_col_bytes,
    .exec = sq_exec,
    .changes = sq_changes,
    .errmsg = sq_errmsg,
    .errcode = sq_errcode,
    .bulk_open = sq_bulk_open,
    .bulk_i64 = sq_bulk_i64,
    .bulk_double = sq_bulk_double,
    .bulk_text = sq_bulk_text,
    .bulk_blob = sq_bulk_blob,
    .bulk_null = sq_bulk_null,
    .bulk_row = sq_bulk_row,
    .bulk_flush = sq_bulk_flush,
    .bulk_close = sq_bulk_close,
};
