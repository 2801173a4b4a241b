/*
 * rules.c — loading the rule set: the stock pack (rules_stock.c) first,
 * then the configuration's [rule.NAME] and [playbook.NAME] sections, whose
 * keys override a stock section of the same name key by key (so
 * "enabled = false" alone disables a stock rule). Every key is validated and
 * every expression compiled here, once, against the slot layout the
 * evaluator (alerts.c) fills; errors point at file, line and column.
 *
 * Slot layout (rules_int.h): the account metrics of the catalogue and the
 * configuration's custom metrics (values, then trend(), then peer()), the
 * five scores, then the user metrics and user_tenure_days.
 */
#include "alerts/rules_int.h"
#include "core/buf.h"
#include "core/util.h"
#include "alerts/expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const score_names[RS_NSCORES] = {"health_score", "health_colour",
                                                    "health_change", "churn_probability",
                                                    "churn_probability_change"};

enum { K_DESC, K_SCOPE, K_WHEN, K_CLEAR, K_SEV, K_SEG, K_COOL, K_PLAYBOOK, K_ENABLED, NRKEYS };
static const char *const rule_keys[NRKEYS] = {"description",   "scope",    "when",
                                              "clear_when",    "severity", "segment",
                                              "cooldown_days", "playbook", "enabled"};
enum { P_DESC, P_ACTIONS, P_CONTROL, NPKEYS };
static const char *const pb_keys[NPKEYS] = {"description", "actions", "control_share"};

/* One [rule.X] or [playbook.X] section with the latest value of each key. */
typedef struct spec {
    int is_rule;
    const char *name;
    const char *val[NRKEYS];
    int line[NRKEYS];
    int from_cfg[NRKEYS];
    int stock, overridden;
    int first_line, first_from_cfg;
} spec;

typedef struct loader {
    cw_rules *r;
    const cw_config *cfg;
    const char *cfg_path;
    spec *specs;
    int nspecs, capspecs;
    char *err;
    /* Hash index of specs by (is_rule, name): -1 = free slot. Looking a
     * section up per key by scanning made loading quadratic in the rules. */
    int *index;
    size_t capindex;
    /* [action.NAME] names of the configuration, sorted (bsearch), built on
     * first use: playbooks no longer rescan every entry per action. */
    const char **actions;
    int nactions, actions_built;
} loader;

static int own(cw_rules *r, char *s)
{
    if (!s)
        return -1;
    if (r->nowned == r->capowned) {
        int cap = r->capowned ? 2 * r->capowned : 64;
        char **o = realloc(r->owned, (size_t)cap * sizeof *o);
        if (!o) {
            free(s);
            return -1;
        }
        r->owned = o;
        r->capowned = cap;
    }
    r->owned[r->nowned++] = s;
    return 0;
}

static char *dup_owned(cw_rules *r, const char *s, size_t n)
{
    char *d = cw_strndup(s, n);
    return own(r, d) ? NULL : d;
}

/* Column (1-based) where the value of the key on line `line` of text
 * starts, or 0 when unknown. */
static int value_col(const char *text, int line)
{
    if (!text || line < 1)
        return 0;
    const char *p = text;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return 0;
    const char *eq = p;
    while (*eq && *eq != '\n' && *eq != '=' && *eq != ':')
        eq++;
    if (*eq != '=' && *eq != ':')
        return 0;
    eq++;
    while (*eq == ' ' || *eq == '\t')
        eq++;
    return (int)(eq - p) + 1;
}

/* The configuration's text for error context, or NULL (unreadable, too
 * large or out of memory: messages then go without the source line). */
static char *read_small_file(const char *path)
{
    if (!path)
        return NULL;
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_FILE);
    if (cw_buf_add_file(&b, path) != CW_OK) {
        cw_buf_free(&b);
        return NULL;
    }
    return cw_buf_steal(&b, NULL);
}

