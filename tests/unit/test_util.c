/*
 * test_util.c — the shared helpers: the string interner (ids, aux payloads,
 * replacement, growth well past 100k keys), the UTF-8 checker, the 64-bit
 * hash (pinned values: event hashes are persisted for de-duplication, so
 * the function must never change), status names and string helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- interner ------------------------------------------------------- */

static void test_intern_put_get(void **state)
{
    (void)state;
    cw_intern *m = cw_intern_new();
    assert_non_null(m);
    assert_int_equal(cw_intern_count(m), 0);
    assert_int_equal(cw_intern_get(m, "acct-1", 6), -1);

    assert_int_equal(cw_intern_put(m, "acct-1", 6, 1), CW_OK);
    assert_int_equal(cw_intern_put(m, "acct-2", 6, 2), CW_OK);
    assert_int_equal(cw_intern_count(m), 2);
    assert_int_equal(cw_intern_get(m, "acct-1", 6), 1);
    assert_int_equal(cw_intern_get(m, "acct-2", 6), 2);
    /* Keys are (pointer, length): prefixes and longer keys are different keys. */
    assert_int_equal(cw_intern_get(m, "acct-10", 7), -1);
    assert_int_equal(cw_intern_get(m, "acct-1x", 6), 1);
    assert_int_equal(cw_intern_get(m, "acct-", 5), -1);
    assert_int_equal(cw_intern_get(m, "ACCT-1", 6), -1);

    /* Replacing keeps the count. */
    assert_int_equal(cw_intern_put(m, "acct-1", 6, 100), CW_OK);
    assert_int_equal(cw_intern_get(m, "acct-1", 6), 100);
    assert_int_equal(cw_intern_count(m), 2);

    /* The key is copied: the caller's buffer may change afterwards. */
    char buf[8];
    memcpy(buf, "user-7", 6);
    assert_int_equal(cw_intern_put(m, buf, 6, 7), CW_OK);
    memcpy(buf, "XXXXXX", 6);
    assert_int_equal(cw_intern_get(m, "user-7", 6), 7);

    /* Embedded NUL bytes are part of the key. */
    assert_int_equal(cw_intern_put(m, "ab\0c", 4, 40), CW_OK);
    assert_int_equal(cw_intern_put(m, "ab", 2, 20), CW_OK);
    assert_int_equal(cw_intern_get(m, "ab\0c", 4), 40);
    assert_int_equal(cw_intern_get(m, "ab", 2), 20);
    assert_int_equal(cw_intern_get(m, "ab\0d", 4), -1);

    /* Negative and large ids round-trip. */
    assert_int_equal(cw_intern_put(m, "big", 3, INT64_MAX), CW_OK);
    assert_int_equal(cw_intern_get(m, "big", 3), INT64_MAX);
    assert_int_equal(cw_intern_count(m), 6);
    cw_intern_free(m);
    cw_intern_free(NULL);
}

/* The empty key is a key like any other, also as the first one. */
static void test_intern_empty_key(void **state)
{
    (void)state;
    cw_intern *m = cw_intern_new();
    assert_non_null(m);
    assert_int_equal(cw_intern_get(m, "", 0), -1);
    assert_int_equal(cw_intern_put(m, "", 0, 5), CW_OK);
    assert_int_equal(cw_intern_get(m, "", 0), 5);
    assert_int_equal(cw_intern_get(m, "x", 1), -1);
    assert_int_equal(cw_intern_put(m, "x", 1, 6), CW_OK);
    assert_int_equal(cw_intern_get(m, "", 0), 5);
    assert_int_equal(cw_intern_get(m, "x", 1), 6);
    assert_int_equal(cw_intern_count(m), 2);
    cw_intern_free(m);
}

