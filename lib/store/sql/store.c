/*
 * store/sqlite/sqlite_store.c — the SQLite backend of the store, churnwatch's embedded
 * system of record.
 *
 * The database runs in WAL mode so that readers (reports, the API) never
 * block the single writer (ingest, the daily run) for long. The schema is
 * versioned: PRAGMA user_version holds the version and `migrations` below
 * lists forward migrations, each applied once, in order, in its own
 * transaction when the store opens. A database written by a newer build is
 * refused rather than guessed at.
 *
 * Product events are not stored one row per event: ingest rolls them up to
 * per (user, event, day) counts and value totals — all the metrics engine
 * reads — and stores one row per account-day (event_days) holding that
 * day's cells and the sorted 63-bit identity hashes of its events (their
 * event_id, or their content when they have none). Ingesting or
 * de-duplicating a batch then costs one lookup and one write per
 * account-day instead of one B-tree operation per event or per cell.
 *
 * Callers use the backend only through cw_store_ops (store/store.h), so a
 * PostgreSQL backend can implement the same table without touching them.
 */
#include "core/util.h"
#include "ingest/validate.h"
#include "ingest/periods.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"
#include "store/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cw_store {
    const cw_store_ops *ops;
    sqlite3 *db;
    int64_t cache_kib; /* page cache this handle was opened with */
    char *errmsg;
    cw_status err_status; /* the status errmsg belongs to (CW_OK: none) */
    const char *stage;    /* the running public call (cw_store_enter), static */
    char why_buf[128];    /* cw_store_why's "stage: reason" when errmsg is empty */
    int in_txn;
    sqlite3_stmt *put[CW_KIND__COUNT];
    /* merge (put_row_merge): insert-if-absent per kind, and updates of the
     * last few (kind, set) combinations */
    sqlite3_stmt *ins_new[CW_KIND__COUNT];
    sqlite3_stmt *merge_upd[8];
    unsigned merge_set[8];
    cw_kind merge_kind[8];
    int merge_next;
    sqlite3_stmt *day_get, *day_put, *day_scan, *evname_ins, *goal_q, *log_ins;
    cw_event_cell *scan_cells;
    size_t scan_cap;
    /* metric snapshots: lazily prepared statements and pack buffers */
    sqlite3_stmt *q_snap_exists, *q_snap_del[4], *q_snap_put, *q_am_put, *q_am_get, *q_peers_put,
        *q_um_put;
    sqlite3_stmt *slot[CW_STMT__COUNT]; /* cw_store_stmt_slot */
    /* billing periods: lazily prepared */
    sqlite3_stmt *q_origins, *q_der_get, *q_der_del, *q_der_ins;
    /* quarantine and users created on first sight: lazily prepared */
    sqlite3_stmt *q_qrun_ins, *q_qrun_end, *q_q_ins, *q_prov_ins, *q_prov_lower;
    unsigned char *pack[2];
    size_t pack_cap[2];
};

/* Forward migrations; index i upgrades from version i to i + 1. Never edit
 * a released migration: add a new one. */
