/*
 * internal.h — declarations shared by the library's modules and its tests,
 * not part of the public API: string references, bounded buffers, hashing,
 * string interning, the streaming CSV/line reader, field validation and the
 * store's backend interface.
 */
#ifndef CW_INTERNAL_H
#define CW_INTERNAL_H

#include "churnwatch.h"

#include <stdarg.h>
#include <stdint.h>

/* A borrowed (pointer, length) view of bytes that need not be NUL-terminated. */
typedef struct cw_strref {
    const char *s;
    size_t len;
} cw_strref;

/* ---- util.c --------------------------------------------------------- */

/* Formats into a malloc'd string (caller frees); NULL on allocation failure. */
char *cw_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies at most n bytes of s into a malloc'd NUL-terminated string (caller frees). */
char *cw_strndup(const char *s, size_t n);
/* Monotonic seconds. */
double cw_now(void);

/* Calendar months counted as year*12 + month-1 (UTC), as the revenue
 * reports use them (time.c). */
int cw_month_of(int64_t ts_unix);
int64_t cw_month_start_unix(int month);
/* *a += b; returns non-zero on overflow. */
static inline int cw_add_ck(int64_t *a, int64_t b)
{
    return __builtin_add_overflow(*a, b, a);
}
/* num / den in percent; NaN when den is 0. */
static inline double cw_pct(int64_t num, int64_t den)
{
    return den ? 100.0 * (double)num / (double)den : (double)__builtin_nan("");
}

/* 64-bit hash of bytes (FNV-1a core with a strong final mix), seeded. */
uint64_t cw_hash64(const void *p, size_t n, uint64_t seed);
/* Mixes a 64-bit value (splitmix64 finaliser). */
static inline uint64_t cw_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Checks that s[0..len) is well-formed UTF-8 without control characters
 * other than tab (and newline when allow_newline). Returns NULL when fine,
 * else a static reason. */
const char *cw_utf8_check(const char *s, size_t len, int allow_newline);

/* A string → dense id map. Keys are copied into an arena owned by the map. */
typedef struct cw_intern cw_intern;
cw_intern *cw_intern_new(void);
void cw_intern_free(cw_intern *m); /* accepts NULL */
/* Returns the id stored for key, or -1. */
int64_t cw_intern_get(const cw_intern *m, const char *key, size_t len);
/* Stores key → id (replacing). Returns CW_OK or CW_ERR_NOMEM. */
cw_status cw_intern_put(cw_intern *m, const char *key, size_t len, int64_t id);
/* Extra per-key payload (e.g. a user's account): returns it or -1. */
int64_t cw_intern_get_aux(const cw_intern *m, const char *key, size_t len, int64_t *aux);
cw_status cw_intern_put_aux(cw_intern *m, const char *key, size_t len, int64_t id, int64_t aux);
size_t cw_intern_count(const cw_intern *m);

/* ---- reader.c: streaming records from plain or gzip files ----------- */

typedef struct cw_reader cw_reader;

/* Opens path ("-" = stdin; gzip detected from content). max_record bounds
 * one record's bytes. On failure returns CW_ERR_IO with *err malloc'd. */
cw_status cw_reader_open(const char *path, size_t max_record, cw_reader **out, char **err);
/* Opens an in-memory buffer (borrowed for the reader's lifetime); for tests and fuzzing. */
cw_status cw_reader_open_mem(const char *data, size_t len, size_t max_record, cw_reader **out);
void cw_reader_close(cw_reader *r); /* accepts NULL */

/* Outcome of reading one record. */
enum { CW_READ_EOF = 0, CW_READ_OK = 1, CW_READ_BAD = 2, CW_READ_FATAL = 3 };

/* Reads the next CSV record. On CW_READ_OK, fields and nfields are borrowed
 * until the next call; *line is the physical line the record starts on and
 * *raw the record's text. On CW_READ_BAD the record was skipped (reason in
 * *why: over-long line, unterminated quote…) and reading may continue. On
 * CW_READ_FATAL (I/O error, corrupt gzip) *why explains and reading stops.
 * Blank lines are skipped. The delimiter (',', ';' or tab) is detected from
 * the first record; a UTF-8 BOM is dropped; CRLF and LF both end records. */
int cw_csv_next(cw_reader *r, cw_strref **fields, int *nfields, int64_t *line, cw_strref *raw,
                const char **why);
/* Reads the next non-blank line (for JSON Lines), same contract. */
int cw_line_next(cw_reader *r, cw_strref *text, int64_t *line, const char **why);
/* Input bytes consumed (uncompressed) and the file offset (compressed). */
int64_t cw_reader_bytes(const cw_reader *r);
int64_t cw_reader_offset(const cw_reader *r);
/* Peeks at the first non-blank byte of the input (after a BOM), or -1. */
int cw_reader_peek(cw_reader *r);

