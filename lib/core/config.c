/*
 * config.c — churnwatch's settings: one table, read from an INI file with
 * the strict reader below (cw_ini_parse), overridden from the command line,
 * printed by `churnwatch config show`. The table is the single place a setting is declared; the
 * file parser, the overrides and the printed example all walk it, so they cannot disagree. Values
 * are kept as validated strings; typed getters parse them.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/buf.h"
#include "core/util.h"
#include "core/ini.h"
#include "core/mask.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { SET_STR, SET_INT, SET_ENUM, SET_DATE, SET_FLAG } set_type;

typedef struct setting {
    const char *key; /* section.name */
    set_type type;
    const char *def;
    int64_t min, max;        /* SET_INT */
    const char *enum_values; /* SET_ENUM, '|'-separated */
    const char *help;
} setting;

static const setting settings[] = {
    {"store.db", SET_STR, "churnwatch.db", 0, 0, NULL,
     "database: a SQLite file path (the embedded default)"},
    {"store.password_env", SET_STR, "", 0, 0, NULL,
     "PostgreSQL: name of the environment variable holding the password (never the password "
     "itself); empty = libpq's own (PGPASSWORD, ~/.pgpass)"},
    {"store.cache_mib", SET_INT, "256", 1, 65536, NULL, "database page cache, MiB"},
    {"ingest.naive_timestamps", SET_ENUM, "utc", 0, 0, "utc|reject",
     "timestamps without a UTC offset: read as UTC, or reject the row"},
    {"ingest.max_errors", SET_INT, "20", 1, 1000000, NULL, "errors printed in full before a count"},
    {"ingest.max_line_bytes", SET_INT, "1048576", 1024, 268435456, NULL,
     "longest accepted record, bytes (longer ones are rejected)"},
    {"ingest.batch_rows", SET_INT, "1048576", 1024, 268435456, NULL,
     "events buffered and sorted before de-duplication"},
    {"ingest.progress", SET_ENUM, "auto", 0, 0, "auto|always|never",
     "live progress line: only on a terminal (auto), always, never"},
    {"ingest.provision_users", SET_ENUM, "no", 0, 0, "no|yes",
     "rows naming an unknown user create it on first sight (yes) or are rejected (no; a "
     "source may say yes for its files)"},
    {"run.on_bad_row", SET_ENUM, "fail", 0, 0, "fail|quarantine",
     "run --drop: a bad row fails the run, or goes to the quarantine while the good rows "
     "land (run --skip-bad = quarantine)"},
    {"metrics.window_days", SET_INT, "28", 1, 365, NULL, "activity window of window metrics, days"},
    {"reports.reason_map", SET_STR, "", 0, 0, NULL,
     "churn-reason keywords to causes, \"keyword=cause;...\" (causes: bad_service, "
     "bad_onboarding, lack_of_success, natural); empty = the built-in map"},
    {"model.green_below_pct", SET_INT, "25", 1, 99, NULL,
     "churn probability (percent) under which a model calls an account green (predict's "
     "what-would-turn-it-green; what \"flagged\" means is model.flag)"},
    {"model.rows", SET_ENUM, "weekly", 0, 0, "weekly|renewal",
     "observation design of train and backtest: weekly = one row per snapshot and active "
     "account, churn within the horizon; renewal = one row per account and renewal, "
     "renewal_days before it (docs/model.md)"},
    {"model.renewal_days", SET_INT, "30", 7, 365, NULL,
     "renewal rows: days before the renewal an account is observed"},
    {"model.flag", SET_FLAG, CW_FLAG_DEFAULT, 0, 0, NULL,
     "what \"flagged\" means: the riskiest share of the accounts scored on a day (top 10%) or a "
     "churn probability (p >= 0.25); backtest's lead time and missed, the API and dashboard"},
    {"model.recalibrate_days", SET_INT, "28", 0, 3650, NULL,
     "recalibrate the probabilities on the latest fully labelled window of this many days of "
     "snapshots (0 = off: the calibration slice's Platt only)"},
    {"simulate.accounts", SET_INT, "500", 1, 10000000, NULL, "accounts in a simulated world"},
    {"simulate.months", SET_INT, "12", 1, 120, NULL, "months simulated"},
    {"simulate.start", SET_DATE, "2025-01-01", 0, 0, NULL, "first simulated day"},
    {"simulate.seed", SET_INT, "42", 0, INT64_MAX, NULL, "random seed (same seed, same world)"},
    {"deliver.smtp_url", SET_STR, "smtp://127.0.0.1:25", 0, 0, NULL,
     "SMTP server for e-mail actions (smtp:// or smtps://, libcurl syntax)"},
    {"deliver.from", SET_STR, "churnwatch@localhost", 0, 0, NULL, "sender address of e-mails"},
    {"deliver.smtp_user", SET_STR, "", 0, 0, NULL,
     "SMTP login (AUTH) for e-mail actions; empty = no login"},
    {"deliver.smtp_password_env", SET_STR, "", 0, 0, NULL,
     "name of the environment variable holding the SMTP password (never the password itself)"},
    {"deliver.smtp_starttls", SET_ENUM, "try", 0, 0, "try|require|never",
     "STARTTLS on smtp:// URLs: when offered, always (fail without it), or not at all"},
    {"deliver.max_attempts", SET_INT, "8", 1, 1000, NULL,
     "attempts before a message goes to the dead letters (per action: max_attempts)"},
    {"deliver.backoff_base_s", SET_INT, "60", 1, 86400, NULL,
     "first retry delay, seconds; doubles per attempt"},
    {"deliver.backoff_max_s", SET_INT, "21600", 1, 2592000, NULL, "longest retry delay, seconds"},
    {"deliver.jitter_pct", SET_INT, "20", 0, 100, NULL,
     "retry delays are shortened by up to this share, per message (spreads retries)"},
    {"deliver.batch", SET_INT, "20", 1, 10000, NULL, "messages claimed per transaction"},
    {"deliver.timeout_ms", SET_INT, "10000", 100, 600000, NULL,
     "time limit of one HTTP or SMTP attempt (per action: timeout_ms)"},
    {"deliver.lease_s", SET_INT, "60", 1, 86400, NULL,
     "a claimed message is due again this long after its attempt's time limit when the "
     "deliverer died before recording the outcome"},
    {"serve.max_connections_per_ip", SET_INT, "64", 0, 512, NULL,
     "connections the server holds at once from one client address (of 512 in all); 0 = no "
     "limit (behind a reverse proxy every client has the proxy's address)"},
    {"serve.header_timeout_s", SET_INT, "10", 1, 300, NULL,
     "seconds a request's headers may take, counted from the connection's opening or the end "
     "of its previous request (not restarted by each line)"},
    {"serve.session_idle_h", SET_INT, "12", 1, 720, NULL,
     "a dashboard session ends after this many hours without a request"},
    {"serve.session_max_days", SET_INT, "7", 1, 90, NULL,
     "a dashboard session ends this many days after sign-in, however active"},
    {"serve.secure_cookies", SET_INT, "0", 0, 1, NULL,
     "1: the session cookie is always marked Secure (set it when a TLS proxy is in front); "
     "0: Secure only when the request came through a proxy with X-Forwarded-Proto: https"},
};
#define N_SETTINGS ((int)(sizeof settings / sizeof settings[0]))

