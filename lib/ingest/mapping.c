/*
 * mapping.c — compiles [source.NAME] sections (of the configuration, or of
 * a built-in preset's INI text) into mappings, and applies a mapping to one
 * record: a CSV row or a JSON object. docs/importers.md is the contract.
 *
 * A mapping only turns vendor text into the text churnwatch's own
 * validation expects (cw_validate_field): conversions (money in major
 * units, timestamps in a declared format or zone, value maps, lookups)
 * write into fixed per-field scratch buffers, so applying a mapping
 * allocates nothing per record and every value still passes the one set of
 * rules native files do.
 */
#define _POSIX_C_SOURCE 200809L
#include "ingest/mapping.h"
#include "core/util.h"
#include "core/tz.h"
#include "core/ini.h"
#include "ingest/reader.h"
#include "ingest/schema.h"
#include "ingest/validate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ERR_MAX 512

size_t cw_name_normalise(const char *s, size_t len, char *out, size_t outsz)
{
    size_t n = 0;
    int pending = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int word =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
        if (!word) {
            pending = n > 0;
            continue;
        }
        if (pending) {
            if (n + 1 >= outsz)
                return 0;
            out[n++] = '_';
            pending = 0;
        }
        if (n + 1 >= outsz)
            return 0;
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (outsz)
        out[n] = '\0';
    return n;
}

/* ---- presets --------------------------------------------------------- */

typedef struct cw_asset {
    const char *name;
    const unsigned char *data;
    size_t len;
} cw_asset;
extern const cw_asset cw_presets[];
extern const size_t cw_npresets;

const char *cw_preset_lookup(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < cw_npresets; i++) {
        const char *n = cw_presets[i].name;
        /* Stored as NAME.ini. */
        if (strncmp(n, name, l) == 0 && strcmp(n + l, ".ini") == 0)
            return (const char *)cw_presets[i].data;
    }
    return NULL;
}

const char *cw_preset_text(const char *name)
{
    return name ? cw_preset_lookup(name) : NULL;
}

int cw_preset_names(const char **names, int max)
{
    int n = 0;
    for (size_t i = 0; i < cw_npresets && n < max; i++)
        names[n++] = cw_presets[i].name;
    return n;
}

/* ---- small helpers --------------------------------------------------- */

