/*
 * store/sql/store_metrics.c — metric snapshots (docs/metrics.md): one row
 * per snapshot day, and per account and per user the metric vectors as
 * blobs of little-endian float64 (NaN = missing), whose names are the
 * snapshot's catalog.
 */
#include "core/util.h"
#include "store/sql/store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Encodes n doubles as little-endian float64 into the store's scratch. */
static const unsigned char *pack(cw_store *st, int slot, const double *v, int n)
{
    size_t need = (size_t)n * 8;
    if (need > st->pack_cap[slot]) {
        unsigned char *p = realloc(st->pack[slot], need);
        if (!p)
            return NULL;
        st->pack[slot] = p;
        st->pack_cap[slot] = need;
    }
    for (int i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], 8);
        cw_store_le64(st->pack[slot] + 8 * i, bits);
    }
    return st->pack[slot];
}

/* Decodes a float64 blob into out[n] (NaN past the blob's end). */
static void unpack(const unsigned char *b, int bytes, double *out, int n)
{
    int have = b ? bytes / 8 : 0;
    for (int i = 0; i < n; i++) {
        if (i < have) {
            uint64_t bits = cw_load_le64(b + 8 * i);
            memcpy(&out[i], &bits, 8);
        } else {
            out[i] = (double)NAN;
        }
    }
}

/* Decodes column c of q into out[n]. */
static void unpack_col(cw_stmt *q, int c, double *out, int n)
{
    unpack(cw_sql_col_blob(q, c), cw_sql_col_bytes(q, c), out, n);
}

cw_status cw_op_snapshot_exists(cw_store *st, int64_t day, int *exists)
{
    cw_stmt **q = &st->q[CW_Q_SNAP_EXISTS];
    cw_status s = cw_sql_lazy(st, q, "SELECT 1 FROM metric_snapshots WHERE day=?", "snapshot");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, day);
    int rc = cw_sql_step(*q);
    *exists = rc == CW_SQL_ROW;
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "snapshot");
    cw_sql_reset(*q);
    return s;
}

/* ---- bulk writes of a fresh day's rows ---- */

enum { BULK_AM, BULK_PEERS, BULK_UM };

static const struct {
    const char *table, *cols;
    int ncols;
} bulk_def[3] = {
    {"account_metrics", "day,account,vals,trend", 4},
    {"account_peers", "peers,day,account", 3},
    {"user_metrics", "day,user,account,vals", 4},
};

/* Whether this transaction deleted day's rows (so every row put for it is
 * new). The latest day marked is checked first. */
static int is_fresh(cw_store *st, int64_t day)
{
    for (size_t i = st->nfresh; i-- > 0;)
        if (st->fresh[i] == day)
            return 1;
    return 0;
}

static cw_status mark_fresh(cw_store *st, int64_t day)
{
    if (!st->in_txn || is_fresh(st, day))
        return CW_OK;
    if (st->nfresh == st->fresh_cap) {
        size_t cap = st->fresh_cap ? st->fresh_cap * 2 : 64;
        int64_t *p = realloc(st->fresh, sizeof *p * cap);
        if (!p)
            return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory");
        st->fresh = p;
        st->fresh_cap = cap;
    }
    st->fresh[st->nfresh++] = day;
    return CW_OK;
}

/* The open bulk insert k, opened on first use. */
static cw_bulk *bulk(cw_store *st, int k)
{
    if (!st->bulk[k] && cw_sql_bulk_open(st, bulk_def[k].table, bulk_def[k].cols, bulk_def[k].ncols,
                                         &st->bulk[k]) != CW_SQL_OK) {
        cw_sql_fail(st, bulk_def[k].table);
        st->bulk[k] = NULL;
    }
    return st->bulk[k];
}

/* Ends row k's bulk row; the error names the table. */
static cw_status bulk_row(cw_store *st, int k)
{
    return cw_sql_bulk_row(st->bulk[k]) == CW_SQL_OK ? CW_OK : cw_sql_fail(st, bulk_def[k].table);
}

cw_status cw_store_bulk_end(cw_store *st)
{
    cw_status s = CW_OK;
    for (int k = 0; k < 3; k++) {
        if (st->bulk[k] && cw_sql_bulk_close(st->bulk[k]) != CW_SQL_OK && s == CW_OK)
            s = cw_sql_fail(st, bulk_def[k].table);
        st->bulk[k] = NULL;
    }
    /* Left open only by a failed ingest batch, which is rolled back. */
    if (st->day_bulk && cw_sql_bulk_close(st->day_bulk) != CW_SQL_OK && s == CW_OK)
        s = cw_sql_fail(st, "event days");
    st->day_bulk = NULL;
    st->nfresh = 0;
    return s;
}

