/*
 * scorecard.c — the configurable health scorecard (docs/scoring.md).
 *
 * A scorecard is groups of measures. Each measure turns one stored metric
 * (its value, 28-day trend or peer percentile) into 0–100 points through
 * bands (first matching threshold wins) or a piecewise-linear map between
 * anchors. An account's score is the weighted mean of the points of the
 * measures that apply to it (segment and lifecycle-stage filters) and have
 * data; a measure without data is dropped and its weight re-spread, unless
 * its policy gives it fixed points. Each measure's contribution is reported
 * in score points, so the contributions of an account add up to its score.
 *
 * Parsing works on cw_config_entry lists, so the configuration file and the
 * compiled-in default scorecard go through the same code and report errors
 * as "file:line: [section] key: why".
 */
#define _POSIX_C_SOURCE 200809L
#include "core/util.h"
#include "core/ini.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "health/scorecard_int.h"

/* The default scorecard, from the seeds (docs/scoring.md explains each
 * choice): usage and breadth carry an established account; the first 90
 * days are judged mostly on onboarding; voice, outcomes and support are the
 * early signs of the other churn causes. */
static const char default_text[] =
    "[scorecard]\n"
    "name = default\n"
    "green_from = 70\n"
    "red_below = 45\n"
    "onboarding_days = 90\n"
    "change_days = 28\n"
    "\n"
    "[group.onboarding]\n"
    "weight = 10\n"
    "weight.onboarding = 40\n"
    "[group.usage]\n"
    "weight = 25\n"
    "weight.onboarding = 20\n"
    "[group.breadth]\n"
    "weight = 15\n"
    "weight.onboarding = 10\n"
    "[group.support]\n"
    "weight = 10\n"
    "[group.voice]\n"
    "weight = 15\n"
    "weight.onboarding = 5\n"
    "[group.outcomes]\n"
    "weight = 20\n"
    "weight.onboarding = 10\n"
    "[group.commercial]\n"
    "weight = 5\n"
    "\n"
    "; licences sold but never used (seed: 'licences sold but never used')\n"
    "[measure.licence_activation]\n"
    "group = onboarding\n"
    "weight = 2\n"
    "linear = 0.3:0, 0.9:100\n"
    "[measure.milestones_overdue]\n"
    "group = onboarding\n"
    "weight = 2\n"
    "bands = <=0:100, <=1:50, else:0\n"
    "[measure.training_completion]\n"
    "group = onboarding\n"
    "weight = 1\n"
    "linear = 0:0, 0.5:100\n"
    "\n"
    "; users who stop logging in\n"
    "[measure.active_licence_ratio]\n"
    "group = usage\n"
    "weight = 2\n"
    "linear = 0.15:0, 0.7:100\n"
    "[measure.events_change_pct]\n"
    "group = usage\n"
    "weight = 2\n"
    "linear = -50:0, -5:100\n"
    "[measure.weekly_consistency]\n"
    "group = usage\n"
    "weight = 1\n"
    "linear = 0.5:0, 4:100\n"
    "[measure.dropped_off_share]\n"
    "group = usage\n"
    "weight = 1\n"
    "linear = 0.5:0, 0.1:100\n"
    "\n"
    "; usage narrowed to one power user\n"
    "[measure.top_user_share]\n"
    "group = breadth\n"
    "weight = 2\n"
    "linear = 0.7:0, 0.25:100\n"
    "[measure.active_user_share]\n"
    "group = breadth\n"
    "weight = 1\n"
    "linear = 0.15:0, 0.7:100\n"
    "[measure.advanced_feature_share]\n"
    "group = breadth\n"
    "weight = 1\n"
    "linear = 0:0, 0.25:100\n"
    "\n"
    "; introductory tickets a year in\n"
    "[measure.intro_tickets_after_day90]\n"
    "group = support\n"
    "stage = established\n"
    "weight = 2\n"
    "bands = <=0:100, <=1:60, <=2:30, else:0\n"
    "[measure.intro_ticket_share]\n"
    "group = support\n"
    "stage = established\n"
    "weight = 1\n"
    "linear = 0.8:0, 0.3:100\n"
    "missing = 100\n"
    "[measure.ticket_csat]\n"
    "group = support\n"
    "weight = 1\n"
    "linear = 2:0, 4.5:100\n"
    "\n"
    "; voice of the customer\n"
    "[measure.nps_latest]\n"
    "group = voice\n"
    "weight = 2\n"
    "linear = 4:0, 9:100\n"
    "[measure.nps_change_90d]\n"
    "group = voice\n"
    "weight = 1\n"
    "linear = -40:0, 0:100\n"
    "\n"
    "; outcomes the customer was promised but is not reaching\n"
    "[measure.goal_attainment_worst]\n"
    "group = outcomes\n"
    "weight = 1\n"
    "linear = 0.4:0, 0.95:100\n"
    "\n"
    "[measure.seat_change_90d]\n"
    "group = commercial\n"
    "weight = 1\n"
    "bands = <0:20, else:100\n";

