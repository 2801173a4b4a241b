/*
 * churnwatch.h — the public API of libchurnwatch.
 *
 * churnwatch is a customer-health and churn early-warning engine for SaaS
 * companies. This header is the library's whole public surface: the status
 * enum, the data model (kinds of input and their fields), the store (the
 * system of record, SQLite by default), validated ingest, and the
 * simulator that writes a deterministic SaaS world in the documented
 * formats.
 *
 * Conventions: functions return a cw_status and write outputs through their
 * last arguments (on failure an output handle stays NULL). Handles are
 * opaque and every close/free accepts NULL. Ownership of returned memory is
 * stated at each declaration in one of three phrases: "caller frees" (with
 * the function that frees it), "borrowed until the next call on this
 * handle" (valid until any further call on the handle it came from, its
 * free included; for a callback's arguments, until the callback returns)
 * and "takes ownership". Static data is called static and is never freed.
 * The library never exits or aborts on bad input; detailed messages (with
 * file, line and field) are kept on the handle, passed to the caller's
 * error callback, or, for calls without a handle, put in a cw_error.
 */
#ifndef CHURNWATCH_H
#define CHURNWATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CW_API __attribute__((visibility("default")))
#else
#define CW_API
#endif

#define CW_VERSION "0.1.0"

/* One error enum for the whole library; cw_strerror() names each value.
 * The numbers are persisted in logs and never change. */
typedef enum cw_status {
    CW_OK = 0,
    CW_ERR_NOMEM = 1,     /* out of memory */
    CW_ERR_IO = 2,        /* cannot read or write a file */
    CW_ERR_INPUT = 3,     /* input data failed validation */
    CW_ERR_USAGE = 4,     /* invalid argument or option */
    CW_ERR_DB = 5,        /* database error */
    CW_ERR_SCHEMA = 6,    /* database schema is newer than this build */
    CW_ERR_CONFIG = 7,    /* invalid configuration file or setting */
    CW_ERR_TOOBIG = 8,    /* a bounded buffer would overflow */
    CW_ERR_NOTFOUND = 9,  /* no such entity */
    CW_ERR_SMALLDATA = 10 /* too few cases for a result to mean anything (model training) */
} cw_status;

/* Returns a static, human-readable name of status s. */
CW_API const char *cw_strerror(cw_status s);

/* The one error channel. A call on a handle keeps its detailed message on
 * the handle (cw_store_errmsg, cw_store_why). A call without a handle
 * (opening a store, loading the configuration, the scorecard, the rules or
 * the actions, parsing a map or a template, running the simulator) takes a
 * cw_error *err, which may be NULL when the caller only wants the status;
 * on failure it holds the status returned and a message that names the
 * cause ("file:line: [section] key: why"), truncated to fit. On success it
 * is left as it was. */
#define CW_ERROR_MSG_MAX 512
typedef struct cw_error {
    cw_status status;
    char msg[CW_ERROR_MSG_MAX];
} cw_error;

/* Sets *e (e may be NULL) to status and the printf-style message; returns
 * status, so that `return cw_error_set(err, CW_ERR_INPUT, "…");` reads as
 * one statement. */