static char *dup(const char *s)
{
    return cw_strndup(s, strlen(s));
}

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t'))
        (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

static char *trimmed_dup(const char *s, size_t len)
{
    trim(&s, &len);
    return cw_strndup(s, len);
}

/* ---- paths and expressions ------------------------------------------- */

/* Parses a dotted JSON path with [N] indexes. Returns NULL or a reason. */
static const char *parse_path(const char *s, cw_map_step *steps, int *nsteps)
{
    *nsteps = 0;
    const char *p = s;
    while (*p) {
        if (*nsteps == CW_MAP_MAX_STEPS)
            return "path has more than 8 steps";
        cw_map_step *st = &steps[(*nsteps)++];
        memset(st, 0, sizeof *st);
        const char *b = p;
        if (*p == '"') {
            /* A quoted key: taken as it is, dots and brackets included
             * (properties."a.b"). */
            const char *close = strchr(p + 1, '"');
            if (!close)
                return "path has an unclosed '\"'";
            if (close == p + 1)
                return "path has an empty step";
            if (!(st->key = cw_strndup(p + 1, (size_t)(close - p - 1))))
                return "out of memory";
            p = close + 1;
        } else {
            while (*p && *p != '.' && *p != '[')
                p++;
            if (p == b)
                return "path has an empty step";
            if (!(st->key = cw_strndup(b, (size_t)(p - b))))
                return "out of memory";
        }
        while (*p == '[') {
            char *end;
            long v = strtol(p + 1, &end, 10);
            if (end == p + 1 || *end != ']' || v < 0 || v > 1000000)
                return "path index must be [N] with N >= 0";
            if (st->nidx == 4)
                return "path has more than 4 indexes in one step";
            st->idx[st->nidx++] = (int)v;
            p = end + 1;
        }
        if (*p == '.') {
            p++;
            if (!*p)
                return "path ends with '.'";
        } else if (*p) {
            return "path has text after an index";
        }
    }
    return *nsteps ? NULL : "path is empty";
}

static void free_steps(cw_map_step *steps, int n)
{
    for (int i = 0; i < n; i++)
        free(steps[i].key);
}

json_t *cw_map_path(json_t *root, const cw_map_step *steps, int n)
{
    json_t *j = root;
    for (int i = 0; i < n && j; i++) {
        if (!json_is_object(j))
            return NULL;
        j = json_object_get(j, steps[i].key);
        for (int k = 0; k < steps[i].nidx && j; k++)
            j = json_is_array(j) ? json_array_get(j, (size_t)steps[i].idx[k]) : NULL;
    }
    return j;
}

static const char *lookup_names[] = {NULL, "user_account", "account_by_name", "account_by_domain",
                                     "tokens"};
#define FN_TOKENS 4

/* The function named s (a lookup, or FN_TOKENS), or 0. */
static int lookup_kind(const char *s, size_t len)
{
    for (int k = 1; k <= 3; k++)
        if (strlen(lookup_names[k]) == len && strncmp(s, lookup_names[k], len) == 0)
            return k;
    return 0;
}

static int function_kind(const char *s, size_t len)
{
    int k = lookup_kind(s, len);
    if (!k && len == 6 && strncmp(s, "tokens", 6) == 0)
        k = FN_TOKENS;
    return k;
}

/* Parses a column / path / 'constant' into a (not lookup). */
static const char *parse_operand(const char *s, size_t len, cw_map_alt *a)
{
    trim(&s, &len);
    if (!len)
        return "an alternative is empty";
    a->col = -1;
    if (s[0] == '\'') {
        if (len < 2 || s[len - 1] != '\'')
            return "a constant must be quoted as 'text'";
        a->type = CW_ALT_CONST;
        a->text = cw_strndup(s + 1, len - 2);
        /* For messages: the constant as written, quotes included. */
        a->norm = cw_strndup(s, len);
        return a->text && a->norm ? NULL : "out of memory";
    }
    a->type = CW_ALT_COLUMN;
    if (s[0] == '"' && len >= 2 && memchr(s + 1, '"', len - 1) == s + len - 1) {
        /* "Header": the exact header text (Typeform's "#", which normalises
         * to nothing), and as a JSON path the one key of that name. */
        if (len == 2)
            return "a quoted column name is empty";
        a->exact = 1;
        a->text = cw_strndup(s + 1, len - 2);
        char nb[256];
        size_t nl = cw_name_normalise(s + 1, len - 2, nb, sizeof nb);
        a->norm = dup(nl ? nb : "");
        if (!a->text || !a->norm || !(a->steps[0].key = cw_strndup(s + 1, len - 2)))
            return "out of memory";
        a->nsteps = 1;
        return NULL;
    }
    if (!(a->text = cw_strndup(s, len)))
        return "out of memory";
    char norm[256];
    if (!cw_name_normalise(s, len, norm, sizeof norm))
        return "names no column (nothing but punctuation, or too long)";
    if (!(a->norm = dup(norm)))
        return "out of memory";
    const char *path = a->text;
    if (strncmp(path, "each.", 5) == 0) {
        a->each = 1;
        path += 5;
    }
    /* Every column name is also a JSON path. A CSV header such as
     * "Amount [USD]" is no valid path: it then reads no JSON key. */
    const char *pw = parse_path(path, a->steps, &a->nsteps);
    if (pw) {
        free_steps(a->steps, a->nsteps);
        a->nsteps = 0;
        if (a->each)
            return pw;
    }
    return NULL;
}

static void free_alt(cw_map_alt *a)
{
    free(a->text);
    free(a->norm);
    free_steps(a->steps, a->nsteps);
    memset(a, 0, sizeof *a);
}

static void free_expr(cw_map_expr *e)
{
    for (int i = 0; i < e->nalts; i++)
        free_alt(&e->alts[i]);
    e->nalts = 0;
}

/* Parses "a | b | lookup(c) | 'd'". Returns NULL or a reason. */
static const char *parse_expr(const char *s, cw_map_expr *e)
{
    free_expr(e);
    const char *p = s;
    for (;;) {
        /* Find the next " | " outside quotes and parentheses. */
        const char *q = p, *end = NULL;
        int quote = 0, dquote = 0, depth = 0;
        for (; *q; q++) {
            if (*q == '\'' && !dquote)
                quote = !quote;
            else if (*q == '"' && !quote)
                dquote = !dquote;
            else if (quote || dquote)
                continue;
            else if (!quote && *q == '(')
                depth++;
            else if (!quote && *q == ')')
                depth--;
            else if (!quote && !depth && *q == '|') {
                end = q;
                break;
            }
        }
        if (!end)
            end = q;
        if (e->nalts == CW_MAP_MAX_ALTS)
            return "more than 8 alternatives";
        cw_map_alt *a = &e->alts[e->nalts++];
        memset(a, 0, sizeof *a);
        const char *b = p;
        size_t len = (size_t)(end - p);
        trim(&b, &len);
        const char *paren = len ? memchr(b, '(', len) : NULL;
        const char *why;
        /* name(...) is a call only when name is a function: a header such
         * as "Submit Date (UTC)" stays a column. */
        int k = paren && b[len - 1] == ')' ? function_kind(b, (size_t)(paren - b)) : 0;
        if (k == FN_TOKENS) {
            why = parse_operand(paren + 1, (size_t)(b + len - 1 - paren - 1), a);
            if (why)
                return why;
            if (a->type != CW_ALT_COLUMN)
                return "tokens() reads a column or path, not a constant";
            a->tokens = 1;
        } else if (k) {
            why = parse_operand(paren + 1, (size_t)(b + len - 1 - paren - 1), a);
            if (why)
                return why;
            a->arg_const = a->type == CW_ALT_CONST;
            a->type = CW_ALT_LOOKUP;
            a->lookup = k;
        } else if ((why = parse_operand(b, len, a)) != NULL) {
            return why;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return NULL;
}

/* ---- field modifiers ------------------------------------------------- */

static int is_money(const cw_field_def *f)
{
    return f->type == CW_F_MONEY;
}

static int is_time(const cw_field_def *f)
{
    return f->type == CW_F_TS || f->type == CW_F_DATE;
}

static const char *parse_map(cw_map_field *mf, const char *v)
{
    /* A later key (a configuration overriding a preset) replaces the map. */
    for (int i = 0; i < mf->nmap; i++) {
        free(mf->map_from[i]);
        free(mf->map_to[i]);
    }
    mf->nmap = 0;
    free((void *)mf->fallback);
    mf->fallback = NULL;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return "expects from=to pairs separated by commas";
        char *from = trimmed_dup(p, (size_t)(eq - p));
        char *to = trimmed_dup(eq + 1, len - (size_t)(eq - p) - 1);
        if (!from || !to) {
            free(from);
            free(to);
            return "out of memory";
        }
        if (strcmp(from, "''") == 0)
            from[0] = '\0';
        if (strcmp(from, "*") == 0) {
            free(from);
            if (mf->fallback)
                free((void *)mf->fallback);
            mf->fallback = to;
        } else {
            char **nf = realloc(mf->map_from, (size_t)(mf->nmap + 1) * sizeof *nf);
            if (nf)
                mf->map_from = nf;
            char **nt = nf ? realloc(mf->map_to, (size_t)(mf->nmap + 1) * sizeof *nt) : NULL;
            if (!nf || !nt) {
                free(from);
                free(to);
                return "out of memory";
            }
            mf->map_to = nt;
            mf->map_from[mf->nmap] = from;
            mf->map_to[mf->nmap++] = to;
        }
        p = comma ? comma + 1 : p + len;
    }
    return mf->nmap || mf->fallback ? NULL : "is empty";
}

static const char *parse_zone(cw_map_field *mf, const char *v, char *why, size_t whysz)
{
    if (strcasecmp(v, "UTC") == 0 || strcmp(v, "Z") == 0) {
        mf->zone = 1;
        mf->zone_off = 0;
        return NULL;
    }
    if ((v[0] == '+' || v[0] == '-') && strlen(v) == 6 && v[3] == ':') {
        int h = (v[1] - '0') * 10 + (v[2] - '0'), m = (v[4] - '0') * 10 + (v[5] - '0');
        if (h < 0 || h > 14 || m < 0 || m > 59)
            return "is not an offset ±HH:MM";
        mf->zone = 1;
        mf->zone_off = (v[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
        return NULL;
    }
    cw_tz_free(mf->tz);
    mf->tz = NULL;
    if (cw_tz_load(v, &mf->tz, why, whysz) != CW_OK)
        return why;
    mf->zone = 2;
    return NULL;
}

static const char *check_format(const char *fmt)
{
    int y = 0, m = 0, d = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        switch (*p) {
        case 'Y': y++; break;
        case 'm': m++; break;
        case 'd': d++; break;
        case 'H':
        case 'M':
        case 'S':
        case '%': break;
        default: return "uses an unknown directive (only %Y %m %d %H %M %S %%)";
        }
    }
    return y == 1 && m == 1 && d == 1 ? NULL : "needs %Y, %m and %d once each";
}

/* Loads a .table CSV (a header row, then from,to rows). */
static const char *load_table(cw_map_field *mf, const char *path, char *why, size_t whysz)
{
    cw_reader *r;
    char *err = NULL;
    if (cw_reader_open(path, 1 << 16, &r, &err) != CW_OK) {
        snprintf(why, whysz, "%s", err ? err : path);
        free(err);
        return why;
    }
    /* A later key replaces an earlier table. */
    cw_intern_free(mf->table);
    for (size_t i = 0; i < mf->ntable; i++)
        free(mf->table_to[i]);
    mf->ntable = 0;
    free(mf->table_path);
    mf->table = cw_intern_new();
    mf->table_path = dup(path);
    cw_strref *cells, raw;
    int n;
    int64_t line;
    const char *rwhy;
    int rc, first = 1;
    const char *bad = NULL;
    while (!bad && mf->table &&
           (rc = cw_csv_next(r, &cells, &n, &line, &raw, &rwhy)) != CW_READ_EOF) {
        if (rc != CW_READ_OK) {
            snprintf(why, whysz, "%s:%lld: %s", path, (long long)line, rwhy);
            bad = why;
        } else if (first) {
            first = 0;
        } else if (n != 2) {
            snprintf(why, whysz, "%s:%lld: expected two columns (from,to)", path, (long long)line);
            bad = why;
        } else {
            const char *k = cells[0].s;
            size_t kl = cells[0].len;
            trim(&k, &kl);
            char **nt = realloc(mf->table_to, (mf->ntable + 1) * sizeof *nt);
            if (!nt || !(nt[mf->ntable] = trimmed_dup(cells[1].s, cells[1].len))) {
                if (nt)
                    mf->table_to = nt;
                bad = "out of memory";
                break;
            }
            mf->table_to = nt;
            if (cw_intern_put(mf->table, k, kl, (int64_t)mf->ntable++) != CW_OK)
                bad = "out of memory";
        }
    }
    cw_reader_close(r);
    if (!mf->table)
        return "out of memory";
    return bad;
}

static void free_field(cw_map_field *mf)
{
    free_expr(&mf->e);
    for (int i = 0; i < mf->nmap; i++) {
        free(mf->map_from[i]);
        free(mf->map_to[i]);
    }
    free(mf->map_from);
    free(mf->map_to);
    free((void *)mf->fallback);
    free(mf->format);
    cw_tz_free(mf->tz);
    cw_intern_free(mf->table);
    for (size_t i = 0; i < mf->ntable; i++)
        free(mf->table_to[i]);
    free(mf->table_to);
    free(mf->table_path);
    memset(mf, 0, sizeof *mf);
}

static void free_where(cw_mapping *m)
{
    for (int c = 0; c < m->nwhere; c++) {
        cw_map_cond *w = &m->where[c];
        free_expr(&w->e);
        for (int i = 0; i < w->nvals; i++)
            free(w->vals[i]);
        free(w->vals);
        memset(w, 0, sizeof *w);
    }
    m->nwhere = 0;
}

void cw_mapping_free(cw_mapping *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->origin);
    free(m->description);
    free_steps(m->records, m->nrecords);
    free_steps(m->each, m->neach);
    free_where(m);
    free(m->files);
    for (int i = 0; i < CW_MAX_FIELDS; i++)
        free_field(&m->fields[i]);
    free(m);
}

/* ---- compiling a section --------------------------------------------- */

/* One key of a section, with where it was written. */
typedef struct kv {
    const char *key, *value, *file;
    int line;
} kv;

/* Parses one condition of `where` into w. Returns NULL or a reason. */
static const char *parse_cond(cw_map_cond *w, const char *v, size_t vlen)
{
    char *c = trimmed_dup(v, vlen);
    if (!c)
        return "out of memory";
    size_t cl = strlen(c);
    const char *why = NULL;
    /* "expr present" / "expr absent": whether the expression (its first
     * alternative present and not empty) has a value. Not after an '=':
     * "status = absent" compares with the word. */
    static const char *tests[] = {" present", " absent"};
    for (int k = 0; k < 2 && !strchr(c, '='); k++) {
        size_t tl = strlen(tests[k]);
        if (cl > tl && strcmp(c + cl - tl, tests[k]) == 0) {
            c[cl - tl] = '\0';
            w->op = CW_COND_PRESENT;
            w->neg = k == 1;
            why = parse_expr(c, &w->e);
            free(c);
            return why;
        }
    }
    const char *ops[] = {"!=", "=", " not in ", " in "};
    for (int k = 0; k < 4; k++) {
        const char *at = strstr(c, ops[k]);
        if (!at)
            continue;
        char *lhs = cw_strndup(c, (size_t)(at - c));
        if (!lhs) {
            free(c);
            return "out of memory";
        }
        why = parse_expr(lhs, &w->e);
        free(lhs);
        if (why) {
            free(c);
            return why;
        }
        w->op = CW_COND_IN;
        w->neg = k == 0 || k == 2;
        const char *p = at + strlen(ops[k]);
        while (*p) {
            const char *comma = k >= 2 ? strchr(p, ',') : NULL;
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            const char *b = p;
            size_t bl = len;
            trim(&b, &bl);
            if (bl >= 2 && b[0] == '\'' && b[bl - 1] == '\'')
                b++, bl -= 2;
            char **nv = realloc(w->vals, (size_t)(w->nvals + 1) * sizeof *nv);
            if (!nv || !(nv[w->nvals] = cw_strndup(b, bl))) {
                if (nv)
                    w->vals = nv;
                free(c);
                return "out of memory";
            }
            w->vals = nv;
            w->nvals++;
            p = comma ? comma + 1 : p + len;
        }
        free(c);
        return w->nvals ? NULL : "has no value to compare with";
    }
    free(c);
    return "expects 'expression = value', '!= value', 'in v1, v2', 'not in v1, v2', "
           "'present' or 'absent' (conditions joined by 'and')";
}

/* Parses `where`: conditions joined by " and " (outside quotes). */
static const char *parse_where(cw_mapping *m, const char *v)
{
    free_where(m);
    const char *p = v;
    for (;;) {
        const char *q = p, *end = NULL;
        int quote = 0, dquote = 0;
        for (; *q; q++) {
            if (*q == '\'' && !dquote)
                quote = !quote;
            else if (*q == '"' && !quote)
                dquote = !dquote;
            else if (!quote && !dquote && strncmp(q, " and ", 5) == 0) {
                end = q;
                break;
            }
        }
        if (!end)
            end = q;
        if (m->nwhere == CW_MAP_MAX_CONDS)
            return "has more than 8 conditions";
        const char *why = parse_cond(&m->where[m->nwhere++], p, (size_t)(end - p));
        if (why)
            return why;
        if (!*end)
            return NULL;
        p = end + 5;
    }
}

/* ---- the resolved paths ------------------------------------------------ */

/* Equality of short keys: inline, a libc memcmp call per key costs more
 * than the compare. */
static inline int same_key(const char *a, const char *b, size_t n)
{
    while (n--)
        if (*a++ != *b++)
            return 0;
    return 1;
}

static int plan_key(cw_map_pkey *keys, int *n, const char *key, int parent)
{
    size_t len = strlen(key);
    for (int k = 0; k < *n; k++)
        if (keys[k].len == len && keys[k].parent == parent && !memcmp(keys[k].key, key, len))
            return k;
    if (*n == CW_MAP_MAX_PKEYS)
        return -1;
    keys[*n] = (cw_map_pkey){key, len, 0, parent, 0};
    return (*n)++;
}

/* Gives a an index in m's resolved paths when its path can be one. Others
 * (each.x, indexes, deeper paths, a full table) keep a->slot 0. */
static void plan_alt(cw_mapping *m, cw_map_alt *a)
{
    cw_map_plan *p = &m->plan;
    if (!(a->type == CW_ALT_COLUMN || (a->type == CW_ALT_LOOKUP && !a->arg_const)) || a->each ||
        a->nsteps < 1 || a->nsteps > 2 || p->nslots == CW_JSCAN_SLOTS)
        return;
    for (int i = 0; i < a->nsteps; i++)
        if (a->steps[i].nidx)
            return;
    int t = plan_key(p->top, &p->ntop, a->steps[0].key, -1);
    if (t < 0)
        return;
    cw_map_pkey *k = &p->top[t];
    if (a->nsteps == 2) {
        int before = p->nin;
        int c = plan_key(p->in, &p->nin, a->steps[1].key, t);
        if (c < 0)
            return;
        if (p->nin > before)
            p->top[t].inner++;
        k = &p->in[c];
    }
    if (!k->slot)
        k->slot = ++p->nslots;
    a->slot = k->slot;
}

/* The dispatch hash of a key (of the top level: parent -1). */
static inline unsigned plan_hash(const char *k, size_t len, int parent)
{
    unsigned h = (unsigned)len * 7u + (unsigned)(parent + 1) * 11u;
    if (len)
        h += (unsigned char)k[0] * 3u + (unsigned char)k[len - 1];
    return h & 63;
}

static void plan_build(cw_mapping *m)
{
    const cw_kind_def *kd = cw_kind_get(m->kind);
    for (int i = 0; i < kd->nfields; i++)
        for (int j = 0; j < m->fields[i].e.nalts; j++)
            plan_alt(m, &m->fields[i].e.alts[j]);
    for (int c = 0; c < m->nwhere; c++)
        for (int j = 0; j < m->where[c].e.nalts; j++)
            plan_alt(m, &m->where[c].e.alts[j]);
    cw_map_plan *p = &m->plan;
    for (int k = 0; k < p->ntop; k++) {
        int8_t *e = &p->tophash[plan_hash(p->top[k].key, p->top[k].len, -1)];
        *e = *e ? -1 : (int8_t)(k + 1);
    }
    for (int k = 0; k < p->nin; k++) {
        int8_t *e = &p->inhash[plan_hash(p->in[k].key, p->in[k].len, p->in[k].parent)];
        *e = *e ? -1 : (int8_t)(k + 1);
    }
}

/* The index in keys of the key s (under parent), or -1. */
static inline int plan_find(const cw_map_pkey *keys, int n, const int8_t *hash, const char *s,
                            size_t len, int parent)
{
    int e = hash[plan_hash(s, len, parent)];
    if (e > 0)
        return keys[e - 1].len == len && keys[e - 1].parent == parent &&
                       same_key(keys[e - 1].key, s, len)
                   ? e - 1
                   : -1;
    for (int k = 0; e < 0 && k < n; k++)
        if (keys[k].len == len && keys[k].parent == parent && same_key(keys[k].key, s, len))
            return k;
    return -1;
}

/* The values of m's resolved paths in rec (a JSON record), by slot: one
 * pass over the member lists the scanner kept, once per record and
 * mapping. NULL: operands walk their paths (a record not read by a
 * scanner's parse). Same values as cw_json_path: keys compared decoded and
 * exactly, a path through a non-object is absent, and the validated line
 * has no duplicate keys, so the first match is the only one. */
static const cw_jval *plan_resolve(const cw_mapping *m, const cw_map_record *rec)
{
    const cw_map_plan *p = &m->plan;
    if (!p->nslots || rec->cells || !rec->js)
        return NULL;
    int fresh;
    cw_jval *sl = cw_jscan_slots(rec->js, m, rec->obj, (size_t)p->nslots, &fresh);
    if (!sl || !fresh)
        return sl;
    memset(sl, 0, (size_t)p->nslots * sizeof *sl); /* CW_JSON_ABSENT */
    const cw_jmember *mem;
    size_t n = cw_jscan_members(rec->js, &mem);
    for (size_t i = 0; i < n; i++) {
        const cw_jmember *mb = &mem[i];
        int t = plan_find(p->top, p->ntop, p->tophash, mb->key.s, mb->key.len, -1);
        if (t < 0)
            continue;
        const cw_map_pkey *k = &p->top[t];
        if (k->slot)
            sl[k->slot - 1] = mb->val;
        const cw_jmember *in;
        size_t nn = k->inner ? cw_jscan_submembers(rec->js, mb, &in) : 0;
        for (size_t s = 0; s < nn; s++) {
            int c = plan_find(p->in, p->nin, p->inhash, in[s].key.s, in[s].key.len, t);
            if (c >= 0)
                sl[p->in[c].slot - 1] = in[s].val;
        }
    }
    return sl;
}

static int field_of(const cw_kind_def *kd, const char *name, size_t len)
{
    for (int i = 0; i < kd->nfields; i++)
        if (strlen(kd->fields[i].name) == len && strncmp(kd->fields[i].name, name, len) == 0)
            return i;
    return -1;
}

static const char *section_keys =
    "kind, preset, description, format, records, each, where, files, provision_users, merge, "
    "data_end, or a field of the kind with .map .unit .scale .format .zone .lookup .table";

/* Applies the key FIELD (its source expression) or FIELD.modifier to m.
 * Returns NULL, or why the value is bad (a static text or why). */
static const char *field_key(cw_mapping *m, const cw_kind_def *kd, const char *k, const char *v,
                             const char *dir, char *why, size_t whysz)
{
    const char *bad = NULL;
    const char *dot = strchr(k, '.');
    size_t fl = dot ? (size_t)(dot - k) : strlen(k);
    int fi = field_of(kd, k, fl);
    if (fi < 0) {
        snprintf(why, whysz, "is neither a key of a source (%s) nor a field of %s", section_keys,
                 kd->name);
        return why;
    }
    cw_map_field *mf = &m->fields[fi];
    const cw_field_def *f = &kd->fields[fi];
    const char *mod = dot ? dot + 1 : "";
    if (!dot) {
        bad = parse_expr(v, &mf->e);
        mf->mapped = 1;
    } else if (strcmp(mod, "map") == 0) {
        bad = parse_map(mf, v);
    } else if (strcmp(mod, "unit") == 0) {
        if (is_money(f) && strcmp(v, "major") == 0)
            mf->unit = CW_UNIT_MAJOR;
        else if (is_money(f) && strcmp(v, "minor") == 0)
            mf->unit = CW_UNIT_MINOR;
        else if (is_money(f))
            bad = "is not major or minor (a money field)";
        else if (is_time(f) &&
                 (strcmp(v, "s") == 0 || strcmp(v, "ms") == 0 || strcmp(v, "us") == 0))
            mf->unit = v[0] == 's' ? CW_UNIT_S : v[0] == 'm' ? CW_UNIT_MS : CW_UNIT_US;
        else if (is_time(f))
            bad = "is not s, ms or us (a timestamp given as a number)";
        else
            bad = "applies only to money and timestamp fields";
    } else if (strcmp(mod, "scale") == 0) {
        char *end;
        long long a = 1, b = 1;
        if (strncmp(v, "1/", 2) == 0)
            b = strtoll(v + 2, &end, 10);
        else
            a = strtoll(v, &end, 10);
        if (!is_money(f))
            bad = "applies only to money fields";
        else if (*end || a < 1 || b < 1 || a > 1000000 || b > 1000000)
            bad = "is not N or 1/N (N a whole number 1..1000000)";
        mf->scale_mul = a;
        mf->scale_div = b;
    } else if (strcmp(mod, "format") == 0) {
        if (!is_time(f))
            bad = "applies only to timestamp and date fields";
        else if (!(bad = check_format(v))) {
            free(mf->format);
            mf->format = dup(v);
        }
    } else if (strcmp(mod, "zone") == 0) {
        if (!is_time(f))
            bad = "applies only to timestamp and date fields";
        else
            bad = parse_zone(mf, v, why, whysz);
    } else if (strcmp(mod, "lookup") == 0) {
        int lk = lookup_kind(v, strlen(v));
        if (!lk)
            return "is not user_account, account_by_name or account_by_domain";
        /* Applied to the alternatives once all keys are read. */
        mf->lookup_all = lk;
    } else if (strcmp(mod, "table") == 0) {
        char path[1024];
        if (v[0] == '/' || !dir)
            snprintf(path, sizeof path, "%s", v);
        else
            snprintf(path, sizeof path, "%s/%s", dir, v);
        bad = load_table(mf, path, why, whysz);
    } else {
        bad = "is not a modifier (map, unit, scale, format, zone, lookup, table)";
    }
    return bad;
}

/* Applies one key of a section to m: one of the section's own keys
 * (description, format, records, ...), else a field's (field_key).
 * Returns NULL, or why the value is bad (a static text or why). */
static const char *section_key(cw_mapping *m, const cw_kind_def *kd, const char *k, const char *v,
                               const char *dir, char *why, size_t whysz)
{
    const char *bad = NULL;
    if (strcmp(k, "kind") == 0 || strcmp(k, "preset") == 0)
        return NULL;
    if (strcmp(k, "description") == 0) {
        free(m->description);
        m->description = dup(v);
    } else if (strcmp(k, "format") == 0) {
        /* One format, or several (json, jsonl) read as detected; a file
         * of another format is skipped by this section. */
        static const char *f[] = {"auto", "csv", "jsonl", "json"};
        m->format = -1;
        m->formats = 0;
        int nf = 0;
        for (const char *p = v; *p && !bad;) {
            size_t l = strcspn(p, ",");
            const char *b = p;
            size_t bl = l;
            trim(&b, &bl);
            int fj = -1;
            for (int j = 0; j < 4; j++)
                if (strlen(f[j]) == bl && strncmp(b, f[j], bl) == 0)
                    fj = j;
            if (fj < 0)
                bad = "is not one of auto, csv, jsonl, json (or a list: json, jsonl)";
            else if (fj == CW_FMT_AUTO)
                m->formats = 0;
            else
                m->formats |= 1 << fj, m->format = fj, nf++;
            p += l + (p[l] == ',');
        }
        if (!bad && (nf != 1 || !m->formats))
            m->format = CW_FMT_AUTO;
    } else if (strcmp(k, "records") == 0) {
        free_steps(m->records, m->nrecords);
        bad = parse_path(v, m->records, &m->nrecords);
    } else if (strcmp(k, "each") == 0) {
        free_steps(m->each, m->neach);
        bad = parse_path(v, m->each, &m->neach);
    } else if (strcmp(k, "where") == 0) {
        bad = parse_where(m, v);
    } else if (strcmp(k, "files") == 0) {
        free(m->files);
        m->files = dup(v);
    } else if (strcmp(k, "provision_users") == 0 || strcmp(k, "merge") == 0) {
        int b = strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0   ? 1
                : strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ? 0
                                                                          : -1;
        if (b < 0)
            bad = "is not yes or no";
        else if (k[0] == 'p')
            m->provision_users = b;
        else
            m->merge = b;
    } else if (strcmp(k, "data_end") == 0) {
        int64_t t;
        if (strcmp(v, "today") == 0) {
            t = (int64_t)time(NULL) / 86400 * 86400;
        } else if (cw_time_parse(v, strlen(v), CW_TIME_NAIVE_UTC, &t, NULL) != CW_OK) {
            return "is not a date (YYYY-MM-DD) or today";
        }
        m->data_end = t;
    } else {
        bad = field_key(m, kd, k, v, dir, why, whysz);
    }
    return bad;
}

/* After all keys: whole-field lookups wrap the column alternatives,
 * modifiers on a native column map it, tokens() needs a value map, and the
 * apply order and plan are built. Returns NULL, or why the section is bad
 * (*at then the key to blame, NULL for the section). */
static const char *section_finish(cw_mapping *m, const cw_kind_def *kd, char *why, size_t whysz,
                                  const kv **at)
{
    const char *bad = NULL;
    /* Whole-field .lookup wraps every column alternative. */
    for (int i = 0; !bad && i < kd->nfields; i++) {
        cw_map_field *mf = &m->fields[i];
        int lk = mf->lookup_all;
        if (lk) {
            for (int j = 0; j < mf->e.nalts; j++)
                if (mf->e.alts[j].type == CW_ALT_COLUMN && !mf->e.alts[j].tokens) {
                    mf->e.alts[j].type = CW_ALT_LOOKUP;
                    mf->e.alts[j].lookup = lk;
                }
            if (!mf->mapped) {
                *at = NULL;
                snprintf(why, whysz, "%s.lookup: the field has no source expression",
                         kd->fields[i].name);
                bad = why;
            }
        }
        for (int j = 0; j < mf->e.nalts; j++)
            m->uses_lookups |= mf->e.alts[j].type == CW_ALT_LOOKUP;
        if (!bad && mf->e.nalts == 0 &&
            (mf->nmap || mf->unit || mf->format || mf->zone || mf->table || mf->scale_mul)) {
            /* Modifiers on a native column are fine: the column is the
             * field's own name. */
            char nm[128];
            snprintf(nm, sizeof nm, "%s", kd->fields[i].name);
            bad = parse_expr(nm, &mf->e);
            mf->mapped = 1;
        }
        if (!bad && mf->scale_mul && mf->unit == CW_UNIT_NONE)
            mf->unit = CW_UNIT_MINOR;
    }
    for (int c = 0; !bad && c < m->nwhere; c++)
        for (int j = 0; j < m->where[c].e.nalts; j++)
            m->uses_lookups |= m->where[c].e.alts[j].type == CW_ALT_LOOKUP;
    /* tokens(x) picks a word by the field's value map: it needs one. */
    for (int i = 0; !bad && i < kd->nfields; i++)
        for (int j = 0; j < m->fields[i].e.nalts && !bad; j++)
            if (m->fields[i].e.alts[j].tokens && !m->fields[i].nmap) {
                *at = NULL;
                snprintf(why, whysz,
                         "%s: tokens() picks the first word the value map knows: give %s.map",
                         kd->fields[i].name, kd->fields[i].name);
                bad = why;
            }
    /* Apply order: currency fields first (money in major units needs the
     * row's currency); and the fields needing no conversion. */
    int no = 0;
    for (int pass = 0; pass < 2 && !bad; pass++)
        for (int i = 0; i < kd->nfields; i++)
            if ((kd->fields[i].type == CW_F_CURRENCY) == (pass == 0))
                m->order[no++] = i;
    for (int i = 0; !bad && i < kd->nfields; i++) {
        const cw_map_field *mf = &m->fields[i];
        m->fields[i].plain = mf->mapped && mf->e.nalts == 1 &&
                             mf->e.alts[0].type == CW_ALT_COLUMN && !mf->e.alts[0].tokens &&
                             !mf->nmap && !mf->fallback && !mf->unit && !mf->format && !mf->zone &&
                             !mf->table && kd->fields[i].type != CW_F_CURRENCY;
    }
    if (!bad)
        plan_build(m);
    return bad;
}

/* Compiles one section. kvs hold every key (kind first is not required).
 * dir: the directory relative .table paths are read from. */
static cw_status compile_section(const char *name, const char *origin, const kv *kvs, int n,
                                 const char *dir, cw_mapping **out, char **err)
{
    cw_mapping *m = calloc(1, sizeof *m);
    if (!m || !(m->name = dup(name)) || !(m->origin = dup(origin))) {
        cw_mapping_free(m);
        return CW_ERR_NOMEM;
    }
    m->provision_users = -1;
    char why[ERR_MAX];
    const char *bad = NULL;
    const kv *at = NULL;
    /* The kind first: field keys are checked against it. */
    for (int i = 0; i < n; i++)
        if (strcmp(kvs[i].key, "kind") == 0) {
            at = &kvs[i];
            m->kind = cw_kind_from_name(kvs[i].value);
            if (m->kind == CW_KIND_NONE) {
                snprintf(why, sizeof why, "'%s' is not a kind (see `churnwatch help data-model`)",
                         kvs[i].value);
                bad = why;
            }
        }
    if (!bad && m->kind == CW_KIND_NONE) {
        at = n ? &kvs[0] : NULL;
        bad = "is required: the target kind (accounts, users, events, ...)";
        if (at) {
            *err = cw_strdupf("%s:%d: [source.%s] kind: %s", at->file, at->line, name, bad);
        } else {
            *err = cw_strdupf("%s: [source.%s] kind: %s", origin, name, bad);
        }
        cw_mapping_free(m);
        return CW_ERR_CONFIG;
    }
    const cw_kind_def *kd = cw_kind_get(m->kind);
    for (int i = 0; i < n && !bad; i++) {
        at = &kvs[i];
        bad = section_key(m, kd, kvs[i].key, kvs[i].value, dir, why, sizeof why);
    }
    if (!bad)
        bad = section_finish(m, kd, why, sizeof why, &at);
    if (bad) {
        if (at)
            *err = cw_strdupf("%s:%d: [source.%s] %s: %s", at->file, at->line, name, at->key, bad);
        else
            *err = cw_strdupf("%s: [source.%s] %s", origin, name, bad);
        cw_mapping_free(m);
        return CW_ERR_CONFIG;
    }
    *out = m;
    return CW_OK;
}

/* ---- sources ---------------------------------------------------------- */

typedef struct sect {
    char *name; /* after "source." */
    kv *kvs;
    int n, cap;
} sect;

typedef struct sects {
    sect *s;
    int n;
    const char *file;
} sects;

static cw_status add_kv(sects *ss, const char *section, const char *key, const char *value,
                        const char *file, int line)
{
    sect *s = NULL;
    for (int i = 0; i < ss->n; i++)
        if (strcmp(ss->s[i].name, section) == 0)
            s = &ss->s[i];
    if (!s) {
        sect *ns = realloc(ss->s, (size_t)(ss->n + 1) * sizeof *ns);
        if (!ns)
            return CW_ERR_NOMEM;
        ss->s = ns;
        s = &ss->s[ss->n++];
        memset(s, 0, sizeof *s);
        if (!(s->name = dup(section)))
            return CW_ERR_NOMEM;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        kv *nk = realloc(s->kvs, (size_t)cap * sizeof *nk);
        if (!nk)
            return CW_ERR_NOMEM;
        s->kvs = nk;
        s->cap = cap;
    }
    kv *e = &s->kvs[s->n];
    e->key = dup(key);
    e->value = dup(value);
    e->file = file;
    e->line = line;
    if (!e->key || !e->value) {
        free((void *)e->key);
        free((void *)e->value);
        return CW_ERR_NOMEM;
    }
    s->n++;
    return CW_OK;
}

static void free_sects(sects *ss)
{
    for (int i = 0; i < ss->n; i++) {
        for (int j = 0; j < ss->s[i].n; j++) {
            free((void *)ss->s[i].kvs[j].key);
            free((void *)ss->s[i].kvs[j].value);
        }
        free(ss->s[i].kvs);
        free(ss->s[i].name);
    }
    free(ss->s);
    memset(ss, 0, sizeof *ss);
}

/* cw_ini_parse handler for preset text: only [source.X] sections, each
 * once, each key once; an indented line continues the key above it, joined
 * with a space (as in the configuration, lib/core/config.c). */
static char *on_preset(void *ud, const cw_ini_item *it)
{
    sects *ss = ud;
    if (strncmp(it->section, "source.", 7) != 0 || !it->section[7])
        return cw_strdupf("[%s]: a preset holds only [source.NAME] sections", it->section);
    if (it->header) {
        for (int i = 0; i < ss->n; i++)
            if (strcmp(ss->s[i].name, it->section + 7) == 0)
                return cw_strdupf("[%s]: the section was begun above; write each section once",
                                  it->section);
        return NULL;
    }
    /* the current section, once it has a key: sections are never reopened */
    sect *sc =
        ss->n && strcmp(ss->s[ss->n - 1].name, it->section + 7) == 0 ? &ss->s[ss->n - 1] : NULL;
    if (it->cont) {
        kv *last = &sc->kvs[sc->n - 1];
        char *joined = cw_strdupf("%s %s", last->value, it->value);
        if (!joined)
            return cw_strdupf("out of memory");
        free((void *)last->value);
        last->value = joined;
        return NULL;
    }
    for (int i = 0; sc && i < sc->n; i++)
        if (strcmp(sc->kvs[i].key, it->key) == 0)
            return cw_strdupf("[%s] %s: given again (first at line %d); a key is given once per "
                              "section",
                              it->section, it->key, sc->kvs[i].line);
    return add_kv(ss, it->section + 7, it->key, it->value, ss->file, it->line) == CW_OK
               ? NULL
               : cw_strdupf("out of memory");
}

static cw_status text_sects(const char *name, const char *text, sects *ss, char **err);

/* Parses preset NAME's text into sections; file is "preset NAME". */
static cw_status preset_sects(const char *name, sects *ss, char **err)
{
    memset(ss, 0, sizeof *ss);
    const char *text = cw_preset_lookup(name);
    if (!text) {
        *err = cw_strdupf("no preset named '%s' (see `churnwatch sources list`)", name);
        return CW_ERR_NOTFOUND;
    }
    return text_sects(name, text, ss, err);
}

/* Parses INI text of [source.X] sections; messages name it `name`. */
static cw_status text_sects(const char *name, const char *text, sects *ss, char **err)
{
    memset(ss, 0, sizeof *ss);
    ss->file = name;
    char *file = cw_strdupf("preset %s", name);
    if (!file)
        return CW_ERR_NOMEM;
    cw_status s = cw_ini_parse(text, strlen(text), file, on_preset, ss, err);
    free(file);
    if (s != CW_OK)
        free_sects(ss);
    return s;
}

void cw_source_clear(cw_source *s)
{
    for (int i = 0; i < s->nmaps; i++)
        cw_mapping_free(s->maps[i]);
    free(s->maps);
    free(s->name);
    free(s->description);
    free(s->files);
    memset(s, 0, sizeof *s);
}

static cw_status push_map(cw_source *s, cw_mapping *m)
{
    cw_mapping **nm = realloc(s->maps, (size_t)(s->nmaps + 1) * sizeof *nm);
    if (!nm) {
        cw_mapping_free(m);
        return CW_ERR_NOMEM;
    }
    s->maps = nm;
    s->maps[s->nmaps++] = m;
    return CW_OK;
}

/* The directory of path (for .table files), into buf; NULL for none. */
static const char *dir_of(const char *path, char *buf, size_t n)
{
    if (!path)
        return NULL;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    snprintf(buf, n, "%.*s", (int)(slash - path), path);
    return buf;
}

/* Whether key (of a config source using a preset) applies to a section of
 * kind kd: settings apply to all, field keys to kinds that have the field. */
static int key_applies(const char *key, const cw_kind_def *kd)
{
    static const char *settings[] = {
        "kind",  "preset", "description",     "format", "records", "each",
        "where", "files",  "provision_users", "merge",  "data_end"};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (strcmp(key, settings[i]) == 0)
            return 1;
    const char *dot = strchr(key, '.');
    size_t l = dot ? (size_t)(dot - key) : strlen(key);
    return !kd || field_of(kd, key, l) >= 0;
}

/* What the stages of cw_source_compile share. */
typedef struct source_ctx {
    cw_source *out;
    const char *name;
    const char *cfile; /* the configuration file, or NULL */
    sects cs;          /* the configuration's sections of the source */
    sects ps;          /* the preset's sections */
    const kv *pkv;     /* the config section's `preset` key, or NULL */
    char pbase[128];   /* the preset's name ("" for none) */
    const char *psect; /* "preset.section": one section of the preset, or NULL */
    char **err;
} source_ctx;

/* The configuration's [source.NAME] or [source.NAME.PART] sections. */
static cw_status config_sects(source_ctx *S, const cw_config *c)
{
    const cw_config_entry *e;
    int n = cw_config_entries(c, &e);
    cw_status s = CW_OK;
    size_t nl = strlen(S->name);
    for (int i = 0; i < n && s == CW_OK; i++) {
        const char *sn;
        /* [source.NAME], or sections [source.NAME.PART] of one source. */
        if (cw_config_section_is(e[i].section, "source", &sn) && strncmp(sn, S->name, nl) == 0 &&
            (sn[nl] == '\0' || (sn[nl] == '.' && sn[nl + 1])))
            s = add_kv(&S->cs, sn, e[i].key, e[i].value, S->cfile ? S->cfile : "config", e[i].line);
    }
    return s;
}

/* A source of several [source.NAME.PART] sections: each is compiled as it
 * stands (no preset). */
static cw_status compile_parts(source_ctx *S)
{
    const char *name = S->name;
    const sects *cs = &S->cs;
    char dbuf[1024];
    const char *dir = dir_of(S->cfile, dbuf, sizeof dbuf);
    cw_status s = CW_OK;
    for (int i = 0; i < cs->n && s == CW_OK; i++) {
        const kv *k0 = &cs->s[i].kvs[0];
        if (strcmp(cs->s[i].name, name) == 0) {
            *S->err = cw_strdupf("%s:%d: [source.%s]: a source is one [source.%s] section or "
                                 "several [source.%s.PART] sections, not both",
                                 k0->file, k0->line, name, name, name);
            return CW_ERR_CONFIG;
        }
        for (int j = 0; j < cs->s[i].n && s == CW_OK; j++)
            if (strcmp(cs->s[i].kvs[j].key, "preset") == 0) {
                *S->err = cw_strdupf("%s:%d: [source.%s] preset: a source of several "
                                     "sections cannot start from a preset",
                                     cs->s[i].kvs[j].file, cs->s[i].kvs[j].line, cs->s[i].name);
                s = CW_ERR_CONFIG;
            }
        cw_mapping *m;
        if (s == CW_OK)
            s = compile_section(cs->s[i].name, S->cfile ? S->cfile : "config", cs->s[i].kvs,
                                cs->s[i].n, dir, &m, S->err);
        if (s == CW_OK)
            s = push_map(S->out, m);
    }
    return s;
}

/* Reads preset pname ("segment.identify": one section of preset segment)
 * into S->ps; a bad name given by the config's `preset` key is blamed on
 * that key. */
static cw_status load_preset(source_ctx *S, const char *pname)
{
    snprintf(S->pbase, sizeof S->pbase, "%s", pname);
    char *dot = strchr(S->pbase, '.');
    if (dot) {
        *dot = '\0';
        S->psect = pname;
    }
    cw_status s = preset_sects(S->pbase, &S->ps, S->err);
    if (s != CW_OK && S->pkv) {
        char *m = cw_strdupf("%s:%d: [source.%s] preset: %s", S->pkv->file, S->pkv->line, S->name,
                             *S->err);
        free(*S->err);
        *S->err = m;
        s = CW_ERR_CONFIG;
    }
    return s;
}

/* Each (chosen) section of the preset with the config section's keys as
 * overrides; then every field key of the config section must belong to
 * some section's kind. */
static cw_status compile_preset(source_ctx *S, const char *dir)
{
    const sects *cs = &S->cs, *ps = &S->ps;
    const kv *pkv = S->pkv;
    cw_status s = CW_OK;
    int used = 0;
    char origin[160];
    snprintf(origin, sizeof origin, "preset %s", S->pbase);
    for (int i = 0; i < ps->n && s == CW_OK; i++) {
        if (S->psect && strcmp(ps->s[i].name, S->psect) != 0)
            continue;
        used++;
        /* The preset's keys, then the config section's overrides. */
        kv *all = malloc((size_t)(ps->s[i].n + (cs->n ? cs->s[0].n : 0) + 1) * sizeof *all);
        if (!all)
            return CW_ERR_NOMEM;
        int na = 0;
        const cw_kind_def *kd = NULL;
        for (int j = 0; j < ps->s[i].n; j++) {
            all[na] = ps->s[i].kvs[j];
            if (strcmp(all[na].key, "kind") == 0)
                kd = cw_kind_get(cw_kind_from_name(all[na].value));
            all[na++].file = origin;
        }
        for (int j = 0; cs->n && j < cs->s[0].n; j++)
            if (key_applies(cs->s[0].kvs[j].key, kd) &&
                (ps->n == 1 || S->psect || strcmp(cs->s[0].kvs[j].key, "kind") != 0))
                all[na++] = cs->s[0].kvs[j];
        cw_mapping *m;
        s = compile_section(ps->s[i].name, origin, all, na, dir, &m, S->err);
        free(all);
        if (s == CW_OK)
            s = push_map(S->out, m);
    }
    if (s == CW_OK && !used) {
        *S->err = pkv ? cw_strdupf("%s:%d: [source.%s] preset: no section [source.%s] in preset "
                                   "%s",
                                   pkv->file, pkv->line, S->name, S->psect, S->pbase)
                      : cw_strdupf("no section [source.%s] in preset %s", S->psect, S->pbase);
        s = pkv ? CW_ERR_CONFIG : CW_ERR_NOTFOUND;
    }
    /* A field key of the config section that no section's kind has. */
    for (int j = 0; s == CW_OK && cs->n && j < cs->s[0].n; j++) {
        const kv *k = &cs->s[0].kvs[j];
        int any = 0;
        for (int i = 0; i < S->out->nmaps; i++)
            any |= key_applies(k->key, cw_kind_get(S->out->maps[i]->kind));
        if (!any) {
            *S->err = cw_strdupf("%s:%d: [source.%s] %s: is not a field of any kind of preset %s",
                                 k->file, k->line, S->name, k->key, S->pbase);
            s = CW_ERR_CONFIG;
        }
    }
    return s;
}

cw_status cw_source_compile(const cw_config *c, const char *name, int preset, cw_source *out,
                            char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    if (!(out->name = dup(name)))
        return CW_ERR_NOMEM;
    out->is_preset = preset;
    source_ctx S = {.out = out, .name = name, .cfile = c ? cw_config_path(c) : NULL, .err = err};
    const sects *cs = &S.cs;
    cw_status s = CW_OK;
    /* The config section's own keys. */
    if (!preset && c) {
        if ((s = config_sects(&S, c)) != CW_OK)
            goto done;
        if (cs->n > 1 || (cs->n == 1 && strcmp(cs->s[0].name, name) != 0)) {
            s = compile_parts(&S);
            goto described;
        }
        if (!cs->n) {
            *err = cw_strdupf("no source named '%s' (a [source.%s] section of the configuration; "
                              "see `churnwatch sources list`)",
                              name, name);
            s = CW_ERR_NOTFOUND;
            goto done;
        }
    }
    /* A preset: the named one, or the config section's `preset` key. */
    const char *pname = preset ? name : NULL;
    for (int j = 0; cs->n && j < cs->s[0].n; j++)
        if (strcmp(cs->s[0].kvs[j].key, "preset") == 0)
            S.pkv = &cs->s[0].kvs[j], pname = S.pkv->value;
    if (pname && (s = load_preset(&S, pname)) != CW_OK)
        goto done;
    char dbuf[1024];
    const char *dir = dir_of(S.cfile, dbuf, sizeof dbuf);
    if (!pname) {
        cw_mapping *m;
        s = compile_section(name, S.cfile ? S.cfile : "config", cs->s[0].kvs, cs->s[0].n, dir, &m,
                            err);
        if (s == CW_OK)
            s = push_map(out, m);
    } else {
        s = compile_preset(&S, dir);
    }
described:
    if (s == CW_OK) {
        for (int i = 0; i < out->nmaps; i++) {
            if (!out->description && out->maps[i]->description)
                out->description = dup(out->maps[i]->description);
            if (!out->files && out->maps[i]->files)
                out->files = dup(out->maps[i]->files);
        }
    }
done:
    free_sects(&S.cs);
    free_sects(&S.ps);
    if (s != CW_OK) {
        if (!*err)
            *err = cw_strdupf("source %s: %s", name, cw_strerror(s));
        cw_source_clear(out);
    }
    return s;
}

/* ---- applying --------------------------------------------------------- */

int cw_mapping_bind_header(cw_mapping *m, const cw_strref *cells, int n, const char **missing)
{
    char norm[256];
    int bad = 0;
    const cw_kind_def *kd = cw_kind_get(m->kind);
    for (int i = 0; i < CW_MAX_FIELDS + m->nwhere; i++) {
        cw_map_expr *e = i < CW_MAX_FIELDS ? &m->fields[i].e : &m->where[i - CW_MAX_FIELDS].e;
        int any = e->nalts == 0;
        for (int j = 0; j < e->nalts; j++) {
            cw_map_alt *a = &e->alts[j];
            a->col = -1;
            if (a->type == CW_ALT_CONST || (a->type == CW_ALT_LOOKUP && a->arg_const)) {
                any = 1;
                continue;
            }
            for (int c = 0; c < n && a->col < 0; c++) {
                if (a->exact) {
                    const char *h = cells[c].s;
                    size_t hl = cells[c].len;
                    trim(&h, &hl);
                    if (hl == strlen(a->text) && memcmp(h, a->text, hl) == 0)
                        a->col = c;
                    continue;
                }
                size_t l = cw_name_normalise(cells[c].s, cells[c].len, norm, sizeof norm);
                if (l && strcmp(norm, a->norm) == 0)
                    a->col = c;
            }
            any |= a->col >= 0;
        }
        if (!any && i < kd->nfields && (kd->fields[i].flags & CW_FD_REQUIRED)) {
            if (!bad)
                *missing = e->alts[0].text;
            bad++;
        }
    }
    return bad;
}

static int expr_uses(const cw_map_expr *e, const char *norm, const char *key)
{
    for (int j = 0; j < e->nalts; j++) {
        const cw_map_alt *a = &e->alts[j];
        if (a->type == CW_ALT_CONST || (a->type == CW_ALT_LOOKUP && a->arg_const))
            continue;
        if (norm && *a->norm && strcmp(a->norm, norm) == 0)
            return 1;
        if (key && !a->each && a->nsteps && strcmp(a->steps[0].key, key) == 0)
            return 1;
    }
    return 0;
}

int cw_mapping_uses_column(const cw_mapping *m, const char *norm)
{
    const cw_kind_def *kd = cw_kind_get(m->kind);
    for (int c = 0; c < m->nwhere; c++)
        if (expr_uses(&m->where[c].e, norm, NULL))
            return 1;
    for (int i = 0; i < kd->nfields; i++)
        if (expr_uses(&m->fields[i].e, norm, NULL))
            return 1;
    int fi = cw_schema_field_index(kd, norm, strlen(norm));
    return fi >= 0 && !m->fields[fi].mapped;
}

int cw_mapping_uses_key(const cw_mapping *m, const char *key)
{
    const cw_kind_def *kd = cw_kind_get(m->kind);
    for (int c = 0; c < m->nwhere; c++)
        if (expr_uses(&m->where[c].e, NULL, key))
            return 1;
    if (m->neach && strcmp(m->each[0].key, key) == 0)
        return 1;
    for (int i = 0; i < kd->nfields; i++)
        if (expr_uses(&m->fields[i].e, NULL, key))
            return 1;
    int fi = cw_schema_field_index(kd, key, strlen(key));
    return fi >= 0 && !m->fields[fi].mapped;
}

/* The shortest decimal text of a double that reads back as the same value
 * (so 0.1 is "0.1", not "0.10000000000000001"). */
static void real_text(double d, char *buf, size_t n)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* The text of a JSON value; 0 for objects and arrays. */
static int json_scalar(cw_jscan *js, cw_jval j, char *buf, size_t n, cw_strref *out)
{
    switch (j.type) {
    case CW_JSON_STRING: return cw_json_string(js, j, out);
    case CW_JSON_INTEGER: *out = cw_json_integer_text(j); return 1;
    case CW_JSON_REAL:
        if (!cw_json_real_short(j, buf, n))
            real_text(cw_json_real(j), buf, n);
        break;
    case CW_JSON_TRUE: snprintf(buf, n, "true"); break;
    case CW_JSON_FALSE: snprintf(buf, n, "false"); break;
    case CW_JSON_NULL: out->s = NULL, out->len = 0; return 1;
    default: return 0;
    }
    out->s = buf;
    out->len = strlen(buf);
    return 1;
}

/* The raw value of a column / path alternative (not lookups): 1 with *out
 * (s NULL when absent), 0 when the value is an object or array. */
static int operand_value(const cw_map_alt *a, const cw_map_record *rec, const cw_jval *sl,
                         char *buf, size_t n, cw_strref *out)
{
    out->s = NULL;
    out->len = 0;
    if (a->type == CW_ALT_CONST || (a->type == CW_ALT_LOOKUP && a->arg_const)) {
        out->s = a->text;
        out->len = strlen(a->text);
        return 1;
    }
    if (rec->cells) {
        if (a->col >= 0 && a->col < rec->ncells)
            *out = rec->cells[a->col];
        return 1;
    }
    cw_jval j;
    if (sl && a->slot) {
        j = sl[a->slot - 1];
    } else {
        cw_jval root = a->each ? rec->elem : rec->obj;
        if (!root.type)
            return 1;
        j = cw_json_path(rec->js, root, a->steps, a->nsteps);
    }
    if (!j.type)
        return 1;
    return json_scalar(rec->js, j, buf, n, out);
}

static int present(cw_strref v)
{
    const char *s = v.s;
    size_t l = v.len;
    if (!s)
        return 0;
    trim(&s, &l);
    return l > 0;
}

int cw_mapping_accepts(const cw_mapping *m, int c)
{
    /* An empty file (c < 0) is left to the section to report. */
    if (!m->formats || c < 0)
        return 1;
    int json = c == '[' || c == '{';
    return json ? (m->formats & (1 << CW_FMT_JSON | 1 << CW_FMT_JSONL)) != 0
                : (m->formats & 1 << CW_FMT_CSV) != 0;
}

int cw_mapping_where(const cw_mapping *m, const cw_map_record *rec)
{
    const cw_jval *sl = m->nwhere ? plan_resolve(m, rec) : NULL;
    for (int c = 0; c < m->nwhere; c++) {
        const cw_map_cond *w = &m->where[c];
        char buf[64];
        cw_strref v = {NULL, 0};
        for (int j = 0; j < w->e.nalts && !present(v); j++)
            if (!operand_value(&w->e.alts[j], rec, sl, buf, sizeof buf, &v))
                v.s = NULL;
        int hit = 0;
        if (w->op == CW_COND_PRESENT) {
            hit = present(v);
        } else {
            const char *s = v.s ? v.s : "";
            size_t l = v.s ? v.len : 0;
            trim(&s, &l);
            for (int i = 0; i < w->nvals && !hit; i++)
                hit = strlen(w->vals[i]) == l && strncasecmp(w->vals[i], s, l) == 0;
        }
        if (hit == w->neg)
            return 0;
    }
    return 1;
}

/* Reads the digits of an unsigned decimal (with an optional fraction) as
 * value * 10^9 parts: *whole and *nanos. Returns 0 when not a number. */
static int decimal_parts(const char *s, size_t len, int *neg, int64_t *whole, int64_t *frac9)
{
    size_t i = 0;
    *neg = 0;
    *whole = 0;
    *frac9 = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        *neg = s[i++] == '-';
    int digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        if (__builtin_mul_overflow(*whole, 10, whole) ||
            __builtin_add_overflow(*whole, s[i] - '0', whole))
            return 0;
    if (i < len && s[i] == '.') {
        int64_t scale = 100000000;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            *frac9 += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    return digits && i == len;
}

static void civil(int64_t t, char *out, size_t n, int utc)
{
    char b[32];
    cw_time_format(t, CW_TIME_TIMESTAMP, b, sizeof b);
    /* "YYYY-MM-DDTHH:MM:SSZ"; without a zone the text stays naive so the
     * ingest.naive_timestamps policy decides. */
    if (!utc)
        b[19] = '\0';
    snprintf(out, n, "%s", b);
}

/* Whether ISO text s carries its own offset (Z or ±hh[:mm] after the time). */
static int has_offset(const char *s, size_t len)
{
    if (len <= 10)
        return 0;
    if (s[len - 1] == 'Z' || s[len - 1] == 'z')
        return 1;
    for (size_t i = 11; i < len; i++)
        if (s[i] == '+' || s[i] == '-')
            return 1;
    return 0;
}

/* Local wall-clock seconds to UTC with the field's zone. */
static int64_t zone_utc(const cw_map_field *f, int64_t local)
{
    if (f->zone == 1)
        return local - f->zone_off;
    if (f->zone == 2)
        return cw_tz_local_to_utc(f->tz, local);
    return local;
}

int cw_map_timestamp(const cw_map_field *f, const char *s, size_t len, char *out, size_t outsz,
                     char *why, size_t whysz)
{
    trim(&s, &len);
    int shown = (int)(len > 40 ? 40 : len);
    if (f->unit >= CW_UNIT_S) {
        int neg;
        int64_t whole, frac9;
        if (!decimal_parts(s, len, &neg, &whole, &frac9) || neg) {
            snprintf(why, whysz, "'%.*s' is not a number of %s", shown, s,
                     f->unit == CW_UNIT_S    ? "seconds"
                     : f->unit == CW_UNIT_MS ? "milliseconds"
                                             : "microseconds");
            return 0;
        }
        int64_t t = f->unit == CW_UNIT_S    ? whole
                    : f->unit == CW_UNIT_MS ? whole / 1000
                                            : whole / 1000000;
        if (t >= 4102444800LL) {
            snprintf(why, whysz, "'%.*s' is after 2099 (wrong .unit?)", shown, s);
            return 0;
        }
        /* With .zone the number counts local wall-clock seconds there (old
         * Mixpanel projects export time so), not seconds since 1970 UTC. */
        if (f->zone)
            t = zone_utc(f, t);
        civil(t, out, outsz, 1);
        return 1;
    }
    if (f->format) {
        int v[6] = {0, 0, 0, 0, 0, 0}; /* Y m d H M S */
        const char *p = s, *e = s + len;
        for (const char *q = f->format; *q; q++) {
            if (*q != '%' || q[1] == '%') {
                q += *q == '%';
                if (p >= e || *p != *q)
                    goto nomatch;
                p++;
                continue;
            }
            q++;
            int slot = *q == 'Y'   ? 0
                       : *q == 'm' ? 1
                       : *q == 'd' ? 2
                       : *q == 'H' ? 3
                       : *q == 'M' ? 4
                                   : 5;
            int maxd = slot == 0 ? 4 : 2, nd = 0, val = 0;
            while (p < e && nd < maxd && *p >= '0' && *p <= '9')
                val = val * 10 + (*p++ - '0'), nd++;
            if (!nd || (slot == 0 && nd != 4))
                goto nomatch;
            v[slot] = val;
            /* Optional fractional seconds after %S, unless the format
             * itself continues with that character. */
            if (slot == 5 && p < e && (*p == '.' || *p == ',') && q[1] != *p) {
                p++;
                while (p < e && *p >= '0' && *p <= '9')
                    p++;
            }
        }
        if (p != e)
            goto nomatch;
        static const int dm[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
        if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > dm[v[1] - 1] ||
            (v[1] == 2 && !leap && v[2] > 28) || v[3] > 23 || v[4] > 59 || v[5] > 60) {
            snprintf(why, whysz, "'%.*s' is an impossible date or time", shown, s);
            return 0;
        }
        if (v[0] < 1970 || v[0] > 2099) {
            snprintf(why, whysz, "'%.*s' has a year outside 1970-2099", shown, s);
            return 0;
        }
        int64_t local = cw_days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 86400 +
                        v[3] * 3600 + v[4] * 60 + (v[5] > 59 ? 59 : v[5]);
        civil(zone_utc(f, local), out, outsz, f->zone != 0);
        return 1;
    nomatch:
        snprintf(why, whysz, "'%.*s' does not match the format '%s'", shown, s, f->format);
        return 0;
    }
    /* A zone alone: ISO text without an offset is local time there. */
    int64_t t;
    const char *reason;
    if (cw_time_parse(s, len, CW_TIME_NAIVE_UTC, &t, &reason) != CW_OK) {
        snprintf(why, whysz, "'%.*s' %s", shown, s, reason);
        return 0;
    }
    int digits_only = 1;
    for (size_t i = 0; i < len; i++)
        digits_only &= s[i] >= '0' && s[i] <= '9';
    if (!(digits_only && len != 8) && !has_offset(s, len))
        t = zone_utc(f, t);
    civil(t, out, outsz, 1);
    return 1;
}

/* Converts money text: unit, then scale; into out as minor units. */
static int map_money(const cw_map_field *f, const char *currency, const char *s, size_t len,
                     char *out, size_t outsz, char *why, size_t whysz)
{
    int64_t v;
    trim(&s, &len);
    if (f->unit == CW_UNIT_MAJOR) {
        if (!cw_money_parse_major(s, len, currency, &v, why, whysz))
            return 0;
    } else {
        int neg;
        int64_t whole, frac9;
        if (!decimal_parts(s, len, &neg, &whole, &frac9) || frac9) {
            snprintf(why, whysz, "'%.*s' is not a whole amount in minor units",
                     (int)(len > 40 ? 40 : len), s);
            return 0;
        }
        v = neg ? -whole : whole;
    }
    if (f->scale_mul > 1 && __builtin_mul_overflow(v, f->scale_mul, &v)) {
        snprintf(why, whysz, "'%.*s' is too large", (int)(len > 40 ? 40 : len), s);
        return 0;
    }
    if (f->scale_div > 1) {
        /* Rounded half away from zero. */
        int64_t q = v / f->scale_div, r = v % f->scale_div;
        if (2 * (r < 0 ? -r : r) >= f->scale_div)
            q += v < 0 ? -1 : 1;
        v = q;
    }
    snprintf(out, outsz, "%lld", (long long)v);
    return 1;
}

/* tokens(x): the index of the first word of v (words split at spaces,
 * commas and semicolons) that f's value map lists, or -1. */
static int token_hit(const cw_map_field *f, cw_strref v)
{
    const char *p = v.s, *e = v.s + v.len;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ',' || *p == ';'))
            p++;
        const char *b = p;
        while (p < e && !(*p == ' ' || *p == '\t' || *p == ',' || *p == ';'))
            p++;
        size_t l = (size_t)(p - b);
        for (int k = 0; l && k < f->nmap; k++)
            if (strlen(f->map_from[k]) == l && strncasecmp(f->map_from[k], b, l) == 0)
                return k;
    }
    return -1;
}

