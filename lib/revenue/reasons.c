/*
 * reasons.c — why customers leave and how they arrive: churn reasons mapped
 * to the seeds' four causes (with lost MRR and a post-mortem per account),
 * the See-Think-Do-Care journey funnel with acquisition costs, and the user
 * → seat → revenue churn chain per account.
 *
 * MRR follows lib/revenue/revenue.c's definition (docs/revenue.md): an account's MRR
 * at an instant is the mrr_minor of its last subscription change effective
 * strictly before it, so the MRR a churned account took with it is the one
 * `report revenue` books as its churn. Keyword matching is plain ASCII
 * case-folding: reasons are short free text, and a word-start match avoids
 * "roi" matching inside "android" without needing a tokenizer.
 * docs/revenue-reasons.md defines every figure.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "ingest/validate.h"
#include "store/store.h"
#include "revenue/ledger.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- shared world: accounts, subscriptions ------------------------- */

enum { SURVEY_TYPE_EXIT = 2 }; /* index in surveys.type's enum */

/* The ledger (ledger.h) and, per account id, the latest exit-survey reason. */
typedef struct world {
    cw_store *st;
    cw_ledger L;
    char **survey_reason;
    int64_t *survey_ts;
} world;

static cw_status on_survey(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    world *w = ud;
    /* surveys: 1 account, 3 type, 4 sent_at, 5 responded_at, 7 reason */
    int64_t acc = v[1].i;
    if (acc < 1 || acc >= w->L.nids || !w->L.acc[acc].present || v[3].i != SURVEY_TYPE_EXIT ||
        !v[7].present || !v[7].len)
        return CW_OK;
    int64_t ts = v[5].present ? v[5].i : v[4].present ? v[4].i : INT64_MIN;
    /* The latest answer wins: a customer may revise a reason. */
    if (w->survey_reason[acc] && ts < w->survey_ts[acc])
        return CW_OK;
    char *r = cw_strndup(v[7].s, v[7].len);
    if (!r)
        return CW_ERR_NOMEM;
    free(w->survey_reason[acc]);
    w->survey_reason[acc] = r;
    w->survey_ts[acc] = ts;
    return CW_OK;
}

/* Loads the ledger (and exit surveys when surveys). */
static cw_status world_load(world *w, cw_store *st, const char *what, const char *segment,
                            int surveys)
{
    memset(w, 0, sizeof *w);
    w->st = st;
    cw_status s = cw_ledger_load(st, what, segment, &w->L);
    if (s != CW_OK || !surveys)
        return s;
    size_t n = (size_t)(w->L.nids ? w->L.nids : 1);
    w->survey_reason = calloc(n, sizeof *w->survey_reason);
    w->survey_ts = calloc(n, sizeof *w->survey_ts);
    if (!w->survey_reason || !w->survey_ts)
        return CW_ERR_NOMEM;
    return cw_store_get_ops(st)->scan_rows(st, CW_KIND_SURVEYS, on_survey, w);
}

static void world_free(world *w)
{
    for (int64_t i = 0; w->survey_reason && i < w->L.nids; i++)
        free(w->survey_reason[i]);
    free(w->survey_reason);
    free(w->survey_ts);
    cw_ledger_free(&w->L);
}

/* A malloc'd copy of a ledger string (caller frees); NULL on no memory. */
static char *ledger_dup(const world *w, size_t off)
{
    const char *t = cw_ledger_str(&w->L, off);
    return cw_strndup(t, strlen(t));
}

/* ---- reason map ------------------------------------------------------ */

static const char *const cause_names[CW_CAUSE__COUNT] = {
    "bad_service", "bad_onboarding", "lack_of_success", "natural", "unclassified"};

const char *cw_churn_cause_name(cw_churn_cause c)
{
    return (int)c >= 0 && c < CW_CAUSE__COUNT ? cause_names[c] : NULL;
}

int cw_churn_cause_from_name(const char *name)
{
    for (int i = 0; name && i < CW_CAUSE__COUNT; i++)
        if (strcasecmp(name, cause_names[i]) == 0)
            return i;
    return -1;
}

#define SV CW_CAUSE_BAD_SERVICE
#define ON CW_CAUSE_BAD_ONBOARDING
#define LS CW_CAUSE_LACK_OF_SUCCESS
#define NA CW_CAUSE_NATURAL
/* Longest match wins, so a specific phrase ("too expensive for how much we
 * use it") beats a general word inside it; docs/revenue-reasons.md lists it. */
