/*
 * store/pg/pg_driver.c — the PostgreSQL side of the statement seam
 * (store/sql.h) over libpq.
 *
 * A statement keeps its SQL with the placeholders rewritten to $N and its
 * bound values; the first step runs it:
 *  - by default with PQexecParams, fetching the whole result (so other
 *    statements may run while a loop reads its rows);
 *  - CW_SQL_PERSISTENT: as a server-side prepared statement, prepared on
 *    the first step for the bound parameter types and reused while they
 *    stay the same (a NULL where an integer was is another plan);
 *  - CW_SQL_STREAM: through a cursor (DECLARE … NO SCROLL CURSOR, FETCH
 *    PG_BATCH rows at a time, CLOSE when done), inside the caller's
 *    transaction or one the driver opens and commits when its last cursor
 *    is done.
 * Parameters go as int8, float8 and text in text form and bytea in binary;
 * results come back as text and the column calls parse them.
 *
 * Bulk inserts (pg_bulk.c) hold rows client-side until a COPY: every path
 * here that sends SQL calls cw_pg_bulk_sync first, so held rows reach the
 * server before any other statement (and are dropped before a ROLLBACK).
 */
#include "store/pg/pg_int.h"
#include "core/buf.h"
#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Rows per FETCH of a CW_SQL_STREAM cursor. */
#define PG_BATCH     1000
/* Server-side plans kept per persistent statement (type signatures). */
#define PG_MAX_PLANS 8
/* The largest ?N, as in SQLite. */
#define PG_MAX_PARAM 32766

/* Type OIDs (pg_type.dat; fixed since forever). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_NAME = 19,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_OID = 26,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_UNKNOWN = 705,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802
};

/* ==== placeholders ==================================================== */

static int ident_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch >= 0x80;
}

/* The end of the quoted text starting at s[i] (quote q, doubled to
 * escape; backslash escapes too in an E'…' string). */
static size_t skip_quoted(const char *s, size_t i, char q, int backslash)
{
    size_t j = i + 1;
    while (s[j]) {
        if (backslash && s[j] == '\\' && s[j + 1]) {
            j += 2;
        } else if (s[j] == q) {
            if (s[j + 1] != q)
                return j + 1;
            j += 2;
        } else {
            j++;
        }
    }
    return j;
}

/* The end of the comment or quoted part at s[i], or i when none starts. */
static size_t skip_verbatim(const char *s, size_t i)
{
    if (s[i] == '\'' || s[i] == '"') {
        int e = s[i] == '\'' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                (i < 2 || !ident_char((unsigned char)s[i - 2]));
        return skip_quoted(s, i, s[i], e);
    }
    if (s[i] == '-' && s[i + 1] == '-') {
        size_t j = i + 2;
        while (s[j] && s[j] != '\n')
            j++;
        return j;
    }
    if (s[i] == '/' && s[i + 1] == '*') {
        const char *e = strstr(s + i + 2, "*/");
        return e ? (size_t)(e - s) + 2 : i + strlen(s + i);
    }
    return i;
}

typedef struct rw_state {
    cw_buf b;
    int max;   /* the largest index so far */
    int *uses; /* indexes referred to, in order */
    size_t nuses, cap_uses;
    char **names; /* ":name" of the first nnames indexes given by name */
    int *name_idx;
    size_t nnames, cap_names;
} rw_state;

static int rw_use(rw_state *w, int idx)
{
    if (w->nuses == w->cap_uses) {
        size_t cap = w->cap_uses ? w->cap_uses * 2 : 16;
        int *u = realloc(w->uses, cap * sizeof *u);
        if (!u)
            return -1;
        w->uses = u;
        w->cap_uses = cap;
    }
    w->uses[w->nuses++] = idx;
    if (idx > w->max)
        w->max = idx;
    cw_buf_addf(&w->b, "$%d", idx);
    return 0;
}

/* The index of :name (len bytes at s, the colon included), a new one the
 * first time; -1 when out of memory. */
