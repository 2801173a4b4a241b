/*
 * jsonscan.c — JSON Lines without a tree (jsonscan.h). One pass validates
 * a line exactly as jansson 2.14 does with JSON_REJECT_DUPLICATES: RFC 8259
 * grammar, strict UTF-8 everywhere, no \u0000, paired surrogates, integers
 * that fit in long long, reals that do not overflow, no duplicate key in
 * any object, at most CW_JSON_MAX_DEPTH nested values. Values are then read
 * by re-walking the validated bytes, which needs no checks.
 */
#include "ingest/jsonscan.h"

#include "ingest/mapping.h"
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct jkey {
    const char *s; /* decoded key */
    size_t len;
    uint32_t h, obj;
} jkey;

typedef struct jslot {
    uint32_t gen, idx;
} jslot;

typedef struct jchunk {
    char *p;
    size_t cap, used;
} jchunk;

#define NCHUNKS 32

struct cw_jscan {
    const char *base, *end, *errp, *why;
    const char *tok; /* the string being scanned, for messages */
    char msg[160], detail[48];
    const char *te; /* the end of the token in error, when not the usual */
    int str_nul;    /* the last string held \\u0000 */
    cw_jval root;
    cw_jmember *mem;
    size_t nmem, capmem;
    cw_jmember *sub; /* members of the objects one level down */
    size_t nsub, capsub;
    uint32_t last_sub, last_nsub; /* those of the last one closed */
    int root_obj;                 /* the line is an object */
    const void *slot_owner;       /* cw_jscan_slots: NULL after a parse */
    cw_jval slot[CW_JSCAN_SLOTS];
    jkey *keys; /* every key of the line, for the duplicate check */
    size_t nkeys, capkeys;
    jslot *tab; /* open addressing over keys, by (object, key) */
    size_t tabcap;
    uint32_t gen, nobj;
    char *karena; /* decoded keys with escapes: at most the line's length */
    size_t kcap, kused;
    jchunk ch[NCHUNKS]; /* decoded string values */
    int nch, cur, nomem;
    char *num; /* a long number's text, NUL-ended for strtod */
    size_t numcap;
    /* Top-level lookups by a mapping's key (same pointer line after line)
     * mostly find the member at the same index: try it first. */
    struct {
        const char *key;
        size_t idx;
    } hint[32];
};

cw_jscan *cw_jscan_new(void)
{
    return calloc(1, sizeof(cw_jscan));
}

void cw_jscan_free(cw_jscan *js)
{
    if (!js)
        return;
    free(js->mem);
    free(js->sub);
    free(js->keys);
    free(js->tab);
    free(js->karena);
    for (int i = 0; i < js->nch; i++)
        free(js->ch[i].p);
    free(js->num);
    free(js);
}

/* Equality of short byte strings (keys) without a call to memcmp. */
static inline int same(const char *a, const char *b, size_t n)
{
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
    }
    while (n--)
        if (*a++ != *b++)
            return 0;
    return 1;
}

static int fail(cw_jscan *js, const char *p, const char *why)
{
    js->errp = p;
    js->why = why;
    return 0;
}

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* jansson's lexer drops one NUL byte right after a number or a literal
 * (it pushes the byte back into a buffer where 0 means empty): "[1\0]"
 * is accepted as [1]. Kept so that no line changes its fate. */
