/*
 * store_api.h — the store's side of the read models of `churnwatch serve`'s
 * JSON API and of `churnwatch report html` (lib/api/api.h): the queries
 * that need SQL, implemented by the backend (store/sql/store_api.c).
 * Everything above the SQL (the accounts cache, its search and sort, the
 * reports, colour names, the JSON envelopes) is lib/api/.
 *
 * Every function reads through the connection it is given and returns
 * CW_OK, CW_ERR_NOTFOUND for an unknown id, CW_ERR_USAGE for a bad
 * parameter or CW_ERR_DB, with the message on the store.
 *
 * Rows go up in two forms: plain C structs where lib/api computes on them
 * (the accounts cache: cw_api_list_row), and otherwise one JSON object per
 * SQL row keyed by column name, with SQL's dates and numbers as they are
 * served (a column aliased "x_json" holds JSON text served as "x"). The
 * accounts list can also be answered all in SQL (list_sql), for callers
 * without a cache and as the cache's independent check.
 */
#ifndef CW_STORE_API_H
#define CW_STORE_API_H

#include "churnwatch.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Sort keys of the accounts list, in the order of lib/api's name table. */
typedef enum cw_api_sort {
    CW_API_SORT_RISK,
    CW_API_SORT_SCORE,
    CW_API_SORT_PROBABILITY,
    CW_API_SORT_CHANGE,
    CW_API_SORT_RENEWAL,
    CW_API_SORT_MRR,
    CW_API_SORT_MRR_AT_RISK,
    CW_API_SORT_NAME,
    CW_API_SORT__COUNT
} cw_api_sort;

typedef struct cw_api_accounts_q {
    int colour;            /* -1 = any, 0 green, 1 yellow, 2 red */
    const char *segment;   /* NULL = any */
    const char *owner;     /* NULL = any */
    const char *status;    /* NULL = any (accounts.status) */
    const char *search;    /* substring of name or account id, NULL = none */
    int renewal_days;      /* renewal within [as_of, as_of + days); -1 = any */
    const char *sort;      /* risk (default), score, probability, renewal, mrr, mrr_at_risk,
                              change, name */
    int desc;              /* -1 = the sort key's natural order, 0 asc, 1 desc */
    int64_t limit, offset; /* page */
    int sparkline;         /* points of score history per row (0 = none) */
    cw_flag_rule flag;     /* what "flagged" means (default top 10%; [model] flag) */
} cw_api_accounts_q;

/* What the views look at: day = the latest scores, else the latest
 * predictions, else the latest metric snapshot, else today (UTC), in days
 * since the epoch; score_day -1 without scores; model and pred_day -1
 * without an active model's predictions. */
typedef struct cw_api_view {
    int64_t day, score_day, model, pred_day;
} cw_api_view;
cw_status cw_store_api_view(cw_store *st, cw_api_view *v);

/* The last flagged prediction of the view's model and day under rule r:
 * for a share, the cw_flag_count()-th riskiest (probability descending,
 * lower accounts.id first); a row is flagged when its probability is
 * above *p_cut, or equal and its accounts.id <= *id_cut. For "p >= P":
 * P and INT64_MAX. *any = 0 when nothing is flagged (no predictions). */
cw_status cw_store_api_flag_cut(cw_store *st, const cw_api_view *v, const cw_flag_rule *r,
                                double *p_cut, int64_t *id_cut, int *any);

/* A number that changes whenever the accounts cache's rows may have: on
 * SQLite PRAGMA data_version (another connection committed); on
 * PostgreSQL a counter raised by every commit that wrote accounts, scores
 * or predictions, read in the caller's snapshot (store/sql/store_api.c).
 * Compare it for equality only. */
cw_status cw_store_data_version(cw_store *st, int64_t *out);

/* One account with its filter and sort fields for the view. Strings are
 * borrowed for the callback; owner is NULL when not set. */
typedef struct cw_api_list_row {
    int64_t id, mrr_minor, renewal_unix; /* renewal INT64_MIN = none */
    double score, prob, change;          /* NaN = none */
    int colour;                          /* -1 = not scored */
    const char *name, *ext, *segment, *owner, *status;
} cw_api_list_row;
/* Calls fn for every account (no order); stops at fn's first non-CW_OK. */
cw_status cw_store_api_list_scan(cw_store *st, const cw_api_view *v,
                                 cw_status (*fn)(const cw_api_list_row *r, void *ud), void *ud);

