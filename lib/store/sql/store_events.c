/*
 * store/sql/store_events.c — product events as stored: event names, and one
 * row per account-day (event_days) with that day's rollup cells and the
 * sorted 63-bit identity hashes of its events.
 *
 * Product events are not stored one row per event: ingest rolls them up to
 * per (user, event, day) counts and value totals — all the metrics engine
 * reads — and stores one row per account-day holding that day's cells and
 * the identity hashes of its events (their event_id, or their content when
 * they have none). Ingesting or de-duplicating a batch then costs one lookup
 * and one write per account-day instead of one B-tree operation per event
 * or per cell.
 */
#include "core/util.h"
#include "store/sql/store_int.h"

#include <stdlib.h>

cw_status cw_op_put_event_name(cw_store *st, const char *name, size_t len, int64_t *id)
{
    cw_status s = cw_sql_lazy(st, &st->q[CW_Q_EVNAME_INS],
                              "INSERT INTO event_names(name) VALUES(?) RETURNING id", "event name");
    if (s != CW_OK)
        return s;
    cw_sql_bind_text(st->q[CW_Q_EVNAME_INS], 1, name, (int)len);
    return cw_sql_step_id(st, st->q[CW_Q_EVNAME_INS], id, "event name");
}

/* The row stays current (its blobs borrowed) until the next call. */
cw_status cw_op_load_event_day(cw_store *st, int64_t account, int64_t day, int64_t *events,
                               const unsigned char **cells, size_t *ncells,
                               const unsigned char **hashes, size_t *nhashes)
{
    *events = 0;
    *cells = *hashes = NULL;
    *ncells = *nhashes = 0;
    cw_status s = cw_sql_lazy(st, &st->q[CW_Q_DAY_GET],
                              "SELECT events, cells, hashes FROM event_days"
                              " WHERE account=? AND day=?",
                              "event day");
    if (s != CW_OK)
        return s;
    cw_stmt *q = st->q[CW_Q_DAY_GET];
    cw_sql_bind_i64(q, 1, account);
    cw_sql_bind_i64(q, 2, day);
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW) {
        *events = cw_sql_col_i64(q, 0);
        *cells = cw_sql_col_blob(q, 1);
        *ncells = (size_t)cw_sql_col_bytes(q, 1) / CW_CELL_BYTES;
        *hashes = cw_sql_col_blob(q, 2);
        *nhashes = (size_t)cw_sql_col_bytes(q, 2) / 8;
        return CW_OK;
    }
    s = rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "event day");
    cw_sql_reset(q);
    return s;
}

cw_status cw_op_save_event_day(cw_store *st, int64_t account, int64_t day, int64_t events,
                               const unsigned char *cells, size_t ncells,
                               const unsigned char *hashes, size_t nhashes)
{
    if (st->q[CW_Q_DAY_GET])
        cw_sql_reset(st->q[CW_Q_DAY_GET]); /* the borrowed blobs end here */
    if (st->day_bulk) {                    /* save_event_days_begin: held back */
        cw_bulk *b = st->day_bulk;
        cw_sql_bulk_i64(b, account);
        cw_sql_bulk_i64(b, day);
        cw_sql_bulk_i64(b, events);
        cw_sql_bulk_blob(b, cells, ncells * CW_CELL_BYTES);
        cw_sql_bulk_blob(b, hashes, nhashes * 8);
        return cw_sql_bulk_row(b) == CW_SQL_OK ? CW_OK : cw_sql_fail(st, "event days");
    }
    cw_status s = cw_sql_lazy(st, &st->q[CW_Q_DAY_PUT],
                              "INSERT INTO event_days(account,day,events,cells,hashes)"
                              " VALUES(?,?,?,?,?) ON CONFLICT(account,day) DO UPDATE SET"
                              " events=excluded.events, cells=excluded.cells,"
                              " hashes=excluded.hashes",
                              "event day");
    if (s != CW_OK)
        return s;
    cw_stmt *q = st->q[CW_Q_DAY_PUT];
    cw_sql_bind_i64(q, 1, account);
    cw_sql_bind_i64(q, 2, day);
    cw_sql_bind_i64(q, 3, events);
    cw_sql_bind_blob(q, 4, cells, ncells * CW_CELL_BYTES);
    cw_sql_bind_blob(q, 5, hashes, nhashes * 8);
    return cw_sql_step_done(st, q, "event day");
}

