/*
 * json.c — the JSON writer (json.h): string escaping, shortest round-trip
 * numbers in plain notation, and a serialiser of jansson trees that uses
 * both, so hand-built and jansson-built documents read the same.
 *
 * Strings and numbers are produced through a small sink (a cw_buf or a
 * stdio stream), so the stream writers need no allocation.
 */
#include "core/json.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sinks ------------------------------------------------------------ */

typedef struct sink {
    cw_buf *b;
    FILE *f;
} sink;

static void put(sink *k, const char *p, size_t n)
{
    if (k->b)
        cw_buf_add(k->b, p, n);
    else
        fwrite(p, 1, n, k->f);
}

/* ---- strings ---------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s[0..len) (s[0] >= 0x80),
 * or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t need;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, min = 0x10000;
    else
        return 0;
    if (len <= need)
        return 0;
    unsigned cp = c & (0x3fu >> need);
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need + 1;
}

static void put_str(sink *k, const char *s, size_t len, int escape_slash)
{
    if (!s) {
        put(k, "null", 4);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    put(k, "\"", 1);
    size_t run = 0; /* start of the bytes not yet written */
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        char esc[6];
        size_t n = 0, adv = 1;
        if (c >= 0x80) {
            adv = utf8_len(p + i, len - i);
            if (adv) {
                i += adv;
                continue;
            }
            adv = 1;
            memcpy(esc, "\\ufffd", 6);
            n = 6;
        } else if (c == '"' || c == '\\' || (c == '/' && escape_slash)) {
            esc[0] = '\\', esc[1] = (char)c, n = 2;
        } else if (c >= 0x20 && c != 0x7f) {
            i++;
            continue;
        } else {
            const char *sh = c == '\b'   ? "b"
                             : c == '\f' ? "f"
                             : c == '\n' ? "n"
                             : c == '\r' ? "r"
                             : c == '\t' ? "t"
                                         : NULL;
            if (sh) {
                esc[0] = '\\', esc[1] = sh[0], n = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
            }
        }
        if (i > run)
            put(k, s + run, i - run);
        put(k, esc, n);
        i += adv;
        run = i;
    }
    if (len > run)
        put(k, s + run, len - run);
    put(k, "\"", 1);
}

/* ---- numbers ---------------------------------------------------------- */

/* Writes the decimal digits dig[0..nd) (nd >= 1, dig[0] != '0' unless the
 * value is 0) times 10^(e - nd + 1) in plain notation. */
static size_t plain(int neg, const char *dig, int nd, int e, unsigned flags, char *out)
{
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (e >= nd - 1) { /* an integer: the digits, then zeros */
        memcpy(out + o, dig, (size_t)nd);
        o += (size_t)nd;
        for (int i = 0; i < e - nd + 1; i++)
            out[o++] = '0';
        /* Past the 64-bit range a reader such as jansson refuses an
         * integer: the fraction keeps it a real. */
        if ((flags & CW_JSON_POINT) || e >= 19)
            out[o++] = '.', out[o++] = '0';
    } else if (e >= 0) {
        memcpy(out + o, dig, (size_t)e + 1);
        o += (size_t)e + 1;
        out[o++] = '.';
        memcpy(out + o, dig + e + 1, (size_t)(nd - e - 1));
        o += (size_t)(nd - e - 1);
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -e - 1; i++)
            out[o++] = '0';
        memcpy(out + o, dig, (size_t)nd);
        o += (size_t)nd;
    }
    out[o] = '\0';
    return o;
}

size_t cw_json_fmt_num(double v, int sig, unsigned flags, char *out)
{
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (sig < 1 || sig > 17)
        sig = 17;
    char t[40];
    if (sig < 17) { /* round to sig digits first, then write that value */
        snprintf(t, sizeof t, "%.*e", sig - 1, v);
        v = strtod(t, NULL);
    }
    if (v == 0) /* -0 too */
        return plain(0, "0", 1, 0, flags, out);
    /* The first precision that reads back equal: with at most 15 digits the
     * shortest text, as every 15-digit decimal survives a double. */
    for (int p = 15; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, v);
        if (p == 17 || strtod(t, NULL) == v)
            break;
    }
    /* t is "[-]d.ddde[+-]xx": collect the digits without trailing zeros. */
    int neg = t[0] == '-';
    const char *m = t + neg;
    char dig[20];
    int nd = 0;
    for (; *m && *m != 'e'; m++)
        if (*m != '.')
            dig[nd++] = *m;
    int e = (int)strtol(m + 1, NULL, 10);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    return plain(neg, dig, nd, e, flags, out);
}

static void put_num(sink *k, double v, int sig, unsigned flags)
{
    char t[CW_JSON_NUM_MAX];
    put(k, t, cw_json_fmt_num(v, sig, flags, t));
}