enum { FROM_DEFAULT, FROM_FILE, FROM_OVERRIDE };

#define MAX_CUSTOM 256

struct cw_config {
    char *values[N_SETTINGS];
    int from[N_SETTINGS];
    const char *path;
    cw_custom_metric custom[MAX_CUSTOM];
    int ncustom;
    /* Entries of structured sections ([scorecard], [rule.NAME], …), kept
     * raw with their lines; the subsystem that owns a section type parses
     * and validates them (cw_config_entries). */
    cw_config_entry *entries;
    int nentries, capentries;
};

/* Section types whose keys belong to a subsystem rather than to the
 * settings table: the section is TYPE or TYPE.NAME. */
static const char *const structured[] = {"scorecard", "measure", "group",    "rule",
                                         "playbook",  "action",  "template", "source"};
#define N_STRUCTURED ((int)(sizeof structured / sizeof structured[0]))

static int structured_type(const char *section)
{
    for (int i = 0; i < N_STRUCTURED; i++) {
        size_t l = strlen(structured[i]);
        if (strncmp(section, structured[i], l) == 0 && (section[l] == 0 || section[l] == '.'))
            return i;
    }
    return -1;
}

static cw_status add_entry(cw_config *c, const char *section, const char *key, const char *value,
                           int line)
{
    if (c->nentries == c->capentries) {
        int cap = c->capentries ? 2 * c->capentries : 32;
        cw_config_entry *e = realloc(c->entries, (size_t)cap * sizeof *e);
        if (!e)
            return CW_ERR_NOMEM;
        c->entries = e;
        c->capentries = cap;
    }
    cw_config_entry *e = &c->entries[c->nentries];
    e->section = cw_strndup(section, strlen(section));
    e->key = cw_strndup(key, strlen(key));
    e->value = cw_strndup(value, strlen(value));
    e->line = line;
    if (!e->section || !e->key || !e->value) {
        free((void *)e->section);
        free((void *)e->key);
        free((void *)e->value);
        return CW_ERR_NOMEM;
    }
    c->nentries++;
    return CW_OK;
}