/* Where a value came from, for messages: a column / path as written, or a
 * constant with its quotes (ingest prints "(constant 'USD')"). */
static const char *origin_of(const cw_map_alt *a)
{
    return a->type == CW_ALT_CONST ? a->norm : a->text;
}

/* What the stages of cw_mapping_apply share for one record. */
typedef struct apply_ctx {
    const cw_mapping *m;
    const cw_kind_def *kd;
    const cw_map_record *rec;
    const cw_jval *sl; /* the record's resolved paths (plan_resolve), or NULL */
    const cw_map_ctx *ctx;
    cw_map_scratch *sc;
    cw_strref *texts;
    const char **origin;
    unsigned setm;    /* fields whose value came from the record */
    char currency[8]; /* the row's currency once read ("" before) */
    char *why;
    size_t whysz;
} apply_ctx;

/* The hot path: field i is one column or path, taken as it is. Returns 1,
 * or 0 with the reason in A->why. */
static int apply_plain(apply_ctx *A, int i)
{
    const cw_map_record *rec = A->rec;
    cw_map_scratch *sc = A->sc;
    const cw_map_alt *a = &A->m->fields[i].e.alts[0];
    cw_strref v = {NULL, 0};
    A->origin[i] = a->text;
    if (rec->cells) {
        if (a->col >= 0 && a->col < rec->ncells)
            v = rec->cells[a->col];
    } else if (A->sl && a->slot) {
        /* A resolved path: an unescaped string (most values) is
         * borrowed from the line and stored straight into texts (v
         * lives in memory, its address taken: written as two
         * words and read back as one, it stalled store
         * forwarding). */
        cw_jval j = A->sl[a->slot - 1];
        if (j.type == CW_JSON_STRING && !j.esc) {
            A->texts[i].s = j.s;
            A->texts[i].len = j.len;
            if (j.len)
                A->setm |= 1u << i;
            return 1;
        } else if (j.type && !json_scalar(rec->js, j, sc->buf[i], sizeof sc->buf[i], &v)) {
            snprintf(A->why, A->whysz, "is an object or array, not a value");
            return 0;
        }
    } else if (!operand_value(a, rec, A->sl, sc->buf[i], sizeof sc->buf[i], &v)) {
        snprintf(A->why, A->whysz, "is an object or array, not a value");
        return 0;
    }
    A->texts[i] = v;
    if (v.len)
        A->setm |= 1u << i;
    return 1;
}