static void set_err(loader *L, const spec *s, int k, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void set_err(loader *L, const spec *s, int k, int col, const char *fmt, ...)
{
    if (L->err)
        return;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    int from_cfg = k >= 0 ? s->from_cfg[k] : s->first_from_cfg;
    int line = k >= 0 ? s->line[k] : s->first_line;
    const char *file = from_cfg ? (L->cfg_path ? L->cfg_path : "configuration") : "stock rules";
    char where[600];
    if (col > 0)
        snprintf(where, sizeof where, "%s:%d:%d", file, line, col);
    else if (line > 0)
        snprintf(where, sizeof where, "%s:%d", file, line);
    else
        snprintf(where, sizeof where, "%s", file);
    const char *type = s->is_rule ? "rule" : "playbook";
    if (k >= 0)
        L->err = cw_strdupf("%s: [%s.%s] %s: %s", where, type, s->name,
                            s->is_rule ? rule_keys[k] : pb_keys[k], why);
    else
        L->err = cw_strdupf("%s: [%s.%s]: %s", where, type, s->name, why);
}

static size_t spec_hash(int is_rule, const char *name)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)is_rule; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211u;
    return (size_t)h;
}

static spec *find_spec(loader *L, int is_rule, const char *name)
{
    if (!L->capindex)
        return NULL;
    size_t mask = L->capindex - 1;
    for (size_t i = spec_hash(is_rule, name) & mask; L->index[i] >= 0; i = (i + 1) & mask) {
        spec *s = &L->specs[L->index[i]];
        if (s->is_rule == is_rule && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

/* Indexes specs[k] (new, so absent); grows the table at half full. */
static int index_spec(loader *L, int k)
{
    if (2 * ((size_t)L->nspecs + 1) > L->capindex) {
        size_t cap = L->capindex ? 2 * L->capindex : 64;
        int *ni = malloc(cap * sizeof *ni);
        if (!ni)
            return -1;
        for (size_t i = 0; i < cap; i++)
            ni[i] = -1;
        free(L->index);
        L->index = ni;
        L->capindex = cap;
        for (int j = 0; j < L->nspecs; j++)
            if (j != k)
                index_spec(L, j);
    }
    size_t mask = L->capindex - 1;
    size_t i = spec_hash(L->specs[k].is_rule, L->specs[k].name) & mask;
    while (L->index[i] >= 0)
        i = (i + 1) & mask;
    L->index[i] = k;
    return 0;
}

/* Applies one key of a section from the stock pack (from_cfg 0) or the
 * configuration. */
static void apply(loader *L, const char *section, const char *key, const char *value, int line,
                  int from_cfg)
{
    const char *name;
    int is_rule = cw_config_section_is(section, "rule", &name);
    if (!is_rule && !cw_config_section_is(section, "playbook", &name))
        return;
    spec tmp = {0};
    tmp.is_rule = is_rule;
    tmp.name = name;
    tmp.first_line = line;
    tmp.first_from_cfg = from_cfg;
    if (!*name) {
        set_err(L, &tmp, -1, 0, "a %s section needs a name: [%s.NAME]", section, section);
        return;
    }
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
            set_err(L, &tmp, -1, 0, "names use letters, digits, '_' and '-'");
            return;
        }
    spec *s = find_spec(L, is_rule, name);
    if (!s) {
        if (L->nspecs == L->capspecs) {
            int cap = L->capspecs ? 2 * L->capspecs : 32;
            spec *n = realloc(L->specs, (size_t)cap * sizeof *n);
            if (!n) {
                L->err = cw_strdupf("out of memory");
                return;
            }
            L->specs = n;
            L->capspecs = cap;
        }
        s = &L->specs[L->nspecs++];
        *s = tmp;
        s->name = dup_owned(L->r, name, strlen(name));
        s->stock = !from_cfg;
        if (!s->name || index_spec(L, L->nspecs - 1) != 0) {
            L->err = cw_strdupf("out of memory");
            return;
        }
    } else if (from_cfg && s->stock) {
        s->overridden = 1;
    }
    const char *const *keys = is_rule ? rule_keys : pb_keys;
    int nk = is_rule ? NRKEYS : NPKEYS;
    int k;
    for (k = 0; k < nk; k++)
        if (strcmp(keys[k], key) == 0)
            break;
    if (k == nk) {
        char known[256] = "";
        for (int j = 0; j < nk; j++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "",
                     keys[j]);
        tmp.name = s->name;
        set_err(L, &tmp, -1, 0, "'%s' is not a key of this section (keys: %s)", key, known);
        return;
    }
    s->val[k] = dup_owned(L->r, value, strlen(value));
    s->line[k] = line;
    s->from_cfg[k] = from_cfg;
}

/* Parses the stock pack's INI text (sections, key = value, # comments). */
static void apply_stock(loader *L)
{
    const char *p = cw_rules_stock_text();
    char section[512] = "";
    int line = 0;
    while (*p && !L->err) {
        line++;
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char buf[512];
        if (n >= sizeof buf)
            n = sizeof buf - 1;
        memcpy(buf, p, n);
        buf[n] = 0;
        p += e ? n + 1 : n;
        if (buf[0] == '#' || buf[0] == 0)
            continue;
        if (buf[0] == '[') {
            char *close = strchr(buf, ']');
            if (close)
                *close = 0;
            snprintf(section, sizeof section, "%s", buf + 1);
            continue;
        }
        char *eq = strchr(buf, '=');
        if (!eq)
            continue;
        char *ke = eq;
        while (ke > buf && ke[-1] == ' ')
            ke--;
        *ke = 0;
        char *v = eq + 1;
        while (*v == ' ')
            v++;
        apply(L, section, buf, v, line, 0);
    }
}

/* ---- name resolution ------------------------------------------------ */

static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t d[65];
    for (size_t j = 0; j <= lb; j++)
        d[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = d[0];
        d[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = d[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = d[j] + 1, ins = d[j - 1] + 1;
            d[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return d[lb];
}

typedef struct resolve_ctx {
    const cw_rules *r;
    cw_metric_scope scope;
} resolve_ctx;

static void consider(const char *name, size_t len, const char *cand, size_t *best,
                     const char **best_name)
{
    size_t d = edit_distance(name, len, cand);
    if (d < *best) {
        *best = d;
        *best_name = cand;
    }
}

static int resolve(void *ud, int how, const char *name, size_t len, char *why, size_t whysz)
{
    resolve_ctx *c = ud;
    const cw_rules *r = c->r;
    char nm[128];
    if (len >= sizeof nm) {
        snprintf(why, whysz, "name too long");
        return -1;
    }
    memcpy(nm, name, len);
    nm[len] = 0;
    for (int i = 0; i < r->na; i++)
        if (strcmp(r->anames[i], nm) == 0)
            return how == CW_EXPR_PLAIN ? i : how == CW_EXPR_TREND ? r->na + i : 2 * r->na + i;
    const char *fname = how == CW_EXPR_TREND ? "trend" : "peer";
    for (int k = 0; k < RS_NSCORES; k++)
        if (strcmp(score_names[k], nm) == 0) {
            if (how != CW_EXPR_PLAIN) {
                snprintf(why, whysz, "%s() takes an account metric; '%s' is a score (use %s)",
                         fname, nm, k < 3 ? "health_change" : "churn_probability_change");
                return -1;
            }
            return RS_SCORE(r, k);
        }
    for (int j = 0; j <= r->nu; j++) {
        const char *un = j < r->nu ? r->unames[j] : "user_tenure_days";
        if (strcmp(un, nm) != 0)
            continue;
        if (c->scope != CW_SCOPE_USER) {
            snprintf(why, whysz, "'%s' is a user metric: only rules with scope = user can use it",
                     nm);
            return -1;
        }
        if (how != CW_EXPR_PLAIN) {
            snprintf(why, whysz, "%s() takes an account metric; '%s' is a user metric", fname, nm);
            return -1;
        }
        return RS_USER(r, j);
    }
    size_t best = len / 3 > 2 ? len / 3 : 2;
    best++;
    const char *bn = NULL;
    for (int i = 0; i < r->na; i++)
        consider(name, len, r->anames[i], &best, &bn);
    if (how == CW_EXPR_PLAIN) {
        for (int k = 0; k < RS_NSCORES; k++)
            consider(name, len, score_names[k], &best, &bn);
        if (c->scope == CW_SCOPE_USER) {
            for (int j = 0; j < r->nu; j++)
                consider(name, len, r->unames[j], &best, &bn);
            consider(name, len, "user_tenure_days", &best, &bn);
        }
    }
    if (bn)
        snprintf(why, whysz, "unknown metric '%s' (did you mean %s?)", nm, bn);
    else
        snprintf(why, whysz, "unknown metric '%s' (see `churnwatch metrics list`)", nm);
    return -1;
}

/* ---- building the rule set ---------------------------------------- */

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
        return *out = 1, 0;
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
        return *out = 0, 0;
    return -1;
}

/* Whether name is a comma-list item of list (blanks around items ignored). */
int cw_ruleset_list_has(const char *list, const char *name)
{
    size_t nl = strlen(name);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == nl && strncmp(p, name, nl) == 0)
            return 1;
        p = e;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int action_known(loader *L, const char *a, size_t n)
{
    const char *const *sa;
    int ns = cw_rules_stock_actions(&sa);
    for (int i = 0; i < ns; i++)
        if (strlen(sa[i]) == n && strncmp(sa[i], a, n) == 0)
            return 1;
    if (!L->cfg)
        return 0;
    if (!L->actions_built) {
        const cw_config_entry *e;
        int ne = cw_config_entries(L->cfg, &e);
        L->actions = malloc(((size_t)ne + 1) * sizeof *L->actions);
        if (!L->actions) {
            L->err = L->err ? L->err : cw_strdupf("out of memory"); /* set_err keeps it */
            return 0;
        }
        for (int i = 0; i < ne; i++) {
            const char *nm;
            /* a section's entries are adjacent (lib/core/config.c): one name each */
            if (cw_config_section_is(e[i].section, "action", &nm) &&
                (i == 0 || strcmp(e[i - 1].section, e[i].section) != 0))
                L->actions[L->nactions++] = nm;
        }
        qsort(L->actions, (size_t)L->nactions, sizeof *L->actions, cmp_str);
        L->actions_built = 1;
    }
    char name[256];
    if (n >= sizeof name)
        return 0;
    memcpy(name, a, n);
    name[n] = '\0';
    const char *key = name;
    return bsearch(&key, L->actions, (size_t)L->nactions, sizeof *L->actions, cmp_str) != NULL;
}

static void compile(loader *L, const spec *s, int k, cw_metric_scope scope, cw_expr **out,
                    const char *src_text)
{
    resolve_ctx rc = {L->r, scope};
    cw_expr_resolver res = {resolve, &rc};
    cw_expr_error ee;
    cw_status st = cw_expr_compile(s->val[k], strlen(s->val[k]), &res, out, &ee);
    if (st == CW_ERR_NOMEM)
        L->err = L->err ? L->err : cw_strdupf("out of memory");
    else if (st != CW_OK) {
        int vc = value_col(src_text, s->line[k]);
        set_err(L, s, k, vc ? vc + ee.col - 1 : 0, "%s", ee.msg);
    }
}

static void build_playbook(loader *L, const spec *s, cw_playbook *pb)
{
    pb->name = s->name;
    pb->description = s->val[P_DESC] ? s->val[P_DESC] : "";
    pb->stock = s->stock;
    if (!s->val[P_ACTIONS] || !*s->val[P_ACTIONS]) {
        set_err(L, s, -1, 0, "'actions' is required (a comma-separated list of action names)");
        return;
    }
    pb->actions = s->val[P_ACTIONS];
    const char *p = pb->actions;
    int n = 0;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if (t > p) {
            n++;
            if (!action_known(L, p, (size_t)(t - p))) {
                set_err(L, s, P_ACTIONS, 0,
                        "unknown action '%.*s' (stock actions: csm_task, email_login_reminder, "
                        "email_training_invitation, email_feature_tip, email_value_summary, "
                        "slack_alert, inapp_message, jsonl_log; or define [action.%.*s])",
                        (int)(t - p), p, (int)(t - p), p);
                return;
            }
        }
        p = e;
    }
    if (n == 0)
        set_err(L, s, P_ACTIONS, 0, "no action named");
    pb->control_share = 0;
    if (s->val[P_CONTROL]) {
        char *end;
        errno = 0;
        double v = strtod(s->val[P_CONTROL], &end);
        if (errno || end == s->val[P_CONTROL] || *end || !(v >= 0 && v <= 0.5))
            set_err(L, s, P_CONTROL, 0, "'%s' is not a share between 0 and 0.5", s->val[P_CONTROL]);
        else
            pb->control_share = v;
    }
}

static void build_rule(loader *L, const spec *s, cw_rule *ru, cw_expr **when, cw_expr **clear,
                       const char *cfg_text)
{
    const char *stock_text = cw_rules_stock_text();
    ru->name = s->name;
    ru->description = s->val[K_DESC] ? s->val[K_DESC] : "";
    ru->stock = s->stock;
    ru->overridden = s->overridden;
    ru->scope = CW_SCOPE_ACCOUNT;
    if (s->val[K_SCOPE]) {
        if (!strcmp(s->val[K_SCOPE], "account"))
            ru->scope = CW_SCOPE_ACCOUNT;
        else if (!strcmp(s->val[K_SCOPE], "user"))
            ru->scope = CW_SCOPE_USER;
        else
            set_err(L, s, K_SCOPE, 0, "'%s' is not a scope (account or user)", s->val[K_SCOPE]);
    }
    ru->severity = CW_SEVERITY_WARNING;
    if (s->val[K_SEV]) {
        if (!strcmp(s->val[K_SEV], "warning"))
            ru->severity = CW_SEVERITY_WARNING;
        else if (!strcmp(s->val[K_SEV], "critical"))
            ru->severity = CW_SEVERITY_CRITICAL;
        else
            set_err(L, s, K_SEV, 0, "'%s' is not a severity (warning or critical)", s->val[K_SEV]);
    }
    ru->cooldown_days = 30;
    if (s->val[K_COOL]) {
        char *end;
        errno = 0;
        long v = strtol(s->val[K_COOL], &end, 10);
        if (errno || end == s->val[K_COOL] || *end || v < 0 || v > 3650)
            set_err(L, s, K_COOL, 0, "'%s' is not a number of days 0..3650", s->val[K_COOL]);
        else
            ru->cooldown_days = (int)v;
    }
    ru->enabled = 1;
    if (s->val[K_ENABLED] && parse_bool(s->val[K_ENABLED], &ru->enabled))
        set_err(L, s, K_ENABLED, 0, "'%s' is not true or false", s->val[K_ENABLED]);
    ru->segments = s->val[K_SEG] && *s->val[K_SEG] ? s->val[K_SEG] : NULL;
    ru->playbook = s->val[K_PLAYBOOK] && *s->val[K_PLAYBOOK] ? s->val[K_PLAYBOOK] : NULL;
    if (ru->playbook && !find_spec(L, 0, ru->playbook))
        set_err(L, s, K_PLAYBOOK, 0, "no playbook named '%s' (define [playbook.%s])", ru->playbook,
                ru->playbook);
    ru->when = s->val[K_WHEN];
    ru->clear_when = s->val[K_CLEAR] && *s->val[K_CLEAR] ? s->val[K_CLEAR] : NULL;
    if (!ru->when || !*ru->when) {
        set_err(L, s, -1, 0, "'when' is required");
        return;
    }
    if (L->err)
        return;
    compile(L, s, K_WHEN, ru->scope, when, s->from_cfg[K_WHEN] ? cfg_text : stock_text);
    if (L->err)
        return;
    if (ru->clear_when)
        compile(L, s, K_CLEAR, ru->scope, clear, s->from_cfg[K_CLEAR] ? cfg_text : stock_text);
    else if (cw_expr_not(*when, clear) != CW_OK)
        L->err = cw_strdupf("out of memory");
}

typedef struct rule_row {
    cw_rule rule;
    cw_expr *when, *clear;
} rule_row;

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const rule_row *)a)->rule.name, ((const rule_row *)b)->rule.name);
}

