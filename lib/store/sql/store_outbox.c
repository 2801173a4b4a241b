/*
 * store/sqlite/sqlite_outbox.c — the outbox table of the SQLite store: queueing
 * messages, claiming and settling them for the deliverer (deliver.c), the
 * administration of the outbox and the CSM tasks the task action writes. Statements are
 * parameterised; the idempotency key's UNIQUE constraint is what makes a
 * re-run queue nothing twice.
 */
#include "core/util.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"
#include "alerts/actions.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

cw_status cw_outbox_enqueue(cw_store *st, const char *action, const char *idem_key,
                            const char *payload_json, int64_t now, int *inserted)
{
    cw_store_enter(st, "outbox");
    sqlite3 *db = cw_store_sqlite(st);
    /* Prepared once per connection: an evaluation queues one row per
     * (alert, action), tens of thousands on a first day. */
    sqlite3_stmt **slot = cw_store_stmt_slot(st, CW_STMT_OUTBOX_INSERT);
    if (!*slot &&
        sqlite3_prepare_v3(db,
                           "INSERT INTO outbox(idem_key, action, payload, next_at, created_at)"
                           " VALUES(?,?,?,?,?) ON CONFLICT(idem_key) DO NOTHING",
                           -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(db));
    sqlite3_stmt *q = *slot;
    sqlite3_bind_text(q, 1, idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, payload_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, now);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE && sqlite3_changes(db) > 0;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q); /* the bound strings are the caller's */
    if (rc != SQLITE_DONE)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(db));
    if (inserted)
        *inserted = changed;
    return CW_OK;
}

/* ---- delivery: claiming and settling --------------------------------- */

static cw_status prep(cw_store *st, const char *sql, sqlite3_stmt **q)
{
    sqlite3 *db = cw_store_sqlite(st);
    if (sqlite3_prepare_v2(db, sql, -1, q, NULL) != SQLITE_OK)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(db));
    return CW_OK;
}

static cw_status step_done(cw_store *st, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(cw_store_sqlite(st)));
    return CW_OK;
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? cw_strndup((const char *)t, (size_t)sqlite3_column_bytes(q, i)) : NULL;
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
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, idem_key, action, payload, attempts FROM outbox"
                       " WHERE status = 0 AND next_at <= ? ORDER BY next_at, id LIMIT ? OFFSET ?",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int(q, 2, max);
    sqlite3_bind_int64(q, 3, skip);
    cw_due_row *rows = calloc((size_t)(max > 0 ? max : 1), sizeof *rows);
    if (!rows) {
        sqlite3_finalize(q);
        return cw_store_set_error(st, CW_ERR_NOMEM, "outbox: out of memory reading due messages");
    }
    int k = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && k < max) {
        cw_due_row *r = &rows[k++];
        r->id = sqlite3_column_int64(q, 0);
        r->idem_key = col_dup(q, 1);
        r->action = col_dup(q, 2);
        r->payload = col_dup(q, 3);
        r->attempts = sqlite3_column_int(q, 4);
        if (!r->idem_key || !r->action || !r->payload) {
            sqlite3_finalize(q);
            cw_outbox_due_free(rows, k);
            return cw_store_set_error(st, CW_ERR_NOMEM,
                                      "outbox: out of memory reading due messages");
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        cw_outbox_due_free(rows, k);
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(cw_store_sqlite(st)));
    }
    *out = rows;
    *n = k;
    return CW_OK;
}

cw_status cw_outbox_rate_take(cw_store *st, const char *dest, int64_t window, int rate,
                              int *allowed)
{
    *allowed = 1;
    if (rate <= 0)
        return CW_OK;
    sqlite3_stmt *q;
    cw_status s = prep(st, "SELECT window, sent FROM outbox_rate WHERE dest = ?", &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_text(q, 1, dest, -1, SQLITE_STATIC);
    int64_t sent = 0;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) == window)
        sent = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    if (sent >= rate) {
        *allowed = 0;
        return CW_OK;
    }
    s = prep(st,
             "INSERT INTO outbox_rate(dest, window, sent) VALUES(?, ?, ?)"
             " ON CONFLICT(dest) DO UPDATE SET window = excluded.window, sent = excluded.sent",
             &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_text(q, 1, dest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, window);
    sqlite3_bind_int64(q, 3, sent + 1);
    return step_done(st, q);
}

cw_status cw_outbox_claim(cw_store *st, int64_t id, int attempts_read, int64_t now,
                          int64_t lease_until, const char *dest, int *claimed)
{
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "UPDATE outbox SET attempts = attempts + 1, last_at = ?, next_at = ?,"
                       " dest = ? WHERE id = ? AND status = 0 AND attempts = ?",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, lease_until);
    sqlite3_bind_text(q, 3, dest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, id);
    sqlite3_bind_int(q, 5, attempts_read);
    s = step_done(st, q);
    if (s == CW_OK)
        *claimed = sqlite3_changes(cw_store_sqlite(st)) > 0;
    return s;
}

cw_status cw_outbox_settle(cw_store *st, int64_t id, cw_outbox_status status, int64_t now,
                           int64_t next_at, const char *error)
{
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "UPDATE outbox SET status = ?, next_at = ?, last_error = ?,"
                       " delivered_at = CASE WHEN ? = 1 THEN ? ELSE delivered_at END"
                       " WHERE id = ?",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int(q, 1, (int)status);
    sqlite3_bind_int64(q, 2, next_at);
    if (error)
        sqlite3_bind_text(q, 3, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 3);
    sqlite3_bind_int(q, 4, (int)status);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, id);
    return step_done(st, q);
}