/* Field i is not mapped: its native meaning, a column named like the field
 * (JSON: only a currency now, the other keys after all fields). */
static void apply_native(apply_ctx *A, int i, const int *native_col)
{
    const cw_map_record *rec = A->rec;
    const cw_field_def *fd = &A->kd->fields[i];
    cw_strref v = {NULL, 0};
    if (rec->cells) {
        int c = native_col ? native_col[i] : -1;
        if (c >= 0 && c < rec->ncells)
            v = rec->cells[c];
    } else if (rec->obj.type && fd->type == CW_F_CURRENCY) {
        /* Read now (not with the other native keys below): money
         * in major units needs it. */
        cw_jval j = cw_json_get(rec->js, rec->obj, fd->name, strlen(fd->name));
        if (j.type && !json_scalar(rec->js, j, A->sc->buf[i], sizeof A->sc->buf[i], &v))
            v.s = NULL, v.len = 0;
    }
    A->texts[i] = v;
    if (v.len)
        A->setm |= 1u << i;
    if (fd->type == CW_F_CURRENCY && v.s) {
        const char *cs = v.s;
        size_t cl = v.len;
        trim(&cs, &cl);
        if (cl == 3 && !A->currency[0]) {
            memcpy(A->currency, cs, 3);
            A->currency[3] = '\0';
        }
    }
}

