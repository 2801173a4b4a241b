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