static int find(const char *key)
{
    for (int i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return i;
    return -1;
}

/* Validates value for setting i. Returns NULL or a static reason. */
static const char *check(int i, const char *value)
{
    const setting *s = &settings[i];
    switch (s->type) {
    case SET_STR: return NULL;
    case SET_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return "is not an integer";
        if (v < s->min || v > s->max)
            return "is out of range";
        return NULL;
    }
    case SET_ENUM: {
        size_t len = strlen(value);
        for (const char *a = s->enum_values; a && *a;) {
            const char *bar = strchr(a, '|');
            size_t alen = bar ? (size_t)(bar - a) : strlen(a);
            if (alen == len && strncasecmp(a, value, len) == 0)
                return NULL;
            a = bar ? bar + 1 : NULL;
        }
        return "is not one of the allowed values";
    }
    case SET_FLAG: {
        cw_flag_rule r;
        const char *why = NULL;
        return cw_flag_parse(value, &r, &why) == CW_OK ? NULL : why;
    }
    case SET_DATE: {
        int64_t t;
        const char *why;
        return cw_time_parse(value, strlen(value), CW_TIME_NAIVE_UTC, &t, &why) == CW_OK
                   ? NULL
                   : "is not a date (YYYY-MM-DD)";
    }
    }
    return "has an unknown type";
}

static cw_status set(cw_config *c, int i, const char *value, int from)
{
    char *v = cw_strndup(value, strlen(value));
    if (!v)
        return CW_ERR_NOMEM;
    free(c->values[i]);
    c->values[i] = v;
    c->from[i] = from;
    return CW_OK;
}

static const char *custom_types = "count|sum|distinct_users|pct_change|days_since|ratio";
static const char *custom_pers = "none|active_user|seat";

