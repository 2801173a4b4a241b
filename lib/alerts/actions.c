/*
 * actions.c — what an alert can do: the [action.NAME] and [template.NAME]
 * sections of the configuration over the compiled-in stock actions and
 * templates, and the {{placeholder}} renderer that turns an alert payload
 * into a task, an e-mail or a chat message.
 *
 * Actions follow the Netdata health engine's split: the rules only name an
 * action; this module owns what the name means, so `check-config` can
 * validate every action and template before a message is ever queued. A
 * user section with a stock name overrides the stock keys it sets.
 *
 * The renderer is the one piece that reads untrusted text (account names,
 * descriptions from the data): output is bounded (CW_TEMPLATE_MAX) and
 * values are escaped for where they land (a header line, Slack mrkdwn), so
 * an account named "<!channel>" pings nobody and a CR/LF cannot add an
 * e-mail header. fuzz/fuzz_template.c explores it.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "alerts/actions.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- stock templates and actions ------------------------------------- */

/* The stock texts follow the seed documents: a simple login reminder lifts
 * adoption, on-demand training for every new user, "did you know about this
 * feature?" tips pointing at the most valuable features, and a summary that
 * tells the customer how they have benefited. Every placeholder that can be
 * null has a fallback, so a stock template never fails to render. */
static const cw_template stock_templates[] = {
    {"csm_task", "{{account_name}}: {{description}}",
     "Alert {{rule}} ({{severity}}) opened on {{opened_day}} for {{account_name}} "
     "({{segment|no segment}}).\n"
     "Health score: {{health_score|n/a}}. Churn probability: {{churn_probability|n/a}}.\n"
     "User concerned: {{user_email|the whole account}}.\n"
     "Suggested playbook: {{playbook|none}}.\n"
     "Reach out now: the seeds of churn are sown long before the renewal. Check onboarding, "
     "training and per-user usage, and agree the next step with the customer.",
     1},
    {"login_reminder", "Your {{account_name}} workspace is waiting for you",
     "Hello,\n\n"
     "We noticed you have not logged in for a while. Your team at {{account_name}} is set up "
     "and your work is where you left it.\n\n"
     "Log in today and pick up where you stopped: it takes a minute, and your colleagues are "
     "counting on the same data as you.\n\n"
     "If something is in your way, reply to this e-mail and your customer success manager "
     "({{owner|our team}}) will help.",
     1},
    {"training_invitation", "Get the most out of your account: a short training for you",
     "Hello,\n\n"
     "Everyone at {{account_name}} gets on-demand training: short sessions that show the "
     "tasks that matter in the first weeks, at your own pace.\n\n"
     "Pick a session that suits you; it takes less than thirty minutes and makes the next "
     "ninety days much easier.\n\n"
     "Questions? {{owner|Our team}} is happy to walk you through it.",
     1},
    {"feature_tip", "Did you know?",
     "Hello,\n\n"
     "You have been using {{feature|the product}}. Did you know about the features your "
     "colleagues at {{account_name}} rely on next? A few minutes with them usually saves hours "
     "every week.\n\n"
     "Open the app and look for the tips on the home page: each one points at a feature that "
     "teams like yours found most valuable.",
     1},
    {"value_summary", "What {{account_name}} has achieved so far",
     "Hello,\n\n"
     "Here is a short summary of the value {{account_name}} gets from the product, to share "
     "with the team and the people who sign the renewal.\n\n"
     "Health score: {{health_score|n/a}} out of 100.\n"
     "Opened on {{opened_day}} by the {{rule}} check: {{description}}.\n\n"
     "Reply to this e-mail with the goals for the next quarter and we will plan them "
     "together.",
     1},
    {"slack_alert", "[{{severity}}] {{account_name}}: {{description}}",
     "*{{account_name}}* ({{segment|no segment}}) - {{description}}\n"
     "Rule `{{rule}}`, opened {{opened_day}}. Health score {{health_score|n/a}}, churn "
     "probability {{churn_probability|n/a}}. Owner: {{owner|unassigned}}. Playbook: "
     "{{playbook|none}}.",
     1},
    {"inapp_tip", "Did you know?",
     "Did you know? Teams at {{account_name}} save time every week with the features on your "
     "home page. Take a two-minute tour.",
     1},
};
#define N_STOCK_TEMPLATES ((int)(sizeof stock_templates / sizeof stock_templates[0]))

