/*
 * sqlite_int.h — what the SQLite backend's files share; nothing above
 * lib/store/ includes it.
 */
#ifndef CW_STORE_SQLITE_INT_H
#define CW_STORE_SQLITE_INT_H

#include "store/store.h"
#include "store/sql.h"

/* The SQLite implementation of the statement seam (sqlite_driver.c). */
extern const cw_sql_driver cw_sqlite_driver;

/* The SQLite handle behind st. Only for the store_sqlite_*.c files of
 * subsystems whose tables (scores, models, alerts, outbox, API tokens) have
 * no ops in cw_store_ops yet; everything else goes through the ops. */
struct sqlite3;
struct sqlite3 *cw_store_sqlite(cw_store *st);
/* Statements of those files that run once per row (e.g. one outbox insert
 * per queued message) are prepared once per connection into a slot and
 * finalized by cw_store_close. */
typedef enum cw_stmt_slot { CW_STMT_OUTBOX_INSERT, CW_STMT__COUNT } cw_stmt_slot;
cw_stmt **cw_store_sql_slot(cw_store *st, cw_stmt_slot slot);

/* The run log and monitoring reads (sqlite_monitor.c), for the ops table. */
cw_status cw_sq_run_begin(cw_store *st, int64_t day, int64_t at, int64_t *id);
cw_status cw_sq_run_end(cw_store *st, int64_t id, int64_t at, int exit_code);
cw_status cw_sq_run_last(cw_store *st, cw_run_info *out, int *found);
cw_status cw_sq_health(cw_store *st, cw_store_health *out);
cw_status cw_sq_outbox_dest_counts(cw_store *st,
                                   cw_status (*fn)(const char *action, const char *dest,
                                                   int64_t queued, int64_t dead, void *ud),
                                   void *ud);
cw_status cw_sq_integrity_check(cw_store *st, char **problems);

#endif /* CW_STORE_SQLITE_INT_H */