static const cw_reason_rule default_map[] = {
    /* bad service: the vendor failed the customer */
    {"support", SV},
    {"service", SV},
    {"bug", SV},
    {"reliab", SV},
    {"outage", SV},
    {"downtime", SV},
    {"unreliable", SV},
    {"hand-holding", SV},
    {"constant help", SV},
    {"slow response", SV},
    {"account manager", SV},
    {"poor quality", SV},
    /* bad onboarding: never got to first value */
    {"onboarding", ON},
    {"setup", ON},
    {"set up", ON},
    {"never got started", ON},
    {"never started", ON},
    {"implementation", ON},
    {"too hard", ON},
    {"hard to use", ON},
    {"too complex", ON},
    {"complicated", ON},
    {"training", ON},
    {"did not catch on", ON},
    {"didn't catch on", ON},
    {"integration", ON},
    /* lack of ongoing success: used it, did not get enough out of it */
    {"value", LS},
    {"results", LS},
    {"not using", LS},
    {"adoption", LS},
    {"roi", LS},
    {"usage", LS},
    {"used it", LS},
    {"use it", LS},
    {"few people", LS},
    {"not enough people", LS},

    {"competitor", LS},
    {"price", LS},
    {"pricing", LS},
    {"too expensive", LS},
    {"expensive", LS},
    {"missing feature", LS},
    {"features", LS},
    {"outcome", LS},
    {"no longer a priority", LS},
    /* natural: the customer's circumstances changed */
    {"out of business", NA},
    {"closing the business", NA},
    {"company closed", NA},
    {"closed", NA},
    {"insolven", NA},
    {"bankrupt", NA},
    {"acquired", NA},
    {"acquisition", NA},
    {"merger", NA},
    {"merged", NA},
    {"budget", NA},
    {"outgrew", NA},
    {"outgrown", NA},
    {"staff", NA},
    {"champion left", NA},
    {"new management", NA},
    {"new leadership", NA},
    {"reorganis", NA},
    {"reorganiz", NA},
    {"restructur", NA},
    {"no longer needed", NA},
    {"in-house", NA},
    {"build our own", NA},
    {"building our own", NA},
    {"project ended", NA},
    {"seasonal", NA},
    {"layoff", NA},
};
#undef SV
#undef ON
#undef LS
#undef NA

int cw_reasons_default_map(const cw_reason_rule **out)
{
    *out = default_map;
    return (int)(sizeof default_map / sizeof default_map[0]);
}

/* Whether keyword occurs in text at a word start (ASCII case-insensitive). */
static int match_word_start(const char *text, const char *kw, size_t kl)
{
    if (!kl)
        return 0;
    for (const char *p = text; *p; p++) {
        if (p > text && isalnum((unsigned char)p[-1]))
            continue;
        if (strncasecmp(p, kw, kl) == 0)
            return 1;
    }
    return 0;
}

cw_churn_cause cw_reasons_classify(const char *reason, const cw_reason_rule *rules, int n,
                                   int *rule)
{
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; reason && i < n; i++) {
        size_t kl = rules[i].keyword ? strlen(rules[i].keyword) : 0;
        if (kl > best_len && match_word_start(reason, rules[i].keyword, kl)) {
            best = i;
            best_len = kl;
        }
    }
    if (rule)
        *rule = best;
    return best >= 0 ? rules[best].cause : CW_CAUSE_UNCLASSIFIED;
}

void cw_reasons_map_free(cw_reason_rule *rules, int n)
{
    for (int i = 0; rules && i < n; i++)
        free((char *)rules[i].keyword);
    free(rules);
}

cw_status cw_reasons_map_parse(const char *spec, cw_reason_rule **out, int *n, char *err,
                               size_t errsz)
{
    *out = NULL;
    *n = 0;
    cw_reason_rule *r = NULL;
    int cnt = 0, cap = 0;
    const char *p = spec ? spec : "";
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p, *e = p + len;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        p = end ? end + 1 : p + len;
        if (s == e)
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ke = eq, *cs = eq ? eq + 1 : NULL;
        while (ke && ke > s && isspace((unsigned char)ke[-1]))
            ke--;
        while (cs && cs < e && isspace((unsigned char)*cs))
            cs++;
        char cause[32] = "";
        if (cs && (size_t)(e - cs) < sizeof cause)
            memcpy(cause, cs, (size_t)(e - cs));
        int c = eq ? cw_churn_cause_from_name(cause) : -1;
        if (!eq || ke == s || c < 0 || c == CW_CAUSE_UNCLASSIFIED) {
            snprintf(err, errsz,
                     "reason map: '%.*s' is not keyword=cause (causes: bad_service, "
                     "bad_onboarding, lack_of_success, natural)",
                     (int)(e - s > 60 ? 60 : e - s), s);
            cw_reasons_map_free(r, cnt);
            return CW_ERR_USAGE;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            cw_reason_rule *g = realloc(r, (size_t)cap * sizeof *g);
            if (!g) {
                cw_reasons_map_free(r, cnt);
                return CW_ERR_NOMEM;
            }
            r = g;
        }
        char *kw = cw_strndup(s, (size_t)(ke - s));
        if (!kw) {
            cw_reasons_map_free(r, cnt);
            return CW_ERR_NOMEM;
        }
        r[cnt++] = (cw_reason_rule){kw, (cw_churn_cause)c};
    }
    *out = r;
    *n = cnt;
    return CW_OK;
}

