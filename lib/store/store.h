/*
 * store.h — the store's backend interface: the operations every backend
 * (lib/store/sqlite/, docs/architecture.md) implements, and the packed
 * event rollup cells they keep.
 */
#ifndef CW_STORE_STORE_H
#define CW_STORE_STORE_H

#include "core/util.h"
#include "ingest/validate.h"
#include "ingest/periods.h"

/* ---- store backend interface ---------------------------------------- */

/* One daily rollup cell: user (0 = account-level) did event n times on the
 * day, with values summing to vsum. Stored packed as CW_CELL_BYTES bytes,
 * little-endian: user u32, event u32, n u32, vsum f64. */
typedef struct cw_event_cell {
    int64_t user, event, n;
    double vsum;
} cw_event_cell;
#define CW_CELL_BYTES 20
/* Writes c as CW_CELL_BYTES bytes at p. */
void cw_cell_encode(unsigned char *p, const cw_event_cell *c);
/* Reads the CW_CELL_BYTES bytes at p into *c. */
void cw_cell_decode(const unsigned char *p, cw_event_cell *c);
/* The little-endian 64-bit value at p. */
uint64_t cw_load_le64(const unsigned char *p);
/* Writes v little-endian at p. */
void cw_store_le64(unsigned char *p, uint64_t v);

/* The operations ingest needs from a store, implemented once for every
 * backend in store/sql/store*.c over the statement seam (store/sql.h), so
 * that no caller knows SQLite from PostgreSQL. Every function returns CW_OK
 * or an error with the message kept on the store (cw_store_errmsg). */