static const struct {
    const char *description;
    const char *sql;
} migrations[] = {
    {"initial data model",
     "CREATE TABLE accounts(id INTEGER PRIMARY KEY, account_id TEXT NOT NULL UNIQUE,"
     " name TEXT NOT NULL, segment TEXT NOT NULL, owner TEXT, contract_start INTEGER NOT NULL,"
     " seats INTEGER NOT NULL, mrr_minor INTEGER NOT NULL, currency TEXT NOT NULL,"
     " renewal_date INTEGER, status TEXT NOT NULL, churn_date INTEGER, churn_reason TEXT);"
     "CREATE TABLE subscriptions(account INTEGER NOT NULL, effective_at INTEGER NOT NULL,"
     " mrr_minor INTEGER NOT NULL, currency TEXT NOT NULL, seats INTEGER NOT NULL, plan TEXT,"
     " billing_period TEXT, PRIMARY KEY(account, effective_at)) WITHOUT ROWID;"
     "CREATE TABLE users(id INTEGER PRIMARY KEY, user_id TEXT NOT NULL UNIQUE,"
     " account INTEGER NOT NULL, email TEXT, role TEXT, department TEXT,"
     " provisioned_at INTEGER NOT NULL, deactivated_at INTEGER);"
     "CREATE INDEX users_account ON users(account);"
     "CREATE TABLE features(event TEXT PRIMARY KEY, feature TEXT NOT NULL, tier TEXT NOT NULL,"
     " milestone TEXT, milestone_due_day INTEGER, first_value INTEGER) WITHOUT ROWID;"
     "CREATE TABLE event_names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
     /* One row per account-day: the daily rollup cells of all its users
      * and events, and the identity hashes of the events in them. */
     "CREATE TABLE event_days(account INTEGER NOT NULL, day INTEGER NOT NULL,"
     " events INTEGER NOT NULL, cells BLOB NOT NULL, hashes BLOB NOT NULL,"
     " PRIMARY KEY(account, day)) WITHOUT ROWID;"
     /* Key columns first: SQLite 3.40's integrity_check misreports NOT NULL
      * columns that sit between the key columns of a WITHOUT ROWID table. */
     "CREATE TABLE trainings(user INTEGER NOT NULL, course TEXT NOT NULL,"
     " completed_at INTEGER NOT NULL, account INTEGER NOT NULL,"
     " PRIMARY KEY(user, course, completed_at)) WITHOUT ROWID;"
     "CREATE INDEX trainings_account ON trainings(account);"
     "CREATE TABLE tickets(ticket_id TEXT PRIMARY KEY, account INTEGER NOT NULL, user INTEGER,"
     " opened_at INTEGER NOT NULL, closed_at INTEGER, category TEXT NOT NULL, priority TEXT,"
     " satisfaction INTEGER) WITHOUT ROWID;"
     "CREATE INDEX tickets_account ON tickets(account, opened_at);"
     "CREATE TABLE surveys(survey_id TEXT PRIMARY KEY, account INTEGER NOT NULL, user INTEGER,"
     " type TEXT NOT NULL, sent_at INTEGER, responded_at INTEGER, score INTEGER, reason TEXT,"
     " comment TEXT) WITHOUT ROWID;"
     "CREATE INDEX surveys_account ON surveys(account);"
     "CREATE TABLE goals(goal_id TEXT PRIMARY KEY, account INTEGER NOT NULL, metric TEXT NOT NULL,"
     " unit TEXT, baseline REAL NOT NULL, target REAL NOT NULL, start_date INTEGER NOT NULL,"
     " target_date INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE INDEX goals_account ON goals(account);"
     "CREATE TABLE goal_measurements(goal_id TEXT NOT NULL, measured_at INTEGER NOT NULL,"
     " kind TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY(goal_id, measured_at, kind))"
     " WITHOUT ROWID;"
     "CREATE TABLE journey(visitor_id TEXT NOT NULL, stage TEXT NOT NULL, at INTEGER NOT NULL,"
     " source TEXT, campaign TEXT, cost_minor INTEGER, currency TEXT, account_id TEXT,"
     " PRIMARY KEY(visitor_id, stage, at)) WITHOUT ROWID;"
     "CREATE TABLE ingest_log(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, path TEXT NOT NULL,"
     " kind TEXT NOT NULL, rows INTEGER NOT NULL, written INTEGER NOT NULL,"
     " rejected INTEGER NOT NULL, bytes INTEGER NOT NULL);"},
    {"metric snapshots",
     "CREATE TABLE metric_snapshots(day INTEGER PRIMARY KEY, window_days INTEGER NOT NULL,"
     " computed_at INTEGER NOT NULL, catalog TEXT NOT NULL, accounts INTEGER NOT NULL,"
     " users INTEGER NOT NULL);"
     "CREATE TABLE account_metrics(day INTEGER NOT NULL, account INTEGER NOT NULL,"
     " vals BLOB NOT NULL, trend BLOB, PRIMARY KEY(day, account)) WITHOUT ROWID;"
     "CREATE INDEX account_metrics_account ON account_metrics(account, day);"
     /* Peer percentiles come from a second, snapshot-major pass: appending
      * them to their own table is far cheaper than rewriting each row. */
     "CREATE TABLE account_peers(day INTEGER NOT NULL, account INTEGER NOT NULL,"
     " peers BLOB NOT NULL, PRIMARY KEY(day, account)) WITHOUT ROWID;"
     "CREATE TABLE user_metrics(day INTEGER NOT NULL, user INTEGER NOT NULL,"
     " account INTEGER NOT NULL, vals BLOB NOT NULL, PRIMARY KEY(day, user)) WITHOUT ROWID;"},
    /* Health scores and churn models (docs/scoring.md). colour: 0 green,
     * 1 yellow, 2 red; these numbers never change. contrib and drivers are
     * JSON so the API serves them as they are. */
    {"scores and models",
     "CREATE TABLE scorecards(hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
     " definition TEXT NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE scores(day INTEGER NOT NULL, account INTEGER NOT NULL,"
     " scorecard TEXT NOT NULL, score REAL NOT NULL, colour INTEGER NOT NULL, change REAL,"
     " contrib TEXT NOT NULL, PRIMARY KEY(day, account)) WITHOUT ROWID;"
     "CREATE INDEX scores_account ON scores(account, day);"
     "CREATE TABLE models(id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,"
     " created_at INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 0, meta TEXT NOT NULL,"
     " body BLOB NOT NULL);"
     "CREATE TABLE predictions(day INTEGER NOT NULL, account INTEGER NOT NULL,"
     " model INTEGER NOT NULL, probability REAL NOT NULL, drivers TEXT NOT NULL,"
     " PRIMARY KEY(day, account, model)) WITHOUT ROWID;"
     "CREATE INDEX predictions_account ON predictions(account, day);"
     "CREATE TABLE backtests(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, subject TEXT NOT NULL,"
     " result TEXT NOT NULL);"},
    /* The durable outbox every action goes through (docs/actions.md).
     * status: 0 pending, 1 delivered, 2 dead (gave up); never renumbered. */
    {"outbox", "CREATE TABLE outbox(id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE,"
               " action TEXT NOT NULL, payload TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
               " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,"
               " created_at INTEGER NOT NULL, delivered_at INTEGER, last_error TEXT);"
               "CREATE INDEX outbox_due ON outbox(status, next_at);"},
    /* Alerts, their history, play assignments and evaluated days
     * (docs/alerts.md). alerts.status and alert_events.kind are the
     * cw_alert_status / cw_alert_event numbers; never renumbered. user is 0
     * for account-scope alerts. */
    {"alerts",
     "CREATE TABLE alerts(id INTEGER PRIMARY KEY, rule TEXT NOT NULL, scope INTEGER NOT NULL,"
     " account INTEGER NOT NULL, user INTEGER NOT NULL, status INTEGER NOT NULL,"
     " severity INTEGER NOT NULL, opened_day INTEGER NOT NULL, last_firing_day INTEGER NOT NULL,"
     " closed_day INTEGER, snoozed_until INTEGER, acked_by TEXT, vals TEXT NOT NULL,"
     " playbook TEXT, created_at INTEGER NOT NULL);"
     "CREATE INDEX alerts_episode ON alerts(rule, account, user, status);"
     "CREATE INDEX alerts_account ON alerts(account, opened_day);"
     "CREATE TABLE alert_events(id INTEGER PRIMARY KEY, alert INTEGER NOT NULL,"
     " kind INTEGER NOT NULL, day INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT, note TEXT);"
     "CREATE INDEX alert_events_alert ON alert_events(alert);"
     "CREATE TABLE play_assignments(alert INTEGER PRIMARY KEY, playbook TEXT NOT NULL,"
     " control INTEGER NOT NULL, share REAL NOT NULL, day INTEGER NOT NULL);"
     "CREATE TABLE alert_days(day INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
     " opened INTEGER NOT NULL, closed INTEGER NOT NULL);"},
    /* Delivery (docs/actions.md): the destination and time of a row's last
     * attempt, the per-destination rate window, and the CSM tasks that the
     * task action "delivers" into. tasks.status: 0 open, 1 done, 2
     * dismissed; never renumbered. */
    {"delivery and tasks",
     "ALTER TABLE outbox ADD COLUMN dest TEXT;"
     "ALTER TABLE outbox ADD COLUMN last_at INTEGER;"
     "CREATE TABLE outbox_rate(dest TEXT PRIMARY KEY, window INTEGER NOT NULL,"
     " sent INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE tasks(id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE,"
     " account TEXT NOT NULL, assignee TEXT, title TEXT NOT NULL, body TEXT NOT NULL,"
     " due_day INTEGER, status INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
     " closed_at INTEGER);"
     "CREATE INDEX tasks_open ON tasks(status, assignee);"},
    /* API tokens of `churnwatch serve` (docs/api.md): only the SHA-256 of
     * a token is kept; prefix is its public first characters, the lookup
     * key. role: 0 read, 1 write; never renumbered. */
    {"api tokens",
     "CREATE TABLE api_tokens(id INTEGER PRIMARY KEY, name TEXT NOT NULL, role INTEGER NOT NULL,"
     " prefix TEXT NOT NULL, hash BLOB NOT NULL, created_at INTEGER NOT NULL,"
     " revoked_at INTEGER);"
     "CREATE INDEX api_tokens_prefix ON api_tokens(prefix);"},
    /* Billing periods (docs/importers.md): kept as given, keyed by (account,
     * line, period_start) where line = line_id, else product, else ''. The
     * change log derived from them lives in subscriptions with origin
     * 'periods'; rows from subscriptions files have origin 'file'. Key
     * columns first (see the note on trainings above). */
    {"billing periods",
     "CREATE TABLE subscription_periods(account INTEGER NOT NULL, line TEXT NOT NULL,"
     " period_start INTEGER NOT NULL, product TEXT, line_id TEXT, period_end INTEGER,"
     " mrr_minor INTEGER, amount_minor INTEGER, quantity INTEGER, interval_unit TEXT,"
     " interval_count INTEGER, discount_percent REAL, discount_minor INTEGER,"
     " currency TEXT NOT NULL, PRIMARY KEY(account, line, period_start)) WITHOUT ROWID;"
     "ALTER TABLE subscriptions ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';"},
    /* The quarantine (docs/cli.md, `run --skip-bad`): one row per bad input
     * row of a run that kept them, with its reason, in the run's own
     * transaction; quarantine_runs has one row per such run, so "the last
     * run" is known even when it quarantined nothing. users.provisional is 1
     * for a user created on first sight in events (its provisioned_at is the
     * earliest event seen, lowered as earlier ones arrive) until a users
     * export row gives its real fields. */
    {"quarantine and users from events",
     "CREATE TABLE quarantine_runs(id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
     " rows INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE quarantine(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, file TEXT NOT NULL,"
     " line INTEGER NOT NULL, field TEXT, error TEXT NOT NULL, record TEXT NOT NULL);"
     "CREATE INDEX quarantine_run ON quarantine(run);"
     "ALTER TABLE users ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;"},
    /* The run log (docs/operations.md): one row per `churnwatch run`,
     * ended_at and exit_code NULL until it ends (or for ever, when it was
     * killed). /metrics and `doctor` read the latest. */
    {"run log", "CREATE TABLE runs(id INTEGER PRIMARY KEY, day INTEGER NOT NULL,"
                " started_at INTEGER NOT NULL, ended_at INTEGER, exit_code INTEGER);"},
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int cw_store_latest_version(void)
{
    return N_MIGRATIONS;
}

/* What a database error is when it is not about the database's content: a
 * full disk or an I/O error, from the connection's last result code and the
 * system's errno behind it. "" for anything else. */
static const char *db_error_class(cw_store *st, char *why, size_t n)
{
    *why = '\0';
    if (!st->db)
        return "";
    int ec = sqlite3_extended_errcode(st->db);
    int en = sqlite3_system_errno(st->db);
    if ((ec & 0xff) == SQLITE_FULL || ((ec & 0xff) == SQLITE_IOERR && en == ENOSPC))
        return "disk full: ";
    if ((ec & 0xff) == SQLITE_IOERR) {
        if (en)
            snprintf(why, n, " (%s)", strerror(en));
        return "I/O error: ";
    }
    return "";
}

cw_status cw_store_set_error(cw_store *st, cw_status status, const char *fmt, ...)
{
    if (!st)
        return status;
    va_list ap;
    va_start(ap, fmt);
    char buf[1024], why[160] = "";
    const char *cls = status == CW_ERR_DB ? db_error_class(st, why, sizeof why) : "";
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

static cw_status db_error(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "%s: %s", what, sqlite3_errmsg(st->db));
}

static cw_status exec(cw_store *st, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        cw_status s = cw_store_set_error(st, CW_ERR_DB, "%s", err ? err : sqlite3_errmsg(st->db));
        sqlite3_free(err);
        return s;
    }
    return CW_OK;
}

static int user_version(cw_store *st)
{
    sqlite3_stmt *q;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

int cw_store_schema_version(cw_store *st)
{
    return user_version(st);
}

static cw_status migrate(cw_store *st)
{
    int v = user_version(st);
    if (v < 0)
        return db_error(st, "reading schema version");
    if (v > N_MIGRATIONS)
        return cw_store_set_error(st, CW_ERR_SCHEMA,
                                  "database schema version %d is newer than this build's %d: "
                                  "upgrade churnwatch",
                                  v, N_MIGRATIONS);
    for (; v < N_MIGRATIONS; v++) {
        char pragma[64];
        cw_status s = exec(st, "BEGIN IMMEDIATE");
        if (s != CW_OK)
            return s;
        /* Re-read inside the lock: a concurrent process may have migrated. */
        if (user_version(st) > v) {
            exec(st, "COMMIT");
            continue;
        }
        s = exec(st, migrations[v].sql);
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
        if (s == CW_OK)
            s = exec(st, pragma);
        if (s == CW_OK)
            s = exec(st, "COMMIT");
        if (s != CW_OK) {
            char *keep =
                cw_strdupf("migration %d (%s): %s", v + 1, migrations[v].description, st->errmsg);
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            if (keep) {
                free(st->errmsg);
                st->errmsg = keep;
                st->err_status = CW_ERR_DB;
            }
            return CW_ERR_DB;
        }
    }
    return CW_OK;
}

/* ---- ops ------------------------------------------------------------ */

static cw_status sq_begin(cw_store *st)
{
    cw_status s = exec(st, "BEGIN IMMEDIATE");
    if (s == CW_OK)
        st->in_txn = 1;
    return s;
}

static cw_status sq_commit(cw_store *st)
{
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, "commit");
    st->in_txn = 0;
    return CW_OK;
}