/* Appends to items one row object per id (docs/api.md's list item, colour
 * still a number), with "trend", the last `sparkline` scores oldest first,
 * when sparkline > 0. */
cw_status cw_store_api_list_rows(cw_store *st, const cw_api_view *v, const int64_t *ids, size_t n,
                                 int sparkline, json_t *items);

/* The page of the list asked in q, sorted by key (desc: direction), all in
 * SQL: appends its rows to items as cw_store_api_list_rows does and sets
 * *total to the number of matches. */
cw_status cw_store_api_list_sql(cw_store *st, const cw_api_view *v, const cw_api_accounts_q *q,
                                cw_api_sort key, int desc, json_t *items, int64_t *total);

/* ---- the other read models ---------------------------------------------
 * Each appends rows (objects keyed by column, as above) to the arrays it is
 * given; lib/api/ assembles and names them. */

/* Distinct segments and owners (sorted), and the count of each colour
 * (0 green, 1 yellow, 2 red) among the view's scores. */
cw_status cw_store_api_facets(cw_store *st, const cw_api_view *v, json_t *segments, json_t *owners,
                              int64_t colour_counts[3]);

/* One account by external id: *out its fields (caller frees), *id its
 * internal id. CW_ERR_NOTFOUND when there is no such account. */
cw_status cw_store_api_account_row(cw_store *st, const cw_api_view *v, const char *account_id,
                                   int64_t *id, json_t **out);
/* Score history (day, score, colour as a number, change) into scores and,
 * when there is one, the latest score's scorecard and contributions merged
 * into latest. */
cw_status cw_store_api_account_scores(cw_store *st, int64_t id, json_t *scores, json_t *latest);
/* Probability history of model into preds; the latest probability and
 * drivers merged into latest. */
cw_status cw_store_api_account_predictions(cw_store *st, int64_t id, int64_t model, json_t *preds,
                                           json_t *latest);
/* The last day with user metrics not after the last snapshot; -1 = none. */
cw_status cw_store_api_user_metrics_day(cw_store *st, int64_t *day);
/* Calls fn for each user of account (at most 1000, active first) with its
 * fields (fn takes ownership) and its user-metric values of day in
 * catalogue order of the user metrics (vals borrowed for the call, n = 0
 * when there are none). */
cw_status cw_store_api_account_users(cw_store *st, int64_t account, int64_t day,
                                     cw_status (*fn)(json_t *user, const double *vals, int n,
                                                     void *ud),
                                     void *ud);
/* Goals of account with their measurements, the latest actual value and
 * the value expected at asof_unix on the straight line from baseline to
 * target. */
cw_status cw_store_api_account_goals(cw_store *st, int64_t account, int64_t asof_unix,
                                     json_t *goals);
/* Tickets and answered surveys of account as timeline entries (type, at,
 * title, detail), newest first, at most 200. */
cw_status cw_store_api_account_events(cw_store *st, int64_t account, json_t *timeline);

/* Backtest results, newest first (at most 50), result JSON as stored. */
cw_status cw_store_api_backtests(cw_store *st, json_t *items);
/* Stored models, the active one first, then newest first (at most 20). */
cw_status cw_store_api_models(cw_store *st, json_t *items);

/* The alerts' clock: the last evaluated day, or the day of now when none. */
cw_status cw_store_api_alerts_today(cw_store *st, int64_t now, int64_t *today);
/* A page of alerts, newest first, with status and vals as stored, and
 * *total the number matching. code: -1 all, -2 open (with snoozes due by
 * today), -4 resolved, else one status number; account: external id or
 * NULL. */
cw_status cw_store_api_alerts(cw_store *st, int code, const char *account, int64_t today,
                              int64_t limit, int64_t offset, json_t *items, int64_t *total);
/* One alert's row as cw_store_api_alerts gives it (caller frees). */
cw_status cw_store_api_alert(cw_store *st, int64_t id, json_t **out);

#endif