const char *cw_scorecard_default_text(void)
{
    return default_text;
}

/* ---- parsing -------------------------------------------------------- */

typedef struct parse_ctx {
    cw_scorecard *sc;
    const char *file; /* for messages */
    char *err;
} parse_ctx;

static int perr(parse_ctx *p, const cw_config_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(parse_ctx *p, const cw_config_entry *e, const char *fmt, ...)
{
    if (p->err)
        return 0;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    p->err = cw_strdupf("%s:%d: [%s] %s: %s", p->file, e->line, e->section, e->key, why);
    return 0;
}

static int parse_num(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return 0;
    *out = v;
    return 1;
}

static int copy_name(char *dst, size_t n, const char *s)
{
    size_t l = strlen(s);
    if (l == 0 || l >= n)
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || c == '-' || c == ':' || c == '.' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    memcpy(dst, s, l + 1);
    return 1;
}

static cw_sc_group *group_get(cw_scorecard *sc, const char *name, int create)
{
    for (int i = 0; i < sc->ngroups; i++)
        if (strcmp(sc->groups[i].name, name) == 0)
            return &sc->groups[i];
    if (!create || sc->ngroups == SC_MAX_GROUPS)
        return NULL;
    cw_sc_group *g = &sc->groups[sc->ngroups];
    memset(g, 0, sizeof *g);
    if (!copy_name(g->name, sizeof g->name, name))
        return NULL;
    for (int s = 0; s < SC_STAGES; s++)
        g->weight[s] = NAN;
    g->line = 0;
    sc->ngroups++;
    return g;
}

static cw_sc_measure *measure_get(cw_scorecard *sc, const char *name)
{
    for (int i = 0; i < sc->nmeasures; i++)
        if (strcmp(sc->measures[i].name, name) == 0)
            return &sc->measures[i];
    if (sc->nmeasures == SC_MAX_MEASURES)
        return NULL;
    cw_sc_measure *m = &sc->measures[sc->nmeasures];
    memset(m, 0, sizeof *m);
    if (!copy_name(m->name, sizeof m->name, name))
        return NULL;
    m->weight = 1;
    m->group = -1;
    m->stages = (1u << SC_STAGES) - 1;
    m->missing = SC_MISSING_DROP;
    sc->nmeasures++;
    return m;
}

/* "a:b, c:d" anchors or bands into m. Band keys: "<x", "<=x", ">x", ">=x",
 * "else". */
static int parse_points(parse_ctx *p, const cw_config_entry *e, cw_sc_measure *m, int bands)
{
    char buf[1024];
    if (strlen(e->value) >= sizeof buf)
        return perr(p, e, "too long");
    memcpy(buf, e->value, strlen(e->value) + 1);
    m->npoints = 0;
    m->kind = bands ? SC_BANDS : SC_LINEAR;
    int seen_else = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *colon = strrchr(tok, ':');
        if (!colon)
            return perr(p, e, "'%s' is not THRESHOLD:POINTS", tok);
        *colon = '\0';
        double pts;
        if (!parse_num(colon + 1, &pts) || pts < 0 || pts > 100)
            return perr(p, e, "'%s': points must be a number in 0..100", colon + 1);
        if (m->npoints == SC_MAX_POINTS)
            return perr(p, e, "more than %d entries", SC_MAX_POINTS);
        cw_sc_point *pt = &m->points[m->npoints];
        pt->pts = pts;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (bands) {
            if (seen_else)
                return perr(p, e, "nothing may follow 'else'");
            if (strcmp(tok, "else") == 0) {
                pt->op = SC_ELSE;
                seen_else = 1;
            } else {
                const char *x = tok;
                if (strncmp(x, "<=", 2) == 0)
                    pt->op = SC_LE, x += 2;
                else if (strncmp(x, ">=", 2) == 0)
                    pt->op = SC_GE, x += 2;
                else if (*x == '<')
                    pt->op = SC_LT, x++;
                else if (*x == '>')
                    pt->op = SC_GT, x++;
                else
                    return perr(p, e, "band '%s' must start with <, <=, >, >= or be 'else'", tok);
                if (!parse_num(x, &pt->x))
                    return perr(p, e, "band '%s': '%s' is not a number", tok, x);
            }
        } else {
            if (!parse_num(tok, &pt->x))
                return perr(p, e, "anchor '%s' is not a number", tok);
            if (m->npoints > 0 && pt->x == m->points[m->npoints - 1].x)
                return perr(p, e, "two anchors at %g", pt->x);
        }
        m->npoints++;
    }
    if (bands && !seen_else)
        return perr(p, e, "bands need a final 'else:POINTS' so every value scores");
    if (!bands && m->npoints < 2)
        return perr(p, e, "a linear map needs two anchors or more (X:POINTS, X:POINTS)");
    if (!bands) {
        /* Anchors must run one way: ascending or descending in x. */
        int dir = m->points[1].x > m->points[0].x ? 1 : -1;
        for (int i = 2; i < m->npoints; i++)
            if ((m->points[i].x - m->points[i - 1].x) * dir <= 0)
                return perr(p, e, "anchors must be in ascending or descending order");
    }
    return 1;
}

