/*
 * store/sql/store_outbox.c — the outbox and task SQL (store/store_outbox.h and
 * the outbox/task calls of churnwatch.h), over the statement seam
 * (store/sql.h) and so for every backend: queueing messages, claiming and
 * settling them for the deliverer (deliver.c), the administration of the
 * outbox and the CSM tasks the task action writes. Statements are
 * parameterised and portable; the idempotency key's UNIQUE constraint is
 * what makes a re-run queue nothing twice. The one dialect branch is the
 * claim (cw_outbox_claim): row locks on PostgreSQL, the writer lock on
 * SQLite.
 */
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/store_outbox.h"
#include "store/sql/store_int.h"

#include <stdlib.h>
#include <string.h>

static cw_status dberr(cw_store *st)
{
    return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", cw_sql_errmsg(st));
}

cw_status cw_outbox_enqueue(cw_store *st, const char *action, const char *idem_key,
                            const char *payload_json, int64_t now, int *inserted)
{
    cw_store_enter(st, "outbox");
    /* Prepared once per connection: an evaluation queues one row per
     * (alert, action), tens of thousands on a first day. */
    cw_stmt **slot = cw_store_sql_slot(st, CW_STMT_OUTBOX_INSERT);
    if (!*slot &&
        cw_sql_prepare(st,
                       "INSERT INTO outbox(idem_key, action, payload, next_at, created_at)"
                       " VALUES(?,?,?,?,?) ON CONFLICT(idem_key) DO NOTHING",
                       CW_SQL_PERSISTENT, slot) != CW_SQL_OK)
        return dberr(st);
    cw_stmt *q = *slot;
    cw_sql_bind_text(q, 1, idem_key, -1);
    cw_sql_bind_text(q, 2, action, -1);
    cw_sql_bind_text(q, 3, payload_json, -1);
    cw_sql_bind_i64(q, 4, now);
    cw_sql_bind_i64(q, 5, now);
    int rc = cw_sql_step(q);
    int changed = rc == CW_SQL_DONE && cw_sql_changes(st) > 0;
    cw_status s = rc == CW_SQL_DONE ? CW_OK : dberr(st);
    cw_sql_reset(q);
    cw_sql_clear_bindings(q); /* the bound strings are the caller's */
    if (s == CW_OK && inserted)
        *inserted = changed;
    return s;
}

/* ---- delivery: claiming and settling --------------------------------- */

static cw_status prep(cw_store *st, const char *sql, cw_stmt **q)
{
    if (cw_sql_prepare(st, sql, 0, q) != CW_SQL_OK)
        return dberr(st);
    return CW_OK;
}

/* Steps q once and finalizes it; *changes (when not NULL) gets the rows it
 * changed, read before the statement is gone. */
static cw_status step_done(cw_store *st, cw_stmt *q, int64_t *changes)
{
    int rc = cw_sql_step(q);
    cw_status s = rc == CW_SQL_DONE || rc == CW_SQL_ROW ? CW_OK : dberr(st);
    if (s == CW_OK && changes)
        *changes = cw_sql_changes(st);
    cw_sql_finalize(q);
    return s;
}

static char *col_dup(cw_stmt *q, int i)
{
    const unsigned char *t = cw_sql_col_text(q, i);
    return t ? cw_strndup((const char *)t, (size_t)cw_sql_col_bytes(q, i)) : NULL;
}

void cw_outbox_due_free(cw_due_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
        free(rows[i].idem_key);
        free(rows[i].action);
        free(rows[i].payload);
    }
    free(rows);
}