static int rw_name(rw_state *w, const char *s, size_t len)
{
    for (size_t k = 0; k < w->nnames; k++)
        if (strlen(w->names[k]) == len && memcmp(w->names[k], s, len) == 0)
            return w->name_idx[k];
    if (w->nnames == w->cap_names) {
        size_t cap = w->cap_names ? w->cap_names * 2 : 8;
        char **n = realloc(w->names, cap * sizeof *n);
        if (n)
            w->names = n;
        int *x = realloc(w->name_idx, cap * sizeof *x);
        if (x)
            w->name_idx = x;
        if (!n || !x)
            return -1;
        w->cap_names = cap;
    }
    char *copy = cw_strndup(s, len);
    if (!copy)
        return -1;
    w->names[w->nnames] = copy;
    w->name_idx[w->nnames++] = w->max + 1;
    return w->max + 1;
}

/* The placeholder at sql[*i] ('?' or ':'): its index, *i past it; 0 when
 * it is not one (":" not followed by a name); -1 out of memory; -2 a bad
 * ?N. */
static int rw_param(rw_state *w, const char *sql, size_t *i)
{
    size_t j = *i + 1;
    if (sql[*i] == '?') {
        if (sql[j] < '0' || sql[j] > '9') {
            *i = j;
            return w->max + 1;
        }
        long v = 0;
        while (sql[j] >= '0' && sql[j] <= '9') {
            if (v <= PG_MAX_PARAM)
                v = v * 10 + (sql[j] - '0');
            j++;
        }
        *i = j;
        return v >= 1 && v <= PG_MAX_PARAM ? (int)v : -2;
    }
    if (!ident_char((unsigned char)sql[j]) || (sql[j] >= '0' && sql[j] <= '9'))
        return 0;
    while (ident_char((unsigned char)sql[j]))
        j++;
    int idx = rw_name(w, sql + *i, j - *i);
    *i = j;
    return idx;
}

static void rw_free(rw_state *w)
{
    for (size_t k = 0; k < w->nnames; k++)
        free(w->names[k]);
    free(w->names);
    free(w->name_idx);
    free(w->uses);
    cw_buf_free(&w->b);
}

/* Moves the scan's results into out. */
static int rw_finish(rw_state *w, cw_pg_sql *out)
{
    int n = w->max;
    out->names = calloc((size_t)n + 1, sizeof *out->names);
    out->used = calloc((size_t)n + 1, 1);
    out->sql = cw_buf_steal(&w->b, NULL);
    if (!out->names || !out->used || !out->sql)
        return -1;
    out->nparams = n;
    for (size_t k = 0; k < w->nuses; k++)
        out->used[w->uses[k]] = 1;
    for (size_t k = 0; k < w->nnames; k++) {
        out->names[w->name_idx[k]] = w->names[k];
        w->names[k] = NULL;
    }
    return 0;
}

int cw_pg_rewrite(const char *sql, cw_pg_sql *out, char **err)
{
    rw_state w;
    memset(&w, 0, sizeof w);
    memset(out, 0, sizeof *out);
    *err = NULL;
    cw_buf_init(&w.b, CW_BUF_MAX_DOC);
    int rc = 0;
    for (size_t i = 0; sql[i] && rc == 0;) {
        size_t j = skip_verbatim(sql, i);
        if (j > i) {
            cw_buf_add(&w.b, sql + i, j - i);
            i = j;
        } else if (sql[i] == ':' && sql[i + 1] == ':') {
            cw_buf_adds(&w.b, "::"); /* a cast, not a parameter */
            i += 2;
        } else if (sql[i] == '?' || sql[i] == ':') {
            size_t at = i;
            int idx = rw_param(&w, sql, &i);
            if (idx == 0) {
                cw_buf_addc(&w.b, sql[i++]);
            } else if (idx == -2) {
                *err = cw_strdupf("bad parameter %.*s: numbers go from ?1 to ?%d", (int)(i - at),
                                  sql + at, PG_MAX_PARAM);
                rc = -1;
            } else if (idx < 0 || rw_use(&w, idx) != 0) {
                rc = -1;
            }
        } else {
            cw_buf_addc(&w.b, sql[i++]);
        }
    }
    if (rc == 0 && (cw_buf_status(&w.b) != CW_OK || rw_finish(&w, out) != 0))
        rc = -1;
    rw_free(&w);
    if (rc != 0) {
        cw_pg_sql_free(out);
        if (!*err)
            *err = cw_strdupf("out of memory");
        return CW_SQL_ERROR;
    }
    return CW_SQL_OK;
}