/* Index of v among '|'-separated values, or -1. */
static int one_of(const char *values, const char *v)
{
    size_t len = strlen(v);
    int i = 0;
    for (const char *a = values; a && *a; i++) {
        const char *bar = strchr(a, '|');
        size_t alen = bar ? (size_t)(bar - a) : strlen(a);
        if (alen == len && strncmp(a, v, len) == 0)
            return i;
        a = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* One key of a [metric.NAME] section. Returns NULL or a static reason. */
static const char *custom_key(cw_config *c, const char *name, const char *key, const char *value)
{
    if (!*name)
        return "a custom metric needs a name: [metric.NAME]";
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return "metric names use a-z, 0-9 and _";
    if (cw_metric_index(name) >= 0)
        return "is a built-in metric's name";
    cw_custom_metric *m = NULL;
    for (int i = 0; i < c->ncustom; i++)
        if (strcmp(c->custom[i].name, name) == 0)
            m = &c->custom[i];
    if (!m) {
        if (c->ncustom == MAX_CUSTOM)
            return "too many custom metrics (256)";
        m = &c->custom[c->ncustom++];
        memset(m, 0, sizeof *m);
        m->type = (cw_custom_type)-1;
        if (!(m->name = cw_strndup(name, strlen(name))))
            return "out of memory";
    }
    const char **text = NULL;
    if (strcmp(key, "type") == 0) {
        int t = one_of(custom_types, value);
        if (t < 0)
            return "is not one of count, sum, distinct_users, pct_change, days_since, ratio";
        m->type = (cw_custom_type)t;
    } else if (strcmp(key, "per") == 0) {
        int t = one_of(custom_pers, value);
        if (t < 0)
            return "is not one of none, active_user, seat";
        m->per = (cw_custom_per)t;
    } else if (strcmp(key, "window") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (end == value || (*end && strcmp(end, "d") != 0) || v < 1 || v > 365)
            return "is not a number of days 1..365";
        m->window_days = (int)v;
    } else if (strcmp(key, "events") == 0) {
        text = &m->events;
    } else if (strcmp(key, "numerator") == 0) {
        text = &m->numerator;
    } else if (strcmp(key, "denominator") == 0) {
        text = &m->denominator;
    } else if (strcmp(key, "unit") == 0) {
        text = &m->unit;
    } else if (strcmp(key, "doc") == 0) {
        text = &m->doc;
    } else {
        return "is not a key of a custom metric (type, events, window, per, numerator, "
               "denominator, unit, doc)";
    }
    if (text) {
        free((void *)*text);
        if (!(*text = cw_strndup(value, strlen(value))))
            return "out of memory";
    }
    return NULL;
}

/* Checks that every custom metric is complete. Returns a message (caller
 * frees) or NULL. */
static char *custom_check(const cw_config *c)
{
    for (int i = 0; i < c->ncustom; i++) {
        const cw_custom_metric *m = &c->custom[i];
        if ((int)m->type < 0)
            return cw_strdupf("[metric.%s]: 'type' is required", m->name);
        if (m->type == CW_CUSTOM_RATIO) {
            if (!m->numerator || !m->denominator)
                return cw_strdupf("[metric.%s]: a ratio needs numerator and denominator", m->name);
            const char *parts[2] = {m->numerator, m->denominator};
            for (int k = 0; k < 2; k++) {
                int known = cw_metric_index(parts[k]) >= 0;
                for (int j = 0; j < i && !known; j++)
                    known = strcmp(c->custom[j].name, parts[k]) == 0;
                if (!known)
                    return cw_strdupf("[metric.%s]: '%s' is neither a built-in metric nor a "
                                      "custom metric defined above it",
                                      m->name, parts[k]);
                const cw_metric_info *cat;
                cw_metrics_catalog(&cat);
                int bi = cw_metric_index(parts[k]);
                if (bi >= 0 && cat[bi].scope != CW_SCOPE_ACCOUNT)
                    return cw_strdupf("[metric.%s]: '%s' is a user metric; ratios combine "
                                      "account metrics",
                                      m->name, parts[k]);
            }
        } else if (!m->events || !*m->events) {
            return cw_strdupf("[metric.%s]: 'events' is required (event names, or *)", m->name);
        }
    }
    return NULL;
}

int cw_config_custom_metrics(const cw_config *c, const cw_custom_metric **out)
{
    *out = c->custom;
    return c->ncustom;
}

/* ---- the INI reader ------------------------------------------------ */

#define STR_(x) #x
#define STR(x)  STR_(x)

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Where an inline comment starts in s: a ';' after a blank (as inih read
 * it, so "a;b" keeps its ';'), else the end of s. */
static char *comment_start(char *s)
{
    int was_blank = 0;
    for (; *s; s++) {
        if (*s == ';' && was_blank)
            return s;
        was_blank = is_blank(*s);
    }
    return s;
}

/* Cuts s at end, less the blanks before it; returns s. */
static char *cut(char *s, char *end)
{
    while (end > s && is_blank(end[-1]))
        end--;
    *end = '\0';
    return s;
}

cw_status cw_ini_parse(const char *text, size_t len, const char *file, cw_ini_fn fn, void *ud,
                       char **errmsg)
{
    if (errmsg)
        *errmsg = NULL;
    char *buf = malloc(CW_INI_MAX_LINE + 1);
    char *section = cw_strndup("", 0);
    char *key = NULL; /* the current section's last key: what an indented line continues */
    const char *bad = NULL;
    char *why = NULL;
    int line = 0;
    size_t pos = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    cw_status st = buf && section ? CW_OK : CW_ERR_NOMEM;
    while (st == CW_OK && !bad && !why && pos < len) {
        line++;
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += n + (nl != NULL);
        if (n && p[n - 1] == '\r')
            n--;
        if (n > CW_INI_MAX_LINE) {
            bad = "line longer than " STR(CW_INI_MAX_LINE) " bytes";
            break;
        }
        /* fgets-based readers silently cut a value at a NUL */
        if (memchr(p, '\0', n)) {
            bad = "a NUL byte in the line";
            break;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        char *s = buf;
        while (is_blank(*s))
            s++;
        if (!*s || *s == ';' || *s == '#')
            continue;
        cw_ini_item it = {section, "", "", line, 0, 0};
        if (s > buf && key) {
            it.key = key;
            it.value = cut(s, comment_start(s));
            it.cont = 1;
        } else if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                bad = "a section header needs a closing ']'";
                break;
            }
            char *rest = close + 1;
            while (is_blank(*rest))
                rest++;
            char *name = s + 1;
            while (is_blank(*name))
                name++;
            cut(name, close);
            if (*rest && *rest != ';' && *rest != '#')
                bad = "text after a section header";
            else if (!*name)
                bad = "an empty section name";
            if (bad)
                break;
            free(section);
            free(key);
            key = NULL;
            if (!(section = cw_strndup(name, strlen(name)))) {
                st = CW_ERR_NOMEM;
                break;
            }
            it.section = section;
            it.header = 1;
        } else {
            char *eq = strchr(s, '=');
            if (!eq) {
                bad = "expected [section], key = value, a comment or a blank line";
                break;
            }
            cut(s, eq);
            if (!*s) {
                bad = "a key is missing before '='";
                break;
            }
            char *v = eq + 1;
            while (is_blank(*v))
                v++;
            free(key);
            if (!(key = cw_strndup(s, strlen(s)))) {
                st = CW_ERR_NOMEM;
                break;
            }
            it.key = key;
            it.value = cut(v, comment_start(v));
        }
        why = fn(ud, &it);
    }
    if (st == CW_OK && (bad || why)) {
        st = CW_ERR_CONFIG;
        if (errmsg && !(*errmsg = cw_strdupf("%s:%d: %s", file, line, bad ? bad : why)))
            st = CW_ERR_NOMEM;
    }
    free(why);
    free(key);
    free(section);
    free(buf);
    return st;
}

/* ---- loading -------------------------------------------------------- */

/* A string set with an int per string (open addressing), so that finding
 * a repeated section or key stays linear in the file's size. */
typedef struct strindex {
    char **k; /* owned; NULL = free slot */
    int *v;
    size_t cap, n;
} strindex;

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

/* The value of k, or -1. */
static int sx_get(const strindex *x, const char *k)
{
    if (!x->cap)
        return -1;
    for (size_t i = hash_str(k) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        if (!x->k[i])
            return -1;
        if (strcmp(x->k[i], k) == 0)
            return x->v[i];
    }
}

/* Adds k (absent; taken over, freed on failure) with v. */
static cw_status sx_put(strindex *x, char *k, int v)
{
    if (!k)
        return CW_ERR_NOMEM;
    if (2 * (x->n + 1) > x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 64;
        char **nk = calloc(cap, sizeof *nk);
        int *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            free(k);
            return CW_ERR_NOMEM;
        }
        for (size_t i = 0; i < x->cap; i++) {
            if (!x->k[i])
                continue;
            size_t j = hash_str(x->k[i]) & (cap - 1);
            while (nk[j])
                j = (j + 1) & (cap - 1);
            nk[j] = x->k[i];
            nv[j] = x->v[i];
        }
        free(x->k);
        free(x->v);
        x->k = nk;
        x->v = nv;
        x->cap = cap;
    }
    size_t i = hash_str(k) & (x->cap - 1);
    while (x->k[i])
        i = (i + 1) & (x->cap - 1);
    x->k[i] = k;
    x->v[i] = v;
    x->n++;
    return CW_OK;
}