static const cw_action stock_actions[] = {
    {"csm_task", CW_ACTION_TASK, NULL, "csm_task", NULL, NULL, NULL, NULL, 3, 0, 0, 0, 1, 0},
    {"email_login_reminder", CW_ACTION_EMAIL, "user", "login_reminder", NULL, NULL, NULL, NULL, 0,
     0, 0, 0, 1, 0},
    {"email_training_invitation", CW_ACTION_EMAIL, "user", "training_invitation", NULL, NULL, NULL,
     NULL, 0, 0, 0, 0, 1, 0},
    {"email_feature_tip", CW_ACTION_EMAIL, "user", "feature_tip", NULL, NULL, NULL, NULL, 0, 0, 0,
     0, 1, 0},
    {"email_value_summary", CW_ACTION_EMAIL, "owner", "value_summary", NULL, NULL, NULL, NULL, 0, 0,
     0, 0, 1, 0},
    {"slack_alert", CW_ACTION_SLACK, NULL, "slack_alert", NULL, NULL, NULL, NULL, 0, 0, 0, 0, 1, 0},
    {"inapp_message", CW_ACTION_INAPP, NULL, "inapp_tip", NULL, NULL, NULL, "", 0, 0, 0, 0, 1, 0},
    {"jsonl_log", CW_ACTION_JSONL, NULL, NULL, NULL, NULL, "-", NULL, 0, 0, 0, 0, 1, 0},
};
#define N_STOCK_ACTIONS ((int)(sizeof stock_actions / sizeof stock_actions[0]))

static const char *const type_names[] = {"task", "email", "webhook", "slack", "inapp", "jsonl"};

/* Fields of the documented alert payload (docs/rules.md) plus the two the
 * deliverer adds; placeholders outside values.* must name one of them. */
static const char *const payload_fields[] = {
    "alert_id",   "rule",         "description", "severity",     "scope",
    "account_id", "account_name", "segment",     "owner",        "user_id",
    "user_email", "opened_day",   "values",      "health_score", "churn_probability",
    "playbook",   "action",       "idem_key",    "feature"};
#define N_PAYLOAD_FIELDS ((int)(sizeof payload_fields / sizeof payload_fields[0]))

#define MAX_ACTIONS   256
#define MAX_TEMPLATES 256

struct cw_actions {
    cw_action actions[MAX_ACTIONS];
    const cw_action *sorted[MAX_ACTIONS];
    int nactions;
    cw_template templates[MAX_TEMPLATES];
    int ntemplates;
    int tmpl_line[MAX_TEMPLATES]; /* section line of a configured template */
    char **owned;                 /* strings this set allocated */
    int nowned, capowned;
};

static const char *own(cw_actions *a, char *s)
{
    if (!s)
        return NULL;
    if (a->nowned == a->capowned) {
        int cap = a->capowned ? 2 * a->capowned : 64;
        char **p = realloc(a->owned, (size_t)cap * sizeof *p);
        if (!p) {
            free(s);
            return NULL;
        }
        a->owned = p;
        a->capowned = cap;
    }
    a->owned[a->nowned++] = s;
    return s;
}

void cw_actions_free(cw_actions *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a);
}

const cw_action *cw_actions_find(const cw_actions *a, const char *name)
{
    for (int i = 0; i < a->nactions; i++)
        if (strcmp(a->actions[i].name, name) == 0)
            return &a->actions[i];
    return NULL;
}

const cw_template *cw_actions_template(const cw_actions *a, const char *name)
{
    for (int i = 0; i < a->ntemplates; i++)
        if (strcmp(a->templates[i].name, name) == 0)
            return &a->templates[i];
    return NULL;
}

