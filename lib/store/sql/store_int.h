/*
 * store/sql/store_int.h — the store handle (struct cw_store) and what the
 * files of lib/store/sql/ and the backends' open code share. Nothing above
 * lib/store/ includes it.
 */
#ifndef CW_STORE_SQL_STORE_INT_H
#define CW_STORE_SQL_STORE_INT_H

#include "store/store.h"
#include "store/sql.h"
#include "store/backend.h"

/* Statements of the lib/store/sql/ files that run once per row (e.g. one outbox insert
 * per queued message) are prepared once per connection into a slot and
 * finalized by cw_store_close. */
typedef enum cw_stmt_slot { CW_STMT_OUTBOX_INSERT, CW_STMT__COUNT } cw_stmt_slot;
cw_stmt **cw_store_sql_slot(cw_store *st, cw_stmt_slot slot);

/* The run log and monitoring reads (lib/store/sql/store_monitor.c), for the ops table. */
cw_status cw_op_run_begin(cw_store *st, int64_t day, int64_t at, int64_t *id);
cw_status cw_op_run_end(cw_store *st, int64_t id, int64_t at, int exit_code);
cw_status cw_op_run_last(cw_store *st, cw_run_info *out, int *found);
cw_status cw_op_health(cw_store *st, cw_store_health *out);
cw_status cw_op_outbox_dest_counts(cw_store *st,
                                   cw_status (*fn)(const char *action, const char *dest,
                                                   int64_t queued, int64_t dead, void *ud),
                                   void *ud);
cw_status cw_op_integrity_check(cw_store *st, char **problems);

/* The handle's named statements, prepared on first use (cw_sql_lazy) and
 * finalized by cw_store_close. */
enum {
    CW_Q_DAY_GET,
    CW_Q_DAY_PUT,
    CW_Q_DAY_SCAN,
    CW_Q_DAYS_UPSERT,
    CW_Q_EVNAME_INS,
    CW_Q_GOAL,
    CW_Q_LOG_INS,
    CW_Q_SNAP_EXISTS,
    CW_Q_SNAP_DEL, /* four: metric_snapshots, account_metrics, user_metrics, account_peers */
    CW_Q_SNAP_DEL_LAST = CW_Q_SNAP_DEL + 3,
    CW_Q_SNAP_PUT,
    CW_Q_AM_PUT,
    CW_Q_AM_GET,
    CW_Q_PEERS_PUT,
    CW_Q_UM_PUT,
    CW_Q_ORIGINS,
    CW_Q_DER_GET,
    CW_Q_DER_DEL,
    CW_Q_DER_INS,
    CW_Q_QRUN_INS,
    CW_Q_QRUN_END,
    CW_Q_Q_INS,
    CW_Q_PROV_INS,
    CW_Q_PROV_LOWER,
    CW_Q__COUNT
};

/* Merge updates (put_row_merge) kept per (kind, set of fields). */
#define CW_MERGE_SLOTS 8

struct cw_store {
    const cw_store_ops *ops;
    const cw_sql_driver *drv;
    void *conn;        /* the backend's connection: a sqlite3 * or the PG driver's */
    char *conninfo;    /* PostgreSQL: the connection string, for open_reader */
    char *password;    /* PostgreSQL: cw_store_opts.password, for open_reader */
    int64_t cache_kib; /* SQLite: the page cache this handle was opened with */
    char *errmsg;
    cw_status err_status; /* the status errmsg belongs to (CW_OK: none) */
    const char *stage;    /* the running public call (cw_store_enter), static */
    char why_buf[128];    /* cw_store_why's "stage: reason" when errmsg is empty */
    int in_txn;
    cw_stmt *q[CW_Q__COUNT];
    cw_stmt *put[CW_KIND__COUNT];     /* the upsert of each kind */
    cw_stmt *ins_new[CW_KIND__COUNT]; /* merge: insert-if-absent per kind */
    cw_stmt *merge_upd[CW_MERGE_SLOTS];
    unsigned merge_set[CW_MERGE_SLOTS];
    cw_kind merge_kind[CW_MERGE_SLOTS];
    int merge_next;
    cw_stmt *sql_slot[CW_STMT__COUNT]; /* cw_store_sql_slot */
    cw_event_cell *scan_cells;         /* scan_event_days' decoded cells */
    size_t scan_cap;
    unsigned char *pack[2]; /* metric vectors packed as float64 */
    size_t pack_cap[2];
    /* Snapshot days whose account, user and peer rows this transaction
     * deleted (cw_op_snapshot_delete): their rows are new, so they go
     * through bulk inserts (COPY on PostgreSQL) instead of upserts. */
    int64_t *fresh;
    size_t nfresh, fresh_cap;
    cw_bulk *bulk[3]; /* account_metrics, account_peers, user_metrics */
    /* PostgreSQL, between save_event_days_begin and _end: the event_days
     * rows held back for the staging table (store_events.c). */
    cw_bulk *day_bulk;
};

