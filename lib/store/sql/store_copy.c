/*
 * store/sql/store_copy.c — `churnwatch db copy` and `db digest`: every
 * table of one store into another, and a content digest of a store, over
 * the statement seam (store/sql.h) so that any two backends work
 * (SQLite → SQLite today, SQLite ↔ PostgreSQL with the PG driver).
 *
 * The tables come from one list (cw_copy_tables), checked against a freshly
 * migrated database by tests/unit/test_store_copy.c. Rows are read in
 * primary-key order — text keys compared as bytes on both backends (COLLATE
 * "C" on PostgreSQL, SQLite's BINARY) — so that the digest, a SHA-256 over
 * a canonical encoding of each value, is the same for the same content on
 * any backend:
 *   NULL "N"; integer "I<decimal>;"; real "R<%.17g>;" (nan, inf, -inf
 *   spelt so, -0 as 0); text "T<bytes>:<bytes>"; blob "B<bytes>:<bytes>"; each row
 *   ends with "\n". A table's digest covers its rows; the overall digest
 *   covers, per table, "<name>\0<rows>;" and the table's digest.
 */
#include "store/store_copy.h"
#include "store/sql.h"
#include "store/store.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Foreign-key-safe order: parents (accounts, users, event names, alerts,
 * quarantine runs) before the rows that refer to them. Columns in the
 * order of the schema (PRAGMA table_info), added columns last. */
const cw_copy_table cw_copy_tables[] = {
    {"accounts",
     "id,account_id,name,segment,owner,contract_start,seats,mrr_minor,currency,renewal_date,"
     "status,churn_date,churn_reason",
     "id", 0, 1},
    {"users", "id,user_id,account,email,role,department,provisioned_at,deactivated_at,provisional",
     "id", 0, 1},
    {"subscriptions", "account,effective_at,mrr_minor,currency,seats,plan,billing_period,origin",
     "account,effective_at", 0, 0},
    {"subscription_periods",
     "account,line,period_start,product,line_id,period_end,mrr_minor,amount_minor,quantity,"
     "interval_unit,interval_count,discount_percent,discount_minor,currency",
     "account,line,period_start", 2, 0},
    {"features", "event,feature,tier,milestone,milestone_due_day,first_value", "event", 1, 0},
    {"event_names", "id,name", "id", 0, 1},
    {"event_days", "account,day,events,cells,hashes", "account,day", 0, 0},
    {"trainings", "user,course,completed_at,account", "user,course,completed_at", 2, 0},
    {"tickets", "ticket_id,account,user,opened_at,closed_at,category,priority,satisfaction",
     "ticket_id", 1, 0},
    {"surveys", "survey_id,account,user,type,sent_at,responded_at,score,reason,comment",
     "survey_id", 1, 0},
    {"goals", "goal_id,account,metric,unit,baseline,target,start_date,target_date", "goal_id", 1,
     0},
    {"goal_measurements", "goal_id,measured_at,kind,value", "goal_id,measured_at,kind", 5, 0},
    {"journey", "visitor_id,stage,at,source,campaign,cost_minor,currency,account_id",
     "visitor_id,stage,at", 3, 0},
    {"ingest_log", "id,at,path,kind,rows,written,rejected,bytes", "id", 0, 1},
    {"metric_snapshots", "day,window_days,computed_at,catalog,accounts,users", "day", 0, 0},
    {"account_metrics", "day,account,vals,trend", "day,account", 0, 0},
    {"account_peers", "day,account,peers", "day,account", 0, 0},
    {"user_metrics", "day,user,account,vals", "day,user", 0, 0},
    {"scorecards", "hash,created_at,definition", "hash", 1, 0},
    {"scores", "day,account,scorecard,score,colour,change,contrib", "day,account", 0, 0},
    {"models", "id,name,kind,created_at,active,meta,body", "id", 0, 1},
    {"predictions", "day,account,model,probability,drivers", "day,account,model", 0, 0},
    {"backtests", "id,at,subject,result", "id", 0, 1},
    {"outbox",
     "id,idem_key,action,payload,status,attempts,next_at,created_at,delivered_at,last_error,dest,"
     "last_at",
     "id", 0, 1},
    {"outbox_rate", "dest,window,sent", "dest", 1, 0},
    {"tasks",
     "id,idem_key,account,assignee,title,body,due_day,status,created_at,closed_at,closed_by", "id",
     0, 1},
    {"alerts",
     "id,rule,scope,account,user,status,severity,opened_day,last_firing_day,closed_day,"
     "snoozed_until,acked_by,vals,playbook,created_at",
     "id", 0, 1},
    {"alert_events", "id,alert,kind,day,at,actor,note", "id", 0, 1},
    {"play_assignments", "alert,playbook,control,share,day", "alert", 0, 0},
    {"alert_days", "day,at,opened,closed", "day", 0, 0},
    {"api_tokens", "id,name,role,prefix,hash,created_at,revoked_at,expires_at", "id", 0, 1},
    {"quarantine_runs", "id,at,rows,quarantined", "id", 0, 1},
    {"quarantine", "id,run,file,line,field,error,record", "id", 0, 1},
    {"runs", "id,day,started_at,ended_at,exit_code", "id", 0, 1},
    {"app_users", "id,name,email,role,password,created_at,password_at,disabled_at", "id", 0, 1},
    {"app_sessions", "id,hash,app_user,csrf,created_at,last_seen,expires_at", "id", 0, 1},
};
const int cw_copy_ntables = (int)(sizeof cw_copy_tables / sizeof cw_copy_tables[0]);
_Static_assert(sizeof cw_copy_tables / sizeof cw_copy_tables[0] <= CW_DIGEST_TABLES_MAX,
               "raise CW_DIGEST_TABLES_MAX");