static int cmp_action(const void *x, const void *y)
{
    return strcmp((*(const cw_action *const *)x)->name, (*(const cw_action *const *)y)->name);
}

int cw_actions_list(const cw_actions *a, const cw_action *const **out)
{
    *out = a->sorted;
    return a->nactions;
}

/* ---- placeholders ---------------------------------------------------- */

/* A growable output bounded by CW_TEMPLATE_MAX. */
/* Template output: a cw_buf bounded to CW_TEMPLATE_MAX bytes with the NUL;
 * the first failure sticks and is reported once at the end. */
static void oput(cw_buf *b, const char *s, size_t n)
{
    cw_buf_add(b, s, n);
}

static void oput_escaped(cw_buf *b, const char *s, size_t n, cw_escape esc)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        if (esc == CW_ESCAPE_HEADER && (c < 0x20 || c == 0x7f))
            rep = " ";
        else if (esc == CW_ESCAPE_SLACK)
            rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : NULL;
        if (rep) {
            oput(b, s + start, i - start);
            oput(b, rep, strlen(rep));
            start = i + 1;
        }
    }
    oput(b, s + start, n - start);
}

/* One parsed placeholder: name [start, name_end), optional fallback. */
typedef struct ph {
    const char *name;
    size_t name_len;
    const char *fallback; /* NULL when none */
    size_t fallback_len;
    const char *end; /* just past "}}" */
} ph;

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Parses the placeholder starting at p (just past "{{"). Returns 0 and a
 * reason on malformed input. */
static int parse_ph(const char *p, ph *out, const char **why)
{
    const char *close = strstr(p, "}}");
    if (!close) {
        *why = "'{{' without a closing '}}'";
        return 0;
    }
    while (p < close && *p == ' ')
        p++;
    const char *n = p;
    while (p < close && name_char(*p))
        p++;
    out->name = n;
    out->name_len = (size_t)(p - n);
    while (p < close && *p == ' ')
        p++;
    out->fallback = NULL;
    out->fallback_len = 0;
    if (p < close && *p == '|') {
        out->fallback = p + 1;
        out->fallback_len = (size_t)(close - p - 1);
        p = close;
    }
    if (out->name_len == 0) {
        *why = "empty placeholder name";
        return 0;
    }
    if (p != close) {
        *why = "placeholder names are letters, digits, '_', '-' and '.'";
        return 0;
    }
    int empty_part = n[0] == '.' || n[out->name_len - 1] == '.';
    for (size_t i = 0; i + 1 < out->name_len; i++)
        empty_part |= n[i] == '.' && n[i + 1] == '.';
    if (empty_part) {
        *why = "placeholder path has an empty part";
        return 0;
    }
    out->end = close + 2;
    return 1;
}

static int known_name(const char *n, size_t len)
{
    if (len > 7 && strncmp(n, "values.", 7) == 0)
        return 1;
    for (int i = 0; i < N_PAYLOAD_FIELDS; i++)
        if (strlen(payload_fields[i]) == len && strncmp(payload_fields[i], n, len) == 0)
            return 1;
    return 0;
}

cw_status cw_template_check(const char *text, char *why, size_t whysz)
{
    const char *p = text;
    while ((p = strstr(p, "{{")) != NULL) {
        if (strncmp(p, "{{{{", 4) == 0) {
            p += 4;
            continue;
        }
        ph h;
        const char *r;
        if (!parse_ph(p + 2, &h, &r)) {
            snprintf(why, whysz, "%s", r);
            return CW_ERR_CONFIG;
        }
        if (!known_name(h.name, h.name_len)) {
            snprintf(why, whysz,
                     "{{%.*s}} is not a field of the alert payload (docs/rules.md); "
                     "metric values are {{values.NAME}}",
                     (int)h.name_len, h.name);
            return CW_ERR_CONFIG;
        }
        p = h.end;
    }
    return CW_OK;
}

