/*
 * store/sqlite/sqlite_scores.c — the scores and scorecards tables of the SQLite
 * store (migration 3). One prepared statement per operation, kept for the
 * life of a scoring run; parameterised SQL only.
 */
#include "health/score_db.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct score_db {
    cw_store *st;
    sqlite3 *db;
    sqlite3_stmt *status, *del, *put, *prev, *card, *scan, *latest;
};

static cw_status fail(score_db *d, const char *what)
{
    return cw_store_set_error(d->st, CW_ERR_DB, "scores: %s: %s", what, sqlite3_errmsg(d->db));
}

static cw_status prep(score_db *d, const char *sql, sqlite3_stmt **q)
{
    if (sqlite3_prepare_v2(d->db, sql, -1, q, NULL) != SQLITE_OK)
        return fail(d, "prepare");
    return CW_OK;
}

cw_status cw_score_db_open(cw_store *st, score_db **out)
{
    *out = NULL;
    score_db *d = calloc(1, sizeof *d);
    if (!d)
        return cw_store_set_error(st, CW_ERR_NOMEM,
                                  "scores: out of memory opening the score writer");
    d->st = st;
    d->db = cw_store_sqlite(st);
    cw_status s;
    if ((s = prep(d, "SELECT count(*), coalesce(sum(scorecard = ?2), 0) FROM scores WHERE day = ?1",
                  &d->status)) ||
        (s = prep(d, "DELETE FROM scores WHERE day = ?", &d->del)) ||
        (s = prep(d,
                  "INSERT INTO scores(day, account, scorecard, score, colour, change, contrib)"
                  " VALUES(?,?,?,?,?,?,?)",
                  &d->put)) ||
        (s = prep(d,
                  "SELECT account, score FROM scores WHERE day ="
                  " (SELECT max(day) FROM scores WHERE day BETWEEN ?1 AND ?2)",
                  &d->prev)) ||
        (s = prep(d,
                  "INSERT INTO scorecards(hash, created_at, definition) VALUES(?,?,?)"
                  " ON CONFLICT(hash) DO NOTHING",
                  &d->card)) ||
        (s = prep(d,
                  "SELECT account, score, colour, change, scorecard FROM scores WHERE day = ?"
                  " ORDER BY account",
                  &d->scan)) ||
        (s = prep(d, "SELECT max(day) FROM scores WHERE day BETWEEN ? AND ?", &d->latest))) {
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
    sqlite3_finalize(d->status);
    sqlite3_finalize(d->del);
    sqlite3_finalize(d->put);
    sqlite3_finalize(d->prev);
    sqlite3_finalize(d->card);
    sqlite3_finalize(d->scan);
    sqlite3_finalize(d->latest);
    free(d);
}

cw_status cw_score_db_day_status(score_db *d, int64_t day, const char *hash, int64_t *rows,
                                 int64_t *same)
{
    sqlite3_stmt *q = d->status;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW)
        return fail(d, "reading a day's scores");
    *rows = sqlite3_column_int64(q, 0);
    *same = sqlite3_column_int64(q, 1);
    sqlite3_reset(q);
    return CW_OK;
}

cw_status cw_score_db_delete_day(score_db *d, int64_t day)
{
    sqlite3_reset(d->del);
    sqlite3_bind_int64(d->del, 1, day);
    int rc = sqlite3_step(d->del);
    sqlite3_reset(d->del);
    return rc == SQLITE_DONE ? CW_OK : fail(d, "deleting a day's scores");
}

cw_status cw_score_db_put(score_db *d, int64_t day, int64_t account, const char *hash, double score,
                          int colour, double change, const char *contrib, size_t contrib_len)
{
    sqlite3_stmt *q = d->put;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, account);
    sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 4, score);
    sqlite3_bind_int(q, 5, colour);
    if (change == change)
        sqlite3_bind_double(q, 6, change);
    else
        sqlite3_bind_null(q, 6);
    sqlite3_bind_text(q, 7, contrib, (int)contrib_len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CW_OK : fail(d, "storing a score");
}

cw_status cw_score_db_prev(score_db *d, int64_t lo, int64_t hi, double *prev, int64_t nids)
{
    sqlite3_stmt *q = d->prev;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t a = sqlite3_column_int64(q, 0);
        if (a >= 0 && a < nids)
            prev[a] = sqlite3_column_double(q, 1);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CW_OK : fail(d, "reading earlier scores");
}

cw_status cw_score_db_put_scorecard(score_db *d, const char *hash, const char *definition,
                                    int64_t now)
{
    sqlite3_stmt *q = d->card;
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_text(q, 3, definition, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CW_OK : fail(d, "storing the scorecard");
}

cw_status cw_score_db_scan_day(score_db *d, int64_t day,
                               cw_status (*fn)(int64_t account, double score, int colour,
                                               double change, const char *hash, void *ud),
                               void *ud)
{
    sqlite3_stmt *q = d->scan;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, day);
    int rc;
    cw_status s = CW_OK;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        double change =
            sqlite3_column_type(q, 3) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(q, 3);
        s = fn(sqlite3_column_int64(q, 0), sqlite3_column_double(q, 1), sqlite3_column_int(q, 2),
               change, (const char *)sqlite3_column_text(q, 4), ud);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(d, "reading scores");
    sqlite3_reset(q);
    return s;
}

cw_status cw_score_db_latest_day(score_db *d, int64_t lo, int64_t hi, int64_t *day)
{
    sqlite3_stmt *q = d->latest;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, lo);
    sqlite3_bind_int64(q, 2, hi);
    if (sqlite3_step(q) != SQLITE_ROW)
        return fail(d, "reading the latest scored day");
    *day = sqlite3_column_type(q, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return CW_OK;
}