cw_status cw_outbox_due(cw_store *st, int64_t now, int64_t skip, int max, cw_due_row **out, int *n)
{
    *out = NULL;
    *n = 0;
    cw_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, idem_key, action, payload, attempts FROM outbox"
                       " WHERE status = 0 AND next_at <= ? ORDER BY next_at, id LIMIT ? OFFSET ?",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, now);
    cw_sql_bind_i64(q, 2, max);
    cw_sql_bind_i64(q, 3, skip);
    cw_due_row *rows = calloc((size_t)(max > 0 ? max : 1), sizeof *rows);
    if (!rows) {
        cw_sql_finalize(q);
        return cw_store_set_error(st, CW_ERR_NOMEM, "outbox: out of memory reading due messages");
    }
    int k = 0, rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW && k < max) {
        cw_due_row *r = &rows[k++];
        r->id = cw_sql_col_i64(q, 0);
        r->idem_key = col_dup(q, 1);
        r->action = col_dup(q, 2);
        r->payload = col_dup(q, 3);
        r->attempts = cw_sql_col_int(q, 4);
        if (!r->idem_key || !r->action || !r->payload) {
            cw_sql_finalize(q);
            cw_outbox_due_free(rows, k);
            return cw_store_set_error(st, CW_ERR_NOMEM,
                                      "outbox: out of memory reading due messages");
        }
    }
    s = rc != CW_SQL_DONE && rc != CW_SQL_ROW ? dberr(st) : CW_OK;
    cw_sql_finalize(q);
    if (s != CW_OK) {
        cw_outbox_due_free(rows, k);
        return s;
    }
    *out = rows;
    *n = k;
    return CW_OK;
}

/* One statement takes a send: it starts or counts up dest's window and
 * returns the row, or returns nothing (and changes nothing) when the window
 * is the current one and full. Atomic, so two deliverers on PostgreSQL
 * cannot both read the same count; "window" is quoted (reserved in
 * PostgreSQL). The SET expressions read the row as it was. */