/* The first present alternative of mapped field i into *v, through its
 * tokens() or lookup. Returns 1 (found; *from_record, *mapped_token set),
 * 0 (none) or -1 (error in A->why). */
static int apply_alternatives(apply_ctx *A, int i, cw_strref *v, int *from_record,
                              int *mapped_token)
{
    const cw_map_field *f = &A->m->fields[i];
    int lookup_failed = 0;
    char lwhy[256] = "";
    for (int j = 0; j < f->e.nalts; j++) {
        const cw_map_alt *a = &f->e.alts[j];
        if (!A->origin[i])
            A->origin[i] = origin_of(a);
        if (!operand_value(a, A->rec, A->sl, A->sc->buf[i], sizeof A->sc->buf[i], v)) {
            snprintf(A->why, A->whysz, "is an object or array, not a value");
            A->origin[i] = origin_of(a);
            return -1;
        }
        if (!present(*v))
            continue;
        A->origin[i] = origin_of(a);
        if (a->tokens) {
            /* The first word the value map knows; none: the next
             * alternative. The map's * fallback is not a match. */
            int hit = token_hit(f, *v);
            if (hit < 0) {
                v->s = NULL;
                v->len = 0;
                continue;
            }
            v->s = f->map_to[hit];
            v->len = strlen(v->s);
            *mapped_token = 1;
        } else if (a->type == CW_ALT_LOOKUP) {
            cw_strref r;
            const char *s = v->s;
            size_t l = v->len;
            trim(&s, &l);
            if (!A->ctx || !A->ctx->lookup(A->ctx->ud, a->lookup, s, l, &r, lwhy, sizeof lwhy)) {
                if (!A->ctx)
                    snprintf(lwhy, sizeof lwhy, "lookups need a database");
                lookup_failed = 1;
                v->s = NULL;
                v->len = 0;
                continue;
            }
            *v = r;
        }
        *from_record = a->type != CW_ALT_CONST;
        return 1;
    }
    if (lookup_failed) {
        snprintf(A->why, A->whysz, "%s", lwhy);
        return -1;
    }
    return 0;
}

