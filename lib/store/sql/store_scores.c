/*
 * store/sql/store_scores.c — the scores and scorecards tables (migration 3),
 * over the statement seam (store/sql.h), for either backend. One prepared
 * statement per operation, kept for the life of a scoring run;
 * parameterised SQL only.
 */
#include "health/score_db.h"
#include "store/sql.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct score_db {
    cw_store *st;
    cw_stmt *status, *del, *put, *prev, *card, *scan, *latest;
    /* The day whose rows are known absent (none stored, or just deleted):
     * its scores go through a bulk insert (COPY on PostgreSQL). */
    int64_t fresh_day;
    int fresh;
    cw_bulk *bulk;
};

static cw_status fail(score_db *d, const char *what)
{
    return cw_store_set_error(d->st, CW_ERR_DB, "scores: %s: %s", what, cw_sql_errmsg(d->st));
}

static cw_status prep(score_db *d, const char *sql, unsigned flags, cw_stmt **q)
{
    if (cw_sql_prepare(d->st, sql, flags, q) != CW_SQL_OK)
        return fail(d, "prepare");
    return CW_OK;
}

/* The score of one account on one day when the day may hold rows: an
 * upsert, so that writing a row again replaces it. A day known empty is
 * written in bulk instead (cw_score_db_put). Persistent, so PostgreSQL
 * plans it once. */
static const char put_sql[] =
    "INSERT INTO scores(day, account, scorecard, score, colour, change, contrib)"
    " VALUES(?,?,?,?,?,?,?)"
    " ON CONFLICT(day, account) DO UPDATE SET scorecard = excluded.scorecard,"
    " score = excluded.score, colour = excluded.colour, change = excluded.change,"
    " contrib = excluded.contrib";

cw_status cw_score_db_open(cw_store *st, score_db **out)
{
    *out = NULL;
    score_db *d = calloc(1, sizeof *d);
    if (!d)
        return cw_store_set_error(st, CW_ERR_NOMEM,
                                  "scores: out of memory opening the score writer");
    d->st = st;
    cw_status s;
    if ((s = prep(d,
                  "SELECT count(*), coalesce(sum(CASE WHEN scorecard = ?2 THEN 1 ELSE 0 END), 0)"
                  " FROM scores WHERE day = ?1",
                  0, &d->status)) ||
        (s = prep(d, "DELETE FROM scores WHERE day = ?", 0, &d->del)) ||
        (s = prep(d, put_sql, CW_SQL_PERSISTENT, &d->put)) ||
        (s = prep(d,
                  "SELECT account, score FROM scores WHERE day ="
                  " (SELECT max(day) FROM scores WHERE day BETWEEN ?1 AND ?2)",
                  0, &d->prev)) ||
        (s = prep(d,
                  "INSERT INTO scorecards(hash, created_at, definition) VALUES(?,?,?)"
                  " ON CONFLICT(hash) DO NOTHING",
                  0, &d->card)) ||
        (s = prep(d,
                  "SELECT account, score, colour, change, scorecard FROM scores WHERE day = ?"
                  " ORDER BY account",
                  0, &d->scan)) ||
        (s = prep(d, "SELECT max(day) FROM scores WHERE day BETWEEN ? AND ?", 0, &d->latest))) {
        cw_score_db_close(d);
        return s;
    }
    *out = d;
    return CW_OK;
}

void cw_score_db_close(score_db *d)
{
    if (!d)
        return;
    cw_sql_bulk_close(d->bulk); /* after a failure: its rows are dropped */
    cw_sql_finalize(d->status);
    cw_sql_finalize(d->del);
    cw_sql_finalize(d->put);
    cw_sql_finalize(d->prev);
    cw_sql_finalize(d->card);
    cw_sql_finalize(d->scan);
    cw_sql_finalize(d->latest);
    free(d);
}

cw_status cw_score_db_day_status(score_db *d, int64_t day, const char *hash, int64_t *rows,
                                 int64_t *same)
{
    cw_stmt *q = d->status;
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_text(q, 2, hash, -1);
    if (cw_sql_step(q) != CW_SQL_ROW) {
        cw_status s = fail(d, "reading a day's scores");
        cw_sql_reset(q);
        return s;
    }
    *rows = cw_sql_col_i64(q, 0);
    *same = cw_sql_col_i64(q, 1);
    cw_sql_reset(q);
    d->fresh = *rows == 0;
    d->fresh_day = day;
    return CW_OK;
}

cw_status cw_score_db_delete_day(score_db *d, int64_t day)
{
    cw_sql_reset(d->del);
    cw_sql_bind_i64(d->del, 1, day);
    int rc = cw_sql_step(d->del);
    cw_status s = rc == CW_SQL_DONE ? CW_OK : fail(d, "deleting a day's scores");
    cw_sql_reset(d->del);
    d->fresh = s == CW_OK;
    d->fresh_day = day;
    return s;
}

