/*
 * store/sql.h — the statement-level seam under the store.
 *
 * The store's logic (the files of lib/store/sql/: ingest tables, metric snapshots,
 * scores, models, alerts, the outbox, tokens, the API's read models) is
 * written once, in SQL that both backends accept, against this interface.
 * Each backend implements it in its own folder: lib/store/sqlite/ over
 * SQLite, lib/store/pg/ over libpq. The shape follows SQLite's own
 * prepare/bind/step/column API, which the code was first written against;
 * Zabbix and Dovecot's lib-sql use the same split (one SQL code base, a
 * thin driver per database). docs/architecture.md, "The store".
 *
 * Portable SQL, the rules (docs/postgres.md lists them with examples):
 *  - parameters are `?`, `?N` (numbered, may repeat) or `:name`; the PG
 *    driver rewrites them to $N;
 *  - quote "user" (a reserved word in PostgreSQL) wherever it is a column;
 *  - no SQLite-only functions (json_extract, strftime, ifnull, total,
 *    scalar max/min of two values: use CASE, coalesce, greatest/least via
 *    cw_sql_dialect()), no bare columns beside aggregates, booleans never
 *    summed or compared with integers: CASE WHEN … THEN 1 ELSE 0 END;
 *  - upserts are INSERT … ON CONFLICT(…) DO UPDATE/NOTHING, new ids come
 *    from RETURNING id; no INSERT OR REPLACE, no last_insert_rowid;
 *  - where the dialects cannot meet, branch on cw_sql_dialect(st).
 */
#ifndef CW_STORE_SQL_H
#define CW_STORE_SQL_H

#include "core/util.h"

#include <stddef.h>
#include <stdint.h>

/* Result codes of the step/exec calls: the same numbers as SQLite's. */
enum {
    CW_SQL_OK = 0,
    CW_SQL_ERROR = 1,
    CW_SQL_BUSY = 5,        /* locked by another writer; retry later */
    CW_SQL_CONSTRAINT = 19, /* a unique/foreign/check constraint failed */
    CW_SQL_ROW = 100,
    CW_SQL_DONE = 101
};

/* Column types (cw_sql_col_type), SQLite's numbering. */
enum { CW_SQL_INTEGER = 1, CW_SQL_FLOAT = 2, CW_SQL_TEXT = 3, CW_SQL_BLOB = 4, CW_SQL_NULL = 5 };

typedef enum cw_dialect { CW_DIALECT_SQLITE = 1, CW_DIALECT_PG = 2 } cw_dialect;

/* Prepare flags. */
enum {
    /* Kept for many executions (a per-row statement): backends may cache a
     * server-side plan. */
    CW_SQL_PERSISTENT = 1,
    /* A long scan: rows stream (a cursor fetched in batches in PostgreSQL)
     * instead of being fetched whole, so memory stays flat. On PostgreSQL
     * the cursor lives in a transaction (the driver opens one when none is
     * open and commits it when the scan ends); other statements, writes
     * included, may run on the handle between rows, as in SQLite. */
    CW_SQL_STREAM = 2
};

typedef struct cw_stmt cw_stmt;
typedef struct cw_bulk cw_bulk;
typedef struct cw_sql_driver cw_sql_driver;

/* Every backend's statement starts with this header. */
struct cw_stmt {
    const cw_sql_driver *drv;
    cw_store *st;
};

/* Every backend's bulk insert (cw_sql_bulk_open) starts with this header. */
struct cw_bulk {
    const cw_sql_driver *drv;
    cw_store *st;
};

/* A backend: what lib/store/sql/ needs from a database. Bind indexes and
 * column indexes are as in SQLite (binds from 1, columns from 0). Texts and
 * blobs bound with bind_text/bind_blob must stay valid until the statement
 * is stepped or reset (SQLITE_STATIC); bind_text_copy copies. Column texts
 * and blobs are valid until the next step, reset or finalize. */