/* ---- churn reasons ---------------------------------------------------- */

static const char *const pm_names[CW_POSTMORTEM_NMETRICS] = {
    "active_licence_ratio", "events_change_pct", "nps_latest", "goal_attainment_worst",
    "milestones_overdue"};

const char *cw_postmortem_metric_name(int i)
{
    return i >= 0 && i < CW_POSTMORTEM_NMETRICS ? pm_names[i] : NULL;
}

void cw_reasons_opts_init(cw_reasons_opts *o)
{
    memset(o, 0, sizeof *o);
    o->from_month = o->to_month = -1;
}

typedef struct pm_ctx {
    int64_t day;
    double vals[CW_POSTMORTEM_NMETRICS];
    cw_store *st;
    cw_status err;
} pm_ctx;

/* Keeps the last row seen (rows come in day order), resolving names through
 * that snapshot's own catalogue: custom metrics can shift positions. */
static cw_status on_snapshot(int64_t day, int64_t account, const double *vals, const double *trend,
                             const double *peers, int n, void *ud)
{
    (void)account, (void)trend, (void)peers;
    pm_ctx *p = ud;
    char cat[8192];
    int found = 0;
    cw_status s = cw_store_get_ops(p->st)->snapshot_catalog(p->st, day, cat, sizeof cat, &found);
    if (s != CW_OK)
        return s;
    p->day = day;
    for (int k = 0; k < CW_POSTMORTEM_NMETRICS; k++) {
        p->vals[k] = (double)NAN;
        int idx = -1;
        if (found) {
            size_t nl = strlen(pm_names[k]);
            int i = 0;
            for (const char *c = cat; *c; i++) {
                const char *comma = strchr(c, ',');
                size_t len = comma ? (size_t)(comma - c) : strlen(c);
                if (len == nl && memcmp(c, pm_names[k], nl) == 0) {
                    idx = i;
                    break;
                }
                c = comma ? comma + 1 : c + len;
            }
        } else {
            idx = cw_metric_index(pm_names[k]);
        }
        if (idx >= 0 && idx < n)
            p->vals[k] = vals[idx];
    }
    return CW_OK;
}

static int cmp_churned(const void *a, const void *b)
{
    const cw_churned_account *x = a, *y = b;
    if (x->churn_ts_unix != y->churn_ts_unix)
        return x->churn_ts_unix < y->churn_ts_unix ? -1 : 1;
    return strcmp(x->account_id, y->account_id);
}

static int cmp_segment(const void *a, const void *b)
{
    return strcmp(((const cw_reasons_segment *)a)->segment,
                  ((const cw_reasons_segment *)b)->segment);
}

static int add_cell(cw_reasons_cell *c, int64_t mrr)
{
    c->accounts++;
    return __builtin_add_overflow(c->lost_mrr_minor, mrr, &c->lost_mrr_minor);
}

/* The row of r->segments for segment, added on first sight (few segments,
 * so a linear search is enough); -1 when out of memory. */
static int segment_row(cw_reasons_report *r, const char *segment)
{
    int g = 0;
    while (g < r->nsegments && strcmp(r->segments[g].segment, segment) != 0)
        g++;
    if (g < r->nsegments)
        return g;
    cw_reasons_segment *ns = realloc(r->segments, (size_t)(g + 1) * sizeof *ns);
    if (!ns)
        return -1;
    r->segments = ns;
    memset(&ns[g], 0, sizeof ns[g]);
    if (!(ns[g].segment = cw_strndup(segment, strlen(segment))))
        return -1;
    r->nsegments++;
    return g;
}