static int cmp_pb(const void *a, const void *b)
{
    return strcmp(((const cw_playbook *)a)->name, ((const cw_playbook *)b)->name);
}

cw_status cw_rules_load(const cw_config *cfg, cw_rules **out, char **err)
{
    *out = NULL;
    if (err)
        *err = NULL;
    cw_rules *r = calloc(1, sizeof *r);
    if (!r)
        return CW_ERR_NOMEM;
    loader L = {.r = r, .cfg = cfg, .cfg_path = cfg ? cw_config_path(cfg) : NULL};
    /* The slot layout: catalogue account metrics, custom metrics, user metrics. */
    const cw_metric_info *cat;
    int ncat = cw_metrics_catalog(&cat);
    const cw_custom_metric *cm = NULL;
    int ncm = cfg ? cw_config_custom_metrics(cfg, &cm) : 0;
    r->anames = calloc((size_t)(ncat + ncm + 1), sizeof *r->anames);
    r->unames = calloc((size_t)ncat + 1, sizeof *r->unames);
    if (!r->anames || !r->unames) {
        cw_rules_free(r);
        return CW_ERR_NOMEM;
    }
    for (int i = 0; i < ncat; i++)
        if (cat[i].scope == CW_SCOPE_ACCOUNT)
            r->anames[r->na++] = cat[i].name;
        else
            r->unames[r->nu++] = cat[i].name;
    r->nbuiltin = r->na;
    for (int i = 0; i < ncm; i++)
        r->anames[r->na++] = cm[i].name;
    r->nslots = RS_USER(r, r->nu) + 1;

    apply_stock(&L);
    if (cfg && !L.err) {
        const cw_config_entry *e;
        int ne = cw_config_entries(cfg, &e);
        for (int i = 0; i < ne && !L.err; i++)
            apply(&L, e[i].section, e[i].key, e[i].value, e[i].line, 1);
    }
    char *cfg_text = L.err ? NULL : read_small_file(L.cfg_path);
    int nr = 0, np = 0;
    for (int i = 0; i < L.nspecs; i++)
        L.specs[i].is_rule ? nr++ : np++;
    r->rules = calloc((size_t)nr + 1, sizeof *r->rules);
    r->pbs = calloc((size_t)np + 1, sizeof *r->pbs);
    r->when = calloc((size_t)nr + 1, sizeof *r->when);
    r->clear = calloc((size_t)nr + 1, sizeof *r->clear);
    if (!r->rules || !r->pbs || !r->when || !r->clear)
        L.err = L.err ? L.err : cw_strdupf("out of memory");
    for (int i = 0; i < L.nspecs && !L.err; i++) {
        const spec *s = &L.specs[i];
        if (!s->is_rule)
            build_playbook(&L, s, &r->pbs[r->npb++]);
    }
    for (int i = 0; i < L.nspecs && !L.err; i++) {
        const spec *s = &L.specs[i];
        if (s->is_rule) {
            int k = r->nrules++;
            build_rule(&L, s, &r->rules[k], &r->when[k], &r->clear[k], cfg_text);
        }
    }
    free(cfg_text);
    free(L.specs);
    free(L.index);
    free((void *)L.actions);
    if (L.err) {
        if (err)
            *err = L.err;
        else
            free(L.err);
        cw_rules_free(r);
        return CW_ERR_CONFIG;
    }
    /* Sort rules by name, keeping each rule's compiled expressions with it
     * (moved together: matching them up afterwards by name was quadratic). */
    {
        int n = r->nrules;
        rule_row *rows = malloc(sizeof *rows * (size_t)(n + 1));
        if (!rows) {
            cw_rules_free(r);
            return CW_ERR_NOMEM;
        }
        for (int i = 0; i < n; i++)
            rows[i] = (rule_row){r->rules[i], r->when[i], r->clear[i]};
        qsort(rows, (size_t)n, sizeof *rows, cmp_row);
        for (int i = 0; i < n; i++) {
            r->rules[i] = rows[i].rule;
            r->when[i] = rows[i].when;
            r->clear[i] = rows[i].clear;
        }
        free(rows);
    }
    qsort(r->pbs, (size_t)r->npb, sizeof *r->pbs, cmp_pb);
    *out = r;
    return CW_OK;
}