cw_status cw_task_insert(cw_store *st, const char *idem_key, const char *account,
                         const char *assignee, const char *title, const char *body, int64_t due_day,
                         int64_t now)
{
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "INSERT INTO tasks(idem_key, account, assignee, title, body, due_day,"
                       " status, created_at) VALUES(?,?,?,?,?,?,0,?)"
                       " ON CONFLICT(idem_key) DO NOTHING",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_text(q, 1, idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, account, -1, SQLITE_STATIC);
    if (assignee)
        sqlite3_bind_text(q, 3, assignee, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 3);
    sqlite3_bind_text(q, 4, title, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, body, -1, SQLITE_STATIC);
    if (due_day)
        sqlite3_bind_int64(q, 6, due_day);
    else
        sqlite3_bind_null(q, 6);
    sqlite3_bind_int64(q, 7, now);
    return step_done(st, q);
}

/* ---- administration: outbox and tasks -------------------------------- */

cw_status cw_outbox_scan(cw_store *st, int status, int64_t id,
                         cw_status (*fn)(const cw_outbox_row *r, void *ud), void *ud)
{
    cw_store_enter(st, "outbox");
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, idem_key, action, payload, dest, last_error, status, attempts,"
                       " next_at, created_at, delivered_at, last_at FROM outbox"
                       " WHERE (? < 0 OR status = ?) AND (? <= 0 OR id = ?) ORDER BY id",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int(q, 1, status);
    sqlite3_bind_int(q, 2, status);
    sqlite3_bind_int64(q, 3, id);
    sqlite3_bind_int64(q, 4, id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cw_outbox_row r;
        r.id = sqlite3_column_int64(q, 0);
        r.idem_key = (const char *)sqlite3_column_text(q, 1);
        r.action = (const char *)sqlite3_column_text(q, 2);
        r.payload = (const char *)sqlite3_column_text(q, 3);
        r.dest = (const char *)sqlite3_column_text(q, 4);
        r.last_error = (const char *)sqlite3_column_text(q, 5);
        r.status = sqlite3_column_int(q, 6);
        r.attempts = sqlite3_column_int(q, 7);
        r.next_at = sqlite3_column_int64(q, 8);
        r.created_at = sqlite3_column_int64(q, 9);
        r.delivered_at = sqlite3_column_int64(q, 10);
        r.last_at = sqlite3_column_int64(q, 11);
        s = fn(&r, ud);
        if (s != CW_OK) {
            sqlite3_finalize(q);
            return s;
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(cw_store_sqlite(st)));
    return CW_OK;
}

cw_status cw_outbox_retry(cw_store *st, int64_t id, int64_t now)
{
    cw_store_enter(st, "outbox retry");
    sqlite3_stmt *q;
    cw_status s = prep(st, "SELECT status FROM outbox WHERE id = ?", &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    int status = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
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
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, id);
    return step_done(st, q);
}

cw_status cw_outbox_purge(cw_store *st, int64_t before, int64_t *deleted)
{
    cw_store_enter(st, "outbox purge");
    sqlite3_stmt *q;
    cw_status s = prep(st, "DELETE FROM outbox WHERE status = 1 AND delivered_at < ?", &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, before);
    s = step_done(st, q);
    if (s == CW_OK && deleted)
        *deleted = sqlite3_changes(cw_store_sqlite(st));
    return s;
}

cw_status cw_tasks_scan(cw_store *st, int status, const char *assignee,
                        cw_status (*fn)(const cw_task *t, void *ud), void *ud)
{
    cw_store_enter(st, "tasks");
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, idem_key, account, assignee, title, body, due_day, status,"
                       " created_at, closed_at FROM tasks"
                       " WHERE (? < 0 OR status = ?) AND (? IS NULL OR assignee = ?)"
                       " ORDER BY coalesce(due_day, 0), id",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int(q, 1, status);
    sqlite3_bind_int(q, 2, status);
    if (assignee) {
        sqlite3_bind_text(q, 3, assignee, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, assignee, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(q, 3);
        sqlite3_bind_null(q, 4);
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cw_task t;
        t.id = sqlite3_column_int64(q, 0);
        t.idem_key = (const char *)sqlite3_column_text(q, 1);
        t.account = (const char *)sqlite3_column_text(q, 2);
        t.assignee = (const char *)sqlite3_column_text(q, 3);
        t.title = (const char *)sqlite3_column_text(q, 4);
        t.body = (const char *)sqlite3_column_text(q, 5);
        t.due_day = sqlite3_column_int64(q, 6);
        t.status = sqlite3_column_int(q, 7);
        t.created_at = sqlite3_column_int64(q, 8);
        t.closed_at = sqlite3_column_int64(q, 9);
        s = fn(&t, ud);
        if (s != CW_OK) {
            sqlite3_finalize(q);
            return s;
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return cw_store_set_error(st, CW_ERR_DB, "tasks: %s", sqlite3_errmsg(cw_store_sqlite(st)));
    return CW_OK;
}

cw_status cw_task_close(cw_store *st, int64_t id, cw_task_status status, int64_t now)
{
    cw_store_enter(st, "task close");
    sqlite3_stmt *q;
    cw_status s = prep(st, "UPDATE tasks SET status = ?, closed_at = ? WHERE id = ?", &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int(q, 1, (int)status);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int64(q, 3, id);
    s = step_done(st, q);
    if (s == CW_OK && sqlite3_changes(cw_store_sqlite(st)) == 0)
        return cw_store_set_error(st, CW_ERR_NOTFOUND, "tasks: no task %lld", (long long)id);
    return s;
}