static int parse_stage_mask(const char *v, unsigned *mask)
{
    if (strcasecmp(v, "any") == 0 || strcasecmp(v, "all") == 0)
        *mask = (1u << SC_STAGES) - 1;
    else if (strcasecmp(v, "onboarding") == 0)
        *mask = 1u << SC_STAGE_ONBOARDING;
    else if (strcasecmp(v, "established") == 0)
        *mask = 1u << SC_STAGE_ESTABLISHED;
    else
        return 0;
    return 1;
}

static int on_scorecard_key(parse_ctx *p, const cw_config_entry *e)
{
    cw_scorecard *sc = p->sc;
    double v;
    if (strcmp(e->key, "name") == 0) {
        if (!copy_name(sc->name, sizeof sc->name, e->value))
            return perr(p, e, "a name is 1..63 letters, digits, '_', '-', '.'");
    } else if (strcmp(e->key, "green_from") == 0 || strcmp(e->key, "red_below") == 0) {
        if (!parse_num(e->value, &v) || v < 0 || v > 100)
            return perr(p, e, "'%s' is not a score in 0..100", e->value);
        if (e->key[0] == 'g')
            sc->green_from = v;
        else
            sc->red_below = v;
    } else if (strcmp(e->key, "onboarding_days") == 0 || strcmp(e->key, "change_days") == 0) {
        if (!parse_num(e->value, &v) || v < 1 || v > 3650 || v != floor(v))
            return perr(p, e, "'%s' is not a whole number of days in 1..3650", e->value);
        if (e->key[0] == 'o')
            sc->onboarding_days = (int)v;
        else
            sc->change_days = (int)v;
    } else {
        return perr(p, e,
                    "is not a scorecard key (name, green_from, red_below, onboarding_days, "
                    "change_days)");
    }
    return 1;
}