/* Mapped field i: its alternatives, then its .table, value map, currency
 * case and money or time conversion. Returns 1, or 0 with the reason in
 * A->why. */
static int apply_mapped(apply_ctx *A, int i)
{
    const cw_field_def *fd = &A->kd->fields[i];
    const cw_map_field *f = &A->m->fields[i];
    cw_map_scratch *sc = A->sc;
    char *why = A->why;
    const size_t whysz = A->whysz;
    cw_strref v = {NULL, 0};
    int from_record = 0, mapped_token = 0;
    int have = apply_alternatives(A, i, &v, &from_record, &mapped_token);
    if (have < 0)
        return 0;
    if (f->table && have && !mapped_token) {
        const char *s = v.s;
        size_t l = v.len;
        trim(&s, &l);
        int64_t k = cw_intern_get(f->table, s, l);
        if (k < 0) {
            snprintf(why, whysz, "'%.*s' is not in %s", (int)(l > 64 ? 64 : l), s, f->table_path);
            return 0;
        }
        v.s = f->table_to[k];
        v.len = strlen(v.s);
    }
    if ((f->nmap || f->fallback) && !mapped_token) {
        const char *s = v.s ? v.s : "";
        size_t l = v.s ? v.len : 0;
        trim(&s, &l);
        int hit = -1;
        for (int k = 0; k < f->nmap && hit < 0; k++)
            if (strlen(f->map_from[k]) == l && strncasecmp(f->map_from[k], s, l) == 0)
                hit = k;
        if (hit >= 0) {
            v.s = f->map_to[hit];
            v.len = strlen(v.s);
        } else if (l && f->fallback) {
            v.s = f->fallback;
            v.len = strlen(v.s);
        } else if (l) {
            snprintf(why, whysz, "'%.*s' is not in the value map (add it, or *=value)",
                     (int)(l > 64 ? 64 : l), s);
            return 0;
        }
        have = present(v);
    }
    if (have && fd->type == CW_F_CURRENCY) {
        const char *s = v.s;
        size_t l = v.len;
        trim(&s, &l);
        if (l < sizeof sc->buf[i]) {
            for (size_t k = 0; k < l; k++)
                sc->buf[i][k] = (char)(s[k] >= 'a' && s[k] <= 'z' ? s[k] - 32 : s[k]);
            sc->buf[i][l] = '\0';
            v.s = sc->buf[i];
            v.len = l;
        }
        if (!A->currency[0] && v.len < sizeof A->currency) {
            memcpy(A->currency, v.s, v.len);
            A->currency[v.len] = '\0';
        }
    }
    if (have && fd->type == CW_F_MONEY && f->unit) {
        char tmp[64];
        if (!map_money(f, A->currency[0] ? A->currency : NULL, v.s, v.len, tmp, sizeof tmp, why,
                       whysz))
            return 0;
        memcpy(sc->buf[i], tmp, sizeof tmp);
        v.s = sc->buf[i];
        v.len = strlen(v.s);
    } else if (have && is_time(fd) && (f->unit || f->format || f->zone)) {
        char tmp[64];
        if (!cw_map_timestamp(f, v.s, v.len, tmp, sizeof tmp, why, whysz))
            return 0;
        memcpy(sc->buf[i], tmp, sizeof tmp);
        v.s = sc->buf[i];
        v.len = strlen(v.s);
    }
    A->texts[i] = v;
    if (have && from_record)
        A->setm |= 1u << i;
    return 1;
}