struct cw_sql_driver {
    const char *name; /* "sqlite", "postgresql" */
    cw_dialect dialect;
    int (*prepare)(cw_store *st, const char *sql, unsigned flags, cw_stmt **out);
    int (*bind_i64)(cw_stmt *q, int i, int64_t v);
    int (*bind_double)(cw_stmt *q, int i, double v);
    int (*bind_text)(cw_stmt *q, int i, const char *v, int len, int copy);
    int (*bind_blob)(cw_stmt *q, int i, const void *v, size_t len, int copy);
    int (*bind_null)(cw_stmt *q, int i);
    int (*param_index)(cw_stmt *q, const char *name); /* ":name" → index, 0 if absent */
    int (*param_count)(cw_stmt *q);
    int (*step)(cw_stmt *q);
    int (*reset)(cw_stmt *q);
    void (*clear_bindings)(cw_stmt *q);
    void (*finalize)(cw_stmt *q);
    int (*col_count)(cw_stmt *q);
    const char *(*col_name)(cw_stmt *q, int i);
    int (*col_type)(cw_stmt *q, int i);
    int64_t (*col_i64)(cw_stmt *q, int i);
    double (*col_double)(cw_stmt *q, int i);
    const unsigned char *(*col_text)(cw_stmt *q, int i);
    const void *(*col_blob)(cw_stmt *q, int i);
    int (*col_bytes)(cw_stmt *q, int i);
    /* Runs one or more statements without parameters or results. */
    int (*exec)(cw_store *st, const char *sql);
    /* Rows changed by the last INSERT/UPDATE/DELETE on the handle. */
    int64_t (*changes)(cw_store *st);
    /* The last error's message (never NULL) and code (CW_SQL_*). */
    const char *(*errmsg)(cw_store *st);
    int (*errcode)(cw_store *st);
    /* Bulk insert (cw_sql_bulk_open below): the driver checks table and
     * cols with cw_sql_bulk_columns. Values are copied; the errors are the
     * driver's, as for step. */
    int (*bulk_open)(cw_store *st, const char *table, const char *cols, int ncols, cw_bulk **out);
    int (*bulk_i64)(cw_bulk *b, int64_t v);
    int (*bulk_double)(cw_bulk *b, double v);
    int (*bulk_text)(cw_bulk *b, const char *v, int len);
    int (*bulk_blob)(cw_bulk *b, const void *v, size_t len);
    int (*bulk_null)(cw_bulk *b);
    int (*bulk_row)(cw_bulk *b);
    int (*bulk_flush)(cw_bulk *b);
    int (*bulk_close)(cw_bulk *b);
};

/* The backend of st, and its dialect. */
const cw_sql_driver *cw_sql_driver_of(cw_store *st);
cw_dialect cw_sql_dialect(cw_store *st);

/* ---- calls (thin dispatch; see cw_sql_driver for the contracts) ---- */

int cw_sql_prepare(cw_store *st, const char *sql, unsigned flags, cw_stmt **out);
int cw_sql_exec(cw_store *st, const char *sql);
int64_t cw_sql_changes(cw_store *st);
const char *cw_sql_errmsg(cw_store *st);
int cw_sql_errcode(cw_store *st);