/* ---- SQL text --------------------------------------------------------- */

#define SQL_MAX 2048

/* Appends printf-style to buf (SQL_MAX bytes); a too long statement is a
 * programming error caught by the unit test, reported as "" here. */
static void cat(char *buf, size_t *len, const char *fmt, const char *s)
{
    int n = snprintf(buf + *len, SQL_MAX - *len, fmt, s);
    *len = n < 0 || *len + (size_t)n >= SQL_MAX ? SQL_MAX - 1 : *len + (size_t)n;
}

/* Appends the comma-separated names of list, each quoted ("user" and
 * "window" are reserved words in PostgreSQL), each followed by suffix
 * when bit i of mask is set. Returns the number of names. */
static int cat_names(char *buf, size_t *len, const char *list, unsigned mask, const char *suffix)
{
    int i = 0;
    for (const char *p = list; *p; i++) {
        size_t l = strcspn(p, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)l, p);
        cat(buf, len, i ? ",\"%s\"" : "\"%s\"", name);
        if (mask & (1u << i))
            cat(buf, len, "%s", suffix);
        p += l + (p[l] == ',');
    }
    return i;
}

/* SELECT of every column of t in key order; text keys compare as bytes. */
static int select_sql(cw_store *st, const cw_copy_table *t, char *buf)
{
    size_t len = 0;
    cat(buf, &len, "%s", "SELECT ");
    int n = cat_names(buf, &len, t->cols, 0, "");
    cat(buf, &len, " FROM %s ORDER BY ", t->name);
    cat_names(buf, &len, t->key, cw_sql_dialect(st) == CW_DIALECT_PG ? t->text_keys : 0,
              " COLLATE \"C\"");
    return n;
}

/* ---- the canonical encoding ------------------------------------------ */

static void put(EVP_MD_CTX *c, const void *p, size_t n)
{
    EVP_DigestUpdate(c, p, n);
}

/* "R<value>;" of a real: %.17g round-trips every double. */
static int fmt_real(char *buf, size_t n, double v)
{
    if (isnan(v))
        return snprintf(buf, n, "Rnan;");
    if (isinf(v))
        return snprintf(buf, n, v < 0 ? "R-inf;" : "Rinf;");
    if (v == 0)
        return snprintf(buf, n, "R0;"); /* -0: SQLite stores it as 0 */
    return snprintf(buf, n, "R%.17g;", v);
}

static void hash_col(EVP_MD_CTX *c, cw_stmt *q, int i)
{
    char num[64];
    int n = 0, type = cw_sql_col_type(q, i);
    if (type == CW_SQL_INTEGER) {
        n = snprintf(num, sizeof num, "I%lld;", (long long)cw_sql_col_i64(q, i));
    } else if (type == CW_SQL_FLOAT) {
        n = fmt_real(num, sizeof num, cw_sql_col_double(q, i));
    } else if (type == CW_SQL_TEXT || type == CW_SQL_BLOB) {
        const void *p =
            type == CW_SQL_TEXT ? (const void *)cw_sql_col_text(q, i) : cw_sql_col_blob(q, i);
        int len = cw_sql_col_bytes(q, i);
        n = snprintf(num, sizeof num, "%c%d:", type == CW_SQL_TEXT ? 'T' : 'B', len);
        put(c, num, (size_t)n);
        if (p && len > 0)
            put(c, p, (size_t)len);
        return;
    } else {
        n = snprintf(num, sizeof num, "N");
    }
    put(c, num, (size_t)n);
}