typedef struct cw_store_ops {
    cw_status (*begin)(cw_store *st);
    cw_status (*commit)(cw_store *st);
    cw_status (*rollback)(cw_store *st);
    /* Calls fn(ext_id, len, id, aux) for every row of an id-bearing kind
     * (accounts: aux -1; users: aux = account id; events: event names). */
    cw_status (*load_ids)(cw_store *st, cw_kind kind,
                          cw_status (*fn)(const char *ext, size_t len, int64_t id, int64_t aux,
                                          void *ud),
                          void *ud);
    /* Upserts one validated row of kind (not events). refs[i] holds the
     * resolved internal id of reference field i. *changed = 1 when the row
     * was new or differed, 0 when identical; *new_id the internal id of a
     * newly inserted accounts/users row. */
    cw_status (*put_row)(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                         int *changed, int64_t *new_id);
    /* Merges one validated row (a mapping with merge = yes): on a row that
     * exists, only the non-key fields whose bit is set in `set` are
     * updated; a row that does not exist is inserted with every present
     * field. The caller guarantees that a row with an absent required field
     * exists (it is then only updated). *changed and *new_id as put_row. */
    cw_status (*put_row_merge)(cw_store *st, cw_kind kind, const cw_value *v, const int64_t *refs,
                               unsigned set, int *changed, int64_t *new_id);
    /* For mapping lookups: calls fn for every stored account (what 0: its
     * internal id, external id and name) and every stored user with an
     * e-mail (what 1: the user's account's internal and external ids, and
     * the e-mail). */
    cw_status (*load_names)(cw_store *st,
                            cw_status (*fn)(int what, int64_t account, const char *ext, size_t elen,
                                            const char *text, size_t tlen, void *ud),
                            void *ud);
    /* Interns an event name, returning its id. */
    cw_status (*put_event_name)(cw_store *st, const char *name, size_t len, int64_t *id);
    /* One account-day of events as stored: the total, the rollup cells
     * (CW_CELL_BYTES each, sorted by user then event) and the sorted 63-bit
     * identity hashes of the events in them (8 bytes each, little-endian);
     * borrowed until the next call on this handle. Zero counts when the day has none. */
    cw_status (*load_event_day)(cw_store *st, int64_t account, int64_t day, int64_t *events,
                                const unsigned char **cells, size_t *ncells,
                                const unsigned char **hashes, size_t *nhashes);
    /* Replaces one account-day. */
    cw_status (*save_event_day)(cw_store *st, int64_t account, int64_t day, int64_t events,
                                const unsigned char *cells, size_t ncells,
                                const unsigned char *hashes, size_t nhashes);
    /* A batch of account-days at once (ingest's flushes): keys holds n
     * distinct (account, day) pairs, sorted, as 2n values; fn is called once
     * per pair, in that order, with its stored row as load_event_day gives
     * it (zero counts when absent; borrowed until fn returns). fn may call
     * save_event_day. SQLite looks each pair up (a B-tree lookup in
     * process); PostgreSQL sends the pairs with COPY and reads the stored
     * rows with one join, instead of a round trip per pair. */
    cw_status (*load_event_days)(cw_store *st, const int64_t *keys, size_t n,
                                 cw_status (*fn)(int64_t account, int64_t day, int64_t events,
                                                 const unsigned char *cells, size_t ncells,
                                                 const unsigned char *hashes, size_t nhashes,
                                                 void *ud),
                                 void *ud);
    /* Bracket save_event_day calls for distinct account-days inside a
     * transaction: in between, PostgreSQL holds the rows back and
     * save_event_days_end writes them all (COPY into a temporary table,
     * then one INSERT … SELECT … ON CONFLICT); SQLite writes each at
     * save_event_day, as without them. After an error, roll back. */
    cw_status (*save_event_days_begin)(cw_store *st);
    cw_status (*save_event_days_end)(cw_store *st);
    /* Calls fn for every stored account-day with account in [lo, hi], in
     * (account, day) order, with the cells decoded. */
    cw_status (*scan_event_days)(cw_store *st, int64_t lo, int64_t hi,
                                 cw_status (*fn)(int64_t account, int64_t day,
                                                 const struct cw_event_cell *cells, size_t n,
                                                 void *ud),
                                 void *ud);
    /* Calls fn for every stored row of kind (not events), in natural-key
     * order, with one value per field of the kind (references as internal
     * ids, enums as their index, texts borrowed until the callback returns) and, for
     * accounts and users, their internal id (else 0). */
    cw_status (*scan_rows)(cw_store *st, cw_kind kind,
                           cw_status (*fn)(int64_t id, const cw_value *v, void *ud), void *ud);
    /* ---- metric snapshots (vectors are float64, NaN = missing) ---- */
    cw_status (*snapshot_exists)(cw_store *st, int64_t day, int *exists);
    /* Deletes a snapshot and its account and user rows. */
    cw_status (*snapshot_delete)(cw_store *st, int64_t day);
    cw_status (*snapshot_put)(cw_store *st, int64_t day, int window_days, const char *catalog,
                              int64_t accounts, int64_t users);
    cw_status (*account_metrics_put)(cw_store *st, int64_t day, int64_t account, const double *vals,
                                     const double *trend, int n);
    /* Reads one stored vector; *found = 0 when absent. */
    cw_status (*account_metrics_get)(cw_store *st, int64_t day, int64_t account, double *vals,
                                     int n, int *found);
    cw_status (*account_peers_put)(cw_store *st, int64_t day, int64_t account, const double *pcts,
                                   int n);
    /* Calls fn for stored account rows with day in [lo, hi] (and the given
     * account, unless 0), in (day, account) order. trend/peers may be NULL. */
    cw_status (*account_metrics_scan)(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                      cw_status (*fn)(int64_t day, int64_t account,
                                                      const double *vals, const double *trend,
                                                      const double *peers, int n, void *ud),
                                      void *ud);
    /* Calls fn for the stored account rows of day, in account order, with
     * vals only (trend and peers NULL): what the peers pass reads, without
     * account_metrics_scan's join. */
    cw_status (*account_metrics_day)(cw_store *st, int64_t day,
                                     cw_status (*fn)(int64_t day, int64_t account,
                                                     const double *vals, const double *trend,
                                                     const double *peers, int n, void *ud),
                                     void *ud);
    cw_status (*user_metrics_put)(cw_store *st, int64_t day, int64_t user, int64_t account,
                                  const double *vals, int n);
    cw_status (*user_metrics_scan)(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                   cw_status (*fn)(int64_t day, int64_t user, int64_t account,
                                                   const double *vals, int n, void *ud),
                                   void *ud);
    /* The comma-separated names of a stored snapshot's account vector, into
     * buf; *found = 0 when the day has no snapshot. */
    cw_status (*snapshot_catalog)(cw_store *st, int64_t day, char *buf, size_t n, int *found);
    /* Calls fn(day) for every stored snapshot in [lo, hi], ascending. */
    cw_status (*snapshot_list)(cw_store *st, int64_t lo, int64_t hi,
                               cw_status (*fn)(int64_t day, void *ud), void *ud);
    /* Refreshes the query planner's statistics of tables (a comma-separated
     * list of the store's table names) after a run wrote many rows to them:
     * ANALYZE on PostgreSQL, whose plans otherwise rest on statistics taken
     * when the tables were small or empty (autovacuum comes later, if at
     * all, and never inside the writing transaction, whose own rows ANALYZE
     * does count); nothing on SQLite, whose planner goes by its indexes. */
    cw_status (*analyze)(cw_store *st, const char *tables);
    /* Opens a second, read-only connection to the same database (for a
     * reader thread); the caller closes it with cw_store_close(). Fails for
     * stores that cannot have one (e.g. in-memory). */
    cw_status (*open_reader)(cw_store *st, cw_store **out);
    /* Appends an audit row for an ingested file. */
    cw_status (*log_file)(cw_store *st, const char *path, cw_kind kind, int64_t rows,
                          int64_t written, int64_t rejected, int64_t bytes);
    /* Looks up whether a goal with external id exists. */
    cw_status (*goal_exists)(cw_store *st, const char *goal_id, size_t len, int *exists);
    /* ---- billing periods (docs/importers.md) ---- */
    /* Calls fn for every stored billing period of account, ordered by
     * (line, period_start), values as scan_rows gives them. */
    cw_status (*scan_periods)(cw_store *st, int64_t account,
                              cw_status (*fn)(int64_t id, const cw_value *v, void *ud), void *ud);
    /* Counts account's change-log rows that came from subscriptions files
     * (*native) and those derived from billing periods (*derived), and
     * whether it has stored billing periods (*periods). */
    cw_status (*sub_origins)(cw_store *st, int64_t account, int64_t *native, int64_t *derived,
                             int64_t *periods);
    /* Replaces account's derived change-log rows by rows[0..n); *changed =
     * 0 (and nothing written) when the stored ones are identical. Never
     * touches rows from subscriptions files. */
    cw_status (*replace_derived)(cw_store *st, int64_t account, const cw_sub_row *rows, size_t n,
                                 int *changed);
    /* ---- the quarantine: bad rows kept by a run (cw_ingest_opts.quarantine) ---- */
    /* Starts a quarantining run at time at (Unix s): *run identifies it. */
    cw_status (*quarantine_run_begin)(cw_store *st, int64_t at, int64_t *run);
    /* Keeps one bad row: its file, line, field (NULL = the row as a whole),
     * reason and raw record (UTF-8). */
    cw_status (*quarantine_put)(cw_store *st, int64_t run, const char *file, int64_t line,
                                const char *field, const char *error, const char *record,
                                size_t record_len);
    /* Records the run's rows read and rows quarantined. */
    cw_status (*quarantine_run_end)(cw_store *st, int64_t run, int64_t rows, int64_t quarantined);
    cw_status (*quarantine_counts)(cw_store *st, cw_quarantine_counts *out);
    /* Calls fn for the newest limit rows (0 = all), newest first. */
    cw_status (*quarantine_scan)(cw_store *st, int64_t limit,
                                 cw_status (*fn)(const cw_quarantine_row *row, void *ud), void *ud);
    /* ---- users created on first sight in events (provision_users) ---- */
    /* Inserts a provisional user (only user_id, account and provisioned_at
     * known); *id its internal id. */
    cw_status (*user_provision)(cw_store *st, const char *user, size_t len, int64_t account,
                                int64_t at, int64_t *id);
    /* Lowers a provisional user's provisioned_at to at when at is earlier;
     * a user a users export has given is left alone. */
    cw_status (*user_provision_lower)(cw_store *st, const char *user, size_t len, int64_t at);
    /* Calls fn(user_id, len, id, provisioned_at) for every provisional user. */
    cw_status (*load_provisional)(cw_store *st,
                                  cw_status (*fn)(const char *ext, size_t len, int64_t id,
                                                  int64_t aux, void *ud),
                                  void *ud);
    /* ---- operations: the run log and monitoring (docs/operations.md) ---- */
    cw_status (*run_begin)(cw_store *st, int64_t day, int64_t at, int64_t *id);
    cw_status (*run_end)(cw_store *st, int64_t id, int64_t at, int exit_code);
    cw_status (*run_last)(cw_store *st, cw_run_info *out, int *found);
    cw_status (*health)(cw_store *st, cw_store_health *out);
    cw_status (*outbox_dest_counts)(cw_store *st,
                                    cw_status (*fn)(const char *action, const char *dest,
                                                    int64_t queued, int64_t dead, void *ud),
                                    void *ud);
    cw_status (*integrity_check)(cw_store *st, char **problems);
} cw_store_ops;

/* A read transaction on st (a consistent view for one API request):
 * CW_ERR_DB with the message on st when the database is busy; end it with
 * cw_store_read_end. */
cw_status cw_store_read_begin(cw_store *st);
/* Ends the read transaction of cw_store_read_begin. */
void cw_store_read_end(cw_store *st);
/* The operations of st's backend (static). */
const cw_store_ops *cw_store_get_ops(cw_store *st);
/* Sets the store's error message (printf-style) for a call failing with
 * status, and records status beside it: cw_store_why(st, s) shows the
 * message only for that status. Returns status. */
cw_status cw_store_set_error(cw_store *st, cw_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Starts a public call on st: forgets the store's error message, so that
 * the message on the handle always belongs to the call that just returned,
 * and records stage (a static string naming the call, e.g. "metrics"), which
 * cw_store_why puts before cw_strerror(s) when a failure left no message.
 * Every public call on a store calls it first (docs/architecture.md,
 * Errors). Accepts NULL. */
void cw_store_enter(cw_store *st, const char *stage);

#endif /* CW_STORE_STORE_H */