static inline int cw_sql_bind_i64(cw_stmt *q, int i, int64_t v)
{
    return q->drv->bind_i64(q, i, v);
}
static inline int cw_sql_bind_double(cw_stmt *q, int i, double v)
{
    return q->drv->bind_double(q, i, v);
}
/* len -1: up to the NUL. The text must outlive the next step/reset. */
static inline int cw_sql_bind_text(cw_stmt *q, int i, const char *v, int len)
{
    return q->drv->bind_text(q, i, v, len, 0);
}
static inline int cw_sql_bind_text_copy(cw_stmt *q, int i, const char *v, int len)
{
    return q->drv->bind_text(q, i, v, len, 1);
}
static inline int cw_sql_bind_blob(cw_stmt *q, int i, const void *v, size_t len)
{
    return q->drv->bind_blob(q, i, v, len, 0);
}
static inline int cw_sql_bind_blob_copy(cw_stmt *q, int i, const void *v, size_t len)
{
    return q->drv->bind_blob(q, i, v, len, 1);
}
static inline int cw_sql_bind_null(cw_stmt *q, int i)
{
    return q->drv->bind_null(q, i);
}
static inline int cw_sql_param_index(cw_stmt *q, const char *name)
{
    return q->drv->param_index(q, name);
}
static inline int cw_sql_param_count(cw_stmt *q)
{
    return q->drv->param_count(q);
}
/* CW_SQL_ROW, CW_SQL_DONE or an error code (message: cw_sql_errmsg). */
static inline int cw_sql_step(cw_stmt *q)
{
    return q->drv->step(q);
}
static inline int cw_sql_reset(cw_stmt *q)
{
    return q->drv->reset(q);
}
static inline void cw_sql_clear_bindings(cw_stmt *q)
{
    q->drv->clear_bindings(q);
}
/* Accepts NULL. */
static inline void cw_sql_finalize(cw_stmt *q)
{
    if (q)
        q->drv->finalize(q);
}
static inline int cw_sql_col_count(cw_stmt *q)
{
    return q->drv->col_count(q);
}
static inline const char *cw_sql_col_name(cw_stmt *q, int i)
{
    return q->drv->col_name(q, i);
}
static inline int cw_sql_col_type(cw_stmt *q, int i)
{
    return q->drv->col_type(q, i);
}
static inline int64_t cw_sql_col_i64(cw_stmt *q, int i)
{
    return q->drv->col_i64(q, i);
}
static inline int cw_sql_col_int(cw_stmt *q, int i)
{
    return (int)q->drv->col_i64(q, i);
}
static inline double cw_sql_col_double(cw_stmt *q, int i)
{
    return q->drv->col_double(q, i);
}
static inline const unsigned char *cw_sql_col_text(cw_stmt *q, int i)
{
    return q->drv->col_text(q, i);
}
static inline const void *cw_sql_col_blob(cw_stmt *q, int i)
{
    return q->drv->col_blob(q, i);
}
static inline int cw_sql_col_bytes(cw_stmt *q, int i)
{
    return q->drv->col_bytes(q, i);
}

/* ---- bulk insert ----
 *
 * Many new rows into one table, the fastest way each backend has: SQLite
 * runs one persistent INSERT per row (inside the caller's transaction that
 * is as fast as SQLite goes); PostgreSQL encodes the rows into a buffer and
 * sends it with COPY … FROM STDIN when it holds PG_BULK_BYTES, at
 * cw_sql_bulk_flush / cw_sql_bulk_close, and before any other statement
 * runs on the connection (so a SELECT inside the loop sees every row
 * appended so far, and a COMMIT commits them).
 *
 *     cw_bulk *b;
 *     if (cw_sql_bulk_open(st, "account_metrics", "day,account,vals,trend", 4, &b) != CW_SQL_OK)
 *         return cw_sql_fail(st, "account_metrics");
 *     for (…) {
 *         cw_sql_bulk_i64(b, day); cw_sql_bulk_i64(b, account);
 *         cw_sql_bulk_blob(b, vals, n); cw_sql_bulk_null(b);
 *         if (cw_sql_bulk_row(b) != CW_SQL_OK) …
 *     }
 *     rc = cw_sql_bulk_close(b);
 *
 * Fields are appended in the order of cols; cw_sql_bulk_row ends a row
 * (it fails when the row has not exactly ncols fields). Values are copied.
 *
 * COPY cannot upsert: use it only for rows known to be new (after deleting
 * a snapshot's rows, into a table created for them). A duplicate key fails
 * the whole COPY — CW_SQL_CONSTRAINT, the message naming the table — at the
 * call that flushed it, which may be a later cw_sql_step or cw_sql_exec on
 * the connection; the caller's transaction is then failed as for any other
 * error. Rows not yet flushed when an error is returned are dropped.
 * Close every bulk before its store. */