static int on_group_key(parse_ctx *p, const cw_config_entry *e, const char *name)
{
    if (!*name)
        return perr(p, e, "a group needs a name: [group.NAME]");
    cw_sc_group *g = group_get(p->sc, name, 1);
    if (!g)
        return perr(p, e, "bad group name or more than %d groups", SC_MAX_GROUPS);
    if (!g->line)
        g->line = e->line;
    int stage = -1;
    if (strcmp(e->key, "weight") == 0)
        stage = SC_STAGES; /* all */
    else if (strcmp(e->key, "weight.onboarding") == 0)
        stage = SC_STAGE_ONBOARDING;
    else if (strcmp(e->key, "weight.established") == 0)
        stage = SC_STAGE_ESTABLISHED;
    else
        return perr(p, e, "is not a group key (weight, weight.onboarding, weight.established)");
    double v;
    if (!parse_num(e->value, &v) || v < 0 || v > 1e6)
        return perr(p, e, "'%s' is not a weight (a number >= 0)", e->value);
    if (stage == SC_STAGES) {
        g->base = v;
        g->has_base = 1;
    } else {
        g->weight[stage] = v;
    }
    return 1;
}

static int on_measure_key(parse_ctx *p, const cw_config_entry *e, const char *name)
{
    cw_scorecard *sc = p->sc;
    if (!*name)
        return perr(p, e, "a measure needs a name: [measure.NAME]");
    cw_sc_measure *m = measure_get(sc, name);
    if (!m)
        return perr(p, e, "bad measure name or more than %d measures", SC_MAX_MEASURES);
    if (!m->line)
        m->line = e->line;
    double v;
    if (strcmp(e->key, "metric") == 0) {
        if (!copy_name(m->metric, sizeof m->metric, e->value))
            return perr(p, e, "'%s' is not a metric name", e->value);
        m->metric_line = e->line;
    } else if (strcmp(e->key, "source") == 0) {
        if (strcasecmp(e->value, "value") == 0)
            m->source = SC_SRC_VALUE;
        else if (strcasecmp(e->value, "trend") == 0)
            m->source = SC_SRC_TREND;
        else if (strcasecmp(e->value, "peer") == 0)
            m->source = SC_SRC_PEER;
        else
            return perr(p, e, "'%s' is not one of value, trend, peer", e->value);
    } else if (strcmp(e->key, "group") == 0) {
        char gname[64];
        if (!copy_name(gname, sizeof gname, e->value))
            return perr(p, e, "'%s' is not a group name", e->value);
        /* Resolved after all sections are read (groups may come later). */
        memcpy(m->group_name, gname, sizeof m->group_name);
        m->group_line = e->line;
    } else if (strcmp(e->key, "weight") == 0) {
        if (!parse_num(e->value, &v) || v <= 0 || v > 1e6)
            return perr(p, e, "'%s' is not a weight (a number > 0)", e->value);
        m->weight = v;
    } else if (strcmp(e->key, "bands") == 0 || strcmp(e->key, "linear") == 0) {
        if (m->npoints)
            return perr(p, e, "a measure has either bands or linear, once");
        return parse_points(p, e, m, e->key[0] == 'b');
    } else if (strcmp(e->key, "missing") == 0) {
        if (strcasecmp(e->value, "drop") == 0)
            m->missing = SC_MISSING_DROP;
        else if (parse_num(e->value, &v) && v >= 0 && v <= 100) {
            m->missing = SC_MISSING_POINTS;
            m->missing_pts = v;
        } else
            return perr(p, e, "'%s' is neither 'drop' nor points in 0..100", e->value);
    } else if (strcmp(e->key, "stage") == 0) {
        if (!parse_stage_mask(e->value, &m->stages))
            return perr(p, e, "'%s' is not one of any, onboarding, established", e->value);
    } else if (strcmp(e->key, "segments") == 0) {
        size_t l = strlen(e->value);
        if (l >= sizeof m->segments)
            return perr(p, e, "too long");
        /* Stored as ",a,b," (spaces trimmed) for a whole-name search. */
        char *d = m->segments;
        *d++ = ',';
        for (const char *s = e->value; *s; s++)
            if (*s != ' ' && *s != '\t')
                *d++ = *s;
        *d++ = ',';
        *d = '\0';
    } else if (strcmp(e->key, "label") == 0) {
        size_t l = strlen(e->value);
        if (l >= sizeof m->label)
            return perr(p, e, "longer than %zu bytes", sizeof m->label - 1);
        memcpy(m->label, e->value, l + 1);
    } else {
        return perr(p, e,
                    "is not a measure key (metric, source, group, weight, bands, linear, "
                    "missing, stage, segments, label)");
    }
    return 1;
}