/* Appends column i of q to the destination's bulk insert, keeping its
 * type. An empty text or blob is written as such, never as NULL. */
static int bulk_col(cw_bulk *b, cw_stmt *q, int i)
{
    switch (cw_sql_col_type(q, i)) {
    case CW_SQL_INTEGER: return cw_sql_bulk_i64(b, cw_sql_col_i64(q, i));
    case CW_SQL_FLOAT: return cw_sql_bulk_double(b, cw_sql_col_double(q, i));
    case CW_SQL_TEXT: {
        const unsigned char *p = cw_sql_col_text(q, i);
        return cw_sql_bulk_text(b, p ? (const char *)p : "", cw_sql_col_bytes(q, i));
    }
    case CW_SQL_BLOB: {
        const void *p = cw_sql_col_blob(q, i);
        return cw_sql_bulk_blob(b, p ? p : "", (size_t)cw_sql_col_bytes(q, i));
    }
    default: return cw_sql_bulk_null(b);
    }
}

/* ---- scanning a table ------------------------------------------------ */

typedef struct scan {
    cw_store *src, *dst; /* dst NULL: digest only */
    cw_store *err;       /* where a failure's message goes */
    EVP_MD_CTX *all, *tab;
    cw_db_digest *dig;
    cw_copy_progress_fn on_progress;
    void *ud;
    const char *verb; /* "copy", "digest" */
    int nan_is_null;  /* the destination is SQLite, which stores NaN as NULL */
} scan;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cw_status fail(scan *x, cw_store *on, const char *what, const cw_copy_table *t)
{
    return cw_store_set_error(x->err, CW_ERR_DB, "%s %s: %s", what, t->name, cw_sql_errmsg(on));
}

/* The number of rows of t, for progress only. */
static cw_status count_rows(scan *x, const cw_copy_table *t, int64_t *n)
{
    char sql[160];
    int isnull;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t->name);
    cw_status s = cw_sql_scalar_i64(x->src, sql, n, &isnull);
    if (s != CW_OK && x->err != x->src)
        cw_store_set_error(x->err, s, "%s", cw_store_errmsg(x->src));
    return s;
}

static void progress(scan *x, const cw_copy_table *t, int64_t done, int64_t total, double t0)
{
    char phase[96];
    snprintf(phase, sizeof phase, "%s %s", x->verb, t->name);
    x->on_progress(phase, done, total, now_s() - t0, x->ud);
}

/* Reads every row of t from x->src in key order into the digest and, with
 * ins, appends it to that bulk insert into x->dst. */
static cw_status scan_rows(scan *x, int idx, cw_bulk *ins)
{
    const cw_copy_table *t = &cw_copy_tables[idx];
    int64_t total = 0, rows = 0;
    cw_status s = x->on_progress ? count_rows(x, t, &total) : CW_OK;
    char sql[SQL_MAX];
    int ncols = select_sql(x->src, t, sql);
    cw_stmt *q = NULL;
    if (s == CW_OK && cw_sql_prepare(x->src, sql, CW_SQL_STREAM, &q) != CW_SQL_OK)
        s = fail(x, x->src, "reading", t);
    double t0 = now_s();
    int rc = CW_SQL_DONE;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        for (int i = 0; i < ncols && s == CW_OK; i++) {
            hash_col(x->tab, q, i);
            if (ins && x->nan_is_null && cw_sql_col_type(q, i) == CW_SQL_FLOAT &&
                isnan(cw_sql_col_double(q, i)))
                s = cw_store_set_error(x->err, CW_ERR_DB,
                                       "writing %s: a NaN (column %d of row %lld) would become "
                                       "NULL in SQLite",
                                       t->name, i + 1, (long long)rows + 1);
            else if (ins && bulk_col(ins, q, i) != CW_SQL_OK)
                s = fail(x, x->dst, "writing", t);
        }
        put(x->tab, "\n", 1);
        if (s == CW_OK && ins && cw_sql_bulk_row(ins) != CW_SQL_OK)
            s = fail(x, x->dst, "writing", t);
        if (++rows % 4096 == 0 && x->on_progress)
            progress(x, t, rows, total, t0);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = fail(x, x->src, "reading", t);
    cw_sql_finalize(q);
    if (s == CW_OK && x->on_progress)
        progress(x, t, rows, total > rows ? total : rows, t0);
    x->dig->rows[idx] = rows;
    return s;
}

