/*
 * store/sql/store_ingest.c — the tables of the data model (accounts, users,
 * subscriptions, … : every kind but events) as ingest writes and the engines
 * read them: upserts and merges built from the schema table
 * (ingest/schema.c), id and name loads, and natural-key scans.
 *
 * An upsert updates a stored row only when one of its columns differs, so
 * that the number of rows changed tells a new or changed row from an
 * identical one (ingest's "written" vs "unchanged").
 */
#include "core/util.h"
#include "ingest/validate.h"
#include "store/sql/store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Calls fn(text, len, int, int, ud) for each row of sql (three columns). */
static cw_status scan_ids(cw_store *st, const char *sql, const char *what,
                          cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *), void *ud)
{
    cw_stmt *q;
    cw_status s = cw_sql_prep(st, sql, 0, &q, what);
    if (s != CW_OK)
        return s;
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = fn((const char *)cw_sql_col_text(q, 0), (size_t)cw_sql_col_bytes(q, 0),
               cw_sql_col_i64(q, 1), cw_sql_col_i64(q, 2), ud);
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, what);
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_load_ids(cw_store *st, cw_kind kind,
                         cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *), void *ud)
{
    const char *sql = kind == CW_KIND_ACCOUNTS ? "SELECT account_id, id, -1 FROM accounts"
                      : kind == CW_KIND_USERS  ? "SELECT user_id, id, account FROM users"
                      : kind == CW_KIND_EVENTS ? "SELECT name, id, -1 FROM event_names"
                                               : NULL;
    if (!sql)
        return cw_store_set_error(st, CW_ERR_USAGE, "load_ids: kind has no ids");
    return scan_ids(st, sql, "load ids", fn, ud);
}

cw_status cw_op_load_provisional(cw_store *st,
                                 cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *),
                                 void *ud)
{
    return scan_ids(st,
                    "SELECT user_id, id, provisioned_at FROM users WHERE provisional=1"
                    " ORDER BY id",
                    "users", fn, ud);
}

cw_status cw_op_load_names(cw_store *st,
                           cw_status (*fn)(int, int64_t, const char *, size_t, const char *, size_t,
                                           void *),
                           void *ud)
{
    static const char *sql[2] = {
        "SELECT id, account_id, name FROM accounts",
        "SELECT a.id, a.account_id, u.email FROM users u JOIN accounts a ON a.id = u.account"
        " WHERE u.email IS NOT NULL"};
    cw_status s = CW_OK;
    for (int w = 0; w < 2 && s == CW_OK; w++) {
        cw_stmt *q;
        if ((s = cw_sql_prep(st, sql[w], 0, &q, "load names")) != CW_OK)
            return s;
        int rc;
        while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
            s = fn(w, cw_sql_col_i64(q, 0), (const char *)cw_sql_col_text(q, 1),
                   (size_t)cw_sql_col_bytes(q, 1), (const char *)cw_sql_col_text(q, 2),
                   (size_t)cw_sql_col_bytes(q, 2), ud);
        if (s == CW_OK && rc != CW_SQL_DONE)
            s = cw_sql_fail(st, "load names");
        cw_sql_finalize(q);
    }
    return s;
}

/* ---- statements built from the schema table --------------------------- */

/* The column of field f in SQL: "user" is quoted (a reserved word in
 * PostgreSQL). */
static const char *col_of(const cw_field_def *f)
{
    const char *c = f->column ? f->column : f->name;
    return strcmp(c, "user") == 0 ? "\"user\"" : c;
}

/* Whether kind's rows have an internal id (returned by their inserts). */
static int has_id(cw_kind kind)
{
    return kind == CW_KIND_ACCOUNTS || kind == CW_KIND_USERS;
}

/* A statement being built; an overflow shows as n >= sizeof sql. */
typedef struct sqlbuf {
    char sql[4096];
    size_t n;
} sqlbuf;

__attribute__((format(printf, 2, 3))) static void app(sqlbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->n < sizeof b->sql ? sizeof b->sql - b->n : 0;
    b->n += (size_t)vsnprintf(b->sql + b->n, room, fmt, ap);
    va_end(ap);
}

