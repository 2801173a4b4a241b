/*
 * alerts.c — the alert lifecycle: evaluating the rule set on one snapshot
 * day, opening one alert per (rule, account or user) episode, keeping it
 * open while it fires (hysteresis: it closes only when its clear condition
 * holds), re-arming after a cooldown, closing episodes whose entity is gone,
 * and — when an alert opens — running its playbook: a deterministic share
 * is held out as a control group, the rest get one outbox message per
 * action. Also the CSM's manual actions and the play-effectiveness report.
 *
 * One evaluation is one transaction, so alerts and their outbox rows appear
 * together or not at all. Evaluating a day twice changes nothing: an open
 * episode only moves forward, a closed one cannot reopen the same day, and
 * outbox keys are unique. docs/alerts.md describes the lifecycle.
 */
#include "alerts/rules_int.h"
#include "core/json.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_alerts.h"
#include "alerts/expr.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *cw_alert_status_name(int status)
{
    static const char *const n[] = {NULL, "open", "acked", "snoozed", "resolved", "closed", "gone"};
    return status >= 1 && status <= 6 ? n[status] : NULL;
}

const char *cw_alert_event_name(int kind)
{
    static const char *const n[] = {NULL,        "opened",   "acked",         "snoozed",
                                    "unsnoozed", "resolved", "auto-resolved", "gone",
                                    "queued",    "held-out", "backfilled"};
    return kind >= 1 && kind <= 10 ? n[kind] : NULL;
}

int cw_alert_status_is_open(int status)
{
    return status >= CW_ALERT_OPEN && status <= CW_ALERT_SNOOZED;
}

/* One (rule, account, user) known from the store: its open episode (id >
 * 0) and the day its latest closed episode ended (-1 when none). */
typedef struct ep {
    int64_t open_id;
    int status;
    int64_t snoozed_until, last_closed;
    int rule; /* index in the rule set, -1 when not loaded */
    int64_t account, user;
    int seen; /* the entity was in this day's snapshot */
} ep;

typedef struct ev_ctx {
    cw_store *st;
    const cw_rules *r;
    int64_t day, now;
    unsigned flags; /* CW_EVALUATE_* */
    cw_evaluate_stats *stats;
    cw_alert_db_accounts acc;
    cw_alert_db_users users;
    double *score, *colour, *change, *prob, *pchange;
    int *pos; /* stored vector position of each account metric, -1 = absent */
    double *slots;
    double *acc_slots; /* per account: the account part of the slots (user rules) */
    unsigned char *acc_present;
    int base; /* slots of the account part */
    int any_user_rules, user_rows;
    cw_intern *keys;
    char **fnames; /* feature names by user_stop_feature number (loaded when needed) */
    int64_t nfnames;
    int fnames_loaded;
    ep *eps;
    int64_t neps, capeps;
    cw_alert_db_writer *w;
    cw_status err;
} ev_ctx;

static size_t ep_key(char *buf, size_t n, const char *rule, int64_t account, int64_t user)
{
    int k = snprintf(buf, n, "%s\x1f%lld\x1f%lld", rule, (long long)account, (long long)user);
    return k < 0 ? 0 : (size_t)k < n ? (size_t)k : n - 1;
}

static int rule_index(const cw_rules *r, const char *name)
{
    for (int i = 0; i < r->nrules; i++)
        if (strcmp(r->rules[i].name, name) == 0)
            return i;
    return -1;
}