/* Called after a failure: it must not replace that failure's message. On
 * SQLITE_FULL or an I/O error SQLite may already have rolled the transaction
 * back itself, so there is nothing to undo ("cannot rollback - no
 * transaction is active" was the message a full disk used to end with). */
static cw_status sq_rollback(cw_store *st)
{
    if (!st->in_txn)
        return CW_OK;
    st->in_txn = 0;
    if (sqlite3_get_autocommit(st->db))
        return CW_OK;
    if (sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK)
        return CW_OK;
    if (!st->errmsg || !*st->errmsg)
        return db_error(st, "rollback");
    return CW_ERR_DB;
}

/* Calls fn(text, len, int, int, ud) for each row of sql (three columns). */
static cw_status scan_ids(cw_store *st, const char *sql, const char *what,
                          cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *), void *ud)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(st, what);
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        s = fn((const char *)sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0),
               sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2), ud);
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, what);
    sqlite3_finalize(q);
    return s;
}

static cw_status sq_load_ids(cw_store *st, cw_kind kind,
                             cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *),
                             void *ud)
{
    const char *sql = kind == CW_KIND_ACCOUNTS ? "SELECT account_id, id, -1 FROM accounts"
                      : kind == CW_KIND_USERS  ? "SELECT user_id, id, account FROM users"
                      : kind == CW_KIND_EVENTS ? "SELECT name, id, -1 FROM event_names"
                                               : NULL;
    if (!sql)
        return cw_store_set_error(st, CW_ERR_USAGE, "load_ids: kind has no ids");
    return scan_ids(st, sql, "load ids", fn, ud);
}

static const char *col_of(const cw_field_def *f)
{
    return f->column ? f->column : f->name;
}

/* Builds the upsert statement of a kind from the schema table: insert every
 * field; on a natural-key conflict update the other columns only when one
 * differs, so sqlite3_changes() tells a changed row from an identical one. */
static cw_status prepare_put(cw_store *st, cw_kind kind)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    char sql[4096];
    size_t n = 0;
#define APP(...) n += (size_t)snprintf(sql + n, n < sizeof sql ? sizeof sql - n : 0, __VA_ARGS__)
    /* Billing periods key on a line column that is no field of their own:
     * line_id, else product (bound by sq_put_row as the last parameter). */
    int periods = kind == CW_KIND_SUBSCRIPTION_PERIODS;
    APP("INSERT INTO %s(", kd->table);
    for (int i = 0; i < kd->nfields; i++)
        APP("%s%s", i ? "," : "", col_of(&kd->fields[i]));
    if (periods)
        APP(",line");
    APP(") VALUES(");
    for (int i = 0; i < kd->nfields; i++)
        APP("%s?%d", i ? "," : "", i + 1);
    if (periods)
        APP(",?%d", kd->nfields + 1);
    APP(") ON CONFLICT(");
    int first = 1, nonkey = 0;
    if (periods)
        APP("account,line,period_start"), first = 0;
    for (int i = 0; i < kd->nfields; i++)
        if (kd->fields[i].flags & CW_FD_KEY) {
            if (!periods)
                APP("%s%s", first ? "" : ",", col_of(&kd->fields[i]));
            first = 0;
        } else {
            nonkey++;
        }
    if (!nonkey) {
        APP(") DO NOTHING");
    } else {
        APP(") DO UPDATE SET ");
        first = 1;
        for (int i = 0; i < kd->nfields; i++)
            if (!(kd->fields[i].flags & CW_FD_KEY)) {
                APP("%s%s=excluded.%s", first ? "" : ",", col_of(&kd->fields[i]),
                    col_of(&kd->fields[i]));
                first = 0;
            }
        /* A users export row is the user's real record: a user created on
         * first sight in events stops being provisional. */
        if (kind == CW_KIND_USERS)
            APP(",provisional=0");
        APP(" WHERE ");
        first = 1;
        if (kind == CW_KIND_USERS) {
            APP("provisional<>0");
            first = 0;
        }
        for (int i = 0; i < kd->nfields; i++)
            if (!(kd->fields[i].flags & CW_FD_KEY)) {
                APP("%s%s IS NOT excluded.%s", first ? "" : " OR ", col_of(&kd->fields[i]),
                    col_of(&kd->fields[i]));
                first = 0;
            }
    }
#undef APP
    if (n >= sizeof sql)
        return cw_store_set_error(st, CW_ERR_TOOBIG, "upsert statement too long");
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->put[kind], NULL) !=
        SQLITE_OK)
        return db_error(st, kd->name);
    return CW_OK;
}

/* The canonical spelling of enum value k of field f, into buf. */
static const char *enum_name(const cw_field_def *f, int64_t k, char *buf, size_t n)
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

/* Binds every field of a row (parameter i + 1): NULL when absent, refs for references, enum names
 * as text. */
static void bind_row(sqlite3_stmt *q, const cw_kind_def *kd, const cw_value *v, const int64_t *refs)
{
    int np = sqlite3_bind_parameter_count(q);
    for (int i = 0; i < kd->nfields && i < np; i++) {
        const cw_field_def *f = &kd->fields[i];
        int p = i + 1;
        if (!v[i].present) {
            sqlite3_bind_null(q, p);
            continue;
        }
        switch (f->type) {
        case CW_F_REF_ACCOUNT:
        case CW_F_REF_USER: sqlite3_bind_int64(q, p, refs[i]); break;
        case CW_F_INT:
        case CW_F_MONEY:
        case CW_F_DATE:
        case CW_F_TS:
        case CW_F_BOOL: sqlite3_bind_int64(q, p, v[i].i); break;
        case CW_F_REAL: sqlite3_bind_double(q, p, v[i].d); break;
        case CW_F_ENUM: {
            char buf[64];
            sqlite3_bind_text(q, p, enum_name(f, v[i].i, buf, sizeof buf), -1, SQLITE_TRANSIENT);
            break;
        }
        default: sqlite3_bind_text(q, p, v[i].s, (int)v[i].len, SQLITE_STATIC);
        }
    }
}

static cw_status sq_put_row(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                            int *changed, int64_t *new_id)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    if (!kd || kind == CW_KIND_EVENTS)
        return cw_store_set_error(st, CW_ERR_USAGE, "put_row: bad kind");
    if (!st->put[kind]) {
        cw_status s = prepare_put(st, kind);
        if (s != CW_OK)
            return s;
    }
    sqlite3_stmt *q = st->put[kind];
    bind_row(q, kd, v, refs);
    if (kind == CW_KIND_SUBSCRIPTION_PERIODS) {
        const cw_value *line = v[CW_SP_LINE_ID].present   ? &v[CW_SP_LINE_ID]
                               : v[CW_SP_PRODUCT].present ? &v[CW_SP_PRODUCT]
                                                          : NULL;
        sqlite3_bind_text(q, kd->nfields + 1, line ? line->s : "", line ? (int)line->len : 0,
                          SQLITE_STATIC);
    }
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return db_error(st, kd->name);
    *changed = sqlite3_changes(st->db) > 0;
    if (new_id)
        *new_id = sqlite3_last_insert_rowid(st->db);
    return CW_OK;
}

/* The UPDATE of a merge: set the chosen non-key columns on the row with the
 * row's key, only when one of them differs. NULL when nothing is set. */
static cw_status merge_update(cw_store *st, const cw_kind_def *kd, unsigned set, sqlite3_stmt **out)
{
    *out = NULL;
    for (int i = 0; i < 8; i++)
        if (st->merge_upd[i] && st->merge_kind[i] == kd->kind && st->merge_set[i] == set) {
            *out = st->merge_upd[i];
            return CW_OK;
        }
    char sql[4096];
    size_t n = 0;
#define APP(...) n += (size_t)snprintf(sql + n, n < sizeof sql ? sizeof sql - n : 0, __VA_ARGS__)
    APP("UPDATE %s SET ", kd->table);
    int first = 1;
    for (int i = 0; i < kd->nfields; i++)
        if (!(kd->fields[i].flags & CW_FD_KEY) && (set >> i & 1)) {
            APP("%s%s=?%d", first ? "" : ",", col_of(&kd->fields[i]), i + 1);
            first = 0;
        }
    if (first)
        return CW_OK;
    APP(" WHERE ");
    first = 1;
    for (int i = 0; i < kd->nfields; i++)
        if (kd->fields[i].flags & CW_FD_KEY) {
            APP("%s%s=?%d", first ? "" : " AND ", col_of(&kd->fields[i]), i + 1);
            first = 0;
        }
    APP(" AND (");
    first = 1;
    for (int i = 0; i < kd->nfields; i++)
        if (!(kd->fields[i].flags & CW_FD_KEY) && (set >> i & 1)) {
            APP("%s%s IS NOT ?%d", first ? "" : " OR ", col_of(&kd->fields[i]), i + 1);
            first = 0;
        }
    APP(")");
#undef APP
    if (n >= sizeof sql)
        return cw_store_set_error(st, CW_ERR_TOOBIG, "merge statement too long");
    int slot = st->merge_next++ % 8;
    sqlite3_finalize(st->merge_upd[slot]);
    st->merge_upd[slot] = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->merge_upd[slot],
                           NULL) != SQLITE_OK)
        return db_error(st, kd->name);
    st->merge_kind[slot] = kd->kind;
    st->merge_set[slot] = set;
    *out = st->merge_upd[slot];
    return CW_OK;
}