/* ---- a batch of account-days (ingest's flushes) ----
 *
 * On PostgreSQL every statement is a round trip to the server, and a
 * lookup and an upsert per account-day made ingest wait on the server
 * twice per account-day (docs/benchmarks.md, "SQLite vs PostgreSQL"). A
 * batch is read and written in a handful of statements instead: its keys
 * go into a temporary table by COPY and one join reads the stored rows;
 * the new rows go into a second temporary table by COPY and one
 * INSERT … SELECT … ON CONFLICT writes them. Both temporary tables live in
 * the caller's transaction (created when missing, emptied per batch), so a
 * batch that fails is rolled back whole, as before. SQLite keeps its
 * per-row path: there a lookup is a function call, not a round trip. */

#define DAY_KEYS_DDL                                                                               \
    "CREATE TEMP TABLE IF NOT EXISTS cw_day_keys(account BIGINT NOT NULL, day BIGINT NOT NULL);"   \
    " TRUNCATE cw_day_keys"
#define DAY_IN_DDL                                                                                 \
    "CREATE TEMP TABLE IF NOT EXISTS cw_day_in(account BIGINT NOT NULL, day BIGINT NOT NULL,"      \
    " events BIGINT NOT NULL, cells BYTEA, hashes BYTEA); TRUNCATE cw_day_in"

cw_status cw_op_load_event_days(cw_store *st, const int64_t *keys, size_t n,
                                cw_status (*fn)(int64_t, int64_t, int64_t, const unsigned char *,
                                                size_t, const unsigned char *, size_t, void *),
                                void *ud)
{
    cw_status s = CW_OK;
    if (cw_sql_dialect(st) != CW_DIALECT_PG) {
        for (size_t i = 0; i < n && s == CW_OK; i++) {
            const unsigned char *cells, *hashes;
            size_t nc, nh;
            int64_t events;
            s = cw_op_load_event_day(st, keys[2 * i], keys[2 * i + 1], &events, &cells, &nc,
                                     &hashes, &nh);
            if (s == CW_OK)
                s = fn(keys[2 * i], keys[2 * i + 1], events, cells, nc, hashes, nh, ud);
        }
        return s;
    }
    if (n == 0)
        return CW_OK;
    if ((s = cw_store_exec(st, DAY_KEYS_DDL)) != CW_OK)
        return s;
    cw_bulk *b;
    if (cw_sql_bulk_open(st, "cw_day_keys", "account,day", 2, &b) != CW_SQL_OK)
        return cw_sql_fail(st, "event days");
    int rc = CW_SQL_OK;
    for (size_t i = 0; i < n && rc == CW_SQL_OK; i++) {
        cw_sql_bulk_i64(b, keys[2 * i]);
        cw_sql_bulk_i64(b, keys[2 * i + 1]);
        rc = cw_sql_bulk_row(b);
    }
    int crc = cw_sql_bulk_close(b);
    if (rc != CW_SQL_OK || crc != CW_SQL_OK)
        return cw_sql_fail(st, "event days");
    cw_stmt *q;
    if ((s = cw_sql_prep(st,
                         "SELECT e.account, e.day, e.events, e.cells, e.hashes"
                         " FROM cw_day_keys k JOIN event_days e"
                         " ON e.account = k.account AND e.day = k.day ORDER BY e.account, e.day",
                         0, &q, "event days")) != CW_OK)
        return s;
    /* Both sides in (account, day) order: a merge. */
    size_t i = 0;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int64_t a = cw_sql_col_i64(q, 0), d = cw_sql_col_i64(q, 1);
        for (;
             s == CW_OK && i < n && (keys[2 * i] < a || (keys[2 * i] == a && keys[2 * i + 1] < d));
             i++)
            s = fn(keys[2 * i], keys[2 * i + 1], 0, NULL, 0, NULL, 0, ud);
        if (s != CW_OK)
            break;
        if (i == n || keys[2 * i] != a || keys[2 * i + 1] != d) {
            s = cw_store_set_error(st, CW_ERR_DB, "event days: row (%lld, %lld) was not asked for",
                                   (long long)a, (long long)d);
            break;
        }
        s = fn(a, d, cw_sql_col_i64(q, 2), cw_sql_col_blob(q, 3),
               (size_t)cw_sql_col_bytes(q, 3) / CW_CELL_BYTES, cw_sql_col_blob(q, 4),
               (size_t)cw_sql_col_bytes(q, 4) / 8, ud);
        i++;
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "event days");
    for (; s == CW_OK && i < n; i++)
        s = fn(keys[2 * i], keys[2 * i + 1], 0, NULL, 0, NULL, 0, ud);
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_save_event_days_begin(cw_store *st)
{
    if (cw_sql_dialect(st) != CW_DIALECT_PG || st->day_bulk)
        return CW_OK;
    cw_status s = cw_store_exec(st, DAY_IN_DDL);
    if (s == CW_OK && cw_sql_bulk_open(st, "cw_day_in", "account,day,events,cells,hashes", 5,
                                       &st->day_bulk) != CW_SQL_OK) {
        st->day_bulk = NULL;
        s = cw_sql_fail(st, "event days");
    }
    return s;
}