void cw_pg_sql_free(cw_pg_sql *s)
{
    if (s->names)
        for (int i = 0; i <= s->nparams; i++)
            free(s->names[i]);
    free(s->names);
    free(s->used);
    free(s->sql);
    memset(s, 0, sizeof *s);
}

/* ==== statements ====================================================== */

/* Whether sql is a whole-transaction ROLLBACK (or ABORT): rows a bulk
 * insert holds are then dropped rather than sent. ROLLBACK TO a savepoint
 * is not one: rows appended before the savepoint must still be written. */
static int is_rollback(const char *sql)
{
    sql += strspn(sql, " \t\r\n");
    size_t n = strncasecmp(sql, "ROLLBACK", 8) == 0 ? 8 : strncasecmp(sql, "ABORT", 5) == 0 ? 5 : 0;
    if (n == 0 || ident_char((unsigned char)sql[n]))
        return 0;
    for (const char *p = sql + n; *p && *p != ';'; p++)
        if (strncasecmp(p, "TO", 2) == 0 && !ident_char((unsigned char)p[2]) &&
            !ident_char((unsigned char)p[-1]))
            return 0;
    return 1;
}

typedef struct pg_param {
    Oid type;        /* 0: NULL or not bound (the server infers the type) */
    const char *val; /* NULL: SQL NULL */
    int len;         /* bytes, for bytea (binary) */
    int fmt;         /* 0 text, 1 binary */
    char *own;       /* a copy this parameter owns */
    char num[32];    /* the text of a bound number */
} pg_param;

/* One server-side prepared statement: the plan for one type signature. */
typedef struct pg_plan {
    struct pg_plan *next;
    char name[24];
    Oid types[]; /* [nparams] */
} pg_plan;

typedef struct pg_blob {
    unsigned char *p; /* unescaped bytea, NUL-terminated; NULL: not yet */
    size_t n;
} pg_blob;

enum { ST_IDLE, ST_ROWS, ST_DONE };

typedef struct pg_stmt {
    cw_stmt h;
    cw_pg_conn *c;
    unsigned flags;
    cw_pg_sql q;
    pg_param *p; /* [q.nparams + 1]; [0] unused */
    /* the arrays libpq takes, filled before each run */
    const char **vals;
    int *lens, *fmts;
    Oid *types;
    pg_plan *plans; /* most recent first */
    int nplans;
    int state;
    PGresult *res;   /* the rows (a batch, for a cursor) */
    int row;         /* the current row of res; -1 before the first */
    char cursor[24]; /* the open cursor's name; "" when none */
    int last_batch;  /* res is the cursor's last batch */
    pg_blob *blobs;  /* [PQnfields(res)]: unescaped bytea of the current row */
    int nblobs;
} pg_stmt;

#define S(x) ((pg_stmt *)(x))

static cw_pg_conn *conn_of(cw_store *st)
{
    return cw_store_conn(st);
}

static void free_blobs(pg_stmt *s)
{
    for (int i = 0; i < s->nblobs; i++)
        free(s->blobs[i].p);
    free(s->blobs);
    s->blobs = NULL;
    s->nblobs = 0;
}

static int pg_prepare(cw_store *st, const char *sql, unsigned flags, cw_stmt **out)
{
    cw_pg_conn *c = conn_of(st);
    *out = NULL;
    pg_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return cw_pg_set_error(c, CW_SQL_ERROR, "out of memory");
    char *err = NULL;
    if (cw_pg_rewrite(sql, &s->q, &err) != CW_SQL_OK) {
        cw_pg_set_error(c, CW_SQL_ERROR, "%s", err ? err : "out of memory");
        free(err);
        free(s);
        return CW_SQL_ERROR;
    }
    size_t n = (size_t)s->q.nparams + 1;
    s->p = calloc(n, sizeof *s->p);
    s->vals = calloc(n, sizeof *s->vals);
    s->lens = calloc(n, sizeof *s->lens);
    s->fmts = calloc(n, sizeof *s->fmts);
    s->types = calloc(n, sizeof *s->types);
    s->h.drv = &cw_pg_driver;
    s->h.st = st;
    s->c = c;
    s->flags = flags;
    s->state = ST_IDLE;
    if (!s->p || !s->vals || !s->lens || !s->fmts || !s->types) {
        cw_pg_driver.finalize(&s->h);
        return cw_pg_set_error(c, CW_SQL_ERROR, "out of memory");
    }
    *out = &s->h;
    return CW_SQL_OK;
}