/* Checks what single keys cannot: every measure has points and a known
 * group, its metric exists, every group has a weight. */
static int finish(parse_ctx *p)
{
    cw_scorecard *sc = p->sc;
    if (sc->nmeasures == 0) {
        p->err = cw_strdupf("%s: the scorecard has no [measure.NAME] sections", p->file);
        return 0;
    }
    for (int i = 0; i < sc->nmeasures; i++) {
        cw_sc_measure *m = &sc->measures[i];
        cw_config_entry at = {"", "", "", m->line};
        char sec[80];
        snprintf(sec, sizeof sec, "measure.%s", m->name);
        at.section = sec;
        if (!m->metric[0])
            memcpy(m->metric, m->name, sizeof m->metric);
        if (!m->npoints) {
            at.key = "bands";
            return perr(p, &at, "a measure needs bands = … or linear = …");
        }
        if (!m->group_name[0]) {
            at.key = "group";
            return perr(p, &at, "a measure needs a group");
        }
        cw_sc_group *g = group_get(sc, m->group_name, 0);
        if (!g) {
            at.key = "group";
            at.line = m->group_line;
            return perr(p, &at, "no [group.%s] section", m->group_name);
        }
        m->group = (int)(g - sc->groups);
        if (!cw_sc_metric_known(m->metric, sc->custom, sc->ncustom)) {
            at.key = "metric";
            if (m->metric_line)
                at.line = m->metric_line;
            return perr(p, &at, "'%s' is not an account metric (see `churnwatch metrics list`)",
                        m->metric);
        }
    }
    for (int i = 0; i < sc->ngroups; i++) {
        cw_sc_group *g = &sc->groups[i];
        if (!g->has_base) {
            cw_config_entry at = {"", "weight", "", g->line};
            char sec[80];
            snprintf(sec, sizeof sec, "group.%s", g->name);
            at.section = sec;
            return perr(p, &at, "a group needs a weight");
        }
        for (int s = 0; s < SC_STAGES; s++)
            if (isnan(g->weight[s]))
                g->weight[s] = g->base;
    }
    if (sc->red_below > sc->green_from) {
        p->err = cw_strdupf("%s: [scorecard] red_below (%g) is above green_from (%g)", p->file,
                            sc->red_below, sc->green_from);
        return 0;
    }
    return 1;
}

int cw_sc_metric_known(const char *name, const cw_custom_metric *custom, int ncustom)
{
    int i = cw_metric_index(name);
    const cw_metric_info *cat;
    cw_metrics_catalog(&cat);
    if (i >= 0)
        return cat[i].scope == CW_SCOPE_ACCOUNT;
    if (strncmp(name, "days_to_milestone:", 18) == 0 && name[18])
        return 1;
    for (int k = 0; k < ncustom; k++)
        if (strcmp(custom[k].name, name) == 0)
            return 1;
    return 0;
}

/* Canonical JSON of the parsed scorecard: stored with the scores, and
 * hashed into the version id that every score row carries. */