/* The fields a statement uses: a bit per field. */
static unsigned key_fields(const cw_kind_def *kd)
{
    unsigned m = 0;
    for (int i = 0; i < kd->nfields; i++)
        if (kd->fields[i].flags & CW_FD_KEY)
            m |= 1u << i;
    return m;
}

static unsigned all_fields(const cw_kind_def *kd)
{
    return kd->nfields >= 32 ? ~0u : (1u << kd->nfields) - 1;
}

/* How app_list writes each field. */
typedef enum item {
    IT_COL,        /* col */
    IT_PARAM,      /* ?N */
    IT_SET_EXCL,   /* col=excluded.col */
    IT_DIFF_EXCL,  /* table.col IS DISTINCT FROM excluded.col */
    IT_SET_PARAM,  /* col=?N */
    IT_DIFF_PARAM, /* col IS DISTINCT FROM ?N */
} item;

/* The parameter of field i among the fields of used: fields are bound in
 * order, skipping the unused (PostgreSQL needs every parameter number up
 * to the last one to appear in the statement). */
static int param_of(unsigned used, int i)
{
    int p = 1;
    for (int j = 0; j < i; j++)
        p += (int)(used >> j & 1);
    return p;
}

/* Appends one item per field of fields (a bit per field), separated by sep;
 * parameters are numbered over used. Returns how many were appended. */
static int app_list(sqlbuf *b, const cw_kind_def *kd, unsigned fields, unsigned used,
                    const char *sep, item it)
{
    int n = 0;
    for (int i = 0; i < kd->nfields; i++) {
        if (!(fields >> i & 1))
            continue;
        const char *c = col_of(&kd->fields[i]), *s = n++ ? sep : "";
        int p = param_of(used, i);
        switch (it) {
        case IT_COL: app(b, "%s%s", s, c); break;
        case IT_PARAM: app(b, "%s?%d", s, p); break;
        case IT_SET_EXCL: app(b, "%s%s=excluded.%s", s, c, c); break;
        case IT_DIFF_EXCL:
            app(b, "%s%s.%s IS DISTINCT FROM excluded.%s", s, kd->table, c, c);
            break;
        case IT_SET_PARAM: app(b, "%s%s=?%d", s, c, p); break;
        case IT_DIFF_PARAM: app(b, "%s%s IS DISTINCT FROM ?%d", s, c, p); break;
        }
    }
    return n;
}

static cw_status prep_built(cw_store *st, const sqlbuf *b, const cw_kind_def *kd, cw_stmt **q)
{
    if (b->n >= sizeof b->sql)
        return cw_store_set_error(st, CW_ERR_TOOBIG, "%s: statement too long", kd->name);
    return cw_sql_prep(st, b->sql, CW_SQL_PERSISTENT, q, kd->name);
}

/* "INSERT INTO table(every field) VALUES(?1, …)" (billing periods: and their
 * line as the last parameter). */
static void app_insert(sqlbuf *b, const cw_kind_def *kd, int periods)
{
    unsigned all = all_fields(kd);
    app(b, "INSERT INTO %s(", kd->table);
    app_list(b, kd, all, all, ",", IT_COL);
    app(b, "%s) VALUES(", periods ? ",line" : "");
    app_list(b, kd, all, all, ",", IT_PARAM);
    if (periods)
        app(b, ",?%d", kd->nfields + 1);
    app(b, ")");
}

/* The upsert of a kind: insert every field; on a natural-key conflict update
 * the other columns only when one differs, so that a row counts as changed
 * (returned, or in the changes count) only when it is new or differed. */
