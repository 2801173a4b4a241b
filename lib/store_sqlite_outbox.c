/*
 * store_sqlite_outbox.c — the outbox table of the SQLite store: queueing
 * (and, with delivery, claiming and settling) messages. Statements are
 * parameterised; the idempotency key's UNIQUE constraint is what makes a
 * re-run queue nothing twice.
 */
#include "internal.h"

#include <sqlite3.h>
#include <string.h>

cw_status cw_outbox_enqueue(cw_store *st, const char *action, const char *idem_key,
                            const char *payload_json, int64_t now, int *inserted)
{
    sqlite3 *db = cw_store_sqlite(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO outbox(idem_key, action, payload, next_at, created_at)"
                           " VALUES(?,?,?,?,?) ON CONFLICT(idem_key) DO NOTHING",
                           -1, &q, NULL) != SQLITE_OK)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(q, 1, idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, payload_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, now);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return cw_store_set_error(st, CW_ERR_DB, "outbox: %s", sqlite3_errmsg(db));
    if (inserted)
        *inserted = sqlite3_changes(db) > 0;
    return CW_OK;
}