static cw_status describe(cw_scorecard *sc)
{
    json_t *root = json_object(), *groups = json_array(), *measures = json_array();
    if (!root || !groups || !measures)
        goto nomem;
    json_object_set_new(root, "name", json_string(sc->name));
    json_object_set_new(root, "green_from", json_real(sc->green_from));
    json_object_set_new(root, "red_below", json_real(sc->red_below));
    json_object_set_new(root, "onboarding_days", json_integer(sc->onboarding_days));
    json_object_set_new(root, "change_days", json_integer(sc->change_days));
    for (int i = 0; i < sc->ngroups; i++) {
        const cw_sc_group *g = &sc->groups[i];
        json_array_append_new(groups,
                              json_pack("{s:s,s:f,s:f}", "name", g->name, "weight_onboarding",
                                        g->weight[SC_STAGE_ONBOARDING], "weight_established",
                                        g->weight[SC_STAGE_ESTABLISHED]));
    }
    static const char *srcs[] = {"value", "trend", "peer"};
    static const char *ops[] = {"<", "<=", ">", ">=", "else"};
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *m = &sc->measures[i];
        json_t *pts = json_array();
        for (int k = 0; k < m->npoints; k++) {
            const cw_sc_point *pt = &m->points[k];
            if (m->kind == SC_BANDS)
                json_array_append_new(pts, json_pack("{s:s,s:f,s:f}", "op", ops[pt->op], "x",
                                                     pt->op == SC_ELSE ? 0.0 : pt->x, "points",
                                                     pt->pts));
            else
                json_array_append_new(pts, json_pack("{s:f,s:f}", "x", pt->x, "points", pt->pts));
        }
        json_t *jm = json_pack(
            "{s:s,s:s,s:s,s:s,s:f,s:s,s:o,s:o,s:i,s:s,s:s}", "name", m->name, "metric", m->metric,
            "source", srcs[m->source], "group", sc->groups[m->group].name, "weight", m->weight,
            "kind", m->kind == SC_BANDS ? "bands" : "linear", "points", pts, "missing",
            m->missing == SC_MISSING_DROP ? json_string("drop") : json_real(m->missing_pts),
            "stages", (int)m->stages, "segments", m->segments, "label", m->label);
        if (!jm)
            goto nomem;
        json_array_append_new(measures, jm);
    }
    json_object_set_new(root, "groups", groups);
    json_object_set_new(root, "measures", measures);
    groups = measures = NULL;
    sc->definition = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (!sc->definition)
        return CW_ERR_NOMEM;
    uint64_t h = cw_hash64(sc->definition, strlen(sc->definition), 0x5c0ecaa7d5eedULL);
    snprintf(sc->hash, sizeof sc->hash, "%016llx", (unsigned long long)h);
    return CW_OK;
nomem:
    json_decref(root);
    json_decref(groups);
    json_decref(measures);
    return CW_ERR_NOMEM;
}

static cw_status parse_entries(const cw_config_entry *e, int n, const char *file,
                               const cw_custom_metric *custom, int ncustom, cw_scorecard **out,
                               char **errmsg)
{
    *out = NULL;
    cw_scorecard *sc = calloc(1, sizeof *sc);
    if (!sc)
        return CW_ERR_NOMEM;
    memcpy(sc->name, "default", 8);
    sc->green_from = 70;
    sc->red_below = 40;
    sc->onboarding_days = 90;
    sc->change_days = 28;
    sc->custom = custom;
    sc->ncustom = ncustom;
    parse_ctx p = {sc, file, NULL};
    for (int i = 0; i < n && !p.err; i++) {
        const char *name;
        if (cw_config_section_is(e[i].section, "scorecard", &name)) {
            if (*name)
                perr(&p, &e[i], "the scorecard section is [scorecard]");
            else
                on_scorecard_key(&p, &e[i]);
        } else if (cw_config_section_is(e[i].section, "group", &name))
            on_group_key(&p, &e[i], name);
        else if (cw_config_section_is(e[i].section, "measure", &name))
            on_measure_key(&p, &e[i], name);
    }
    if (!p.err)
        finish(&p);
    if (p.err) {
        if (errmsg)
            *errmsg = p.err;
        else
            free(p.err);
        cw_scorecard_free(sc);
        return CW_ERR_CONFIG;
    }
    sc->custom = NULL; /* borrowed from the configuration only while parsing */
    sc->ncustom = 0;
    cw_status s = describe(sc);
    if (s != CW_OK) {
        cw_scorecard_free(sc);
        return s;
    }
    *out = sc;
    return CW_OK;
}