/* ---- public writers --------------------------------------------------- */

cw_status cw_json_str(cw_buf *b, const char *s, size_t len)
{
    sink k = {b, NULL};
    put_str(&k, s, len, 0);
    return cw_buf_status(b);
}

cw_status cw_json_strz(cw_buf *b, const char *s)
{
    return cw_json_str(b, s, s ? strlen(s) : 0);
}

cw_status cw_json_num(cw_buf *b, double v)
{
    return cw_json_num_sig(b, v, 17);
}

cw_status cw_json_num_sig(cw_buf *b, double v, int sig)
{
    sink k = {b, NULL};
    put_num(&k, v, sig, 0);
    return cw_buf_status(b);
}

cw_status cw_json_int(cw_buf *b, long long v)
{
    return cw_buf_addf(b, "%lld", v);
}

cw_status cw_json_null(cw_buf *b)
{
    return cw_buf_add(b, "null", 4);
}

void cw_json_fstr(FILE *f, const char *s, size_t len)
{
    sink k = {NULL, f};
    put_str(&k, s, len, 0);
}

void cw_json_fstrz(FILE *f, const char *s)
{
    cw_json_fstr(f, s, s ? strlen(s) : 0);
}

void cw_json_fnum(FILE *f, double v)
{
    cw_json_fnum_sig(f, v, 17);
}

void cw_json_fnum_sig(FILE *f, double v, int sig)
{
    sink k = {NULL, f};
    put_num(&k, v, sig, 0);
}

/* ---- jansson trees ---------------------------------------------------- */

typedef struct member {
    const char *key;
    size_t len;
    const json_t *val;
} member;

static int cmp_key(const void *a, const void *b)
{
    const member *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static cw_status dump(sink *k, const json_t *j, size_t flags, int depth)
{
    int sig = (int)((flags >> 11) & 0x1f);
    int slash = (flags & JSON_ESCAPE_SLASH) != 0;
    const char *comma = flags & JSON_COMPACT ? "," : ", ";
    const char *colon = flags & JSON_COMPACT ? ":" : ": ";
    if (depth > 2048) /* jansson's own nesting limit */
        return CW_ERR_TOOBIG;
    switch (json_typeof(j)) {
    case JSON_NULL: put(k, "null", 4); break;
    case JSON_TRUE: put(k, "true", 4); break;
    case JSON_FALSE: put(k, "false", 5); break;
    case JSON_STRING: put_str(k, json_string_value(j), json_string_length(j), slash); break;
    case JSON_REAL: put_num(k, json_real_value(j), sig ? sig : 17, CW_JSON_POINT); break;
    case JSON_INTEGER: {
        char t[32];
        int n = snprintf(t, sizeof t, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        put(k, t, (size_t)n);
        break;
    }
    case JSON_ARRAY:
        put(k, "[", 1);
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                put(k, comma, strlen(comma));
            cw_status s = dump(k, json_array_get(j, i), flags, depth + 1);
            if (s)
                return s;
        }
        put(k, "]", 1);
        break;
    case JSON_OBJECT: {
        size_t n = json_object_size(j), i = 0;
        member *mem = malloc((n ? n : 1) * sizeof *mem);
        if (!mem)
            return CW_ERR_NOMEM;
        for (void *it = json_object_iter((json_t *)j); it && i < n;
             it = json_object_iter_next((json_t *)j, it), i++) {
            mem[i].key = json_object_iter_key(it);
            mem[i].len = json_object_iter_key_len(it);
            mem[i].val = json_object_iter_value(it);
        }
        if (flags & JSON_SORT_KEYS)
            qsort(mem, i, sizeof *mem, cmp_key);
        put(k, "{", 1);
        cw_status s = CW_OK;
        for (size_t m = 0; m < i && !s; m++) {
            if (m)
                put(k, comma, strlen(comma));
            put_str(k, mem[m].key, mem[m].len, slash);
            put(k, colon, strlen(colon));
            s = dump(k, mem[m].val, flags, depth + 1);
        }
        free(mem);
        if (s)
            return s;
        put(k, "}", 1);
        break;
    }
    }
    return CW_OK;
}

cw_status cw_json_dump(cw_buf *b, const json_t *j, size_t flags)
{
    if (!j || (flags & (JSON_MAX_INDENT | JSON_ENSURE_ASCII)))
        return CW_ERR_USAGE;
    sink k = {b, NULL};
    cw_status s = dump(&k, j, flags, 0);
    return s ? s : cw_buf_status(b);
}

char *cw_json_dumps(const json_t *j, size_t flags)
{
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_DOC);
    if (cw_json_dump(&b, j, flags)) {
        cw_buf_free(&b);
        return NULL;
    }
    return cw_buf_steal(&b, NULL);
}
