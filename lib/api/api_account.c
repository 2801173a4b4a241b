/*
 * api_account.c — one account of the JSON API (api.h): its fields, score
 * and probability history with the latest drivers, metric history, users
 * with their activity, goals, alerts and a timeline of tickets, surveys and
 * alerts, newest first. The rows come from the store's read queries
 * (store/store_api.h) and the metrics catalogue; no SQL here.
 */
#include "api/api_int.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct metric_hist {
    json_t *days, *series; /* series: one array per account metric */
    int n;
} metric_hist;

static cw_status on_metrics(int64_t day, int64_t account, const double *vals, const double *trend,
                            const double *peers, int n, void *ud)
{
    (void)account;
    (void)trend;
    (void)peers;
    metric_hist *h = ud;
    json_array_append_new(h->days, cw_api_day_json(day));
    for (int i = 0; i < h->n; i++) {
        double v = i < n ? vals[i] : NAN;
        json_array_append_new(json_array_get(h->series, (size_t)i),
                              isfinite(v) ? json_real(v) : json_null());
    }
    return CW_OK;
}

/* The user metrics shown per user, by their index among the user metrics. */
typedef struct users_ctx {
    json_t *users;
    int64_t day;
    int idx[4]; /* days since active, features used, active days, dropped off; -1 = none */
} users_ctx;

static cw_status on_user(json_t *u, const double *vals, int nb, void *ud)
{
    users_ctx *x = ud;
    double v[4] = {NAN, NAN, NAN, NAN};
    for (int j = 0; j < 4; j++)
        if (x->idx[j] >= 0 && x->idx[j] < nb)
            v[j] = vals[x->idx[j]];
    json_object_set_new(u, "last_seen",
                        isfinite(v[0]) ? cw_api_day_json(x->day - (int64_t)v[0]) : json_null());
    json_object_set_new(u, "features_used", isfinite(v[1]) ? json_real(v[1]) : json_null());
    json_object_set_new(u, "active_days", isfinite(v[2]) ? json_real(v[2]) : json_null());
    json_object_set_new(u, "dropped_off", isfinite(v[3]) ? json_boolean(v[3] > 0) : json_null());
    json_array_append_new(x->users, u);
    return CW_OK;
}

static cw_status account_users(cw_store *st, int64_t account, int64_t day, json_t *users)
{
    static const char *const shown[4] = {"user_days_since_active", "user_features_used",
                                         "user_active_days", "user_dropped_off"};
    users_ctx x = {users, day, {-1, -1, -1, -1}};
    const cw_metric_info *cat;
    int nc = cw_metrics_catalog(&cat), nuser = 0;
    for (int i = 0; i < nc; i++) {
        if (cat[i].scope != CW_SCOPE_USER)
            continue;
        for (int j = 0; j < 4; j++)
            if (strcmp(cat[i].name, shown[j]) == 0)
                x.idx[j] = nuser;
        nuser++;
    }
    return cw_store_api_account_users(st, account, day, on_user, &x);
}

/* A timeline entry and its place before sorting: entries of the same
 * time keep the order they were added in (alerts as listed, then tickets
 * and surveys as the store orders them), so that the timeline is the same
 * on every backend (qsort alone is not stable). */
typedef struct tl_entry {
    json_t *j;
    size_t i;
} tl_entry;

