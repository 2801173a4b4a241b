/*
 * score_db.h — what score.c needs from the store's scores tables
 * (store/sql/store_scores.c).
 */
#ifndef CW_SCORE_DB_H
#define CW_SCORE_DB_H

#include "churnwatch.h"

#include <math.h>

typedef struct score_db score_db;

/* Prepares the scores statements on st into *out (caller closes with
 * cw_score_db_close); errors on the store. */
cw_status cw_score_db_open(cw_store *st, score_db **out);
void cw_score_db_close(score_db *d); /* accepts NULL */
/* Rows stored for day, and how many of them came from the scorecard hash. */
cw_status cw_score_db_day_status(score_db *d, int64_t day, const char *hash, int64_t *rows,
                                 int64_t *same);
/* Deletes the scores of day. */
cw_status cw_score_db_delete_day(score_db *d, int64_t day);
/* change NaN = none (stored as NULL). contrib is JSON. After day_status
 * found the day empty, or delete_day emptied it, its rows are new: they
 * are held in a bulk insert (one per account and day, else the flush
 * fails) until cw_score_db_flush, which the caller runs before COMMIT. */
cw_status cw_score_db_put(score_db *d, int64_t day, int64_t account, const char *hash, double score,
                          int colour, double change, const char *contrib, size_t contrib_len);
/* Writes the rows held for a fresh day; a failure (e.g. an account twice)
 * is returned with the store's error set. */
cw_status cw_score_db_flush(score_db *d);
/* prev[account] = the score on the latest scored day in [lo, hi] (left as
 * it is for accounts without one). */
cw_status cw_score_db_prev(score_db *d, int64_t lo, int64_t hi, double *prev, int64_t nids);
/* Records the scorecard version hash with its definition, first seen at
 * now (kept when known). */
cw_status cw_score_db_put_scorecard(score_db *d, const char *hash, const char *definition,
                                    int64_t now);
/* Calls fn for every score of day, by account. change is NaN when none. */
cw_status cw_score_db_scan_day(score_db *d, int64_t day,
                               cw_status (*fn)(int64_t account, double score, int colour,
                                               double change, const char *hash, void *ud),
                               void *ud);
/* The latest day in [lo, hi] with scores, or -1. */
cw_status cw_score_db_latest_day(score_db *d, int64_t lo, int64_t hi, int64_t *day);

#endif