static cw_status sq_put_row_merge(cw_store *st, cw_kind kind, const cw_value *v,
                                  const int64_t *refs, unsigned set, int *changed, int64_t *new_id)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    if (!kd || kind == CW_KIND_EVENTS)
        return cw_store_set_error(st, CW_ERR_USAGE, "put_row_merge: bad kind");
    *changed = 0;
    if (new_id)
        *new_id = -1;
    sqlite3_stmt *q;
    cw_status s = merge_update(st, kd, set, &q);
    if (s != CW_OK)
        return s;
    if (q) {
        bind_row(q, kd, v, refs);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return db_error(st, kd->name);
        if (sqlite3_changes(st->db) > 0) {
            *changed = 1;
            return CW_OK;
        }
    }
    /* Not updated: identical, or new. A row lacking a required field
     * exists (the caller's guarantee), so only a complete one is inserted. */
    for (int i = 0; i < kd->nfields; i++)
        if ((kd->fields[i].flags & CW_FD_REQUIRED) && !v[i].present)
            return CW_OK;
    if (!st->ins_new[kind]) {
        char sql[4096];
        size_t n = 0;
#define APP(...) n += (size_t)snprintf(sql + n, n < sizeof sql ? sizeof sql - n : 0, __VA_ARGS__)
        APP("INSERT INTO %s(", kd->table);
        for (int i = 0; i < kd->nfields; i++)
            APP("%s%s", i ? "," : "", col_of(&kd->fields[i]));
        APP(") VALUES(");
        for (int i = 0; i < kd->nfields; i++)
            APP("%s?%d", i ? "," : "", i + 1);
        APP(") ON CONFLICT DO NOTHING");
#undef APP
        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->ins_new[kind],
                               NULL) != SQLITE_OK)
            return db_error(st, kd->name);
    }
    q = st->ins_new[kind];
    bind_row(q, kd, v, refs);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return db_error(st, kd->name);
    if (sqlite3_changes(st->db) > 0) {
        *changed = 1;
        if (new_id)
            *new_id = sqlite3_last_insert_rowid(st->db);
    }
    return CW_OK;
}

static cw_status sq_load_names(cw_store *st,
                               cw_status (*fn)(int what, int64_t account, const char *ext,
                                               size_t elen, const char *text, size_t tlen,
                                               void *ud),
                               void *ud)
{
    static const char *sql[2] = {
        "SELECT id, account_id, name FROM accounts",
        "SELECT a.id, a.account_id, u.email FROM users u JOIN accounts a ON a.id = u.account"
        " WHERE u.email IS NOT NULL"};
    cw_status s = CW_OK;
    for (int w = 0; w < 2 && s == CW_OK; w++) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(st->db, sql[w], -1, &q, NULL) != SQLITE_OK)
            return db_error(st, "load names");
        int rc;
        while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
            s = fn(w, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1),
                   (size_t)sqlite3_column_bytes(q, 1), (const char *)sqlite3_column_text(q, 2),
                   (size_t)sqlite3_column_bytes(q, 2), ud);
        if (s == CW_OK && rc != SQLITE_DONE)
            s = db_error(st, "load names");
        sqlite3_finalize(q);
    }
    return s;
}

static cw_status sq_put_event_name(cw_store *st, const char *name, size_t len, int64_t *id)
{
    sqlite3_stmt *q = st->evname_ins;
    sqlite3_bind_text(q, 1, name, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return db_error(st, "event name");
    *id = sqlite3_last_insert_rowid(st->db);
    return CW_OK;
}

static cw_status sq_load_event_day(cw_store *st, int64_t account, int64_t day, int64_t *events,
                                   const unsigned char **cells, size_t *ncells,
                                   const unsigned char **hashes, size_t *nhashes)
{
    sqlite3_stmt *q = st->day_get;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, account);
    sqlite3_bind_int64(q, 2, day);
    int rc = sqlite3_step(q);
    *events = 0;
    *cells = *hashes = NULL;
    *ncells = *nhashes = 0;
    if (rc == SQLITE_ROW) {
        *events = sqlite3_column_int64(q, 0);
        *cells = sqlite3_column_blob(q, 1);
        *ncells = (size_t)sqlite3_column_bytes(q, 1) / CW_CELL_BYTES;
        *hashes = sqlite3_column_blob(q, 2);
        *nhashes = (size_t)sqlite3_column_bytes(q, 2) / 8;
        return CW_OK;
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CW_OK : db_error(st, "event day");
}

static cw_status sq_save_event_day(cw_store *st, int64_t account, int64_t day, int64_t events,
                                   const unsigned char *cells, size_t ncells,
                                   const unsigned char *hashes, size_t nhashes)
{
    sqlite3_reset(st->day_get); /* the borrowed blobs end here */
    sqlite3_stmt *q = st->day_put;
    sqlite3_bind_int64(q, 1, account);
    sqlite3_bind_int64(q, 2, day);
    sqlite3_bind_int64(q, 3, events);
    sqlite3_bind_blob64(q, 4, cells, (sqlite3_uint64)ncells * CW_CELL_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob64(q, 5, hashes, (sqlite3_uint64)nhashes * 8, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CW_OK : db_error(st, "event day");
}

static cw_status sq_scan_event_days(cw_store *st, int64_t lo, int64_t hi,
                                    cw_status (*fn)(int64_t, int64_t, const cw_event_cell *, size_t,
                                                    void *),
                                    void *ud)
{
    sqlite3_stmt *q = st->day_scan;
    if (!q && sqlite3_prepare_v2(st->db,
                                 "SELECT account, day, cells FROM event_days"
                                 " WHERE account BETWEEN ? AND ? ORDER BY account, day",
                                 -1, &st->day_scan, NULL) != SQLITE_OK)
        return db_error(st, "event scan");
    q = st->day_scan;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *blob = sqlite3_column_blob(q, 2);
        size_t n = (size_t)sqlite3_column_bytes(q, 2) / CW_CELL_BYTES;
        if (n > st->scan_cap) {
            size_t cap = n * 2;
            cw_event_cell *c = realloc(st->scan_cells, cap * sizeof *c);
            if (!c) {
                s = cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory reading event days");
                break;
            }
            st->scan_cells = c;
            st->scan_cap = cap;
        }
        for (size_t i = 0; i < n; i++)
            cw_cell_decode(blob + i * CW_CELL_BYTES, &st->scan_cells[i]);
        s = fn(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), st->scan_cells, n, ud);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, "event scan");
    sqlite3_reset(q);
    return s;
}

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

/* The rows of kind (of one account when account > 0) in natural-key order. */
static cw_status scan_kind(cw_store *st, cw_kind kind, int64_t account,
                           cw_status (*fn)(int64_t, const cw_value *, void *), void *ud)
{
    const cw_kind_def *kd = cw_kind_get(kind);
    if (!kd || kind == CW_KIND_EVENTS)
        return cw_store_set_error(st, CW_ERR_USAGE, "scan_rows: bad kind");
    char sql[2048];
    size_t n = (size_t)snprintf(sql, sizeof sql, "SELECT %s",
                                kind == CW_KIND_ACCOUNTS || kind == CW_KIND_USERS ? "id" : "0");
    for (int i = 0; i < kd->nfields; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ",%s", col_of(&kd->fields[i]));
    n += (size_t)snprintf(sql + n, sizeof sql - n, " FROM %s%s ORDER BY ", kd->table,
                          account > 0 ? " WHERE account=?1" : "");
    int first = 1;
    if (kind == CW_KIND_SUBSCRIPTION_PERIODS) /* its key: see prepare_put */
        n += (size_t)snprintf(sql + n, sizeof sql - n, "account,line,period_start");
    else
        for (int i = 0; i < kd->nfields; i++)
            if (kd->fields[i].flags & CW_FD_KEY) {
                n += (size_t)snprintf(sql + n, sizeof sql - n, "%s%s", first ? "" : ",",
                                      col_of(&kd->fields[i]));
                first = 0;
            }
    if (n >= sizeof sql)
        return cw_store_set_error(st, CW_ERR_TOOBIG, "scan statement too long");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(st, kd->name);
    if (account > 0)
        sqlite3_bind_int64(q, 1, account);
    cw_value v[CW_MAX_FIELDS];
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < kd->nfields; i++) {
            const cw_field_def *f = &kd->fields[i];
            int c = i + 1;
            memset(&v[i], 0, sizeof v[i]);
            if (sqlite3_column_type(q, c) == SQLITE_NULL)
                continue;
            v[i].present = 1;
            switch (f->type) {
            case CW_F_REAL: v[i].d = sqlite3_column_double(q, c); break;
            case CW_F_ENUM:
                v[i].i = enum_index_of(f->enum_values, sqlite3_column_text(q, c));
                break;
            case CW_F_ID:
            case CW_F_TEXT:
            case CW_F_CURRENCY:
            case CW_F_EMAIL:
                v[i].s = (const char *)sqlite3_column_text(q, c);
                v[i].len = (size_t)sqlite3_column_bytes(q, c);
                break;
            default: v[i].i = sqlite3_column_int64(q, c);
            }
        }
        s = fn(sqlite3_column_int64(q, 0), v, ud);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, kd->name);
    sqlite3_finalize(q);
    return s;
}

