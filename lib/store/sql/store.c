/*
 * store/sql/store.c — the store handle: open (by --db: a SQLite file or a
 * PostgreSQL connection string), close, errors, transactions and the ops
 * table (cw_store_ops) that the files of lib/store/sql/ implement.
 *
 * Everything here talks to the database through the statement seam
 * (store/sql.h); what only one backend has lives in its folder
 * (lib/store/sqlite/sqlite_open.c: the file, its pragmas, user_version;
 * lib/store/pg/: the libpq connection). docs/architecture.md, "The store".
 *
 * Callers use the store only through cw_store_ops (store/store.h) and the
 * public cw_store_* calls, so both backends serve them unchanged.
 */
#include "core/util.h"
#include "store/sql/store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ----------------------------------------------------------- */

cw_status cw_store_set_error(cw_store *st, cw_status status, const char *fmt, ...)
{
    if (!st)
        return status;
    va_list ap;
    va_start(ap, fmt);
    char buf[1024], why[160] = "";
    const char *cls = "";
    if (status == CW_ERR_DB && st->conn && st->drv == &cw_sqlite_driver)
        cls = cw_sqlite_error_class(st, why, sizeof why);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(st->errmsg);
    /* "disk full: commit: database or disk is full", not a bare database error. */
    st->errmsg = cw_strdupf("%s%s%s", cls, buf, why);
    st->err_status = st->errmsg ? status : CW_OK;
    return status;
}

/* Why clear at each entry point rather than tag messages with a per-call
 * sequence number: both need the same hook at the start of every public
 * call, but clearing also keeps cw_store_errmsg (which has no status to
 * compare) from showing an earlier call's message, and costs nothing. The
 * status recorded beside the message is a second guard for cw_store_why: a
 * message set for one status is never shown as the reason for another. The
 * stage is the safety net for a failure deep in a callback that had no
 * handle to put a message on: cw_store_why still names the call. */
void cw_store_enter(cw_store *st, const char *stage)
{
    if (!st)
        return;
    free(st->errmsg);
    st->errmsg = NULL;
    st->err_status = CW_OK;
    st->stage = stage;
}

const char *cw_store_errmsg(const cw_store *st)
{
    return st && st->errmsg ? st->errmsg : "";
}

const char *cw_store_why(const cw_store *st, cw_status s)
{
    const char *m = cw_store_errmsg(st);
    if (*m && st->err_status == s)
        return m;
    if (!st || !st->stage || s == CW_OK)
        return cw_strerror(s);
    /* The handle is never a const object (cw_store_open allocates it): the
     * buffer is scratch space, borrowed until the next call like errmsg. */
    char *buf = ((cw_store *)st)->why_buf;
    snprintf(buf, sizeof st->why_buf, "%s: %s", st->stage, cw_strerror(s));
    return buf;
}

cw_status cw_store_exec(cw_store *st, const char *sql)
{
    if (cw_sql_exec(st, sql) != CW_SQL_OK)
        return cw_store_set_error(st, CW_ERR_DB, "%s", cw_sql_errmsg(st));
    return CW_OK;
}

/* ---- transactions ----------------------------------------------------- */

/* SQLite takes the write lock at BEGIN IMMEDIATE, so a second writer waits
 * (busy timeout) before reading instead of failing at its first write;
 * PostgreSQL locks rows as they are written. */
static cw_status op_begin(cw_store *st)
{
    cw_status s =
        cw_store_exec(st, cw_sql_dialect(st) == CW_DIALECT_PG ? "BEGIN" : "BEGIN IMMEDIATE");
    if (s == CW_OK)
        st->in_txn = 1;
    return s;
}

static cw_status op_commit(cw_store *st)
{
    if (cw_store_bulk_end(st) != CW_OK)
        return CW_ERR_DB;
    if (cw_sql_exec(st, "COMMIT") != CW_SQL_OK)
        return cw_sql_fail(st, "commit");
    st->in_txn = 0;
    return CW_OK;
}

/* After ROLLBACK: the bulks hold nothing to keep; closing them must not
 * replace the failure's message. */
static void rollback_bulks(cw_store *st)
{
    char *keep = st->errmsg;
    cw_status ks = st->err_status;
    st->errmsg = NULL;
    (void)cw_store_bulk_end(st);
    free(st->errmsg);
    st->errmsg = keep;
    st->err_status = ks;
}

/* Called after a failure: it must not replace that failure's message. On
 * SQLITE_FULL or an I/O error SQLite may already have rolled the transaction
 * back itself, so there is nothing to undo ("cannot rollback - no
 * transaction is active" was the message a full disk used to end with). */
static cw_status op_rollback(cw_store *st)
{
    if (!st->in_txn)
        return CW_OK;
    st->in_txn = 0;
    if (cw_sql_dialect(st) == CW_DIALECT_SQLITE && !cw_sqlite_in_txn(st)) {
        rollback_bulks(st);
        return CW_OK;
    }
    int rc = cw_sql_exec(st, "ROLLBACK"); /* PG: drops the bulks' held rows */
    rollback_bulks(st);
    if (rc == CW_SQL_OK)
        return CW_OK;
    if (!st->errmsg || !*st->errmsg)
        return cw_sql_fail(st, "rollback");
    return CW_ERR_DB;
}