void cw_rules_free(cw_rules *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nrules; i++) {
        cw_expr_free(r->when[i]);
        cw_expr_free(r->clear[i]);
    }
    for (int i = 0; i < r->nowned; i++)
        free(r->owned[i]);
    free(r->owned);
    free(r->rules);
    free(r->pbs);
    free(r->when);
    free(r->clear);
    free(r->anames);
    free(r->unames);
    free(r);
}

int cw_rules_count(const cw_rules *r)
{
    return r->nrules;
}

const cw_rule *cw_rules_get(const cw_rules *r, int i)
{
    return i >= 0 && i < r->nrules ? &r->rules[i] : NULL;
}

/* Both lists are sorted by name (cw_rules_load): binary search, so that
 * evaluation looking up each rule's playbook stays linear in the rules. */
static int cmp_rule_name(const void *key, const void *e)
{
    return strcmp(key, ((const cw_rule *)e)->name);
}

static int cmp_pb_name(const void *key, const void *e)
{
    return strcmp(key, ((const cw_playbook *)e)->name);
}

const cw_rule *cw_rules_find(const cw_rules *r, const char *name)
{
    return bsearch(name, r->rules, (size_t)r->nrules, sizeof *r->rules, cmp_rule_name);
}

int cw_playbooks_count(const cw_rules *r)
{
    return r->npb;
}

const cw_playbook *cw_playbooks_get(const cw_rules *r, int i)
{
    return i >= 0 && i < r->npb ? &r->pbs[i] : NULL;
}

const cw_playbook *cw_playbooks_find(const cw_rules *r, const char *name)
{
    return bsearch(name, r->pbs, (size_t)r->npb, sizeof *r->pbs, cmp_pb_name);
}

const char *cw_ruleset_slot_name(const cw_rules *r, int slot, char *buf, size_t n)
{
    if (slot < r->na)
        return r->anames[slot];
    if (slot < 2 * r->na) {
        snprintf(buf, n, "trend(%s)", r->anames[slot - r->na]);
        return buf;
    }
    if (slot < 3 * r->na) {
        snprintf(buf, n, "peer(%s)", r->anames[slot - 2 * r->na]);
        return buf;
    }
    if (slot < RS_SCORE(r, RS_NSCORES))
        return score_names[slot - RS_SCORE(r, 0)];
    if (slot < RS_USER(r, r->nu))
        return r->unames[slot - RS_USER(r, 0)];
    return "user_tenure_days";
}
