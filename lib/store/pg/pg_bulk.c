/*
 * store/pg/pg_bulk.c — bulk insert (store/sql.h, cw_sql_bulk_open) over
 * COPY … FROM STDIN.
 *
 * Rows are encoded into a buffer of the bulk's own and sent as one COPY
 * when it holds PG_BULK_BYTES, at flush and close, and before any other
 * statement runs on the connection: the driver calls cw_pg_bulk_sync first
 * in every path that sends SQL (a COPY is one statement: rows held back
 * would be invisible to a SELECT in the loop, or left out of a COMMIT).
 *
 * The format is COPY's text format, not binary. Both keep every value
 * exactly: integers in decimal, doubles with 17 significant digits (which
 * float8in reads back to the same bits) and NaN/Infinity/-Infinity by
 * name, texts as their UTF-8 bytes with \\, \n, \r, \t escaped, bytea as
 * \x hex, NULL as \N. Binary would save parsing and the hex doubling of
 * bytea, but it must match every column's type exactly — an int8 sent to
 * a DOUBLE PRECISION column would be read as the bits of a double, a
 * silent change of meaning — so the driver would have to look the
 * column types up and convert; in text form the server's input functions
 * check each value against its column and say so when it does not fit
 * (3.5 into a BIGINT column is an error, 5 into a DOUBLE column is 5.0,
 * as with the INSERT path).
 */
#include "store/pg/pg_int.h"
#include "core/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of encoded rows that trigger a COPY. */
#define PG_BULK_BYTES ((size_t)4 << 20)

struct cw_pg_bulk {
    cw_bulk h;
    cw_pg_conn *c;           /* NULL once the connection is gone */
    struct cw_pg_bulk *next; /* the connection's open bulks, in order */
    char *table;
    char *copy_sql;
    int ncols, field; /* fields in the current row */
    char *buf;        /* encoded complete rows, then the current one */
    size_t len, cap;
    size_t row_start; /* where the current row starts */
    int bad;          /* a field of the current row failed: the row is dropped */
};

typedef struct cw_pg_bulk pg_bulk;

#define B(x) ((pg_bulk *)(x))

/* A call on a bulk whose connection was closed: there is no connection
 * left to hold a message. */
static int gone(void)
{
    return CW_SQL_ERROR;
}