/* One consistent view for an API request: a deferred transaction on SQLite
 * (WAL readers never block the writer), a read-only snapshot on PostgreSQL. */
cw_status cw_store_read_begin(cw_store *st)
{
    const char *sql = cw_sql_dialect(st) == CW_DIALECT_PG
                          ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                          : "BEGIN";
    if (cw_sql_exec(st, sql) != CW_SQL_OK)
        return cw_sql_fail(st, "read transaction");
    return CW_OK;
}

void cw_store_read_end(cw_store *st)
{
    cw_sql_exec(st, "COMMIT");
}

/* ---- the ops table and accessors -------------------------------------- */

static cw_status op_open_reader(cw_store *st, cw_store **out);

static cw_status op_analyze(cw_store *st, const char *tables)
{
    if (cw_sql_dialect(st) != CW_DIALECT_PG)
        return CW_OK;
    char sql[512];
    snprintf(sql, sizeof sql, "ANALYZE %s", tables);
    return cw_store_exec(st, sql);
}

static const cw_store_ops store_ops = {
    .begin = op_begin,
    .commit = op_commit,
    .rollback = op_rollback,
    .load_ids = cw_op_load_ids,
    .put_row = cw_op_put_row,
    .put_row_merge = cw_op_put_row_merge,
    .load_names = cw_op_load_names,
    .put_event_name = cw_op_put_event_name,
    .load_event_day = cw_op_load_event_day,
    .save_event_day = cw_op_save_event_day,
    .load_event_days = cw_op_load_event_days,
    .save_event_days_begin = cw_op_save_event_days_begin,
    .save_event_days_end = cw_op_save_event_days_end,
    .scan_event_days = cw_op_scan_event_days,
    .scan_rows = cw_op_scan_rows,
    .snapshot_exists = cw_op_snapshot_exists,
    .snapshot_delete = cw_op_snapshot_delete,
    .snapshot_put = cw_op_snapshot_put,
    .account_metrics_put = cw_op_account_metrics_put,
    .account_metrics_get = cw_op_account_metrics_get,
    .account_peers_put = cw_op_account_peers_put,
    .account_metrics_scan = cw_op_account_metrics_scan,
    .account_metrics_day = cw_op_account_metrics_day,
    .user_metrics_put = cw_op_user_metrics_put,
    .user_metrics_scan = cw_op_user_metrics_scan,
    .snapshot_catalog = cw_op_snapshot_catalog,
    .snapshot_list = cw_op_snapshot_list,
    .open_reader = op_open_reader,
    .analyze = op_analyze,
    .log_file = cw_op_log_file,
    .goal_exists = cw_op_goal_exists,
    .scan_periods = cw_op_scan_periods,
    .sub_origins = cw_op_sub_origins,
    .replace_derived = cw_op_replace_derived,
    .quarantine_run_begin = cw_op_quarantine_run_begin,
    .quarantine_put = cw_op_quarantine_put,
    .quarantine_run_end = cw_op_quarantine_run_end,
    .quarantine_counts = cw_op_quarantine_counts,
    .quarantine_scan = cw_op_quarantine_scan,
    .user_provision = cw_op_user_provision,
    .user_provision_lower = cw_op_user_provision_lower,
    .load_provisional = cw_op_load_provisional,
    .run_begin = cw_op_run_begin,
    .run_end = cw_op_run_end,
    .run_last = cw_op_run_last,
    .health = cw_op_health,
    .outbox_dest_counts = cw_op_outbox_dest_counts,
    .integrity_check = cw_op_integrity_check,
};

const cw_store_ops *cw_store_get_ops(cw_store *st)
{
    return st->ops;
}

const cw_sql_driver *cw_sql_driver_of(cw_store *st)
{
    return st->drv;
}

void *cw_store_conn(cw_store *st)
{
    return st->conn;
}

cw_stmt **cw_store_sql_slot(cw_store *st, cw_stmt_slot slot)
{
    return &st->sql_slot[slot];
}

/* ---- open / close ----------------------------------------------------- */

/* Whether --db names a PostgreSQL database: a postgres:// or postgresql://
 * URI, or a libpq key=value string that starts with host= or dbname=.
 * Anything else (and anything after "sqlite:") is a SQLite file. */
int cw_store_db_is_server(const char *db)
{
    return db && (strncmp(db, "postgres://", 11) == 0 || strncmp(db, "postgresql://", 13) == 0 ||
                  strncmp(db, "host=", 5) == 0 || strncmp(db, "dbname=", 7) == 0);
}

int cw_store_db_has_password(const char *db)
{
    return cw_store_db_is_server(db) && cw_pg_conninfo_has_password(db);
}

/* Overwrites a password before freeing it: it does not linger in freed
 * memory (a core dump, a heap read by a later bug). */
