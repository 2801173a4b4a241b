/*
 * store/sql/store_ops.c — the smaller tables of ingest: the ingest log,
 * goal lookups, the quarantine (bad rows kept by `run --skip-bad`), users
 * created on first sight in events, and the store's summary (`status`).
 */
#include "core/util.h"
#include "store/sql/store_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

cw_status cw_op_log_file(cw_store *st, const char *path, cw_kind kind, int64_t rows,
                         int64_t written, int64_t rejected, int64_t bytes)
{
    cw_stmt **q = &st->q[CW_Q_LOG_INS];
    cw_status s = cw_sql_lazy(st, q,
                              "INSERT INTO ingest_log(at,path,kind,rows,written,rejected,bytes)"
                              " VALUES(?,?,?,?,?,?,?)",
                              "ingest log");
    if (s != CW_OK)
        return s;
    const cw_kind_def *kd = cw_kind_get(kind);
    cw_sql_bind_i64(*q, 1, (int64_t)time(NULL));
    cw_sql_bind_text(*q, 2, path, -1);
    cw_sql_bind_text(*q, 3, kd ? kd->name : "unknown", -1);
    cw_sql_bind_i64(*q, 4, rows);
    cw_sql_bind_i64(*q, 5, written);
    cw_sql_bind_i64(*q, 6, rejected);
    cw_sql_bind_i64(*q, 7, bytes);
    return cw_sql_step_done(st, *q, "ingest log");
}

cw_status cw_op_goal_exists(cw_store *st, const char *id, size_t len, int *exists)
{
    cw_stmt **q = &st->q[CW_Q_GOAL];
    cw_status s = cw_sql_lazy(st, q, "SELECT 1 FROM goals WHERE goal_id=?", "goal lookup");
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(*q, 1, id, (int)len);
    int rc = cw_sql_step(*q);
    *exists = rc == CW_SQL_ROW;
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "goal lookup");
    cw_sql_reset(*q);
    return s;
}

/* ---- quarantine ------------------------------------------------------- */

cw_status cw_op_quarantine_run_begin(cw_store *st, int64_t at, int64_t *run)
{
    cw_stmt **q = &st->q[CW_Q_QRUN_INS];
    cw_status s = cw_sql_lazy(st, q, "INSERT INTO quarantine_runs(at) VALUES(?) RETURNING id",
                              "quarantine run");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, at);
    return cw_sql_step_id(st, *q, run, "quarantine run");
}

cw_status cw_op_quarantine_put(cw_store *st, int64_t run, const char *file, int64_t line,
                               const char *field, const char *error, const char *record,
                               size_t record_len)
{
    cw_stmt **q = &st->q[CW_Q_Q_INS];
    cw_status s = cw_sql_lazy(st, q,
                              "INSERT INTO quarantine(run,file,line,field,error,record)"
                              " VALUES(?,?,?,?,?,?)",
                              "quarantine");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, run);
    cw_sql_bind_text(*q, 2, file, -1);
    cw_sql_bind_i64(*q, 3, line);
    if (field)
        cw_sql_bind_text(*q, 4, field, -1);
    else
        cw_sql_bind_null(*q, 4);
    cw_sql_bind_text(*q, 5, error, -1);
    cw_sql_bind_text(*q, 6, record ? record : "", (int)record_len);
    return cw_sql_step_done(st, *q, "quarantine");
}

cw_status cw_op_quarantine_run_end(cw_store *st, int64_t run, int64_t rows, int64_t quarantined)
{
    cw_stmt **q = &st->q[CW_Q_QRUN_END];
    cw_status s = cw_sql_lazy(
        st, q, "UPDATE quarantine_runs SET rows=?2, quarantined=?3 WHERE id=?1", "quarantine run");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, run);
    cw_sql_bind_i64(*q, 2, rows);
    cw_sql_bind_i64(*q, 3, quarantined);
    return cw_sql_step_done(st, *q, "quarantine run");
}