/* Digests (and with ins copies) table idx; folds it into the overall digest. */
static cw_status scan_table(scan *x, int idx, cw_bulk *ins)
{
    const cw_copy_table *t = &cw_copy_tables[idx];
    if (!EVP_DigestInit_ex(x->tab, EVP_sha256(), NULL))
        return cw_store_set_error(x->err, CW_ERR_NOMEM, "digest: cannot start SHA-256");
    cw_status s = scan_rows(x, idx, ins);
    if (s != CW_OK)
        return s;
    cw_db_digest *d = x->dig;
    d->table[idx] = t->name;
    EVP_DigestFinal_ex(x->tab, d->sha[idx], NULL);
    char n[32];
    int l = snprintf(n, sizeof n, "%lld;", (long long)d->rows[idx]);
    put(x->all, t->name, strlen(t->name) + 1);
    put(x->all, n, (size_t)l);
    put(x->all, d->sha[idx], CW_DIGEST_LEN);
    d->total_rows += d->rows[idx];
    return CW_OK;
}

static cw_status scan_begin(scan *x, cw_db_digest *out)
{
    memset(out, 0, sizeof *out);
    x->dig = out;
    x->all = EVP_MD_CTX_new();
    x->tab = EVP_MD_CTX_new();
    if (!x->all || !x->tab || !EVP_DigestInit_ex(x->all, EVP_sha256(), NULL))
        return cw_store_set_error(x->err, CW_ERR_NOMEM, "digest: cannot start SHA-256");
    return CW_OK;
}

static void scan_end(scan *x, cw_status s)
{
    if (s == CW_OK) {
        x->dig->ntables = cw_copy_ntables;
        EVP_DigestFinal_ex(x->all, x->dig->all, NULL);
    }
    EVP_MD_CTX_free(x->all);
    EVP_MD_CTX_free(x->tab);
}

/* ---- digest ---------------------------------------------------------- */

cw_status cw_db_digest_compute(cw_store *st, cw_db_digest *out, cw_copy_progress_fn on_progress,
                               void *ud)
{
    cw_store_enter(st, "digest");
    scan x = {.src = st, .err = st, .on_progress = on_progress, .ud = ud, .verb = "digest"};
    cw_status s = scan_begin(&x, out);
    if (s == CW_OK)
        s = cw_store_read_begin(st);
    if (s == CW_OK) {
        for (int i = 0; i < cw_copy_ntables && s == CW_OK; i++)
            s = scan_table(&x, i, NULL);
        cw_store_read_end(st);
    }
    scan_end(&x, s);
    return s;
}

void cw_db_digest_hex(const unsigned char *sha, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < CW_DIGEST_LEN; i++) {
        out[2 * i] = hex[sha[i] >> 4];
        out[2 * i + 1] = hex[sha[i] & 15];
    }
    out[2 * CW_DIGEST_LEN] = '\0';
}

/* ---- copy ------------------------------------------------------------ */

/* Refuses a destination with rows (naming the first such table), or
 * (replace) deletes them, children first. Runs inside the destination's
 * transaction. */
static cw_status prepare_dst(cw_store *dst, int replace)
{
    char sql[160];
    for (int i = 0; i < cw_copy_ntables; i++) {
        const char *name = cw_copy_tables[replace ? cw_copy_ntables - 1 - i : i].name;
        if (replace) {
            snprintf(sql, sizeof sql, "DELETE FROM %s", name);
            if (cw_sql_exec(dst, sql) != CW_SQL_OK)
                return cw_sql_fail(dst, sql);
            continue;
        }
        int64_t one;
        int none;
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", name);
        cw_status s = cw_sql_scalar_i64(dst, sql, &one, &none);
        if (s != CW_OK)
            return s;
        if (!none)
            return cw_store_set_error(dst, CW_ERR_USAGE,
                                      "the destination is not empty (table %s has rows): "
                                      "--replace empties it first",
                                      name);
    }
    return CW_OK;
}

/* PostgreSQL: identity sequences past the copied ids, so that the next
 * insert does not collide with a copied row. SQLite needs nothing (a rowid
 * key continues from max(rowid)). */
static cw_status move_sequences(cw_store *dst)
{
    if (cw_sql_dialect(dst) != CW_DIALECT_PG)
        return CW_OK;
    char sql[256];
    for (int i = 0; i < cw_copy_ntables; i++) {
        const char *name = cw_copy_tables[i].name;
        if (!cw_copy_tables[i].identity)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce(max(id), 0) + 1, "
                 "false) FROM %s",
                 name, name);
        int64_t v;
        int isnull;
        cw_status s = cw_sql_scalar_i64(dst, sql, &v, &isnull);
        if (s != CW_OK)
            return s;
    }
    return CW_OK;
}

/* Every table, src → dst, inside the transaction on dst and a read
 * transaction on src. */