/* Reads the rest of the input (a whole JSON document) into a malloc'd,
 * NUL-terminated buffer of at most max bytes (caller frees). Returns CW_OK,
 * or CW_ERR_INPUT with a static reason in *why. */
cw_status cw_reader_slurp(cw_reader *r, size_t max, char **out, size_t *len, const char **why);

/* ---- tz.c: IANA time zones from the system's tz database ------------ */

typedef struct cw_tz cw_tz;
/* Loads zone name (e.g. "Europe/Berlin") from $TZDIR or /usr/share/zoneinfo.
 * Returns CW_ERR_CONFIG with a reason in why when unknown or unreadable. */
cw_status cw_tz_load(const char *name, cw_tz **out, char *why, size_t whysz);
void cw_tz_free(cw_tz *z); /* accepts NULL */
/* The UTC offset (seconds east) in force at Unix time t. */
int32_t cw_tz_offset(const cw_tz *z, int64_t t);
/* The Unix time of a local wall-clock time (given as if it were UTC). */
int64_t cw_tz_local_to_utc(const cw_tz *z, int64_t local);

/* ---- schema.c ------------------------------------------------------- */

/* Index of the field of kd that header cell s names (canonical or alias,
 * case-insensitive, blanks trimmed), or -1. */
int cw_schema_field_index(const cw_kind_def *kd, const char *s, size_t len);
/* The kind a header (or JSON object's key set) describes; CW_KIND_NONE when
 * none or, with *ambiguous set, when two kinds match equally. */
cw_kind cw_schema_detect(const cw_strref *names, int n, int *ambiguous);
/* The kind matching most of names even if incomplete (CW_KIND_NONE when
 * nothing matches), with its missing required columns listed in missing. */
cw_kind cw_schema_closest(const cw_strref *names, int n, char *missing, size_t missing_size);
/* For a header no kind fits: the likely kinds (at most three, best first;
 * a kind counts when a column names a field of it only, or half its
 * required fields are there) with what each lacks, as "accounts (needs
 * segment, seats), tickets (needs opened_at)" into out (cut to outsz).
 * Returns how many; 0 when nothing points to a kind. */
int cw_schema_candidates(const cw_strref *names, int n, char *out, size_t outsz);

/* ---- validate.c ----------------------------------------------------- */

/* A validated field. Text values point into the record (borrowed). */
typedef struct cw_value {
    const char *s;
    size_t len;
    int64_t i; /* ints, money, timestamps, dates, bools, enum index */
    double d;  /* reals */
    int present;
} cw_value;

/* Validates the text of one field. Empty text is "absent" (an error when
 * required). Returns 1 when valid; else 0 with a reason in why. */
int cw_validate_field(const cw_field_def *f, const char *s, size_t len, int naive_utc,
                      cw_value *out, char *why, size_t whysz);
/* Cross-field rules of a kind (e.g. churn_date required when churned).
 * Returns 1 when valid; else 0 with *field the offending field index. */
int cw_validate_row(const cw_kind_def *kd, const cw_value *v, int *field, char *why, size_t whysz);
/* Parses an amount in major units ("120000", "120,000.00", "$1,200.5",
 * "-3.20", "(3.20)", "120 USD") into minor units of currency (NUL-terminated
 * ISO code, may be NULL for 2 decimals; cw_currency_exponent). Thousands separators must group by
 * three; more decimals than the currency has are an error unless zeros.
 * Returns 1 on success, else 0 with a reason in why. */
int cw_money_parse_major(const char *s, size_t len, const char *currency, int64_t *out, char *why,
                         size_t whysz);
/* cw_validate_field for a money field given in major units of currency
 * (NULL = 2 decimals): out->i is the amount in minor units. */
int cw_validate_money_major(const cw_field_def *f, const char *s, size_t len, const char *currency,
                            cw_value *out, char *why, size_t whysz);

/* ---- periods.c: billing periods → the subscription change log -------- */

/* Field indices of kind subscription_periods (lib/schema.c). */
enum {
    CW_SP_ACCOUNT,
    CW_SP_PRODUCT,
    CW_SP_LINE_ID,
    CW_SP_START,
    CW_SP_END,
    CW_SP_MRR,
    CW_SP_AMOUNT,
    CW_SP_QUANTITY,
    CW_SP_INTERVAL,
    CW_SP_INTERVAL_COUNT,
    CW_SP_DISCOUNT_PCT,
    CW_SP_DISCOUNT,
    CW_SP_CURRENCY
};

/* The MRR of one billing period from its validated values v: mrr_minor when
 * given, else (amount × quantity − discount_minor) × (1 − percent/100)
 * normalised to a month and rounded half away from zero. Returns 1, or 0
 * with *field (an index above) and a reason in why. */
