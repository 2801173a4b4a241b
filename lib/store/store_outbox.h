/*
 * store/store_outbox.h — the outbox and task SQL (store/sql/store_outbox.c)
 * as the deliverer (alerts/deliver.c) uses it: due rows, the per-destination
 * rate window, claiming and settling a message, and the task action's
 * insert. The administration calls (cw_outbox_scan, cw_tasks_scan, …) are
 * public, in churnwatch.h. Every function returns CW_OK or an error with
 * the message on the store.
 */
#ifndef CW_STORE_STORE_OUTBOX_H
#define CW_STORE_STORE_OUTBOX_H

#include "churnwatch.h"
#include <stdint.h>

/* A due outbox row as the deliverer claims it (strings malloc'd; freed by
 * cw_outbox_due_free). */
typedef struct cw_due_row {
    int64_t id;
    char *idem_key, *action, *payload;
    int attempts;
} cw_due_row;
/* Up to max pending rows due at now, by due time then id, after skipping
 * the first skip of them. *n rows in *out (caller frees with
 * cw_outbox_due_free). */
cw_status cw_outbox_due(cw_store *st, int64_t now, int64_t skip, int max, cw_due_row **out, int *n);
/* Frees the n rows of cw_outbox_due; accepts NULL. */
void cw_outbox_due_free(cw_due_row *rows, int n);
/* In the caller's transaction: counts one send to dest in the minute
 * window; *allowed = 0 (and nothing counted) when rate sends were already
 * made in that window. */
cw_status cw_outbox_rate_take(cw_store *st, const char *dest, int64_t window, int rate,
                              int *allowed);
/* In the caller's (claiming) transaction: claims row id for an attempt:
 * attempts + 1, last_at = now, next_at = lease_until, dest recorded;
 * *claimed = 0 when another deliverer changed the row since it was read
 * (attempts no longer as read) or, on PostgreSQL, holds it in its own
 * claiming transaction (the row is skipped, not waited for). */
cw_status cw_outbox_claim(cw_store *st, int64_t id, int attempts_read, int64_t now,
                          int64_t lease_until, const char *dest, int *claimed);
/* Records an outcome: status CW_OUTBOX_PENDING with next_at (retry or a
 * deferral), DELIVERED (delivered_at = now) or DEAD, with error (may be
 * NULL). Autocommits unless a transaction is open. */
cw_status cw_outbox_settle(cw_store *st, int64_t id, cw_outbox_status status, int64_t now,
                           int64_t next_at, const char *error);
/* Inserts a task (ignored when idem_key exists) in the caller's transaction. */
cw_status cw_task_insert(cw_store *st, const char *idem_key, const char *account,
                         const char *assignee, const char *title, const char *body, int64_t due_day,
                         int64_t now);

#endif /* CW_STORE_STORE_OUTBOX_H */
