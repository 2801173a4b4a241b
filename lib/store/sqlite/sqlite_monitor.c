/*
 * store/sqlite/sqlite_monitor.c — what operations read and record in the
 * SQLite store (docs/operations.md): the run log of `churnwatch run`, the
 * freshness of each input kind, open alerts by severity, the outbox's
 * backlog per destination and the integrity check behind `doctor`. Each
 * read is a handful of aggregate queries over indexed or small tables, cheap
 * enough for every /metrics scrape.
 */
#include "core/util.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static cw_status err(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "%s: %s", what, sqlite3_errmsg(cw_store_sqlite(st)));
}

static cw_status prep(cw_store *st, const char *sql, sqlite3_stmt **q, const char *what)
{
    if (sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, q, NULL) != SQLITE_OK)
        return err(st, what);
    return CW_OK;
}

/* ---- the run log -------------------------------------------------------- */

cw_status cw_sq_run_begin(cw_store *st, int64_t day, int64_t at, int64_t *id)
{
    sqlite3_stmt *q;
    cw_status s = prep(st, "INSERT INTO runs(day, started_at) VALUES(?,?)", &q, "run log");
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, at);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return err(st, "run log");
    *id = sqlite3_last_insert_rowid(cw_store_sqlite(st));
    return CW_OK;
}

cw_status cw_sq_run_end(cw_store *st, int64_t id, int64_t at, int exit_code)
{
    sqlite3_stmt *q;
    cw_status s = prep(st, "UPDATE runs SET ended_at=?, exit_code=? WHERE id=?", &q, "run log");
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, at);
    sqlite3_bind_int(q, 2, exit_code);
    sqlite3_bind_int64(q, 3, id);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : err(st, "run log");
}

cw_status cw_sq_run_last(cw_store *st, cw_run_info *out, int *found)
{
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    *found = 0;
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, day, started_at, coalesce(ended_at, 0), coalesce(exit_code, -1)"
                       " FROM runs ORDER BY id DESC LIMIT 1",
                       &q, "run log");
    if (s != CW_OK)
        return s;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(q, 0);
        out->day = sqlite3_column_int64(q, 1);
        out->started_at = sqlite3_column_int64(q, 2);
        out->ended_at = sqlite3_column_int64(q, 3);
        out->exit_code = sqlite3_column_int(q, 4);
        *found = 1;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CW_OK : err(st, "run log");
}

/* ---- freshness and alerts ---------------------------------------------- */

cw_status cw_sq_health(cw_store *st, cw_store_health *out)
{
    memset(out, 0, sizeof *out);
    /* The newest time each kind's rows carry, in Unix seconds. */
    static const struct {
        cw_kind kind;
        const char *sql;
    } latest[] = {
        {CW_KIND_SUBSCRIPTIONS, "SELECT max(effective_at) FROM subscriptions"},
        {CW_KIND_USERS, "SELECT max(max(provisioned_at, coalesce(deactivated_at, 0))) FROM users"},
        {CW_KIND_EVENTS, "SELECT max(day) * 86400 FROM event_days"},
        {CW_KIND_TRAININGS, "SELECT max(completed_at) FROM trainings"},
        {CW_KIND_TICKETS, "SELECT max(max(opened_at, coalesce(closed_at, 0))) FROM tickets"},
        {CW_KIND_SURVEYS, "SELECT max(coalesce(responded_at, sent_at)) FROM surveys"},
        {CW_KIND_GOAL_MEASUREMENTS, "SELECT max(measured_at) FROM goal_measurements"},
        {CW_KIND_JOURNEY, "SELECT max(at) FROM journey"},
        {CW_KIND_SUBSCRIPTION_PERIODS, "SELECT max(period_start) FROM subscription_periods"},
    };
    sqlite3_stmt *q;
    cw_status s = CW_OK;
    for (size_t i = 0; s == CW_OK && i < sizeof latest / sizeof latest[0]; i++) {
        if ((s = prep(st, latest[i].sql, &q, "freshness")) != CW_OK)
            break;
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            out->data_latest_ts[latest[i].kind] = sqlite3_column_int64(q, 0);
        else
            s = err(st, "freshness");
        sqlite3_finalize(q);
    }
    if (s == CW_OK && (s = prep(st, "SELECT kind, max(at) FROM ingest_log GROUP BY kind", &q,
                                "freshness")) == CW_OK) {
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(q, 0);
            cw_kind kind = k ? cw_kind_from_name(k) : CW_KIND_NONE;
            if (kind != CW_KIND_NONE)
                out->ingested_last_ts[kind] = sqlite3_column_int64(q, 1);
        }
        if (rc != SQLITE_DONE)
            s = err(st, "freshness");
        sqlite3_finalize(q);
    }
    /* open = open, acked or snoozed (cw_alert_status 1..3) */
    if (s == CW_OK && (s = prep(st,
                                "SELECT severity, count(*) FROM alerts WHERE status IN (1, 2, 3)"
                                " GROUP BY severity",
                                &q, "alerts")) == CW_OK) {
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            int sev = sqlite3_column_int(q, 0);
            if (sev >= 1 && sev <= 2)
                out->alerts_open[sev] = sqlite3_column_int64(q, 1);
        }
        if (rc != SQLITE_DONE)
            s = err(st, "alerts");
        sqlite3_finalize(q);
    }
    return s;
}