int cw_period_mrr(const cw_value *v, int64_t *mrr, int *field, char *why, size_t whysz);
/* Subscriptions' billing_period enum index for an interval (index of the
 * interval enum) × count: monthly, annual, quarterly, semiannual or other. */
int cw_period_term(int interval, int64_t count);

/* One stored billing period of one account, as derivation needs it. */
typedef struct cw_period {
    char *line;         /* line key: line_id, else product ("" = the one line); malloc'd */
    char *product;      /* "" when none; malloc'd */
    int64_t start, end; /* Unix s; end 0 = running */
    int64_t mrr_minor, quantity;
    int interval; /* interval enum index */
    int64_t interval_count;
    char currency[4];
} cw_period;
/* Frees the strings of p[0..n) and p. */
void cw_periods_free(cw_period *p, size_t n);

/* One change-log row (kind subscriptions) derived from billing periods. */
typedef struct cw_sub_row {
    int64_t effective_at, mrr_minor, seats;
    char currency[4];
    const char *plan;   /* NULL = none; borrowed from the periods */
    int billing_period; /* billing_period enum index, -1 = none */
} cw_sub_row;

/* Derives one account's change log from all its periods p[0..n) (sorted in
 * place) given the data end (Unix s): rows at each instant where the
 * account's MRR, seats or plan changes (docs/importers.md). *rows is
 * malloc'd (caller frees) and borrows plan strings from p. Returns CW_OK,
 * CW_ERR_NOMEM, or CW_ERR_INPUT with a reason in why. */
cw_status cw_periods_derive(cw_period *p, size_t n, int64_t data_end, cw_sub_row **rows,
                            size_t *nrows, char *why, size_t whysz);

/* ---- store backend interface ---------------------------------------- */

/* One daily rollup cell: user (0 = account-level) did event n times on the
 * day, with values summing to vsum. Stored packed as CW_CELL_BYTES bytes,
 * little-endian: user u32, event u32, n u32, vsum f64. */
typedef struct cw_event_cell {
    int64_t user, event, n;
    double vsum;
} cw_event_cell;
#define CW_CELL_BYTES 20
void cw_cell_encode(unsigned char *p, const cw_event_cell *c);
void cw_cell_decode(const unsigned char *p, cw_event_cell *c);
uint64_t cw_load_le64(const unsigned char *p);
void cw_store_le64(unsigned char *p, uint64_t v);

/* The operations ingest needs from a store. The SQLite backend implements
 * them in store_sqlite.c; a PostgreSQL backend implements the same table so
 * that no caller changes. Every function returns CW_OK or an error with the
 * message kept on the store (cw_store_errmsg). */
/* The SQLite handle behind st. Only for the store_sqlite_*.c files of
 * subsystems whose tables (scores, models, alerts, outbox, API tokens) have
 * no ops in cw_store_ops yet; everything else goes through the ops. */
struct sqlite3;
struct sqlite3 *cw_store_sqlite(cw_store *st);
/* A read transaction on st (a consistent view for one API request):
 * CW_ERR_DB with the message on st when the database is busy; end it with
 * cw_store_read_end. */
cw_status cw_store_read_begin(cw_store *st);
void cw_store_read_end(cw_store *st);
/* Statements of those files that run once per row (e.g. one outbox insert
 * per queued message) are prepared once per connection into a slot and
 * finalized by cw_store_close. */
typedef enum cw_stmt_slot { CW_STMT_OUTBOX_INSERT, CW_STMT__COUNT } cw_stmt_slot;
struct sqlite3_stmt;
struct sqlite3_stmt **cw_store_stmt_slot(cw_store *st, cw_stmt_slot slot);

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
     * borrowed until the next call. Zero counts when the day has none. */
    cw_status (*load_event_day)(cw_store *st, int64_t account, int64_t day, int64_t *events,
                                const unsigned char **cells, size_t *ncells,
                                const unsigned char **hashes, size_t *nhashes);
    /* Replaces one account-day. */
    cw_status (*save_event_day)(cw_store *st, int64_t account, int64_t day, int64_t events,
                                const unsigned char *cells, size_t ncells,
                                const unsigned char *hashes, size_t nhashes);
    /* Calls fn for every stored account-day with account in [lo, hi], in
     * (account, day) order, with the cells decoded. */
    cw_status (*scan_event_days)(cw_store *st, int64_t lo, int64_t hi,
                                 cw_status (*fn)(int64_t account, int64_t day,
                                                 const struct cw_event_cell *cells, size_t n,
                                                 void *ud),
                                 void *ud);
    /* Calls fn for every stored row of kind (not events), in natural-key
     * order, with one value per field of the kind (references as internal
     * ids, enums as their index, texts borrowed for the call) and, for
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
} cw_store_ops;

/* ---- actions.c / deliver.c / store_sqlite_outbox.c ------------------- */

