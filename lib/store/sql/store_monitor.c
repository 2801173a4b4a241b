/*
 * store/sql/store_monitor.c — what operations read and record in the store
 * (docs/operations.md), over the statement seam (store/sql.h), for either
 * backend: the run log of `churnwatch run`, the freshness of each input
 * kind, open alerts by severity, the outbox's backlog per destination and
 * the integrity check behind `doctor`. Each read is a handful of aggregate
 * queries over indexed or small tables, cheap enough for every /metrics
 * scrape.
 */
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/sql/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- the run log -------------------------------------------------------- */

cw_status cw_op_run_begin(cw_store *st, int64_t day, int64_t at, int64_t *id)
{
    cw_stmt *q;
    cw_status s = cw_sql_prep(st, "INSERT INTO runs(day, started_at) VALUES(?,?) RETURNING id", 0,
                              &q, "run log");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_i64(q, 2, at);
    s = cw_sql_step_id(st, q, id, "run log");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_run_end(cw_store *st, int64_t id, int64_t at, int exit_code)
{
    cw_stmt *q;
    cw_status s =
        cw_sql_prep(st, "UPDATE runs SET ended_at=?, exit_code=? WHERE id=?", 0, &q, "run log");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, at);
    cw_sql_bind_i64(q, 2, exit_code);
    cw_sql_bind_i64(q, 3, id);
    s = cw_sql_step_done(st, q, "run log");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_run_last(cw_store *st, cw_run_info *out, int *found)
{
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    *found = 0;
    cw_stmt *q;
    cw_status s =
        cw_sql_prep(st,
                    "SELECT id, day, started_at, coalesce(ended_at, 0), coalesce(exit_code, -1)"
                    " FROM runs ORDER BY id DESC LIMIT 1",
                    0, &q, "run log");
    if (s != CW_OK)
        return s;
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW) {
        out->id = cw_sql_col_i64(q, 0);
        out->day = cw_sql_col_i64(q, 1);
        out->started_at = cw_sql_col_i64(q, 2);
        out->ended_at = cw_sql_col_i64(q, 3);
        out->exit_code = cw_sql_col_int(q, 4);
        *found = 1;
    } else if (rc != CW_SQL_DONE) {
        s = cw_sql_fail(st, "run log");
    }
    cw_sql_finalize(q);
    return s;
}

/* ---- freshness and alerts ---------------------------------------------- */

/* The newest time each kind's rows carry, in Unix seconds (0: none). For
 * rows with two times the later one counts: a CASE, not SQLite's scalar
 * max(a, b), which PostgreSQL does not have. */
static cw_status health_latest(cw_store *st, cw_store_health *out)
{
    static const struct {
        cw_kind kind;
        const char *sql;
    } latest[] = {
        {CW_KIND_SUBSCRIPTIONS, "SELECT max(effective_at) FROM subscriptions"},
        {CW_KIND_USERS, "SELECT max(CASE WHEN coalesce(deactivated_at, 0) > provisioned_at"
                        " THEN coalesce(deactivated_at, 0) ELSE provisioned_at END) FROM users"},
        {CW_KIND_EVENTS, "SELECT CAST(max(day) AS BIGINT) * 86400 FROM event_days"},
        {CW_KIND_TRAININGS, "SELECT max(completed_at) FROM trainings"},
        {CW_KIND_TICKETS, "SELECT max(CASE WHEN coalesce(closed_at, 0) > opened_at"
                          " THEN coalesce(closed_at, 0) ELSE opened_at END) FROM tickets"},
        {CW_KIND_SURVEYS, "SELECT max(coalesce(responded_at, sent_at)) FROM surveys"},
        {CW_KIND_GOAL_MEASUREMENTS, "SELECT max(measured_at) FROM goal_measurements"},
        {CW_KIND_JOURNEY, "SELECT max(at) FROM journey"},
        {CW_KIND_SUBSCRIPTION_PERIODS, "SELECT max(period_start) FROM subscription_periods"},
    };
    cw_stmt *q;
    cw_status s = CW_OK;
    for (size_t i = 0; s == CW_OK && i < sizeof latest / sizeof latest[0]; i++) {
        if ((s = cw_sql_prep(st, latest[i].sql, 0, &q, "freshness")) != CW_OK)
            break;
        int rc = cw_sql_step(q);
        if (rc == CW_SQL_ROW)
            out->data_latest_ts[latest[i].kind] =
                cw_sql_col_type(q, 0) == CW_SQL_NULL ? 0 : cw_sql_col_i64(q, 0);
        else
            s = cw_sql_fail(st, "freshness");
        cw_sql_finalize(q);
    }
    return s;
}

/* When a file of each kind was last ingested. */
static cw_status health_ingested(cw_store *st, cw_store_health *out)
{
    cw_stmt *q;
    cw_status s =
        cw_sql_prep(st, "SELECT kind, max(at) FROM ingest_log GROUP BY kind", 0, &q, "freshness");
    if (s != CW_OK)
        return s;
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const char *k = (const char *)cw_sql_col_text(q, 0);
        cw_kind kind = k ? cw_kind_from_name(k) : CW_KIND_NONE;
        if (kind != CW_KIND_NONE)
            out->ingested_last_ts[kind] = cw_sql_col_i64(q, 1);
    }
    if (rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "freshness");
    cw_sql_finalize(q);
    return s;
}