/* Inside a transaction the day is then fresh: its rows are written with
 * bulk inserts until COMMIT or ROLLBACK. */
cw_status cw_op_snapshot_delete(cw_store *st, int64_t day)
{
    static const char *sql[] = {
        "DELETE FROM metric_snapshots WHERE day=?", "DELETE FROM account_metrics WHERE day=?",
        "DELETE FROM user_metrics WHERE day=?", "DELETE FROM account_peers WHERE day=?"};
    for (int i = 0; i < 4; i++) {
        cw_stmt **q = &st->q[CW_Q_SNAP_DEL + i];
        cw_status s = cw_sql_lazy(st, q, sql[i], "snapshot delete");
        if (s != CW_OK)
            return s;
        cw_sql_bind_i64(*q, 1, day);
        if ((s = cw_sql_step_done(st, *q, "snapshot delete")) != CW_OK)
            return s;
    }
    return mark_fresh(st, day);
}

cw_status cw_op_snapshot_put(cw_store *st, int64_t day, int window_days, const char *catalog,
                             int64_t accounts, int64_t users)
{
    cw_stmt **q = &st->q[CW_Q_SNAP_PUT];
    cw_status s = cw_sql_lazy(st, q,
                              "INSERT INTO metric_snapshots(day,window_days,computed_at,catalog,"
                              "accounts,users) VALUES(?,?,?,?,?,?) ON CONFLICT(day) DO UPDATE SET"
                              " window_days=excluded.window_days,"
                              " computed_at=excluded.computed_at, catalog=excluded.catalog,"
                              " accounts=excluded.accounts, users=excluded.users",
                              "snapshot");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, day);
    cw_sql_bind_i64(*q, 2, window_days);
    cw_sql_bind_i64(*q, 3, (int64_t)time(NULL));
    cw_sql_bind_text(*q, 4, catalog, -1);
    cw_sql_bind_i64(*q, 5, accounts);
    cw_sql_bind_i64(*q, 6, users);
    return cw_sql_step_done(st, *q, "snapshot");
}

cw_status cw_op_account_metrics_put(cw_store *st, int64_t day, int64_t account, const double *vals,
                                    const double *trend, int n)
{
    if (is_fresh(st, day)) {
        const unsigned char *a = pack(st, 0, vals, n), *b = trend ? pack(st, 1, trend, n) : NULL;
        if (!a || (trend && !b))
            return cw_store_set_error(st, CW_ERR_NOMEM,
                                      "store: out of memory saving account metrics");
        cw_bulk *k = bulk(st, BULK_AM);
        if (!k)
            return CW_ERR_DB;
        cw_sql_bulk_i64(k, day);
        cw_sql_bulk_i64(k, account);
        cw_sql_bulk_blob(k, a, (size_t)n * 8);
        if (b)
            cw_sql_bulk_blob(k, b, (size_t)n * 8);
        else
            cw_sql_bulk_null(k);
        return bulk_row(st, BULK_AM);
    }
    cw_stmt **q = &st->q[CW_Q_AM_PUT];
    cw_status s = cw_sql_lazy(st, q,
                              "INSERT INTO account_metrics(day,account,vals,trend) VALUES(?,?,?,?)"
                              " ON CONFLICT(day,account) DO UPDATE SET vals=excluded.vals,"
                              " trend=excluded.trend",
                              "account metrics");
    if (s != CW_OK)
        return s;
    const unsigned char *a = pack(st, 0, vals, n), *b = trend ? pack(st, 1, trend, n) : NULL;
    if (!a || (trend && !b))
        return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving account metrics");
    cw_sql_bind_i64(*q, 1, day);
    cw_sql_bind_i64(*q, 2, account);
    cw_sql_bind_blob(*q, 3, a, (size_t)n * 8);
    if (b)
        cw_sql_bind_blob(*q, 4, b, (size_t)n * 8);
    else
        cw_sql_bind_null(*q, 4);
    return cw_sql_step_done(st, *q, "account metrics");
}

cw_status cw_op_account_metrics_get(cw_store *st, int64_t day, int64_t account, double *vals, int n,
                                    int *found)
{
    cw_stmt **q = &st->q[CW_Q_AM_GET];
    cw_status s = cw_sql_lazy(st, q, "SELECT vals FROM account_metrics WHERE day=? AND account=?",
                              "account metrics");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, day);
    cw_sql_bind_i64(*q, 2, account);
    int rc = cw_sql_step(*q);
    *found = rc == CW_SQL_ROW;
    if (rc == CW_SQL_ROW)
        unpack_col(*q, 0, vals, n);
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "account metrics");
    cw_sql_reset(*q);
    return s;
}