/* ---- binding ---- */

/* The parameter i of q, cleared for a new value; NULL (error set) when i is
 * out of range. */
static pg_param *param(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    if (i < 1 || i > s->q.nparams) {
        cw_pg_set_error(s->c, CW_SQL_ERROR, "parameter %d out of range (the statement has %d)", i,
                        s->q.nparams);
        return NULL;
    }
    pg_param *p = &s->p[i];
    free(p->own);
    memset(p, 0, sizeof *p);
    return p;
}

static int pg_bind_null(cw_stmt *q, int i)
{
    return param(q, i) ? CW_SQL_OK : CW_SQL_ERROR;
}

static int pg_bind_i64(cw_stmt *q, int i, int64_t v)
{
    pg_param *p = param(q, i);
    if (!p)
        return CW_SQL_ERROR;
    snprintf(p->num, sizeof p->num, "%lld", (long long)v);
    p->type = OID_INT8;
    p->val = p->num;
    return CW_SQL_OK;
}

static int pg_bind_double(cw_stmt *q, int i, double v)
{
    pg_param *p = param(q, i);
    if (!p)
        return CW_SQL_ERROR;
    if (isnan(v))
        snprintf(p->num, sizeof p->num, "NaN");
    else if (isinf(v))
        snprintf(p->num, sizeof p->num, "%s", v > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(p->num, sizeof p->num, "%.17g", v);
    p->type = OID_FLOAT8;
    p->val = p->num;
    return CW_SQL_OK;
}

/* Texts go in text form, which libpq reads up to a NUL: a length-limited
 * text is copied to end in one, and one holding a NUL is refused (the
 * server would refuse it too). */
static int pg_bind_text(cw_stmt *q, int i, const char *v, int len, int copy)
{
    pg_param *p = param(q, i);
    if (!p)
        return CW_SQL_ERROR;
    if (!v)
        return CW_SQL_OK;
    p->type = OID_TEXT;
    if (len < 0 && !copy) {
        p->val = v;
        return CW_SQL_OK;
    }
    size_t n = len < 0 ? strlen(v) : (size_t)len;
    if (memchr(v, '\0', n)) {
        p->type = 0;
        return cw_pg_set_error(S(q)->c, CW_SQL_ERROR, "parameter %d: text holds a NUL byte", i);
    }
    p->own = cw_strndup(v, n);
    if (!p->own) {
        p->type = 0;
        return cw_pg_set_error(S(q)->c, CW_SQL_ERROR, "out of memory");
    }
    p->val = p->own;
    return CW_SQL_OK;
}

static int pg_bind_blob(cw_stmt *q, int i, const void *v, size_t len, int copy)
{
    pg_param *p = param(q, i);
    if (!p)
        return CW_SQL_ERROR;
    if (!v)
        return CW_SQL_OK;
    if (len > INT_MAX)
        return cw_pg_set_error(S(q)->c, CW_SQL_ERROR, "parameter %d: blob too big", i);
    if (copy && len > 0) {
        p->own = malloc(len);
        if (!p->own)
            return cw_pg_set_error(S(q)->c, CW_SQL_ERROR, "out of memory");
        memcpy(p->own, v, len);
        v = p->own;
    }
    p->type = OID_BYTEA;
    p->val = len > 0 ? v : ""; /* a NULL pointer would be SQL NULL */
    p->len = (int)len;
    p->fmt = 1;
    return CW_SQL_OK;
}

static int pg_param_index(cw_stmt *q, const char *name)
{
    pg_stmt *s = S(q);
    for (int i = 1; i <= s->q.nparams; i++)
        if (s->q.names[i] && !strcmp(s->q.names[i], name))
            return i;
    return 0;
}

static int pg_param_count(cw_stmt *q)
{
    return S(q)->q.nparams;
}

static void pg_clear_bindings(cw_stmt *q)
{
    pg_stmt *s = S(q);
    for (int i = 1; i <= s->q.nparams; i++) {
        free(s->p[i].own);
        memset(&s->p[i], 0, sizeof s->p[i]);
    }
}

/* ---- running ---- */

/* Fills libpq's arrays from the bound parameters. A parameter the text
 * never mentions (?1 and ?3 without ?2) gets a type, or the server could
 * not infer one. */
static void fill_params(pg_stmt *s)
{
    for (int i = 1; i <= s->q.nparams; i++) {
        const pg_param *p = &s->p[i];
        s->types[i - 1] = p->type || s->q.used[i] ? p->type : OID_TEXT;
        s->vals[i - 1] = p->val;
        s->lens[i - 1] = p->len;
        s->fmts[i - 1] = p->fmt;
    }
}

/* The plan of s for the current types, prepared when new; NULL with the
 * error set when the server refused it. */
static pg_plan *plan_for(pg_stmt *s)
{
    size_t n = (size_t)s->q.nparams;
    pg_plan **pp = &s->plans;
    for (; *pp; pp = &(*pp)->next)
        if (memcmp((*pp)->types, s->types, n * sizeof(Oid)) == 0)
            break;
    pg_plan *pl = *pp;
    if (pl) { /* move to the front */
        *pp = pl->next;
        pl->next = s->plans;
        s->plans = pl;
        return pl;
    }
    pl = malloc(sizeof *pl + n * sizeof(Oid));
    if (!pl) {
        cw_pg_set_error(s->c, CW_SQL_ERROR, "out of memory");
        return NULL;
    }
    snprintf(pl->name, sizeof pl->name, "cw_p%u", ++s->c->next_id);
    memcpy(pl->types, s->types, n * sizeof(Oid));
    PGresult *r = PQprepare(s->c->pg, pl->name, s->q.sql, (int)n, s->types);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        cw_pg_result_error(s->c, r);
        PQclear(r);
        free(pl);
        return NULL;
    }
    PQclear(r);
    pl->next = s->plans;
    s->plans = pl;
    if (++s->nplans > PG_MAX_PLANS) { /* forget the least recent */
        pg_plan **last = &s->plans;
        while ((*last)->next)
            last = &(*last)->next;
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", (*last)->name);
        cw_pg_quiet(s->c, sql);
        free(*last);
        *last = NULL;
        s->nplans--;
    }
    return pl;
}

