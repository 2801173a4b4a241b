/*
 * store/sql/schema.c — the schema: the one description of every table (the
 * forward migrations below, in SQLite's DDL) and how they are applied.
 *
 * The schema is versioned. On SQLite, PRAGMA user_version holds the version
 * and each migration runs as written, in its own BEGIN IMMEDIATE
 * transaction. On PostgreSQL, the table cw_schema keeps one row per applied
 * version; each migration's text goes through cw_pg_ddl() (types, identity
 * keys, quoting, partitioning) and runs in its own transaction under an
 * advisory lock, so that two processes opening a new database at once apply
 * each migration once. Either way a database written by a newer build is
 * refused rather than guessed at.
 */
#include "store/sql/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* The API's change counter on PostgreSQL (cw_pg_api_counter in
     * store/pg/pg_ddl.c, read by cw_store_data_version); SQLite has PRAGMA
     * data_version and needs nothing. */
    {"api change counter", ""},
    /* Named users of the dashboard and their sessions (docs/api.md, "Users
     * and sessions"). app_users.role: 0 viewer, 1 csm, 2 admin; never
     * renumbered. password is "scrypt$LOG2N$R$P$SALT$HASH" (base64url), so
     * the cost can be raised and old hashes still verify. Only the SHA-256
     * of a session id is kept (hex). api_tokens.expires_at: NULL = never;
     * tasks.closed_by: who marked the task done or dismissed. */
    {"named users and sessions",
     "CREATE TABLE app_users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " email TEXT NOT NULL UNIQUE, role INTEGER NOT NULL, password TEXT NOT NULL,"
     " created_at INTEGER NOT NULL, password_at INTEGER NOT NULL, disabled_at INTEGER);"
     "CREATE TABLE app_sessions(id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
     " app_user INTEGER NOT NULL, csrf TEXT NOT NULL, created_at INTEGER NOT NULL,"
     " last_seen INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
     "CREATE INDEX app_sessions_user ON app_sessions(app_user);"
     "ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;"
     "ALTER TABLE tasks ADD COLUMN closed_by TEXT;"},
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* PostgreSQL-only objects, run as they are (not translated) after the
 * migration of that description. */
static const struct {
    const char *migration;
    const char *sql;
} pg_only[] = {
    {"api change counter", cw_pg_api_counter},
};

/* The advisory lock of the PostgreSQL migrators: "cwschema" in ASCII. */
#define PG_MIGRATE_LOCK "7454148460281667937"

int cw_store_latest_version(void)
{
    return N_MIGRATIONS;
}

int cw_store_schema_version(cw_store *st)
{
    return cw_store_version_of(st);
}

/* The newest version in cw_schema, 0 when the table does not exist yet
 * (to_regclass: a missing table is no error, which would end a transaction). */
static int pg_version(cw_store *st)
{
    int64_t v;
    int isnull;
    if (cw_sql_scalar_i64(st, "SELECT CASE WHEN to_regclass('cw_schema') IS NULL THEN 0 ELSE 1 END",
                          &v, &isnull) != CW_OK)
        return -1;
    if (v == 0)
        return 0;
    if (cw_sql_scalar_i64(st, "SELECT max(version) FROM cw_schema", &v, &isnull) != CW_OK)
        return -1;
    return (int)v;
}

int cw_store_version_of(cw_store *st)
{
    return cw_sql_dialect(st) == CW_DIALECT_PG ? pg_version(st) : cw_sqlite_user_version(st);
}

/* Opens a migration's transaction with the database locked against other
 * migrators. */
static cw_status migration_begin(cw_store *st)
{
    if (cw_sql_dialect(st) == CW_DIALECT_SQLITE)
        return cw_store_exec(st, "BEGIN IMMEDIATE");
    int64_t one;
    int isnull;
    cw_status s = cw_store_exec(st, "BEGIN");
    if (s == CW_OK)
        s = cw_sql_scalar_i64(st,
                              "SELECT 1 FROM (SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")) l",
                              &one, &isnull);
    if (s == CW_OK)
        s = cw_store_exec(st, "CREATE TABLE IF NOT EXISTS cw_schema(version INTEGER PRIMARY KEY)");
    return s;
}

/* Applies migration v (to version v + 1) inside the open transaction. */
static cw_status migration_apply(cw_store *st, int v)
{
    if (cw_sql_dialect(st) == CW_DIALECT_SQLITE) {
        cw_status s = *migrations[v].sql ? cw_store_exec(st, migrations[v].sql) : CW_OK;
        return s == CW_OK ? cw_sqlite_set_user_version(st, v + 1) : s;
    }
    cw_status s = CW_OK;
    if (*migrations[v].sql) {
        char *ddl = cw_pg_ddl(migrations[v].sql);
        if (!ddl)
            return cw_store_set_error(st, CW_ERR_NOMEM, "out of memory");
        s = cw_store_exec(st, ddl);
        free(ddl);
    }
    for (size_t i = 0; s == CW_OK && i < sizeof pg_only / sizeof pg_only[0]; i++)
        if (strcmp(pg_only[i].migration, migrations[v].description) == 0)
            s = cw_store_exec(st, pg_only[i].sql);
    char sql[64];
    snprintf(sql, sizeof sql, "INSERT INTO cw_schema(version) VALUES(%d)", v + 1);
    return s == CW_OK ? cw_store_exec(st, sql) : s;
}

/* Migrates from version v to v + 1 unless a concurrent process did. */
static cw_status migrate_one(cw_store *st, int v)
{
    cw_status s = migration_begin(st);
    if (s != CW_OK) {
        if (cw_sql_dialect(st) == CW_DIALECT_PG)
            cw_sql_exec(st, "ROLLBACK");
        return s;
    }
    /* Re-read inside the lock: a concurrent process may have migrated. */
    if (cw_store_version_of(st) > v)
        return cw_store_exec(st, "COMMIT");
    s = migration_apply(st, v);
    if (s == CW_OK)
        s = cw_store_exec(st, "COMMIT");
    if (s == CW_OK)
        return CW_OK;
    char *keep =
        cw_strdupf("migration %d (%s): %s", v + 1, migrations[v].description, cw_store_errmsg(st));
    cw_sql_exec(st, "ROLLBACK");
    if (keep) { /* as it is: its cause was classified when it was set */
        free(st->errmsg);
        st->errmsg = keep;
        st->err_status = CW_ERR_DB;
    }
    return CW_ERR_DB;
}

cw_status cw_store_migrate(cw_store *st)
{
    int v = cw_store_version_of(st);
    if (v < 0)
        return cw_sql_fail(st, "reading schema version");
    if (v > N_MIGRATIONS)
        return cw_store_set_error(st, CW_ERR_SCHEMA,
                                  "database schema version %d is newer than this build's %d: "
                                  "upgrade churnwatch",
                                  v, N_MIGRATIONS);
    for (; v < N_MIGRATIONS; v++) {
        cw_status s = migrate_one(st, v);
        if (s != CW_OK)
            return s;
    }
    return CW_OK;
}