cw_status cw_outbox_rate_take(cw_store *st, const char *dest, int64_t window, int rate,
                              int *allowed)
{
    *allowed = 1;
    if (rate <= 0)
        return CW_OK;
    cw_stmt *q;
    cw_status s = prep(st,
                       "INSERT INTO outbox_rate(dest, \"window\", sent) VALUES(?1, ?2, 1)"
                       " ON CONFLICT(dest) DO UPDATE SET \"window\" = excluded.\"window\","
                       " sent = CASE WHEN outbox_rate.\"window\" = excluded.\"window\""
                       " THEN outbox_rate.sent + 1 ELSE 1 END"
                       " WHERE outbox_rate.\"window\" <> excluded.\"window\""
                       " OR outbox_rate.sent < ?3 RETURNING sent",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(q, 1, dest, -1);
    cw_sql_bind_i64(q, 2, window);
    cw_sql_bind_i64(q, 3, rate);
    int rc = cw_sql_step(q);
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : dberr(st);
    *allowed = rc == CW_SQL_ROW;
    cw_sql_finalize(q);
    return s;
}

/* On PostgreSQL two deliverers run their claiming transactions at the same
 * time: the row is locked FOR UPDATE in this (the claiming) transaction
 * until it commits, and a row another deliverer has locked is SKIPPED, so
 * it is claimed by one of them only and nobody waits for the other's batch.
 * On SQLite BEGIN IMMEDIATE's single writer lock already serialises the
 * claiming transactions, and FOR UPDATE does not exist: the plain update,
 * checked against the attempts read, is today's claim. */
static const char *claim_sql(cw_store *st)
{
    if (cw_sql_dialect(st) == CW_DIALECT_PG)
        return "UPDATE outbox SET attempts = attempts + 1, last_at = ?1, next_at = ?2, dest = ?3"
               " WHERE id = (SELECT id FROM outbox WHERE id = ?4 AND status = 0"
               " AND attempts = ?5 FOR UPDATE SKIP LOCKED)";
    return "UPDATE outbox SET attempts = attempts + 1, last_at = ?1, next_at = ?2, dest = ?3"
           " WHERE id = ?4 AND status = 0 AND attempts = ?5";
}

cw_status cw_outbox_claim(cw_store *st, int64_t id, int attempts_read, int64_t now,
                          int64_t lease_until, const char *dest, int *claimed)
{
    cw_stmt *q;
    cw_status s = prep(st, claim_sql(st), &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, now);
    cw_sql_bind_i64(q, 2, lease_until);
    cw_sql_bind_text(q, 3, dest, -1);
    cw_sql_bind_i64(q, 4, id);
    cw_sql_bind_i64(q, 5, attempts_read);
    int64_t changed = 0;
    s = step_done(st, q, &changed);
    if (s == CW_OK)
        *claimed = changed > 0;
    return s;
}

cw_status cw_outbox_settle(cw_store *st, int64_t id, cw_outbox_status status, int64_t now,
                           int64_t next_at, const char *error)
{
    cw_stmt *q;
    cw_status s = prep(st,
                       "UPDATE outbox SET status = ?, next_at = ?, last_error = ?,"
                       " delivered_at = CASE WHEN ? = 1 THEN ? ELSE delivered_at END"
                       " WHERE id = ?",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, (int)status);
    cw_sql_bind_i64(q, 2, next_at);
    if (error)
        cw_sql_bind_text(q, 3, error, -1);
    else
        cw_sql_bind_null(q, 3);
    cw_sql_bind_i64(q, 4, (int)status);
    cw_sql_bind_i64(q, 5, now);
    cw_sql_bind_i64(q, 6, id);
    return step_done(st, q, NULL);
}

cw_status cw_task_insert(cw_store *st, const char *idem_key, const char *account,
                         const char *assignee, const char *title, const char *body, int64_t due_day,
                         int64_t now)
{
    cw_stmt *q;
    cw_status s = prep(st,
                       "INSERT INTO tasks(idem_key, account, assignee, title, body, due_day,"
                       " status, created_at) VALUES(?,?,?,?,?,?,0,?)"
                       " ON CONFLICT(idem_key) DO NOTHING",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(q, 1, idem_key, -1);
    cw_sql_bind_text(q, 2, account, -1);
    if (assignee)
        cw_sql_bind_text(q, 3, assignee, -1);
    else
        cw_sql_bind_null(q, 3);
    cw_sql_bind_text(q, 4, title, -1);
    cw_sql_bind_text(q, 5, body, -1);
    if (due_day)
        cw_sql_bind_i64(q, 6, due_day);
    else
        cw_sql_bind_null(q, 6);
    cw_sql_bind_i64(q, 7, now);
    return step_done(st, q, NULL);
}

/* ---- administration: outbox and tasks -------------------------------- */

static void outbox_row(cw_stmt *q, cw_outbox_row *r)
{
    r->id = cw_sql_col_i64(q, 0);
    r->idem_key = (const char *)cw_sql_col_text(q, 1);
    r->action = (const char *)cw_sql_col_text(q, 2);
    r->payload = (const char *)cw_sql_col_text(q, 3);
    r->dest = (const char *)cw_sql_col_text(q, 4);
    r->last_error = (const char *)cw_sql_col_text(q, 5);
    r->status = cw_sql_col_int(q, 6);
    r->attempts = cw_sql_col_int(q, 7);
    r->next_at = cw_sql_col_i64(q, 8);
    r->created_at = cw_sql_col_i64(q, 9);
    r->delivered_at = cw_sql_col_i64(q, 10);
    r->last_at = cw_sql_col_i64(q, 11);
}

cw_status cw_outbox_scan(cw_store *st, int status, int64_t id,
                         cw_status (*fn)(const cw_outbox_row *r, void *ud), void *ud)
{
    cw_store_enter(st, "outbox");
    cw_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, idem_key, action, payload, dest, last_error, status, attempts,"
                       " next_at, created_at, delivered_at, last_at FROM outbox"
                       " WHERE (? < 0 OR status = ?) AND (? <= 0 OR id = ?) ORDER BY id",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, status);
    cw_sql_bind_i64(q, 2, status);
    cw_sql_bind_i64(q, 3, id);
    cw_sql_bind_i64(q, 4, id);
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        cw_outbox_row r;
        outbox_row(q, &r);
        s = fn(&r, ud);
        if (s != CW_OK) {
            cw_sql_finalize(q);
            return s;
        }
    }
    s = rc == CW_SQL_DONE ? CW_OK : dberr(st);
    cw_sql_finalize(q);
    return s;
}

cw_status cw_outbox_retry(cw_store *st, int64_t id, int64_t now)
{
    cw_store_enter(st, "outbox retry");
    cw_stmt *q;
    cw_status s = prep(st, "SELECT status FROM outbox WHERE id = ?", &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, id);
    int rc = cw_sql_step(q);
    int status = rc == CW_SQL_ROW ? cw_sql_col_int(q, 0) : -1;
    cw_sql_finalize(q);
    if (status < 0)
        return cw_store_set_error(st, CW_ERR_NOTFOUND, "outbox: no message %lld", (long long)id);
    if (status == CW_OUTBOX_DELIVERED)
        return cw_store_set_error(st, CW_ERR_USAGE, "outbox: message %lld was delivered",
                                  (long long)id);
    s = prep(st,
             "UPDATE outbox SET status = 0, attempts = 0, next_at = ?, last_error = NULL"
             " WHERE id = ?",
             &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, now);
    cw_sql_bind_i64(q, 2, id);
    return step_done(st, q, NULL);
}

