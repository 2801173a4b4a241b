/*
 * util.c — small shared helpers: formatted allocation, a monotonic clock,
 * hashing, UTF-8 checking, the status names and the string interner that
 * turns external ids (accounts, users, event names) into dense integers so
 * the hot paths work on integers and flat arrays only.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/util.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const char *cw_strerror(cw_status s)
{
    switch (s) {
    case CW_OK: return "ok";
    case CW_ERR_NOMEM: return "out of memory";
    case CW_ERR_IO: return "input/output error";
    case CW_ERR_INPUT: return "invalid input data";
    case CW_ERR_USAGE: return "invalid argument";
    case CW_ERR_DB: return "database error";
    case CW_ERR_SCHEMA: return "database schema is newer than this build";
    case CW_ERR_CONFIG: return "invalid configuration";
    case CW_ERR_TOOBIG: return "input exceeds a size limit";
    case CW_ERR_NOTFOUND: return "not found";
    case CW_ERR_SMALLDATA: return "too little data for a trustworthy result";
    }
    return "unknown status";
}

cw_status cw_error_set(cw_error *e, cw_status status, const char *fmt, ...)
{
    if (!e)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = status;
    return status;
}

void cw_error_clear(cw_error *e)
{
    if (e) {
        e->status = CW_OK;
        e->msg[0] = 0;
    }
}

const char *cw_error_why(const cw_error *e)
{
    if (!e)
        return "";
    return e->msg[0] ? e->msg : cw_strerror(e->status);
}

cw_status cw_error_take(cw_error *e, cw_status s, char *msg, const char *stage)
{
    if (s != CW_OK && msg && *msg)
        cw_error_set(e, s, "%s", msg);
    else if (s != CW_OK)
        cw_error_set(e, s, "%s%s%s", stage ? stage : "", stage ? ": " : "", cw_strerror(s));
    free(msg);
    return s;
}

char *cw_strdupf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = NULL;
    if (n >= 0 && (p = malloc((size_t)n + 1)) != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

char *cw_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

double cw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t cw_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ cw_mix64(seed + n);
    /* Eight bytes at a time, then the tail; the final mix spreads FNV's
     * weak high bits so the result can key a hash table or a B-tree. */
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        b += 8, n -= 8;
    }
    while (n--)
        h = (h ^ *b++) * 0x100000001b3ULL;
    return cw_mix64(h);
}

const char *cw_utf8_check(const char *s, size_t len, int allow_newline)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c == 0)
                return "contains a NUL byte";
            if ((c < 0x20 && c != '\t' && !(allow_newline && (c == '\n' || c == '\r'))) ||
                c == 0x7f)
                return "contains a control character";
            p++;
            continue;
        }
        size_t need;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, min = 0x10000;
        else
            return "is not valid UTF-8";
        if ((size_t)(end - p) <= need)
            return "is not valid UTF-8 (truncated sequence)";
        unsigned cp = c & (0x3fu >> need);
        for (size_t i = 1; i <= need; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return "is not valid UTF-8";
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return "is not valid UTF-8";
        p += need + 1;
    }
    return NULL;
}

/* ---- interner ------------------------------------------------------- */

typedef struct intern_slot {
    uint64_t hash; /* 0 = empty */
    uint32_t off, len;
    int64_t id, aux;
} intern_slot;

struct cw_intern {
    intern_slot *slots;
    size_t cap, count; /* cap is a power of two */
    char *arena;
    size_t arena_len, arena_cap;
};

cw_intern *cw_intern_new(void)
{
    cw_intern *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void cw_intern_free(cw_intern *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->arena);
    free(m);
}

size_t cw_intern_count(const cw_intern *m)
{
    return m->count;
}

static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = cw_hash64(key, len, 0x9e3779b97f4a7c15ULL);
    return h ? h : 1;
}

static intern_slot *find_slot(const cw_intern *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        intern_slot *s = &m->slots[i];
        if (s->hash == 0)
            return s;
        /* len 0: the arena may still be NULL, and memcmp must not see NULL. */
        if (s->hash == h && s->len == len && (len == 0 || memcmp(m->arena + s->off, key, len) == 0))
            return s;
    }
}