cw_status cw_op_save_event_days_end(cw_store *st)
{
    if (!st->day_bulk)
        return CW_OK;
    int rc = cw_sql_bulk_close(st->day_bulk);
    st->day_bulk = NULL;
    if (rc != CW_SQL_OK)
        return cw_sql_fail(st, "event days");
    cw_status s = cw_sql_lazy(st, &st->q[CW_Q_DAYS_UPSERT],
                              "INSERT INTO event_days(account,day,events,cells,hashes)"
                              " SELECT account, day, events, cells, hashes FROM cw_day_in"
                              " ON CONFLICT(account,day) DO UPDATE SET"
                              " events=excluded.events, cells=excluded.cells,"
                              " hashes=excluded.hashes",
                              "event days");
    if (s == CW_OK)
        s = cw_sql_step_done(st, st->q[CW_Q_DAYS_UPSERT], "event days");
    return s;
}

/* Decodes the cells of blob into the handle's scratch. */
static cw_status decode_cells(cw_store *st, const unsigned char *blob, size_t n)
{
    if (n > st->scan_cap) {
        size_t cap = n * 2;
        cw_event_cell *c = realloc(st->scan_cells, cap * sizeof *c);
        if (!c)
            return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory reading event days");
        st->scan_cells = c;
        st->scan_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        cw_cell_decode(blob + i * CW_CELL_BYTES, &st->scan_cells[i]);
    return CW_OK;
}

cw_status cw_op_scan_event_days(cw_store *st, int64_t lo, int64_t hi,
                                cw_status (*fn)(int64_t, int64_t, const cw_event_cell *, size_t,
                                                void *),
                                void *ud)
{
    cw_stmt *q = st->q[CW_Q_DAY_SCAN];
    if (!q && cw_sql_prep(st,
                          "SELECT account, day, cells FROM event_days"
                          " WHERE account BETWEEN ? AND ? ORDER BY account, day",
                          CW_SQL_STREAM, &st->q[CW_Q_DAY_SCAN], "event scan") != CW_OK)
        return CW_ERR_DB;
    q = st->q[CW_Q_DAY_SCAN];
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        size_t n = (size_t)cw_sql_col_bytes(q, 2) / CW_CELL_BYTES;
        if ((s = decode_cells(st, cw_sql_col_blob(q, 2), n)) != CW_OK)
            break;
        s = fn(cw_sql_col_i64(q, 0), cw_sql_col_i64(q, 1), st->scan_cells, n, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "event scan");
    cw_sql_reset(q);
    return s;
}