static void sx_free(strindex *x)
{
    for (size_t i = 0; i < x->cap; i++)
        free(x->k[i]);
    free(x->k);
    free(x->v);
}

typedef struct load_ctx {
    cw_config *c;
    strindex sections; /* section -> line of its header */
    strindex keys;     /* "section\nkey" -> line */
} load_ctx;

/* An indented line: only [source.*] values (joined with a space,
 * docs/importers.md) and [template.*] bodies (a new line, lib/alerts/actions.c)
 * continue; anywhere else it would silently change the value above. */
static char *on_continuation(load_ctx *lc, const cw_ini_item *it)
{
    cw_config *c = lc->c;
    int source = cw_config_section_is(it->section, "source", NULL);
    int tmpl = cw_config_section_is(it->section, "template", NULL);
    cw_config_entry *last = c->nentries ? &c->entries[c->nentries - 1] : NULL;
    if (!(source || tmpl) || !last || strcmp(last->section, it->section) != 0 ||
        strcmp(last->key, it->key) != 0)
        return cw_strdupf("[%s] %s: an indented line continues the value above, which only "
                          "[source.*] values and [template.*] bodies do (start a key at the "
                          "beginning of its line)",
                          it->section, it->key);
    char *joined = cw_strdupf("%s%s%s", last->value, source ? " " : "\n", it->value);
    if (!joined)
        return cw_strdupf("out of memory");
    free((void *)last->value);
    last->value = joined;
    return NULL;
}