cw_status cw_reasons_compute(cw_store *st, const cw_reasons_opts *o, cw_reasons_report **out)
{
    *out = NULL;
    cw_reasons_opts def;
    if (!o) {
        cw_reasons_opts_init(&def);
        o = &def;
    }
    const cw_reason_rule *rules = o->rules;
    int nrules = o->nrules;
    if (!rules)
        nrules = cw_reasons_default_map(&rules);
    world w;
    cw_reasons_report *r = NULL;
    unsigned char *mark = NULL;
    cw_status s = world_load(&w, st, "reasons", o->segment, 1);
    if (s != CW_OK)
        goto done;
    mark = calloc((size_t)(w.L.nids ? w.L.nids : 1), 1);
    r = calloc(1, sizeof *r);
    if (!mark || !r) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    int64_t n = 0;
    for (int64_t id = 1; id < w.L.nids; id++) {
        const cw_ledger_account *a = &w.L.acc[id];
        if (!a->present || !a->included || !a->churned)
            continue;
        int m = cw_month_of(a->churn_unix);
        if ((o->from_month >= 0 && m < o->from_month) || (o->to_month >= 0 && m > o->to_month))
            continue;
        mark[id] = 1;
        n++;
    }
    if (n == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "reasons: no churned accounts%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    s = cw_ledger_one_currency(&w.L, mark, "reasons", r->currency);
    if (s != CW_OK)
        goto done;
    r->accounts = calloc((size_t)n, sizeof *r->accounts);
    if (!r->accounts) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    int ovf = 0;
    for (int64_t id = 1; id < w.L.nids && s == CW_OK; id++) {
        if (!mark[id])
            continue;
        const cw_ledger_account *a = &w.L.acc[id];
        cw_churned_account *c = &r->accounts[r->naccounts++];
        c->account_id = ledger_dup(&w, a->ext);
        c->segment = ledger_dup(&w, w.L.seg_name[a->segment]);
        c->churn_ts_unix = a->churn_unix;
        c->reason_from_survey = w.survey_reason[id] != NULL;
        if (w.survey_reason[id])
            c->reason = w.survey_reason[id], w.survey_reason[id] = NULL; /* moved into the report */
        else if (a->churn_reason && !(c->reason = ledger_dup(&w, a->churn_reason)))
            s = CW_ERR_NOMEM;
        if (!c->account_id || !c->segment) {
            s = CW_ERR_NOMEM;
            break;
        }
        c->cause = cw_reasons_classify(c->reason, rules, nrules, NULL);
        int64_t k = cw_ledger_in_force(&w.L, id, cw_month_start_unix(cw_month_of(a->churn_unix)));
        c->lost_mrr_minor = k >= 0 ? w.L.subs[k].mrr_minor : 0;
        c->snapshot_day = -1;
        for (int i = 0; i < CW_POSTMORTEM_NMETRICS; i++)
            c->metrics[i] = (double)NAN;
        if (o->postmortem) {
            pm_ctx p = {-1, {0}, st, CW_OK};
            int64_t churn_day = a->churn_unix >= 0 ? a->churn_unix / 86400 : -1;
            s = cw_store_get_ops(st)->account_metrics_scan(st, 0, churn_day, id, on_snapshot, &p);
            c->snapshot_day = p.day;
            if (p.day >= 0)
                memcpy(c->metrics, p.vals, sizeof c->metrics);
        }
        ovf |= add_cell(&r->by_cause[c->cause], c->lost_mrr_minor);
        ovf |= add_cell(&r->total, c->lost_mrr_minor);
        if (c->cause <= CW_CAUSE_LACK_OF_SUCCESS)
            ovf |= add_cell(&r->avoidable, c->lost_mrr_minor);
        else if (c->cause == CW_CAUSE_NATURAL)
            ovf |= add_cell(&r->unavoidable, c->lost_mrr_minor);
        int g = segment_row(r, c->segment);
        if (g < 0) {
            s = CW_ERR_NOMEM;
            break;
        }
        ovf |= add_cell(&r->segments[g].by_cause[c->cause], c->lost_mrr_minor);
    }
    if (s == CW_OK && ovf)
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "reasons: lost MRR overflows 64 bits");
    if (s == CW_OK) {
        qsort(r->accounts, (size_t)r->naccounts, sizeof *r->accounts, cmp_churned);
        if (r->nsegments)
            qsort(r->segments, (size_t)r->nsegments, sizeof *r->segments, cmp_segment);
    }
done:
    if (s != CW_OK) {
        cw_reasons_free(r);
        r = NULL;
    }
    *out = r;
    free(mark);
    world_free(&w);
    return s;
}

void cw_reasons_free(cw_reasons_report *r)
{
    if (!r)
        return;
    for (int64_t i = 0; i < r->naccounts; i++) {
        free(r->accounts[i].account_id);
        free(r->accounts[i].segment);
        free(r->accounts[i].reason);
    }
    free(r->accounts);
    for (int i = 0; i < r->nsegments; i++)
        free(r->segments[i].segment);
    free(r->segments);
    free(r);
}