static cw_status prepare_put(cw_store *st, const cw_kind_def *kd)
{
    sqlbuf b = {.n = 0};
    unsigned keys = key_fields(kd), nonkey = all_fields(kd) & ~keys;
    /* Billing periods key on a line column that is no field of their own:
     * line_id, else product (bound by cw_op_put_row as the last parameter). */
    int periods = kd->kind == CW_KIND_SUBSCRIPTION_PERIODS;
    int users = kd->kind == CW_KIND_USERS;
    app_insert(&b, kd, periods);
    app(&b, " ON CONFLICT(");
    if (periods)
        app(&b, "account,line,period_start");
    else
        app_list(&b, kd, keys, 0, ",", IT_COL);
    if (!nonkey) {
        app(&b, ") DO NOTHING");
    } else {
        app(&b, ") DO UPDATE SET ");
        app_list(&b, kd, nonkey, 0, ",", IT_SET_EXCL);
        /* A users export row is the user's real record: a user created on
         * first sight in events stops being provisional. */
        app(&b, "%s WHERE %s", users ? ",provisional=0" : "",
            users ? "users.provisional<>0 OR " : "");
        app_list(&b, kd, nonkey, 0, " OR ", IT_DIFF_EXCL);
    }
    if (has_id(kd->kind))
        app(&b, " RETURNING id");
    return prep_built(st, &b, kd, &st->put[kd->kind]);
}

/* The canonical spelling of enum value k of field f, into buf. */
const char *cw_store_enum_name(const cw_field_def *f, int64_t k, char *buf, size_t n)
{
    const char *a = f->enum_values;
    for (int64_t i = 0; a && i < k; i++) {
        a = strchr(a, '|');
        a = a ? a + 1 : NULL;
    }
    if (!a)
        return NULL;
    const char *bar = strchr(a, '|');
    size_t len = bar ? (size_t)(bar - a) : strlen(a);
    if (len >= n)
        len = n - 1;
    memcpy(buf, a, len);
    buf[len] = '\0';
    return buf;
}

/* Binds the fields of used (a bit per field) to parameters 1, 2, … in
 * field order: NULL when absent, refs for references, enum names as text. */
static void bind_row(cw_stmt *q, const cw_kind_def *kd, unsigned used, const cw_value *v,
                     const int64_t *refs)
{
    int p = 0;
    for (int i = 0; i < kd->nfields; i++) {
        if (!(used >> i & 1))
            continue;
        const cw_field_def *f = &kd->fields[i];
        p++;
        if (!v[i].present) {
            cw_sql_bind_null(q, p);
            continue;
        }
        switch (f->type) {
        case CW_F_REF_ACCOUNT:
        case CW_F_REF_USER: cw_sql_bind_i64(q, p, refs[i]); break;
        case CW_F_INT:
        case CW_F_MONEY:
        case CW_F_DATE:
        case CW_F_TS:
        case CW_F_BOOL: cw_sql_bind_i64(q, p, v[i].i); break;
        case CW_F_REAL: cw_sql_bind_double(q, p, v[i].d); break;
        case CW_F_ENUM: {
            char buf[64];
            cw_sql_bind_text_copy(q, p, cw_store_enum_name(f, v[i].i, buf, sizeof buf), -1);
            break;
        }
        default: cw_sql_bind_text(q, p, v[i].s, (int)v[i].len);
        }
    }
}

/* Runs q, a write that returns the written row's id (RETURNING id) for
 * kinds with ids: *changed whether a row was written, *new_id its id
 * (-1 when none). */
static cw_status run_write(cw_store *st, cw_stmt *q, const cw_kind_def *kd, int *changed,
                           int64_t *new_id)
{
    int64_t id = -1;
    cw_status s = cw_sql_step_id(st, q, &id, kd->name);
    if (s != CW_OK)
        return s;
    *changed = has_id(kd->kind) ? id >= 0 : cw_sql_changes(st) > 0;
    if (new_id)
        *new_id = id;
    return CW_OK;
}