static char *on_item(void *ud, const cw_ini_item *it)
{
    load_ctx *lc = ud;
    if (it->header) {
        /* One header per section: a second one would merge or replace keys
         * far from where the reader looks (docs/configuration.md). */
        int first = sx_get(&lc->sections, it->section);
        if (first >= 0)
            return cw_strdupf("[%s]: the section was begun at line %d; write each section once",
                              it->section, first);
        return sx_put(&lc->sections, cw_strndup(it->section, strlen(it->section)), it->line) ==
                       CW_OK
                   ? NULL
                   : cw_strdupf("out of memory");
    }
    if (it->cont)
        return on_continuation(lc, it);
    char *sk = cw_strdupf("%s\n%s", it->section, it->key);
    int first = sk ? sx_get(&lc->keys, sk) : -1;
    if (first >= 0) {
        free(sk);
        return cw_strdupf("[%s] %s: given again (first at line %d); a key is given once per "
                          "section",
                          it->section, it->key, first);
    }
    if (sx_put(&lc->keys, sk, it->line) != CW_OK)
        return cw_strdupf("out of memory");
    const char *section = it->section, *name = it->key, *value = it->value;
    if (strncmp(section, "metric.", 7) == 0) {
        const char *why = custom_key(lc->c, section + 7, name, value);
        return why ? cw_strdupf("%s.%s: %s", section, name, why) : NULL;
    }
    if (structured_type(section) >= 0)
        return add_entry(lc->c, section, name, value, it->line) == CW_OK
                   ? NULL
                   : cw_strdupf("out of memory");
    char *key = cw_strdupf("%s.%s", section, name);
    if (!key)
        return cw_strdupf("out of memory");
    int i = find(key);
    const char *why =
        i < 0 ? "is not a known setting (see `churnwatch config show`)" : check(i, value);
    if (!why && set(lc->c, i, value, FROM_FILE) != CW_OK)
        why = "out of memory";
    char *msg = why ? cw_strdupf("%s: %s", key, why) : NULL;
    free(key);
    return msg;
}

static cw_config *config_new(void)
{
    cw_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    for (int i = 0; i < N_SETTINGS; i++)
        if (set(c, i, settings[i].def, FROM_DEFAULT) != CW_OK) {
            cw_config_free(c);
            return NULL;
        }
    return c;
}

cw_status cw_config_load_text(const char *text, size_t len, const char *name, cw_config **out,
                              char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    cw_config *c = config_new();
    if (!c)
        return CW_ERR_NOMEM;
    c->path = name;
    load_ctx lc = {c, {0}, {0}};
    cw_status s = cw_ini_parse(text, len, name, on_item, &lc, errmsg);
    sx_free(&lc.sections);
    sx_free(&lc.keys);
    if (s == CW_OK) {
        char *bad = custom_check(c);
        if (bad) {
            if (errmsg)
                *errmsg = cw_strdupf("%s: %s", name, bad);
            free(bad);
            s = CW_ERR_CONFIG;
        }
    }
    if (s != CW_OK) {
        cw_config_free(c);
        return s;
    }
    *out = c;
    return CW_OK;
}

