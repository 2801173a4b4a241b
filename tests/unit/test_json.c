/*
 * test_json.c — the bounded buffer (core/buf.h) and the JSON writer
 * (core/json.h). Expected texts are worked out by hand; every text is also
 * parsed back with jansson (an independent reader) and compared with the
 * value written: the same double, the same bytes (invalid UTF-8 as U+FFFD).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/buf.h"
#include "core/json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- buffer ----------------------------------------------------------- */

static void test_buf_bounded(void **state)
{
    (void)state;
    cw_buf b;
    cw_buf_init(&b, 10);
    assert_string_equal(cw_buf_str(&b), "");
    assert_int_equal(cw_buf_add(&b, "0123456789", 10), CW_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(cw_buf_str(&b), "0123456789");
    /* One byte past the maximum: refused, content unchanged, error sticky. */
    assert_int_equal(cw_buf_addc(&b, 'x'), CW_ERR_TOOBIG);
    assert_string_equal(cw_buf_str(&b), "0123456789");
    assert_int_equal(cw_buf_status(&b), CW_ERR_TOOBIG);
    assert_int_equal(cw_buf_add(&b, "", 0), CW_ERR_TOOBIG);
    assert_null(cw_buf_steal(&b, NULL)); /* an erred buffer yields nothing */
    assert_int_equal(b.len, 0);
    assert_int_equal(cw_buf_status(&b), CW_OK);

    /* A huge n must not wrap around the size check. */
    assert_int_equal(cw_buf_add(&b, "ab", 2), CW_OK);
    assert_int_equal(cw_buf_reserve(&b, SIZE_MAX), CW_ERR_TOOBIG);
    cw_buf_reset(&b);
    assert_int_equal(cw_buf_status(&b), CW_OK);
    assert_string_equal(cw_buf_str(&b), "");
    assert_int_equal(cw_buf_addf(&b, "%d-%s", 42, "abcde"), CW_OK);
    assert_string_equal(cw_buf_str(&b), "42-abcde");
    assert_int_equal(cw_buf_addf(&b, "%s", "xyz"), CW_ERR_TOOBIG); /* 11 bytes */
    assert_string_equal(cw_buf_str(&b), "42-abcde");
    cw_buf_free(&b);
    cw_buf_free(NULL);
}

static void test_buf_growth_and_steal(void **state)
{
    (void)state;
    cw_buf b;
    cw_buf_init(&b, 100000);
    /* 10,000 single bytes, then a formatted piece longer than addf's
     * 256-byte scratch. */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(cw_buf_addc(&b, (char)('a' + i % 26)), CW_OK);
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(cw_buf_addf(&b, "<%s>", big), CW_OK);
    assert_int_equal(b.len, 10000 + 1001);
    assert_int_equal(b.p[9999], 'a' + 9999 % 26);
    assert_int_equal(b.p[10000], '<');
    assert_int_equal(b.p[11000], '>');
    assert_int_equal(b.p[11001], '\0');
    size_t len = 0;
    char *s = cw_buf_steal(&b, &len);
    assert_non_null(s);
    assert_int_equal(len, 11001);
    assert_int_equal(strlen(s), 11001);
    free(s);
    assert_null(b.p);
    assert_int_equal(b.max, 100000);
    /* Stealing an empty buffer gives an empty string. */
    s = cw_buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

static void test_buf_file(void **state)
{
    (void)state;
    char path[] = "/tmp/cw_test_buf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    for (int i = 0; i < 40000; i++) /* 40,000 bytes: more than one read chunk */
        fputc('0' + i % 10, f);
    fclose(f);
    cw_buf b;
    cw_buf_init(&b, 40000);
    assert_int_equal(cw_buf_add_file(&b, path), CW_OK);
    assert_int_equal(b.len, 40000);
    assert_int_equal(b.p[39999], '9');
    assert_int_equal(b.p[40000], '\0');
    cw_buf_free(&b);
    cw_buf_init(&b, 39999); /* one byte short */
    assert_int_equal(cw_buf_add_file(&b, path), CW_ERR_TOOBIG);
    assert_true(b.len <= 39999);
    cw_buf_free(&b);
    remove(path);
    assert_int_equal(cw_buf_add_file(&b, path), CW_ERR_IO);
    assert_int_equal(b.len, 0);
    cw_buf_free(&b);
}

/* ---- strings ---------------------------------------------------------- */

/* Writes s[0..len) and checks the text, then that jansson reads it back as
 * want (want_len bytes). */
static void check_str(const char *s, size_t len, const char *text, const char *want,
                      size_t want_len)
{
    cw_buf b;
    cw_buf_init(&b, 4096);
    assert_int_equal(cw_json_str(&b, s, len), CW_OK);
    assert_string_equal(cw_buf_str(&b), text);
    json_error_t e;
    json_t *j = json_loads(cw_buf_str(&b), JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    assert_non_null(j);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), want_len);
    assert_memory_equal(json_string_value(j), want, want_len);
    json_decref(j);
    cw_buf_free(&b);

    /* The stream writer writes the same bytes. */
    char *mem = NULL;
    size_t msz = 0;
    FILE *f = open_memstream(&mem, &msz);
    assert_non_null(f);
    cw_json_fstr(f, s, len);
    fclose(f);
    assert_string_equal(mem, text);
    free(mem);
}

static void test_str_controls(void **state)
{
    (void)state;
    /* Every C0 control, by hand: five short forms, the rest \u00xx. */
    static const char *const want[32] = {
        "\"\\u0000\"", "\"\\u0001\"", "\"\\u0002\"", "\"\\u0003\"", "\"\\u0004\"", "\"\\u0005\"",
        "\"\\u0006\"", "\"\\u0007\"", "\"\\b\"",     "\"\\t\"",     "\"\\n\"",     "\"\\u000b\"",
        "\"\\f\"",     "\"\\r\"",     "\"\\u000e\"", "\"\\u000f\"", "\"\\u0010\"", "\"\\u0011\"",
        "\"\\u0012\"", "\"\\u0013\"", "\"\\u0014\"", "\"\\u0015\"", "\"\\u0016\"", "\"\\u0017\"",
        "\"\\u0018\"", "\"\\u0019\"", "\"\\u001a\"", "\"\\u001b\"", "\"\\u001c\"", "\"\\u001d\"",
        "\"\\u001e\"", "\"\\u001f\""};
    for (int c = 0; c < 32; c++) {
        char in = (char)c;
        check_str(&in, 1, want[c], &in, 1);
    }
    check_str("\x7f", 1, "\"\\u007f\"", "\x7f", 1); /* DEL, a terminal control */
    check_str(" ~", 2, "\" ~\"", " ~", 2);          /* the printable edges verbatim */
}

static void test_str_quotes_and_text(void **state)
{
    (void)state;
    check_str("", 0, "\"\"", "", 0);
    check_str("say \"hi\"", 8, "\"say \\\"hi\\\"\"", "say \"hi\"", 8);
    check_str("C:\\dir\\", 7, "\"C:\\\\dir\\\\\"", "C:\\dir\\", 7);
    check_str("a/b", 3, "\"a/b\"", "a/b", 3); /* '/' only escaped in dumps on request */
    check_str("line1\nline2\ttab", 15, "\"line1\\nline2\\ttab\"", "line1\nline2\ttab", 15);
    check_str("a\0b", 3, "\"a\\u0000b\"", "a\0b", 3);
    /* Only len bytes are read. */
    check_str("abcdef", 3, "\"abc\"", "abc", 3);
}

static void test_str_utf8(void **state)
{
    (void)state;
    /* Well-formed UTF-8 passes verbatim: 2, 3 and 4 bytes, and the
     * boundaries U+0080, U+07FF, U+FFFF, U+10FFFF. */
    check_str("\xc3\xa9", 2, "\"\xc3\xa9\"", "\xc3\xa9", 2);
    check_str("\xe2\x82\xac", 3, "\"\xe2\x82\xac\"", "\xe2\x82\xac", 3);
    check_str("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80", 4);
    check_str("\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf", 11,
              "\"\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\"",
              "\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf", 11);
    /* Each byte of an invalid sequence becomes one U+FFFD (EF BF BD). */
#define R "\xef\xbf\xbd"
    check_str("\xff", 1, "\"\\ufffd\"", R, 3);
    check_str("a\xc3", 2, "\"a\\ufffd\"", "a" R, 4);                     /* truncated */
    check_str("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"", R R, 6);              /* overlong '/' */
    check_str("\xe0\x80\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", R R R, 9); /* overlong NUL */
    check_str("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", R R R, 9); /* a surrogate */
    check_str("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", R R R R,
              12);                                   /* above U+10FFFF */
    check_str("\x80x", 2, "\"\\ufffdx\"", R "x", 4); /* a lone continuation */
    /* A truncated sequence does not swallow the valid byte after it. */
    check_str("\xe2\x82\"", 3, "\"\\ufffd\\ufffd\\\"\"", R R "\"", 7);
#undef R
}

static void test_str_null(void **state)
{
    (void)state;
    cw_buf b;
    cw_buf_init(&b, 64);
    assert_int_equal(cw_json_strz(&b, NULL), CW_OK);
    assert_int_equal(cw_json_str(&b, NULL, 5), CW_OK);
    assert_string_equal(cw_buf_str(&b), "nullnull");
    cw_buf_free(&b);
    char *mem = NULL;
    size_t msz = 0;
    FILE *f = open_memstream(&mem, &msz);
    cw_json_fstrz(f, NULL);
    fclose(f);
    assert_string_equal(mem, "null");
    free(mem);
}

/* ---- numbers ---------------------------------------------------------- */

/* Writes v and checks the text; unless it is null, jansson must read it
 * back as exactly v (after rounding to sig digits: back). */
static void check_num(double v, int sig, const char *text, double back)
{
    cw_buf b;
    cw_buf_init(&b, 1024);
    assert_int_equal(cw_json_num_sig(&b, v, sig), CW_OK);
    assert_string_equal(cw_buf_str(&b), text);
    assert_null(strchr(text, 'e'));
    assert_null(strchr(text, 'E'));
    if (strcmp(text, "null") != 0) {
        json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        assert_true(json_number_value(j) == back);
        json_decref(j);
    }
    cw_buf_free(&b);
}

static void test_num_shortest(void **state)
{
    (void)state;
    check_num(0.1, 17, "0.1", 0.1);
    check_num(2160000, 17, "2160000", 2160000);
    check_num(91.14120422, 17, "91.14120422", 91.14120422);
    check_num(1e-7, 17, "0.0000001", 1e-7);
    check_num(-0.0, 17, "0", 0);
    check_num(0, 17, "0", 0);
    check_num(NAN, 17, "null", 0);
    check_num(INFINITY, 17, "null", 0);
    check_num(-INFINITY, 17, "null", 0);
    check_num(9007199254740992.0, 17, "9007199254740992", 9007199254740992.0); /* 2^53 */
    check_num(-9007199254740991.0, 17, "-9007199254740991", -9007199254740991.0);
    check_num(1e22, 17, "10000000000000000000000.0", 1e22); /* past int64: a real */
    check_num(1e18, 17, "1000000000000000000", 1e18);
    check_num(-1e19, 17, "-10000000000000000000.0", -1e19);
    check_num(123456.789, 17, "123456.789", 123456.789);
    check_num(-42.5, 17, "-42.5", -42.5);
    check_num(0.1 + 0.2, 17, "0.30000000000000004", 0.1 + 0.2); /* needs 17 digits */
    check_num(1.0 / 3, 17, "0.3333333333333333", 1.0 / 3);      /* needs 16 */
    check_num(2.0 / 3, 17, "0.6666666666666666", 2.0 / 3);
    check_num(0.000123, 17, "0.000123", 0.000123);
    check_num(1.5e-10, 17, "0.00000000015", 1.5e-10);
    check_num(12345678901234.5, 17, "12345678901234.5", 12345678901234.5);
    check_num(100, 17, "100", 100);
    /* Rounded to a number of significant digits, still plain. */
    check_num(2160000, 6, "2160000", 2160000);
    check_num(91.14120422, 6, "91.1412", 91.1412);
    check_num(0.000012345678, 6, "0.0000123457", 0.0000123457);
    check_num(999999.5, 6, "1000000", 1000000);
    check_num(2.0 / 3, 10, "0.6666666667", 0.6666666667);
}

static void test_num_extremes(void **state)
{
    (void)state;
    /* DBL_MAX: 309 digits; the smallest subnormal: 323 zeros after the point. */
    double vals[] = {1.7976931348623157e308,
                     -1.7976931348623157e308,
                     4.9406564584124654e-324,
                     2.2250738585072014e-308,
                     1e300,
                     1e-300};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        char t[CW_JSON_NUM_MAX];
        size_t n = cw_json_fmt_num(vals[i], 17, 0, t);
        assert_int_equal(n, strlen(t));
        assert_true(n < CW_JSON_NUM_MAX);
        assert_null(strchr(t, 'e'));
        assert_true(strtod(t, NULL) == vals[i]);
    }
    char t[CW_JSON_NUM_MAX];
    assert_int_equal(cw_json_fmt_num(1.7976931348623157e308, 17, 0, t), 311); /* + ".0" */
    assert_memory_equal(t, "17976931348623157", 17);
    /* The integer writer. */
    cw_buf b;
    cw_buf_init(&b, 64);
    cw_json_int(&b, 9007199254740993LL);
    cw_json_null(&b);
    cw_json_int(&b, -1);
    assert_string_equal(cw_buf_str(&b), "9007199254740993null-1");
    cw_buf_free(&b);
}

/* Significant digits of a plain-notation number text. */
static int sig_digits(const char *t)
{
    char d[CW_JSON_NUM_MAX];
    int n = 0;
    for (; *t; t++)
        if (*t >= '0' && *t <= '9')
            d[n++] = *t;
    int lo = 0;
    while (lo < n - 1 && d[lo] == '0')
        lo++;
    /* A trailing ".0" or the zeros of an integer are not significant. */
    while (n - 1 > lo && d[n - 1] == '0')
        n--;
    return n - lo;
}

/* Fewest significant digits (1..17) with which printf's rounding reads back
 * as v: an independent search from one digit up. */
static int min_digits(double v)
{
    char t[64];
    for (int p = 1; p < 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, v);
        if (strtod(t, NULL) == v)
            return p;
    }
    return 17;
}