int64_t cw_intern_get_aux(const cw_intern *m, const char *key, size_t len, int64_t *aux)
{
    const intern_slot *s = find_slot(m, key, len, key_hash(key, len));
    if (s->hash == 0)
        return -1;
    if (aux)
        *aux = s->aux;
    return s->id;
}

int64_t cw_intern_get(const cw_intern *m, const char *key, size_t len)
{
    return cw_intern_get_aux(m, key, len, NULL);
}

static cw_status grow(cw_intern *m)
{
    size_t ncap = m->cap * 2;
    intern_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return CW_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        intern_slot *s = &m->slots[i];
        if (!s->hash)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].hash)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return CW_OK;
}

cw_status cw_intern_put_aux(cw_intern *m, const char *key, size_t len, int64_t id, int64_t aux)
{
    if (len > UINT32_MAX)
        return CW_ERR_TOOBIG;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) != CW_OK)
        return CW_ERR_NOMEM;
    uint64_t h = key_hash(key, len);
    intern_slot *s = find_slot(m, key, len, h);
    if (s->hash) {
        s->id = id;
        s->aux = aux;
        return CW_OK;
    }
    if (m->arena_len + len > m->arena_cap) {
        size_t nc = m->arena_cap ? m->arena_cap * 2 : 65536;
        while (nc < m->arena_len + len)
            nc *= 2;
        if (nc > UINT32_MAX)
            return CW_ERR_TOOBIG;
        char *na = realloc(m->arena, nc);
        if (!na)
            return CW_ERR_NOMEM;
        m->arena = na;
        m->arena_cap = nc;
    }
    if (len)
        memcpy(m->arena + m->arena_len, key, len);
    s->hash = h;
    s->off = (uint32_t)m->arena_len;
    s->len = (uint32_t)len;
    s->id = id;
    s->aux = aux;
    m->arena_len += len;
    m->count++;
    return CW_OK;
}

cw_status cw_intern_put(cw_intern *m, const char *key, size_t len, int64_t id)
{
    return cw_intern_put_aux(m, key, len, id, -1);
}

/* ---- little-endian packing of stored blobs ---------------------------- */

/* Stored blobs are little-endian; on little-endian hosts (the usual case)
 * a memcpy is the whole conversion. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CW_LE_HOST 1
#else
#define CW_LE_HOST 0
#endif

uint64_t cw_load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    if (CW_LE_HOST) {
        memcpy(&v, p, 8);
        return v;
    }
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void cw_store_le64(unsigned char *p, uint64_t v)
{
    if (CW_LE_HOST) {
        memcpy(p, &v, 8);
        return;
    }
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint32_t load_le32(const unsigned char *p)
{
    if (CW_LE_HOST) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(unsigned char *p, uint32_t v)
{
    if (CW_LE_HOST) {
        memcpy(p, &v, 4);
        return;
    }
    for (int i = 0; i < 4; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

void cw_cell_encode(unsigned char *p, const cw_event_cell *c)
{
    uint64_t bits;
    memcpy(&bits, &c->vsum, 8);
    store_le32(p, (uint32_t)c->user);
    store_le32(p + 4, (uint32_t)c->event);
    store_le32(p + 8, (uint32_t)c->n);
    cw_store_le64(p + 12, bits);
}

void cw_cell_decode(const unsigned char *p, cw_event_cell *c)
{
    uint64_t bits = cw_load_le64(p + 12);
    c->user = load_le32(p);
    c->event = load_le32(p + 4);
    c->n = load_le32(p + 8);
    memcpy(&c->vsum, &bits, 8);
}

int cw_random_bytes(void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((unsigned char *)p + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static const char b64url_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void cw_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url_tab[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64url_tab[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

int cw_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(b64url_tab, in[i], 64);
        if (!p || !in[i])
            return -1;
        acc = (acc << 6) | (uint32_t)(p - b64url_tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (int)o;
}