/* The payload value at a dotted path, or NULL. */
static json_t *lookup(json_t *root, const char *name, size_t len)
{
    json_t *v = root;
    const char *p = name, *end = name + len;
    while (v && p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t l = dot ? (size_t)(dot - p) : (size_t)(end - p);
        v = json_is_object(v) ? json_object_getn(v, p, l) : NULL;
        p += l + (dot ? 1 : 0);
    }
    return v;
}

/* Formats a real with at most two decimals, trailing zeros dropped. */
static void format_real(double d, char *buf, size_t n)
{
    snprintf(buf, n, "%.2f", d);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = 0;
        if (e == dot)
            *e = 0;
    }
    if (strcmp(buf, "-0") == 0)
        snprintf(buf, n, "0");
}

static void put_value(cw_buf *b, json_t *v, cw_escape esc)
{
    char num[64];
    if (json_is_string(v)) {
        oput_escaped(b, json_string_value(v), json_string_length(v), esc);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        oput(b, num, strlen(num));
    } else if (json_is_real(v)) {
        format_real(json_real_value(v), num, sizeof num);
        oput(b, num, strlen(num));
    } else if (json_is_true(v)) {
        oput(b, "yes", 3);
    } else if (json_is_false(v)) {
        oput(b, "no", 2);
    } else {
        char *s = cw_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) {
            oput_escaped(b, s, strlen(s), esc);
            free(s);
        }
    }
}

cw_status cw_template_render(const char *text, const char *payload_json, cw_escape esc, char **out,
                             char *why, size_t whysz)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loads(payload_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(why, whysz, "payload is not a JSON object%s%s", root ? "" : ": ",
                 root ? "" : jerr.text);
        json_decref(root);
        return CW_ERR_INPUT;
    }
    cw_status s = cw_template_render_json(text, root, esc, out, why, whysz);
    json_decref(root);
    return s;
}

cw_status cw_template_render_json(const char *text, struct json_t *root, cw_escape esc, char **out,
                                  char *why, size_t whysz)
{
    *out = NULL;
    cw_buf b;
    cw_buf_init(&b, CW_TEMPLATE_MAX - 1);
    oput(&b, "", 0);
    const char *p = text;
    cw_status s = CW_OK;
    while (*p) {
        const char *o = strstr(p, "{{");
        if (!o) {
            oput(&b, p, strlen(p));
            break;
        }
        oput(&b, p, (size_t)(o - p));
        if (strncmp(o, "{{{{", 4) == 0) {
            oput(&b, "{{", 2);
            p = o + 4;
            continue;
        }
        ph h;
        const char *r;
        if (!parse_ph(o + 2, &h, &r)) {
            snprintf(why, whysz, "%s", r);
            s = CW_ERR_INPUT;
            break;
        }
        json_t *v = lookup(root, h.name, h.name_len);
        if (v && !json_is_null(v)) {
            put_value(&b, v, esc);
        } else if (h.fallback) {
            oput_escaped(&b, h.fallback, h.fallback_len, esc);
        } else {
            snprintf(why, whysz, "{{%.*s}}: the payload has no value (add a fallback: {{%.*s|…}})",
                     (int)h.name_len, h.name, (int)h.name_len, h.name);
            s = CW_ERR_INPUT;
            break;
        }
        p = h.end;
    }
    if (s == CW_OK && cw_buf_status(&b)) {
        s = cw_buf_status(&b);
        snprintf(why, whysz, s == CW_ERR_NOMEM ? "out of memory" : "rendered text exceeds %d bytes",
                 CW_TEMPLATE_MAX);
    }
    if (s == CW_OK && !(*out = cw_buf_steal(&b, NULL)))
        s = CW_ERR_NOMEM;
    cw_buf_free(&b);
    return s;
}

/* ---- configuration --------------------------------------------------- */