struct json_t;
/* cw_template_render over a parsed payload (borrowed). */
cw_status cw_template_render_json(const char *text, struct json_t *payload, cw_escape esc,
                                  char **out, char *why, size_t whysz);
/* Whether s is an address the e-mail action can send to. */
int cw_email_address_ok(const char *s);
/* "task", "email", … */
const char *cw_action_type_name(cw_action_type t);

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
void cw_outbox_due_free(cw_due_row *rows, int n);
/* In the caller's transaction: counts one send to dest in the minute
 * window; *allowed = 0 (and nothing counted) when rate sends were already
 * made in that window. */
cw_status cw_outbox_rate_take(cw_store *st, const char *dest, int64_t window, int rate,
                              int *allowed);
/* Claims row id for an attempt: attempts + 1, last_at = now, next_at =
 * lease_until, dest recorded; *claimed = 0 when another deliverer changed
 * the row since it was read (attempts no longer as read). */
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

const cw_store_ops *cw_store_get_ops(cw_store *st);
/* Sets the store's error message (printf-style). Returns status. */
cw_status cw_store_set_error(cw_store *st, cw_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- expr.c: the rule expression language (docs/rules.md) ----------- */

#define CW_EXPR_MAX_LEN   4096 /* bytes of one expression */
#define CW_EXPR_MAX_NEST  64   /* nested parentheses / unary operators */
#define CW_EXPR_MAX_STACK 256  /* evaluation stack */

/* How a name is referred to: bare, trend(name) or peer(name). */
enum { CW_EXPR_PLAIN = 0, CW_EXPR_TREND = 1, CW_EXPR_PEER = 2 };

/* Resolves a name to a slot (an index into the vector cw_expr_eval reads),
 * or returns -1 with a reason in why ("unknown metric 'x' (did you mean
 * y?)"). */
typedef struct cw_expr_resolver {
    int (*resolve)(void *ud, int how, const char *name, size_t len, char *why, size_t whysz);
    void *ud;
} cw_expr_resolver;

/* A compile error: 1-based byte column in the expression and the reason. */
typedef struct cw_expr_error {
    int col;
    char msg[256];
} cw_expr_error;

typedef struct cw_expr cw_expr;

/* Compiles src[0..len) into *out (caller frees with cw_expr_free). Returns
 * CW_ERR_CONFIG with *err filled on a syntax error or an unknown name. */
cw_status cw_expr_compile(const char *src, size_t len, const cw_expr_resolver *r, cw_expr **out,
                          cw_expr_error *err);
/* *out = not (e); caller frees. */
cw_status cw_expr_not(const cw_expr *e, cw_expr **out);
void cw_expr_free(cw_expr *e); /* accepts NULL */
/* Evaluates e over slot values (NaN = missing): a number, 1/0 for truth, or
 * NaN for unknown. No allocation. */
double cw_expr_eval(const cw_expr *e, const double *slots);
/* Whether an evaluation result is a definite true. */
int cw_expr_is_true(double v);
/* The distinct slots e reads, in order of first appearance (borrowed). */
int cw_expr_slots(const cw_expr *e, const int **slots);

/* ---- INI reader (config.c) ------------------------------------------ */

/* Longest accepted INI line, bytes without its line end (docs/configuration.md). */
#define CW_INI_MAX_LINE 65536

/* One meaningful line of INI text, as cw_ini_parse reports it. */
typedef struct cw_ini_item {
    const char *section; /* "" before the first header */
    const char *key;     /* "" for a header; for a continuation, the key it continues */
    const char *value;   /* blanks around it and an inline " ;" comment removed */
    int line;            /* 1-based */
    int header;          /* a [section] line */
    int cont;            /* an indented line after a key: continues that key's value */
} cw_ini_item;

/* Returns NULL to go on, or a message (heap, without file:line; the
 * reader frees it) that stops the parse. */
typedef char *(*cw_ini_fn)(void *ud, const cw_ini_item *it);

/* Reads text[0..len) strictly: [section] headers, key = value, whole-line
 * ; and # comments, inline comments after a blank and ';', indented
 * continuation lines (reported, never joined: the caller decides), CRLF
 * and a UTF-8 BOM. A NUL byte, a line over CW_INI_MAX_LINE bytes, a line
 * that is neither, or fn's message stops it with CW_ERR_CONFIG and
 * *errmsg = "file:line: why" (CW_ERR_NOMEM without a message). */
cw_status cw_ini_parse(const char *text, size_t len, const char *file, cw_ini_fn fn, void *ud,
                       char **errmsg);

/* cw_config_load over text[0..len) named `name` (kept borrowed as the
 * configuration's path; the fuzz target and tests use it). */
cw_status cw_config_load_text(const char *text, size_t len, const char *name, cw_config **out,
                              char **errmsg);

#endif /* CW_INTERNAL_H */