static int timeline_cmp(const void *a, const void *b)
{
    const tl_entry *x = a, *y = b;
    const char *p = json_string_value(json_object_get(x->j, "at"));
    const char *r = json_string_value(json_object_get(y->j, "at"));
    int c = -strcmp(p ? p : "", r ? r : ""); /* newest first */
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

cw_status cw_api_account(cw_store *st, const char *account_id, json_t **out)
{
    cw_flag_rule r = {.share = 0.10};
    return cw_api_account_flag(st, account_id, &r, out);
}

cw_status cw_api_account_flag(cw_store *st, const char *account_id, const cw_flag_rule *fr,
                              json_t **out)
{
    cw_store_enter(st, "account");
    *out = NULL;
    cw_api_view v;
    int64_t id;
    json_t *a;
    cw_status s = cw_store_api_view(st, &v);
    if (s != CW_OK || (s = cw_store_api_account_row(st, &v, account_id, &id, &a)) != CW_OK)
        return s;
    json_object_set_new(a, "as_of", cw_api_day_json(v.day));

    /* Score history, the latest contributions, probability history and drivers. */
    json_t *scores = json_array(), *preds = json_array(), *latest = json_object();
    json_object_set_new(a, "scores", scores);
    json_object_set_new(a, "predictions", preds);
    s = cw_store_api_account_scores(st, id, scores, latest);
    size_t ns = json_array_size(scores);
    for (size_t i = 0; i < ns; i++) {
        json_t *r = json_array_get(scores, i), *c = json_object_get(r, "colour");
        if (json_is_integer(c))
            json_object_set_new(r, "colour",
                                json_string(cw_api_colour_name((int)json_integer_value(c))));
    }
    if (ns) {
        /* The latest row of the history, then its scorecard and contributions. */
        json_t *l = json_deep_copy(json_array_get(scores, ns - 1));
        json_object_update(l, latest);
        json_object_set_new(a, "score", l);
    } else {
        json_object_set_new(a, "score", json_null());
    }
    json_decref(latest);
    json_object_set_new(a, "drivers", json_array());
    json_object_set_new(a, "probability", json_null());
    if (s == CW_OK && v.model >= 0)
        s = cw_store_api_account_predictions(st, id, v.model, preds, a);
    if (s == CW_OK) { /* flagged by the same rule as the list and the backtest */
        double pc;
        int64_t ic;
        int any;
        s = cw_store_api_flag_cut(st, &v, fr, &pc, &ic, &any);
        json_t *one = json_array();
        json_object_set_new(a, "_rid", json_integer(id));
        json_array_append(one, a);
        if (s == CW_OK)
            cw_api_flag_items(one, pc, ic, any);
        json_decref(one);
        json_object_del(a, "_rid");
        char rule[48];
        cw_flag_format(fr, rule, sizeof rule);
        json_object_set_new(a, "flag", json_string(rule));
    }

    /* Metric history (every account metric of the catalogue). */
    const cw_metric_info *cat;
    int nc = cw_metrics_catalog(&cat), nacc = 0;
    json_t *names = json_array(), *series = json_array();
    for (int i = 0; i < nc; i++)
        if (cat[i].scope == CW_SCOPE_ACCOUNT) {
            json_array_append_new(names, json_string(cat[i].name));
            json_array_append_new(series, json_array());
            nacc++;
        }
    metric_hist h = {json_array(), series, nacc};
    if (s == CW_OK)
        s = cw_store_get_ops(st)->account_metrics_scan(st, 0, INT64_MAX / 2, id, on_metrics, &h);
    json_object_set_new(
        a, "metrics",
        json_pack("{s:o, s:o, s:o}", "names", names, "days", h.days, "values", series));

    int64_t last_snap = -1;
    if (s == CW_OK)
        s = cw_store_api_user_metrics_day(st, &last_snap);
    json_t *users = json_array(), *goals = json_array(), *timeline = json_array();
    json_object_set_new(a, "users", users);
    json_object_set_new(a, "goals", goals);
    if (s == CW_OK)
        s = account_users(st, id, last_snap, users);
    if (s == CW_OK)
        s = cw_store_api_account_goals(st, id, v.day * 86400, goals);

    /* Alerts of the account, and the timeline of tickets, surveys, alerts. */
    json_t *alerts = NULL;
    if (s == CW_OK)
        s = cw_api_alerts_list(st, "all", account_id, 200, 0, (int64_t)time(NULL), &alerts);
    if (s == CW_OK) {
        json_object_set_new(a, "alerts", json_incref(json_object_get(alerts, "items")));
        json_t *it;
        size_t i;
        json_array_foreach (json_object_get(alerts, "items"), i, it) {
            json_array_append_new(timeline, json_pack("{s:s, s:O, s:O, s:O}", "type", "alert", "at",
                                                      json_object_get(it, "opened_at"), "title",
                                                      json_object_get(it, "rule"), "detail",
                                                      json_object_get(it, "message")));
        }
    }
    json_decref(alerts);
    if (s == CW_OK)
        s = cw_store_api_account_events(st, id, timeline);
    size_t nt = json_array_size(timeline);
    tl_entry *tv = malloc((nt ? nt : 1) * sizeof *tv);
    if (tv) {
        for (size_t i = 0; i < nt; i++)
            tv[i] = (tl_entry){json_incref(json_array_get(timeline, i)), i};
        qsort(tv, nt, sizeof *tv, timeline_cmp);
        json_array_clear(timeline);
        for (size_t i = 0; i < nt; i++)
            json_array_append_new(timeline, tv[i].j);
        free(tv);
    }
    json_object_set_new(a, "timeline", timeline);
    if (s != CW_OK) {
        json_decref(a);
        return s;
    }
    *out = a;
    return CW_OK;
}