static void test_intern_aux(void **state)
{
    (void)state;
    cw_intern *m = cw_intern_new();
    assert_non_null(m);
    int64_t aux = 12345;
    assert_int_equal(cw_intern_get_aux(m, "u1", 2, &aux), -1);
    assert_int_equal(aux, 12345); /* untouched when missing */

    assert_int_equal(cw_intern_put_aux(m, "u1", 2, 5, 99), CW_OK);
    assert_int_equal(cw_intern_get_aux(m, "u1", 2, &aux), 5);
    assert_int_equal(aux, 99);
    assert_int_equal(cw_intern_get_aux(m, "u1", 2, NULL), 5);
    assert_int_equal(cw_intern_get(m, "u1", 2), 5);

    /* put without aux stores aux -1. */
    assert_int_equal(cw_intern_put(m, "a1", 2, 3), CW_OK);
    assert_int_equal(cw_intern_get_aux(m, "a1", 2, &aux), 3);
    assert_int_equal(aux, -1);

    /* Replacing replaces both. */
    assert_int_equal(cw_intern_put_aux(m, "u1", 2, 6, -42), CW_OK);
    assert_int_equal(cw_intern_get_aux(m, "u1", 2, &aux), 6);
    assert_int_equal(aux, -42);
    assert_int_equal(cw_intern_put(m, "u1", 2, 8), CW_OK);
    assert_int_equal(cw_intern_get_aux(m, "u1", 2, &aux), 8);
    assert_int_equal(aux, -1);
    assert_int_equal(cw_intern_count(m), 2);
    cw_intern_free(m);
}

/* 250k keys of varied length: the table and the key arena both grow many
 * times; every key keeps its id and aux, absent keys stay absent. */
static void test_intern_growth(void **state)
{
    (void)state;
    cw_intern *m = cw_intern_new();
    assert_non_null(m);
    const int n = 250000;
    char key[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(key, sizeof key, "%s-%d", i % 2 ? "account" : "u", i);
        assert_int_equal(cw_intern_put_aux(m, key, (size_t)len, i, (int64_t)i * 3), CW_OK);
        if (i == 99999)
            assert_int_equal(cw_intern_count(m), 100000);
    }
    assert_int_equal(cw_intern_count(m), (size_t)n);
    for (int i = 0; i < n; i++) {
        int len = snprintf(key, sizeof key, "%s-%d", i % 2 ? "account" : "u", i);
        int64_t aux = -7;
        int64_t id = cw_intern_get_aux(m, key, (size_t)len, &aux);
        if (id != i || aux != (int64_t)i * 3)
            fail_msg("key %s: id %lld aux %lld", key, (long long)id, (long long)aux);
        /* The same number under the other prefix was never stored. */
        len = snprintf(key, sizeof key, "%s-%d", i % 2 ? "u" : "account", i);
        if (cw_intern_get(m, key, (size_t)len) != -1)
            fail_msg("key %s should be absent", key);
    }
    /* Re-putting every key changes no count. */
    for (int i = 0; i < n; i += 7) {
        int len = snprintf(key, sizeof key, "%s-%d", i % 2 ? "account" : "u", i);
        assert_int_equal(cw_intern_put(m, key, (size_t)len, -i), CW_OK);
    }
    assert_int_equal(cw_intern_count(m), (size_t)n);
    int len = snprintf(key, sizeof key, "u-%d", 7 * 1000);
    assert_int_equal(cw_intern_get(m, key, (size_t)len), -7000);
    cw_intern_free(m);
}

/* ---- UTF-8 ---------------------------------------------------------- */

typedef struct utf8_case {
    const char *s;
    size_t len; /* 0 = strlen */
    int allow_newline;
    const char *want; /* NULL = valid */
} utf8_case;

#define INVALID   "is not valid UTF-8"
#define TRUNCATED "is not valid UTF-8 (truncated sequence)"
#define CONTROL   "contains a control character"