/* ---- journey funnel --------------------------------------------------- */

typedef struct visitor {
    char *id, *source;
    int month;        /* month of the first visit, else of the first row */
    int64_t first_ts; /* of that row */
    int has_visit;
    unsigned stages; /* bit per stage */
    int64_t cost_minor, cost_rows;
} visitor;

typedef struct funnel_ctx {
    cw_store *st;
    visitor *v;
    int64_t n, cap;
    char currency[4];
    char *cur_visitor;
    int64_t cur_ts;
    int ovf;
} funnel_ctx;

static cw_status on_journey(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    funnel_ctx *f = ud;
    /* journey: 0 visitor_id, 1 stage, 2 at, 3 source, 5 cost_minor, 6 currency */
    visitor *x = f->n ? &f->v[f->n - 1] : NULL;
    /* Rows arrive in natural-key order, so a visitor's rows are adjacent. */
    if (!x || strlen(x->id) != v[0].len || memcmp(x->id, v[0].s, v[0].len) != 0) {
        if (f->n == f->cap) {
            int64_t n = f->cap ? f->cap * 2 : 256;
            visitor *g = realloc(f->v, (size_t)n * sizeof *g);
            if (!g)
                return CW_ERR_NOMEM;
            f->v = g;
            f->cap = n;
        }
        x = &f->v[f->n++];
        memset(x, 0, sizeof *x);
        if (!(x->id = cw_strndup(v[0].s, v[0].len)))
            return CW_ERR_NOMEM;
        x->first_ts = INT64_MAX;
    }
    int stage = (int)v[1].i;
    if (stage < 0 || stage >= CW_STAGE__COUNT)
        return CW_OK;
    x->stages |= 1u << stage;
    int is_visit = stage == CW_STAGE_VISIT;
    /* The group is set by the first visit; before any visit, by the first row. */
    if ((is_visit && (!x->has_visit || v[2].i < x->first_ts)) ||
        (!x->has_visit && !is_visit && v[2].i < x->first_ts)) {
        x->first_ts = v[2].i;
        x->month = cw_month_of(v[2].i);
        free(x->source);
        x->source = cw_strndup(v[3].present && v[3].len ? v[3].s : "(none)",
                               v[3].present && v[3].len ? v[3].len : 6);
        if (!x->source)
            return CW_ERR_NOMEM;
        x->has_visit |= is_visit;
    }
    if (v[5].present) {
        char t[32];
        if (!v[6].present || v[6].len != 3)
            return cw_store_set_error(
                f->st, CW_ERR_INPUT, "funnel: visitor '%s' has a cost at %s without a currency",
                x->id, cw_time_format(v[2].i, CW_TIME_TIMESTAMP, t, sizeof t));
        if (!f->currency[0]) {
            memcpy(f->currency, v[6].s, 3);
            free(f->cur_visitor);
            if (!(f->cur_visitor = cw_strndup(x->id, strlen(x->id))))
                return CW_ERR_NOMEM;
            f->cur_ts = v[2].i;
        } else if (memcmp(f->currency, v[6].s, 3) != 0) {
            char t2[32];
            return cw_store_set_error(
                f->st, CW_ERR_INPUT,
                "funnel: journey costs use more than one currency (%s for visitor '%s' at %s, "
                "%.3s for visitor '%s' at %s); conversion is not supported yet",
                f->currency, f->cur_visitor,
                cw_time_format(f->cur_ts, CW_TIME_TIMESTAMP, t, sizeof t), v[6].s, x->id,
                cw_time_format(v[2].i, CW_TIME_TIMESTAMP, t2, sizeof t2));
        }
        f->ovf |= __builtin_add_overflow(x->cost_minor, v[5].i, &x->cost_minor);
        x->cost_rows++;
    }
    return CW_OK;
}

static int add_visitor(cw_funnel_row *r, const visitor *x)
{
    for (int s = 0; s < CW_STAGE__COUNT; s++)
        if (x->stages & (1u << s))
            r->visitors[s]++;
    r->cost_rows += x->cost_rows;
    return __builtin_add_overflow(r->cost_minor, x->cost_minor, &r->cost_minor);
}