static void free_secret(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

/* Connects to PostgreSQL. The password is the caller's (store.password_env)
 * when given, else libpq's own sources: PGPASSWORD, ~/.pgpass, the
 * connection string itself. Kept for the readers open_reader makes. */
static cw_status open_pg(cw_store *st, const char *conninfo, const char *password, int ro)
{
    char *msg = NULL;
    void *conn = NULL;
    cw_status s = cw_pg_connect(conninfo, password, ro, &conn, &msg);
    if (s != CW_OK) {
        cw_store_set_error(st, s, "%s", msg ? msg : "cannot connect to PostgreSQL");
        free(msg);
        return s;
    }
    st->drv = &cw_pg_driver;
    st->conn = conn;
    st->conninfo = cw_strndup(conninfo, strlen(conninfo));
    st->password = password ? cw_strndup(password, strlen(password)) : NULL;
    if (!st->conninfo || (password && !st->password))
        return cw_store_set_error(st, CW_ERR_NOMEM, "out of memory opening the store");
    return CW_OK;
}

/* A read-only handle opens no transaction of its own and migrates nothing:
 * the schema must be this build's. */
static cw_status check_version(cw_store *st, const char *db)
{
    int v = cw_store_version_of(st);
    if (v == cw_store_latest_version())
        return CW_OK;
    /* the PostgreSQL connection string may hold a password: not repeated */
    return cw_store_set_error(st, v > cw_store_latest_version() ? CW_ERR_SCHEMA : CW_ERR_DB,
                              "%s: schema version %d, this build needs %d",
                              st->conninfo ? "database" : db, v, cw_store_latest_version());
}

static cw_status store_open(const char *db, const cw_store_opts *o, cw_store **out, char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    int pg = cw_store_db_is_server(db);
    if (strncmp(db, "sqlite:", 7) == 0)
        db += 7;
    cw_store *st = calloc(1, sizeof *st);
    if (!st) {
        if (errmsg)
            *errmsg = cw_strdupf("%s: out of memory opening the store", pg ? "database" : db);
        return CW_ERR_NOMEM;
    }
    st->ops = &store_ops;
    int ro = o && o->readonly;
    cw_status s;
    if (pg) {
        s = open_pg(st, db, o ? o->password : NULL, ro);
    } else {
        st->drv = &cw_sqlite_driver;
        s = cw_sqlite_open(st, db, o);
    }
    if (s == CW_OK && pg && !ro && o && o->must_exist && cw_store_version_of(st) == 0)
        s = cw_store_set_error(st, CW_ERR_DB,
                               "database: not a churnwatch database yet (create it with"
                               " `churnwatch init`)");
    if (s == CW_OK)
        s = ro ? check_version(st, db) : cw_store_migrate(st);
    if (s == CW_OK) {
        *out = st;
        return CW_OK;
    }
    if (errmsg)
        *errmsg = cw_strndup(cw_store_errmsg(st), strlen(cw_store_errmsg(st)));
    cw_store_close(st);
    return s;
}

cw_status cw_store_open(const char *path, const cw_store_opts *o, cw_store **out, cw_error *err)
{
    char *msg = NULL;
    cw_status s = store_open(path, o, out, &msg);
    return cw_error_take(err, s, msg, "store open");
}

/* A second, read-only connection to the same database: the file again on
 * SQLite, the same connection string on PostgreSQL. */
static cw_status op_open_reader(cw_store *st, cw_store **out)
{
    *out = NULL;
    const char *db = st->conninfo ? st->conninfo : cw_sqlite_filename(st);
    if (!db || !*db)
        return cw_store_set_error(st, CW_ERR_USAGE, "no file to open a reader on");
    /* A reader's cache: the handle's own when smaller (serve's store.cache_mib),
     * else 64 MiB (one per metrics scanner thread, one per server worker). */
    cw_store_opts o = {.readonly = 1,
                       .cache_kib = st->cache_kib < 65536 ? st->cache_kib : 65536,
                       .password = st->password};
    char *msg = NULL;
    cw_status s = store_open(db, &o, out, &msg);
    if (s != CW_OK && msg)
        cw_store_set_error(st, s, "%s", msg);
    free(msg);
    return s;
}

static void finalize_all(cw_stmt **q, int n)
{
    for (int i = 0; i < n; i++) {
        cw_sql_finalize(q[i]);
        q[i] = NULL;
    }
}

void cw_store_close(cw_store *st)
{
    if (!st)
        return;
    if (st->conn) {
        if (st->in_txn)
            cw_sql_exec(st, "ROLLBACK");
        rollback_bulks(st);
        finalize_all(st->q, CW_Q__COUNT);
        finalize_all(st->put, CW_KIND__COUNT);
        finalize_all(st->ins_new, CW_KIND__COUNT);
        finalize_all(st->merge_upd, CW_MERGE_SLOTS);
        finalize_all(st->sql_slot, CW_STMT__COUNT);
    }
    if (st->drv == &cw_sqlite_driver)
        cw_sqlite_close(st);
    else if (st->conn)
        cw_pg_disconnect(st->conn);
    free(st->scan_cells);
    free(st->fresh);
    free(st->pack[0]);
    free(st->pack[1]);
    free(st->conninfo);
    free_secret(st->password);
    free(st->errmsg);
    free(st);
}