/* Reads the whole file (the reader needs no line buffer of its own size),
 * up to CW_BUF_MAX_FILE. */
static cw_status slurp(const char *path, char **out, size_t *len)
{
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_FILE);
    cw_status s = cw_buf_add_file(&b, path);
    if (s != CW_OK) {
        cw_buf_free(&b);
        *out = NULL;
        *len = 0;
        return s;
    }
    *out = cw_buf_steal(&b, len);
    return *out ? CW_OK : CW_ERR_NOMEM;
}

static cw_status config_load(const char *path, cw_config **out, char **errmsg);

cw_status cw_config_load(const char *path, cw_config **out, cw_error *err)
{
    char *msg = NULL;
    cw_status s = config_load(path, out, &msg);
    return cw_error_take(err, s, msg, "config");
}

static cw_status config_load(const char *path, cw_config **out, char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (!path) {
        cw_config *c = config_new();
        if (!c)
            return CW_ERR_NOMEM;
        *out = c;
        return CW_OK;
    }
    char *text;
    size_t len;
    cw_status s = slurp(path, &text, &len);
    if (s != CW_OK) {
        if (s == CW_ERR_IO && errmsg)
            *errmsg = cw_strdupf("%s: cannot read configuration file", path);
        if (s == CW_ERR_TOOBIG) {
            s = CW_ERR_CONFIG;
            if (errmsg)
                *errmsg = cw_strdupf("%s: configuration file larger than %zu MiB", path,
                                     CW_BUF_MAX_FILE >> 20);
        }
        return s;
    }
    s = cw_config_load_text(text, len, path, out, errmsg);
    free(text);
    return s;
}

static cw_status config_set(cw_config *c, const char *key, const char *value, char **errmsg);

cw_status cw_config_set(cw_config *c, const char *key, const char *value, cw_error *err)
{
    char *msg = NULL;
    cw_status s = config_set(c, key, value, &msg);
    return cw_error_take(err, s, msg, "config set");
}

static cw_status config_set(cw_config *c, const char *key, const char *value, char **errmsg)
{
    int i = find(key);
    const char *why = i < 0 ? "is not a known setting" : check(i, value);
    if (why) {
        if (errmsg)
            *errmsg = cw_strdupf("%s: '%s' %s", key, value, why);
        return CW_ERR_CONFIG;
    }
    return set(c, i, value, FROM_OVERRIDE);
}

const char *cw_config_get(const cw_config *c, const char *key)
{
    int i = find(key);
    return i < 0 ? NULL : c->values[i];
}