/* table: a lower-case identifier; cols: comma-separated lower-case
 * identifiers (blanks allowed), quoted by the seam ("user" is fine). */
int cw_sql_bulk_open(cw_store *st, const char *table, const char *cols, int ncols, cw_bulk **out);
static inline int cw_sql_bulk_i64(cw_bulk *b, int64_t v)
{
    return b->drv->bulk_i64(b, v);
}
/* NaN and ±Inf are kept (as they are by cw_sql_bind_double). */
static inline int cw_sql_bulk_double(cw_bulk *b, double v)
{
    return b->drv->bulk_double(b, v);
}
/* len -1: up to the NUL; NULL v: SQL NULL. */
static inline int cw_sql_bulk_text(cw_bulk *b, const char *v, int len)
{
    return b->drv->bulk_text(b, v, len);
}
/* NULL v with len 0: SQL NULL. */
static inline int cw_sql_bulk_blob(cw_bulk *b, const void *v, size_t len)
{
    return b->drv->bulk_blob(b, v, len);
}
static inline int cw_sql_bulk_null(cw_bulk *b)
{
    return b->drv->bulk_null(b);
}
static inline int cw_sql_bulk_row(cw_bulk *b)
{
    return b->drv->bulk_row(b);
}
/* Sends the rows appended so far (a no-op on SQLite, whose rows are
 * inserted by cw_sql_bulk_row). */
static inline int cw_sql_bulk_flush(cw_bulk *b)
{
    return b->drv->bulk_flush(b);
}
/* Flushes and frees b (also when the flush fails); accepts NULL. */
static inline int cw_sql_bulk_close(cw_bulk *b)
{
    return b ? b->drv->bulk_close(b) : CW_SQL_OK;
}

/* ---- helpers shared by lib/store/sql/ ---- */

/* Prepares sql into *q; on failure sets the store's error ("what: message")
 * and returns CW_ERR_DB. */
cw_status cw_sql_prep(cw_store *st, const char *sql, unsigned flags, cw_stmt **q, const char *what);
/* Prepares *q once (when NULL) and keeps it until cw_store_close; resets
 * and clears its bindings otherwise. */
cw_status cw_sql_lazy(cw_store *st, cw_stmt **q, const char *sql, const char *what);
/* Steps q expecting CW_SQL_DONE, then resets it; the error is set on st. */
cw_status cw_sql_step_done(cw_store *st, cw_stmt *q, const char *what);
/* Sets the store's error from the driver's last error: "what: message";
 * CW_ERR_BUSY-like conditions keep CW_ERR_DB. Returns CW_ERR_DB. */
cw_status cw_sql_fail(cw_store *st, const char *what);
/* Steps q, an INSERT … RETURNING id, and reads the new row's id into *id;
 * the error ("what: message") is set on st. Does not reset q. */
cw_status cw_sql_step_id(cw_store *st, cw_stmt *q, int64_t *id, const char *what);
/* The first column of the first row of sql (no parameters) into *out;
 * *isnull = 1 (and *out = 0) when there is no row or it is NULL. */
cw_status cw_sql_scalar_i64(cw_store *st, const char *sql, int64_t *out, int *isnull);
/* The column list of a bulk insert, each name quoted: "a","b"; malloc'd.
 * NULL with *err (malloc'd) when table or a column is not a lower-case
 * identifier or the count is not ncols (lib/store/sql/bulk.c, which the
 * drivers' tests link without the rest of the store). */
char *cw_sql_bulk_columns(const char *table, const char *cols, int ncols, char **err);

#endif /* CW_STORE_SQL_H */