static cw_status sq_scan_rows(cw_store *st, cw_kind kind,
                              cw_status (*fn)(int64_t, const cw_value *, void *), void *ud)
{
    return scan_kind(st, kind, 0, fn, ud);
}

/* ---- billing periods -------------------------------------------------- */

static cw_status sq_scan_periods(cw_store *st, int64_t account,
                                 cw_status (*fn)(int64_t, const cw_value *, void *), void *ud)
{
    if (account <= 0)
        return cw_store_set_error(st, CW_ERR_USAGE, "scan_periods: bad account");
    return scan_kind(st, CW_KIND_SUBSCRIPTION_PERIODS, account, fn, ud);
}

static cw_status lazy(cw_store *st, sqlite3_stmt **q, const char *sql);
static cw_status step_done(cw_store *st, sqlite3_stmt *q, const char *what);

static cw_status sq_sub_origins(cw_store *st, int64_t account, int64_t *native, int64_t *derived,
                                int64_t *periods)
{
    cw_status s = lazy(st, &st->q_origins,
                       "SELECT (SELECT count(*) FROM subscriptions WHERE account=?1 AND"
                       " origin<>'periods'), (SELECT count(*) FROM subscriptions WHERE"
                       " account=?1 AND origin='periods'), EXISTS(SELECT 1 FROM"
                       " subscription_periods WHERE account=?1)");
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q = st->q_origins;
    sqlite3_bind_int64(q, 1, account);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *native = sqlite3_column_int64(q, 0);
        *derived = sqlite3_column_int64(q, 1);
        *periods = sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? CW_OK : db_error(st, "subscription origins");
}

static cw_status sq_replace_derived(cw_store *st, int64_t account, const cw_sub_row *rows, size_t n,
                                    int *changed)
{
    const cw_field_def *bpf = &cw_kind_get(CW_KIND_SUBSCRIPTIONS)->fields[6];
    cw_status s;
    if ((s = lazy(st, &st->q_der_get,
                  "SELECT effective_at, mrr_minor, currency, seats, plan, billing_period FROM"
                  " subscriptions WHERE account=? AND origin='periods' ORDER BY effective_at")) ||
        (s = lazy(st, &st->q_der_del,
                  "DELETE FROM subscriptions WHERE account=? AND origin='periods'")) ||
        (s = lazy(st, &st->q_der_ins,
                  "INSERT INTO subscriptions(account,effective_at,mrr_minor,currency,seats,plan,"
                  "billing_period,origin) VALUES(?,?,?,?,?,?,?,'periods')")))
        return s;
    /* Compare first, so that re-deriving the same log writes nothing. */
    sqlite3_stmt *q = st->q_der_get;
    sqlite3_bind_int64(q, 1, account);
    size_t i = 0;
    int same = 1, rc;
    char buf[64];
    while (same && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (i == n) {
            same = 0;
            break;
        }
        const cw_sub_row *r = &rows[i++];
        const char *cur = (const char *)sqlite3_column_text(q, 2);
        const char *plan = (const char *)sqlite3_column_text(q, 4);
        const char *bp = (const char *)sqlite3_column_text(q, 5);
        const char *want_bp =
            r->billing_period >= 0 ? enum_name(bpf, r->billing_period, buf, sizeof buf) : NULL;
        same = sqlite3_column_int64(q, 0) == r->effective_at &&
               sqlite3_column_int64(q, 1) == r->mrr_minor &&
               sqlite3_column_int64(q, 3) == r->seats && cur && strcmp(cur, r->currency) == 0 &&
               (plan ? r->plan && strcmp(plan, r->plan) == 0 : !r->plan) &&
               (bp ? want_bp && strcmp(bp, want_bp) == 0 : !want_bp);
    }
    if (same && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_reset(q);
        return db_error(st, "derived subscriptions");
    }
    sqlite3_reset(q);
    *changed = !(same && i == n);
    if (!*changed)
        return CW_OK;
    sqlite3_bind_int64(st->q_der_del, 1, account);
    if ((s = step_done(st, st->q_der_del, "derived subscriptions")) != CW_OK)
        return s;
    q = st->q_der_ins;
    for (i = 0; i < n; i++) {
        const cw_sub_row *r = &rows[i];
        sqlite3_bind_int64(q, 1, account);
        sqlite3_bind_int64(q, 2, r->effective_at);
        sqlite3_bind_int64(q, 3, r->mrr_minor);
        sqlite3_bind_text(q, 4, r->currency, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, r->seats);
        if (r->plan)
            sqlite3_bind_text(q, 6, r->plan, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 6);
        if (r->billing_period >= 0)
            sqlite3_bind_text(q, 7, enum_name(bpf, r->billing_period, buf, sizeof buf), -1,
                              SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(q, 7);
        if ((s = step_done(st, q, "derived subscriptions")) != CW_OK)
            return s;
    }
    return CW_OK;
}

/* ---- metric snapshots ------------------------------------------------ */

/* Prepares sql into *q once (persistent). */
static cw_status lazy(cw_store *st, sqlite3_stmt **q, const char *sql)
{
    if (*q)
        return CW_OK;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL) != SQLITE_OK)
        return db_error(st, "prepare");
    return CW_OK;
}

static cw_status step_done(cw_store *st, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE ? CW_OK : db_error(st, what);
}

/* Encodes n doubles as little-endian float64 into the store's scratch. */
static const unsigned char *pack(cw_store *st, int slot, const double *v, int n)
{
    size_t need = (size_t)n * 8;
    if (need > st->pack_cap[slot]) {
        unsigned char *p = realloc(st->pack[slot], need);
        if (!p)
            return NULL;
        st->pack[slot] = p;
        st->pack_cap[slot] = need;
    }
    for (int i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        cw_store_le64(st->pack[slot] + 8 * i, bits);
    }
    return st->pack[slot];
}

/* Decodes a float64 blob into out[n] (NaN past the blob's end). */
static void unpack(const unsigned char *b, int bytes, double *out, int n)
{
    int have = b ? bytes / 8 : 0;
    for (int i = 0; i < n; i++) {
        if (i < have) {
            uint64_t bits = cw_load_le64(b + 8 * i);
            memcpy(&out[i], &bits, 8);
        } else {
            out[i] = (double)NAN;
        }
    }
}

static cw_status sq_snapshot_exists(cw_store *st, int64_t day, int *exists)
{
    cw_status s = lazy(st, &st->q_snap_exists, "SELECT 1 FROM metric_snapshots WHERE day=?");
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(st->q_snap_exists, 1, day);
    int rc = sqlite3_step(st->q_snap_exists);
    *exists = rc == SQLITE_ROW;
    sqlite3_reset(st->q_snap_exists);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CW_OK : db_error(st, "snapshot");
}

static cw_status sq_snapshot_delete(cw_store *st, int64_t day)
{
    static const char *sql[] = {
        "DELETE FROM metric_snapshots WHERE day=?", "DELETE FROM account_metrics WHERE day=?",
        "DELETE FROM user_metrics WHERE day=?", "DELETE FROM account_peers WHERE day=?"};
    for (int i = 0; i < 4; i++) {
        cw_status s = lazy(st, &st->q_snap_del[i], sql[i]);
        if (s != CW_OK)
            return s;
        sqlite3_bind_int64(st->q_snap_del[i], 1, day);
        if ((s = step_done(st, st->q_snap_del[i], "snapshot delete")) != CW_OK)
            return s;
    }
    return CW_OK;
}

static cw_status sq_snapshot_put(cw_store *st, int64_t day, int window_days, const char *catalog,
                                 int64_t accounts, int64_t users)
{
    cw_status s = lazy(st, &st->q_snap_put,
                       "INSERT OR REPLACE INTO metric_snapshots(day,window_days,computed_at,"
                       "catalog,accounts,users) VALUES(?,?,?,?,?,?)");
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q = st->q_snap_put;
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int(q, 2, window_days);
    sqlite3_bind_int64(q, 3, (int64_t)time(NULL));
    sqlite3_bind_text(q, 4, catalog, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, accounts);
    sqlite3_bind_int64(q, 6, users);
    return step_done(st, q, "snapshot");
}