static cw_status cfg_error(char **errmsg, const cw_config *cfg, int line, const char *section,
                           const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static cw_status cfg_error(char **errmsg, const cw_config *cfg, int line, const char *section,
                           const char *key, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *path = cw_config_path(cfg);
    if (errmsg)
        *errmsg = cw_strdupf("%s:%d: [%s] %s: %s", path ? path : "(config)", line, section,
                             key ? key : "", why);
    return CW_ERR_CONFIG;
}

/* Turns the two-character escape "\n" into a newline (INI values are one line). */
static char *unescape(const char *v)
{
    size_t n = strlen(v);
    char *s = malloc(n + 1), *d = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' && v[i + 1] == 'n') {
            *d++ = '\n';
            i++;
        } else if (v[i] == '\\' && v[i + 1] == '\\') {
            *d++ = '\\';
            i++;
        } else {
            *d++ = v[i];
        }
    }
    *d = 0;
    return s;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi)
        return 0;
    *out = (int)x;
    return 1;
}

static int valid_name(const char *n)
{
    if (!*n)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* An address that can go into SMTP commands: local@domain, no blanks or
 * controls, no angle brackets; recipients need a dot in the domain, the
 * sender may be local (churnwatch@localhost). */
static int address_ok(const char *s, int need_dot)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@') || (need_dot && !strchr(at + 1, '.')))
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == 0x7f)
            return 0;
    return 1;
}

static int valid_address(const char *s)
{
    return address_ok(s, 1);
}

int cw_email_address_ok(const char *s)
{
    return s && valid_address(s);
}

/* Which keys each type of action reads; any other key is an error. */
static int key_applies(const char *key, cw_action_type t)
{
    if (strcmp(key, "type") == 0 || strcmp(key, "max_attempts") == 0 ||
        strcmp(key, "rate_per_minute") == 0)
        return 1;
    if (strcmp(key, "template") == 0)
        return t != CW_ACTION_WEBHOOK && t != CW_ACTION_JSONL;
    if (strcmp(key, "to") == 0)
        return t == CW_ACTION_EMAIL;
    if (strcmp(key, "due_days") == 0)
        return t == CW_ACTION_TASK;
    if (strcmp(key, "file") == 0)
        return t == CW_ACTION_JSONL;
    if (strcmp(key, "cta_url") == 0)
        return t == CW_ACTION_INAPP;
    if (strcmp(key, "url") == 0 || strcmp(key, "secret") == 0 || strcmp(key, "secret_env") == 0 ||
        strcmp(key, "timeout_ms") == 0)
        return t == CW_ACTION_WEBHOOK || t == CW_ACTION_SLACK || t == CW_ACTION_INAPP ||
               (t == CW_ACTION_EMAIL && strcmp(key, "timeout_ms") == 0);
    return -1; /* unknown key */
}

static int http_type(cw_action_type t)
{
    return t == CW_ACTION_WEBHOOK || t == CW_ACTION_SLACK || t == CW_ACTION_INAPP;
}

/* Loads the [template.NAME] sections. An indented continuation line of a
 * body reaches us already joined with a new line (lib/core/config.c). */
static cw_status load_templates(const cw_config *cfg, cw_actions *a, char **errmsg)
{
    const cw_config_entry *e;
    int n = cw_config_entries(cfg, &e);
    for (int i = 0; i < n; i++) {
        const char *name;
        if (!cw_config_section_is(e[i].section, "template", &name))
            continue;
        if (!valid_name(name))
            return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key,
                             "a template needs a name: [template.NAME] (letters, digits, _ and -)");
        cw_template *t = (cw_template *)cw_actions_template(a, name);
        if (!t) {
            if (a->ntemplates == MAX_TEMPLATES)
                return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key,
                                 "more than %d templates", MAX_TEMPLATES);
            t = &a->templates[a->ntemplates];
            a->tmpl_line[a->ntemplates++] = e[i].line;
            t->name = own(a, cw_strndup(name, strlen(name)));
            t->subject = t->body = NULL;
        } else if (t->stock) {
            /* overriding a stock template: keep the stock keys not given */
            a->tmpl_line[t - a->templates] = e[i].line;
        }
        t->stock = 0;
        char *v = unescape(e[i].value);
        if (!v)
            return CW_ERR_NOMEM;
        char why[256];
        if (cw_template_check(v, why, sizeof why) != CW_OK) {
            free(v);
            return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key, "%s", why);
        }
        if (strcmp(e[i].key, "subject") == 0) {
            if (strchr(v, '\n')) {
                free(v);
                return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key,
                                 "a subject is one line");
            }
            t->subject = own(a, v);
        } else if (strcmp(e[i].key, "body") == 0) {
            t->body = own(a, v);
        } else {
            free(v);
            return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key,
                             "not a template key (subject, body)");
        }
        if ((strcmp(e[i].key, "subject") == 0 && !t->subject) ||
            (strcmp(e[i].key, "body") == 0 && !t->body))
            return CW_ERR_NOMEM;
    }
    for (int i = 0; i < a->ntemplates; i++) {
        cw_template *t = &a->templates[i];
        if (!t->body) {
            char section[160];
            snprintf(section, sizeof section, "template.%s", t->name);
            return cfg_error(errmsg, cfg, a->tmpl_line[i], section, "body", "a template needs one");
        }
    }
    return CW_OK;
}