static const char *nul_after(const char *p, const char *end)
{
    return p < end && *p == '\0' ? p + 1 : p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (checked by the caller to be in range). */
static int32_t hex4(const char *p)
{
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the well-formed UTF-8 sequence at p (as jansson's
 * utf8_check_full: no overlong forms, surrogates or > U+10FFFF), or 0. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned u = p[0];
    int n;
    uint32_t v;
    if (u >= 0xC2 && u <= 0xDF)
        n = 2, v = u & 0x1F;
    else if (u >= 0xE0 && u <= 0xEF)
        n = 3, v = u & 0x0F;
    else if (u >= 0xF0 && u <= 0xF4)
        n = 4, v = u & 0x07;
    else
        return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

static size_t utf8_put(uint32_t v, char *o)
{
    if (v < 0x80) {
        o[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        o[0] = (char)(0xC0 | (v >> 6));
        o[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        o[0] = (char)(0xE0 | (v >> 12));
        o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        o[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (v >> 18));
    o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((v >> 6) & 0x3F));
    o[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

/* The next unit of a validated string body at *p: its decoded bytes in o
 * (1 to 4), advancing *p. */
static size_t unit(const char **p, char *o)
{
    const char *s = *p;
    if (*s != '\\') {
        o[0] = *s;
        *p = s + 1;
        return 1;
    }
    char c = s[1];
    *p = s + 2;
    switch (c) {
    case 'b': o[0] = '\b'; return 1;
    case 'f': o[0] = '\f'; return 1;
    case 'n': o[0] = '\n'; return 1;
    case 'r': o[0] = '\r'; return 1;
    case 't': o[0] = '\t'; return 1;
    case 'u': break;
    default: o[0] = c; return 1;
    }
    uint32_t v = (uint32_t)hex4(s + 2);
    *p = s + 6;
    if (v >= 0xD800 && v <= 0xDBFF) {
        v = ((v - 0xD800) << 10) + ((uint32_t)hex4(s + 8) - 0xDC00) + 0x10000;
        *p = s + 12;
    }
    return utf8_put(v, o);
}

static size_t decode(const char *s, size_t len, char *out)
{
    const char *p = s, *end = s + len;
    size_t n = 0;
    while (p < end)
        n += unit(&p, out + n);
    return n;
}

/* Scans a string at *pp (its opening quote). As jansson, errors of its
 * lexing (control characters, escapes, UTF-8) come first, then those of
 * decoding it (surrogates), then the caller's check of js->str_nul. */
static int string(cw_jscan *js, const char **pp, cw_jval *out)
{
    const char *p = *pp + 1, *end = js->end;
    const char *uerr = NULL;
    js->tok = *pp;
    js->str_nul = 0;
    out->s = p;
    out->esc = 0;
    out->type = CW_JSON_STRING;
    for (;;) {
        unsigned c;
        /* Eight bytes at a time while none is a quote, a backslash, a
         * control character or non-ASCII. */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
            uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
            uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | (x - ones * 0x20) | x;
            if (hit & high)
                break;
            p += 8;
        }
        while (p < end && (c = (unsigned char)*p) >= 0x20 && c < 0x80 && c != '"' && c != '\\')
            p++;
        if (p >= end)
            return fail(js, p, "premature end of input");
        c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20) {
            if (c == '\n')
                return fail(js, p, "unexpected newline");
            snprintf(js->detail, sizeof js->detail, "control character 0x%x", c);
            return fail(js, p, js->detail);
        }
        if (c >= 0x80) {
            int n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
            if (!n)
                return fail(js, p, "\x01"); /* "unable to decode byte 0x.." */
            p += n;
            continue;
        }
        out->esc = 1;
        if (end - p < 2)
            return fail(js, p + 1, "invalid escape");
        c = (unsigned char)p[1];
        if (c != 'u') {
            if (!c || !strchr("\"\\/bfnrt", (int)c))
                return fail(js, p + 1, "invalid escape");
            p += 2;
            continue;
        }
        for (int i = 2; i < 6; i++)
            if (p + i >= end || hexval((unsigned char)p[i]) < 0)
                return fail(js, p + i, "invalid escape");
        int32_t v = hex4(p + 2);
        p += 6;
        if (uerr)
            continue;
        if (v == 0) {
            js->str_nul = 1;
        } else if (v >= 0xDC00 && v <= 0xDFFF) {
            snprintf(js->detail, sizeof js->detail, "invalid Unicode '\\u%04X'", (unsigned)v);
            uerr = js->detail;
        } else if (v >= 0xD800 && v <= 0xDBFF) {
            int32_t w = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -2;
            if (w >= 0xDC00 && w <= 0xDFFF) {
                p += 6;
            } else if (w >= 0) {
                snprintf(js->detail, sizeof js->detail, "invalid Unicode '\\u%04X\\u%04X'",
                         (unsigned)v, (unsigned)w);
                uerr = js->detail;
            } else if (w == -2) {
                snprintf(js->detail, sizeof js->detail, "invalid Unicode '\\u%04X'", (unsigned)v);
                uerr = js->detail;
            }
            /* w == -1: bad hex digits, reported as an escape next round. */
        }
    }
    out->len = (size_t)(p - out->s);
    js->tok = NULL;
    if (uerr)
        return fail(js, *pp, uerr); /* the whole string is the token */
    *pp = p + 1;
    return 1;
}

/* strtod/strtoll need NUL-ended text: numbers are copied. */
static const char *num_text(cw_jscan *js, const char *s, size_t len, char *small, size_t smallsz)
{
    char *b = small;
    if (len >= smallsz) {
        if (!js || len + 1 > js->numcap) {
            char *n = js ? realloc(js->num, len + 1) : NULL;
            if (!n)
                return NULL;
            js->num = n;
            js->numcap = len + 1;
        }
        b = js->num;
    }
    memcpy(b, s, len);
    b[len] = '\0';
    return b;
}

static int number(cw_jscan *js, const char **pp, cw_jval *out)
{
    const char *p = *pp, *s = p, *end = js->end;
    if (*p == '-')
        p++;
    const char *d = p;
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            js->te = p; /* jansson: "invalid token near '0'" */
            return fail(js, s, "invalid token");
        }
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        js->te = *s == '-' ? p : NULL; /* "-" alone; else the whole word */
        return fail(js, s, "invalid token");
    }
    size_t idigits = (size_t)(p - d);
    int real = 0, expo = 0;
    if (p < end && *p == '.') {
        real = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            js->te = p; /* jansson's token stops where the grammar does */
            return fail(js, s, "invalid token");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = expo = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9') {
            js->te = p; /* jansson's token stops where the grammar does */
            return fail(js, s, "invalid token");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    out->s = s;
    out->len = (size_t)(p - s);
    out->esc = 0;
    out->type = real ? CW_JSON_REAL : CW_JSON_INTEGER;
    p = nul_after(p, end);
    char small[64];
    if (!real && idigits >= 19) {
        /* 19 digits may not fit a long long; 20 never do. */
        if (idigits > 19)
            return fail(js, s, *s == '-' ? "too big negative integer" : "too big integer");
        const char *t = num_text(js, s, out->len, small, sizeof small);
        errno = 0;
        (void)strtoll(t, NULL, 10);
        if (errno == ERANGE)
            return fail(js, s, *s == '-' ? "too big negative integer" : "too big integer");
    } else if (real && (expo || idigits > 300)) {
        /* Only a big exponent or over 300 digits can overflow a double. */
        const char *t = num_text(js, s, out->len, small, sizeof small);
        if (!t) {
            js->nomem = 1;
            return fail(js, s, "out of memory");
        }
        errno = 0;
        double v = strtod(t, NULL);
        if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
            return fail(js, s, "real number overflow");
    }
    *pp = p;
    return 1;
}

/* Keys are short: hashed eight bytes at a time (the table only needs a
 * spread, a hit is confirmed by comparing the keys). */
static uint32_t khash(const char *s, size_t len, uint32_t obj)
{
    uint64_t h = (len + 1) * 0x9E3779B97F4A7C15u ^ obj;
    for (; len >= 8; s += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 29;
    return (uint32_t)h ? (uint32_t)h : 1;
}

static int tab_grow(cw_jscan *js)
{
    size_t cap = js->tabcap ? js->tabcap * 2 : 256;
    jslot *t = calloc(cap, sizeof *t);
    if (!t)
        return 0;
    free(js->tab);
    js->tab = t;
    js->tabcap = cap;
    js->gen = 1;
    /* Re-insert this line's keys: all distinct by (object, key). */
    for (size_t k = 0; k < js->nkeys; k++) {
        size_t i = js->keys[k].h & (cap - 1);
        while (t[i].gen == js->gen)
            i = (i + 1) & (cap - 1);
        t[i].gen = js->gen;
        t[i].idx = (uint32_t)k;
    }
    return 1;
}

/* Adds a key of object obj; 0 (with the error set) when it repeats one. */
static int key_add(cw_jscan *js, const char *at, const char *k, size_t len, uint32_t obj)
{
    if (js->nkeys == js->capkeys) {
        size_t cap = js->capkeys ? js->capkeys * 2 : 64;
        jkey *n = realloc(js->keys, cap * sizeof *n);
        if (!n) {
            js->nomem = 1;
            return fail(js, at, "out of memory");
        }
        js->keys = n;
        js->capkeys = cap;
    }
    if ((js->nkeys + 1) * 2 > js->tabcap && !tab_grow(js)) {
        js->nomem = 1;
        return fail(js, at, "out of memory");
    }
    uint32_t h = khash(k, len, obj);
    size_t mask = js->tabcap - 1, i = h & mask;
    while (js->tab[i].gen == js->gen) {
        const jkey *o = &js->keys[js->tab[i].idx];
        if (o->h == h && o->obj == obj && o->len == len && same(o->s, k, len))
            return fail(js, at, "duplicate object key");
        i = (i + 1) & mask;
    }
    js->tab[i].gen = js->gen;
    js->tab[i].idx = (uint32_t)js->nkeys;
    js->keys[js->nkeys++] = (jkey){k, len, h, obj};
    return 1;
}

static int value(cw_jscan *js, const char **pp, int depth, cw_jval *out);

/* Keys of a recorded object checked for duplicates against its member list
 * rather than hashed. */
#define LINEAR_KEYS 8

/* Appends a member to a growing list: 0 when out of memory. */
static inline int member_push(cw_jscan *js, cw_jmember **list, size_t *n, size_t *cap, cw_jmember m)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 32;
        cw_jmember *l = realloc(*list, c * sizeof *l);
        if (!l) {
            js->nomem = 1;
            return 0;
        }
        *list = l;
        *cap = c;
    }
    (*list)[(*n)++] = m;
    return 1;
}

static int object(cw_jscan *js, const char **pp, int depth, cw_jval *out)
{
    const char *p = *pp + 1, *end = js->end;
    uint32_t serial = js->nobj++;
    int top = depth == 1;
    /* An object one level down in a line that is an object: its members
     * are kept too (contiguous: deeper objects are not recorded). */
    int second = depth == 2 && js->root_obj;
    uint32_t first = (uint32_t)js->nsub;
    size_t nkey = 0, k0l = 0; /* keys so far; the first one's length */
    const char *at0 = NULL, *k0 = NULL;
    p = ws(p, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            if (p >= end || *p != '"')
                return fail(js, p, "string or '}' expected");
            const char *at = p;
            cw_jval k;
            if (!string(js, &p, &k))
                return 0;
            if (js->str_nul)
                return fail(js, at, "NUL byte in object key not supported");
            const char *ks = k.s;
            size_t kl = k.len;
            if (k.esc) {
                char *o = js->karena + js->kused;
                kl = decode(k.s, k.len, o);
                ks = o;
                js->kused += kl;
            }
            /* Duplicate keys: a recorded object (the top level, one level
             * down) compares its first few keys with its member list;
             * beyond those, and in other objects, keys go into the line's
             * hash table, an object's first key only with its second
             * (most small objects have one key, which repeats nothing). */
            int listed = top || second;
            /* Only with keys before this one: the lists exist then. */
            const cw_jmember *prev = listed && nkey ? (top ? js->mem : js->sub + first) : NULL;
            if (listed && nkey < LINEAR_KEYS) {
                for (size_t i = 0; i < nkey; i++)
                    if (prev[i].key.len == kl && same(prev[i].key.s, ks, kl))
                        return fail(js, at, "duplicate object key");
            } else if (nkey) {
                if (listed && nkey == LINEAR_KEYS) {
                    for (size_t i = 0; i < nkey; i++)
                        if (!key_add(js, at, prev[i].key.s, prev[i].key.len, serial))
                            return 0;
                } else if (!listed && nkey == 1 && !key_add(js, at0, k0, k0l, serial)) {
                    return 0;
                }
                if (!key_add(js, at, ks, kl, serial))
                    return 0;
            }
            if (!nkey++)
                at0 = at, k0 = ks, k0l = kl;
            p = ws(p, end);
            if (p >= end || *p != ':')
                return fail(js, p, "':' expected");
            p = ws(p + 1, end);
            cw_jval v;
            if (!value(js, &p, depth + 1, &v))
                return 0;
            if (top) {
                cw_jmember mm = {{ks, kl}, v, 0, 0};
                if (v.type == CW_JSON_OBJECT)
                    mm.sub = js->last_sub, mm.nsub = js->last_nsub;
                if (!member_push(js, &js->mem, &js->nmem, &js->capmem, mm))
                    return fail(js, p, "out of memory");
            } else if (second) {
                if (!member_push(js, &js->sub, &js->nsub, &js->capsub,
                                 (cw_jmember){{ks, kl}, v, 0, 0}))
                    return fail(js, p, "out of memory");
            }
            p = ws(p, end);
            if (p < end && *p == ',') {
                p = ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return fail(js, p, "'}' expected");
        }
    }
    if (second) {
        js->last_sub = first;
        js->last_nsub = (uint32_t)js->nsub - first;
    }
    out->s = *pp;
    out->len = (size_t)(p - *pp);
    out->type = CW_JSON_OBJECT;
    out->esc = 0;
    *pp = p;
    return 1;
}

static int array(cw_jscan *js, const char **pp, int depth, cw_jval *out)
{
    const char *p = ws(*pp + 1, js->end), *end = js->end;
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            cw_jval v;
            if (!value(js, &p, depth + 1, &v))
                return 0;
            p = ws(p, end);
            if (p < end && *p == ',') {
                p = ws(p + 1, end);
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            return fail(js, p, "']' expected");
        }
    }
    out->s = *pp;
    out->len = (size_t)(p - *pp);
    out->type = CW_JSON_ARRAY;
    out->esc = 0;
    *pp = p;
    return 1;
}

static int literal(cw_jscan *js, const char **pp, const char *word, int type, cw_jval *out)
{
    size_t n = strlen(word);
    if ((size_t)(js->end - *pp) < n || memcmp(*pp, word, n) != 0)
        return fail(js, *pp, "invalid token");
    /* jansson reads a whole word: "truex" is one invalid token. */
    const char *e = *pp + n;
    if (e < js->end && ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z')))
        return fail(js, *pp, "invalid token");
    *out = (cw_jval){*pp, n, type, 0};
    *pp = nul_after(e, js->end);
    return 1;
}

static int value(cw_jscan *js, const char **pp, int depth, cw_jval *out)
{
    if (depth > CW_JSON_MAX_DEPTH)
        return fail(js, *pp, "maximum parsing depth reached");
    if (*pp >= js->end)
        return fail(js, *pp, "unexpected token");
    switch (**pp) {
    case ']':
    case '}':
    case ',':
    case ':': return fail(js, *pp, "unexpected token");
    case '{': return object(js, pp, depth, out);
    case '[': return array(js, pp, depth, out);
    case '"': {
        const char *at = *pp;
        if (!string(js, pp, out))
            return 0;
        return js->str_nul ? fail(js, at, "\\u0000 is not allowed without JSON_ALLOW_NUL") : 1;
    }
    case 't': return literal(js, pp, "true", CW_JSON_TRUE, out);
    case 'f': return literal(js, pp, "false", CW_JSON_FALSE, out);
    case 'n': return literal(js, pp, "null", CW_JSON_NULL, out);
    default: return number(js, pp, out);
    }
}

/* The bytes of the token starting at p, as jansson's messages show it. */
static const char *tok_end(const char *p, const char *end)
{
    const char *q = p;
    if (q >= end)
        return q;
    if (*q == '"') {
        for (q++; q < end && *q != '"'; q++)
            if (*q == '\\' && q + 1 < end)
                q++;
        return q < end ? q + 1 : q;
    }
    if ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z') {
        while (q < end && (*q | 0x20) >= 'a' && (*q | 0x20) <= 'z')
            q++;
        return q;
    }
    if (*q == '-' || (*q >= '0' && *q <= '9')) {
        while (q < end && (*q == '-' || *q == '+' || *q == '.' || (*q | 0x20) == 'e' ||
                           (*q >= '0' && *q <= '9')))
            q++;
        return q;
    }
    int n = (unsigned char)*q >= 0x80
                ? utf8_len((const unsigned char *)q, (const unsigned char *)end)
                : 1;
    return q + (n ? n : 1);
}

/* "why near 'token'" (jansson's form) and the column of the token's last
 * character. */
static int message(cw_jscan *js, const char **why)
{
    const char *ts, *te, *end = js->end;
    if (js->tok) {
        /* Inside a string: the string so far (a bad character excluded). */
        ts = js->tok;
        te = js->errp;
        if (te < end && (unsigned char)*te >= 0x20 && (unsigned char)*te < 0x80)
            te++;
    } else {
        ts = js->errp;
        te = js->te ? js->te : tok_end(ts, end);
    }
    int col = 0;
    for (const char *q = js->base; q < te; q++)
        col += ((unsigned char)*q & 0xC0) != 0x80;
    char what[48];
    if (js->why[0] == '\x01')
        snprintf(what, sizeof what, "unable to decode byte 0x%x", (unsigned char)*js->errp);
    else
        snprintf(what, sizeof what, "%s", js->why);
    size_t n = strnlen(ts, (size_t)(te - ts)); /* jansson's text ends at a NUL */
    if (strncmp(what, "too big", 7) == 0) {
        snprintf(js->msg, sizeof js->msg, "%s", what);
    } else if (!n) {
        snprintf(js->msg, sizeof js->msg, "%s near end of file", what);
    } else {
        if (n > 40) {
            n = 40;
            while (n && ((unsigned char)ts[n] & 0xC0) == 0x80)
                n--;
        }
        snprintf(js->msg, sizeof js->msg, "%s near '%.*s%s'", what, (int)n, ts,
                 n < strnlen(ts, (size_t)(te - ts)) ? "..." : "");
    }
    *why = js->msg;
    return col;
}

cw_status cw_jscan_parse(cw_jscan *js, const char *s, size_t len, cw_jval *root, int *col,
                         const char **why)
{
    js->base = s;
    js->end = s + len;
    js->nmem = js->nkeys = js->kused = js->nsub = 0;
    js->slot_owner = NULL;
    js->nobj = 0;
    js->nomem = 0;
    js->tok = js->te = NULL;
    js->cur = 0;
    for (int i = 0; i < js->nch; i++)
        js->ch[i].used = 0;
    js->root = (cw_jval){NULL, 0, CW_JSON_ABSENT, 0};
    *root = js->root;
    if (++js->gen == 0) {
        /* Generation stamps wrapped: clear the table once. */
        if (js->tab)
            memset(js->tab, 0, js->tabcap * sizeof *js->tab);
        js->gen = 1;
    }
    if (len + 1 > js->kcap) {
        char *k = realloc(js->karena, len + 1);
        if (!k)
            return CW_ERR_NOMEM;
        js->karena = k;
        js->kcap = len + 1;
    }
    const char *p = ws(s, js->end);
    int ok;
    cw_jval v;
    js->root_obj = p < js->end && *p == '{';
    if (p < js->end && (*p == '{' || *p == '['))
        ok = value(js, &p, 1, &v);
    else
        ok = fail(js, p, "'[' or '{' expected");
    if (ok) {
        p = ws(p, js->end);
        if (p < js->end)
            ok = fail(js, p, "end of file expected");
    }
    if (js->nomem)
        return CW_ERR_NOMEM;
    if (!ok) {
        *col = message(js, why);
        js->nmem = 0;
        return CW_ERR_INPUT;
    }
    js->root = *root = v;
    return CW_OK;
}

size_t cw_jscan_members(const cw_jscan *js, const cw_jmember **out)
{
    *out = js->mem;
    return js->root.type == CW_JSON_OBJECT ? js->nmem : 0;
}

size_t cw_jscan_submembers(const cw_jscan *js, const cw_jmember *m, const cw_jmember **out)
{
    if (m->val.type != CW_JSON_OBJECT || !m->nsub) {
        *out = NULL; /* js->sub may be NULL: no arithmetic on it */
        return 0;
    }
    *out = js->sub + m->sub;
    return m->nsub;
}

cw_jval *cw_jscan_slots(cw_jscan *js, const void *owner, cw_jval obj, size_t n, int *fresh)
{
    if (n > CW_JSCAN_SLOTS || obj.type != CW_JSON_OBJECT || obj.s != js->root.s ||
        js->root.type != CW_JSON_OBJECT)
        return NULL;
    *fresh = js->slot_owner != owner;
    js->slot_owner = owner;
    return js->slot;
}

int cw_jscan_nomem(const cw_jscan *js)
{
    return js->nomem;
}

/* ---- reading validated text ----------------------------------------- */

/* The value starting at p (validated): its span and type. */
static const char *skip(const char *p, const char *end, cw_jval *v)
{
    const char *s = p;
    v->esc = 0;
    switch (*p) {
    case '"':
        /* Validated: every backslash starts an escape of known length. */
        for (p++; *p != '"'; p++)
            if (*p == '\\')
                v->esc = 1, p++;
        p++;
        *v = (cw_jval){s + 1, (size_t)(p - s - 2), CW_JSON_STRING, v->esc};
        return p;
    case '{':
    case '[': {
        int depth = 0;
        for (;; p++) {
            char c = *p;
            if (c == '"') {
                cw_jval t;
                p = skip(p, end, &t) - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    break;
            }
        }
        p++;
        *v = (cw_jval){s, (size_t)(p - s), *s == '{' ? CW_JSON_OBJECT : CW_JSON_ARRAY, 0};
        return p;
    }
    case 't': *v = (cw_jval){s, 4, CW_JSON_TRUE, 0}; return nul_after(p + 4, end);
    case 'f': *v = (cw_jval){s, 5, CW_JSON_FALSE, 0}; return nul_after(p + 5, end);
    case 'n': *v = (cw_jval){s, 4, CW_JSON_NULL, 0}; return nul_after(p + 4, end);
    default: {
        int real = 0;
        while (*p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E' ||
               (*p >= '0' && *p <= '9')) {
            real |= *p == '.' || *p == 'e' || *p == 'E';
            p++;
        }
        *v = (cw_jval){s, (size_t)(p - s), real ? CW_JSON_REAL : CW_JSON_INTEGER, 0};
        return nul_after(p, end);
    }
    }
}

/* Whether a validated key (raw, maybe escaped) reads as want. */
static int key_is(const cw_jval *k, const char *want, size_t wlen)
{
    if (!k->esc)
        return k->len == wlen && same(k->s, want, wlen);
    const char *p = k->s, *end = k->s + k->len;
    size_t at = 0;
    char o[4];
    while (p < end) {
        size_t n = unit(&p, o);
        if (at + n > wlen || memcmp(want + at, o, n) != 0)
            return 0;
        at += n;
    }
    return at == wlen;
}

cw_jval cw_json_get(const cw_jscan *js, cw_jval obj, const char *key, size_t klen)
{
    cw_jval none = {NULL, 0, CW_JSON_ABSENT, 0};
    if (obj.type != CW_JSON_OBJECT)
        return none;
    if (js && obj.s == js->root.s && js->root.type == CW_JSON_OBJECT) {
        cw_jscan *w = (cw_jscan *)js; /* the hints only: not the line */
        size_t h = ((uintptr_t)key >> 4) & 31, i = w->hint[h].idx;
        if (w->hint[h].key == key && i < js->nmem && js->mem[i].key.len == klen &&
            same(js->mem[i].key.s, key, klen))
            return js->mem[i].val;
        for (i = 0; i < js->nmem; i++)
            if (js->mem[i].key.len == klen && same(js->mem[i].key.s, key, klen)) {
                w->hint[h].key = key;
                w->hint[h].idx = i;
                return js->mem[i].val;
            }
        return none;
    }
    const char *end = obj.s + obj.len - 1, *p = ws(obj.s + 1, end);
    while (p < end) {
        cw_jval k, v;
        p = skip(p, end, &k);
        p = ws(ws(p, end) + 1, end);
        p = skip(p, end, &v);
        if (key_is(&k, key, klen))
            return v;
        p = ws(p, end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    return none;
}

int cw_json_next(cw_jval arr, const char **pos, cw_jval *el)
{
    if (arr.type != CW_JSON_ARRAY)
        return 0;
    const char *end = arr.s + arr.len - 1;
    const char *p = *pos ? *pos : arr.s + 1;
    p = ws(p, end);
    if (p < end && *p == ',')
        p = ws(p + 1, end);
    if (p >= end)
        return 0;
    *pos = skip(p, end, el);
    return 1;
}

int cw_json_member_next(cw_jval obj, const char **pos, cw_jval *key, cw_jval *val)
{
    if (obj.type != CW_JSON_OBJECT)
        return 0;
    const char *end = obj.s + obj.len - 1;
    const char *p = *pos ? *pos : obj.s + 1;
    p = ws(p, end);
    if (p < end && *p == ',')
        p = ws(p + 1, end);
    if (p >= end)
        return 0;
    p = skip(p, end, key);
    p = ws(ws(p, end) + 1, end);
    *pos = skip(p, end, val);
    return 1;
}

cw_jval cw_json_at(cw_jval arr, size_t i)
{
    const char *pos = NULL;
    cw_jval el;
    for (size_t k = 0; cw_json_next(arr, &pos, &el); k++)
        if (k == i)
            return el;
    return (cw_jval){NULL, 0, CW_JSON_ABSENT, 0};
}

cw_jval cw_json_path(const cw_jscan *js, cw_jval root, const cw_map_step *steps, int n)
{
    cw_jval j = root;
    for (int i = 0; i < n && j.type; i++) {
        j = cw_json_get(js, j, steps[i].key, strlen(steps[i].key));
        for (int k = 0; k < steps[i].nidx && j.type; k++)
            j = cw_json_at(j, (size_t)steps[i].idx[k]);
    }
    return j;
}

static char *scratch(cw_jscan *js, size_t n)
{
    while (js->cur < js->nch && js->ch[js->cur].cap - js->ch[js->cur].used < n)
        js->cur++;
    if (js->cur == js->nch) {
        if (js->nch == NCHUNKS)
            return NULL;
        size_t cap = js->nch ? js->ch[js->nch - 1].cap * 2 : 4096;
        if (cap < n)
            cap = n;
        char *p = malloc(cap);
        if (!p)
            return NULL;
        js->ch[js->nch++] = (jchunk){p, cap, 0};
    }
    jchunk *c = &js->ch[js->cur];
    char *p = c->p + c->used;
    c->used += n;
    return p;
}

int cw_json_string(cw_jscan *js, cw_jval v, cw_strref *out)
{
    if (!v.esc) {
        out->s = v.s;
        out->len = v.len;
        return 1;
    }
    char *o = scratch(js, v.len ? v.len : 1);
    if (!o) {
        js->nomem = 1;
        out->s = NULL;
        out->len = 0;
        return 0;
    }
    out->s = o;
    out->len = decode(v.s, v.len, o);
    return 1;
}

long long cw_json_integer(cw_jval v)
{
    char small[32];
    if (v.len >= sizeof small)
        return 0;
    memcpy(small, v.s, v.len);
    small[v.len] = '\0';
    return strtoll(small, NULL, 10);
}

double cw_json_real(cw_jval v)
{
    char small[128];
    if (v.len < sizeof small) {
        memcpy(small, v.s, v.len);
        small[v.len] = '\0';
        return strtod(small, NULL);
    }
    char *b = malloc(v.len + 1);
    if (!b)
        return 0;
    memcpy(b, v.s, v.len);
    b[v.len] = '\0';
    double d = strtod(b, NULL);
    free(b);
    return d;
}

int cw_json_real_short(cw_jval v, char *buf, size_t n)
{
    /* Without an exponent, with at most 15 significant digits (DBL_DIG:
     * they survive the double) and not below 1e-4 (where %g turns to an
     * exponent), the shortest form is the text without trailing zeros. */
    const char *p = v.s, *e = v.s + v.len, *dot = memchr(p, '.', v.len);
    if (v.type != CW_JSON_REAL || !dot || memchr(p, 'e', v.len) || memchr(p, 'E', v.len))
        return 0;
    const char *ip = p + (*p == '-');
    while (e > dot + 1 && e[-1] == '0')
        e--;
    size_t sig = 0, lead0 = 0;
    int seen = 0;
    for (const char *q = ip; q < e; q++) {
        if (*q == '.')
            continue;
        if (*q != '0' || seen)
            seen = 1, sig++;
        else if (q > dot)
            lead0++;
    }
    if (sig > 15 || (sig && *ip == '0' && lead0 > 3))
        return 0;
    if (e == dot + 1)
        e = dot; /* "1.0" is "1" */
    if (!sig)
        e = ip + 1; /* a zero: "0" or "-0" */
    size_t len = (size_t)(e - p);
    if (len + 1 > n)
        return 0;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return 1;
}

cw_strref cw_json_integer_text(cw_jval v)
{
    if (v.len == 2 && v.s[0] == '-' && v.s[1] == '0')
        return (cw_strref){"0", 1};
    return (cw_strref){v.s, v.len};
}
