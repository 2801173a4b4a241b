/*
 * config.c — churnwatch's settings: one table, read from an INI file with
 * inih, overridden from the command line, printed by `churnwatch config
 * show`. The table is the single place a setting is declared; the file
 * parser, the overrides and the printed example all walk it, so they cannot
 * disagree. Values are kept as validated strings; typed getters parse them.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { SET_STR, SET_INT, SET_ENUM, SET_DATE } set_type;

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
    {"metrics.window_days", SET_INT, "28", 1, 365, NULL, "activity window of window metrics, days"},
    {"simulate.accounts", SET_INT, "500", 1, 10000000, NULL, "accounts in a simulated world"},
    {"simulate.months", SET_INT, "12", 1, 120, NULL, "months simulated"},
    {"simulate.start", SET_DATE, "2025-01-01", 0, 0, NULL, "first simulated day"},
    {"simulate.seed", SET_INT, "42", 0, INT64_MAX, NULL, "random seed (same seed, same world)"},
};
#define N_SETTINGS ((int)(sizeof settings / sizeof settings[0]))

enum { FROM_DEFAULT, FROM_FILE, FROM_OVERRIDE };

struct cw_config {
    char *values[N_SETTINGS];
    int from[N_SETTINGS];
    const char *path;
};

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
    case SET_DATE: {
        int64_t t;
        const char *why;
        return cw_time_parse(value, strlen(value), 1, &t, &why) == CW_OK
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

typedef struct load_ctx {
    cw_config *c;
    FILE *f;
    int line;     /* lines handed to inih so far: its line number */
    char *err;    /* the first problem found by on_ini, without its line */
    int err_line; /* the line of err */
} load_ctx;

/* inih's line source; counts lines so on_ini knows where it is (inih
 * reports only the first error's line, which may be a syntax error). */
static char *read_line(char *str, int num, void *stream)
{
    load_ctx *lc = stream;
    char *s = fgets(str, num, lc->f);
    if (s)
        lc->line++;
    return s;
}

static int on_ini(void *ud, const char *section, const char *name, const char *value)
{
    load_ctx *lc = ud;
    char key[256];
    snprintf(key, sizeof key, "%s.%s", section, name);
    int i = find(key);
    const char *why = NULL;
    if (i < 0)
        why = "is not a known setting (see `churnwatch config show`)";
    else
        why = check(i, value);
    if (!why && set(lc->c, i, value, FROM_FILE) != CW_OK)
        why = "out of memory";
    if (why && !lc->err) {
        lc->err = cw_strdupf("%s: %s", key, why);
        lc->err_line = lc->line;
        return 0;
    }
    return why ? 0 : 1;
}

cw_status cw_config_load(const char *path, cw_config **out, char **errmsg)
{
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    cw_config *c = calloc(1, sizeof *c);
    if (!c)
        return CW_ERR_NOMEM;
    for (int i = 0; i < N_SETTINGS; i++)
        if (set(c, i, settings[i].def, FROM_DEFAULT) != CW_OK) {
            cw_config_free(c);
            return CW_ERR_NOMEM;
        }
    if (path) {
        c->path = path;
        load_ctx lc = {c, fopen(path, "r"), 0, NULL, 0};
        int rc = lc.f ? ini_parse_stream(read_line, &lc, on_ini, &lc) : -1;
        if (lc.f)
            fclose(lc.f);
        if (rc != 0) {
            /* rc is the first failing line: a setting's or a syntax error's. */
            char *msg = rc < 0 ? cw_strdupf("%s: cannot read configuration file", path)
                        : lc.err && lc.err_line == rc ? cw_strdupf("%s:%d: %s", path, rc, lc.err)
                                                      : cw_strdupf("%s:%d: syntax error", path, rc);
            free(lc.err);
            if (errmsg)
                *errmsg = msg;
            else
                free(msg);
            cw_config_free(c);
            return rc == -1 ? CW_ERR_IO : CW_ERR_CONFIG;
        }
    }
    *out = c;
    return CW_OK;
}

cw_status cw_config_set(cw_config *c, const char *key, const char *value, char **errmsg)
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
        fprintf(out, "%s = %s\n", dot + 1, c ? c->values[i] : s->def);
    }
}

void cw_config_free(cw_config *c)
{
    if (!c)
        return;
    for (int i = 0; i < N_SETTINGS; i++)
        free(c->values[i]);
    free(c);
}