/* Rows changed, from the command tag of an INSERT, UPDATE, DELETE or
 * MERGE (with or without RETURNING). */
static void note_changes(cw_pg_conn *c, PGresult *r)
{
    const char *tag = PQcmdStatus(r);
    if (strncmp(tag, "INSERT", 6) && strncmp(tag, "UPDATE", 6) && strncmp(tag, "DELETE", 6) &&
        strncmp(tag, "MERGE", 5))
        return;
    c->changes = strtoll(PQcmdTuples(r), NULL, 10);
}

/* Takes the result of running s (freed here unless kept as s->res):
 * CW_SQL_OK with rows to read, CW_SQL_DONE, or the error. */
static int take_result(pg_stmt *s, PGresult *r)
{
    ExecStatusType t = PQresultStatus(r);
    if (t == PGRES_TUPLES_OK || t == PGRES_COMMAND_OK || t == PGRES_EMPTY_QUERY) {
        s->c->errcode = CW_SQL_OK;
        note_changes(s->c, r);
    }
    if (t == PGRES_TUPLES_OK) {
        s->res = r;
        s->row = -1;
        return CW_SQL_OK;
    }
    int rc =
        t == PGRES_COMMAND_OK || t == PGRES_EMPTY_QUERY ? CW_SQL_DONE : cw_pg_result_error(s->c, r);
    PQclear(r);
    return rc;
}

/* Ends the driver's own transaction once no cursor needs it: COMMIT, or
 * ROLLBACK when it failed. loud: a failed COMMIT is the caller's error
 * (its writes inside the loop are lost); otherwise it is housekeeping. */
