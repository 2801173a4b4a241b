/*
 * api.h — the read models of `churnwatch serve`'s JSON API and of
 * `churnwatch report html`: one function per query, each building a
 * jansson value from the store's read queries (store/store_api.h, the SQL
 * in the backend) and the library's computations. Handlers in
 * src/serve_api.c map their statuses to HTTP codes. Not public API: the
 * shapes are documented in docs/api.md and docs/openapi.yaml.
 *
 * Every function reads through the connection it is given (a read-only
 * reader in the server) and returns CW_OK with *out set (caller frees with
 * json_decref), CW_ERR_NOTFOUND for an unknown id, CW_ERR_USAGE for a bad
 * parameter (message on the store) or CW_ERR_DB.
 */
#ifndef CW_API_H
#define CW_API_H

#include "churnwatch.h"
#include "store/store_api.h"

#include <jansson.h>

/* Colours of the scores contract; -1 = any. */
int cw_api_colour_from_name(const char *s);
/* The name of colour ("green", "yellow", "red"), static; NULL when unknown. */
const char *cw_api_colour_name(int colour);

/* The list query (cw_api_accounts_q: store/store_api.h) with its defaults:
 * any colour, sort by risk, 50 rows, 12 sparkline points. */
void cw_api_accounts_q_init(cw_api_accounts_q *q);

#define CW_API_SEARCH_MAX 200 /* longest search text, bytes */

/* An in-memory copy of the list's filter and sort fields for one reader
 * connection (not thread-safe: one per connection). */
typedef struct cw_api_cache cw_api_cache;
cw_api_cache *cw_api_cache_new(void);    /* NULL when out of memory */
void cw_api_cache_free(cw_api_cache *c); /* accepts NULL */

/* {"as_of","scored","predicted","total","limit","offset","items":[…]}.
 * With a cache (may be NULL: all in SQL, in the store) the same answer,
 * from memory. */
cw_status cw_api_accounts(cw_store *st, cw_api_cache *cache, const cw_api_accounts_q *q,
                          json_t **out);
/* Segments, owners, colour counts of the latest scores: for filter menus. */
cw_status cw_api_facets(cw_store *st, json_t **out);
/* One account by external id: fields, scores, predictions, metric history,
 * users, goals, alerts and a timeline. */
cw_status cw_api_account(cw_store *st, const char *account_id, json_t **out);
/* The same with "flagged" (and "flag", the rule in words) by rule r
 * (cw_api_account: the default, top 10%). */
cw_status cw_api_account_flag(cw_store *st, const char *account_id, const cw_flag_rule *r,
                              json_t **out);
/* Sets "flagged" on each item with a "probability" (null without one) from
 * cw_store_api_flag_cut's cut-off, and removes the items' "_rid". */
void cw_api_flag_items(json_t *items, double p_cut, int64_t id_cut, int any);
/* Backtest results, newest first, result JSON as stored. */
cw_status cw_api_backtests(cw_store *st, json_t **out);
/* {"items": [...]}: stored models, the active one first, then newest first. */
cw_status cw_api_models(cw_store *st, json_t **out);
/* Revenue bridge, cohorts and churn reasons through the library's report
 * functions; CW_ERR_NOTFOUND when there is nothing to report. */
cw_status cw_api_report_revenue(cw_store *st, int by_quarter, const char *segment, json_t **out);
/* The cohort matrix of segment (NULL = all) over months offsets, as JSON
 * in *out (caller frees with json_decref). */
cw_status cw_api_report_cohorts(cw_store *st, const char *segment, int months, json_t **out);
/* Churn reasons by cause of segment (NULL = all), as JSON in *out (caller
 * frees with json_decref). */
cw_status cw_api_report_reasons(cw_store *st, const char *segment, json_t **out);

/* ---- alerts (lib/alerts/alerts.c owns them; docs/alerts.md) ---------------------
 * Listing reads the alerts tables; changes go through cw_alert_update, so
 * the API and `churnwatch alerts` keep the same history. API statuses:
 * open (1), acknowledged (2), snoozed (3), resolved (4 auto, 5 by hand,
 * 6 gone; "resolution" says which). */
typedef enum cw_api_alert_op {
    CW_ALERT_ACK = 1,
    CW_ALERT_SNOOZE = 2,
    CW_ALERT_RESOLVE = 3
} cw_api_alert_op;

/* status: "open" (open, acknowledged, and snoozed ones whose day has come
 * on the alerts' clock), "all", "acknowledged", "snoozed" or "resolved";
 * account: external id or NULL. {"total","items":[…]} */
cw_status cw_api_alerts_list(cw_store *st, const char *status, const char *account, int64_t limit,
                             int64_t offset, int64_t now, json_t **out);
/* Applies op to alert id at now (unix seconds, for the history). A snooze
 * lasts `days` days from the last evaluated day, or, when days is 0, until
 * the day of until_unix. actor is who acted (a user's name, "token:NAME"),
 * kept in the alert's history. *out is the alert afterwards. CW_ERR_NOTFOUND: no
 * such alert; CW_ERR_USAGE: closed already, or a snooze date not after the
 * last evaluated day. Writes: give the writer connection. */
cw_status cw_api_alert_update(cw_store *st, int64_t id, cw_api_alert_op op, int64_t until_unix,
                              int64_t days, int64_t now, const char *actor, json_t **out);

#endif