static cw_status sq_account_metrics_put(cw_store *st, int64_t day, int64_t account,
                                        const double *vals, const double *trend, int n)
{
    cw_status s = lazy(st, &st->q_am_put,
                       "INSERT OR REPLACE INTO account_metrics(day,account,vals,trend) "
                       "VALUES(?,?,?,?)");
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q = st->q_am_put;
    const unsigned char *a = pack(st, 0, vals, n), *b = trend ? pack(st, 1, trend, n) : NULL;
    if (!a || (trend && !b))
        return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving account metrics");
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, account);
    sqlite3_bind_blob(q, 3, a, n * 8, SQLITE_STATIC);
    if (b)
        sqlite3_bind_blob(q, 4, b, n * 8, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 4);
    return step_done(st, q, "account metrics");
}

static cw_status sq_account_metrics_get(cw_store *st, int64_t day, int64_t account, double *vals,
                                        int n, int *found)
{
    cw_status s =
        lazy(st, &st->q_am_get, "SELECT vals FROM account_metrics WHERE day=? AND account=?");
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q = st->q_am_get;
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, account);
    int rc = sqlite3_step(q);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        unpack(sqlite3_column_blob(q, 0), sqlite3_column_bytes(q, 0), vals, n);
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CW_OK : db_error(st, "account metrics");
}

static cw_status sq_account_peers_put(cw_store *st, int64_t day, int64_t account,
                                      const double *pcts, int n)
{
    cw_status s = lazy(st, &st->q_peers_put,
                       "INSERT OR REPLACE INTO account_peers(peers, day, account) VALUES(?,?,?)");
    if (s != CW_OK)
        return s;
    const unsigned char *a = pack(st, 0, pcts, n);
    if (!a)
        return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving peer metrics");
    sqlite3_bind_blob(st->q_peers_put, 1, a, n * 8, SQLITE_STATIC);
    sqlite3_bind_int64(st->q_peers_put, 2, day);
    sqlite3_bind_int64(st->q_peers_put, 3, account);
    return step_done(st, st->q_peers_put, "peers");
}

static cw_status sq_account_metrics_scan(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                         cw_status (*fn)(int64_t, int64_t, const double *,
                                                         const double *, const double *, int,
                                                         void *),
                                         void *ud)
{
    sqlite3_stmt *q;
    const char *sql =
        account ? "SELECT m.day, m.account, m.vals, m.trend, p.peers FROM account_metrics m"
                  " LEFT JOIN account_peers p ON p.day = m.day AND p.account = m.account"
                  " WHERE m.account=?3 AND m.day BETWEEN ?1 AND ?2 ORDER BY m.day"
                : "SELECT m.day, m.account, m.vals, m.trend, p.peers FROM account_metrics m"
                  " LEFT JOIN account_peers p ON p.day = m.day AND p.account = m.account"
                  " WHERE m.day BETWEEN ?1 AND ?2 ORDER BY m.day, m.account";
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(st, "account metrics");
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    if (account)
        sqlite3_bind_int64(q, 3, account);
    int n = 0;
    double *buf = NULL;
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(q, 2) / 8;
        if (len > n) {
            double *nb = realloc(buf, sizeof *nb * 3 * (size_t)len);
            if (!nb) {
                s = cw_store_set_error(st, CW_ERR_NOMEM,
                                       "store: out of memory reading account metrics");
                break;
            }
            buf = nb;
            n = len;
        }
        unpack(sqlite3_column_blob(q, 2), sqlite3_column_bytes(q, 2), buf, len);
        int ht = sqlite3_column_type(q, 3) != SQLITE_NULL,
            hp = sqlite3_column_type(q, 4) != SQLITE_NULL;
        unpack(sqlite3_column_blob(q, 3), sqlite3_column_bytes(q, 3), buf + len, len);
        unpack(sqlite3_column_blob(q, 4), sqlite3_column_bytes(q, 4), buf + 2 * len, len);
        s = fn(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), buf, ht ? buf + len : NULL,
               hp ? buf + 2 * len : NULL, len, ud);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, "account metrics");
    sqlite3_finalize(q);
    free(buf);
    return s;
}

static cw_status sq_user_metrics_put(cw_store *st, int64_t day, int64_t user, int64_t account,
                                     const double *vals, int n)
{
    cw_status s =
        lazy(st, &st->q_um_put,
             "INSERT OR REPLACE INTO user_metrics(day,user,account,vals) VALUES(?,?,?,?)");
    if (s != CW_OK)
        return s;
    const unsigned char *a = pack(st, 0, vals, n);
    if (!a)
        return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving user metrics");
    sqlite3_stmt *q = st->q_um_put;
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, user);
    sqlite3_bind_int64(q, 3, account);
    sqlite3_bind_blob(q, 4, a, n * 8, SQLITE_STATIC);
    return step_done(st, q, "user metrics");
}

static cw_status sq_user_metrics_scan(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                      cw_status (*fn)(int64_t, int64_t, int64_t, const double *,
                                                      int, void *),
                                      void *ud)
{
    sqlite3_stmt *q;
    const char *sql = account ? "SELECT day, user, account, vals FROM user_metrics"
                                " WHERE account=?3 AND day BETWEEN ?1 AND ?2 ORDER BY day, user"
                              : "SELECT day, user, account, vals FROM user_metrics"
                                " WHERE day BETWEEN ?1 AND ?2 ORDER BY day, user";
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(st, "user metrics");
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    if (account)
        sqlite3_bind_int64(q, 3, account);
    double buf[256];
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(q, 3) / 8;
        if (len > 256)
            len = 256;
        unpack(sqlite3_column_blob(q, 3), sqlite3_column_bytes(q, 3), buf, len);
        s = fn(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
               buf, len, ud);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, "user metrics");
    sqlite3_finalize(q);
    return s;
}

static cw_status sq_snapshot_catalog(cw_store *st, int64_t day, char *buf, size_t n, int *found)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT catalog FROM metric_snapshots WHERE day=?", -1, &q,
                           NULL) != SQLITE_OK)
        return db_error(st, "snapshots");
    sqlite3_bind_int64(q, 1, day);
    int rc = sqlite3_step(q);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CW_OK : db_error(st, "snapshots");
}

static cw_status sq_snapshot_list(cw_store *st, int64_t lo, int64_t hi,
                                  cw_status (*fn)(int64_t, void *), void *ud)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            st->db, "SELECT day FROM metric_snapshots WHERE day BETWEEN ? AND ? ORDER BY day", -1,
            &q, NULL) != SQLITE_OK)
        return db_error(st, "snapshots");
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        s = fn(sqlite3_column_int64(q, 0), ud);
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, "snapshots");
    sqlite3_finalize(q);
    return s;
}

static cw_status sq_open_reader(cw_store *st, cw_store **out)
{
    *out = NULL;
    const char *path = sqlite3_db_filename(st->db, "main");
    if (!path || !*path)
        return cw_store_set_error(st, CW_ERR_USAGE, "no file to open a reader on");
    /* A reader's cache: the handle's own when smaller (serve's store.cache_mib),
     * else 64 MiB (one per metrics scanner thread, one per server worker). */
    cw_store_opts o = {.readonly = 1, .cache_kib = st->cache_kib < 65536 ? st->cache_kib : 65536};
    return cw_store_open(path, &o, out, NULL);
}

static cw_status sq_log_file(cw_store *st, const char *path, cw_kind kind, int64_t rows,
                             int64_t written, int64_t rejected, int64_t bytes)
{
    sqlite3_stmt *q = st->log_ins;
    const cw_kind_def *kd = cw_kind_get(kind);
    sqlite3_bind_int64(q, 1, (int64_t)time(NULL));
    sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, kd ? kd->name : "unknown", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, rows);
    sqlite3_bind_int64(q, 5, written);
    sqlite3_bind_int64(q, 6, rejected);
    sqlite3_bind_int64(q, 7, bytes);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CW_OK : db_error(st, "ingest log");
}