/* Ends the transaction's bulk inserts (store_metrics.c): closes them (a
 * flush failure is returned with the store's error set) and forgets the
 * fresh days. Called before COMMIT, after ROLLBACK and at close. */
cw_status cw_store_bulk_end(cw_store *st);

/* Runs sql (no parameters, no rows); on failure sets the driver's message
 * as the store's error and returns CW_ERR_DB. */
cw_status cw_store_exec(cw_store *st, const char *sql);
/* The canonical spelling of enum value k of field f, into buf; NULL when
 * out of range. */
const char *cw_store_enum_name(const cw_field_def *f, int64_t k, char *buf, size_t n);

/* ---- the schema (schema.c) ---- */

/* Applies the forward migrations the database lacks (CW_ERR_SCHEMA when it
 * is newer than this build). */
cw_status cw_store_migrate(cw_store *st);
/* The database's schema version; -1 when it cannot be read. */
int cw_store_version_of(cw_store *st);

/* ---- the ops, by file (store_ingest.c, store_events.c, store_metrics.c,
 * store_periods.c, store_ops.c); cw_store_ops documents each ---- */

cw_status cw_op_load_ids(cw_store *st, cw_kind kind,
                         cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *), void *ud);
cw_status cw_op_put_row(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                        int *changed, int64_t *new_id);
cw_status cw_op_put_row_merge(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                              unsigned set, int *changed, int64_t *new_id);
cw_status cw_op_load_names(cw_store *st,
                           cw_status (*fn)(int, int64_t, const char *, size_t, const char *, size_t,
                                           void *),
                           void *ud);
cw_status cw_op_scan_rows(cw_store *st, cw_kind kind,
                          cw_status (*fn)(int64_t, const cw_value *, void *), void *ud);
cw_status cw_op_scan_periods(cw_store *st, int64_t account,
                             cw_status (*fn)(int64_t, const cw_value *, void *), void *ud);
cw_status cw_op_sub_origins(cw_store *st, int64_t account, int64_t *native, int64_t *derived,
                            int64_t *periods);
cw_status cw_op_replace_derived(cw_store *st, int64_t account, const cw_sub_row *rows, size_t n,
                                int *changed);

cw_status cw_op_put_event_name(cw_store *st, const char *name, size_t len, int64_t *id);
cw_status cw_op_load_event_day(cw_store *st, int64_t account, int64_t day, int64_t *events,
                               const unsigned char **cells, size_t *ncells,
                               const unsigned char **hashes, size_t *nhashes);
cw_status cw_op_save_event_day(cw_store *st, int64_t account, int64_t day, int64_t events,
                               const unsigned char *cells, size_t ncells,
                               const unsigned char *hashes, size_t nhashes);
cw_status cw_op_load_event_days(cw_store *st, const int64_t *keys, size_t n,
                                cw_status (*fn)(int64_t, int64_t, int64_t, const unsigned char *,
                                                size_t, const unsigned char *, size_t, void *),
                                void *ud);
cw_status cw_op_save_event_days_begin(cw_store *st);
cw_status cw_op_save_event_days_end(cw_store *st);
cw_status cw_op_scan_event_days(cw_store *st, int64_t lo, int64_t hi,
                                cw_status (*fn)(int64_t, int64_t, const cw_event_cell *, size_t,
                                                void *),
                                void *ud);