int64_t cw_config_get_int(const cw_config *c, const char *key)
{
    const char *v = cw_config_get(c, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

int cw_config_setting_info(int i, cw_setting_info *out)
{
    if (i < 0 || i >= N_SETTINGS)
        return 0;
    const setting *s = &settings[i];
    out->key = s->key;
    out->def = s->def;
    out->help = s->help;
    out->enum_values = s->type == SET_ENUM ? s->enum_values : NULL;
    out->is_int = s->type == SET_INT;
    out->min = s->min;
    out->max = s->max;
    return 1;
}

void cw_config_write(const cw_config *c, FILE *out)
{
    static const char *from_name[] = {"default", "file", "override"};
    const char *section = "";
    size_t slen = 0;
    for (int i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        const char *dot = strchr(s->key, '.');
        size_t l = (size_t)(dot - s->key);
        if (l != slen || strncmp(section, s->key, l) != 0) {
            fprintf(out, "%s[%.*s]\n", i ? "\n" : "", (int)l, s->key);
            section = s->key;
            slen = l;
        }
        fprintf(out, "; %s", s->help);
        if (s->type == SET_ENUM)
            fprintf(out, " (%s)", s->enum_values);
        else if (s->type == SET_INT)
            fprintf(out, " (%lld..%lld)", (long long)s->min, (long long)s->max);
        fprintf(out, "\n");
        if (c && c->from[i] != FROM_DEFAULT)
            fprintf(out, "; from %s, default %s\n", from_name[c->from[i]], s->def);
        /* Secrets are masked (core/mask.h): a password setting, credentials
         * in a URL such as deliver.smtp_url or a postgres:// store.db. */
        char *shown = cw_mask_secrets(s->key, c ? c->values[i] : s->def);
        fprintf(out, "%s = %s\n", dot + 1, shown ? shown : CW_MASK);
        free(shown);
    }
    for (int i = 0; c && i < c->ncustom; i++) {
        const cw_custom_metric *m = &c->custom[i];
        static const char *types[] = {"count",      "sum",        "distinct_users",
                                      "pct_change", "days_since", "ratio"};
        static const char *pers[] = {"none", "active_user", "seat"};
        fprintf(out, "\n[metric.%s]\ntype = %s\n", m->name, types[m->type]);
        if (m->events)
            fprintf(out, "events = %s\n", m->events);
        if (m->numerator)
            fprintf(out, "numerator = %s\ndenominator = %s\n", m->numerator, m->denominator);
        if (m->window_days)
            fprintf(out, "window = %d\n", m->window_days);
        if (m->per)
            fprintf(out, "per = %s\n", pers[m->per]);
        if (m->unit)
            fprintf(out, "unit = %s\n", m->unit);
        if (m->doc)
            fprintf(out, "doc = %s\n", m->doc);
    }
    const char *last = NULL;
    for (int i = 0; c && i < c->nentries; i++) {
        const cw_config_entry *e = &c->entries[i];
        if (!last || strcmp(last, e->section) != 0)
            fprintf(out, "\n[%s]\n", e->section);
        last = e->section;
        /* a [template.*] body's new lines go back as continuation lines */
        fprintf(out, "%s = ", e->key);
        /* an action's inline secret, credentials or ?token= in its url */
        char *shown = cw_mask_secrets(e->key, e->value);
        for (const char *v = shown ? shown : CW_MASK; *v; v++)
            if (*v == '\n')
                fputs("\n    ", out);
            else
                fputc(*v, out);
        fputc('\n', out);
        free(shown);
    }
}

int cw_config_entries(const cw_config *c, const cw_config_entry **out)
{
    *out = c->entries;
    return c->nentries;
}

int cw_config_section_is(const char *section, const char *type, const char **name)
{
    size_t l = strlen(type);
    if (strncmp(section, type, l) != 0 || (section[l] != 0 && section[l] != '.'))
        return 0;
    if (name)
        *name = section[l] ? section + l + 1 : "";
    return 1;
}

void cw_ingest_opts_from_config(cw_ingest_opts *o, const cw_config *c)
{
    cw_ingest_opts_init(o);
    if (!c)
        return;
    o->config = c;
    o->naive_utc = strcasecmp(cw_config_get(c, "ingest.naive_timestamps"), "utc") == 0;
    o->max_errors = (int)cw_config_get_int(c, "ingest.max_errors");
    o->max_line_bytes = (size_t)cw_config_get_int(c, "ingest.max_line_bytes");
    o->batch_rows = cw_config_get_int(c, "ingest.batch_rows");
    /* "no" leaves the decision to a [source.NAME]'s own setting (off for
     * native files); "yes" turns it on for every file. */
    o->provision_users =
        strcasecmp(cw_config_get(c, "ingest.provision_users"), "yes") == 0 ? 1 : -1;
}

const char *cw_config_path(const cw_config *c)
{
    return c->path;
}

void cw_config_free(cw_config *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nentries; i++) {
        free((void *)c->entries[i].section);
        free((void *)c->entries[i].key);
        free((void *)c->entries[i].value);
    }
    free(c->entries);
    for (int i = 0; i < c->ncustom; i++) {
        cw_custom_metric *m = &c->custom[i];
        free((void *)m->name);
        free((void *)m->events);
        free((void *)m->numerator);
        free((void *)m->denominator);
        free((void *)m->unit);
        free((void *)m->doc);
    }
    for (int i = 0; i < N_SETTINGS; i++)
        free(c->values[i]);
    free(c);
}