cw_status cw_op_put_row(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                        int *changed, int64_t *new_id)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    if (!kd || kind == CW_KIND_EVENTS)
        return cw_store_set_error(st, CW_ERR_USAGE, "put_row: bad kind");
    cw_status s;
    if (!st->put[kind] && (s = prepare_put(st, kd)) != CW_OK)
        return s;
    cw_stmt *q = st->put[kind];
    bind_row(q, kd, all_fields(kd), v, refs);
    if (kind == CW_KIND_SUBSCRIPTION_PERIODS) {
        const cw_value *line = v[CW_SP_LINE_ID].present   ? &v[CW_SP_LINE_ID]
                               : v[CW_SP_PRODUCT].present ? &v[CW_SP_PRODUCT]
                                                          : NULL;
        cw_sql_bind_text(q, kd->nfields + 1, line ? line->s : "", line ? (int)line->len : 0);
    }
    return run_write(st, q, kd, changed, new_id);
}

/* ---- merged rows ------------------------------------------------------ */

/* The UPDATE of a merge: set the chosen non-key columns on the row with the
 * row's key, only when one of them differs; its parameters are the fields
 * of key_fields | set. NULL when nothing is set. */
static cw_status merge_update(cw_store *st, const cw_kind_def *kd, unsigned set, cw_stmt **out)
{
    *out = NULL;
    for (int i = 0; i < CW_MERGE_SLOTS; i++)
        if (st->merge_upd[i] && st->merge_kind[i] == kd->kind && st->merge_set[i] == set) {
            *out = st->merge_upd[i];
            return CW_OK;
        }
    unsigned keys = key_fields(kd), chosen = set & all_fields(kd) & ~keys, used = keys | chosen;
    if (!chosen)
        return CW_OK;
    sqlbuf b = {.n = 0};
    app(&b, "UPDATE %s SET ", kd->table);
    app_list(&b, kd, chosen, used, ",", IT_SET_PARAM);
    app(&b, " WHERE ");
    app_list(&b, kd, keys, used, " AND ", IT_SET_PARAM);
    app(&b, " AND (");
    app_list(&b, kd, chosen, used, " OR ", IT_DIFF_PARAM);
    app(&b, ")");
    int slot = st->merge_next++ % CW_MERGE_SLOTS;
    cw_sql_finalize(st->merge_upd[slot]);
    st->merge_upd[slot] = NULL;
    cw_status s = prep_built(st, &b, kd, &st->merge_upd[slot]);
    if (s != CW_OK)
        return s;
    st->merge_kind[slot] = kd->kind;
    st->merge_set[slot] = set;
    *out = st->merge_upd[slot];
    return CW_OK;
}

/* The insert of a merged row that does not exist yet. */
static cw_status merge_insert(cw_store *st, const cw_kind_def *kd, cw_stmt **out)
{
    if (!st->ins_new[kd->kind]) {
        sqlbuf b = {.n = 0};
        app_insert(&b, kd, 0);
        app(&b, " ON CONFLICT DO NOTHING%s", has_id(kd->kind) ? " RETURNING id" : "");
        cw_status s = prep_built(st, &b, kd, &st->ins_new[kd->kind]);
        if (s != CW_OK)
            return s;
    }
    *out = st->ins_new[kd->kind];
    return CW_OK;
}

cw_status cw_op_put_row_merge(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                              unsigned set, int *changed, int64_t *new_id)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    if (!kd || kind == CW_KIND_EVENTS)
        return cw_store_set_error(st, CW_ERR_USAGE, "put_row_merge: bad kind");
    *changed = 0;
    if (new_id)
        *new_id = -1;
    cw_stmt *q;
    cw_status s = merge_update(st, kd, set, &q);
    if (s != CW_OK)
        return s;
    if (q) {
        bind_row(q, kd, key_fields(kd) | (set & all_fields(kd)), v, refs);
        if ((s = cw_sql_step_done(st, q, kd->name)) != CW_OK)
            return s;
        if (cw_sql_changes(st) > 0) {
            *changed = 1;
            return CW_OK;
        }
    }
    /* Not updated: identical, or new. A row lacking a required field
     * exists (the caller's guarantee), so only a complete one is inserted. */
    for (int i = 0; i < kd->nfields; i++)
        if ((kd->fields[i].flags & CW_FD_REQUIRED) && !v[i].present)
            return CW_OK;
    if ((s = merge_insert(st, kd, &q)) != CW_OK)
        return s;
    bind_row(q, kd, all_fields(kd), v, refs);
    return run_write(st, q, kd, changed, new_id);
}