static cw_status set_key(const cw_config *cfg, cw_actions *a, cw_action *x,
                         const cw_config_entry *e, char **errmsg)
{
    const char *k = e->key, *v = e->value;
    int ap = key_applies(k, x->type);
    if (ap < 0)
        return cfg_error(errmsg, cfg, e->line, e->section, k,
                         "not an action key (type, to, template, url, secret, secret_env, file, "
                         "cta_url, due_days, timeout_ms, max_attempts, rate_per_minute)");
    if (!ap)
        return cfg_error(errmsg, cfg, e->line, e->section, k, "not used by an action of type %s",
                         type_names[x->type]);
    if (strcmp(k, "type") == 0)
        return CW_OK; /* read first, in load_actions */
    if (strcmp(k, "to") == 0) {
        if (strcmp(v, "user") && strcmp(v, "owner") && !valid_address(v))
            return cfg_error(errmsg, cfg, e->line, e->section, k,
                             "'%s': expected user, owner or an e-mail address", v);
        x->to = own(a, cw_strndup(v, strlen(v)));
    } else if (strcmp(k, "template") == 0) {
        x->tmpl = own(a, cw_strndup(v, strlen(v)));
    } else if (strcmp(k, "url") == 0 || strcmp(k, "cta_url") == 0) {
        if (strcmp(k, "url") == 0 && strncmp(v, "http://", 7) != 0 &&
            strncmp(v, "https://", 8) != 0)
            return cfg_error(errmsg, cfg, e->line, e->section, k,
                             "'%s': expected an http:// or https:// URL", v);
        char why[256];
        if (strcmp(k, "cta_url") == 0 && cw_template_check(v, why, sizeof why) != CW_OK)
            return cfg_error(errmsg, cfg, e->line, e->section, k, "%s", why);
        const char *s = own(a, cw_strndup(v, strlen(v)));
        if (strcmp(k, "url") == 0)
            x->url = s;
        else
            x->cta_url = s;
    } else if (strcmp(k, "secret") == 0) {
        if (!*v)
            return cfg_error(errmsg, cfg, e->line, e->section, k, "empty secret");
        x->secret = own(a, cw_strndup(v, strlen(v)));
    } else if (strcmp(k, "secret_env") == 0) {
        const char *s = getenv(v);
        if (!s || !*s)
            return cfg_error(errmsg, cfg, e->line, e->section, k,
                             "environment variable %s is not set", v);
        x->secret = own(a, cw_strndup(s, strlen(s)));
    } else if (strcmp(k, "file") == 0) {
        if (!*v)
            return cfg_error(errmsg, cfg, e->line, e->section, k, "empty path ('-' = stdout)");
        x->file = own(a, cw_strndup(v, strlen(v)));
    } else {
        int lo = 0, hi = 0, *dst = NULL;
        if (strcmp(k, "due_days") == 0)
            lo = 0, hi = 365, dst = &x->due_days;
        else if (strcmp(k, "timeout_ms") == 0)
            lo = 100, hi = 600000, dst = &x->timeout_ms;
        else if (strcmp(k, "max_attempts") == 0)
            lo = 1, hi = 1000, dst = &x->max_attempts;
        else
            lo = 0, hi = 1000000, dst = &x->rate_per_minute;
        if (!parse_int(v, lo, hi, dst))
            return cfg_error(errmsg, cfg, e->line, e->section, k,
                             "'%s': expected an integer in %d..%d", v, lo, hi);
    }
    return CW_OK;
}