cw_status cw_op_quarantine_counts(cw_store *st, cw_quarantine_counts *out)
{
    memset(out, 0, sizeof *out);
    cw_stmt *q;
    cw_status s = cw_sql_prep(st,
                              "SELECT (SELECT count(*) FROM quarantine),"
                              " (SELECT count(*) FROM quarantine_runs),"
                              " (SELECT quarantined FROM quarantine_runs ORDER BY id DESC LIMIT 1),"
                              " (SELECT at FROM quarantine_runs ORDER BY id DESC LIMIT 1)",
                              0, &q, "quarantine");
    if (s != CW_OK)
        return s;
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW) {
        out->total = cw_sql_col_i64(q, 0);
        out->runs = cw_sql_col_i64(q, 1);
        out->last_run = cw_sql_col_i64(q, 2);
        out->last_run_at = cw_sql_col_i64(q, 3);
    } else {
        s = cw_sql_fail(st, "quarantine");
    }
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_quarantine_scan(cw_store *st, int64_t limit,
                                cw_status (*fn)(const cw_quarantine_row *, void *), void *ud)
{
    /* no LIMIT for all rows: PostgreSQL refuses SQLite's LIMIT -1 */
    const char *sql = limit > 0 ? "SELECT q.id, r.at, q.file, q.line, q.field, q.error, q.record"
                                  " FROM quarantine q JOIN quarantine_runs r ON r.id = q.run"
                                  " ORDER BY q.id DESC LIMIT ?"
                                : "SELECT q.id, r.at, q.file, q.line, q.field, q.error, q.record"
                                  " FROM quarantine q JOIN quarantine_runs r ON r.id = q.run"
                                  " ORDER BY q.id DESC";
    cw_stmt *q;
    cw_status s = cw_sql_prep(st, sql, 0, &q, "quarantine");
    if (s != CW_OK)
        return s;
    if (limit > 0)
        cw_sql_bind_i64(q, 1, limit);
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        cw_quarantine_row r = {cw_sql_col_i64(q, 0),
                               cw_sql_col_i64(q, 1),
                               (const char *)cw_sql_col_text(q, 2),
                               cw_sql_col_i64(q, 3),
                               (const char *)cw_sql_col_text(q, 4),
                               (const char *)cw_sql_col_text(q, 5),
                               (const char *)cw_sql_col_text(q, 6)};
        s = fn(&r, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "quarantine");
    cw_sql_finalize(q);
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

/* ---- users created on first sight ------------------------------------ */

cw_status cw_op_user_provision(cw_store *st, const char *user, size_t len, int64_t account,
                               int64_t at, int64_t *id)
{
    cw_stmt **q = &st->q[CW_Q_PROV_INS];
    cw_status s = cw_sql_lazy(st, q,
                              "INSERT INTO users(user_id,account,provisioned_at,provisional)"
                              " VALUES(?,?,?,1) RETURNING id",
                              "users");
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(*q, 1, user, (int)len);
    cw_sql_bind_i64(*q, 2, account);
    cw_sql_bind_i64(*q, 3, at);
    return cw_sql_step_id(st, *q, id, "users");
}

cw_status cw_op_user_provision_lower(cw_store *st, const char *user, size_t len, int64_t at)
{
    cw_stmt **q = &st->q[CW_Q_PROV_LOWER];
    cw_status s = cw_sql_lazy(st, q,
                              "UPDATE users SET provisioned_at=?2"
                              " WHERE user_id=?1 AND provisional=1 AND provisioned_at>?2",
                              "users");
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(*q, 1, user, (int)len);
    cw_sql_bind_i64(*q, 2, at);
    return cw_sql_step_done(st, *q, "users");
}

/* ---- summary ---------------------------------------------------------- */

/* The integer of sql's first row (0 when none or NULL); *s keeps the first
 * failure. */
static int64_t scalar(cw_store *st, const char *sql, cw_status *s)
{
    int64_t v = 0;
    int isnull;
    if (*s == CW_OK)
        *s = cw_sql_scalar_i64(st, sql, &v, &isnull);
    return v;
}

/* Sums are cast: PostgreSQL's sum of bigints is a numeric. */
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
    out->events = scalar(st, "SELECT CAST(coalesce(sum(events),0) AS BIGINT) FROM event_days", &s);
    out->event_days = out->rows[CW_KIND_EVENTS];
    out->event_names = scalar(st, "SELECT count(*) FROM event_names", &s);
    out->first_event_ts =
        scalar(st, "SELECT coalesce(CAST(min(day) AS BIGINT),0)*86400 FROM event_days", &s);
    out->last_event_ts =
        scalar(st, "SELECT coalesce(CAST(max(day) AS BIGINT),0)*86400 FROM event_days", &s);
    out->accounts_active = scalar(st, "SELECT count(*) FROM accounts WHERE status='active'", &s);
    out->accounts_churned = scalar(st, "SELECT count(*) FROM accounts WHERE status='churned'", &s);
    out->users_active = scalar(st, "SELECT count(*) FROM users WHERE deactivated_at IS NULL", &s);
    out->seats_active = scalar(
        st, "SELECT CAST(coalesce(sum(seats),0) AS BIGINT) FROM accounts WHERE status='active'",
        &s);
    out->mrr_active_minor = scalar(st,
                                   "SELECT CAST(coalesce(sum(mrr_minor),0) AS BIGINT) FROM"
                                   " accounts WHERE status='active'",
                                   &s);
    int64_t ncur =
        scalar(st, "SELECT count(DISTINCT currency) FROM accounts WHERE status='active'", &s);
    if (s == CW_OK && ncur == 1) {
        cw_stmt *q;
        if (cw_sql_prepare(st, "SELECT currency FROM accounts WHERE status='active' LIMIT 1", 0,
                           &q) == CW_SQL_OK) {
            if (cw_sql_step(q) == CW_SQL_ROW) {
                const unsigned char *c = cw_sql_col_text(q, 0);
                snprintf(out->mrr_currency, sizeof out->mrr_currency, "%s",
                         c ? (const char *)c : "");
            }
            cw_sql_finalize(q);
        }
    } else if (ncur > 1) {
        snprintf(out->mrr_currency, sizeof out->mrr_currency, "*");
    }
    out->ingested_files = scalar(st, "SELECT count(*) FROM ingest_log", &s);
    return s;
}