/* ---- scans ------------------------------------------------------------ */

/* Index of text t among the '|'-separated values, or 0. */
static int64_t enum_index_of(const char *values, const unsigned char *t)
{
    size_t len = t ? strlen((const char *)t) : 0;
    int64_t i = 0;
    for (const char *a = values; a && *a; i++) {
        const char *bar = strchr(a, '|');
        size_t alen = bar ? (size_t)(bar - a) : strlen(a);
        if (alen == len && memcmp(a, t, len) == 0)
            return i;
        a = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* "SELECT id, every field FROM table ORDER BY natural key" (of one account
 * when account > 0, as ?1). */
static void app_scan(sqlbuf *b, const cw_kind_def *kd, int64_t account)
{
    app(b, "SELECT %s,", has_id(kd->kind) ? "id" : "0");
    app_list(b, kd, all_fields(kd), 0, ",", IT_COL);
    app(b, " FROM %s%s ORDER BY ", kd->table, account > 0 ? " WHERE account=?1" : "");
    if (kd->kind == CW_KIND_SUBSCRIPTION_PERIODS) /* its key: see prepare_put */
        app(b, "account,line,period_start");
    else
        app_list(b, kd, key_fields(kd), 0, ",", IT_COL);
}

/* Reads the current row of a scan into v (column i + 1 is field i). */
static void read_row(cw_stmt *q, const cw_kind_def *kd, cw_value *v)
{
    for (int i = 0; i < kd->nfields; i++) {
        const cw_field_def *f = &kd->fields[i];
        int c = i + 1;
        memset(&v[i], 0, sizeof v[i]);
        if (cw_sql_col_type(q, c) == CW_SQL_NULL)
            continue;
        v[i].present = 1;
        switch (f->type) {
        case CW_F_REAL: v[i].d = cw_sql_col_double(q, c); break;
        case CW_F_ENUM: v[i].i = enum_index_of(f->enum_values, cw_sql_col_text(q, c)); break;
        case CW_F_ID:
        case CW_F_TEXT:
        case CW_F_CURRENCY:
        case CW_F_EMAIL:
            v[i].s = (const char *)cw_sql_col_text(q, c);
            v[i].len = (size_t)cw_sql_col_bytes(q, c);
            break;
        default: v[i].i = cw_sql_col_i64(q, c);
        }
    }
}

/* The rows of kind (of one account when account > 0) in natural-key order. */
static cw_status scan_kind(cw_store *st, cw_kind kind, int64_t account,
                           cw_status (*fn)(int64_t, const cw_value *, void *), void *ud)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    if (!kd || kind == CW_KIND_EVENTS)
        return cw_store_set_error(st, CW_ERR_USAGE, "scan_rows: bad kind");
    sqlbuf b = {.n = 0};
    app_scan(&b, kd, account);
    if (b.n >= sizeof b.sql)
        return cw_store_set_error(st, CW_ERR_TOOBIG, "scan statement too long");
    cw_stmt *q;
    cw_status s = cw_sql_prep(st, b.sql, 0, &q, kd->name);
    if (s != CW_OK)
        return s;
    if (account > 0)
        cw_sql_bind_i64(q, 1, account);
    cw_value v[CW_MAX_FIELDS];
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        read_row(q, kd, v);
        s = fn(cw_sql_col_i64(q, 0), v, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, kd->name);
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_scan_rows(cw_store *st, cw_kind kind,
                          cw_status (*fn)(int64_t, const cw_value *, void *), void *ud)
{
    return scan_kind(st, kind, 0, fn, ud);
}

cw_status cw_op_scan_periods(cw_store *st, int64_t account,
                             cw_status (*fn)(int64_t, const cw_value *, void *), void *ud)
{
    if (account <= 0)
        return cw_store_set_error(st, CW_ERR_USAGE, "scan_periods: bad account");
    return scan_kind(st, CW_KIND_SUBSCRIPTION_PERIODS, account, fn, ud);
}