CW_API cw_status cw_error_set(cw_error *e, cw_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Resets *e to CW_OK with an empty message; accepts NULL. */
CW_API void cw_error_clear(cw_error *e);
/* What to tell the user about *e: e->msg (part of *e, nothing to free), or
 * the static cw_strerror(e->status) when it is empty; "" for NULL. */
CW_API const char *cw_error_why(const cw_error *e);

/* ---------------------------------------------------------------------
 * Data model
 * ------------------------------------------------------------------- */

/* Kinds of input, in the order ingest applies them (so references resolve
 * when several files arrive in one run). The numbers never change. */
typedef enum cw_kind {
    CW_KIND_NONE = 0,
    CW_KIND_ACCOUNTS = 1,
    CW_KIND_SUBSCRIPTIONS = 2,
    CW_KIND_USERS = 3,
    CW_KIND_FEATURES = 4,
    CW_KIND_EVENTS = 5,
    CW_KIND_TRAININGS = 6,
    CW_KIND_TICKETS = 7,
    CW_KIND_SURVEYS = 8,
    CW_KIND_GOALS = 9,
    CW_KIND_GOAL_MEASUREMENTS = 10,
    CW_KIND_JOURNEY = 11,
    CW_KIND_SUBSCRIPTION_PERIODS = 12, /* billing periods; subscriptions are derived from them */
    CW_KIND__COUNT = 13
} cw_kind;

/* Field types. Timestamps and dates are stored as UTC Unix seconds; money
 * as integer minor units beside an ISO-4217 currency field. */
typedef enum cw_ftype {
    CW_F_ID,          /* the row's own external id: 1..128 bytes, UTF-8, no control chars */
    CW_F_REF_ACCOUNT, /* external id of an account (resolved to its internal id) */
    CW_F_REF_USER,    /* external id of a user */
    CW_F_TEXT,        /* UTF-8 text up to max bytes */
    CW_F_INT,         /* integer in [min, max] */
    CW_F_MONEY,       /* integer minor units in [min, max] */
    CW_F_CURRENCY,    /* three upper-case letters */
    CW_F_DATE,        /* date or timestamp; stored as Unix seconds */
    CW_F_TS,          /* ISO-8601 timestamp with offset or Unix seconds */
    CW_F_REAL,        /* finite decimal number */
    CW_F_ENUM,        /* one of enum_values (case-insensitive) */
    CW_F_BOOL,        /* true/false, yes/no, 1/0 */
    CW_F_EMAIL        /* local@domain */
} cw_ftype;

#define CW_FD_REQUIRED 0x1u /* must be present and non-empty */
#define CW_FD_KEY      0x2u /* part of the row's natural key (upsert) */
#define CW_FD_DEFAULT  0x4u /* when absent, an enum takes its first value */

/* One column of one kind: the single source of truth for CSV headers, JSON
 * keys, validation, the store's columns and docs/data-model.md. */
typedef struct cw_field_def {
    const char *name;    /* canonical column / JSON key */
    const char *aliases; /* '|'-separated accepted alternative names, or NULL */
    const char *column;  /* store column name, NULL = name */
    cw_ftype type;
    unsigned flags;          /* CW_FD_* */
    int64_t min, max;        /* bounds for INT/MONEY; max bytes for TEXT */
    const char *enum_values; /* '|'-separated, for CW_F_ENUM */
    const char *doc;         /* one-line description */
} cw_field_def;

#define CW_MAX_FIELDS 16

typedef struct cw_kind_def {
    cw_kind kind;
    const char *name;  /* "accounts", "events", … (as given to --kind) */
    const char *table; /* store table */
    const cw_field_def *fields;
    int nfields;
    const char *doc;
} cw_kind_def;

/* Returns the static definition of kind k, or NULL for an invalid kind. */
CW_API const cw_kind_def *cw_kind_get(cw_kind k);
/* Returns the kind named name (case-insensitive), or CW_KIND_NONE. */
CW_API cw_kind cw_kind_from_name(const char *name);

/* ---------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------- */

/* Parses an ISO-8601 date ("2024-03-01", or 8 digits "20240301"), timestamp
 * ("2024-03-01T12:00:00Z", "+02:00", "+0200", fractional seconds, ' ' for
 * 'T') or Unix seconds into UTC Unix seconds. Unix seconds have 9 or 10
 * digits (1973-03-03 .. 2099-12-31): a number of 1-7 digits ("2025") is not
 * a date or timestamp, and 11-13 digits look like milliseconds (an error
 * asking for the unit). A timestamp without an offset is UTC with the flag
 * CW_TIME_NAIVE_UTC and an error otherwise. On error returns CW_ERR_INPUT
 * and, when why is non-NULL, a static reason ("impossible date", …). */
enum { CW_TIME_NAIVE_UTC = 1 }; /* flags of cw_time_parse; 0 = none */
CW_API cw_status cw_time_parse(const char *s, size_t len, unsigned flags, int64_t *out_unix,
                               const char **why);
/* The layouts of cw_time_format. */
typedef enum cw_time_layout {
    CW_TIME_TIMESTAMP = 0, /* "YYYY-MM-DDTHH:MM:SSZ" */
    CW_TIME_DATE = 1       /* "YYYY-MM-DD" */
} cw_time_layout;
/* Formats t in layout into buf. Returns buf. */
CW_API char *cw_time_format(int64_t t, cw_time_layout layout, char *buf, size_t bufsize);
/* Days since 1970-01-01 for a civil date (proleptic Gregorian). */
CW_API int64_t cw_days_from_civil(int64_t y, unsigned m, unsigned d);

/* ---------------------------------------------------------------------
 * Store
 * ------------------------------------------------------------------- */

typedef struct cw_store cw_store;

typedef struct cw_store_opts {
    int readonly;         /* open without creating or migrating */
    int64_t cache_kib;    /* page cache size, 0 = default */
    int busy_timeout_ms;  /* wait for a concurrent writer, 0 = default 5000 */
    const char *password; /* PostgreSQL: the password (store.password_env); NULL =
                             libpq's own sources (PGPASSWORD, ~/.pgpass, the string) */
    /* Refuse a server database that `init` has not made (no churnwatch
     * schema) instead of creating the tables: only init creates. */
    int must_exist;
} cw_store_opts;

/* Opens (creating when missing) the store at path ("sqlite:" prefix optional)
 * and applies forward migrations. o may be NULL. On success *out is a handle
 * the caller closes with cw_store_close(). On failure *out stays NULL and the
 * message is in *err (may be NULL). */
CW_API cw_status cw_store_open(const char *path, const cw_store_opts *o, cw_store **out,
                               cw_error *err);
/* Closes the store; accepts NULL. */
CW_API void cw_store_close(cw_store *st);
/* Whether db (a --db value) names a PostgreSQL database rather than a
 * SQLite file: a postgres:// or postgresql:// URI, or a libpq key=value
 * string starting with host= or dbname=. */
CW_API int cw_store_db_is_server(const char *db);
/* Whether db is a PostgreSQL connection string with a password written in
 * it (user:password@ in a URI, password= as a parameter or keyword). */
CW_API int cw_store_db_has_password(const char *db);
/* The error message of the last call on the handle ("" when that call set
 * none; each call starts by clearing it); borrowed until the next call on
 * this handle. */
CW_API const char *cw_store_errmsg(const cw_store *st);
/* What to tell the user about status s returned by the last call on st: the
 * handle's message when that call set one for s, else "<call>: " followed by
 * cw_strerror(s) (e.g. "metrics: out of memory"), else cw_strerror(s);
 * borrowed until the next call on this handle. st may be NULL. */
CW_API const char *cw_store_why(const cw_store *st, cw_status s);
/* The schema version the store is at (after migrations). */
CW_API int cw_store_schema_version(cw_store *st);
/* The schema version this build migrates to. */
CW_API int cw_store_latest_version(void);

/* What the store holds, for `churnwatch status` and tests. */
typedef struct cw_store_summary {
    int64_t rows[CW_KIND__COUNT];          /* stored rows per kind (events: rollup rows) */
    int64_t events;                        /* product events represented (sum of rollup counts) */
    int64_t event_days;                    /* account-days with events */
    int64_t event_names;                   /* distinct event names */
    int64_t first_event_ts, last_event_ts; /* day-resolution bounds, 0 when none */
    int64_t accounts_active, accounts_churned;
    int64_t users_active;     /* users not deactivated */
    int64_t seats_active;     /* seats licensed on active accounts */
    int64_t mrr_active_minor; /* MRR of active accounts, summed per currency below */
    char mrr_currency[4];     /* "" when none, "*" when several currencies */
    int64_t ingested_files;
} cw_store_summary;

/* Fills *out with what the store holds. */
CW_API cw_status cw_store_summarize(cw_store *st, cw_store_summary *out);

/* ---------------------------------------------------------------------
 * Ingest
 * ------------------------------------------------------------------- */

typedef struct cw_config cw_config; /* the configuration (below) */

typedef struct cw_ingest_progress {
    const char *path;    /* file being read */
    int64_t bytes_done;  /* bytes consumed of this file (compressed for .gz) */
    int64_t bytes_total; /* size of this file, -1 when unknown (stdin) */
    int64_t rows_done;   /* rows read in this run so far */
    double elapsed_s;    /* since the run started */
    int file_index, file_count;
} cw_ingest_progress;

typedef struct cw_ingest_opts {
    cw_kind kind;             /* force a kind for every file; CW_KIND_NONE = detect */
    int skip_bad;             /* land good rows, write bad ones to rejects */
    const char *rejects_path; /* JSON Lines of rejected rows (with skip_bad) */
    int naive_utc;            /* timestamps without offset are UTC (else an error) */
    int max_errors;           /* errors reported in full (default 20) */
    size_t max_line_bytes;    /* longest accepted record (default 1 MiB) */
    int64_t batch_rows;       /* events buffered before dedup (default 1<<20) */
    /* Mappings (docs/importers.md). config holds the [source.NAME] sections
     * and may be NULL. With source (a [source.NAME] of config) or preset (a
     * built-in mapping) set, every file is read through that mapping; with
     * neither, a file whose name matches a source's `files` pattern is read
     * through that source, any other file natively. */
    const cw_config *config;
    const char *source;
    const char *preset;
    int64_t data_end;    /* subscription_periods: the export's data end (Unix s); 0 = the
                            source's data_end setting, else an error */
    int provision_users; /* unknown users in events: -1 = the source's setting (off for
                            native files), 0 = reject, 1 = create on first sight */
    int quarantine;      /* with skip_bad: bad rows also go to the store's quarantine table */
    /* Called for each error message ("file:line: field 'x': why"), warning
     * (is_warning = 1) and, when set, progress about every 0.25 s. */
    void (*on_message)(int is_warning, const char *msg, void *ud);
    void (*on_progress)(const cw_ingest_progress *p, void *ud);
    void *ud;
} cw_ingest_opts;

typedef struct cw_ingest_stats {
    int64_t rows_read[CW_KIND__COUNT];    /* data rows seen per kind */
    int64_t rows_written[CW_KIND__COUNT]; /* new or changed rows per kind */
    int64_t rows_unchanged;               /* identical to what the store held */
    int64_t duplicates;                   /* events already ingested (same id/content) */
    int64_t rejected;                     /* rows with errors */
    int64_t filtered;                     /* records a mapping's `where` left out */
    int64_t provisioned_users;            /* users created on first sight in events */
    int64_t quarantined;                  /* bad rows kept in the quarantine table */
    int64_t warnings;
    int64_t bytes; /* input bytes (uncompressed) */
    int64_t files;
    double elapsed_s;
    int committed; /* 1 when the run's transaction committed */
    /* subscription_periods: accounts whose change log was re-derived, and
     * of them those whose derived change-log rows changed */
    int64_t periods_accounts, periods_accounts_changed;
} cw_ingest_stats;

/* Sets *o to the defaults. */
CW_API void cw_ingest_opts_init(cw_ingest_opts *o);
/* Sets *o to the defaults, then to the [ingest] settings of c (naive
 * timestamps, max errors, max line bytes, batch rows, provision_users) with
 * config = c. Every ingest path (`ingest`, `run --drop`, POST
 * /api/v1/ingest) builds its options here so they obey the same settings. */
CW_API void cw_ingest_opts_from_config(cw_ingest_opts *o, const cw_config *c);

/* Mappings (docs/importers.md). The text of built-in preset name (its INI,
 * to copy and edit), or NULL when there is none. */
CW_API const char *cw_preset_text(const char *name);
/* Names of the built-in presets ("NAME.ini"), up to max; returns how many. */
CW_API int cw_preset_names(const char **names, int max);

/* One source as `churnwatch sources list` shows it. */
typedef struct cw_source_info {
    char name[128];
    char kinds[128]; /* the kinds its sections give, e.g. "accounts, users, events" */
    char files[128]; /* its `files` glob, "" when none */
    char description[256];
    int is_preset;
} cw_source_info;

enum { CW_SOURCES_PRESETS = 1 }; /* flags of cw_sources_list; 0 = none */
/* Compiles (and so validates) every [source.NAME] of c (c may be NULL) and,
 * with the flag CW_SOURCES_PRESETS, every built-in preset; *out (*n entries;
 * caller frees with free()) lists them, configured sources first. Errors as
 * "file:line: [source.X] key: why" in *err (may be NULL). */
CW_API cw_status cw_sources_list(const cw_config *c, unsigned flags, cw_source_info **out, int *n,
                                 cw_error *err);

/* Called by cw_ingest_preview for each mapped row: the text of every field
 * of kd (NULL when absent) after the mapping's conversions. */
typedef void (*cw_preview_fn)(const cw_kind_def *kd, const char *const *texts, int64_t line,
                              void *ud);
/* `churnwatch sources check`: reads paths exactly as cw_ingest_files would
 * (o->source or o->preset names the mapping), reporting errors and warnings
 * through o->on_message and the first limit rows through on_row, and then
 * rolls back: the store is never changed. Without the flag
 * CW_PREVIEW_CHECK_REFS, references to unknown accounts and users are not
 * errors (no database to check them against). Returns CW_ERR_INPUT when any
 * row is bad. */
enum { CW_PREVIEW_CHECK_REFS = 1 }; /* flags of cw_ingest_preview; 0 = none */
CW_API cw_status cw_ingest_preview(cw_store *st, const char *const *paths, size_t npaths,
                                   const cw_ingest_opts *o, int limit, unsigned flags,
                                   cw_preview_fn on_row, cw_ingest_stats *stats);

/* Ingests files ("-" is stdin; ".gz" is decompressed) in one transaction,
 * applying them in kind order. Without skip_bad, any bad row makes the whole
 * run change nothing and return CW_ERR_INPUT (errors go to on_message, the
 * first max_errors in full, then a count). With skip_bad, bad rows are
 * written to rejects_path and the rest commits. Re-ingesting identical data
 * changes nothing. *stats is filled in either case. */
CW_API cw_status cw_ingest_files(cw_store *st, const char *const *paths, size_t npaths,
                                 const cw_ingest_opts *o, cw_ingest_stats *stats);

/* The quarantine: the bad rows of runs made with quarantine and skip_bad
 * (the daily job's `run --skip-bad` / run.on_bad_row = quarantine), kept
 * in the store with their reasons while the good rows land. */
typedef struct cw_quarantine_counts {
    int64_t total;       /* rows held */
    int64_t runs;        /* quarantining runs so far */
    int64_t last_run;    /* rows the last such run quarantined (0 when none) */
    int64_t last_run_at; /* when it ran (Unix s), 0 when none */
} cw_quarantine_counts;

typedef struct cw_quarantine_row {
    int64_t id;
    int64_t run_at; /* Unix s of the run that kept it */
    const char *file;
    int64_t line;
    const char *field; /* NULL when the row as a whole is bad */
    const char *error;
    const char *record; /* the raw record (UTF-8; invalid bytes replaced) */
} cw_quarantine_row;

/* ---- operations: the run log and what monitoring reads (docs/operations.md) ---- */

/* One `churnwatch run`: started_at and ended_at are Unix seconds, ended_at
 * 0 and exit_code -1 while it runs (or when it was killed). */
typedef struct cw_run_info {
    int64_t id, day, started_at, ended_at;
    int exit_code;
} cw_run_info;
/* Records the start of a run for day at time at; *id identifies it. */
CW_API cw_status cw_run_log_begin(cw_store *st, int64_t day, int64_t at, int64_t *id);
/* Records the end of run id at time at with its exit code. */
CW_API cw_status cw_run_log_end(cw_store *st, int64_t id, int64_t at, int exit_code);
/* The latest run into *out; *found = 0 when there was none. */
CW_API cw_status cw_run_log_last(cw_store *st, cw_run_info *out, int *found);
/* The store's backend: "sqlite" or "postgresql". */
CW_API const char *cw_store_backend(cw_store *st);
/* Takes the run lock where the database keeps it (PostgreSQL: a session
 * advisory lock, released when st is closed or the process dies), waiting
 * up to wait_s seconds. *held = 1 taken, 0 another run holds it (holder,
 * if not NULL, then names it), -1 the backend has none (SQLite: the CLI
 * locks a file beside the database instead). */
CW_API cw_status cw_store_run_lock(cw_store *st, double wait_s, int *held, char *holder, size_t n);

/* How fresh the data is, per input kind (0 = none): the newest timestamp in
 * the stored rows of kinds that carry time (events: the start of the last
 * day with events; tickets: the last opened or closed; surveys: the last
 * response, else sending; …; accounts, features and goals carry none), and
 * when a file of the kind was last ingested. Open alerts (open, acked or
 * snoozed) by severity: [CW_SEVERITY_WARNING], [CW_SEVERITY_CRITICAL]. */
typedef struct cw_store_health {
    int64_t data_latest_ts[CW_KIND__COUNT];
    int64_t ingested_last_ts[CW_KIND__COUNT];
    int64_t alerts_open[3];
} cw_store_health;
CW_API cw_status cw_store_health_get(cw_store *st, cw_store_health *out);
/* Calls fn for each (action, destination) with pending (queued) or dead
 * outbox messages, in (action, dest) order; dest is "" for messages never
 * attempted (the destination is resolved on the first attempt) and "email"
 * for destinations holding an e-mail address (recipients are not exposed). */
CW_API cw_status cw_outbox_dest_counts(cw_store *st,
                                       cw_status (*fn)(const char *action, const char *dest,
                                                       int64_t queued, int64_t dead, void *ud),
                                       void *ud);
/* Checks the database's structure: every table the schema has is there and
 * the schema is at this build's version; on SQLite first PRAGMA
 * integrity_check (pages, indexes, constraints). PostgreSQL checks its own
 * pages (data checksums; amcheck needs rights a service account should not
 * have), so there the check is what a client can see. CW_OK with *problems
 * NULL when sound; else *problems lists what is wrong, one a line (caller
 * frees). */
CW_API cw_status cw_store_integrity_check(cw_store *st, char **problems);

/* Fills *out with the quarantine's counts. */
CW_API cw_status cw_quarantine_counts_get(cw_store *st, cw_quarantine_counts *out);
/* Calls fn for the newest limit rows (0 = all), newest first; the row's
 * strings are borrowed until the callback returns. */
CW_API cw_status cw_quarantine_list(cw_store *st, int64_t limit,
                                    cw_status (*fn)(const cw_quarantine_row *row, void *ud),
                                    void *ud);

/* ---------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------- */

/* Settings come from one table (config.c) that feeds the INI file, CLI
 * overrides, `churnwatch config show` and docs/configuration.md. Keys are
 * "section.name", e.g. "store.db". */
typedef struct cw_config cw_config;

/* Loads path (INI), or only the defaults when path is NULL. Unknown sections
 * or keys and invalid values are CW_ERR_CONFIG ("file:line: key: why" in
 * *err, which may be NULL). On success *out is a configuration the caller
 * frees with cw_config_free(); on failure it stays NULL. */
CW_API cw_status cw_config_load(const char *path, cw_config **out, cw_error *err);
/* Sets key to value after validating it (a CLI override); CW_ERR_CONFIG
 * with "key: why" in *err (may be NULL) for an unknown key or a bad value. */
CW_API cw_status cw_config_set(cw_config *c, const char *key, const char *value, cw_error *err);
/* The value of key, NULL for an unknown key; borrowed until the next call
 * on this handle. */
CW_API const char *cw_config_get(const cw_config *c, const char *key);
/* The value of an integer key (0 for an unknown or empty key). */
CW_API int64_t cw_config_get_int(const cw_config *c, const char *key);
/* Writes every setting as an INI file with its help text and where its
 * value came from (default, file, override). Secrets are masked: a
 * password or token setting, an action's inline secret, credentials in URLs
 * and secret query parameters show as "***" (so the output is for reading,
 * not for feeding back). */
CW_API void cw_config_write(const cw_config *c, FILE *out);
/* One setting of the settings table, for documentation (churnwatch.conf(5)).
 * Every string is static. */
typedef struct cw_setting_info {
    const char *key;         /* "section.name" */
    const char *def;         /* default value */
    const char *help;        /* one line */
    const char *enum_values; /* '|'-separated, or NULL when not an enum */
    int is_int;              /* an integer in min..max */
    int64_t min, max;
} cw_setting_info;
/* Fills *out with setting i of the table and returns 1, or returns 0 when i
 * is past the end. */
CW_API int cw_config_setting_info(int i, cw_setting_info *out);
/* A custom metric from a [metric.NAME] section of the configuration,
 * built from the engine's primitives (docs/metrics.md, "Custom metrics"). */
typedef enum cw_custom_type {
    CW_CUSTOM_COUNT = 0,          /* events of the set in the window */
    CW_CUSTOM_SUM = 1,            /* sum of their values */
    CW_CUSTOM_DISTINCT_USERS = 2, /* users with one of them in the window */
    CW_CUSTOM_PCT_CHANGE = 3,     /* count in the window vs the previous window, % */
    CW_CUSTOM_DAYS_SINCE = 4,     /* days since the last one (empty if never) */
    CW_CUSTOM_RATIO = 5           /* numerator / denominator (any two metric names) */
} cw_custom_type;

typedef enum cw_custom_per {
    CW_PER_NONE = 0,
    CW_PER_ACTIVE_USER = 1,
    CW_PER_SEAT = 2
} cw_custom_per;

typedef struct cw_custom_metric {
    const char *name;
    cw_custom_type type;
    const char *events;                  /* comma-separated event names ("*" = all) */
    int window_days;                     /* 0 = metrics.window_days */
    cw_custom_per per;                   /* normalisation of the result */
    const char *numerator, *denominator; /* for CW_CUSTOM_RATIO */
    const char *unit, *doc;
} cw_custom_metric;

/* Sets *out to the custom metrics of c and returns how many; the array is
 * borrowed until the next call on this handle. */
CW_API int cw_config_custom_metrics(const cw_config *c, const cw_custom_metric **out);

/* One key of a structured section: [scorecard], [measure.NAME],
 * [group.NAME], [rule.NAME], [playbook.NAME], [action.NAME],
 * [template.NAME]. config.c keeps these raw, in file order, with their line
 * numbers; the subsystem owning the section type parses and validates them
 * and reports errors as "file:line: [section] key: why". */
typedef struct cw_config_entry {
    const char *section; /* e.g. "rule.unused_licences" */
    const char *key, *value;
    int line; /* line in the configuration file */
} cw_config_entry;

/* Sets *out to every structured entry, in file order, and returns how
 * many; the array is borrowed until the next call on this handle. */
CW_API int cw_config_entries(const cw_config *c, const cw_config_entry **out);
/* Whether section is of type ("rule" matches "rule" and "rule.X"); *name
 * (may be NULL) gets the part after the dot, "" for a bare [type]. */
CW_API int cw_config_section_is(const char *section, const char *type, const char **name);
/* The path the configuration was loaded from, or NULL for defaults only. */
CW_API const char *cw_config_path(const cw_config *c);

/* Frees c; accepts NULL. */
CW_API void cw_config_free(cw_config *c);

/* ---------------------------------------------------------------------
 * Metrics: point-in-time leading indicators per account and user
 * ------------------------------------------------------------------- */

typedef enum cw_metric_scope { CW_SCOPE_ACCOUNT = 1, CW_SCOPE_USER = 2 } cw_metric_scope;

/* One metric of the built-in catalogue (docs/metrics.md defines each). */
typedef struct cw_metric_info {
    const char *name;
    cw_metric_scope scope;
    const char *unit;
    const char *family; /* onboarding, engagement, breadth, support, voice, outcomes, … */
    const char *doc;
} cw_metric_info;

/* Sets *out to the static catalogue and returns its length. Account metrics
 * come first, in snapshot-vector order, then user metrics. */
CW_API int cw_metrics_catalog(const cw_metric_info **out);
/* Index of the metric named name in the catalogue, or -1. */
CW_API int cw_metric_index(const char *name);

typedef struct cw_metrics_opts {
    int64_t from_day, to_day; /* snapshot dates, days since epoch, inclusive */
    int every_days;           /* step between snapshots (0: only from_day) */
    int window_days;          /* activity window, default 28 */
    int recompute;            /* replace stored snapshots (default: compute only missing ones) */
    int user_history;         /* store user metrics for every snapshot (default: the last) */
    /* Custom metrics (cw_config_custom_metrics), stored after the built-ins. */
    const struct cw_custom_metric *custom;
    int ncustom;
    int threads; /* 0: one per core (at most 2); 1: no worker thread */
    /* Called about every 0.25 s; may be NULL. */
    void (*on_progress)(const char *phase, int64_t done, int64_t total, double elapsed_s, void *ud);
    void *ud;
} cw_metrics_opts;

typedef struct cw_metrics_stats {
    int64_t snapshots_computed, snapshots_skipped;
    int64_t account_rows, user_rows; /* (snapshot, entity) rows stored */
    int64_t account_days_read;       /* event rows read */
    int64_t events_read;
    double load_s, compute_s, peers_s, elapsed_s;
} cw_metrics_stats;

/* Sets *o to the defaults (window 28 days, one snapshot). */
CW_API void cw_metrics_opts_init(cw_metrics_opts *o);
/* Computes the snapshots o describes for every account active on each date
 * (and its users) from data stamped before the date, and stores them,
 * replacing recomputed ones, in one transaction. */
CW_API cw_status cw_metrics_run(cw_store *st, const cw_metrics_opts *o, cw_metrics_stats *stats);

typedef enum cw_format { CW_FORMAT_TABLE = 0, CW_FORMAT_CSV = 1, CW_FORMAT_JSON = 2 } cw_format;

typedef struct cw_metrics_export_opts {
    int64_t from_day, to_day; /* stored snapshots in [from, to]; to < 0: the latest only */
    cw_format format;
    const char *account;                   /* external account id, or NULL for all */
    const char *metric;                    /* metric name, or NULL for all */
    int users;                             /* export user metrics instead of account metrics */
    const struct cw_custom_metric *custom; /* names of the custom metrics, as computed */
    int ncustom;
} cw_metrics_export_opts;

/* Writes stored snapshots to out: long form (day, entity, metric, value,
 * trend, peer percentile) for csv/json, a readable table otherwise.
 * Returns CW_ERR_NOTFOUND when nothing matches. */
CW_API cw_status cw_metrics_export(cw_store *st, const cw_metrics_export_opts *o, FILE *out);

/* ---------------------------------------------------------------------
 * Revenue analytics: MRR movements, logo and revenue retention by period
 * (docs/revenue.md defines every figure)
 * ------------------------------------------------------------------- */

/* One period (a calendar month or quarter, UTC) of the MRR bridge:
 * mrr_start + new + expansion - contraction - churn + reactivation = mrr_end
 * holds exactly, and so does customers_start + new + reactivated - churned =
 * customers_end. Rates are percentages (quick_ratio a plain ratio) and NaN
 * when their denominator is zero. */
typedef struct cw_revenue_period {
    int year, month; /* first month of the period, 1..12 */
    int months;      /* 1 (a month) or 3 (a quarter) */
    int64_t mrr_start_minor, new_minor, expansion_minor, contraction_minor, churn_minor,
        reactivation_minor, mrr_end_minor;
    int64_t customers_start, customers_new, customers_churned, customers_reactivated, customers_end;
    int64_t customers_in_and_out;    /* paid within the period, but neither at its start nor end */
    int64_t seats_start, seats_lost; /* seats of paying accounts at the start; lost by them */
    int64_t users_start, users_lost; /* users active at the start; deactivated in the period */
    double user_churn_pct;           /* users_lost / users_start */
    double logo_churn_pct, gross_revenue_churn_pct, grr_pct, nrr_pct, quick_ratio, seat_churn_pct;
} cw_revenue_period;

typedef struct cw_revenue_opts {
    int from_month, to_month; /* year*12 + month-1; -1 = first / last month with a change */
    int by_quarter;           /* calendar quarters instead of months */
    const char *segment;      /* only accounts of this segment, or NULL for all */
} cw_revenue_opts;

typedef struct cw_revenue_report {
    char currency[4]; /* the one currency of the subscriptions read */
    int nperiods;
    cw_revenue_period *periods; /* in time order */
} cw_revenue_report;

/* Sets *o to the defaults (every month with data, all segments). */
CW_API void cw_revenue_opts_init(cw_revenue_opts *o);
/* Computes the MRR bridge, logo counts and rates per period from the
 * store's subscriptions. Returns CW_ERR_INPUT when the subscriptions read use
 * more than one currency, CW_ERR_NOTFOUND when there are none, CW_ERR_USAGE
 * for a bad range; the message is kept on the store (cw_store_errmsg). On
 * success *out is a report the caller frees with cw_revenue_free(); on
 * failure it stays NULL. */
CW_API cw_status cw_revenue_compute(cw_store *st, const cw_revenue_opts *o,
                                    cw_revenue_report **out);
/* Frees a report; accepts NULL. */
CW_API void cw_revenue_free(cw_revenue_report *r);
/* Digits after the decimal point of currency's major unit (ISO 4217): 0 for
 * JPY, 3 for KWD, 2 otherwise. */
CW_API int cw_currency_exponent(const char *currency);

/* ---------------------------------------------------------------------
 * Cohort retention and customer lifetime value (lib/revenue/cohorts.c).
 *
 * Both reports are derived from the subscriptions table with the
 * definitions of the MRR movements report (docs/revenue.md): an account's
 * MRR at the end of a month is the MRR of its last change effective before
 * the next month's first instant (UTC), it is a customer while that is > 0,
 * and every subscription row read must share one currency. Every figure is
 * defined in docs/revenue-cohorts.md.
 * ------------------------------------------------------------------- */

/* Longest matrix accepted (offsets 0..CW_COHORTS_MAX_MONTHS). */
#define CW_COHORTS_MAX_MONTHS 600
/* A segment with fewer churns than this gets an unreliable LTV flag. */
#define CW_LTV_MIN_CHURNS     10

typedef struct cw_cohorts_opts {
    const char *segment; /* only accounts of this segment, or NULL for all */
    int months;          /* matrix width: offsets 0..months (default 12) */
} cw_cohorts_opts;

/* One cohort: the accounts whose first paying month end is (year, month).
 * Arrays have months+1 entries (offset k = k months after the cohort
 * month); entries at offsets after the data end are -1 (counts) or NaN
 * (percentages). */
typedef struct cw_cohort {
    int year, month;
    int observed;                  /* offsets 0..observed-1 are within the data */
    int64_t accounts;              /* logos at offset 0 */
    int64_t mrr0_minor;            /* the cohort's MRR at offset 0 */
    int64_t *logos;                /* cohort accounts paying at offset k */
    int64_t *mrr_minor;            /* the cohort's MRR at offset k (expansion included) */
    double *logo_retention_pct;    /* logos[k] / accounts */
    double *revenue_retention_pct; /* mrr_minor[k] / mrr0_minor (net: can exceed 100) */
    double nrr_12m_pct;            /* revenue retention at offset 12, NaN if not observed */
} cw_cohort;

typedef struct cw_cohorts_report {
    char currency[4];
    int months;              /* offsets 0..months */
    int end_year, end_month; /* the data end: the last month with a subscription change */
    int ncohorts;
    cw_cohort *cohorts; /* in time order; months without a new cohort are left out */
} cw_cohorts_report;

/* Sets *o to the defaults (all segments, 12 months). */
CW_API void cw_cohorts_opts_init(cw_cohorts_opts *o);
/* Builds the logo and revenue retention matrices by start month from the
 * store's subscriptions. Returns CW_ERR_INPUT for mixed currencies,
 * CW_ERR_NOTFOUND when no subscription (or no paying account) matches,
 * CW_ERR_USAGE for months outside 0..CW_COHORTS_MAX_MONTHS; the message is
 * kept on the store (cw_store_errmsg). On success *out is a report the
 * caller frees with cw_cohorts_free(); on failure it stays NULL. */
CW_API cw_status cw_cohorts_compute(cw_store *st, const cw_cohorts_opts *o,
                                    cw_cohorts_report **out);
/* Frees a report; accepts NULL. */
CW_API void cw_cohorts_free(cw_cohorts_report *r);

typedef struct cw_ltv_opts {
    const char *segment; /* only this segment, or NULL for one row per segment plus a total */
    double gross_margin; /* fraction in (0, 1], default 0.8 */
} cw_ltv_opts;

/* Lifetime value of one segment (or of all accounts) over the data window
 * (first to last month with a subscription change). Money in minor units
 * (fractional: averages); rates NaN when their denominator is zero. */
typedef struct cw_ltv_segment {
    char segment[72];              /* the segment, or "" for the all-accounts row */
    int all;                       /* 1 for the all-accounts row */
    int64_t accounts;              /* accounts paying at one month end or more */
    int64_t account_months;        /* (account, month end) pairs with MRR > 0 */
    int64_t mrr_sum_minor;         /* MRR summed over the window's month ends */
    double arpa_minor;             /* mrr_sum / account_months */
    int64_t customers_start_sum;   /* customers at each month's start, summed */
    int64_t churns;                /* logo churns in the window (docs/revenue.md) */
    double churn_pct;              /* monthly logo churn: churns / customers_start_sum */
    double ltv_minor;              /* arpa × margin ÷ churn rate */
    int64_t km_events;             /* first churns, for the survival curve */
    int64_t km_censored;           /* accounts still paying at the data end */
    int km_horizon_months;         /* longest observed follow-up */
    double km_survival_at_horizon; /* S(horizon): > 0 means lifetime is a lower bound */
    double lifetime_months;        /* Σ S(t), t = 0..horizon-1 (restricted mean) */
    double ltv_survival_minor;     /* lifetime × arpa × margin */
    int unreliable;                /* churns < CW_LTV_MIN_CHURNS */
} cw_ltv_segment;

typedef struct cw_ltv_report {
    char currency[4];
    double gross_margin;
    int start_year, start_month, end_year, end_month; /* the window */
    int nsegments;
    cw_ltv_segment *segments; /* by segment name; the all-accounts row last */
} cw_ltv_report;

/* Sets *o to the defaults (all segments, gross margin 0.8). */
CW_API void cw_ltv_opts_init(cw_ltv_opts *o);
/* Computes lifetime value per segment: ARPA × margin ÷ monthly logo churn,
 * and a Kaplan–Meier survival estimate. Errors as cw_cohorts_compute, and
 * CW_ERR_USAGE for a margin outside (0, 1]. On success *out is a report the
 * caller frees with cw_ltv_free(); on failure it stays NULL. */
CW_API cw_status cw_ltv_compute(cw_store *st, const cw_ltv_opts *o, cw_ltv_report **out);
/* Frees a report; accepts NULL. */
CW_API void cw_ltv_free(cw_ltv_report *r);

/* ---------------------------------------------------------------------
 * Churn reasons, the journey funnel and the user → seat →
 * revenue churn chain (docs/revenue-reasons.md defines every figure). Public
 * declarations of lib/revenue/reasons.c, kept apart until they are folded into
 * churnwatch.h's "Revenue analytics" section.
 * ------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Churn reasons
 * ------------------------------------------------------------------- */

/* The seeds' four causes of churn, plus reasons no keyword matched (or no
 * reason at all). The first three are avoidable; natural is not. */
typedef enum cw_churn_cause {
    CW_CAUSE_BAD_SERVICE = 0,
    CW_CAUSE_BAD_ONBOARDING = 1,
    CW_CAUSE_LACK_OF_SUCCESS = 2,
    CW_CAUSE_NATURAL = 3,
    CW_CAUSE_UNCLASSIFIED = 4,
    CW_CAUSE__COUNT = 5
} cw_churn_cause;

/* "bad_service", "bad_onboarding", "lack_of_success", "natural",
 * "unclassified"; NULL for an out-of-range value. Static strings. */
CW_API const char *cw_churn_cause_name(cw_churn_cause c);
/* The cause named name (as above, case-insensitive); -1 when none. */
CW_API int cw_churn_cause_from_name(const char *name);

/* One keyword of the reason map: a reason containing keyword (ASCII
 * case-insensitive, starting at a word boundary) is of cause. */
typedef struct cw_reason_rule {
    const char *keyword;
    cw_churn_cause cause;
} cw_reason_rule;

/* Sets *out to the built-in map (static) and returns its length. */
CW_API int cw_reasons_default_map(const cw_reason_rule **out);
/* Classifies a reason with rules[0..n): the longest matching keyword wins;
 * on a tie, the earlier rule. NULL, empty or unmatched reasons are
 * CW_CAUSE_UNCLASSIFIED. *rule (may be NULL) is set to the winning rule's
 * index, or -1. */
CW_API cw_churn_cause cw_reasons_classify(const char *reason, const cw_reason_rule *rules, int n,
                                          int *rule);
/* Parses a map written as "keyword=cause;keyword=cause;..." (blanks around
 * items trimmed) into *out (caller frees with cw_reasons_map_free) and *n.
 * Returns CW_ERR_USAGE on a bad item, with the message in *err (may be
 * NULL); on failure *out stays NULL. */
CW_API cw_status cw_reasons_map_parse(const char *spec, cw_reason_rule **out, int *n,
                                      cw_error *err);
/* Frees a parsed map; accepts NULL. */
CW_API void cw_reasons_map_free(cw_reason_rule *rules, int n);

/* The metrics shown in a post-mortem, by catalogue name. */
#define CW_POSTMORTEM_NMETRICS 5
/* Name of post-mortem metric i (0 ≤ i < CW_POSTMORTEM_NMETRICS), else NULL. */
CW_API const char *cw_postmortem_metric_name(int i);

typedef struct cw_reasons_opts {
    int from_month, to_month;    /* churn month range, year*12 + month-1; -1 = open */
    const char *segment;         /* only this segment, or NULL */
    const cw_reason_rule *rules; /* NULL = the default map */
    int nrules;
    int postmortem; /* also read each account's last snapshot */
} cw_reasons_opts;

/* One churned account (status churned, churn_date in range). */
typedef struct cw_churned_account {
    char *account_id, *segment;
    int64_t churn_ts_unix;  /* churn_date, 00:00 UTC */
    char *reason;           /* the reason used, or NULL when none was recorded */
    int reason_from_survey; /* 1 = latest exit survey, 0 = accounts.churn_reason */
    cw_churn_cause cause;
    int64_t lost_mrr_minor; /* MRR at the start of the churn month */
    /* Post-mortem (when asked for): the last snapshot on or before the churn
     * day; snapshot_day = -1 when there is none. Values NaN when missing. */
    int64_t snapshot_day;
    double metrics[CW_POSTMORTEM_NMETRICS];
} cw_churned_account;

typedef struct cw_reasons_cell {
    int64_t accounts, lost_mrr_minor;
} cw_reasons_cell;

typedef struct cw_reasons_segment {
    char *segment;
    cw_reasons_cell by_cause[CW_CAUSE__COUNT];
} cw_reasons_segment;

typedef struct cw_reasons_report {
    char currency[4]; /* of the churned accounts' subscriptions; "" when none */
    cw_reasons_cell by_cause[CW_CAUSE__COUNT];
    cw_reasons_cell total, avoidable, unavoidable; /* unclassified is in neither split */
    int nsegments;
    cw_reasons_segment *segments; /* sorted by name */
    int64_t naccounts;
    cw_churned_account *accounts; /* by churn date, then account id */
} cw_reasons_report;

/* Sets *o to the defaults (all months and segments, default map). */
CW_API void cw_reasons_opts_init(cw_reasons_opts *o);
/* Classifies every churned account's reason and sums counts and lost MRR
 * per cause and segment. Returns CW_ERR_INPUT when the churned accounts'
 * subscriptions use more than one currency, CW_ERR_NOTFOUND when no account
 * churned in range; the message is kept on the store. On success *out is a
 * report the caller frees with cw_reasons_free(); on failure it stays NULL. */
CW_API cw_status cw_reasons_compute(cw_store *st, const cw_reasons_opts *o,
                                    cw_reasons_report **out);
/* Frees a report; accepts NULL. */
CW_API void cw_reasons_free(cw_reasons_report *r);

/* ---------------------------------------------------------------------
 * Journey funnel (See-Think-Do-Care)
 * ------------------------------------------------------------------- */

enum {
    CW_STAGE_VISIT,
    CW_STAGE_LEAD,
    CW_STAGE_REGISTRATION,
    CW_STAGE_PAID,
    CW_STAGE_UPGRADE,
    CW_STAGE__COUNT
};

/* One group of visitors (a source, a month, or all). Rates are percent and
 * cost figures minor units as doubles; NaN when the denominator is 0 or no
 * cost was given. */
typedef struct cw_funnel_row {
    char *key;                         /* source ("(none)" when empty), "YYYY-MM", or "all" */
    int64_t visitors[CW_STAGE__COUNT]; /* distinct visitors with a row of the stage */
    int64_t cost_minor;                /* sum of cost_minor over the group's rows */
    int64_t cost_rows;                 /* rows that gave a cost */
    double visit_to_registration_pct, registration_to_paid_pct, paid_to_upgrade_pct;
    double cost_per_lead_minor, acquisition_cost_minor;
} cw_funnel_row;

typedef struct cw_funnel_opts {
    int from_month, to_month; /* month of the visitor's first visit; -1 = open */
} cw_funnel_opts;

typedef struct cw_funnel_report {
    char currency[4]; /* of the costs; "" when no row gave a cost */
    cw_funnel_row total;
    int nsources, nmonths;
    cw_funnel_row *sources; /* sorted by name */
    cw_funnel_row *months;  /* in time order */
} cw_funnel_report;

/* Sets *o to the defaults (every month of the journey rows). */
CW_API void cw_funnel_opts_init(cw_funnel_opts *o);
/* Builds the funnel from the journey rows. Returns CW_ERR_INPUT when costs
 * use more than one currency, CW_ERR_NOTFOUND when no journey rows are in
 * range; message on the store. *out as for cw_reasons_compute; free it
 * with cw_funnel_free(). */
CW_API cw_status cw_funnel_compute(cw_store *st, const cw_funnel_opts *o, cw_funnel_report **out);
/* Frees a report; accepts NULL. */
CW_API void cw_funnel_free(cw_funnel_report *r);

/* ---------------------------------------------------------------------
 * User → seat → revenue churn chain
 * ------------------------------------------------------------------- */

/* What the account's next subscription change after its first user loss
 * in range did. */
typedef enum cw_chain_outcome {
    CW_CHAIN_NO_CHANGE = 0,  /* no later subscription change (yet) */
    CW_CHAIN_SEATS_KEPT = 1, /* next change kept or added seats */
    CW_CHAIN_SEATS_LOST = 2, /* next change had fewer seats (still paying) */
    CW_CHAIN_CANCELLED = 3,  /* next change was a cancellation (MRR 0) */
    CW_CHAIN_NOT_PAYING = 4  /* the account paid nothing at the first loss */
} cw_chain_outcome;

/* "no_change", "seats_kept", "seats_lost", "cancelled", "not_paying"; NULL
 * if out of range. */
CW_API const char *cw_chain_outcome_name(cw_chain_outcome o);

typedef struct cw_chain_account {
    char *account_id, *segment;
    int64_t users_start,
        users_lost; /* active at the range's start; of them, deactivated in range */
    int64_t first_loss_ts_unix;
    cw_chain_outcome outcome;
    int64_t change_ts_unix;            /* the next change, or 0 */
    int64_t seats_before, seats_after; /* around that change */
    int64_t mrr_before_minor, mrr_after_minor;
    int64_t seats_lost, mrr_lost_minor; /* max(0, before - after) */
} cw_chain_account;

typedef struct cw_chain_opts {
    int from_month, to_month; /* range of the user losses; to -1 = the last month with a
                                 deactivation, from -1 = the same month as to */
    const char *segment;
} cw_chain_opts;

typedef struct cw_chain_report {
    char currency[4];
    int from_month, to_month;        /* the range used */
    int64_t users_start, users_lost; /* over all accounts in scope */
    double user_churn_pct;           /* users_lost / users_start; NaN when 0 */
    int64_t accounts_with_user_loss, accounts_seat_loss, accounts_cancelled, accounts_not_paying;
    int64_t seats_lost, mrr_lost_minor; /* from seat losses and cancellations */
    int64_t naccounts;
    cw_chain_account *accounts; /* accounts that lost users, by account id */
} cw_chain_report;

/* Sets *o to the defaults (the last month with a deactivation, all
 * segments). */
CW_API void cw_chain_opts_init(cw_chain_opts *o);
/* For every account that lost users in range, follows its next
 * subscription change. Returns CW_ERR_NOTFOUND when no user rows are in
 * scope, CW_ERR_INPUT for mixed currencies, CW_ERR_USAGE for a bad range.
 * *out as above; free with cw_chain_free(). */
CW_API cw_status cw_chain_compute(cw_store *st, const cw_chain_opts *o, cw_chain_report **out);
/* Frees a report; accepts NULL. */
CW_API void cw_chain_free(cw_chain_report *r);

/* ---------------------------------------------------------------------
 * Simulator
 * ------------------------------------------------------------------- */

typedef struct cw_sim_opts {
    int64_t accounts;    /* number of customer accounts */
    int64_t start_day;   /* first simulated day, days since epoch */
    int months;          /* length of the simulated period */
    uint64_t seed;       /* everything is a pure function of the seed */
    const char *out_dir; /* created when missing */
    int gzip;            /* write events.csv.gz instead of events.csv */
    /* Product-specific churn (docs/simulator.md): users also pin or dismiss
     * insights (events insight_pin / insight_dismiss, in no feature and no
     * built-in metric); some accounts stop pinning (same event count) and
     * then churn at renewals. Off: the world is the same as without it. */
    int product_events;
    /* A base rate that drops (docs/simulator.md): from churn_shift_day
     * (days since epoch) on, the base hazard at renewals is multiplied by
     * churn_shift_factor F (0: off; at most 1) and an account at risk is won
     * back for good with probability 1 - F at its next renewal at risk. The
     * world is the same up to that day. */
    int64_t churn_shift_day;
    double churn_shift_factor;
    /* Called about every 0.25 s with accounts done; may be NULL. */
    void (*on_progress)(int64_t accounts_done, int64_t accounts_total, int64_t events, void *ud);
    void *ud;
} cw_sim_opts;

typedef struct cw_sim_stats {
    int64_t rows[CW_KIND__COUNT]; /* rows written per kind */
    int64_t churned;              /* accounts churned at least once */
    int64_t bytes;                /* bytes written */
} cw_sim_stats;

/* Sets *o to the defaults (500 accounts, 12 months from 2025-01-01, seed 42). */
CW_API void cw_sim_opts_init(cw_sim_opts *o);
/* Writes a deterministic simulated SaaS world into o->out_dir: one CSV per
 * kind (see docs/data-model.md), truth/ground_truth.csv (each account's hidden
 * churn driver) and manifest.json (the simulator's own counts). Streams:
 * memory does not grow with the number of events. On error the message is
 * in *err (may be NULL). */
CW_API cw_status cw_sim_run(const cw_sim_opts *o, cw_sim_stats *stats, cw_error *err);

/* ---------------------------------------------------------------------
 * Health scorecard (docs/scoring.md): configurable measures in weighted
 * groups turn stored metric snapshots into a 0–100 score and a colour per
 * account, with each measure's contribution in points.
 * ------------------------------------------------------------------- */

typedef struct cw_scorecard cw_scorecard;

/* Colours as stored in scores.colour; the numbers never change. */
enum { CW_GREEN = 0, CW_YELLOW = 1, CW_RED = 2 };

typedef struct cw_measure_info {
    const char *name, *metric, *group;
    const char *label; /* the CSM-facing wording, or NULL */
    int source;        /* 0 value, 1 28-day trend, 2 peer percentile */
} cw_measure_info;

/* The compiled-in default scorecard as INI text (to copy and edit). */
CW_API const char *cw_scorecard_default_text(void);
/* The scorecard of c's [scorecard]/[group.X]/[measure.X] sections, or the
 * default when c (may be NULL) has none. On success *out is a scorecard the
 * caller frees with cw_scorecard_free(). Errors are CW_ERR_CONFIG with
 * "file:line: [section] key: why" in *err (may be NULL). */
CW_API cw_status cw_scorecard_load(const cw_config *c, cw_scorecard **out, cw_error *err);
/* Frees sc; accepts NULL. */
CW_API void cw_scorecard_free(cw_scorecard *sc);
/* Version id: 16 hex digits hashing the canonical definition; stored with
 * every score. Borrowed until the next call on this handle. */
CW_API const char *cw_scorecard_hash(const cw_scorecard *sc);
/* The scorecard's name ([scorecard] name, "default" for the compiled-in
 * one); borrowed until the next call on this handle. */
CW_API const char *cw_scorecard_name(const cw_scorecard *sc);
/* The canonical definition as JSON (what the hash covers); borrowed until
 * the next call on this handle. */
CW_API const char *cw_scorecard_definition(const cw_scorecard *sc);
/* The number of measures; they are numbered 0..n-1 in definition order. */
CW_API int cw_scorecard_measures(const cw_scorecard *sc);
/* Fills *out with measure i (0 <= i < cw_scorecard_measures()); its
 * strings are borrowed until the next call on this handle. */
CW_API void cw_scorecard_measure_info(const cw_scorecard *sc, int i, cw_measure_info *out);
/* The colour cut-offs: green at or above *green_from, red below
 * *red_below, yellow between. */
CW_API void cw_scorecard_cutoffs(const cw_scorecard *sc, double *green_from, double *red_below);
/* Lifecycle stage for a tenure (0 onboarding, 1 established). */
CW_API int cw_scorecard_stage(const cw_scorecard *sc, double tenure_days);
/* The colour of score by the cut-offs: CW_GREEN, CW_YELLOW or CW_RED. */
CW_API int cw_scorecard_colour(const cw_scorecard *sc, double score);
/* Scores one account: input[i] is measure i's input (NaN = missing).
 * contrib[i] (may be NULL) gets its points in the score (NaN when it does
 * not apply or was dropped) and maxpts[i] the most it could have given.
 * Returns the score, NaN when no measure applies. */
CW_API double cw_scorecard_eval(const cw_scorecard *sc, const double *input, int stage,
                                const char *segment, double *contrib, double *maxpts);

typedef struct cw_score_opts {
    int64_t from_day, to_day; /* stored metric snapshots in [from, to] (days since epoch) */
    int recompute;            /* rescore days already scored by this scorecard */
    void (*on_progress)(const char *phase, int64_t done, int64_t total, double elapsed_s, void *ud);
    void *ud;
} cw_score_opts;

typedef struct cw_score_stats {
    int64_t days_scored, days_skipped, rows;
    int64_t last_day;        /* latest day scored or skipped, -1 none */
    int64_t colour_count[3]; /* accounts by colour on last_day (when scored now) */
    double elapsed_s;
} cw_score_stats;

/* Sets *o to the defaults: every stored snapshot, no recompute. */
CW_API void cw_score_opts_init(cw_score_opts *o);
/* Scores every account of every stored metric snapshot in the range, in one
 * transaction. A day already scored by this scorecard is skipped unless
 * recompute; a day scored by another version is rescored. CW_ERR_NOTFOUND
 * when the range holds no snapshot. */
CW_API cw_status cw_score_run(cw_store *st, const cw_scorecard *sc, const cw_score_opts *o,
                              cw_score_stats *stats);

typedef struct cw_score_export_opts {
    int64_t day; /* scored day; -1 the latest */
    cw_format format;
    const char *account; /* external id: one account's breakdown by measure */
    int colour;          /* only this colour; -1 all */
    int limit;           /* rows (0 = all), riskiest first */
    int drivers;         /* measures named per account (points lost, largest first) */
} cw_score_export_opts;

/* `backtest --suggest-weights` (lib/health/score_suggest.c): the scorecard's
 * weights fitted to the history on the churn model's time split. */
typedef struct cw_suggest_opts {
    int64_t from_day, to_day; /* snapshots used (0 = open) */
    int horizon_days;         /* churn within this many days of a snapshot (90) */
} cw_suggest_opts;

typedef struct cw_suggest_result {
    int nmeasures;
    double coef[64];         /* per measure: logistic coefficient of points / 100 */
    double weight[64];       /* suggested effective weight, % (0 when coef >= 0) */
    double group_weight[16]; /* suggested group weights (sum of their measures') */
    int64_t train_rows, train_positives, test_rows, test_positives;
    int64_t train_from, train_to, test_from, test_to; /* days */
    double auc_current, auc_suggested, lift10_current, lift10_suggested;
    double auc_train_start, auc_train; /* on the fitting rows: start, after tuning */
} cw_suggest_result;

/* Fits sc's weights to the stored history: a logistic regression of churn
 * within horizon_days on each measure's points, on the churn model's time
 * split (docs/scoring.md), and compares the current and suggested weights
 * on the later snapshots. Fills *res (plain data). CW_ERR_NOTFOUND when
 * the range holds too few snapshots or churns; the message is on the
 * store. Changes nothing in the store. */
CW_API cw_status cw_score_suggest(cw_store *st, const cw_scorecard *sc, const cw_suggest_opts *o,
                                  cw_suggest_result *res);
/* Writes r as the readable table of `backtest --suggest-weights` to out. */
CW_API void cw_score_suggest_print(const cw_scorecard *sc, const cw_suggest_result *r, FILE *out);

/* Sets *o to the defaults: the latest day, a table, all colours, every
 * account, three drivers. */
CW_API void cw_score_export_opts_init(cw_score_export_opts *o);
/* Prints the stored scores of a day, riskiest first, with each account's
 * weakest measures. CW_ERR_NOTFOUND when nothing is scored;
 * CW_ERR_USAGE when the day was scored by another scorecard version. */
CW_API cw_status cw_score_export(cw_store *st, const cw_scorecard *sc,
                                 const cw_score_export_opts *o, FILE *out);

/* ---------------------------------------------------------------------
 * Rules, alerts and playbooks: exception management (docs/rules.md,
 * docs/alerts.md). Rules come from the stock pack compiled into the library
 * and [rule.NAME] / [playbook.NAME] sections of the configuration; a
 * section named like a stock rule overrides the keys it sets.
 * ------------------------------------------------------------------- */

typedef enum cw_severity { CW_SEVERITY_WARNING = 1, CW_SEVERITY_CRITICAL = 2 } cw_severity;

/* One rule as configured; strings borrowed until the next call on this
 * handle (its cw_rules). */
typedef struct cw_rule {
    const char *name, *description;
    cw_metric_scope scope;  /* account or user */
    const char *when;       /* raise when true */
    const char *clear_when; /* clear when true; NULL = "not (when)" */
    cw_severity severity;
    const char *segments; /* comma-separated segments it applies to, NULL = all */
    int cooldown_days;    /* after an episode ends, days before it can open again */
    const char *playbook; /* NULL = alert only */
    int enabled;
    int stock;      /* 1 when defined (at least partly) by the stock pack */
    int overridden; /* 1 when a stock rule had keys set by the configuration */
} cw_rule;

typedef struct cw_playbook {
    const char *name, *description;
    const char *actions;  /* comma-separated action names ([action.NAME]) */
    double control_share; /* 0..0.5 of alerts held out (no action) */
    int stock;
} cw_playbook;

typedef struct cw_rules cw_rules;

/* The action names the delivery side defines as stock actions. */
CW_API int cw_rules_stock_actions(const char *const **out);
/* The stock pack as INI text (static). */
CW_API const char *cw_rules_stock_text(void);
/* Loads the stock pack, applies cfg's [rule.X] and [playbook.X] sections
 * (cfg may be NULL: stock only), validates every key, compiles every
 * expression and checks playbook and action names. On error returns
 * CW_ERR_CONFIG with "file:line:col: [rule.x] when: why" in *err (may be
 * NULL). On success the caller frees *out with cw_rules_free(). */
CW_API cw_status cw_rules_load(const cw_config *cfg, cw_rules **out, cw_error *err);
/* Frees r; accepts NULL. */
CW_API void cw_rules_free(cw_rules *r);
/* The number of rules (stock and configured), numbered 0..n-1 in name
 * order. */
CW_API int cw_rules_count(const cw_rules *r);
/* Rule i (0 <= i < cw_rules_count()), or NULL out of range; borrowed
 * until the next call on this handle. */
CW_API const cw_rule *cw_rules_get(const cw_rules *r, int i);
/* The rule named name, or NULL; borrowed until the next call on this
 * handle. */
CW_API const cw_rule *cw_rules_find(const cw_rules *r, const char *name);
/* The number of playbooks, numbered 0..n-1 in name order. */
CW_API int cw_playbooks_count(const cw_rules *r);
/* Playbook i (0 <= i < cw_playbooks_count()), or NULL out of range;
 * borrowed until the next call on this handle. */
CW_API const cw_playbook *cw_playbooks_get(const cw_rules *r, int i);
/* The playbook named name, or NULL; borrowed until the next call on this
 * handle. */
CW_API const cw_playbook *cw_playbooks_find(const cw_rules *r, const char *name);

/* Alert statuses, persisted in alerts.status; the numbers never change. */
typedef enum cw_alert_status {
    CW_ALERT_OPEN = 1,          /* firing, nobody has looked yet */
    CW_ALERT_ACKED = 2,         /* acknowledged by a CSM, still open */
    CW_ALERT_SNOOZED = 3,       /* hidden until snoozed_until, still open */
    CW_ALERT_RESOLVED = 4,      /* closed: the clear condition held (auto) */
    CW_ALERT_CLOSED_MANUAL = 5, /* closed by hand (alerts resolve) */
    CW_ALERT_CLOSED_GONE = 6    /* closed: the account or user is no longer active */
} cw_alert_status;

/* Alert event kinds, persisted in alert_events.kind; never renumbered. */
typedef enum cw_alert_event {
    CW_AEV_OPENED = 1,
    CW_AEV_ACKED = 2,
    CW_AEV_SNOOZED = 3,
    CW_AEV_UNSNOOZED = 4, /* the snooze ran out while still firing */
    CW_AEV_RESOLVED = 5,  /* by hand */
    CW_AEV_AUTO_RESOLVED = 6,
    CW_AEV_GONE = 7,
    CW_AEV_QUEUED = 8,     /* playbook actions queued (note: the actions) */
    CW_AEV_HELD_OUT = 9,   /* control group: playbook not run */
    CW_AEV_BACKFILLED = 10 /* opened by a backfill evaluation: playbook not run */
} cw_alert_event;

/* The name of alert status status ("open", "acked", …), static; NULL when
 * unknown. */
CW_API const char *cw_alert_status_name(int status);
/* The name of alert event kind kind ("opened", "acked", …), static; NULL
 * when unknown. */
CW_API const char *cw_alert_event_name(int kind);
/* Whether status is an open episode (open, acked or snoozed). */
CW_API int cw_alert_status_is_open(int status);

typedef struct cw_evaluate_stats {
    int64_t rules, accounts, users; /* enabled rules; entities evaluated */
    int64_t firing;                 /* (rule, entity) pairs whose condition held */
    int64_t opened, cooling;        /* new alerts; firing but within the cooldown */
    int64_t resolved, gone, unsnoozed;
    int64_t held_out, queued; /* control-group alerts; outbox rows inserted */
    int already_evaluated;    /* the day had been evaluated before */
    int64_t backfilled;       /* alerts opened without their playbook (backfill) */
} cw_evaluate_stats;

/* Evaluates every enabled rule on the snapshot of day (days since epoch)
 * and moves alerts through their lifecycle, queueing playbook actions in
 * the outbox, all in one transaction. Idempotent: a second evaluation of
 * the same day changes nothing. A day before the last evaluated day is
 * refused (CW_ERR_USAGE); a day without a snapshot is CW_ERR_NOTFOUND.
 * now_unix stamps events and outbox rows. Messages on the store. */
CW_API cw_status cw_alerts_evaluate(cw_store *st, const cw_rules *rules, int64_t day,
                                    int64_t now_unix, cw_evaluate_stats *stats);

/* Flags of cw_alerts_evaluate_ex. BACKFILL: alerts open as usual (so the
 * episodes are known and later days only act on what is new) but no
 * playbook runs: no outbox message, no play assignment (no control draw),
 * an event "backfilled" instead. For the first evaluations on an existing
 * customer base, which would otherwise message every account already off
 * track. */
enum { CW_EVALUATE_BACKFILL = 1 };
/* cw_alerts_evaluate with flags (CW_EVALUATE_*, 0 = none); the same
 * statuses, messages on the store. */
CW_API cw_status cw_alerts_evaluate_ex(cw_store *st, const cw_rules *rules, int64_t day,
                                       int64_t now_unix, unsigned flags, cw_evaluate_stats *stats);

/* The last evaluated day (the alerts' clock), or -1 when none. */
CW_API cw_status cw_alerts_last_day(cw_store *st, int64_t *day);

/* One alert as stored (strings freed by cw_alert_list_free). */
typedef struct cw_alert {
    int64_t id;
    char *rule, *account_id, *account_name, *user_id, *playbook, *values_json, *acked_by;
    int status;
    cw_severity severity;
    int64_t opened_day, last_firing_day, closed_day; /* closed_day -1 while open */
    int64_t snoozed_until;                           /* day, -1 when none */
    int control;                                     /* -1 no playbook, 0 acted on, 1 held out */
} cw_alert;

typedef struct cw_alert_list {
    int64_t n;
    cw_alert *alerts;
} cw_alert_list;

typedef struct cw_alerts_query {
    int all;             /* include closed episodes */
    int64_t today;       /* snoozed alerts with snoozed_until > today are hidden; -1 = show */
    const char *rule;    /* or NULL */
    const char *account; /* external id, or NULL */
    int64_t id;          /* one alert, or 0 */
    int64_t opened_from; /* only alerts opened on or after this day; <= 0 = any */
} cw_alerts_query;

/* Lists alerts, critical first, then newest first, into *out (caller
 * frees with cw_alert_list_free). */
CW_API cw_status cw_alerts_list(cw_store *st, const cw_alerts_query *q, cw_alert_list *out);
/* Frees the alerts of l and empties it; accepts NULL. */
CW_API void cw_alert_list_free(cw_alert_list *l);

/* A CSM's action on an open alert. */
typedef enum cw_alert_action {
    CW_ALERT_DO_ACK = 1,
    CW_ALERT_DO_SNOOZE = 2,
    CW_ALERT_DO_RESOLVE = 3
} cw_alert_action;
/* Applies what to alert id at now_unix: ack, snooze until until_day, or
 * resolve by hand; actor and note may be NULL. Returns CW_ERR_NOTFOUND for
 * no such alert and CW_ERR_USAGE when the alert is already closed; the
 * message is on the store. */
CW_API cw_status cw_alert_update(cw_store *st, int64_t id, cw_alert_action what, int64_t until_day,
                                 const char *actor, const char *note, int64_t now_unix);
/* Writes an alert's event history (one line each) to out. */
CW_API cw_status cw_alert_history(cw_store *st, int64_t id, FILE *out);

/* Play effectiveness per playbook (docs/rules.md, "Play effectiveness"). */
typedef struct cw_play_row {
    char playbook[72];
    int64_t treated, control;                     /* alerts acted on / held out */
    int64_t treated_churned, control_churned;     /* account churned within horizon */
    int64_t treated_recovered, control_recovered; /* alert auto-resolved */
    double churn_diff, churn_lo, churn_hi; /* treated - control churn rate, 95% Newcombe CI */
    double recover_diff, recover_lo, recover_hi;
} cw_play_row;

/* Computes one row per playbook over alerts opened in [from_day, to_day]
 * (-1 = open). Churn counts accounts churned within horizon_days of the
 * alert's opening. *rows (*nrows entries; caller frees with free()). */
CW_API cw_status cw_plays_report(cw_store *st, int64_t from_day, int64_t to_day, int horizon_days,
                                 cw_play_row **rows, int *nrows);
/* Newcombe's hybrid score interval (method 10) for p1 - p2 from x1/n1 and
 * x2/n2 with Wilson intervals at z; NaN when a group is empty. */
CW_API void cw_newcombe_diff(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z, double *diff,
                             double *lo, double *hi);

/* ---------------------------------------------------------------------
 * Outbox: every action (task, e-mail, webhook, …) is a row here first, in
 * the same transaction as the alert that caused it; `churnwatch deliver`
 * drains it at least once (docs/actions.md).
 * ------------------------------------------------------------------- */

typedef enum cw_outbox_status {
    CW_OUTBOX_PENDING = 0,
    CW_OUTBOX_DELIVERED = 1,
    CW_OUTBOX_DEAD = 2 /* gave up after the configured attempts */
} cw_outbox_status;

/* Queues payload_json (an object) for the action named action ([action.NAME]
 * in the configuration), due at now (unix seconds). idem_key identifies the
 * message ("alert:<id>:<action>"): a key already queued is left as it is and
 * *inserted (may be NULL) is 0, else 1. Runs in the caller's transaction
 * when one is open. */
CW_API cw_status cw_outbox_enqueue(cw_store *st, const char *action, const char *idem_key,
                                   const char *payload_json, int64_t now, int *inserted);

/* ---------------------------------------------------------------------
 * Survival: Kaplan–Meier retention curves of customer lifetimes by segment
 * or start cohort, Greenwood confidence bands, median lifetime and the
 * log-rank test between the groups (lib/revenue/survival.c, docs/revenue-survival.md).
 * ------------------------------------------------------------------- */

typedef enum cw_survival_by {
    CW_SURVIVAL_BY_NONE = 0,    /* one group: every account */
    CW_SURVIVAL_BY_SEGMENT = 1, /* accounts.segment */
    CW_SURVIVAL_BY_COHORT = 2   /* calendar period of the lifetime's start */
} cw_survival_by;

/* Milestones of the compact table, in months of CW_SURVIVAL_MONTH_DAYS days. */
#define CW_SURVIVAL_NMILESTONES 6
#define CW_SURVIVAL_MONTH_DAYS  30.4375                                        /* 365.25 / 12 */
extern CW_API const int cw_survival_milestone_months[CW_SURVIVAL_NMILESTONES]; /* 1 3 6 12 18 24 */

typedef struct cw_survival_opts {
    cw_survival_by by;
    const char *segment; /* only this segment; NULL = all */
    int cohort_months;   /* cohort width: 1, 2, 3, 4, 6 or 12 (default 3) */
    int unit_months;     /* times in months (of CW_SURVIVAL_MONTH_DAYS) instead of days */
    double horizon;      /* follow-up cut at this many units (lifetimes censored there); 0 = none */
    double confidence;   /* of the bands and the median's interval, in (0, 1); default 0.95 */
} cw_survival_opts;

/* One distinct time at which lifetimes of the group ended or were censored. */
typedef struct cw_survival_point {
    double t;            /* in the report's unit */
    int64_t at_risk;     /* lifetimes still running just before t */
    int64_t events;      /* churns at t */
    int64_t censored;    /* censored at t */
    double survival;     /* Kaplan–Meier S(t), just after t */
    double se;           /* Greenwood standard error of S(t); NaN once S is 0 */
    double lower, upper; /* log-log confidence band */
} cw_survival_point;

/* S at a milestone: the curve's value at the last point at or before it. */
typedef struct cw_survival_milestone {
    int months;
    int observed; /* 0 when the milestone lies beyond the group's last time */
    int64_t at_risk;
    double survival, lower, upper;
} cw_survival_milestone;

typedef struct cw_survival_group {
    char name[72]; /* segment, cohort "YYYY-MM" (its first month) or "all" */
    int64_t accounts, events, censored;
    cw_survival_point *points;
    int64_t npoints;
    /* Median lifetime: the first time S <= 0.5; its interval from the band
     * (first times lower <= 0.5 and upper <= 0.5). NaN = not reached. */
    double median, median_lower, median_upper;
    cw_survival_milestone milestones[CW_SURVIVAL_NMILESTONES];
    double logrank_observed, logrank_expected; /* churns seen and expected under H0 */
} cw_survival_group;

typedef struct cw_survival_report {
    cw_survival_by by;
    int cohort_months, unit_months;
    double horizon, confidence;
    int64_t data_end_unix;     /* the latest subscription change: the censoring instant */
    cw_survival_group *groups; /* by name */
    int ngroups;
    /* Log-rank test of equal survival across the groups with at least one
     * lifetime; computed only with two or more such groups. */
    int logrank_computed;
    double logrank_chi2, logrank_p;
    int logrank_df;
} cw_survival_report;

/* Defaults: by none, cohort_months 3, days, no horizon, confidence 0.95. */
CW_API void cw_survival_opts_init(cw_survival_opts *o);
/* Builds the survival report from the store (o NULL = defaults). On success
 * *out is a report the caller frees with cw_survival_free(); on failure it
 * stays NULL and the message is on the store handle. */
CW_API cw_status cw_survival_compute(cw_store *st, const cw_survival_opts *o,
                                     cw_survival_report **out);
/* Accepts NULL. */
CW_API void cw_survival_free(cw_survival_report *r);
/* Upper tail of the chi-square distribution with df degrees of freedom at x
 * (the p-value of a chi-square statistic): Q(df/2, x/2), the regularised
 * upper incomplete gamma function. NaN when df < 1 or x is NaN. */
CW_API double cw_chi2_sf(double x, int df);

/* ---------------------------------------------------------------------
 * Actions and delivery: what an alert does (a CSM task, an e-mail, a
 * webhook, a Slack or in-app message, a JSON line) and the outbox drain
 * that performs it at least once (docs/actions.md).
 * ------------------------------------------------------------------- */

/* Kinds of action; the numbers never change. */
typedef enum cw_action_type {
    CW_ACTION_TASK = 0,    /* a CSM task stored in the tasks table */
    CW_ACTION_EMAIL = 1,   /* an e-mail from a template through SMTP */
    CW_ACTION_WEBHOOK = 2, /* a signed JSON POST of the alert */
    CW_ACTION_SLACK = 3,   /* a Slack-compatible {"text","blocks"} POST */
    CW_ACTION_INAPP = 4,   /* an in-app message {user_id, account_id, message, cta_url} POST */
    CW_ACTION_JSONL = 5    /* one JSON line appended to a file or stdout */
} cw_action_type;

/* One [action.NAME] section (or a stock action). Strings are borrowed
 * until the next call on this handle (the cw_actions). */
typedef struct cw_action {
    const char *name;
    cw_action_type type;
    const char *to;      /* email: "user", "owner" or an address */
    const char *tmpl;    /* template name (task, email, slack, inapp) */
    const char *url;     /* webhook, slack, inapp */
    const char *secret;  /* HMAC key (from secret or $secret_env); NULL: unsigned */
    const char *file;    /* jsonl: path, "-" = standard output */
    const char *cta_url; /* inapp: call-to-action link (a template) */
    int due_days;        /* task: due this many days after the alert opened */
    int timeout_ms;      /* 0 = deliver.timeout_ms */
    int max_attempts;    /* 0 = deliver.max_attempts */
    int rate_per_minute; /* per destination; 0 = unlimited */
    int stock;           /* compiled in and not overridden */
    int line;            /* line of its section in the configuration (0: stock) */
} cw_action;

/* One [template.NAME] section (or a stock template). */
typedef struct cw_template {
    const char *name, *subject, *body;
    int stock;
} cw_template;

typedef struct cw_actions cw_actions;

/* Builds the actions and templates: the stock ones overridden or extended
 * by the [action.NAME] / [template.NAME] sections of cfg. Every key is
 * validated (type, to, url, template reference, placeholders, secret_env
 * set in the environment, …); on error returns CW_ERR_CONFIG with
 * "file:line: [action.x] key: why" in *err (may be NULL). On success the
 * caller frees *out with cw_actions_free(). cfg must outlive *out. */
CW_API cw_status cw_actions_load(const cw_config *cfg, cw_actions **out, cw_error *err);
/* The action named name, or NULL; borrowed until the next call on this
 * handle. */
CW_API const cw_action *cw_actions_find(const cw_actions *a, const char *name);
/* The template named name ([template.NAME] or stock), or NULL; borrowed
 * until the next call on this handle. */
CW_API const cw_template *cw_actions_template(const cw_actions *a, const char *name);
/* Sets *out to every action, sorted by name, and returns how many; the
 * array is borrowed until the next call on this handle. */
CW_API int cw_actions_list(const cw_actions *a, const cw_action *const **out);
/* Frees a; accepts NULL. */
CW_API void cw_actions_free(cw_actions *a);

/* How a rendered value is escaped for where it lands. */
typedef enum cw_escape {
    CW_ESCAPE_NONE = 0,   /* plain text (e-mail bodies, tasks) */
    CW_ESCAPE_HEADER = 1, /* one line: CR, LF and other controls become spaces */
    CW_ESCAPE_SLACK = 2   /* Slack mrkdwn: &, <, > as &amp; &lt; &gt; (no @channel pings) */
} cw_escape;

/* The longest text cw_template_render writes, in bytes. */
#define CW_TEMPLATE_MAX (256 * 1024)
/* Renders text, replacing {{path}} with the payload's value at path
 * ("account_name", "values.licence_activation") and {{path|fallback}} with
 * the fallback when the value is missing or null. Numbers print with at
 * most two decimals, true/false as yes/no. "{{{{" is a literal "{{". A
 * missing value without a fallback, or a malformed placeholder, is an
 * error: CW_ERR_INPUT with the reason in *err (may be NULL). On success
 * *out is a string (caller frees with free()); on failure it stays NULL.
 * payload is a JSON object text. Output is bounded by CW_TEMPLATE_MAX
 * bytes (CW_ERR_TOOBIG past it). */
CW_API cw_status cw_template_render(const char *text, const char *payload_json, cw_escape esc,
                                    char **out, cw_error *err);
/* Checks the placeholders of text at load time: syntax, and that names
 * outside values.* are fields of the documented alert payload. Returns
 * CW_OK or CW_ERR_CONFIG with the reason in *err (may be NULL). */
CW_API cw_status cw_template_check(const char *text, cw_error *err);

/* The delay before retry number attempts (1 = after the first failure):
 * base_s * 2^(attempts-1) capped at max_s, shortened by a share in
 * [0, jitter_pct%) that is a pure function of idem_key and attempts (so a
 * run is reproducible and retries of different messages spread out). */
CW_API int64_t cw_deliver_backoff(int attempts, int64_t base_s, int64_t max_s, int jitter_pct,
                                  const char *idem_key);
/* The signature header value "v1=<hex HMAC-SHA256(secret, timestamp "." body)>"
 * into out (at least 68 bytes). */
CW_API void cw_deliver_sign(const char *secret, const char *timestamp, const char *body,
                            size_t body_len, char *out, size_t outsz);

typedef struct cw_deliver_opts {
    int64_t now;   /* unix seconds: a fixed clock for the run (tests); 0 = real time */
    int64_t limit; /* messages attempted at most; 0 = all due */
    int dry_run;   /* print what would be sent; change nothing */
    FILE *out;     /* dry-run listing and jsonl "-" go here (stdout) */
    FILE *log;     /* one line per attempt (may be NULL) */
} cw_deliver_opts;

typedef struct cw_deliver_stats {
    int64_t attempted, delivered, retrying, dead, rate_limited;
} cw_deliver_stats;

/* Drains the outbox: claims due pending messages in batches of
 * deliver.batch, performs each action and records each outcome in its own
 * transaction (docs/actions.md, "Delivery"). Returns CW_OK even when
 * messages failed (their outcome is in the outbox and the stats); an error
 * only for the store or the configuration, with the message on st. */
CW_API cw_status cw_deliver_run(cw_store *st, const cw_config *cfg, const cw_actions *a,
                                const cw_deliver_opts *o, cw_deliver_stats *stats);

/* One outbox row; strings borrowed until the callback returns. */
typedef struct cw_outbox_row {
    int64_t id;
    const char *idem_key, *action, *payload, *dest, *last_error;
    int status, attempts;
    int64_t next_at, created_at, delivered_at, last_at; /* 0 when not yet */
} cw_outbox_row;

/* Calls fn for rows with the given status (-1: any) or, when id > 0, for
 * that row only, in id order. */
CW_API cw_status cw_outbox_scan(cw_store *st, int status, int64_t id,
                                cw_status (*fn)(const cw_outbox_row *r, void *ud), void *ud);
/* Makes row id pending again, due at now with no attempts counted (a dead
 * letter after the cause was fixed). CW_ERR_NOTFOUND when no such row,
 * CW_ERR_USAGE when it was delivered. */
CW_API cw_status cw_outbox_retry(cw_store *st, int64_t id, int64_t now);
/* Deletes delivered rows delivered before `before`; *deleted (may be NULL). */
CW_API cw_status cw_outbox_purge(cw_store *st, int64_t before, int64_t *deleted);

/* CSM tasks; status numbers never change. */
typedef enum cw_task_status {
    CW_TASK_OPEN = 0,
    CW_TASK_DONE = 1,
    CW_TASK_DISMISSED = 2
} cw_task_status;

typedef struct cw_task {
    int64_t id;
    const char *idem_key, *account, *assignee, *title, *body; /* assignee may be NULL */
    int64_t due_day;                                          /* unix seconds, 0 = none */
    int status;
    int64_t created_at, closed_at;
    const char *closed_by; /* who closed it; NULL when open or not recorded */
} cw_task;

/* Calls fn for tasks with status (-1: any) and, unless NULL, assignee, by
 * due day then id; strings borrowed until the callback returns. */
CW_API cw_status cw_tasks_scan(cw_store *st, int status, const char *assignee,
                               cw_status (*fn)(const cw_task *t, void *ud), void *ud);
/* Closes task id as done or dismissed at now, by actor (who acted: a user's
 * name, "token:NAME", the CLI's --as; may be NULL). CW_ERR_NOTFOUND when no
 * such task, CW_ERR_USAGE when it is closed already. */
CW_API cw_status cw_task_close(cw_store *st, int64_t id, cw_task_status status, int64_t now,
                               const char *actor);

/* ---------------------------------------------------------------------
 * API tokens of `churnwatch serve` (docs/api.md). A token is
 * "cw_" + 43 base64url characters (32 bytes from getrandom); it is shown
 * once, and only its SHA-256 is stored, beside its first CW_TOKEN_PREFIX
 * characters (the lookup key, shown by `token list`).
 * ------------------------------------------------------------------- */

typedef enum cw_token_role { CW_ROLE_READ = 0, CW_ROLE_WRITE = 1 } cw_token_role;

#define CW_TOKEN_LEN    46 /* characters of a token, without the NUL */
#define CW_TOKEN_PREFIX 10 /* characters kept in clear as the lookup key */

typedef struct cw_token_info {
    int64_t id;
    const char *name;   /* borrowed until the callback returns */
    const char *prefix; /* borrowed until the callback returns */
    cw_token_role role;
    int64_t created_at_unix, revoked_at_unix; /* revoked 0 = active */
    int64_t expires_at_unix;                  /* 0 = never */
} cw_token_info;

/* Creates a token of role named name (may be NULL: "") at now, valid until
 * expires_at (unix seconds; 0 = never). On success token (CW_TOKEN_LEN + 1
 * bytes) holds the token, which is not kept anywhere, and *id (may be
 * NULL) its id. CW_ERR_IO when the system has no randomness. */
CW_API cw_status cw_token_create(cw_store *st, cw_token_role role, const char *name, int64_t now,
                                 int64_t expires_at, char token[CW_TOKEN_LEN + 1], int64_t *id);
/* Checks a presented token (len bytes, untrusted) in constant time with
 * respect to the stored hashes. CW_OK with *role, *id and name (each may be
 * NULL; name holds namesz bytes, cut) set when it is a known, unrevoked
 * token not expired at now; CW_ERR_NOTFOUND otherwise. */
CW_API cw_status cw_token_verify(cw_store *st, const char *token, size_t len, int64_t now,
                                 cw_token_role *role, int64_t *id, char *name, size_t namesz);
/* Revokes token id at now; CW_ERR_NOTFOUND when there is no such active token. */
CW_API cw_status cw_token_revoke(cw_store *st, int64_t id, int64_t now);
/* Calls fn for every token, by id. */
CW_API cw_status cw_token_list(cw_store *st, cw_status (*fn)(const cw_token_info *t, void *ud),
                               void *ud);

/* ---------------------------------------------------------------------
 * Named users of the dashboard and their sessions (docs/api.md, "Users
 * and sessions"). Passwords are hashed with scrypt (libcrypto) under a
 * random 16-byte salt, the cost stored with the hash; a session id is 32
 * bytes from getrandom, given to the browser once and kept as its SHA-256.
 * ------------------------------------------------------------------- */

typedef enum cw_user_role {
    CW_USER_VIEWER = 0, /* reads */
    CW_USER_CSM = 1,    /* also acknowledges, snoozes, resolves, changes tasks */
    CW_USER_ADMIN = 2   /* also manages users */
} cw_user_role;

#define CW_USER_NAME_MAX  64  /* bytes of a user name: [A-Za-z0-9._@-] */
#define CW_USER_EMAIL_MAX 254 /* bytes of an e-mail address */
#define CW_PASSWORD_MIN   10  /* characters of a password, at least */
#define CW_PASSWORD_MAX   1024
#define CW_SESSION_LEN    43 /* characters of a session id (base64url of 32 bytes) */
#define CW_CSRF_LEN       43 /* characters of a session's CSRF token */

/* "viewer", "csm", "admin"; NULL for another number. */
CW_API const char *cw_user_role_name(int role);
/* The role named s, or -1. */
CW_API int cw_user_role_from_name(const char *s);

typedef struct cw_app_user {
    int64_t id;
    char name[CW_USER_NAME_MAX + 1];
    char email[CW_USER_EMAIL_MAX + 1];
    int role;
    int64_t created_at, password_at, disabled_at; /* disabled 0 = active */
} cw_app_user;

/* Hashes password (NUL-terminated) into out ("scrypt$LOG2N$R$P$SALT$HASH",
 * at most CW_PASSWORD_HASH_MAX bytes with the NUL). CW_ERR_IO without
 * randomness, CW_ERR_NOMEM when scrypt cannot get its memory. */
#define CW_PASSWORD_HASH_MAX 160
CW_API cw_status cw_password_hash(const char *password, char out[CW_PASSWORD_HASH_MAX]);
/* 1 when password matches stored (compared with CRYPTO_memcmp), 0 otherwise
 * (also for a malformed stored hash). */
CW_API int cw_password_verify(const char *password, const char *stored);

/* Adds a user. CW_ERR_USAGE (message on the store) for a bad name, e-mail,
 * role or password, or a name or e-mail already taken. */
CW_API cw_status cw_user_add(cw_store *st, const char *name, const char *email, int role,
                             const char *password, int64_t now, int64_t *id);
/* Sets name's password and ends its sessions. */
CW_API cw_status cw_user_passwd(cw_store *st, const char *name, const char *password, int64_t now);
/* Disables name (it can no longer sign in) and ends its sessions; enable = 1
 * enables it again. */
CW_API cw_status cw_user_disable(cw_store *st, const char *name, int enable, int64_t now);
/* Gives name another role and ends its sessions. */
CW_API cw_status cw_user_set_role(cw_store *st, const char *name, int role);
/* Removes name and its sessions (what it did stays in the history, by name). */
CW_API cw_status cw_user_remove(cw_store *st, const char *name);
/* Calls fn for every user, by name. */
CW_API cw_status cw_user_list(cw_store *st, cw_status (*fn)(const cw_app_user *u, void *ud),
                              void *ud);
/* The active user whose name or e-mail (any case) is ident, with its
 * stored password hash (stored: CW_PASSWORD_HASH_MAX bytes).
 * CW_ERR_NOTFOUND when there is none or it is disabled. */
CW_API cw_status cw_user_find(cw_store *st, const char *ident, cw_app_user *u,
                              char stored[CW_PASSWORD_HASH_MAX]);

/* Starts a session of user_id at now that ends at expires_at: sid gets the
 * session id (shown once), csrf its CSRF token. Sessions that have expired
 * (expires_at past, or idle for idle_s) are deleted on the way. */
CW_API cw_status cw_session_create(cw_store *st, int64_t user_id, int64_t now, int64_t expires_at,
                                   int64_t idle_s, char sid[CW_SESSION_LEN + 1],
                                   char csrf[CW_CSRF_LEN + 1]);
/* The session sid (len bytes, untrusted): CW_OK with the active user, its
 * CSRF token and when it was last seen, when it exists, has not passed
 * expires_at, was seen within idle_s of now and its user is active;
 * CW_ERR_NOTFOUND otherwise. */
CW_API cw_status cw_session_check(cw_store *st, const char *sid, size_t len, int64_t now,
                                  int64_t idle_s, cw_app_user *u, char csrf[CW_CSRF_LEN + 1],
                                  int64_t *last_seen);
/* Records a request of session sid at now (the idle clock). */
CW_API cw_status cw_session_touch(cw_store *st, const char *sid, size_t len, int64_t now);
/* Ends session sid; CW_OK whether or not it existed. */
CW_API cw_status cw_session_end(cw_store *st, const char *sid, size_t len);

/* ---------------------------------------------------------------------
 * Churn model, explanations and backtests (docs/model.md): a regularised
 * logistic regression (liblinear) and gradient-boosted trees (XGBoost)
 * trained on the stored metric snapshots, with calibrated probabilities,
 * per-account drivers in words and a time-split backtest.
 * ------------------------------------------------------------------- */

#define CW_EVAL_ROC_POINTS 101

/* One decile of a calibration table (ascending score). */
typedef struct cw_eval_decile {
    int64_t n, positives;
    double mean_score; /* mean predicted probability (or risk / 100) */
    double observed;   /* positives / n */
} cw_eval_decile;

/* How well a risk score ranks and predicts one binary outcome. NaN where
 * undefined (no positives, or brier when the scores are no probabilities). */
typedef struct cw_eval {
    int64_t n, positives;
    double roc_auc, pr_auc, brier;
    double precision_10, recall_10, lift_10; /* riskiest 10% of rows */
    double precision_20, recall_20, lift_20; /* riskiest 20% */
    cw_eval_decile deciles[10];
    int nroc; /* ROC curve points, (0,0) first and (1,1) last */
    double roc_fpr[CW_EVAL_ROC_POINTS], roc_tpr[CW_EVAL_ROC_POINTS];
    /* 95% intervals: ROC AUC by DeLong's variance (normal approximation,
     * clipped to [0, 1]); lift@10% by a percentile bootstrap of the rows
     * (CW_EVAL_BOOTSTRAP resamples, fixed seed: the same rows give the same
     * interval). NaN where undefined. */
    double roc_auc_lo, roc_auc_hi;
    double lift_10_lo, lift_10_hi;
} cw_eval;
#define CW_EVAL_BOOTSTRAP 200

/* What the scores given to cw_eval_binary are. */
typedef enum cw_eval_scores {
    CW_EVAL_RANKS = 0,        /* a ranking only: no Brier score */
    CW_EVAL_PROBABILITIES = 1 /* probabilities: the Brier score too */
} cw_eval_scores;
/* Evaluates score[i] (higher = riskier) against y[i] (0/1) over n rows;
 * kind says whether the scores are probabilities (Brier score).
 * Returns CW_OK or CW_ERR_NOMEM. Definitions in docs/model.md. */
CW_API cw_status cw_eval_binary(const double *score, const unsigned char *y, int64_t n,
                                cw_eval_scores kind, cw_eval *out);

/* Early warning: over the churns in the evaluated period, the days
 * between the first red flag (in the look-back before the churn) and the
 * churn. */
typedef struct cw_lead_time {
    int64_t churns, flagged;
    double median_days, mean_days; /* over flagged churns; NaN when none */
    double never_flagged_share;    /* (churns - flagged) / churns */
} cw_lead_time;

typedef enum cw_model_kind { CW_MODEL_LOGREG = 1, CW_MODEL_XGBOOST = 2 } cw_model_kind;

/* The observation design (docs/model.md): one row per snapshot and active
 * account, labelled by churn within the horizon (weekly grid), or one row
 * per account and renewal, observed renewal_days before it and labelled by
 * whether it churned by the end of the renewal day. */
typedef enum cw_rows_design { CW_ROWS_WEEKLY = 0, CW_ROWS_RENEWAL = 1 } cw_rows_design;
/* What "flagged" means (docs/model.md, "Flagged"; `[model] flag`): by
 * default the riskiest 10% of the accounts scored on a day — risk relative
 * to the base rate — or, as "p >= P", every account whose churn probability
 * is at least P. */
typedef struct cw_flag_rule {
    double share;      /* > 0: the ceil(share x n) riskiest of the n rows of each day */
    double p_at_least; /* share == 0: probability >= p_at_least */
} cw_flag_rule;
#define CW_FLAG_DEFAULT "top 10%"
/* Parses "top 10%", "top 0.1", "10%" (a share) or "p >= 0.25", "p >= 25%"
 * (a probability). Returns CW_OK or CW_ERR_INPUT with a static reason in
 * *why (may be NULL). */
CW_API cw_status cw_flag_parse(const char *text, cw_flag_rule *out, const char **why);
/* The rule in words: "top 10%" or "p >= 0.25". */
CW_API void cw_flag_format(const cw_flag_rule *r, char *buf, size_t n);
/* The number of rows a share rule flags among n rows of one day:
 * ceil(share x n) (1e-9 tolerance, so 10% of 30 is 3), 0 when n is 0. */
CW_API int64_t cw_flag_count(const cw_flag_rule *r, int64_t n);
/* Applies r to n rows: risk[i] (a probability for "p >= P"; NaN = not
 * scored, never flagged), day[i], tie[i] (a deterministic tie-break: the
 * lower value is flagged first, e.g. the account id). flagged[i] gets 0/1.
 * A share rule flags cw_flag_count() rows of each day, riskiest first.
 * Returns the number flagged, or -1 when out of memory. */
CW_API int64_t cw_flag_rows(const cw_flag_rule *r, const double *risk, const int64_t *day,
                            const int64_t *tie, int64_t n, unsigned char *flagged);

typedef struct cw_train_opts {
    int kinds;                          /* bit mask of cw_model_kind */
    int horizon_days;                   /* label window after a snapshot (90) */
    int64_t from_day, to_day;           /* snapshots used, days since epoch (0: all) */
    double seat_loss_pct, mrr_loss_pct; /* also count such a loss as churn (0: off) */
    int activate;                       /* make the new model (the last kind) active */
    int threads;                        /* XGBoost threads (0: online cores) */
    double test_share;                  /* share of labelled snapshot days held out (0.25) */
    const char *dump_matrix;            /* write the training/test matrix as CSV (or NULL) */
    const char *name;                   /* model name prefix (NULL: "churn") */
    /* Labels are known up to this day (days since epoch): the day the
     * subscription data is complete to. 0: the latest subscription change
     * stored. Rows whose label window passes it are left out and counted. */
    int64_t data_end_day;
    int no_product_features; /* catalogue metrics only: no custom metrics, no event features */
    int max_event_names;     /* event names with behaviour features, at most (0: 40) */
    int min_positives;       /* churn rows needed in the fit and in the test rows (0: 30) */
    int force;               /* train even under min_positives */
    int rows_design;         /* cw_rows_design (CW_ROWS_WEEKLY) */
    int renewal_days;        /* renewal rows: observed this many days before (0: 30) */
    /* Recalibration on the latest fully labelled window (docs/model.md,
     * "Calibration"): at least this many days of snapshots (0: 28, < 0: off) */
    int recal_days;
} cw_train_opts;

/* What a model looks at: a metric's share of the model's mean |contribution|
 * over the test rows (value and trend together). */
typedef struct cw_driver_share {
    const char *metric, *family; /* catalogue strings, or name_buf for custom metrics and events */
    char name_buf[80];
    double share;
    int direction; /* +1: higher values raise the risk, -1: lower values do, 0: unclear */
} cw_driver_share;
#define CW_TOP_DRIVERS 8

/* A recalibration on the latest fully labelled window: the Platt slope of
 * the calibration slice is kept, the intercept refitted on the window's
 * rows so the probabilities follow its base rate. */
typedef struct cw_recal_info {
    int applied;                    /* 0: off, or no labelled window */
    int64_t from_day, to_day;       /* the window's snapshot days */
    int64_t rows, positives;        /* its rows and churn rows */
    double observed;                /* positives / rows */
    double platt_b, b;              /* intercept before (calibration slice) and after */
    double mean_before, mean_after; /* mean probability over the window's rows */
} cw_recal_info;

typedef struct cw_trained_model {
    int64_t id; /* models.id, 0 when not saved */
    cw_model_kind kind;
    char name[96];
    int64_t fit_rows, calib_rows, test_rows;
    double fit_s;
    cw_eval test; /* with the calibration as recalibrated before the test (test_recal) */
    /* the recalibration the test rows were scored with (window before the
     * test) and the one the saved model carries (the latest labelled window) */
    cw_recal_info test_recal, recal;
    double test_mean_platt; /* mean test probability with the calibration slice's Platt only */
    cw_driver_share top[CW_TOP_DRIVERS]; /* largest shares first */
    int ntop;
} cw_trained_model;

typedef struct cw_train_result {
    int nmodels;
    cw_trained_model models[2];
    int active; /* index of the model --activate made active, -1 none */
    int64_t fit_from, fit_to, calib_from, calib_to, test_from, test_to; /* snapshot days */
    int features;
    int custom_metrics, event_names; /* extra feature groups among features */
    /* their names, comma-separated (custom metrics, then "event:NAME"s),
     * cut at a name boundary with ", …" when longer */
    char extra_features[2048];
    int dropped;           /* features missing on every fit row (zero weight) */
    int64_t data_end_day;  /* labels known up to (see cw_train_opts) */
    int data_end_declared; /* 1: given, 0: the latest subscription change */
    int64_t unknown_rows;  /* rows left out: label window past data_end_day */
    int64_t fit_positives;
    int small_data; /* 1: positives under min_positives (trained with force, or refused) */
    /* the row design; renewal rows: renewals in the history, those without
     * the account's metrics at the snapshot, rows built, and how stale the
     * snapshots were (days before the observation day) */
    int rows_design, renewal_days;
    int64_t renewals_seen, renewals_nosnap, rows;
    int64_t stale_max;
    double stale_mean;
} cw_train_result;

/* Sets *o to the defaults: both kinds, a 90-day horizon, every snapshot, a
 * quarter of the labelled days held out for the test, not activated. */
CW_API void cw_train_opts_init(cw_train_opts *o);
/* Trains the kinds asked for on the store's snapshots (time split: fit,
 * calibration, purge gap of one horizon, test), saves each in `models`
 * (not when res is for a backtest, see cw_backtest_run) and fills res.
 * One transaction. Errors (too few snapshots or churns) are on the store. */
CW_API cw_status cw_model_train(cw_store *st, const cw_train_opts *o, cw_train_result *res);

typedef struct cw_predict_opts {
    int64_t day;        /* snapshot to score (0: the latest) */
    int64_t model_id;   /* 0: the active model */
    double green_below; /* probability under which an account is green */
    int drivers;        /* drivers kept per direction (3) */
} cw_predict_opts;

/* One scored account. */
typedef struct cw_prediction {
    int64_t account;
    char account_id[64];
    double probability;
    char *drivers_json; /* the stored drivers array; freed by cw_predictions_free */
} cw_prediction;

typedef struct cw_predictions {
    int64_t day, model_id, n;
    char model_name[96];
    /* the model's last test snapshot and label horizon (from its meta; -1
     * and 0 when unknown): cw_model_is_stale() */
    int64_t tested_to;
    int horizon_days;
    cw_prediction *rows; /* riskiest first */
    /* a renewal model scores only the accounts whose next renewal falls in
     * (day, day + renewal_days]: how many active accounts it passed over */
    int rows_design, renewal_days;
    int64_t not_due;
} cw_predictions;

/* Scores every account active at the snapshot with the model, stores the
 * rows in `predictions` (one transaction, replacing that day's rows of the
 * model) and sets *out (caller frees with cw_predictions_free). */
CW_API cw_status cw_model_predict(cw_store *st, const cw_predict_opts *o, cw_predictions **out);
/* Frees p and its rows; accepts NULL. */
CW_API void cw_predictions_free(cw_predictions *p);
/* Whether the model that made p has not seen the last half year of
 * history: its newest test snapshot lies more than its horizon + 180 days
 * before the scored day (a model trained on the latest history is about one
 * horizon behind). Churn drivers and the product change; such a model
 * should be retrained. */
CW_API int cw_model_is_stale(const cw_predictions *p);

typedef struct cw_backtest_opts {
    int horizon_days;            /* 90 */
    int64_t from_day, to_day;    /* snapshots (0: all) */
    int kinds;                   /* models to train and test (bit mask; 0: both) */
    double green_below;          /* with flag_set 0 and > 0: flag = "p >= green_below" */
    cw_flag_rule flag;           /* what "flagged" means for the lead time (flag_set) */
    int flag_set;                /* 0: the default, top 10% */
    int recal_days;              /* as cw_train_opts */
    const char *predictions_csv; /* write every scored test row here (or NULL) */
    int threads;
    double test_share;       /* 0.25 */
    int64_t data_end_day;    /* as cw_train_opts */
    int no_product_features; /* as cw_train_opts */
    int min_positives;       /* as cw_train_opts */
    int force;               /* as cw_train_opts */
    int rows_design;         /* as cw_train_opts */
    int renewal_days;        /* as cw_train_opts */
} cw_backtest_opts;

typedef struct cw_backtest_subject {
    char subject[96]; /* "model:logreg", "model:xgboost", "scorecard:<hash>" */
    int probabilities;
    cw_eval eval;
    cw_lead_time lead;
    int64_t flagged_rows; /* test rows flagged (cw_backtest.flag) */
    char flag_by[48];     /* "top 10%", "p >= 0.25" or "colour red" */
    cw_recal_info recal;  /* models: the recalibration before the test */
    double mean_platt;    /* models: mean test probability, calibration slice's Platt only */
} cw_backtest_subject;

typedef struct cw_backtest {
    cw_flag_rule flag;
    int horizon_days;
    int64_t test_from, test_to;
    int64_t data_end_day, unknown_rows; /* as cw_train_result */
    int rows_design, renewal_days;      /* as cw_train_opts */
    int n;
    cw_backtest_subject *subjects;
} cw_backtest;

/* Trains the models on the earlier snapshots, evaluates them and every
 * stored scorecard on the later ones (same rows, same labels), stores one
 * `backtests` row per subject and sets *out (caller frees with
 * cw_backtest_free). Errors (too few snapshots or churns) are on the
 * store. */
CW_API cw_status cw_backtest_run(cw_store *st, const cw_backtest_opts *o, cw_backtest **out);
/* The JSON stored for a subject (caller frees with free()), or NULL when
 * out of memory. */
CW_API char *cw_backtest_subject_json(const cw_backtest *b, const cw_backtest_subject *s);
/* Frees b; accepts NULL. */
CW_API void cw_backtest_free(cw_backtest *b);

#ifdef __cplusplus
}
#endif
#endif /* CHURNWATCH_H */