static void finish_row(cw_funnel_row *r)
{
    r->visit_to_registration_pct =
        cw_pct(r->visitors[CW_STAGE_REGISTRATION], r->visitors[CW_STAGE_VISIT]);
    r->registration_to_paid_pct =
        cw_pct(r->visitors[CW_STAGE_PAID], r->visitors[CW_STAGE_REGISTRATION]);
    r->paid_to_upgrade_pct = cw_pct(r->visitors[CW_STAGE_UPGRADE], r->visitors[CW_STAGE_PAID]);
    int costed = r->cost_rows > 0;
    r->cost_per_lead_minor = costed && r->visitors[CW_STAGE_LEAD]
                                 ? (double)r->cost_minor / (double)r->visitors[CW_STAGE_LEAD]
                                 : (double)NAN;
    r->acquisition_cost_minor = costed && r->visitors[CW_STAGE_PAID]
                                    ? (double)r->cost_minor / (double)r->visitors[CW_STAGE_PAID]
                                    : (double)NAN;
}

static int cmp_visitor_source(const void *a, const void *b)
{
    return strcmp(((const visitor *)a)->source, ((const visitor *)b)->source);
}

void cw_funnel_opts_init(cw_funnel_opts *o)
{
    o->from_month = o->to_month = -1;
}

cw_status cw_funnel_compute(cw_store *st, const cw_funnel_opts *o, cw_funnel_report **out)
{
    *out = NULL;
    cw_funnel_opts def;
    if (!o) {
        cw_funnel_opts_init(&def);
        o = &def;
    }
    funnel_ctx f;
    memset(&f, 0, sizeof f);
    f.st = st;
    cw_funnel_report *r = NULL;
    cw_status s = cw_store_get_ops(st)->scan_rows(st, CW_KIND_JOURNEY, on_journey, &f);
    if (s != CW_OK)
        goto done;
    /* Keep the visitors whose group month is in range. */
    int64_t k = 0;
    for (int64_t i = 0; i < f.n; i++) {
        visitor *x = &f.v[i];
        if ((o->from_month >= 0 && x->month < o->from_month) ||
            (o->to_month >= 0 && x->month > o->to_month) || !x->source) {
            free(x->id);
            free(x->source);
            continue;
        }
        f.v[k++] = *x;
    }
    f.n = k;
    if (f.n == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "funnel: no journey rows in range");
        goto done;
    }
    if (f.ovf) {
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "funnel: costs overflow 64 bits");
        goto done;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    memcpy(r->currency, f.currency, sizeof r->currency);
    int m0 = INT32_MAX, m1 = INT32_MIN;
    for (int64_t i = 0; i < f.n; i++) {
        m0 = f.v[i].month < m0 ? f.v[i].month : m0;
        m1 = f.v[i].month > m1 ? f.v[i].month : m1;
    }
    if (m1 - m0 >= 12 * 200) {
        s = cw_store_set_error(st, CW_ERR_USAGE, "funnel: range longer than 200 years");
        goto done;
    }
    r->nmonths = m1 - m0 + 1;
    r->months = calloc((size_t)r->nmonths, sizeof *r->months);
    r->sources = calloc((size_t)f.n, sizeof *r->sources);
    if (!r->months || !r->sources || !(r->total.key = cw_strndup("all", 3))) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    int ovf = 0;
    for (int i = 0; i < r->nmonths; i++) {
        int m = m0 + i;
        if (!(r->months[i].key = cw_strdupf("%04d-%02d", m / 12, m % 12 + 1))) {
            s = CW_ERR_NOMEM;
            goto done;
        }
    }
    qsort(f.v, (size_t)f.n, sizeof *f.v, cmp_visitor_source);
    for (int64_t i = 0; i < f.n; i++) {
        const visitor *x = &f.v[i];
        if (!r->nsources || strcmp(r->sources[r->nsources - 1].key, x->source) != 0) {
            if (!(r->sources[r->nsources].key = cw_strndup(x->source, strlen(x->source)))) {
                s = CW_ERR_NOMEM;
                goto done;
            }
            r->nsources++;
        }
        ovf |= add_visitor(&r->sources[r->nsources - 1], x);
        ovf |= add_visitor(&r->months[x->month - m0], x);
        ovf |= add_visitor(&r->total, x);
    }
    if (ovf) {
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "funnel: costs overflow 64 bits");
        goto done;
    }
    finish_row(&r->total);
    for (int i = 0; i < r->nsources; i++)
        finish_row(&r->sources[i]);
    for (int i = 0; i < r->nmonths; i++)
        finish_row(&r->months[i]);
done:
    if (s != CW_OK) {
        cw_funnel_free(r);
        r = NULL;
    }
    *out = r;
    for (int64_t i = 0; i < f.n; i++) {
        free(f.v[i].id);
        free(f.v[i].source);
    }
    free(f.v);
    free(f.cur_visitor);
    return s;
}

void cw_funnel_free(cw_funnel_report *r)
{
    if (!r)
        return;
    free(r->total.key);
    for (int i = 0; i < r->nsources; i++)
        free(r->sources[i].key);
    for (int i = 0; i < r->nmonths; i++)
        free(r->months[i].key);
    free(r->sources);
    free(r->months);
    free(r);
}