/* JSON: unmapped fields keep their native meaning (a top-level key named
 * like the field or one of its aliases). Looked up by name: no walk over
 * the record's keys. Returns 1, or 0 with *bad_field and the reason. */
static int apply_json_native(apply_ctx *A, unsigned *set, int *bad_field)
{
    const cw_map_record *rec = A->rec;
    const cw_kind_def *kd = A->kd;
    cw_map_scratch *sc = A->sc;
    for (int i = 0; i < kd->nfields; i++) {
        if (A->m->fields[i].mapped)
            continue;
        const char *names = kd->fields[i].aliases;
        cw_jval val =
            cw_json_get(rec->js, rec->obj, kd->fields[i].name, strlen(kd->fields[i].name));
        char alias[64];
        while (!val.type && names && *names) {
            size_t al = strcspn(names, "|");
            snprintf(alias, sizeof alias, "%.*s", (int)al, names);
            /* Money is read natively only from names in minor units
             * (mrr_cents); others need a declared .unit. */
            if (kd->fields[i].type != CW_F_MONEY || (al > 6 && !strcmp(alias + al - 6, "_cents")))
                val = cw_json_get(rec->js, rec->obj, alias, strlen(alias));
            names += al + (names[al] == '|');
        }
        if (!val.type)
            continue;
        A->origin[i] = kd->fields[i].name;
        if (!json_scalar(rec->js, val, sc->buf[i], sizeof sc->buf[i], &A->texts[i])) {
            *bad_field = i;
            snprintf(A->why, A->whysz, "is an object or array, not a value");
            return 0;
        }
        if (present(A->texts[i]))
            *set |= 1u << i;
    }
    return 1;
}