cw_status cw_outbox_purge(cw_store *st, int64_t before, int64_t *deleted)
{
    cw_store_enter(st, "outbox purge");
    cw_stmt *q;
    cw_status s = prep(st, "DELETE FROM outbox WHERE status = 1 AND delivered_at < ?", &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, before);
    int64_t n = 0;
    s = step_done(st, q, &n);
    if (s == CW_OK && deleted)
        *deleted = n;
    return s;
}

static void task_row(cw_stmt *q, cw_task *t)
{
    t->id = cw_sql_col_i64(q, 0);
    t->idem_key = (const char *)cw_sql_col_text(q, 1);
    t->account = (const char *)cw_sql_col_text(q, 2);
    t->assignee = (const char *)cw_sql_col_text(q, 3);
    t->title = (const char *)cw_sql_col_text(q, 4);
    t->body = (const char *)cw_sql_col_text(q, 5);
    t->due_day = cw_sql_col_i64(q, 6);
    t->status = cw_sql_col_int(q, 7);
    t->created_at = cw_sql_col_i64(q, 8);
    t->closed_at = cw_sql_col_i64(q, 9);
    t->closed_by = (const char *)cw_sql_col_text(q, 10);
}

cw_status cw_tasks_scan(cw_store *st, int status, const char *assignee,
                        cw_status (*fn)(const cw_task *t, void *ud), void *ud)
{
    cw_store_enter(st, "tasks");
    cw_stmt *q;
    /* the CAST types the NULL test of the optional assignee for PostgreSQL */
    cw_status s = prep(st,
                       "SELECT id, idem_key, account, assignee, title, body, due_day, status,"
                       " created_at, closed_at, closed_by FROM tasks"
                       " WHERE (? < 0 OR status = ?) AND (CAST(? AS TEXT) IS NULL OR assignee = ?)"
                       " ORDER BY coalesce(due_day, 0), id",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, status);
    cw_sql_bind_i64(q, 2, status);
    if (assignee) {
        cw_sql_bind_text(q, 3, assignee, -1);
        cw_sql_bind_text(q, 4, assignee, -1);
    } else {
        cw_sql_bind_null(q, 3);
        cw_sql_bind_null(q, 4);
    }
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        cw_task t;
        task_row(q, &t);
        s = fn(&t, ud);
        if (s != CW_OK) {
            cw_sql_finalize(q);
            return s;
        }
    }
    s = rc == CW_SQL_DONE ? CW_OK
                          : cw_store_set_error(st, CW_ERR_DB, "tasks: %s", cw_sql_errmsg(st));
    cw_sql_finalize(q);
    return s;
}

cw_status cw_task_close(cw_store *st, int64_t id, cw_task_status status, int64_t now,
                        const char *actor)
{
    cw_store_enter(st, "task close");
    cw_stmt *q;
    cw_status s = prep(st,
                       "UPDATE tasks SET status = ?, closed_at = ?, closed_by = ?"
                       " WHERE id = ? AND status = 0",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, (int)status);
    cw_sql_bind_i64(q, 2, now);
    if (actor)
        cw_sql_bind_text(q, 3, actor, -1);
    else
        cw_sql_bind_null(q, 3);
    cw_sql_bind_i64(q, 4, id);
    int64_t n = 0;
    s = step_done(st, q, &n);
    if (s != CW_OK || n > 0)
        return s;
    /* Nothing changed: no such task, or it is closed already. */
    if ((s = prep(st, "SELECT status FROM tasks WHERE id = ?", &q)) != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, id);
    int rc = cw_sql_step(q);
    int found = rc == CW_SQL_ROW, was = found ? cw_sql_col_int(q, 0) : 0;
    cw_sql_finalize(q);
    if (rc != CW_SQL_ROW && rc != CW_SQL_DONE)
        return dberr(st);
    if (!found)
        return cw_store_set_error(st, CW_ERR_NOTFOUND, "tasks: no task %lld", (long long)id);
    return cw_store_set_error(st, CW_ERR_USAGE, "tasks: task %lld is %s already", (long long)id,
                              was == CW_TASK_DONE ? "done" : "dismissed");
}