/* Entries of the default text, as the configuration would keep them. */
typedef struct text_ctx {
    cw_config_entry e[512];
    int n;
    char store[512][3][128];
} text_ctx;

static char *on_text(void *ud, const cw_ini_item *it)
{
    text_ctx *t = ud;
    if (it->header)
        return NULL;
    if (it->cont || t->n == 512 || strlen(it->section) >= 128 || strlen(it->key) >= 128 ||
        strlen(it->value) >= 128)
        return cw_strdupf("[%s] %s: not a line of a default scorecard", it->section, it->key);
    memcpy(t->store[t->n][0], it->section, strlen(it->section) + 1);
    memcpy(t->store[t->n][1], it->key, strlen(it->key) + 1);
    memcpy(t->store[t->n][2], it->value, strlen(it->value) + 1);
    t->e[t->n] =
        (cw_config_entry){t->store[t->n][0], t->store[t->n][1], t->store[t->n][2], it->line};
    t->n++;
    return NULL;
}

cw_status cw_sc_parse_text(const char *text, const char *file, const cw_custom_metric *custom,
                           int ncustom, cw_scorecard **out, char **errmsg)
{
    if (errmsg)
        *errmsg = NULL;
    text_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return CW_ERR_NOMEM;
    char *err = NULL;
    cw_status s = cw_ini_parse(text, strlen(text), file, on_text, t, &err);
    if (s == CW_OK)
        s = parse_entries(t->e, t->n, file, custom, ncustom, out, errmsg);
    else if (errmsg)
        *errmsg = err;
    else
        free(err);
    free(t);
    return s;
}

static cw_status scorecard_load(const cw_config *c, cw_scorecard **out, char **errmsg);

cw_status cw_scorecard_load(const cw_config *c, cw_scorecard **out, cw_error *err)
{
    char *msg = NULL;
    cw_status s = scorecard_load(c, out, &msg);
    return cw_error_take(err, s, msg, "scorecard");
}

static cw_status scorecard_load(const cw_config *c, cw_scorecard **out, char **errmsg)
{
    if (errmsg)
        *errmsg = NULL;
    const cw_custom_metric *custom = NULL;
    int ncustom = c ? cw_config_custom_metrics(c, &custom) : 0;
    const cw_config_entry *e = NULL;
    int n = c ? cw_config_entries(c, &e) : 0;
    int any = 0;
    for (int i = 0; i < n; i++)
        if (cw_config_section_is(e[i].section, "scorecard", NULL) ||
            cw_config_section_is(e[i].section, "group", NULL) ||
            cw_config_section_is(e[i].section, "measure", NULL))
            any = 1;
    if (!any)
        return cw_sc_parse_text(default_text, "(default scorecard)", custom, ncustom, out, errmsg);
    const char *path = cw_config_path(c);
    return parse_entries(e, n, path ? path : "(configuration)", custom, ncustom, out, errmsg);
}

void cw_scorecard_free(cw_scorecard *sc)
{
    if (!sc)
        return;
    free(sc->definition);
    free(sc);
}

const char *cw_scorecard_hash(const cw_scorecard *sc)
{
    return sc->hash;
}

const char *cw_scorecard_name(const cw_scorecard *sc)
{
    return sc->name;
}

const char *cw_scorecard_definition(const cw_scorecard *sc)
{
    return sc->definition;
}

int cw_scorecard_measures(const cw_scorecard *sc)
{
    return sc->nmeasures;
}

void cw_scorecard_measure_info(const cw_scorecard *sc, int i, cw_measure_info *out)
{
    const cw_sc_measure *m = &sc->measures[i];
    out->name = m->name;
    out->metric = m->metric;
    out->group = sc->groups[m->group].name;
    out->label = m->label[0] ? m->label : NULL;
    out->source = (int)m->source;
}

void cw_scorecard_cutoffs(const cw_scorecard *sc, double *green_from, double *red_below)
{
    *green_from = sc->green_from;
    *red_below = sc->red_below;
}