static int txn_release(cw_pg_conn *c, int loud)
{
    if (c->cursors > 0 || !c->own_txn)
        return CW_SQL_OK;
    c->own_txn = 0;
    PGTransactionStatusType t = PQtransactionStatus(c->pg);
    if (t == PQTRANS_INERROR) {
        cw_pg_quiet(c, "ROLLBACK");
        return CW_SQL_OK;
    }
    if (t != PQTRANS_INTRANS)
        return CW_SQL_OK;
    int rc = cw_pg_bulk_sync(c, 0); /* rows appended in the cursor's loop */
    if (rc != CW_SQL_OK) {
        cw_pg_quiet(c, "ROLLBACK");
        return loud ? rc : CW_SQL_OK;
    }
    if (!loud) {
        cw_pg_quiet(c, "COMMIT");
        return CW_SQL_OK;
    }
    PGresult *r = PQexec(c->pg, "COMMIT");
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? CW_SQL_OK : cw_pg_result_error(c, r);
    PQclear(r);
    return rc;
}

/* Closes s's cursor, if open. */
static int cursor_close(pg_stmt *s, int loud)
{
    if (!s->cursor[0])
        return CW_SQL_OK;
    char sql[48];
    snprintf(sql, sizeof sql, "CLOSE %s", s->cursor);
    if (PQtransactionStatus(s->c->pg) == PQTRANS_INTRANS)
        cw_pg_quiet(s->c, sql); /* in a failed transaction it is gone anyway */
    s->cursor[0] = '\0';
    s->c->cursors--;
    return txn_release(s->c, loud);
}

static int cursor_fetch(pg_stmt *s)
{
    int rc = cw_pg_bulk_sync(s->c, 0);
    if (rc != CW_SQL_OK)
        return rc;
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH %d FROM %s", PG_BATCH, s->cursor);
    PGresult *r = PQexec(s->c->pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = cw_pg_result_error(s->c, r);
        PQclear(r);
        return rc;
    }
    PQclear(s->res);
    s->res = r;
    s->row = -1;
    s->last_batch = PQntuples(r) < PG_BATCH;
    return CW_SQL_OK;
}

/* DECLAREs the cursor of s (in a transaction of its own when none is
 * open) and fetches the first batch. */