static cw_status load_actions(const cw_config *cfg, cw_actions *a, char **errmsg)
{
    const cw_config_entry *e;
    int n = cw_config_entries(cfg, &e);
    for (int i = 0; i < n; i++) {
        const char *name;
        if (!cw_config_section_is(e[i].section, "action", &name))
            continue;
        if (!valid_name(name))
            return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key,
                             "an action needs a name: [action.NAME] (letters, digits, _ and -)");
        cw_action *x = (cw_action *)cw_actions_find(a, name);
        if (x && !x->stock)
            continue; /* its keys were read with its first entry */
        /* The section's type: its own type key, else the stock action's. */
        const char *type = NULL;
        int type_line = e[i].line;
        /* A section's entries are adjacent (lib/core/config.c refuses a second
         * header), so reading it is linear in the file, not actions x entries. */
        int end = i + 1;
        while (end < n && strcmp(e[end].section, e[i].section) == 0)
            end++;
        for (int j = i; j < end; j++)
            if (strcmp(e[j].key, "type") == 0) {
                type = e[j].value;
                type_line = e[j].line;
            }
        int t = -1;
        if (type) {
            for (int k = 0; k < 6; k++)
                if (strcmp(type, type_names[k]) == 0)
                    t = k;
            if (t < 0)
                return cfg_error(errmsg, cfg, type_line, e[i].section, "type",
                                 "'%s': expected task, email, webhook, slack, inapp or jsonl",
                                 type);
        }
        if (!x) {
            if (t < 0)
                return cfg_error(errmsg, cfg, e[i].line, e[i].section, "type",
                                 "missing (task, email, webhook, slack, inapp or jsonl)");
            if (a->nactions == MAX_ACTIONS)
                return cfg_error(errmsg, cfg, e[i].line, e[i].section, e[i].key,
                                 "more than %d actions", MAX_ACTIONS);
            x = &a->actions[a->nactions++];
            memset(x, 0, sizeof *x);
            x->name = own(a, cw_strndup(name, strlen(name)));
            x->type = (cw_action_type)t;
            if (t == CW_ACTION_TASK)
                x->due_days = 3;
        } else if (t >= 0 && (cw_action_type)t != x->type) {
            /* a stock name reused for another kind of action: start afresh */
            memset(x, 0, sizeof *x);
            x->name = own(a, cw_strndup(name, strlen(name)));
            x->type = (cw_action_type)t;
            if (t == CW_ACTION_TASK)
                x->due_days = 3;
        }
        x->stock = 0;
        x->line = e[i].line;
        for (int j = i; j < end; j++) {
            cw_status s = set_key(cfg, a, x, &e[j], errmsg);
            if (s != CW_OK)
                return s;
        }
    }
    return CW_OK;
}

/* The line of key in the action's section, else the section's line. */
static int key_line(const cw_config *cfg, const cw_action *x, const char *key)
{
    const cw_config_entry *e;
    int n = cw_config_entries(cfg, &e);
    for (int i = 0; i < n; i++) {
        const char *name;
        if (cw_config_section_is(e[i].section, "action", &name) && strcmp(name, x->name) == 0 &&
            strcmp(e[i].key, key) == 0)
            return e[i].line;
    }
    return x->line;
}