cw_status cw_op_account_peers_put(cw_store *st, int64_t day, int64_t account, const double *pcts,
                                  int n)
{
    if (is_fresh(st, day)) {
        const unsigned char *a = pack(st, 0, pcts, n);
        if (!a)
            return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving peer metrics");
        cw_bulk *k = bulk(st, BULK_PEERS);
        if (!k)
            return CW_ERR_DB;
        cw_sql_bulk_blob(k, a, (size_t)n * 8);
        cw_sql_bulk_i64(k, day);
        cw_sql_bulk_i64(k, account);
        return bulk_row(st, BULK_PEERS);
    }
    cw_stmt **q = &st->q[CW_Q_PEERS_PUT];
    cw_status s = cw_sql_lazy(st, q,
                              "INSERT INTO account_peers(peers, day, account) VALUES(?,?,?)"
                              " ON CONFLICT(day,account) DO UPDATE SET peers=excluded.peers",
                              "peers");
    if (s != CW_OK)
        return s;
    const unsigned char *a = pack(st, 0, pcts, n);
    if (!a)
        return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving peer metrics");
    cw_sql_bind_blob(*q, 1, a, (size_t)n * 8);
    cw_sql_bind_i64(*q, 2, day);
    cw_sql_bind_i64(*q, 3, account);
    return cw_sql_step_done(st, *q, "peers");
}

/* Calls fn for each row of q (day, account, vals, trend, peers). */
static cw_status account_rows(cw_store *st, cw_stmt *q,
                              cw_status (*fn)(int64_t, int64_t, const double *, const double *,
                                              const double *, int, void *),
                              void *ud)
{
    int n = 0;
    double *buf = NULL;
    cw_status s = CW_OK;
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int len = cw_sql_col_bytes(q, 2) / 8;
        if (len > n) {
            double *nb = realloc(buf, sizeof *nb * 3 * (size_t)len);
            if (!nb) {
                s = cw_store_set_error(st, CW_ERR_NOMEM,
                                       "store: out of memory reading account metrics");
                break;
            }
            buf = nb;
            n = len;
        }
        unpack_col(q, 2, buf, len);
        int ht = cw_sql_col_type(q, 3) != CW_SQL_NULL, hp = cw_sql_col_type(q, 4) != CW_SQL_NULL;
        unpack_col(q, 3, buf + len, len);
        unpack_col(q, 4, buf + 2 * len, len);
        s = fn(cw_sql_col_i64(q, 0), cw_sql_col_i64(q, 1), buf, ht ? buf + len : NULL,
               hp ? buf + 2 * len : NULL, len, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "account metrics");
    free(buf);
    return s;
}

cw_status cw_op_account_metrics_scan(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                     cw_status (*fn)(int64_t, int64_t, const double *,
                                                     const double *, const double *, int, void *),
                                     void *ud)
{
    cw_stmt *q;
    const char *sql =
        account ? "SELECT m.day, m.account, m.vals, m.trend, p.peers FROM account_metrics m"
                  " LEFT JOIN account_peers p ON p.day = m.day AND p.account = m.account"
                  " WHERE m.account=?3 AND m.day BETWEEN ?1 AND ?2 ORDER BY m.day"
                : "SELECT m.day, m.account, m.vals, m.trend, p.peers FROM account_metrics m"
                  " LEFT JOIN account_peers p ON p.day = m.day AND p.account = m.account"
                  " WHERE m.day BETWEEN ?1 AND ?2 ORDER BY m.day, m.account";
    cw_status s = cw_sql_prep(st, sql, CW_SQL_STREAM, &q, "account metrics");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    if (account)
        cw_sql_bind_i64(q, 3, account);
    s = account_rows(st, q, fn, ud);
    cw_sql_finalize(q);
    return s;
}

/* No join with account_peers: the peers pass reads a day's rows while it
 * writes that table (on PostgreSQL a LEFT JOIN planned on statistics taken
 * when the tables were empty went quadratic: docs/benchmarks.md). */