int cw_mapping_apply(const cw_mapping *m, const cw_map_record *rec, const int *native_col,
                     const cw_map_ctx *ctx, cw_map_scratch *sc, cw_strref *texts,
                     const char **origin, unsigned *set, int *bad_field, char *why, size_t whysz)
{
    apply_ctx A = {.m = m,
                   .kd = cw_kind_get(m->kind),
                   .rec = rec,
                   .sl = plan_resolve(m, rec),
                   .ctx = ctx,
                   .sc = sc,
                   .texts = texts,
                   .origin = origin,
                   .why = why,
                   .whysz = whysz};
    /* In apply order: currency fields first (money in major units needs
     * the row's currency). */
    for (int o = 0; o < A.kd->nfields; o++) {
        int i = m->order[o];
        const cw_map_field *f = &m->fields[i];
        if (f->plain) {
            if (!apply_plain(&A, i)) {
                *bad_field = i;
                return 0;
            }
            continue;
        }
        origin[i] = NULL;
        *bad_field = i;
        if (!f->mapped)
            apply_native(&A, i, native_col);
        else if (!apply_mapped(&A, i))
            return 0;
    }
    *set = A.setm;
    return rec->obj.type ? apply_json_native(&A, set, bad_field) : 1;
}

cw_status cw_source_compile_text(const char *name, const char *text, cw_source *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    sects ss;
    cw_status s = text_sects(name, text, &ss, err);
    if (s != CW_OK)
        return s;
    if (!(out->name = dup(name)))
        s = CW_ERR_NOMEM;
    for (int i = 0; i < ss.n && s == CW_OK; i++) {
        cw_mapping *m;
        s = compile_section(ss.s[i].name, name, ss.s[i].kvs, ss.s[i].n, NULL, &m, err);
        if (s == CW_OK)
            s = push_map(out, m);
    }
    if (s == CW_OK && !out->nmaps) {
        *err = cw_strdupf("%s: no [source.NAME] section", name);
        s = CW_ERR_CONFIG;
    }
    free_sects(&ss);
    if (s != CW_OK)
        cw_source_clear(out);
    return s;
}

/* ---- listing ---------------------------------------------------------- */

static void info_of(const cw_source *s, cw_source_info *i)
{
    memset(i, 0, sizeof *i);
    snprintf(i->name, sizeof i->name, "%s", s->name);
    snprintf(i->files, sizeof i->files, "%s", s->files ? s->files : "");
    snprintf(i->description, sizeof i->description, "%s", s->description ? s->description : "");
    i->is_preset = s->is_preset;
    size_t n = 0;
    for (int k = 0; k < s->nmaps; k++) {
        const char *kn = cw_kind_get(s->maps[k]->kind)->name;
        int dupk = 0;
        for (int j = 0; j < k; j++)
            dupk |= s->maps[j]->kind == s->maps[k]->kind;
        if (!dupk && n < sizeof i->kinds)
            n += (size_t)snprintf(i->kinds + n, sizeof i->kinds - n, "%s%s", n ? ", " : "", kn);
    }
}

static cw_status sources_list(const cw_config *c, unsigned flags, cw_source_info **out, int *n,
                              char **errmsg);

cw_status cw_sources_list(const cw_config *c, unsigned flags, cw_source_info **out, int *n,
                          cw_error *err)
{
    char *msg = NULL;
    cw_status s = sources_list(c, flags, out, n, &msg);
    return cw_error_take(err, s, msg, "sources");
}

static cw_status sources_list(const cw_config *c, unsigned flags, cw_source_info **out, int *n,
                              char **errmsg)
{
    *out = NULL;
    *n = 0;
    if (errmsg)
        *errmsg = NULL;
    /* Configured source names, in file order. */
    const char *names[512];
    int nn = 0;
    if (c) {
        const cw_config_entry *e;
        int ne = cw_config_entries(c, &e);
        for (int i = 0; i < ne; i++) {
            const char *sn;
            if (!cw_config_section_is(e[i].section, "source", &sn))
                continue;
            if (!*sn || sn[0] == '.') {
                if (errmsg)
                    *errmsg = cw_strdupf("%s:%d: [%s]: a source is named [source.NAME]",
                                         cw_config_path(c) ? cw_config_path(c) : "config",
                                         e[i].line, e[i].section);
                return CW_ERR_CONFIG;
            }
            /* [source.NAME.PART] sections belong to source NAME. */
            size_t bl = strcspn(sn, ".");
            int seen = 0;
            for (int j = 0; j < nn; j++)
                seen |= strcspn(names[j], ".") == bl && strncmp(names[j], sn, bl) == 0;
            if (!seen && nn < 512)
                names[nn++] = sn;
        }
    }
    const char *pn[256];
    int np = flags & CW_SOURCES_PRESETS ? cw_preset_names(pn, 256) : 0;
    cw_source_info *info = calloc((size_t)(nn + np + 1), sizeof *info);
    if (!info)
        return CW_ERR_NOMEM;
    cw_status s = CW_OK;
    int k = 0;
    for (int i = 0; i < nn + np && s == CW_OK; i++) {
        char nm[128];
        if (i < nn)
            snprintf(nm, sizeof nm, "%.*s", (int)strcspn(names[i], "."), names[i]);
        else
            snprintf(nm, sizeof nm, "%.*s", (int)(strlen(pn[i - nn]) - 4), pn[i - nn]);
        cw_source src;
        char *err = NULL;
        s = cw_source_compile(c, nm, i >= nn, &src, &err);
        if (s == CW_OK) {
            info_of(&src, &info[k++]);
            cw_source_clear(&src);
        } else if (errmsg) {
            *errmsg = err;
            err = NULL;
        }
        free(err);
    }
    if (s != CW_OK) {
        free(info);
        return s;
    }
    *out = info;
    *n = k;
    return CW_OK;
}