/* Cross-checks an action against the templates once everything is read. */
static cw_status check_action(const cw_config *cfg, const cw_actions *a, const cw_action *x,
                              char **errmsg)
{
    if (x->stock)
        return CW_OK; /* stock actions are checked by the unit tests */
    char section[160];
    snprintf(section, sizeof section, "action.%s", x->name);
    int needs_tmpl = x->type == CW_ACTION_TASK || x->type == CW_ACTION_EMAIL ||
                     x->type == CW_ACTION_SLACK || x->type == CW_ACTION_INAPP;
    if (needs_tmpl) {
        if (!x->tmpl)
            return cfg_error(errmsg, cfg, x->line, section, "template", "missing");
        const cw_template *t = cw_actions_template(a, x->tmpl);
        if (!t)
            return cfg_error(errmsg, cfg, key_line(cfg, x, "template"), section, "template",
                             "no [template.%s]", x->tmpl);
        if ((x->type == CW_ACTION_TASK || x->type == CW_ACTION_EMAIL) && !t->subject)
            return cfg_error(errmsg, cfg, key_line(cfg, x, "template"), section, "template",
                             "[template.%s] has no subject (a %s needs one)", x->tmpl,
                             x->type == CW_ACTION_TASK ? "task title" : "e-mail");
    }
    if (x->type == CW_ACTION_EMAIL && !x->to)
        return cfg_error(errmsg, cfg, x->line, section, "to",
                         "missing (user, owner or an address)");
    if (http_type(x->type) && !x->url)
        return cfg_error(errmsg, cfg, x->line, section, "url", "missing");
    if (x->type == CW_ACTION_JSONL && !x->file)
        return cfg_error(errmsg, cfg, x->line, section, "file", "missing ('-' = stdout)");
    return CW_OK;
}

cw_status cw_actions_load(const cw_config *cfg, cw_actions **out, char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    cw_actions *a = calloc(1, sizeof *a);
    if (!a)
        return CW_ERR_NOMEM;
    for (int i = 0; i < N_STOCK_TEMPLATES; i++)
        a->templates[a->ntemplates++] = stock_templates[i];
    for (int i = 0; i < N_STOCK_ACTIONS; i++)
        a->actions[a->nactions++] = stock_actions[i];
    cw_status s = CW_OK;
    /* the two settings every e-mail needs, checked with the actions so that
     * check-config reports them before a message goes dead */
    const char *from = cw_config_get(cfg, "deliver.from");
    const char *smtp = cw_config_get(cfg, "deliver.smtp_url");
    if (from && !address_ok(from, 0)) {
        if (errmsg)
            *errmsg = cw_strdupf("deliver.from: '%s' is not an e-mail address", from);
        s = CW_ERR_CONFIG;
    } else if (smtp && strncmp(smtp, "smtp://", 7) != 0 && strncmp(smtp, "smtps://", 8) != 0) {
        if (errmsg)
            *errmsg = cw_strdupf("deliver.smtp_url: '%s' is not an smtp:// or smtps:// URL", smtp);
        s = CW_ERR_CONFIG;
    }
    const char *user = cw_config_get(cfg, "deliver.smtp_user");
    const char *pwenv = cw_config_get(cfg, "deliver.smtp_password_env");
    if (s == CW_OK && user && *user && pwenv && *pwenv && !getenv(pwenv)) {
        if (errmsg)
            *errmsg =
                cw_strdupf("deliver.smtp_password_env: environment variable %s is not set", pwenv);
        s = CW_ERR_CONFIG;
    }
    if (s == CW_OK)
        s = load_templates(cfg, a, errmsg);
    if (s == CW_OK)
        s = load_actions(cfg, a, errmsg);
    for (int i = 0; s == CW_OK && i < a->nactions; i++)
        s = check_action(cfg, a, &a->actions[i], errmsg);
    if (s != CW_OK) {
        if (s == CW_ERR_NOMEM && errmsg && !*errmsg)
            *errmsg = cw_strdupf("out of memory");
        cw_actions_free(a);
        return s;
    }
    for (int i = 0; i < a->nactions; i++)
        a->sorted[i] = &a->actions[i];
    qsort(a->sorted, (size_t)a->nactions, sizeof a->sorted[0], cmp_action);
    *out = a;
    return CW_OK;
}

const char *cw_action_type_name(cw_action_type t)
{
    return (unsigned)t < 6 ? type_names[t] : "?";
}