/* ---- user → seat → revenue chain ------------------------------------- */

static const char *const outcome_names[] = {"no_change", "seats_kept", "seats_lost", "cancelled",
                                            "not_paying"};

const char *cw_chain_outcome_name(cw_chain_outcome o)
{
    return (int)o >= 0 && o <= CW_CHAIN_NOT_PAYING ? outcome_names[o] : NULL;
}

void cw_chain_opts_init(cw_chain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->from_month = o->to_month = -1;
}

typedef struct user_row {
    int64_t account, provisioned, deactivated; /* deactivated INT64_MAX = still active */
} user_row;

typedef struct chain_ctx {
    world *w;
    user_row *u;
    int64_t n, cap;
} chain_ctx;

static cw_status on_user(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    chain_ctx *c = ud;
    /* users: 1 account, 5 provisioned_at, 6 deactivated_at */
    int64_t acc = v[1].i;
    if (acc < 1 || acc >= c->w->L.nids || !c->w->L.acc[acc].present || !c->w->L.acc[acc].included)
        return CW_OK;
    if (c->n == c->cap) {
        int64_t n = c->cap ? c->cap * 2 : 256;
        user_row *g = realloc(c->u, (size_t)n * sizeof *g);
        if (!g)
            return CW_ERR_NOMEM;
        c->u = g;
        c->cap = n;
    }
    c->u[c->n++] = (user_row){acc, v[5].i, v[6].present ? v[6].i : INT64_MAX};
    return CW_OK;
}

static int cmp_user(const void *a, const void *b)
{
    const user_row *x = a, *y = b;
    return x->account < y->account ? -1 : x->account > y->account;
}

static int cmp_chain(const void *a, const void *b)
{
    return strcmp(((const cw_chain_account *)a)->account_id,
                  ((const cw_chain_account *)b)->account_id);
}

/* What followed account acc's first user loss (a->first_loss_ts_unix): the
 * next subscription change, its outcome and the seats and MRR lost, added
 * to r's totals; mark[acc] set when a change is reported. Returns non-zero
 * when the lost MRR total overflows. */
static int chain_outcome(const world *w, int64_t acc, cw_chain_account *a, cw_chain_report *r,
                         unsigned char *mark)
{
    const cw_ledger_account *ai = &w->L.acc[acc];
    const int64_t first_loss = a->first_loss_ts_unix;
    /* The next subscription change at or after the first loss. */
    int64_t k = -1;
    for (int64_t q = ai->lo; q < ai->hi; q++)
        if (w->L.subs[q].ts_unix >= first_loss) {
            k = q;
            break;
        }
    int64_t b = cw_ledger_in_force(&w->L, acc, first_loss);
    a->seats_before = b >= 0 && w->L.subs[b].mrr_minor > 0 ? w->L.subs[b].seats : 0;
    a->mrr_before_minor = b >= 0 ? w->L.subs[b].mrr_minor : 0;
    if (a->mrr_before_minor == 0) {
        /* Users removed while the account did not pay (e.g. after it
         * left): no renewal of theirs can follow. */
        a->outcome = CW_CHAIN_NOT_PAYING;
        r->accounts_not_paying++;
        return 0;
    }
    if (k < 0) {
        a->outcome = CW_CHAIN_NO_CHANGE;
        a->seats_after = a->seats_before;
        a->mrr_after_minor = a->mrr_before_minor;
        return 0;
    }
    mark[acc] = 1;
    a->change_ts_unix = w->L.subs[k].ts_unix;
    a->mrr_after_minor = w->L.subs[k].mrr_minor;
    a->seats_after = w->L.subs[k].mrr_minor > 0 ? w->L.subs[k].seats : 0;
    if (a->mrr_before_minor > 0 && a->mrr_after_minor == 0)
        a->outcome = CW_CHAIN_CANCELLED;
    else if (a->seats_after < a->seats_before)
        a->outcome = CW_CHAIN_SEATS_LOST;
    else
        a->outcome = CW_CHAIN_SEATS_KEPT;
    if (a->outcome == CW_CHAIN_SEATS_KEPT)
        return 0;
    a->seats_lost = a->seats_before - a->seats_after;
    a->mrr_lost_minor =
        a->mrr_before_minor > a->mrr_after_minor ? a->mrr_before_minor - a->mrr_after_minor : 0;
    if (a->outcome == CW_CHAIN_CANCELLED)
        r->accounts_cancelled++;
    else
        r->accounts_seat_loss++;
    r->seats_lost += a->seats_lost;
    return __builtin_add_overflow(r->mrr_lost_minor, a->mrr_lost_minor, &r->mrr_lost_minor);
}

