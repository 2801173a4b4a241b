/*
 * util.h — string references, formatted strings, overflow-checked sums,
 * hashing, UTF-8 checks and string interning (util.c, time.c).
 */
#ifndef CW_CORE_UTIL_H
#define CW_CORE_UTIL_H

#include "churnwatch.h"
#include <stdarg.h>
#include <stdint.h>

/* A borrowed (pointer, length) view of bytes that need not be NUL-terminated. */
typedef struct cw_strref {
    const char *s;
    size_t len;
} cw_strref;

/* ---- util.c --------------------------------------------------------- */

/* Formats into a malloc'd string (caller frees); NULL on allocation failure. */
char *cw_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Moves msg (a message the caller frees, or NULL) into *e (may be NULL)
 * with status s, falling back to "<stage>: " and cw_strerror(s) (stage names
 * the public call, e.g. "scorecard"; NULL: cw_strerror(s) alone); frees msg
 * and returns s. Where a module that builds its messages with cw_strdupf
 * meets the public cw_error. */
cw_status cw_error_take(cw_error *e, cw_status s, char *msg, const char *stage);
/* Copies at most n bytes of s into a malloc'd NUL-terminated string (caller frees). */
char *cw_strndup(const char *s, size_t n);
/* Monotonic seconds. */
double cw_now(void);
/* Fills p with n bytes from the kernel's random source (getrandom);
 * returns 0, or -1 when it gives none. */
int cw_random_bytes(void *p, size_t n);
/* Base64url without padding (RFC 4648 §5): out needs (4n + 2) / 3 + 1
 * bytes. Decode returns the byte count, or -1 on a character outside the
 * alphabet or more than cap bytes. */
void cw_b64url_encode(const unsigned char *in, size_t n, char *out);
int cw_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* Calendar months counted as year*12 + month-1 (UTC), as the revenue
 * reports use them (time.c). */
int cw_month_of(int64_t ts_unix);
/* The first instant (UTC) of month. */
int64_t cw_month_start_unix(int month);
/* The day (days since 1970-01-01) `months` civil months after day `from`,
 * the day of month clamped to the target month's length (Jan 31 + 1 month
 * = Feb 28 or 29; Feb 29 + 12 months = Feb 28) (time.c). */
int64_t cw_add_months(int64_t from, int64_t months);
/* The first anniversary of day anchor, every term_months months, that
 * falls on or after day d (anchor itself when d <= anchor): the contract
 * renewals days_to_renewal counts to and renewal rows are observed before. */
int64_t cw_next_anniversary(int64_t anchor, int term_months, int64_t d);
/* *a += b; returns non-zero on overflow. */
static inline int cw_add_ck(int64_t *a, int64_t b)
{
    return __builtin_add_overflow(*a, b, a);
}
/* num / den in percent; NaN when den is 0. */
static inline double cw_pct(int64_t num, int64_t den)
{
    return den ? 100.0 * (double)num / (double)den : (double)__builtin_nan("");
}

/* 64-bit hash of bytes (FNV-1a core with a strong final mix), seeded. */
uint64_t cw_hash64(const void *p, size_t n, uint64_t seed);
/* Mixes a 64-bit value (splitmix64 finaliser). */
static inline uint64_t cw_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Checks that s[0..len) is well-formed UTF-8 without control characters
 * other than tab (and newline when allow_newline). Returns NULL when fine,
 * else a static reason. */
const char *cw_utf8_check(const char *s, size_t len, int allow_newline);

/* A string → dense id map. Keys are copied into an arena owned by the map. */
typedef struct cw_intern cw_intern;
/* An empty map (caller frees with cw_intern_free), or NULL when out of
 * memory. */
cw_intern *cw_intern_new(void);
void cw_intern_free(cw_intern *m); /* accepts NULL */
/* Returns the id stored for key, or -1. */
int64_t cw_intern_get(const cw_intern *m, const char *key, size_t len);
/* Stores key → id (replacing). Returns CW_OK or CW_ERR_NOMEM. */
cw_status cw_intern_put(cw_intern *m, const char *key, size_t len, int64_t id);
/* Extra per-key payload (e.g. a user's account): returns it or -1. */
int64_t cw_intern_get_aux(const cw_intern *m, const char *key, size_t len, int64_t *aux);
/* Stores key → (id, aux) (replacing). Returns CW_OK, CW_ERR_NOMEM or
 * CW_ERR_TOOBIG (a key or the arena past 4 GiB). */
cw_status cw_intern_put_aux(cw_intern *m, const char *key, size_t len, int64_t id, int64_t aux);
/* The number of keys stored. */
size_t cw_intern_count(const cw_intern *m);

#endif /* CW_CORE_UTIL_H */