static cw_status copy_tables(scan *x)
{
    cw_status s = cw_store_read_begin(x->src);
    if (s != CW_OK)
        return cw_store_set_error(x->dst, s, "source: %s", cw_store_errmsg(x->src));
    for (int i = 0; i < cw_copy_ntables && s == CW_OK; i++) {
        const cw_copy_table *t = &cw_copy_tables[i];
        cw_bulk *ins = NULL;
        int ncols = 1;
        for (const char *p = t->cols; *p; p++)
            ncols += *p == ',';
        if (cw_sql_bulk_open(x->dst, t->name, t->cols, ncols, &ins) != CW_SQL_OK)
            s = fail(x, x->dst, "writing", t);
        if (s == CW_OK)
            s = scan_table(x, i, ins);
        /* The last rows go at close; its failure (a duplicate key on
         * PostgreSQL) is the table's. */
        if (ins && cw_sql_bulk_close(ins) != CW_SQL_OK && s == CW_OK)
            s = fail(x, x->dst, "writing", t);
    }
    cw_store_read_end(x->src);
    return s;
}

/* The identity of the database behind st, whatever string named it:
 * SQLite: "sqlite:<device>:<inode>" of its main file (a symbolic or hard
 * link, a relative path or a sqlite: prefix all give the file's); an
 * in-memory database has none ("" — never equal to another).
 * PostgreSQL: "pg:<cluster's system identifier>:<database name>" as the
 * server reports them, so a URI, a key=value string, PG* variables or a
 * service file naming the same database agree. */
cw_status cw_db_identity(cw_store *st, char *out, size_t n)
{
    cw_stmt *q;
    *out = '\0';
    int pg = cw_sql_dialect(st) == CW_DIALECT_PG;
    if (cw_sql_prepare(st,
                       pg ? "SELECT CAST(system_identifier AS TEXT), current_database()"
                            " FROM pg_control_system()"
                          : "SELECT file, name FROM pragma_database_list WHERE name = 'main'",
                       0, &q) != CW_SQL_OK)
        return cw_sql_fail(st, "database identity");
    cw_status s = CW_OK;
    if (cw_sql_step(q) == CW_SQL_ROW) {
        const char *a = (const char *)cw_sql_col_text(q, 0);
        const char *b = (const char *)cw_sql_col_text(q, 1);
        struct stat sb;
        if (pg && a && b)
            snprintf(out, n, "pg:%s:%s", a, b);
        else if (!pg && a && *a && stat(a, &sb) == 0)
            snprintf(out, n, "sqlite:%llu:%llu", (unsigned long long)sb.st_dev,
                     (unsigned long long)sb.st_ino);
    } else {
        s = cw_sql_fail(st, "database identity");
    }
    cw_sql_finalize(q);
    return s;
}

cw_status cw_db_copy(cw_store *src, cw_store *dst, const cw_copy_opts *o, cw_db_digest *src_digest)
{
    cw_store_enter(src, "copy");
    cw_store_enter(dst, "copy");
    cw_copy_opts none = {0, NULL, NULL};
    if (!o)
        o = &none;
    char ids[256], idd[256];
    cw_status s = cw_db_identity(src, ids, sizeof ids);
    if (s != CW_OK)
        return cw_store_set_error(dst, s, "source: %s", cw_store_errmsg(src));
    if ((s = cw_db_identity(dst, idd, sizeof idd)) != CW_OK)
        return s;
    if (*ids && strcmp(ids, idd) == 0)
        return cw_store_set_error(dst, CW_ERR_USAGE, "--from and --to are the same database");
    int vs = cw_store_schema_version(src), vd = cw_store_schema_version(dst);
    if (vs != vd)
        return cw_store_set_error(dst, CW_ERR_SCHEMA,
                                  "the source is at schema version %d, the destination at %d: "
                                  "both must be at the same version",
                                  vs, vd);
    scan x = {.src = src,
              .dst = dst,
              .err = dst,
              .on_progress = o->on_progress,
              .ud = o->ud,
              .verb = "copy",
              .nan_is_null = cw_sql_dialect(dst) == CW_DIALECT_SQLITE};
    const cw_store_ops *ops = cw_store_get_ops(dst);
    s = scan_begin(&x, src_digest);
    if (s == CW_OK && (s = ops->begin(dst)) == CW_OK) {
        s = prepare_dst(dst, o->replace);
        if (s == CW_OK)
            s = copy_tables(&x);
        if (s == CW_OK)
            s = move_sequences(dst);
        if (s == CW_OK)
            s = ops->commit(dst);
        if (s != CW_OK)
            ops->rollback(dst);
    }
    scan_end(&x, s);
    return s;
}