static cw_status sq_goal_exists(cw_store *st, const char *id, size_t len, int *exists)
{
    sqlite3_stmt *q = st->goal_q;
    sqlite3_bind_text(q, 1, id, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    *exists = rc == SQLITE_ROW;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(st, "goal lookup");
    return CW_OK;
}

/* ---- quarantine ------------------------------------------------------ */

static cw_status sq_quarantine_run_begin(cw_store *st, int64_t at, int64_t *run)
{
    cw_status s = lazy(st, &st->q_qrun_ins, "INSERT INTO quarantine_runs(at) VALUES(?)");
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(st->q_qrun_ins, 1, at);
    if ((s = step_done(st, st->q_qrun_ins, "quarantine run")) == CW_OK)
        *run = sqlite3_last_insert_rowid(st->db);
    return s;
}

static cw_status sq_quarantine_put(cw_store *st, int64_t run, const char *file, int64_t line,
                                   const char *field, const char *error, const char *record,
                                   size_t record_len)
{
    cw_status s = lazy(st, &st->q_q_ins,
                       "INSERT INTO quarantine(run,file,line,field,error,record)"
                       " VALUES(?,?,?,?,?,?)");
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q = st->q_q_ins;
    sqlite3_bind_int64(q, 1, run);
    sqlite3_bind_text(q, 2, file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, line);
    if (field)
        sqlite3_bind_text(q, 4, field, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, error, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, record ? record : "", (int)record_len, SQLITE_STATIC);
    return step_done(st, q, "quarantine");
}

static cw_status sq_quarantine_run_end(cw_store *st, int64_t run, int64_t rows, int64_t quarantined)
{
    cw_status s =
        lazy(st, &st->q_qrun_end, "UPDATE quarantine_runs SET rows=?2, quarantined=?3 WHERE id=?1");
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(st->q_qrun_end, 1, run);
    sqlite3_bind_int64(st->q_qrun_end, 2, rows);
    sqlite3_bind_int64(st->q_qrun_end, 3, quarantined);
    return step_done(st, st->q_qrun_end, "quarantine run");
}

static cw_status sq_quarantine_counts(cw_store *st, cw_quarantine_counts *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT (SELECT count(*) FROM quarantine),"
                           " (SELECT count(*) FROM quarantine_runs), r.quarantined, r.at"
                           " FROM (SELECT 1) LEFT JOIN (SELECT quarantined, at FROM"
                           " quarantine_runs ORDER BY id DESC LIMIT 1) r",
                           -1, &q, NULL) != SQLITE_OK)
        return db_error(st, "quarantine");
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->total = sqlite3_column_int64(q, 0);
        out->runs = sqlite3_column_int64(q, 1);
        out->last_run = sqlite3_column_int64(q, 2);
        out->last_run_at = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? CW_OK : db_error(st, "quarantine");
}

static cw_status sq_quarantine_scan(cw_store *st, int64_t limit,
                                    cw_status (*fn)(const cw_quarantine_row *, void *), void *ud)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT q.id, r.at, q.file, q.line, q.field, q.error, q.record"
                           " FROM quarantine q JOIN quarantine_runs r ON r.id = q.run"
                           " ORDER BY q.id DESC LIMIT ?",
                           -1, &q, NULL) != SQLITE_OK)
        return db_error(st, "quarantine");
    sqlite3_bind_int64(q, 1, limit > 0 ? limit : -1);
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        cw_quarantine_row r = {sqlite3_column_int64(q, 0),
                               sqlite3_column_int64(q, 1),
                               (const char *)sqlite3_column_text(q, 2),
                               sqlite3_column_int64(q, 3),
                               (const char *)sqlite3_column_text(q, 4),
                               (const char *)sqlite3_column_text(q, 5),
                               (const char *)sqlite3_column_text(q, 6)};
        s = fn(&r, ud);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = db_error(st, "quarantine");
    sqlite3_finalize(q);
    return s;
}

cw_status cw_quarantine_counts_get(cw_store *st, cw_quarantine_counts *out)
{
    cw_store_enter(st, "quarantine");
    return st->ops->quarantine_counts(st, out);
}

cw_status cw_quarantine_list(cw_store *st, int64_t limit,
                             cw_status (*fn)(const cw_quarantine_row *row, void *ud), void *ud)
{
    cw_store_enter(st, "quarantine");
    return st->ops->quarantine_scan(st, limit, fn, ud);
}

/* ---- users created on first sight ----------------------------------- */

static cw_status sq_user_provision(cw_store *st, const char *user, size_t len, int64_t account,
                                   int64_t at, int64_t *id)
{
    cw_status s = lazy(st, &st->q_prov_ins,
                       "INSERT INTO users(user_id,account,provisioned_at,provisional)"
                       " VALUES(?,?,?,1)");
    if (s != CW_OK)
        return s;
    sqlite3_bind_text(st->q_prov_ins, 1, user, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st->q_prov_ins, 2, account);
    sqlite3_bind_int64(st->q_prov_ins, 3, at);
    if ((s = step_done(st, st->q_prov_ins, "users")) == CW_OK)
        *id = sqlite3_last_insert_rowid(st->db);
    return s;
}

static cw_status sq_user_provision_lower(cw_store *st, const char *user, size_t len, int64_t at)
{
    cw_status s = lazy(st, &st->q_prov_lower,
                       "UPDATE users SET provisioned_at=?2"
                       " WHERE user_id=?1 AND provisional=1 AND provisioned_at>?2");
    if (s != CW_OK)
        return s;
    sqlite3_bind_text(st->q_prov_lower, 1, user, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st->q_prov_lower, 2, at);
    return step_done(st, st->q_prov_lower, "users");
}

static cw_status
sq_load_provisional(cw_store *st, cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *),
                    void *ud)
{
    return scan_ids(st, "SELECT user_id, id, provisioned_at FROM users WHERE provisional=1",
                    "users", fn, ud);
}

static const cw_store_ops sqlite_ops = {
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .load_ids = sq_load_ids,
    .put_row = sq_put_row,
    .put_row_merge = sq_put_row_merge,
    .load_names = sq_load_names,
    .put_event_name = sq_put_event_name,
    .load_event_day = sq_load_event_day,
    .save_event_day = sq_save_event_day,
    .scan_event_days = sq_scan_event_days,
    .scan_rows = sq_scan_rows,
    .snapshot_exists = sq_snapshot_exists,
    .snapshot_delete = sq_snapshot_delete,
    .snapshot_put = sq_snapshot_put,
    .account_metrics_put = sq_account_metrics_put,
    .account_metrics_get = sq_account_metrics_get,
    .account_peers_put = sq_account_peers_put,
    .account_metrics_scan = sq_account_metrics_scan,
    .user_metrics_put = sq_user_metrics_put,
    .user_metrics_scan = sq_user_metrics_scan,
    .snapshot_catalog = sq_snapshot_catalog,
    .snapshot_list = sq_snapshot_list,
    .open_reader = sq_open_reader,
    .log_file = sq_log_file,
    .goal_exists = sq_goal_exists,
    .scan_periods = sq_scan_periods,
    .sub_origins = sq_sub_origins,
    .replace_derived = sq_replace_derived,
    .quarantine_run_begin = sq_quarantine_run_begin,
    .quarantine_put = sq_quarantine_put,
    .quarantine_run_end = sq_quarantine_run_end,
    .quarantine_counts = sq_quarantine_counts,
    .quarantine_scan = sq_quarantine_scan,
    .user_provision = sq_user_provision,
    .user_provision_lower = sq_user_provision_lower,
    .load_provisional = sq_load_provisional,
    .run_begin = cw_sq_run_begin,
    .run_end = cw_sq_run_end,
    .run_last = cw_sq_run_last,
    .health = cw_sq_health,
    .outbox_dest_counts = cw_sq_outbox_dest_counts,
    .integrity_check = cw_sq_integrity_check,
};

const cw_store_ops *cw_store_get_ops(cw_store *st)
{
    return st->ops;
}

const cw_sql_driver *cw_sql_driver_of(cw_store *st)
{
    (void)st;
    return &cw_sqlite_driver;
}

void *cw_store_conn(cw_store *st)
{
    return st->db;
}

struct sqlite3 *cw_store_sqlite(cw_store *st)
{
    return st->db;
}

cw_status cw_store_read_begin(cw_store *st)
{
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, "read transaction");
    return CW_OK;
}

void cw_store_read_end(cw_store *st)
{
    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

struct sqlite3_stmt **cw_store_stmt_slot(cw_store *st, cw_stmt_slot slot)
{
    return &st->slot[slot];
}

/* ---- open / close --------------------------------------------------- */

static cw_status prepare(cw_store *st, const char *sql, sqlite3_stmt **q)
{
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL) != SQLITE_OK)
        return db_error(st, "prepare");
    return CW_OK;
}

/* A read-only open of a WAL database needs its -shm file, which SQLite
 * creates beside it: on a database in a folder this process may not write
 * (a backup on read-only media, another user's file), reading fails with
 * "attempt to write a readonly database". When no -wal file holds commits
 * that the main file lacks, the main file is the whole database: it is
 * then reopened immutable (no -shm, no locks). */