static const utf8_case utf8_cases[] = {
    {"", 0, 0, NULL},
    {"plain ASCII ~!@#", 0, 0, NULL},
    {"tab\tok", 0, 0, NULL},
    {"caf\xc3\xa9", 0, 0, NULL},
    {"\xc2\x80", 0, 0, NULL},         /* U+0080, smallest 2-byte */
    {"\xdf\xbf", 0, 0, NULL},         /* U+07FF */
    {"\xe0\xa0\x80", 0, 0, NULL},     /* U+0800, smallest 3-byte */
    {"\xed\x9f\xbf", 0, 0, NULL},     /* U+D7FF, just below the surrogates */
    {"\xee\x80\x80", 0, 0, NULL},     /* U+E000, just above */
    {"\xef\xbf\xbf", 0, 0, NULL},     /* U+FFFF */
    {"\xf0\x90\x80\x80", 0, 0, NULL}, /* U+10000, smallest 4-byte */
    {"\xf4\x8f\xbf\xbf", 0, 0, NULL}, /* U+10FFFF, the last code point */
    {"a\nb", 0, 1, NULL},
    {"a\r\nb", 0, 1, NULL},
    {"a\nb", 0, 0, CONTROL},
    {"a\rb", 0, 0, CONTROL},
    {"\x01", 0, 1, CONTROL},
    {"\x1f", 0, 1, CONTROL},
    {"\x7f", 0, 1, CONTROL},
    {"\x0b", 0, 1, CONTROL}, /* vertical tab */
    {"a\0b", 3, 1, "contains a NUL byte"},
    {"\xc0\x80", 0, 0, INVALID}, /* overlong NUL */
    {"\xc1\xbf", 0, 0, INVALID},
    {"\xe0\x9f\xbf", 0, 0, INVALID},
    {"\xf0\x8f\xbf\xbf", 0, 0, INVALID},
    {"\xed\xa0\x80", 0, 0, INVALID}, /* U+D800 */
    {"\xed\xbf\xbf", 0, 0, INVALID}, /* U+DFFF */
    {"\xf4\x90\x80\x80", 0, 0, INVALID},
    {"\xf5\x80\x80\x80", 0, 0, INVALID},
    {"\xf8\x88\x80\x80\x80", 0, 0, INVALID}, /* 5-byte form */
    {"\xfe", 0, 0, INVALID},
    {"\x80", 0, 0, INVALID},
    {"a\xbf", 0, 0, INVALID},
    {"\xc3(", 0, 0, INVALID},
    {"\xe2\x28\xa1", 0, 0, INVALID},
    {"\xf0\x90\x28\xbc", 0, 0, INVALID},
    {"\xc3", 0, 0, TRUNCATED},
    {"ok\xe2\x82", 0, 0, TRUNCATED},
    {"\xf0\x9f\x98", 0, 0, TRUNCATED},
    {"\xc3\xa9\xc3", 0, 0, TRUNCATED},
};

static void test_utf8_check(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof utf8_cases / sizeof utf8_cases[0]; k++) {
        const utf8_case *c = &utf8_cases[k];
        size_t len = c->len ? c->len : strlen(c->s);
        const char *got = cw_utf8_check(c->s, len, c->allow_newline);
        if (!c->want ? got != NULL : !got || strcmp(got, c->want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", k, got ? got : "(valid)",
                     c->want ? c->want : "(valid)");
    }
    /* Only len bytes are checked. */
    assert_null(cw_utf8_check("ok\xff", 2, 0));
}

/* Every 2-byte sequence: valid exactly when RFC 3629 says so. */
static void test_utf8_exhaustive_two_bytes(void **state)
{
    (void)state;
    for (unsigned a = 0x80; a < 0x100; a++)
        for (unsigned b = 0; b < 0x100; b++) {
            char s[2] = {(char)a, (char)b};
            int want = a >= 0xc2 && a <= 0xdf && b >= 0x80 && b <= 0xbf;
            const char *got = cw_utf8_check(s, 2, 0);
            if ((got == NULL) != want)
                fail_msg("%02x %02x: %s", a, b, got ? got : "valid");
        }
}

/* ---- hashing -------------------------------------------------------- */

typedef struct hash_case {
    const char *s;
    size_t len;
    uint64_t seed, want;
} hash_case;

/* Computed with an independent implementation of the documented algorithm
 * (FNV-1a over little-endian 64-bit words, then the tail bytes, seeded with
 * mix64(seed + len), finished with mix64). */
static const hash_case hash_cases[] = {
    {"", 0, 0, 0xf52a15e9a9b5e89bULL},
    {"a", 1, 0, 0xedb296206f5cd587ULL},
    {"abc", 3, 0, 0xe9c3a8e5cd266bccULL},
    {"abcdefgh", 8, 0, 0xded92a5a4a688d19ULL},
    {"hello, world", 12, 0, 0xfb7a9a43b3074eaaULL},
    {"acct-1", 6, 0x9e3779b97f4a7c15ULL, 0x02e866c9335e3a12ULL},
    {"", 0, 1, 0x10401663822dcddfULL},
};

