/*
 * store/pg/pg_int.h — what the PostgreSQL backend's files share (the
 * connection behind cw_store_conn, the placeholder rewriter); only
 * lib/store/pg/ and its tests include it.
 *
 * The driver needs nothing of the store but cw_store_conn(st): its errors
 * live on the connection (cw_sql_errmsg / cw_sql_errcode read them) and
 * lib/store/sql/ copies them onto the store with cw_sql_fail.
 */
#ifndef CW_STORE_PG_INT_H
#define CW_STORE_PG_INT_H

#include "store/backend.h"

#include <libpq-fe.h>
#include <stdint.h>

struct cw_pg_bulk;

/* A connection (cw_pg_connect). */
typedef struct cw_pg_conn {
    PGconn *pg;
    char *errmsg;             /* the last error's message (NULL: none) */
    int errcode;              /* CW_SQL_* of the last statement */
    int64_t changes;          /* rows changed by the last INSERT/UPDATE/DELETE */
    unsigned next_id;         /* names of prepared statements and cursors */
    int cursors;              /* CW_SQL_STREAM cursors with rows pending */
    int own_txn;              /* the open transaction was begun by the driver for them */
    int server_vernum;        /* PQserverVersion */
    struct cw_pg_bulk *bulks; /* open bulk inserts (pg_bulk.c), in order */
} cw_pg_conn;

/* 1 while a transaction block is open (or failed and not yet ended) on c.
 * libpq tracks it from the server's own reports, so BEGIN/COMMIT issued by
 * exec, by a prepared statement or ended by an error all count. */
int cw_pg_in_txn(const cw_pg_conn *c);
/* Sets c's last error (message formatted; code CW_SQL_*); returns code. */
int cw_pg_set_error(cw_pg_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets c's last error from a failed result (NULL: the connection's own
 * message); returns the CW_SQL_* code its SQLSTATE maps to. */
int cw_pg_result_error(cw_pg_conn *c, const PGresult *r);
/* Runs sql (no parameters) for its effect only, keeping the last error
 * as it was: the driver's own housekeeping (CLOSE, DEALLOCATE, COMMIT of its
 * cursor transaction). Returns 0 when the server accepted it. */
int cw_pg_quiet(cw_pg_conn *c, const char *sql);

/* ---- bulk insert (pg_bulk.c) ---- */

/* Sends the rows every open bulk of c holds (one COPY each), or drops them
 * when discard (a ROLLBACK of the open transaction follows). Called before
 * any statement runs on c. CW_SQL_OK, or the failed COPY's error ("COPY
 * table: …"). */
int cw_pg_bulk_sync(cw_pg_conn *c, int discard);
/* The connection is closing: its bulks are left without it (their calls
 * fail; close frees them). */
void cw_pg_bulk_detach(cw_pg_conn *c);
int cw_pg_bulk_open(cw_store *st, const char *table, const char *cols, int ncols, cw_bulk **out);
int cw_pg_bulk_i64(cw_bulk *b, int64_t v);
int cw_pg_bulk_double(cw_bulk *b, double v);
int cw_pg_bulk_text(cw_bulk *b, const char *v, int len);
int cw_pg_bulk_blob(cw_bulk *b, const void *v, size_t len);
int cw_pg_bulk_null(cw_bulk *b);
int cw_pg_bulk_row(cw_bulk *b);
int cw_pg_bulk_flush(cw_bulk *b);
int cw_pg_bulk_close(cw_bulk *b);

/* ---- placeholders (pg_driver.c) ---- */

/* The SQL of a statement with its ?, ?N and :name placeholders as $N. */
typedef struct cw_pg_sql {
    char *sql;           /* rewritten, malloc'd */
    int nparams;         /* the largest index */
    char **names;        /* [nparams + 1]: ":name" of each index or NULL */
    unsigned char *used; /* [nparams + 1]: 1 when the text refers to it */
} cw_pg_sql;

/* Rewrites sql into *out. Quoted strings ('…' with '' escapes), quoted
 * identifiers ("…") and comments (-- and / * * /) are copied as they are;
 * `::` (a cast) is not a parameter. Returns CW_SQL_OK, or CW_SQL_ERROR
 * with *err set (malloc'd) for a bad ?N (0 or above 32766) or no memory. */
int cw_pg_rewrite(const char *sql, cw_pg_sql *out, char **err);
void cw_pg_sql_free(cw_pg_sql *s);

#endif /* CW_STORE_PG_INT_H */