static void test_num_random(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift64, fixed seed */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        if (i % 2) { /* any bit pattern: every exponent, subnormals */
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                continue;
        } else { /* decimal-looking values: k / 10^j, as money and rates are */
            static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
            v = (double)(int64_t)(x >> 12) / p10[(x >> 3) % 9] * ((x & 1) ? -1 : 1);
        }
        char t[CW_JSON_NUM_MAX];
        size_t n = cw_json_fmt_num(v, 17, 0, t);
        assert_int_equal(n, strlen(t));
        assert_null(strpbrk(t, "eE"));
        assert_true(strtod(t, NULL) == v);
        int m = min_digits(v);
        if (m <= 15)
            assert_int_equal(sig_digits(t), m == 0 ? 1 : m);
        else
            assert_true(sig_digits(t) <= 17);
    }
}

/* ---- jansson trees ---------------------------------------------------- */

static char *dumps(json_t *j, size_t flags)
{
    char *s = cw_json_dumps(j, flags);
    assert_non_null(s);
    /* At full precision jansson reads the text back as the same tree. */
    json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
    assert_non_null(back);
    if (!(flags & JSON_REAL_PRECISION(31)))
        assert_true(json_equal(back, j));
    json_decref(back);
    return s;
}

static void test_dump_tree(void **state)
{
    (void)state;
    json_t *o = json_object();
    json_object_set_new(o, "mrr", json_real(2160000));
    json_object_set_new(o, "score", json_real(91.14120422));
    json_object_set_new(o, "n", json_integer(9007199254740993LL));
    json_object_set_new(o, "path", json_string("a/b\n"));
    json_object_set_new(o, "tiny", json_real(1e-7));
    json_object_set_new(o, "list", json_pack("[bbn[]{}]", 1, 0));
    char *s = dumps(o, JSON_COMPACT);
    assert_string_equal(s,
                        "{\"mrr\":2160000.0,\"score\":91.14120422,\"n\":9007199254740993,"
                        "\"path\":\"a/b\\n\",\"tiny\":0.0000001,\"list\":[true,false,null,[],{}]}");
    free(s);
    s = dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ESCAPE_SLASH | JSON_REAL_PRECISION(6));
    assert_string_equal(s, "{\"list\":[true,false,null,[],{}],\"mrr\":2160000.0,"
                           "\"n\":9007199254740993,\"path\":\"a\\/b\\n\",\"score\":91.1412,"
                           "\"tiny\":0.0000001}");
    free(s);
    json_decref(o);

    /* Not compact: jansson's ", " and ": " separators. */
    json_t *a = json_pack("{s:[i,f]}", "k", 1, 0.5);
    s = dumps(a, 0);
    assert_string_equal(s, "{\"k\": [1, 0.5]}");
    free(s);
    /* Indentation is not supported: refused, not silently ignored. */
    assert_null(cw_json_dumps(a, JSON_INDENT(2)));
    json_decref(a);
    assert_null(cw_json_dumps(NULL, 0));

    /* A bare value at the top level, as JSON_ENCODE_ANY. */
    json_t *str = json_string("\xc3\xa9\x01");
    s = dumps(str, 0);
    assert_string_equal(s, "\"\xc3\xa9\\u0001\"");
    free(s);
    json_decref(str);
}

static void test_dump_bounded(void **state)
{
    (void)state;
    json_t *a = json_pack("[s,s]", "0123456789", "0123456789");
    cw_buf b;
    cw_buf_init(&b, 20); /* the text needs 27 bytes */
    assert_int_equal(cw_json_dump(&b, a, JSON_COMPACT), CW_ERR_TOOBIG);
    cw_buf_free(&b);
    cw_buf_init(&b, 27);
    assert_int_equal(cw_json_dump(&b, a, JSON_COMPACT), CW_OK);
    assert_string_equal(cw_buf_str(&b), "[\"0123456789\",\"0123456789\"]");
    cw_buf_free(&b);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_buf_growth_and_steal),
        cmocka_unit_test(test_buf_file),
        cmocka_unit_test(test_str_controls),
        cmocka_unit_test(test_str_quotes_and_text),
        cmocka_unit_test(test_str_utf8),
        cmocka_unit_test(test_str_null),
        cmocka_unit_test(test_num_shortest),
        cmocka_unit_test(test_num_extremes),
        cmocka_unit_test(test_num_random),
        cmocka_unit_test(test_dump_tree),
        cmocka_unit_test(test_dump_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