static cw_status open_readonly_fallback(cw_store *st, const char *path)
{
    if (sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) == SQLITE_OK)
        return CW_OK;
    int ec = sqlite3_errcode(st->db) & 0xff;
    if (ec != SQLITE_READONLY && ec != SQLITE_CANTOPEN)
        return cw_store_set_error(st, CW_ERR_DB, "%s: cannot read database: %s", path,
                                  sqlite3_errmsg(st->db));
    char *wal = cw_strdupf("%s-wal", path);
    struct stat sb;
    int wal_has_commits = !wal || (stat(wal, &sb) == 0 && sb.st_size > 0);
    free(wal);
    if (wal_has_commits)
        return cw_store_set_error(st, CW_ERR_DB,
                                  "%s: cannot read database: %s (its -wal file holds commits:"
                                  " open it once where it may be written)",
                                  path, sqlite3_errmsg(st->db));
    /* file: URI of the path: %, ? and # escaped */
    size_t n = strlen(path);
    char *uri = malloc(n * 3 + 32);
    if (!uri)
        return cw_store_set_error(st, CW_ERR_NOMEM,
                                  "%s: out of memory opening the database read-only", path);
    size_t w = (size_t)snprintf(uri, 8, "file:");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%' || c == '?' || c == '#')
            w += (size_t)snprintf(uri + w, 4, "%%%02X", c);
        else
            uri[w++] = (char)c;
    }
    memcpy(uri + w, "?immutable=1", sizeof "?immutable=1");
    sqlite3_close(st->db);
    st->db = NULL;
    int rc = sqlite3_open_v2(uri, &st->db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc != SQLITE_OK ||
        sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
        return cw_store_set_error(st, CW_ERR_DB, "%s: cannot open database: %s", path,
                                  st->db ? sqlite3_errmsg(st->db) : "out of memory");
    return CW_OK;
}

static cw_status store_open(const char *path, const cw_store_opts *o, cw_store **out,
                            char **errmsg);

cw_status cw_store_open(const char *path, const cw_store_opts *o, cw_store **out, cw_error *err)
{
    char *msg = NULL;
    cw_status s = store_open(path, o, out, &msg);
    return cw_error_take(err, s, msg, "store open");
}

static cw_status store_open(const char *path, const cw_store_opts *o, cw_store **out, char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    if (strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0) {
        if (errmsg)
            *errmsg = cw_strdupf("%s: this build has only the SQLite store", path);
        return CW_ERR_USAGE;
    }
    cw_store *st = calloc(1, sizeof *st);
    if (!st) {
        if (errmsg)
            *errmsg = cw_strdupf("%s: out of memory opening the store", path);
        return CW_ERR_NOMEM;
    }
    st->ops = &sqlite_ops;
    int ro = o && o->readonly;
    int flags = ro ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    cw_status s = CW_OK;
    /* The database holds e-mail addresses and token hashes: create it 0600
     * whatever the umask (SQLite would use 0644), before SQLite opens it;
     * SQLite gives its -wal and -shm files the database file's mode. */
    if (!ro && strcmp(path, ":memory:") != 0 && path[0]) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        s = cw_store_set_error(st, CW_ERR_DB, "%s: cannot open database: %s", path,
                               st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    if (ro && (s = open_readonly_fallback(st, path)) != CW_OK)
        goto fail;
    sqlite3_busy_timeout(st->db, o && o->busy_timeout_ms ? o->busy_timeout_ms : 5000);
    char pragma[128];
    st->cache_kib = o && o->cache_kib ? o->cache_kib : 262144;
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%lld", (long long)st->cache_kib);
    if ((s = exec(st, pragma)) != CW_OK)
        goto fail;
    if (!ro) {
        /* WAL + synchronous=NORMAL: a killed process never corrupts the
         * database or loses a committed transaction; only an OS crash or
         * power loss can drop the last commits. */
        if ((s = exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")) != CW_OK ||
            (s = migrate(st)) != CW_OK)
            goto fail;
        if ((s = prepare(st,
                         "SELECT events, cells, hashes FROM event_days WHERE account=? AND day=?",
                         &st->day_get)) ||
            (s = prepare(st,
                         "INSERT OR REPLACE INTO event_days(account,day,events,cells,hashes)"
                         " VALUES(?,?,?,?,?)",
                         &st->day_put)) ||
            (s = prepare(st, "INSERT INTO event_names(name) VALUES(?)", &st->evname_ins)) ||
            (s = prepare(st, "SELECT 1 FROM goals WHERE goal_id=?", &st->goal_q)) ||
            (s = prepare(st,
                         "INSERT INTO ingest_log(at,path,kind,rows,written,rejected,bytes)"
                         " VALUES(?,?,?,?,?,?,?)",
                         &st->log_ins)))
            goto fail;
    } else {
        int v = user_version(st);
        if (v != N_MIGRATIONS) {
            s = cw_store_set_error(st, v > N_MIGRATIONS ? CW_ERR_SCHEMA : CW_ERR_DB,
                                   "%s: schema version %d, this build needs %d", path, v,
                                   N_MIGRATIONS);
            goto fail;
        }
    }
    *out = st;
    return CW_OK;
fail:
    if (errmsg)
        *errmsg = cw_strndup(cw_store_errmsg(st), strlen(cw_store_errmsg(st)));
    cw_store_close(st);
    return s;
}

void cw_store_close(cw_store *st)
{
    if (!st)
        return;
    if (st->in_txn)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    for (int k = 0; k < CW_KIND__COUNT; k++) {
        sqlite3_finalize(st->put[k]);
        sqlite3_finalize(st->ins_new[k]);
    }
    for (int i = 0; i < 8; i++)
        sqlite3_finalize(st->merge_upd[i]);
    sqlite3_finalize(st->day_get);
    sqlite3_finalize(st->day_put);
    sqlite3_finalize(st->day_scan);
    free(st->scan_cells);
    sqlite3_finalize(st->q_snap_exists);
    for (int i = 0; i < 4; i++)
        sqlite3_finalize(st->q_snap_del[i]);
    sqlite3_finalize(st->q_snap_put);
    sqlite3_finalize(st->q_am_put);
    sqlite3_finalize(st->q_am_get);
    sqlite3_finalize(st->q_peers_put);
    sqlite3_finalize(st->q_um_put);
    sqlite3_finalize(st->q_origins);
    sqlite3_finalize(st->q_der_get);
    sqlite3_finalize(st->q_der_del);
    sqlite3_finalize(st->q_der_ins);
    for (int i = 0; i < CW_STMT__COUNT; i++)
        sqlite3_finalize(st->slot[i]);
    sqlite3_finalize(st->q_qrun_ins);
    sqlite3_finalize(st->q_qrun_end);
    sqlite3_finalize(st->q_q_ins);
    sqlite3_finalize(st->q_prov_ins);
    sqlite3_finalize(st->q_prov_lower);
    free(st->pack[0]);
    free(st->pack[1]);
    sqlite3_finalize(st->evname_ins);
    sqlite3_finalize(st->goal_q);
    sqlite3_finalize(st->log_ins);
    sqlite3_close(st->db);
    free(st->errmsg);
    free(st);
}

/* ---- summary -------------------------------------------------------- */

static int64_t scalar(cw_store *st, const char *sql, cw_status *s)
{
    sqlite3_stmt *q;
    int64_t v = 0;
    if (*s != CW_OK)
        return 0;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
        *s = db_error(st, sql);
        return 0;
    }
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else if (rc != SQLITE_DONE)
        *s = db_error(st, sql);
    sqlite3_finalize(q);
    return v;
}

cw_status cw_store_summarize(cw_store *st, cw_store_summary *out)
{
    cw_store_enter(st, "summary");
    memset(out, 0, sizeof *out);
    cw_status s = CW_OK;
    char sql[256];
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s",
                 k == CW_KIND_EVENTS ? "event_days" : kd->table);
        out->rows[k] = scalar(st, sql, &s);
    }
    out->events = scalar(st, "SELECT coalesce(sum(events),0) FROM event_days", &s);
    out->event_days = out->rows[CW_KIND_EVENTS];
    out->event_names = scalar(st, "SELECT count(*) FROM event_names", &s);
    out->first_event_ts = scalar(st, "SELECT coalesce(min(day),0)*86400 FROM event_days", &s);
    out->last_event_ts = scalar(st, "SELECT coalesce(max(day),0)*86400 FROM event_days", &s);
    out->accounts_active = scalar(st, "SELECT count(*) FROM accounts WHERE status='active'", &s);
    out->accounts_churned = scalar(st, "SELECT count(*) FROM accounts WHERE status='churned'", &s);
    out->users_active = scalar(st, "SELECT count(*) FROM users WHERE deactivated_at IS NULL", &s);
    out->seats_active =
        scalar(st, "SELECT coalesce(sum(seats),0) FROM accounts WHERE status='active'", &s);
    out->mrr_active_minor =
        scalar(st, "SELECT coalesce(sum(mrr_minor),0) FROM accounts WHERE status='active'", &s);
    int64_t ncur =
        scalar(st, "SELECT count(DISTINCT currency) FROM accounts WHERE status='active'", &s);
    if (s == CW_OK && ncur == 1) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(st->db,
                               "SELECT currency FROM accounts WHERE status='active' LIMIT 1", -1,
                               &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW) {
            const unsigned char *c = sqlite3_column_text(q, 0);
            snprintf(out->mrr_currency, sizeof out->mrr_currency, "%s", c ? (const char *)c : "");
        }
        sqlite3_finalize(q);
    } else if (ncur > 1) {
        snprintf(out->mrr_currency, sizeof out->mrr_currency, "*");
    }
    out->ingested_files = scalar(st, "SELECT count(*) FROM ingest_log", &s);
    return s;
}
