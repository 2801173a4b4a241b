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
        return cw_store_set_error(st, CW_ERR_NOMEM, "reasons: out of memory loading accounts");
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

cw_status cw_reasons_map_parse(const char *spec, cw_reason_rule **out, int *n, cw_error *err)
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
            cw_reasons_map_free(r, cnt);
            return cw_error_set(err, CW_ERR_USAGE,
                                "reason map: '%.*s' is not keyword=cause (causes: bad_service, "
                                "bad_onboarding, lack_of_success, natural)",
                                (int)(e - s > 60 ? 60 : e - s), s);
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            cw_reason_rule *g = realloc(r, (size_t)cap * sizeof *g);
            if (!g) {
                cw_reasons_map_free(r, cnt);
                return cw_error_set(err, CW_ERR_NOMEM, "reason map: out of memory");
            }
            r = g;
        }
        char *kw = cw_strndup(s, (size_t)(ke - s));
        if (!kw) {
            cw_reasons_map_free(r, cnt);
            return cw_error_set(err, CW_ERR_NOMEM, "reason map: out of memory");
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
    cw_store_enter(st, "reasons");
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
        s = cw_store_set_error(st, CW_ERR_NOMEM, "reasons: out of memory");
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
        s = cw_store_set_error(st, CW_ERR_NOMEM, "reasons: out of memory");
        goto done;
    }
    int ovf = 0;
    for (int64_t id = 1; id < w.L.nids && s == CW_OK; id++) {
        if (!mark[id])
            continue;
        const cw_ledger_account *a = &w.L.acc[id];
        cw_churned_account *c = &r->accounts[r->naccounts++];
        c->account_id = cw_ledger_strdup(&w.L, a->ext);
        c->segment = cw_ledger_strdup(&w.L, w.L.seg_name[a->segment]);
        c->churn_ts_unix = a->churn_unix;
        c->reason_from_survey = w.survey_reason[id] != NULL;
        if (w.survey_reason[id])
            c->reason = w.survey_reason[id], w.survey_reason[id] = NULL; /* moved into the report */
        else if (a->churn_reason && !(c->reason = cw_ledger_strdup(&w.L, a->churn_reason)))
            s = cw_store_set_error(st, CW_ERR_NOMEM, "reasons: out of memory");
        if (!c->account_id || !c->segment) {
            s = cw_store_set_error(st, CW_ERR_NOMEM, "reasons: out of memory");
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
            s = cw_store_set_error(st, CW_ERR_NOMEM, "reasons: out of memory");
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