static int cursor_open(pg_stmt *s)
{
    cw_pg_conn *c = s->c;
    if (!cw_pg_in_txn(c)) {
        PGresult *r = PQexec(c->pg, "BEGIN");
        int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? CW_SQL_OK : cw_pg_result_error(c, r);
        PQclear(r);
        if (rc != CW_SQL_OK)
            return rc;
        c->own_txn = 1;
    }
    char name[24];
    snprintf(name, sizeof name, "cw_c%u", ++c->next_id);
    char *sql = cw_strdupf("DECLARE %s NO SCROLL CURSOR FOR %s", name, s->q.sql);
    if (!sql) {
        txn_release(c, 0);
        return cw_pg_set_error(c, CW_SQL_ERROR, "out of memory");
    }
    PGresult *r = PQexecParams(c->pg, sql, s->q.nparams, s->types, s->vals, s->lens, s->fmts, 0);
    free(sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? CW_SQL_OK : cw_pg_result_error(c, r);
    PQclear(r);
    if (rc != CW_SQL_OK) {
        txn_release(c, 0);
        return rc;
    }
    memcpy(s->cursor, name, sizeof name);
    c->cursors++;
    c->errcode = CW_SQL_OK;
    return cursor_fetch(s);
}

/* Runs s: CW_SQL_OK with rows to read (s->res), CW_SQL_DONE, or an error. */
static int run(pg_stmt *s)
{
    int rc = cw_pg_bulk_sync(s->c, is_rollback(s->q.sql));
    if (rc != CW_SQL_OK)
        return rc;
    fill_params(s);
    if (s->flags & CW_SQL_STREAM)
        return cursor_open(s);
    int n = s->q.nparams;
    PGresult *r;
    if (s->flags & CW_SQL_PERSISTENT) {
        pg_plan *pl = plan_for(s);
        if (!pl)
            return s->c->errcode;
        r = PQexecPrepared(s->c->pg, pl->name, n, s->vals, s->lens, s->fmts, 0);
    } else {
        r = PQexecParams(s->c->pg, s->q.sql, n, s->types, s->vals, s->lens, s->fmts, 0);
    }
    return take_result(s, r);
}

/* The next row of s's result (the next batch of its cursor when this one
 * is read): CW_SQL_ROW, CW_SQL_DONE or an error. */
static int next_row(pg_stmt *s)
{
    if (++s->row < PQntuples(s->res))
        return CW_SQL_ROW;
    if (s->cursor[0] && !s->last_batch) {
        int rc = cursor_fetch(s);
        if (rc != CW_SQL_OK)
            return rc;
        if (++s->row < PQntuples(s->res))
            return CW_SQL_ROW;
    }
    return s->cursor[0] ? cursor_close(s, 1) : CW_SQL_OK;
}

static int pg_reset(cw_stmt *q)
{
    pg_stmt *s = S(q);
    cursor_close(s, 0);
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    free_blobs(s);
    s->state = ST_IDLE;
    return CW_SQL_OK;
}

static int pg_step(cw_stmt *q)
{
    pg_stmt *s = S(q);
    free_blobs(s);
    if (s->state == ST_DONE) /* stepping again runs it again, as in SQLite */
        pg_reset(q);
    int rc = CW_SQL_OK;
    if (s->state == ST_IDLE) {
        rc = run(s);
        s->state = ST_ROWS;
    }
    if (rc == CW_SQL_OK && s->res)
        rc = next_row(s);
    if (rc == CW_SQL_OK)
        rc = CW_SQL_DONE;
    if (rc != CW_SQL_ROW) {
        if (rc != CW_SQL_DONE)
            cursor_close(s, 0); /* keeps the error: the statement failed */
        s->state = ST_DONE;
    }
    return rc;
}

static void pg_finalize(cw_stmt *q)
{
    pg_stmt *s = S(q);
    pg_reset(q);
    while (s->plans) {
        pg_plan *pl = s->plans;
        s->plans = pl->next;
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", pl->name);
        if (PQstatus(s->c->pg) == CONNECTION_OK && PQtransactionStatus(s->c->pg) != PQTRANS_INERROR)
            cw_pg_quiet(s->c, sql);
        free(pl);
    }
    if (s->p)
        pg_clear_bindings(q);
    cw_pg_sql_free(&s->q);
    free(s->p);
    free(s->vals);
    free(s->lens);
    free(s->fmts);
    free(s->types);
    free(s);
}

/* ---- columns ---- */

/* The text of column i of the current row; NULL when SQL NULL or there is
 * no such cell. */
static const char *cell(pg_stmt *s, int i)
{
    if (!s->res || s->row < 0 || s->row >= PQntuples(s->res) || i < 0 || i >= PQnfields(s->res) ||
        PQgetisnull(s->res, s->row, i))
        return NULL;
    return PQgetvalue(s->res, s->row, i);
}

static int pg_col_count(cw_stmt *q)
{
    return S(q)->res ? PQnfields(S(q)->res) : 0;
}

static const char *pg_col_name(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    return s->res && i >= 0 && i < PQnfields(s->res) ? PQfname(s->res, i) : NULL;
}

static int pg_col_type(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    if (!cell(s, i))
        return CW_SQL_NULL;
    switch (PQftype(s->res, i)) {
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID: return CW_SQL_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC: return CW_SQL_FLOAT;
    case OID_BYTEA: return CW_SQL_BLOB;
    default: return CW_SQL_TEXT;
    }
}

static int is_bool(pg_stmt *s, int i)
{
    return PQftype(s->res, i) == OID_BOOL;
}

/* A double as an integer the way SQLite casts: truncated, saturated, NaN
 * as 0. */
static int64_t double_to_i64(double d)
{
    if (isnan(d))
        return 0;
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

static int64_t pg_col_i64(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    const char *v = cell(s, i);
    if (!v)
        return 0;
    if (is_bool(s, i))
        return v[0] == 't';
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (*end == '\0' && end != v && errno == 0)
        return x;
    return double_to_i64(strtod(v, NULL)); /* numeric, float, or out of range */
}

static double pg_col_double(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    const char *v = cell(s, i);
    if (!v)
        return 0.0;
    if (is_bool(s, i))
        return v[0] == 't' ? 1.0 : 0.0;
    return strtod(v, NULL); /* reads NaN, Infinity and -Infinity too */
}

/* Column i's bytea, unescaped once per row. */
static pg_blob *blob(pg_stmt *s, int i)
{
    const char *v = cell(s, i);
    if (!v)
        return NULL;
    if (!s->blobs) {
        s->blobs = calloc((size_t)PQnfields(s->res), sizeof *s->blobs);
        if (!s->blobs)
            return NULL;
        s->nblobs = PQnfields(s->res);
    }
    pg_blob *b = &s->blobs[i];
    if (!b->p) {
        size_t n;
        unsigned char *u = PQunescapeBytea((const unsigned char *)v, &n);
        if (!u)
            return NULL;
        b->p = malloc(n + 1);
        if (b->p) {
            memcpy(b->p, u, n);
            b->p[n] = '\0';
            b->n = n;
        }
        PQfreemem(u);
    }
    return b->p ? b : NULL;
}

static const unsigned char *pg_col_text(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    const char *v = cell(s, i);
    if (!v)
        return NULL;
    if (PQftype(s->res, i) == OID_BYTEA) {
        pg_blob *b = blob(s, i);
        return b ? b->p : NULL;
    }
    if (is_bool(s, i)) /* as SQLite shows them */
        return (const unsigned char *)(v[0] == 't' ? "1" : "0");
    return (const unsigned char *)v;
}

static const void *pg_col_blob(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    const char *v = cell(s, i);
    if (v && PQftype(s->res, i) == OID_BYTEA) {
        pg_blob *b = blob(s, i);
        return b ? b->p : NULL;
    }
    return v;
}

static int pg_col_bytes(cw_stmt *q, int i)
{
    pg_stmt *s = S(q);
    const char *v = cell(s, i);
    if (!v)
        return 0;
    if (PQftype(s->res, i) == OID_BYTEA) {
        pg_blob *b = blob(s, i);
        return b ? (int)b->n : 0;
    }
    if (is_bool(s, i))
        return 1;
    return PQgetlength(s->res, s->row, i);
}

/* ---- the connection ---- */

static int pg_exec(cw_store *st, const char *sql)
{
    cw_pg_conn *c = conn_of(st);
    int rc = cw_pg_bulk_sync(c, is_rollback(sql));
    if (rc != CW_SQL_OK)
        return rc;
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType t = PQresultStatus(r);
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK || t == PGRES_EMPTY_QUERY) {
        c->errcode = CW_SQL_OK;
        note_changes(c, r);
    } else {
        rc = cw_pg_result_error(c, r);
    }
    PQclear(r);
    return rc;
}

static int64_t pg_changes(cw_store *st)
{
    return conn_of(st)->changes;
}

static const char *pg_errmsg(cw_store *st)
{
    cw_pg_conn *c = conn_of(st);
    if (c->errcode == CW_SQL_OK && !c->errmsg)
        return "not an error";
    return c->errmsg ? c->errmsg : "out of memory";
}

static int pg_errcode(cw_store *st)
{
    return conn_of(st)->errcode;
}

const cw_sql_driver cw_pg_driver = {
    .name = "postgresql",
    .dialect = CW_DIALECT_PG,
    .prepare = pg_prepare,
    .bind_i64 = pg_bind_i64,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .param_index = pg_param_index,
    .param_count = pg_param_count,
    .step = pg_step,
    .reset = pg_reset,
    .clear_bindings = pg_clear_bindings,
    .finalize = pg_finalize,
    .col_count = pg_col_count,
    .col_name = pg_col_name,
    .col_type = pg_col_type,
    .col_i64 = pg_col_i64,
    .col_double = pg_col_double,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_bytes = pg_col_bytes,
    .exec = pg_exec,
    .changes = pg_changes,
    .errmsg = pg_errmsg,
    .errcode = pg_errcode,
    .bulk_open = cw_pg_bulk_open,
    .bulk_i64 = cw_pg_bulk_i64,
    .bulk_double = cw_pg_bulk_double,
    .bulk_text = cw_pg_bulk_text,
    .bulk_blob = cw_pg_bulk_blob,
    .bulk_null = cw_pg_bulk_null,
    .bulk_row = cw_pg_bulk_row,
    .bulk_flush = cw_pg_bulk_flush,
    .bulk_close = cw_pg_bulk_close,
};