static void test_hash_pinned(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof hash_cases / sizeof hash_cases[0]; k++) {
        uint64_t h = cw_hash64(hash_cases[k].s, hash_cases[k].len, hash_cases[k].seed);
        if (h != hash_cases[k].want)
            fail_msg("hash('%s', seed %llu) = %016llx, want %016llx", hash_cases[k].s,
                     (unsigned long long)hash_cases[k].seed, (unsigned long long)h,
                     (unsigned long long)hash_cases[k].want);
    }
    unsigned char bytes[32];
    for (int i = 0; i < 32; i++)
        bytes[i] = (unsigned char)i;
    assert_true(cw_hash64(bytes, 32, 42) == 0x24094220a785130aULL);
    assert_true(cw_mix64(0) == 0);
    assert_true(cw_mix64(1) == 0x5692161d100b05e5ULL);
}

static int popcount64(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static void test_hash_properties(void **state)
{
    (void)state;
    unsigned char buf[64 + 8];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    /* Deterministic, independent of alignment. */
    uint64_t h = cw_hash64(buf, 40, 7);
    assert_true(cw_hash64(buf, 40, 7) == h);
    unsigned char moved[48];
    for (int off = 1; off < 8; off++) {
        memcpy(moved + off, buf, 40);
        assert_true(cw_hash64(moved + off, 40, 7) == h);
    }
    /* Sensitive to the seed, the length and every bit. */
    assert_true(cw_hash64(buf, 40, 8) != h);
    assert_true(cw_hash64(buf, 39, 7) != h);
    assert_true(cw_hash64(buf, 41, 7) != h);
    unsigned char zeros[16] = {0};
    assert_true(cw_hash64(zeros, 8, 0) != cw_hash64(zeros, 9, 0));
    assert_true(cw_hash64(zeros, 0, 0) != cw_hash64(zeros, 1, 0));
    uint64_t seen[40 * 8];
    int nseen = 0;
    long total = 0;
    for (int byte = 0; byte < 40; byte++)
        for (int bit = 0; bit < 8; bit++) {
            buf[byte] ^= (unsigned char)(1u << bit);
            uint64_t g = cw_hash64(buf, 40, 7);
            buf[byte] ^= (unsigned char)(1u << bit);
            if (g == h)
                fail_msg("flipping bit %d of byte %d does not change the hash", bit, byte);
            for (int j = 0; j < nseen; j++)
                if (seen[j] == g)
                    fail_msg("two single-bit flips collide");
            seen[nseen++] = g;
            total += popcount64(g ^ h);
        }
    /* Avalanche: on average about half of the 64 output bits change. */
    double avg = (double)total / nseen;
    if (avg < 28.0 || avg > 36.0)
        fail_msg("average output bits changed per input bit: %.2f", avg);
}

/* ---- status names and strings ----------------------------------------- */

static void test_strerror(void **state)
{
    (void)state;
    static const struct {
        cw_status s;
        const char *name;
    } names[] = {
        {CW_OK, "ok"},
        {CW_ERR_NOMEM, "out of memory"},
        {CW_ERR_IO, "input/output error"},
        {CW_ERR_INPUT, "invalid input data"},
        {CW_ERR_USAGE, "invalid argument"},
        {CW_ERR_DB, "database error"},
        {CW_ERR_SCHEMA, "database schema is newer than this build"},
        {CW_ERR_CONFIG, "invalid configuration"},
        {CW_ERR_TOOBIG, "input exceeds a size limit"},
        {CW_ERR_NOTFOUND, "not found"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_int_equal(names[i].s, (int)i); /* persisted numbers never change */
        assert_string_equal(cw_strerror(names[i].s), names[i].name);
    }
    assert_string_equal(cw_strerror((cw_status)99), "unknown status");
    assert_string_equal(cw_strerror((cw_status)-1), "unknown status");
}

/* The error struct of handle-less calls (issue 16): the status and the
 * formatted message, truncated to fit; NULL accepted; the status name when
 * there is no message. */
static void test_error_struct(void **state)
{
    (void)state;
    cw_error e;
    cw_error_clear(&e);
    assert_int_equal(e.status, CW_OK);
    assert_string_equal(e.msg, "");
    assert_string_equal(cw_error_why(&e), "ok");
    assert_int_equal(cw_error_set(&e, CW_ERR_CONFIG, "%s:%d: [rule.%s] when: %s", "a.conf", 7, "x",
                                  "unknown name"),
                     CW_ERR_CONFIG);
    assert_int_equal(e.status, CW_ERR_CONFIG);
    assert_string_equal(e.msg, "a.conf:7: [rule.x] when: unknown name");
    assert_string_equal(cw_error_why(&e), "a.conf:7: [rule.x] when: unknown name");
    /* a message longer than the struct holds is cut, not overflowed */
    char big[2 * CW_ERROR_MSG_MAX];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(cw_error_set(&e, CW_ERR_INPUT, "x%s", big), CW_ERR_INPUT);
    assert_int_equal(strlen(e.msg), CW_ERROR_MSG_MAX - 1);
    assert_int_equal(e.msg[0], 'x');
    assert_int_equal(e.msg[CW_ERROR_MSG_MAX - 2], 'y');
    /* callers that only want the status pass NULL */
    assert_int_equal(cw_error_set(NULL, CW_ERR_IO, "%s", "ignored"), CW_ERR_IO);
    cw_error_clear(NULL);
    assert_string_equal(cw_error_why(NULL), "");
    /* no message: the status name */
    e.status = CW_ERR_NOMEM;
    e.msg[0] = 0;
    assert_string_equal(cw_error_why(&e), "out of memory");
    /* a module's malloc'd message handed over, and the fallback without one */
    assert_int_equal(cw_error_take(&e, CW_ERR_USAGE, cw_strdupf("bad %s", "range"), "sources"),
                     CW_ERR_USAGE);
    assert_string_equal(e.msg, "bad range");
    assert_int_equal(cw_error_take(&e, CW_ERR_DB, NULL, NULL), CW_ERR_DB);
    assert_string_equal(e.msg, "database error");
    assert_int_equal(e.status, CW_ERR_DB);
    /* with a stage, the fallback names the call */
    assert_int_equal(cw_error_take(&e, CW_ERR_NOMEM, NULL, "scorecard"), CW_ERR_NOMEM);
    assert_string_equal(e.msg, "scorecard: out of memory");
    cw_error_clear(&e);
    assert_int_equal(cw_error_take(&e, CW_OK, NULL, "config"), CW_OK);
    assert_int_equal(e.status, CW_OK);
    assert_string_equal(e.msg, "");
}

static void test_string_helpers(void **state)
{
    (void)state;
    char *s = cw_strdupf("%s:%d: %s", "f.csv", 12, "bad");
    assert_string_equal(s, "f.csv:12: bad");
    free(s);
    s = cw_strdupf("%s", "");
    assert_string_equal(s, "");
    free(s);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s = cw_strdupf("<%s>", big);
    assert_int_equal(strlen(s), sizeof big + 1);
    free(s);
    s = cw_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = cw_strndup("a\0b", 3);
    assert_memory_equal(s, "a\0b\0", 4);
    free(s);
    s = cw_strndup("", 0);
    assert_string_equal(s, "");
    free(s);
    double t0 = cw_now(), t1 = cw_now();
    assert_true(t1 >= t0);
    assert_true(t0 > 0);
}

/* Base64url (RFC 4648 §10 test vectors, unpadded; 0xfb 0xff shows the
 * URL-safe '-' and '_'), and decoding refuses other characters and overflow. */
static void test_b64url(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    char out[16];
    unsigned char back[16];
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        size_t n = strlen(v[k].in);
        cw_b64url_encode((const unsigned char *)v[k].in, n, out);
        assert_string_equal(out, v[k].out);
        assert_int_equal(cw_b64url_decode(out, strlen(out), back, sizeof back), (int)n);
        assert_memory_equal(back, v[k].in, n);
    }
    assert_int_equal(cw_b64url_decode("Zm9v+", 5, back, sizeof back), -1);
    assert_int_equal(cw_b64url_decode("Zm9vYmFy", 8, back, 5), -1);
    unsigned char r[64] = {0}, zero[64] = {0};
    assert_int_equal(cw_random_bytes(r, sizeof r), 0);
    assert_true(memcmp(r, zero, sizeof r) != 0); /* 2^-512 to fail by chance */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intern_put_get), cmocka_unit_test(test_intern_empty_key),
        cmocka_unit_test(test_intern_aux),     cmocka_unit_test(test_intern_growth),
        cmocka_unit_test(test_utf8_check),     cmocka_unit_test(test_utf8_exhaustive_two_bytes),
        cmocka_unit_test(test_hash_pinned),    cmocka_unit_test(test_hash_properties),
        cmocka_unit_test(test_strerror),       cmocka_unit_test(test_error_struct),
        cmocka_unit_test(test_string_helpers), cmocka_unit_test(test_b64url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