cw_status cw_op_account_metrics_day(cw_store *st, int64_t day,
                                    cw_status (*fn)(int64_t, int64_t, const double *,
                                                    const double *, const double *, int, void *),
                                    void *ud);
cw_status cw_op_snapshot_exists(cw_store *st, int64_t day, int *exists);
cw_status cw_op_snapshot_delete(cw_store *st, int64_t day);
cw_status cw_op_snapshot_put(cw_store *st, int64_t day, int window_days, const char *catalog,
                             int64_t accounts, int64_t users);
cw_status cw_op_account_metrics_put(cw_store *st, int64_t day, int64_t account, const double *vals,
                                    const double *trend, int n);
cw_status cw_op_account_metrics_get(cw_store *st, int64_t day, int64_t account, double *vals, int n,
                                    int *found);
cw_status cw_op_account_peers_put(cw_store *st, int64_t day, int64_t account, const double *pcts,
                                  int n);
cw_status cw_op_account_metrics_scan(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                     cw_status (*fn)(int64_t, int64_t, const double *,
                                                     const double *, const double *, int, void *),
                                     void *ud);
cw_status cw_op_user_metrics_put(cw_store *st, int64_t day, int64_t user, int64_t account,
                                 const double *vals, int n);
cw_status cw_op_user_metrics_scan(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                  cw_status (*fn)(int64_t, int64_t, int64_t, const double *, int,
                                                  void *),
                                  void *ud);
cw_status cw_op_snapshot_catalog(cw_store *st, int64_t day, char *buf, size_t n, int *found);
cw_status cw_op_snapshot_list(cw_store *st, int64_t lo, int64_t hi,
                              cw_status (*fn)(int64_t, void *), void *ud);

cw_status cw_op_log_file(cw_store *st, const char *path, cw_kind kind, int64_t rows,
                         int64_t written, int64_t rejected, int64_t bytes);
cw_status cw_op_goal_exists(cw_store *st, const char *id, size_t len, int *exists);
cw_status cw_op_quarantine_run_begin(cw_store *st, int64_t at, int64_t *run);
cw_status cw_op_quarantine_put(cw_store *st, int64_t run, const char *file, int64_t line,
                               const char *field, const char *error, const char *record,
                               size_t record_len);
cw_status cw_op_quarantine_run_end(cw_store *st, int64_t run, int64_t rows, int64_t quarantined);
cw_status cw_op_quarantine_counts(cw_store *st, cw_quarantine_counts *out);
cw_status cw_op_quarantine_scan(cw_store *st, int64_t limit,
                                cw_status (*fn)(const cw_quarantine_row *, void *), void *ud);
cw_status cw_op_user_provision(cw_store *st, const char *user, size_t len, int64_t account,
                               int64_t at, int64_t *id);
cw_status cw_op_user_provision_lower(cw_store *st, const char *user, size_t len, int64_t at);
cw_status cw_op_load_provisional(cw_store *st,
                                 cw_status (*fn)(const char *, size_t, int64_t, int64_t, void *),
                                 void *ud);

/* ---- SQLite (lib/store/sqlite/sqlite_open.c): what only SQLite has ---- */

/* Opens (creating 0600 unless o->readonly) the database file at path into
 * st->conn with the handle's pragmas; the error is set on st. */
cw_status cw_sqlite_open(cw_store *st, const char *path, const cw_store_opts *o);
/* Closes st->conn (every cw_stmt of st finalized before). */
void cw_sqlite_close(cw_store *st);
/* PRAGMA user_version; -1 when it cannot be read. */
int cw_sqlite_user_version(cw_store *st);
cw_status cw_sqlite_set_user_version(cw_store *st, int v);
/* Whether a transaction is open on the connection (SQLite may have rolled
 * one back by itself after a full disk or an I/O error). */
int cw_sqlite_in_txn(cw_store *st);
/* The database file's path; "" for an in-memory or temporary database. */
const char *cw_sqlite_filename(cw_store *st);
/* "disk full: " or "I/O error: " (with the system's reason in why) when the
 * connection's last error is not about the database's content, else "". */
const char *cw_sqlite_error_class(cw_store *st, char *why, size_t n);

#endif /* CW_STORE_SQL_STORE_INT_H */