/* Open alerts by severity: open = open, acked or snoozed (cw_alert_status
 * 1..3). */
static cw_status health_alerts(cw_store *st, cw_store_health *out)
{
    cw_stmt *q;
    cw_status s = cw_sql_prep(st,
                              "SELECT severity, count(*) FROM alerts WHERE status IN (1, 2, 3)"
                              " GROUP BY severity",
                              0, &q, "alerts");
    if (s != CW_OK)
        return s;
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int sev = cw_sql_col_int(q, 0);
        if (sev >= 1 && sev <= 2)
            out->alerts_open[sev] = cw_sql_col_i64(q, 1);
    }
    if (rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "alerts");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_health(cw_store *st, cw_store_health *out)
{
    memset(out, 0, sizeof *out);
    cw_status s = health_latest(st, out);
    if (s == CW_OK)
        s = health_ingested(st, out);
    if (s == CW_OK)
        s = health_alerts(st, out);
    return s;
}

/* ---- the outbox's backlog ---------------------------------------------- */

cw_status cw_op_outbox_dest_counts(cw_store *st,
                                   cw_status (*fn)(const char *action, const char *dest,
                                                   int64_t queued, int64_t dead, void *ud),
                                   void *ud)
{
    /* status: 0 pending, 1 delivered, 2 dead. A destination holding an
     * e-mail address (a recipient, a task's owner) is counted as 'email':
     * no personal data in monitoring, and one series, not one per person.
     * ('@' is not a LIKE wildcard, and case does not matter for it.) */
    cw_stmt *q;
    cw_status s = cw_sql_prep(st,
                              "SELECT action, CASE WHEN dest IS NULL THEN ''"
                              " WHEN dest LIKE '%@%' THEN 'email' ELSE dest END,"
                              " sum(CASE WHEN status = 0 THEN 1 ELSE 0 END),"
                              " sum(CASE WHEN status = 2 THEN 1 ELSE 0 END)"
                              " FROM outbox WHERE status IN (0, 2) GROUP BY 1, 2 ORDER BY 1, 2",
                              0, &q, "outbox");
    if (s != CW_OK)
        return s;
    int rc = CW_SQL_DONE;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = fn((const char *)cw_sql_col_text(q, 0), (const char *)cw_sql_col_text(q, 1),
               cw_sql_col_i64(q, 2), cw_sql_col_i64(q, 3), ud);
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "outbox");
    cw_sql_finalize(q);
    return s;
}

/* ---- integrity ----------------------------------------------------------- */

/* Appends line and a newline to the malloc'd list *list of *len bytes. */
static cw_status add_line(cw_store *st, char **list, size_t *len, const char *line)
{
    size_t n = strlen(line);
    char *p = realloc(*list, *len + n + 2);
    if (!p)
        return cw_store_set_error(st, CW_ERR_NOMEM, "integrity check: out of memory");
    memcpy(p + *len, line, n);
    *len += n;
    p[(*len)++] = '\n';
    p[*len] = '\0';
    *list = p;
    return CW_OK;
}

/* SQLite's own check of every page, index and constraint: at most 100
 * problems, enough to say the database is damaged. */
static cw_status check_pages(cw_store *st, char **list, size_t *len)
{
    cw_stmt *q;
    cw_status s = cw_sql_prep(st, "PRAGMA integrity_check(100)", 0, &q, "integrity check");
    if (s != CW_OK)
        return s;
    int rc = CW_SQL_DONE;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const char *line = (const char *)cw_sql_col_text(q, 0);
        if (line && strcmp(line, "ok") != 0)
            s = add_line(st, list, len, line);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "integrity check");
    cw_sql_finalize(q);
    return s;
}

/* Every table the migrations create (lib/store/: the migrations list), in
 * the order they appear there; keep in step when a migration adds one. */
/* clang-format off */
static const char *const expected_tables[] = {
    "accounts", "subscriptions", "users", "features", "event_names", "event_days", "trainings",
    "tickets", "surveys", "goals", "goal_measurements", "journey", "ingest_log",
    "metric_snapshots", "account_metrics", "account_peers", "user_metrics", "scorecards", "scores",
    "models", "predictions", "backtests", "outbox", "alerts", "alert_events", "play_assignments",
    "alert_days", "outbox_rate", "tasks", "api_tokens", "subscription_periods", "quarantine_runs",
    "quarantine", "runs", "app_users", "app_sessions",
};
/* clang-format on */
#define N_EXPECTED (sizeof expected_tables / sizeof expected_tables[0])

/* The tables the connection sees, from the catalogue of its dialect: the
 * schema's tables on SQLite, the ordinary and partitioned tables on the
 * search path on PostgreSQL. */