/* ---- the outbox's backlog ---------------------------------------------- */

cw_status cw_sq_outbox_dest_counts(cw_store *st,
                                   cw_status (*fn)(const char *action, const char *dest,
                                                   int64_t queued, int64_t dead, void *ud),
                                   void *ud)
{
    /* status: 0 pending, 1 delivered, 2 dead. A destination holding an
     * e-mail address (a recipient, a task's owner) is counted as 'email':
     * no personal data in monitoring, and one series, not one per person. */
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "SELECT action, CASE WHEN dest IS NULL THEN ''"
                       " WHEN instr(dest, '@') THEN 'email' ELSE dest END,"
                       " sum(status = 0), sum(status = 2)"
                       " FROM outbox WHERE status IN (0, 2) GROUP BY 1, 2 ORDER BY 1, 2",
                       &q, "outbox");
    if (s != CW_OK)
        return s;
    int rc = SQLITE_DONE;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        s = fn((const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
               sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3), ud);
    if (s == CW_OK && rc != SQLITE_DONE)
        s = err(st, "outbox");
    sqlite3_finalize(q);
    return s;
}

/* ---- integrity ----------------------------------------------------------- */

cw_status cw_sq_integrity_check(cw_store *st, char **problems)
{
    *problems = NULL;
    sqlite3_stmt *q;
    /* at most 100 problems: enough to say the database is damaged */
    cw_status s = prep(st, "PRAGMA integrity_check(100)", &q, "integrity check");
    if (s != CW_OK)
        return s;
    char *list = NULL;
    size_t len = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(q, 0);
        if (!line || strcmp(line, "ok") == 0)
            continue;
        size_t n = strlen(line);
        char *p = realloc(list, len + n + 2);
        if (!p) {
            free(list);
            sqlite3_finalize(q);
            return CW_ERR_NOMEM;
        }
        list = p;
        memcpy(list + len, line, n);
        len += n;
        list[len++] = '\n';
        list[len] = '\0';
    }
    if (rc != SQLITE_DONE) {
        s = err(st, "integrity check");
        free(list);
        list = NULL;
    }
    sqlite3_finalize(q);
    *problems = list;
    return s;
}

/* ---- the public entry points ------------------------------------------- */

cw_status cw_run_log_begin(cw_store *st, int64_t day, int64_t at, int64_t *id)
{
    return cw_store_get_ops(st)->run_begin(st, day, at, id);
}

cw_status cw_run_log_end(cw_store *st, int64_t id, int64_t at, int exit_code)
{
    return cw_store_get_ops(st)->run_end(st, id, at, exit_code);
}

cw_status cw_run_log_last(cw_store *st, cw_run_info *out, int *found)
{
    return cw_store_get_ops(st)->run_last(st, out, found);
}

cw_status cw_store_health_get(cw_store *st, cw_store_health *out)
{
    return cw_store_get_ops(st)->health(st, out);
}

cw_status cw_outbox_dest_counts(cw_store *st,
                                cw_status (*fn)(const char *action, const char *dest,
                                                int64_t queued, int64_t dead, void *ud),
                                void *ud)
{
    return cw_store_get_ops(st)->outbox_dest_counts(st, fn, ud);
}

cw_status cw_store_integrity_check(cw_store *st, char **problems)
{
    return cw_store_get_ops(st)->integrity_check(st, problems);
}