static ep *ep_get(ev_ctx *c, const char *rule, int64_t account, int64_t user, int create)
{
    char key[256];
    size_t kl = ep_key(key, sizeof key, rule, account, user);
    int64_t i = cw_intern_get(c->keys, key, kl);
    if (i >= 0)
        return &c->eps[i];
    if (!create)
        return NULL;
    if (c->neps == c->capeps) {
        int64_t cap = c->capeps ? 2 * c->capeps : 256;
        ep *n = realloc(c->eps, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        c->eps = n;
        c->capeps = cap;
    }
    if (cw_intern_put(c->keys, key, kl, c->neps) != CW_OK)
        return NULL;
    ep *e = &c->eps[c->neps++];
    memset(e, 0, sizeof *e);
    e->last_closed = -1;
    e->snoozed_until = -1;
    e->rule = rule_index(c->r, rule);
    e->account = account;
    e->user = user;
    return e;
}

static cw_status on_episode(const char *rule, int64_t account, int64_t user, int open, int64_t id,
                            int status, int64_t snoozed_until, int64_t closed_day, void *ud)
{
    ev_ctx *c = ud;
    ep *e = ep_get(c, rule, account, user, 1);
    if (!e)
        return CW_ERR_NOMEM;
    if (open) {
        e->open_id = id;
        e->status = status;
        e->snoozed_until = snoozed_until;
    } else if (closed_day > e->last_closed)
        e->last_closed = closed_day;
    return CW_OK;
}

static json_t *num_or_null(double v)
{
    if (isnan(v) || isinf(v))
        return json_null();
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The values of the slots the rule's condition reads, by display name. */
static char *values_json(ev_ctx *c, int ri)
{
    const int *sl;
    int n = cw_expr_slots(c->r->when[ri], &sl);
    json_t *o = json_object();
    for (int i = 0; o && i < n; i++) {
        char buf[160];
        json_object_set_new(o, cw_ruleset_slot_name(c->r, sl[i], buf, sizeof buf),
                            num_or_null(c->slots[sl[i]]));
    }
    char *s = o ? cw_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    return s;
}

static char *payload_json(ev_ctx *c, int ri, int64_t id, int64_t account, int64_t user,
                          const char *vals)
{
    const cw_rule *ru = &c->r->rules[ri];
    char day[16];
    cw_time_format(c->day * 86400, CW_TIME_DATE, day, sizeof day);
    json_t *o = json_object();
    json_t *v = json_loads(vals, 0, NULL);
    if (!o || !v) {
        json_decref(o);
        json_decref(v);
        return NULL;
    }
    int has_user = user > 0 && user < c->users.n;
    json_object_set_new(o, "alert_id", json_integer(id));
    json_object_set_new(o, "rule", json_string(ru->name));
    json_object_set_new(o, "description", json_string(ru->description));
    json_object_set_new(o, "severity",
                        json_string(ru->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning"));
    json_object_set_new(o, "scope", json_string(ru->scope == CW_SCOPE_USER ? "user" : "account"));
    json_object_set_new(o, "account_id", str_or_null(c->acc.ext[account]));
    json_object_set_new(o, "account_name", str_or_null(c->acc.name[account]));
    json_object_set_new(o, "segment", str_or_null(c->acc.segment[account]));
    json_object_set_new(o, "owner", str_or_null(c->acc.owner[account]));
    json_object_set_new(o, "user_id", has_user ? str_or_null(c->users.ext[user]) : json_null());
    json_object_set_new(o, "user_email",
                        has_user ? str_or_null(c->users.email[user]) : json_null());
    json_object_set_new(o, "opened_day", json_string(day));
    /* user_stop_feature is a number (docs/metrics.md); the message names it */
    json_t *sf = json_object_get(v, "user_stop_feature");
    json_object_set_new(o, "values", v);
    if (json_is_integer(sf)) { /* names loaded by run_playbook */
        json_int_t k = json_integer_value(sf);
        if (k >= 0 && k < c->nfnames)
            json_object_set_new(o, "feature", json_string(c->fnames[k]));
    }
    json_object_set_new(o, "health_score", num_or_null(c->slots[RS_SCORE(c->r, 0)]));
    json_object_set_new(o, "churn_probability", num_or_null(c->slots[RS_SCORE(c->r, 3)]));
    json_object_set_new(o, "playbook", str_or_null(ru->playbook));
    char *s = cw_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

/* Deterministic control-group draw: a hash of (alert id, playbook) mapped
 * to [0, 1), so every re-run and every reader agrees. */
static int held_out(int64_t id, const char *playbook, double share)
{
    char key[160];
    int n = snprintf(key, sizeof key, "%lld:%s", (long long)id, playbook);
    uint64_t h = cw_hash64(key, (size_t)(n > 0 ? n : 0), 0x9e3779b97f4a7c15ULL);
    double u = (double)(h >> 11) * 0x1.0p-53;
    return u < share;
}

static cw_status run_playbook(ev_ctx *c, int ri, int64_t id, int64_t account, int64_t user,
                              const char *vals)
{
    const cw_rule *ru = &c->r->rules[ri];
    const cw_playbook *pb = ru->playbook ? cw_playbooks_find(c->r, ru->playbook) : NULL;
    if (!pb)
        return CW_OK;
    if (c->flags & CW_EVALUATE_BACKFILL) { /* opened, not acted on, not in any play */
        c->stats->backfilled++;
        return cw_alert_db_event(c->w, id, CW_AEV_BACKFILLED, c->day, c->now, NULL, pb->name);
    }
    int control = held_out(id, pb->name, pb->control_share);
    cw_status s = cw_alert_db_assign(c->w, id, pb->name, control, pb->control_share, c->day);
    if (s != CW_OK)
        return s;
    if (control) {
        c->stats->held_out++;
        return cw_alert_db_event(c->w, id, CW_AEV_HELD_OUT, c->day, c->now, NULL, pb->name);
    }
    if (!c->fnames_loaded && strstr(vals, "\"user_stop_feature\"")) {
        if ((s = cw_alert_db_load_feature_names(c->st, &c->fnames, &c->nfnames)) != CW_OK)
            return s;
        c->fnames_loaded = 1;
    }
    char *payload = payload_json(c, ri, id, account, user, vals);
    if (!payload)
        return cw_store_set_error(c->st, CW_ERR_NOMEM, "alerts: out of memory running a playbook");
    const char *p = pb->actions;
    while (s == CW_OK && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if (t > p) {
            char action[128], key[200];
            snprintf(action, sizeof action, "%.*s", (int)(t - p), p);
            snprintf(key, sizeof key, "alert:%lld:%s", (long long)id, action);
            int inserted = 0;
            s = cw_outbox_enqueue(c->st, action, key, payload, c->now, &inserted);
            c->stats->queued += inserted;
        }
        p = e;
    }
    free(payload);
    if (s == CW_OK)
        s = cw_alert_db_event(c->w, id, CW_AEV_QUEUED, c->day, c->now, NULL, pb->actions);
    return s;
}

/* One rule on one entity whose slots are filled. */
static cw_status process(ev_ctx *c, int ri, int64_t account, int64_t user)
{
    const cw_rule *ru = &c->r->rules[ri];
    double fw = cw_expr_eval(c->r->when[ri], c->slots);
    double fc = cw_expr_eval(c->r->clear[ri], c->slots);
    int firing = cw_expr_is_true(fw), clearing = cw_expr_is_true(fc);
    c->stats->firing += firing;
    ep *e = ep_get(c, ru->name, account, user, 0);
    if (e)
        e->seen = 1;
    if (e && e->open_id) {
        if (clearing) {
            cw_status s =
                cw_alert_db_set_status(c->w, e->open_id, CW_ALERT_RESOLVED, c->day, -1, NULL);
            if (s == CW_OK)
                s = cw_alert_db_event(c->w, e->open_id, CW_AEV_AUTO_RESOLVED, c->day, c->now, NULL,
                                      NULL);
            e->open_id = 0;
            e->last_closed = c->day;
            c->stats->resolved++;
            return s;
        }
        if (!firing)
            return CW_OK; /* between the thresholds: stays as it is */
        cw_status s = cw_alert_db_touch(c->w, e->open_id, c->day);
        if (s == CW_OK && e->status == CW_ALERT_SNOOZED && e->snoozed_until <= c->day) {
            s = cw_alert_db_set_status(c->w, e->open_id, CW_ALERT_OPEN, -1, -1, NULL);
            if (s == CW_OK)
                s = cw_alert_db_event(c->w, e->open_id, CW_AEV_UNSNOOZED, c->day, c->now, NULL,
                                      NULL);
            e->status = CW_ALERT_OPEN;
            c->stats->unsnoozed++;
        }
        return s;
    }
    if (!firing)
        return CW_OK;
    /* Re-arm only after the cooldown, and never on the day an episode
     * closed (so a re-run of that day cannot reopen it). */
    int cool = ru->cooldown_days > 0 ? ru->cooldown_days : 1;
    if (e && e->last_closed >= 0 && c->day < e->last_closed + cool) {
        c->stats->cooling++;
        return CW_OK;
    }
    char *vals = values_json(c, ri);
    if (!vals)
        return cw_store_set_error(c->st, CW_ERR_NOMEM, "alerts: out of memory evaluating a rule");
    int64_t id = 0;
    cw_status s = cw_alert_db_insert(c->w, ru->name, ru->scope, account, user, ru->severity, c->day,
                                     vals, ru->playbook, c->now, &id);
    if (s == CW_OK)
        s = cw_alert_db_event(c->w, id, CW_AEV_OPENED, c->day, c->now, NULL, NULL);
    if (s == CW_OK)
        s = run_playbook(c, ri, id, account, user, vals);
    free(vals);
    if (s != CW_OK)
        return s;
    e = ep_get(c, ru->name, account, user, 1);
    if (!e)
        return cw_store_set_error(c->st, CW_ERR_NOMEM, "alerts: out of memory evaluating a rule");
    e->open_id = id;
    e->status = CW_ALERT_OPEN;
    e->seen = 1;
    c->stats->opened++;
    return CW_OK;
}

static double at_pos(const double *v, int n, int pos)
{
    return v && pos >= 0 && pos < n ? v[pos] : (double)NAN;
}

static cw_status on_account(int64_t day, int64_t account, const double *vals, const double *trend,
                            const double *peers, int n, void *ud)
{
    (void)day;
    ev_ctx *c = ud;
    const cw_rules *r = c->r;
    if (account < 1 || account >= c->acc.n || !c->acc.ext[account])
        return CW_OK;
    c->stats->accounts++;
    for (int i = 0; i < r->na; i++) {
        c->slots[i] = at_pos(vals, n, c->pos[i]);
        c->slots[r->na + i] = at_pos(trend, n, c->pos[i]);
        c->slots[2 * r->na + i] = at_pos(peers, n, c->pos[i]);
    }
    c->slots[RS_SCORE(r, 0)] = c->score[account];
    c->slots[RS_SCORE(r, 1)] = c->colour[account];
    c->slots[RS_SCORE(r, 2)] = c->change[account];
    c->slots[RS_SCORE(r, 3)] = c->prob[account];
    c->slots[RS_SCORE(r, 4)] = c->pchange[account];
    for (int j = 0; j <= r->nu; j++)
        c->slots[RS_USER(r, j)] = (double)NAN;
    if (c->acc_slots) {
        memcpy(c->acc_slots + (size_t)account * (size_t)c->base, c->slots,
               (size_t)c->base * sizeof *c->slots);
        c->acc_present[account] = 1;
    }
    const char *seg = c->acc.segment[account];
    for (int ri = 0; ri < r->nrules; ri++) {
        const cw_rule *ru = &r->rules[ri];
        if (!ru->enabled || ru->scope != CW_SCOPE_ACCOUNT)
            continue;
        ep *e = ep_get(c, ru->name, account, 0, 0);
        if (e)
            e->seen = 1;
        if (ru->segments && !(seg && cw_ruleset_list_has(ru->segments, seg)))
            continue;
        cw_status s = process(c, ri, account, 0);
        if (s != CW_OK)
            return s;
    }
    return CW_OK;
}

static cw_status on_user(int64_t day, int64_t user, int64_t account, const double *vals, int n,
                         void *ud)
{
    ev_ctx *c = ud;
    const cw_rules *r = c->r;
    c->user_rows = 1;
    if (account < 1 || account >= c->acc.n || !c->acc_present[account] || user < 1 ||
        user >= c->users.n)
        return CW_OK;
    c->stats->users++;
    memcpy(c->slots, c->acc_slots + (size_t)account * (size_t)c->base,
           (size_t)c->base * sizeof *c->slots);
    for (int j = 0; j < r->nu; j++)
        c->slots[RS_USER(r, j)] = j < n ? vals[j] : (double)NAN;
    c->slots[RS_USER(r, r->nu)] = (double)(day - c->users.prov_day[user]);
    const char *seg = c->acc.segment[account];
    for (int ri = 0; ri < r->nrules; ri++) {
        const cw_rule *ru = &r->rules[ri];
        if (!ru->enabled || ru->scope != CW_SCOPE_USER)
            continue;
        ep *e = ep_get(c, ru->name, account, user, 0);
        if (e)
            e->seen = 1;
        if (ru->segments && !(seg && cw_ruleset_list_has(ru->segments, seg)))
            continue;
        cw_status s = process(c, ri, account, user);
        if (s != CW_OK)
            return s;
    }
    return CW_OK;
}

/* Maps each account metric name to its position in the day's stored
 * vector (the snapshot's catalog), so custom metrics added or reordered
 * since are found by name. */
static cw_status map_catalog(ev_ctx *c)
{
    const cw_store_ops *ops = cw_store_get_ops(c->st);
    char *buf = malloc(65536);
    if (!buf)
        return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                  "alerts: out of memory mapping the metric catalog");
    int found = 0;
    cw_status s = ops->snapshot_catalog(c->st, c->day, buf, 65536, &found);
    if (s == CW_OK && !found) {
        char d[16];
        cw_time_format(c->day * 86400, CW_TIME_DATE, d, sizeof d);
        s = cw_store_set_error(c->st, CW_ERR_NOTFOUND,
                               "no metric snapshot for %s (run `churnwatch metrics --as-of %s`)", d,
                               d);
    }
    for (int i = 0; s == CW_OK && i < c->r->na; i++) {
        c->pos[i] = -1;
        const char *nm = c->r->anames[i];
        size_t nl = strlen(nm);
        int k = 0;
        for (const char *p = buf; *p; k++) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == nl && strncmp(p, nm, nl) == 0) {
                c->pos[i] = k;
                break;
            }
            if (!e)
                break;
            p = e + 1;
        }
    }
    free(buf);
    return s;
}

static void ctx_free(ev_ctx *c)
{
    cw_alert_db_accounts_free(&c->acc);
    cw_alert_db_users_free(&c->users);
    free(c->score);
    free(c->colour);
    free(c->change);
    free(c->prob);
    free(c->pchange);
    free(c->pos);
    free(c->slots);
    free(c->acc_slots);
    free(c->acc_present);
    cw_intern_free(c->keys);
    cw_alert_db_names_free(c->fnames, c->nfnames);
    free(c->eps);
    cw_alert_db_writer_close(c->w);
}

static cw_status evaluate(ev_ctx *c)
{
    cw_store *st = c->st;
    const cw_rules *r = c->r;
    const cw_store_ops *ops = cw_store_get_ops(st);
    cw_status s;
    if ((s = cw_alert_db_load_accounts(st, &c->acc)) != CW_OK)
        return s;
    for (int i = 0; i < r->nrules; i++)
        if (r->rules[i].enabled) {
            c->stats->rules++;
            c->any_user_rules |= r->rules[i].scope == CW_SCOPE_USER;
        }
    if (c->any_user_rules && (s = cw_alert_db_load_users(st, &c->users)) != CW_OK)
        return s;
    int64_t n = c->acc.n;
    c->score = malloc((size_t)n * sizeof(double));
    c->colour = malloc((size_t)n * sizeof(double));
    c->change = malloc((size_t)n * sizeof(double));
    c->prob = malloc((size_t)n * sizeof(double));
    c->pchange = malloc((size_t)n * sizeof(double));
    c->pos = malloc(((size_t)r->na + 1) * sizeof *c->pos);
    c->slots = malloc((size_t)r->nslots * sizeof *c->slots);
    c->base = RS_USER(r, 0);
    c->keys = cw_intern_new();
    if (!c->score || !c->colour || !c->change || !c->prob || !c->pchange || !c->pos || !c->slots ||
        !c->keys)
        return cw_store_set_error(st, CW_ERR_NOMEM, "alerts: out of memory evaluating rules");
    if (c->any_user_rules) {
        c->acc_slots = malloc((size_t)n * (size_t)c->base * sizeof *c->acc_slots);
        c->acc_present = calloc((size_t)n, 1);
        if (!c->acc_slots || !c->acc_present)
            return cw_store_set_error(st, CW_ERR_NOMEM, "alerts: out of memory evaluating rules");
    }
    for (int64_t i = 0; i < n; i++)
        c->score[i] = c->colour[i] = c->change[i] = c->prob[i] = c->pchange[i] = (double)NAN;
    if ((s = map_catalog(c)) != CW_OK)
        return s;
    if ((s = cw_alert_db_load_scores(st, c->day, n, c->score, c->colour, c->change, c->prob,
                                     c->pchange)) != CW_OK)
        return s;
    if ((s = cw_alert_db_scan_episodes(st, on_episode, c)) != CW_OK)
        return s;
    if ((s = cw_alert_db_writer_open(st, &c->w)) != CW_OK)
        return s;
    if ((s = ops->account_metrics_scan(st, c->day, c->day, 0, on_account, c)) != CW_OK)
        return s;
    if (c->any_user_rules &&
        (s = ops->user_metrics_scan(st, c->day, c->day, 0, on_user, c)) != CW_OK)
        return s;
    /* Open episodes whose entity has left the snapshot (churned account,
     * deactivated user) are closed. User rows exist only for some days;
     * without any, user episodes are left alone. */
    for (int64_t i = 0; i < c->neps; i++) {
        ep *e = &c->eps[i];
        if (!e->open_id || e->seen || e->rule < 0 || !r->rules[e->rule].enabled)
            continue;
        if (r->rules[e->rule].scope == CW_SCOPE_USER && !c->user_rows)
            continue;
        s = cw_alert_db_set_status(c->w, e->open_id, CW_ALERT_CLOSED_GONE, c->day, -1, NULL);
        if (s == CW_OK)
            s = cw_alert_db_event(c->w, e->open_id, CW_AEV_GONE, c->day, c->now, NULL,
                                  e->user ? "user no longer active" : "account no longer active");
        if (s != CW_OK)
            return s;
        e->open_id = 0;
        c->stats->gone++;
    }
    return cw_alert_db_mark_day(st, c->day, c->now, c->stats->opened,
                                c->stats->resolved + c->stats->gone);
}

cw_status cw_alerts_evaluate(cw_store *st, const cw_rules *rules, int64_t day, int64_t now_unix,
                             cw_evaluate_stats *stats)
{
    return cw_alerts_evaluate_ex(st, rules, day, now_unix, 0, stats);
}

cw_status cw_alerts_evaluate_ex(cw_store *st, const cw_rules *rules, int64_t day, int64_t now_unix,
                                unsigned flags, cw_evaluate_stats *stats)
{
    cw_store_enter(st, "alerts");
    memset(stats, 0, sizeof *stats);
    const cw_store_ops *ops = cw_store_get_ops(st);
    int64_t last;
    cw_status s = cw_alert_db_last_day(st, &last);
    if (s != CW_OK)
        return s;
    if (day < last) {
        char d[16], l[16];
        cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
        cw_time_format(last * 86400, CW_TIME_DATE, l, sizeof l);
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "alerts move forward in time: %s is before the last evaluated "
                                  "day %s",
                                  d, l);
    }
    stats->already_evaluated = day == last;
    if ((s = ops->begin(st)) != CW_OK)
        return s;
    ev_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.r = rules;
    c.day = day;
    c.now = now_unix;
    c.flags = flags;
    c.stats = stats;
    s = evaluate(&c);
    ctx_free(&c);
    if (s == CW_OK)
        s = ops->commit(st);
    else {
        if (s == CW_ERR_NOMEM && !*cw_store_errmsg(st)) /* a callback without the handle */
            cw_store_set_error(st, s, "alerts: out of memory");
        ops->rollback(st);
    }
    return s;
}

cw_status cw_alerts_last_day(cw_store *st, int64_t *day)
{
    cw_store_enter(st, "alerts");
    return cw_alert_db_last_day(st, day);
}

/* ---- manual actions ------------------------------------------------- */

cw_status cw_alert_update(cw_store *st, int64_t id, cw_alert_action what, int64_t until_day,
                          const char *actor, const char *note, int64_t now_unix)
{
    cw_store_enter(st, "alert update");
    const cw_store_ops *ops = cw_store_get_ops(st);
    int status = 0, found = 0;
    cw_status s = cw_alert_db_get_status(st, id, &status, &found);
    if (s != CW_OK)
        return s;
    if (!found)
        return cw_store_set_error(st, CW_ERR_NOTFOUND, "no alert %lld", (long long)id);
    if (!cw_alert_status_is_open(status))
        return cw_store_set_error(st, CW_ERR_USAGE, "alert %lld is already closed (%s)",
                                  (long long)id, cw_alert_status_name(status));
    /* The alerts' clock is the snapshot clock: the last evaluated day. */
    int64_t day;
    if ((s = cw_alert_db_last_day(st, &day)) != CW_OK)
        return s;
    if (what == CW_ALERT_DO_SNOOZE && until_day <= day) {
        char d[16];
        cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "snooze: the date must be after the last evaluated day %s", d);
    }
    if ((s = ops->begin(st)) != CW_OK)
        return s;
    cw_alert_db_writer *w = NULL;
    s = cw_alert_db_writer_open(st, &w);
    if (s == CW_OK) {
        switch (what) {
        case CW_ALERT_DO_ACK:
            s = cw_alert_db_set_status(w, id, CW_ALERT_ACKED, -1, -1, actor ? actor : "");
            if (s == CW_OK)
                s = cw_alert_db_event(w, id, CW_AEV_ACKED, day, now_unix, actor, note);
            break;
        case CW_ALERT_DO_SNOOZE: {
            char d[16], msg[600];
            cw_time_format(until_day * 86400, CW_TIME_DATE, d, sizeof d);
            snprintf(msg, sizeof msg, "until %s%s%s", d, note ? ": " : "", note ? note : "");
            s = cw_alert_db_set_status(w, id, CW_ALERT_SNOOZED, -1, until_day, NULL);
            if (s == CW_OK)
                s = cw_alert_db_event(w, id, CW_AEV_SNOOZED, day, now_unix, actor, msg);
            break;
        }
        case CW_ALERT_DO_RESOLVE:
            s = cw_alert_db_set_status(w, id, CW_ALERT_CLOSED_MANUAL, day, -1, NULL);
            if (s == CW_OK)
                s = cw_alert_db_event(w, id, CW_AEV_RESOLVED, day, now_unix, actor, note);
            break;
        default: s = cw_store_set_error(st, CW_ERR_USAGE, "unknown alert action");
        }
    }
    cw_alert_db_writer_close(w);
    if (s == CW_OK)
        return ops->commit(st);
    ops->rollback(st);
    return s;
}