static const char *tables_sql(cw_store *st)
{
    if (cw_sql_dialect(st) == CW_DIALECT_PG)
        return "SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'p')"
               " AND pg_catalog.pg_table_is_visible(c.oid)";
    return "SELECT name FROM sqlite_master WHERE type = 'table'";
}

/* A line per expected table the database lacks. */
static cw_status check_tables(cw_store *st, char **list, size_t *len)
{
    unsigned char seen[N_EXPECTED] = {0};
    cw_stmt *q;
    cw_status s = cw_sql_prep(st, tables_sql(st), 0, &q, "integrity check");
    if (s != CW_OK)
        return s;
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const char *name = (const char *)cw_sql_col_text(q, 0);
        for (size_t i = 0; name && i < N_EXPECTED; i++)
            if (strcmp(name, expected_tables[i]) == 0)
                seen[i] = 1;
    }
    if (rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "integrity check");
    cw_sql_finalize(q);
    for (size_t i = 0; s == CW_OK && i < N_EXPECTED; i++) {
        if (!seen[i]) {
            char line[96];
            snprintf(line, sizeof line, "table %s is missing", expected_tables[i]);
            s = add_line(st, list, len, line);
        }
    }
    return s;
}

/* PostgreSQL: a line per table of the API's change counter (store/pg/
 * pg_ddl.c, cw_pg_api_counter) without its trigger, and for the counter's
 * row when it is missing: without them a running serve would keep
 * answering the at-risk list from a stale cache. */
static cw_status check_api_counter(cw_store *st, char **list, size_t *len)
{
    cw_stmt *q;
    cw_status s = cw_sql_prep(
        st,
        "SELECT 'table ' || t.name || ' has no trigger cw_api_changed (the API change counter)'"
        " FROM (VALUES ('accounts'), ('scores'), ('predictions')) AS t(name)"
        " WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g"
        " WHERE g.tgname = 'cw_api_changed' AND g.tgenabled <> 'D'"
        " AND g.tgrelid = to_regclass(t.name))"
        " UNION ALL SELECT 'table cw_api_version has no row (the API change counter)'"
        " WHERE NOT EXISTS (SELECT 1 FROM cw_api_version WHERE id = 1)",
        0, &q, "integrity check");
    if (s != CW_OK)
        return s;
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = add_line(st, list, len, (const char *)cw_sql_col_text(q, 0));
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "integrity check");
    cw_sql_finalize(q);
    return s;
}

/* SQLite: PRAGMA integrity_check, then the tables. PostgreSQL checks its
 * own pages (data checksums; amcheck needs rights a service account should
 * not have), so there the check is what a client can see: the connection
 * answers, every table is there and the schema is at this build's version. */
cw_status cw_op_integrity_check(cw_store *st, char **problems)
{
    *problems = NULL;
    char *list = NULL;
    size_t len = 0;
    cw_status s = CW_OK;
    if (cw_sql_dialect(st) == CW_DIALECT_SQLITE)
        s = check_pages(st, &list, &len);
    if (s == CW_OK && !list)
        s = check_tables(st, &list, &len);
    if (s == CW_OK && !list && cw_sql_dialect(st) == CW_DIALECT_PG &&
        cw_store_schema_version(st) == cw_store_latest_version())
        s = check_api_counter(st, &list, &len);
    if (s == CW_OK && cw_store_schema_version(st) != cw_store_latest_version()) {
        char line[96];
        snprintf(line, sizeof line, "schema version %d, this build's is %d",
                 cw_store_schema_version(st), cw_store_latest_version());
        s = add_line(st, &list, &len, line);
    }
    if (s != CW_OK) {
        free(list);
        list = NULL;
    }
    *problems = list;
    return s;
}

/* ---- the public entry points ------------------------------------------- */

cw_status cw_run_log_begin(cw_store *st, int64_t day, int64_t at, int64_t *id)
{
    cw_store_enter(st, "run log");
    return cw_store_get_ops(st)->run_begin(st, day, at, id);
}

cw_status cw_run_log_end(cw_store *st, int64_t id, int64_t at, int exit_code)
{
    cw_store_enter(st, "run log");
    return cw_store_get_ops(st)->run_end(st, id, at, exit_code);
}

cw_status cw_run_log_last(cw_store *st, cw_run_info *out, int *found)
{
    cw_store_enter(st, "run log");
    return cw_store_get_ops(st)->run_last(st, out, found);
}

cw_status cw_store_health_get(cw_store *st, cw_store_health *out)
{
    cw_store_enter(st, "health");
    return cw_store_get_ops(st)->health(st, out);
}

cw_status cw_outbox_dest_counts(cw_store *st,
                                cw_status (*fn)(const char *action, const char *dest,
                                                int64_t queued, int64_t dead, void *ud),
                                void *ud)
{
    cw_store_enter(st, "outbox");
    return cw_store_get_ops(st)->outbox_dest_counts(st, fn, ud);
}

cw_status cw_store_integrity_check(cw_store *st, char **problems)
{
    cw_store_enter(st, "integrity check");
    return cw_store_get_ops(st)->integrity_check(st, problems);
}