/* Appends n bytes; -1 when out of memory (the row is then dropped). */
static int put(pg_bulk *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            if (b->c)
                cw_pg_set_error(b->c, CW_SQL_ERROR, "out of memory");
            b->bad = 1;
            return -1;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

/* Starts the next field (a tab before all but the first); error set when
 * the row already has ncols. */
static int field(pg_bulk *b)
{
    if (!b->c)
        return gone();
    if (b->field >= b->ncols) {
        b->bad = 1;
        return cw_pg_set_error(b->c, CW_SQL_ERROR,
                               "bulk insert into %s: more than %d fields in a row", b->table,
                               b->ncols);
    }
    if (b->field++ > 0)
        put(b, "\t", 1);
    return CW_SQL_OK;
}

/* ---- sending ---- */

/* Sets c's error from a failed COPY: "COPY table: message". */
static int copy_error(pg_bulk *b, const PGresult *r)
{
    int code = cw_pg_result_error(b->c, r);
    char *msg = b->c->errmsg ? cw_strdupf("%s", b->c->errmsg) : NULL;
    cw_pg_set_error(b->c, code, "COPY %s: %s", b->table, msg ? msg : "out of memory");
    free(msg);
    return code;
}

/* Forgets the complete rows of b, keeping its unfinished one. */
static void drop_rows(pg_bulk *b)
{
    size_t n = b->row_start;
    memmove(b->buf, b->buf + n, b->len - n);
    b->len -= n;
    b->row_start = 0;
}

/* Forgets the complete rows of every bulk of c: after a failed COPY (the
 * caller's transaction is failed; the rows could not be written in it),
 * and before a ROLLBACK. */
static void drop_all(cw_pg_conn *c)
{
    for (pg_bulk *b = c->bulks; b; b = b->next)
        drop_rows(b);
}

/* Runs the COPY of the complete rows in b (those before row_start). */
static int send_rows(pg_bulk *b)
{
    if (b->row_start == 0)
        return CW_SQL_OK;
    PGconn *pg = b->c->pg;
    PGresult *r = PQexec(pg, b->copy_sql);
    int rc = CW_SQL_OK;
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        rc = copy_error(b, r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    const char *abort = NULL;
    if (PQputCopyData(pg, b->buf, (int)b->row_start) != 1)
        abort = "the rows could not be sent";
    PQputCopyEnd(pg, abort);
    while ((r = PQgetResult(pg)) != NULL) {
        if (rc == CW_SQL_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = copy_error(b, r);
        else if (rc == CW_SQL_OK)
            b->c->changes = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    if (rc == CW_SQL_OK) {
        b->c->errcode = CW_SQL_OK;
        drop_rows(b);
    }
    return rc;
}

/* Sends the rows of every bulk of c, in the order the bulks were opened,
 * up to and including upto (NULL: all). In a failed transaction nothing
 * could be written: the rows are dropped and the statement that follows
 * reports the failure. */
static int send_all(cw_pg_conn *c, pg_bulk *upto)
{
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        drop_all(c);
        return CW_SQL_OK;
    }
    for (pg_bulk *b = c->bulks; b; b = b->next) {
        int rc = send_rows(b);
        if (rc != CW_SQL_OK) {
            drop_all(c);
            return rc;
        }
        if (b == upto)
            break;
    }
    return CW_SQL_OK;
}

/* Sends b's rows, after those of the bulks opened before it (so rows reach
 * the server in the order of the bulks, e.g. parents before children). */
static int flush(pg_bulk *b)
{
    return b->c ? send_all(b->c, b) : gone();
}

int cw_pg_bulk_sync(cw_pg_conn *c, int discard)
{
    if (!c->bulks)
        return CW_SQL_OK;
    if (discard && PQtransactionStatus(c->pg) == PQTRANS_INTRANS) {
        drop_all(c);
        return CW_SQL_OK;
    }
    return send_all(c, NULL);
}

void cw_pg_bulk_detach(cw_pg_conn *c)
{
    for (pg_bulk *b = c->bulks; b; b = b->next)
        b->c = NULL;
    c->bulks = NULL;
}

/* ---- the driver's calls ---- */

int cw_pg_bulk_open(cw_store *st, const char *table, const char *cols, int ncols, cw_bulk **out)
{
    cw_pg_conn *c = cw_store_conn(st);
    *out = NULL;
    char *err = NULL, *qcols = cw_sql_bulk_columns(table, cols, ncols, &err);
    if (!qcols) {
        cw_pg_set_error(c, CW_SQL_ERROR, "%s", err ? err : "out of memory");
        free(err);
        return CW_SQL_ERROR;
    }
    pg_bulk *b = calloc(1, sizeof *b);
    if (b) {
        b->table = cw_strdupf("%s", table);
        b->copy_sql = cw_strdupf("COPY \"%s\"(%s) FROM STDIN", table, qcols);
    }
    free(qcols);
    if (!b || !b->table || !b->copy_sql) {
        if (b) {
            free(b->table);
            free(b->copy_sql);
        }
        free(b);
        return cw_pg_set_error(c, CW_SQL_ERROR, "out of memory");
    }
    b->h.drv = &cw_pg_driver;
    b->h.st = st;
    b->c = c;
    b->ncols = ncols;
    pg_bulk **pp = &c->bulks;
    while (*pp)
        pp = &(*pp)->next;
    *pp = b;
    *out = &b->h;
    return CW_SQL_OK;
}

int cw_pg_bulk_i64(cw_bulk *x, int64_t v)
{
    pg_bulk *b = B(x);
    int rc = field(b);
    if (rc != CW_SQL_OK)
        return rc;
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    put(b, num, (size_t)n);
    return CW_SQL_OK;
}

int cw_pg_bulk_double(cw_bulk *x, double v)
{
    pg_bulk *b = B(x);
    int rc = field(b);
    if (rc != CW_SQL_OK)
        return rc;
    char num[32];
    int n;
    if (isnan(v))
        n = snprintf(num, sizeof num, "NaN");
    else if (isinf(v))
        n = snprintf(num, sizeof num, "%s", v > 0 ? "Infinity" : "-Infinity");
    else
        n = snprintf(num, sizeof num, "%.17g", v);
    put(b, num, (size_t)n);
    return CW_SQL_OK;
}

int cw_pg_bulk_null(cw_bulk *x)
{
    pg_bulk *b = B(x);
    int rc = field(b);
    if (rc == CW_SQL_OK)
        put(b, "\\N", 2);
    return rc;
}

/* A text: its bytes with COPY's four escapes; a NUL is refused, as the
 * server would refuse it. */
int cw_pg_bulk_text(cw_bulk *x, const char *v, int len)
{
    pg_bulk *b = B(x);
    if (!v)
        return cw_pg_bulk_null(x);
    int rc = field(b);
    if (rc != CW_SQL_OK)
        return rc;
    size_t n = len < 0 ? strlen(v) : (size_t)len;
    if (memchr(v, '\0', n)) {
        b->bad = 1;
        return cw_pg_set_error(b->c, CW_SQL_ERROR,
                               "bulk insert into %s: field %d: text holds a NUL byte", b->table,
                               b->field);
    }
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = v[i] == '\\'   ? "\\\\"
                          : v[i] == '\n' ? "\\n"
                          : v[i] == '\r' ? "\\r"
                          : v[i] == '\t' ? "\\t"
                                         : NULL;
        if (!esc)
            continue;
        put(b, v + from, i - from);
        put(b, esc, 2);
        from = i + 1;
    }
    put(b, v + from, n - from);
    return CW_SQL_OK;
}

/* A bytea: \\x and the hex digits (the backslash escaped for COPY). */
int cw_pg_bulk_blob(cw_bulk *x, const void *v, size_t len)
{
    pg_bulk *b = B(x);
    if (!v && len == 0)
        return cw_pg_bulk_null(x);
    int rc = field(b);
    if (rc != CW_SQL_OK)
        return rc;
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = v;
    put(b, "\\\\x", 3);
    char chunk[512];
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        chunk[k++] = hex[p[i] >> 4];
        chunk[k++] = hex[p[i] & 15];
        if (k == sizeof chunk) {
            put(b, chunk, k);
            k = 0;
        }
    }
    put(b, chunk, k);
    return CW_SQL_OK;
}

int cw_pg_bulk_row(cw_bulk *x)
{
    pg_bulk *b = B(x);
    if (!b->c)
        return gone();
    int n = b->field, bad = b->bad;
    b->field = 0;
    b->bad = 0;
    if (bad || n != b->ncols) {
        b->len = b->row_start; /* drop the row */
        if (bad)
            return CW_SQL_ERROR; /* the message is the failed field's */
        return cw_pg_set_error(b->c, CW_SQL_ERROR,
                               "bulk insert into %s: a row of %d fields for %d columns", b->table,
                               n, b->ncols);
    }
    if (put(b, "\n", 1) != 0) {
        b->len = b->row_start;
        return CW_SQL_ERROR;
    }
    b->row_start = b->len;
    return b->len >= PG_BULK_BYTES ? flush(b) : CW_SQL_OK;
}

int cw_pg_bulk_flush(cw_bulk *x)
{
    return flush(B(x));
}

int cw_pg_bulk_close(cw_bulk *x)
{
    pg_bulk *b = B(x);
    int rc = b->row_start ? gone() : CW_SQL_OK;
    if (b->c) {
        rc = flush(b);
        pg_bulk **pp = &b->c->bulks;
        while (*pp && *pp != b)
            pp = &(*pp)->next;
        if (*pp)
            *pp = b->next;
    }
    free(b->buf);
    free(b->table);
    free(b->copy_sql);
    free(b);
    return rc;
}