cw_status cw_score_db_flush(score_db *d)
{
    cw_bulk *b = d->bulk;
    d->bulk = NULL;
    return cw_sql_bulk_close(b) == CW_SQL_OK ? CW_OK : fail(d, "storing scores");
}

/* One row of a fresh day. */
static cw_status put_bulk(score_db *d, int64_t day, int64_t account, const char *hash, double score,
                          int colour, double change, const char *contrib, size_t contrib_len)
{
    if (!d->bulk &&
        cw_sql_bulk_open(d->st, "scores", "day,account,scorecard,score,colour,change,contrib", 7,
                         &d->bulk) != CW_SQL_OK) {
        d->bulk = NULL;
        return fail(d, "storing a score");
    }
    cw_bulk *b = d->bulk;
    cw_sql_bulk_i64(b, day);
    cw_sql_bulk_i64(b, account);
    cw_sql_bulk_text(b, hash, -1);
    cw_sql_bulk_double(b, score);
    cw_sql_bulk_i64(b, colour);
    if (change == change)
        cw_sql_bulk_double(b, change);
    else
        cw_sql_bulk_null(b);
    cw_sql_bulk_text(b, contrib, (int)contrib_len);
    return cw_sql_bulk_row(b) == CW_SQL_OK ? CW_OK : fail(d, "storing a score");
}

cw_status cw_score_db_put(score_db *d, int64_t day, int64_t account, const char *hash, double score,
                          int colour, double change, const char *contrib, size_t contrib_len)
{
    if (d->fresh && day == d->fresh_day)
        return put_bulk(d, day, account, hash, score, colour, change, contrib, contrib_len);
    cw_stmt *q = d->put;
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_i64(q, 2, account);
    cw_sql_bind_text(q, 3, hash, -1);
    cw_sql_bind_double(q, 4, score);
    cw_sql_bind_i64(q, 5, colour);
    if (change == change)
        cw_sql_bind_double(q, 6, change);
    else
        cw_sql_bind_null(q, 6);
    cw_sql_bind_text(q, 7, contrib, (int)contrib_len);
    int rc = cw_sql_step(q);
    cw_status s = rc == CW_SQL_DONE ? CW_OK : fail(d, "storing a score");
    cw_sql_reset(q);
    return s;
}

cw_status cw_score_db_prev(score_db *d, int64_t lo, int64_t hi, double *prev, int64_t nids)
{
    cw_stmt *q = d->prev;
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int64_t a = cw_sql_col_i64(q, 0);
        if (a >= 0 && a < nids)
            prev[a] = cw_sql_col_double(q, 1);
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : fail(d, "reading earlier scores");
    cw_sql_reset(q);
    return s;
}

cw_status cw_score_db_put_scorecard(score_db *d, const char *hash, const char *definition,
                                    int64_t now)
{
    cw_stmt *q = d->card;
    cw_sql_reset(q);
    cw_sql_bind_text(q, 1, hash, -1);
    cw_sql_bind_i64(q, 2, now);
    cw_sql_bind_text(q, 3, definition, -1);
    int rc = cw_sql_step(q);
    cw_status s = rc == CW_SQL_DONE ? CW_OK : fail(d, "storing the scorecard");
    cw_sql_reset(q);
    return s;
}

cw_status cw_score_db_scan_day(score_db *d, int64_t day,
                               cw_status (*fn)(int64_t account, double score, int colour,
                                               double change, const char *hash, void *ud),
                               void *ud)
{
    cw_stmt *q = d->scan;
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, day);
    int rc = CW_SQL_DONE;
    cw_status s = CW_OK;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        double change =
            cw_sql_col_type(q, 3) == CW_SQL_NULL ? (double)NAN : cw_sql_col_double(q, 3);
        s = fn(cw_sql_col_i64(q, 0), cw_sql_col_double(q, 1), cw_sql_col_int(q, 2), change,
               (const char *)cw_sql_col_text(q, 4), ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = fail(d, "reading scores");
    cw_sql_reset(q);
    return s;
}

cw_status cw_score_db_latest_day(score_db *d, int64_t lo, int64_t hi, int64_t *day)
{
    cw_stmt *q = d->latest;
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, lo);
    cw_sql_bind_i64(q, 2, hi);
    if (cw_sql_step(q) != CW_SQL_ROW) {
        cw_status s = fail(d, "reading the latest scored day");
        cw_sql_reset(q);
        return s;
    }
    *day = cw_sql_col_type(q, 0) == CW_SQL_NULL ? -1 : cw_sql_col_i64(q, 0);
    cw_sql_reset(q);
    return CW_OK;
}