/* ---- play effectiveness --------------------------------------------- */

static void wilson(int64_t x, int64_t n, double z, double *lo, double *hi)
{
    double p = (double)x / (double)n, nn = (double)n, z2 = z * z;
    double den = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / den;
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / den;
    *lo = centre - half;
    *hi = centre + half;
    if (x == 0)
        *lo = 0;
    if (x == n)
        *hi = 1;
}

void cw_newcombe_diff(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z, double *diff,
                      double *lo, double *hi)
{
    if (n1 <= 0 || n2 <= 0) {
        *diff = *lo = *hi = (double)NAN;
        return;
    }
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    double l1, u1, l2, u2;
    wilson(x1, n1, z, &l1, &u1);
    wilson(x2, n2, z, &l2, &u2);
    *diff = p1 - p2;
    *lo = *diff - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    *hi = *diff + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
}

typedef struct plays_ctx {
    cw_play_row *rows;
    int n, cap;
} plays_ctx;

static cw_status on_play(const char *playbook, int control, int recovered, int churned, void *ud)
{
    plays_ctx *p = ud;
    cw_play_row *row = p->n ? &p->rows[p->n - 1] : NULL;
    if (!row || strcmp(row->playbook, playbook) != 0) {
        if (p->n == p->cap) {
            int cap = p->cap ? 2 * p->cap : 16;
            cw_play_row *nr = realloc(p->rows, (size_t)cap * sizeof *nr);
            if (!nr)
                return CW_ERR_NOMEM;
            p->rows = nr;
            p->cap = cap;
        }
        row = &p->rows[p->n++];
        memset(row, 0, sizeof *row);
        snprintf(row->playbook, sizeof row->playbook, "%s", playbook);
    }
    if (control) {
        row->control++;
        row->control_churned += churned;
        row->control_recovered += recovered;
    } else {
        row->treated++;
        row->treated_churned += churned;
        row->treated_recovered += recovered;
    }
    return CW_OK;
}