/* ---- evaluation ----------------------------------------------------- */

double cw_sc_points(const cw_sc_measure *m, double x)
{
    if (m->kind == SC_BANDS) {
        for (int k = 0; k < m->npoints; k++) {
            const cw_sc_point *p = &m->points[k];
            int hit = 0;
            switch (p->op) {
            case SC_LT: hit = x < p->x; break;
            case SC_LE: hit = x <= p->x; break;
            case SC_GT: hit = x > p->x; break;
            case SC_GE: hit = x >= p->x; break;
            case SC_ELSE: hit = 1; break;
            }
            if (hit)
                return p->pts;
        }
        return 0; /* unreachable: parsing demands a final else */
    }
    const cw_sc_point *a = m->points, *z = &m->points[m->npoints - 1];
    int asc = z->x > a->x;
    /* Clamp outside the anchors, interpolate inside. */
    if (asc ? x <= a->x : x >= a->x)
        return a->pts;
    if (asc ? x >= z->x : x <= z->x)
        return z->pts;
    for (int k = 1; k < m->npoints; k++) {
        const cw_sc_point *p0 = &m->points[k - 1], *p1 = &m->points[k];
        if (asc ? x <= p1->x : x >= p1->x)
            return p0->pts + (p1->pts - p0->pts) * (x - p0->x) / (p1->x - p0->x);
    }
    return z->pts;
}

int cw_scorecard_stage(const cw_scorecard *sc, double tenure_days)
{
    return !isnan(tenure_days) && tenure_days < sc->onboarding_days ? SC_STAGE_ONBOARDING
                                                                    : SC_STAGE_ESTABLISHED;
}

int cw_sc_segment_applies(const cw_sc_measure *m, const char *segment)
{
    if (!m->segments[0])
        return 1;
    if (!segment)
        return 0;
    size_t l = strlen(segment);
    for (const char *p = m->segments; (p = strstr(p, segment)) != NULL; p++)
        if (p[-1] == ',' && p[l] == ',')
            return 1;
    return 0;
}

int cw_scorecard_colour(const cw_scorecard *sc, double score)
{
    if (score >= sc->green_from)
        return CW_GREEN;
    if (score < sc->red_below)
        return CW_RED;
    return CW_YELLOW;
}

/* The effective weights of one account's measures: group weight (by stage)
 * × measure weight, normalised first within the group over the measures
 * with points, then across the groups that have any. */
double cw_scorecard_eval(const cw_scorecard *sc, const double *input, int stage,
                         const char *segment, double *contrib, double *maxpts)
{
    double pts[SC_MAX_MEASURES], gsum[SC_MAX_GROUPS] = {0};
    int on[SC_MAX_MEASURES];
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *m = &sc->measures[i];
        on[i] = 0;
        pts[i] = NAN;
        /* weight 0 only comes from fitted weights (configured ones are > 0) */
        if (m->weight <= 0 || !(m->stages & (1u << stage)) || !cw_sc_segment_applies(m, segment))
            continue;
        double x = input[i];
        if (isnan(x)) {
            if (m->missing == SC_MISSING_DROP)
                continue;
            pts[i] = m->missing_pts;
        } else {
            pts[i] = cw_sc_points(m, x);
        }
        on[i] = 1;
        gsum[m->group] += m->weight;
    }
    double total_gw = 0;
    for (int g = 0; g < sc->ngroups; g++)
        if (gsum[g] > 0)
            total_gw += sc->groups[g].weight[stage];
    double score = 0;
    for (int i = 0; i < sc->nmeasures; i++) {
        const cw_sc_measure *m = &sc->measures[i];
        double w = on[i] && total_gw > 0
                       ? sc->groups[m->group].weight[stage] / total_gw * m->weight / gsum[m->group]
                       : 0;
        double c = on[i] ? w * pts[i] : NAN;
        if (contrib)
            contrib[i] = c;
        if (maxpts)
            maxpts[i] = on[i] ? w * 100 : NAN;
        if (on[i])
            score += c;
    }
    return total_gw > 0 ? score : NAN;
}