cw_status cw_op_account_metrics_day(cw_store *st, int64_t day,
                                    cw_status (*fn)(int64_t, int64_t, const double *,
                                                    const double *, const double *, int, void *),
                                    void *ud)
{
    cw_stmt *q;
    cw_status s = cw_sql_prep(st,
                              "SELECT day, account, vals, NULL, NULL FROM account_metrics"
                              " WHERE day = ? ORDER BY account",
                              CW_SQL_STREAM, &q, "account metrics");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, day);
    s = account_rows(st, q, fn, ud);
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_user_metrics_put(cw_store *st, int64_t day, int64_t user, int64_t account,
                                 const double *vals, int n)
{
    if (is_fresh(st, day)) {
        const unsigned char *a = pack(st, 0, vals, n);
        if (!a)
            return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving user metrics");
        cw_bulk *k = bulk(st, BULK_UM);
        if (!k)
            return CW_ERR_DB;
        cw_sql_bulk_i64(k, day);
        cw_sql_bulk_i64(k, user);
        cw_sql_bulk_i64(k, account);
        cw_sql_bulk_blob(k, a, (size_t)n * 8);
        return bulk_row(st, BULK_UM);
    }
    /* On PostgreSQL the key has account too (the table is partitioned by
     * it: store/pg/pg_ddl.c); a user belongs to one account, so the rows
     * a key finds are the same. */
    const char *sql = cw_sql_dialect(st) == CW_DIALECT_PG
                          ? "INSERT INTO user_metrics(day,\"user\",account,vals) VALUES(?,?,?,?)"
                            " ON CONFLICT(day,\"user\",account) DO UPDATE SET vals=excluded.vals"
                          : "INSERT INTO user_metrics(day,\"user\",account,vals) VALUES(?,?,?,?)"
                            " ON CONFLICT(day,\"user\") DO UPDATE SET account=excluded.account,"
                            " vals=excluded.vals";
    cw_stmt **q = &st->q[CW_Q_UM_PUT];
    cw_status s = cw_sql_lazy(st, q, sql, "user metrics");
    if (s != CW_OK)
        return s;
    const unsigned char *a = pack(st, 0, vals, n);
    if (!a)
        return cw_store_set_error(st, CW_ERR_NOMEM, "store: out of memory saving user metrics");
    cw_sql_bind_i64(*q, 1, day);
    cw_sql_bind_i64(*q, 2, user);
    cw_sql_bind_i64(*q, 3, account);
    cw_sql_bind_blob(*q, 4, a, (size_t)n * 8);
    return cw_sql_step_done(st, *q, "user metrics");
}

cw_status cw_op_user_metrics_scan(cw_store *st, int64_t lo, int64_t hi, int64_t account,
                                  cw_status (*fn)(int64_t, int64_t, int64_t, const double *, int,
                                                  void *),
                                  void *ud)
{
    cw_stmt *q;
    const char *sql = account ? "SELECT day, \"user\", account, vals FROM user_metrics"
                                " WHERE account=?3 AND day BETWEEN ?1 AND ?2 ORDER BY day, \"user\""
                              : "SELECT day, \"user\", account, vals FROM user_metrics"
                                " WHERE day BETWEEN ?1 AND ?2 ORDER BY day, \"user\"";
    cw_status s = cw_sql_prep(st, sql, CW_SQL_STREAM, &q, "user metrics");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    if (account)
        cw_sql_bind_i64(q, 3, account);
    double buf[256];
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int len = cw_sql_col_bytes(q, 3) / 8;
        if (len > 256)
            len = 256;
        unpack_col(q, 3, buf, len);
        s = fn(cw_sql_col_i64(q, 0), cw_sql_col_i64(q, 1), cw_sql_col_i64(q, 2), buf, len, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "user metrics");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_snapshot_catalog(cw_store *st, int64_t day, char *buf, size_t n, int *found)
{
    cw_stmt *q;
    cw_status s =
        cw_sql_prep(st, "SELECT catalog FROM metric_snapshots WHERE day=?", 0, &q, "snapshots");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, day);
    int rc = cw_sql_step(q);
    *found = rc == CW_SQL_ROW;
    if (rc == CW_SQL_ROW)
        snprintf(buf, n, "%s", (const char *)cw_sql_col_text(q, 0));
    else if (rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "snapshots");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_op_snapshot_list(cw_store *st, int64_t lo, int64_t hi,
                              cw_status (*fn)(int64_t, void *), void *ud)
{
    cw_stmt *q;
    cw_status s =
        cw_sql_prep(st, "SELECT day FROM metric_snapshots WHERE day BETWEEN ? AND ? ORDER BY day",
                    0, &q, "snapshots");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = fn(cw_sql_col_i64(q, 0), ud);
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "snapshots");
    cw_sql_finalize(q);
    return s;
}