static int cmp_play(const void *a, const void *b)
{
    return strcmp(((const cw_play_row *)a)->playbook, ((const cw_play_row *)b)->playbook);
}

cw_status cw_plays_report(cw_store *st, int64_t from_day, int64_t to_day, int horizon_days,
                          cw_play_row **rows, int *nrows)
{
    cw_store_enter(st, "plays");
    *rows = NULL;
    *nrows = 0;
    plays_ctx p = {NULL, 0, 0};
    cw_status s = cw_alert_db_scan_plays(st, from_day, to_day, horizon_days, on_play, &p);
    if (s != CW_OK) {
        free(p.rows);
        return s;
    }
    /* byte order of the names, whatever the database's collation */
    if (p.n > 1)
        qsort(p.rows, (size_t)p.n, sizeof *p.rows, cmp_play);
    for (int i = 0; i < p.n; i++) {
        cw_play_row *r = &p.rows[i];
        cw_newcombe_diff(r->treated_churned, r->treated, r->control_churned, r->control, 1.959964,
                         &r->churn_diff, &r->churn_lo, &r->churn_hi);
        cw_newcombe_diff(r->treated_recovered, r->treated, r->control_recovered, r->control,
                         1.959964, &r->recover_diff, &r->recover_lo, &r->recover_hi);
    }
    *rows = p.rows;
    *nrows = p.n;
    return CW_OK;
}