cw_status cw_chain_compute(cw_store *st, const cw_chain_opts *o, cw_chain_report **out)
{
    *out = NULL;
    cw_chain_opts def;
    if (!o) {
        cw_chain_opts_init(&def);
        o = &def;
    }
    world w;
    chain_ctx c = {&w, NULL, 0, 0};
    cw_chain_report *r = NULL;
    unsigned char *mark = NULL;
    cw_status s = world_load(&w, st, "chain", o->segment, 0);
    if (s == CW_OK)
        s = cw_store_get_ops(st)->scan_rows(st, CW_KIND_USERS, on_user, &c);
    if (s != CW_OK)
        goto done;
    if (c.n == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "chain: no users%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    /* Default range: the last month holding a deactivation. A range that
     * began at the first month with users would have no users at its start. */
    int last = INT32_MIN;
    for (int64_t i = 0; i < c.n; i++) {
        int64_t t = c.u[i].deactivated != INT64_MAX ? c.u[i].deactivated : c.u[i].provisioned;
        int m = cw_month_of(t);
        last = m > last ? m : last;
    }
    int m1 = o->to_month >= 0 ? o->to_month : last;
    if (o->to_month < 0 && o->from_month > m1)
        m1 = o->from_month;
    int m0 = o->from_month >= 0 ? o->from_month : m1;
    if (m1 < m0) {
        s = cw_store_set_error(st, CW_ERR_USAGE, "chain: the range ends before it starts");
        goto done;
    }
    int64_t t0 = cw_month_start_unix(m0), t1 = cw_month_start_unix(m1 + 1);
    qsort(c.u, (size_t)c.n, sizeof *c.u, cmp_user);
    r = calloc(1, sizeof *r);
    mark = calloc((size_t)w.L.nids, 1);
    if (!r || !mark) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    r->from_month = m0;
    r->to_month = m1;
    int64_t nacc = 0;
    for (int64_t i = 0; i < c.n; i++)
        nacc += i == 0 || c.u[i].account != c.u[i - 1].account;
    r->accounts = calloc((size_t)nacc, sizeof *r->accounts);
    if (!r->accounts) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    int ovf = 0;
    for (int64_t i = 0; i < c.n;) {
        int64_t acc = c.u[i].account, j = i;
        int64_t start = 0, lost = 0, first_loss = INT64_MAX;
        for (; j < c.n && c.u[j].account == acc; j++) {
            const user_row *u = &c.u[j];
            if (u->provisioned < t0 && u->deactivated >= t0)
                start++;
            /* Only users there at the start count as lost, so the rate is at most 100 %. */
            if (u->provisioned < t0 && u->deactivated >= t0 && u->deactivated < t1) {
                lost++;
                first_loss = u->deactivated < first_loss ? u->deactivated : first_loss;
            }
        }
        i = j;
        r->users_start += start;
        r->users_lost += lost;
        if (!lost)
            continue;
        cw_chain_account *a = &r->accounts[r->naccounts++];
        const cw_ledger_account *ai = &w.L.acc[acc];
        a->account_id = ledger_dup(&w, ai->ext);
        a->segment = ledger_dup(&w, w.L.seg_name[ai->segment]);
        if (!a->account_id || !a->segment) {
            s = CW_ERR_NOMEM;
            goto done;
        }
        a->users_start = start;
        a->users_lost = lost;
        a->first_loss_ts_unix = first_loss;
        r->accounts_with_user_loss++;
        ovf |= chain_outcome(&w, acc, a, r, mark);
    }
    if (ovf) {
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "chain: MRR overflows 64 bits");
        goto done;
    }
    /* Only the accounts whose change is reported must agree on a currency. */
    s = cw_ledger_one_currency(&w.L, mark, "chain", r->currency);
    if (s != CW_OK)
        goto done;
    r->user_churn_pct = cw_pct(r->users_lost, r->users_start);
    if (r->naccounts)
        qsort(r->accounts, (size_t)r->naccounts, sizeof *r->accounts, cmp_chain);
done:
    if (s != CW_OK) {
        cw_chain_free(r);
        r = NULL;
    }
    *out = r;
    free(mark);
    free(c.u);
    world_free(&w);
    return s;
}

void cw_chain_free(cw_chain_report *r)
{
    if (!r)
        return;
    for (int64_t i = 0; i < r->naccounts; i++) {
        free(r->accounts[i].account_id);
        free(r->accounts[i].segment);
    }
    free(r->accounts);
    free(r);
}
