/*
 * test_jsonscan.c — the JSON Lines scanner (lib/ingest/jsonscan.c) against
 * jansson with JSON_REJECT_DUPLICATES, which it replaces on the volume
 * path: a corpus of tricky lines (every rejection class, nesting to the
 * depth limit, escapes and surrogates, numbers of every shape, duplicate
 * keys at every level, whitespace) must be accepted and rejected alike and
 * give the same values (tests/unit/jsondiff.h). Then the reading API:
 * paths, members, scratch strings, error columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jsondiff.h"
#include "ingest/mapping.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Lines with their expected verdict (1 accept, 0 reject); the verdict is
 * what jansson says too, checked separately. NUL bytes are written \0 and
 * the length is given by sizeof. */
#define L(s, ok)                                                                                   \
    {                                                                                              \
        s, sizeof s - 1, ok                                                                        \
    }
static const struct {
    const char *s;
    size_t len;
    int ok;
} lines[] = {
    L("{}", 1),
    L("[]", 1),
    L(" \t\r\n{ } \t\r\n", 1),
    L("{\"a\":1}", 1),
    L("{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }", 1),
    L("{\"a\":{},\"b\":[],\"c\":[{}],\"d\":{\"e\":[]}}", 1),
    L("[1,\"x\",true,false,null,{\"k\":[]}]", 1),
    L("", 0),
    L("   ", 0),
    L("\"str\"", 0),
    L("1", 0),
    L("true", 0),
    L("null", 0),
    L("{", 0),
    L("{\"a\"", 0),
    L("{\"a\":", 0),
    L("{\"a\":1", 0),
    L("{\"a\":1,}", 0),
    L("[1,]", 0),
    L("[,1]", 0),
    L("{,}", 0),
    L("{\"a\" 1}", 0),
    L("{\"a\":1 \"b\":2}", 0),
    L("{a:1}", 0),
    L("{'a':1}", 0),
    L("{1:2}", 0),
    L("{} x", 0),
    L("{}{}", 0),
    L("{}]", 0),
    L("[]}", 0),
    L("{\"a\":1}\0", 0),
    /* jansson drops one NUL right after a number or a literal. */
    L("[2e8\0,18,1e-400]", 1),
    L("{\"a\":1\0,\"b\":true\0,\"c\":null\0}", 1),
    L("[1\0 ]", 1),
    L("[1\0\0]", 0),
    L("[\"x\"\0]", 0),
    L("[1]\0", 0),
    L("[\0]", 0),
    L("\0{}", 0),
    L("{\"a\":tru}", 0),
    L("{\"a\":truex}", 0),
    L("{\"a\":true1}", 0),
    L("{\"a\":nul}", 0),
    L("{\"a\":NaN}", 0),
    L("{\"a\":Infinity}", 0),
    L("{\"a\":-Infinity}", 0),
    L("{\"a\":undefined}", 0),
    /* Duplicate keys, at every level, also when spelled with escapes. */
    L("{\"a\":1,\"a\":2}", 0),
    L("{\"a\":1,\"b\":2,\"a\":3}", 0),
    L("{\"x\":{\"a\":1,\"a\":1}}", 0),
    L("[{\"a\":1,\"a\":1}]", 0),
    L("{\"x\":[{\"y\":{\"k\":1,\"k\":2}}]}", 0),
    L("{\"a\":1,\"\\u0061\":2}", 0),
    L("{\"\\/\":1,\"/\":2}", 0),
    L("{\"\":1,\"\":2}", 0),
    L("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":1}}", 1),
    L("[{\"a\":1},{\"a\":1}]", 1),
    L("{\"ab\":1,\"a\":2,\"b\":3,\"ba\":4}", 1),
    L("{\"\":1}", 1),
    /* Strings: escapes, control characters, UTF-8. */
    L("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 1),
    L("{\"s\":\"\\u00e9\\u20AC\\uFFFF\"}", 1),
    L("{\"s\":\"\\ud83d\\ude00\"}", 1),
    L("{\"s\":\"\\uD83D\\uDE00x\"}", 1),
    L("{\"s\":\"\\uDBFF\\uDFFF\"}", 1),
    L("{\"s\":\"\\ud800\"}", 0),
    L("{\"s\":\"\\ud800x\"}", 0),
    L("{\"s\":\"\\ud800\\n\"}", 0),
    L("{\"s\":\"\\ud800\\ud800\"}", 0),
    L("{\"s\":\"\\ud800\\u0041\"}", 0),
    L("{\"s\":\"\\ude00\"}", 0),
    L("{\"s\":\"\\ude00\\ud83d\"}", 0),
    L("{\"s\":\"\\u0000\"}", 0),
    L("{\"\\u0000\":1}", 0),
    L("{\"s\":\"a\\u0000b\"}", 0),
    L("{\"s\":\"\\u0001\\u001f\"}", 1),
    L("{\"s\":\"\\u12\"}", 0),
    L("{\"s\":\"\\u12G4\"}", 0),
    L("{\"s\":\"\\x41\"}", 0),
    L("{\"s\":\"\\a\"}", 0),
    L("{\"s\":\"\\'\"}", 0),
    L("{\"s\":\"\\\"}", 0),
    L("{\"s\":\"\\", 0),
    L("{\"s\":\"abc", 0),
    L("{\"s\":\"a\tb\"}", 0),
    L("{\"s\":\"a\nb\"}", 0),
    L("{\"s\":\"a\x01\"}", 0),
    L("{\"s\":\"a\x1f\"}", 0),
    L("{\"s\":\"a\x7f\"}", 1),
    L("{\"s\":\"a\0b\"}", 0),
    L("{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 1),
    L("{\"caf\xc3\xa9\":1}", 1),
    L("{\"s\":\"\xc3\"}", 0),
    L("{\"s\":\"\xc3\x28\"}", 0),
    L("{\"s\":\"\xc0\xaf\"}", 0),
    L("{\"s\":\"\xc1\xbf\"}", 0),
    L("{\"s\":\"\xe0\x80\xaf\"}", 0),
    L("{\"s\":\"\xed\xa0\x80\"}", 0),
    L("{\"s\":\"\xef\xbf\xbf\"}", 1),
    L("{\"s\":\"\xf0\x80\x80\xaf\"}", 0),
    L("{\"s\":\"\xf4\x8f\xbf\xbf\"}", 1),
    L("{\"s\":\"\xf4\x90\x80\x80\"}", 0),
    L("{\"s\":\"\xf5\x80\x80\x80\"}", 0),
    L("{\"s\":\"\xff\"}", 0),
    L("{\"s\":\"\x80\"}", 0),
    L("{\"s\":\"\xe2\x82\"}", 0),
    L("{\"s\":\"ok\"}\xc3\xa9", 0),
    L("\xef\xbb\xbf{}", 0),
    /* Numbers. */
    L("[0,-0,1,-1,10,123456789,-987654321]", 1),
    L("[9223372036854775807,-9223372036854775808]", 1),
    L("[9223372036854775808]", 0),
    L("[-9223372036854775809]", 0),
    L("[1000000000000000000000]", 0),
    L("[-1000000000000000000000]", 0),
    L("[1.0,-0.0,0.5,1e2,1E2,1e+2,1e-2,-1.5e-3,0e0,0.0e-0,1E+0]", 1),
    L("[1.7976931348623157e308,-1.7976931348623157e308,4.9e-324,2.2250738585072014e-308]", 1),
    L("[1e308,1.8e308]", 0),
    L("[-1e309]", 0),
    L("[1e-400,-1e-400,1e-99999]", 1),
    L("[1e99999]", 0),
    L("[0.1,0.2,0.30000000000000004,3.141592653589793,2.718281828459045]", 1),
    L("[12345678901234567890.5,123456789012345678901234567890e-10]", 1),
    L("[0.00000000000000000000000000000000000001]", 1),
    L("[01]", 0),
    L("[-01]", 0),
    L("[00]", 0),
    L("[1.]", 0),
    L("[.5]", 0),
    L("[-.5]", 0),
    L("[+1]", 0),
    L("[-]", 0),
    L("[1e]", 0),
    L("[1e+]", 0),
    L("[1.e5]", 0),
    L("[0x10]", 0),
    L("[1_000]", 0),
    L("[1 2]", 0),
    L("[1.5.3]", 0),
    L("[--1]", 0),
    L("[1-2]", 0),
    L("{\"a\":1.0,\"b\":100,\"c\":1e2,\"d\":-0,\"e\":-0.0}", 1),
    /* The shortest text of reals (the mapping's) from their own digits. */
    L("[12.50,100.0,0.0001,0.00001,0.00010,-0.000,0.000,123456789012345.0,1234567890123456.0]", 1),
    L("[0.1000000000000000055511151231257827,999999999999999.9,99999999999999.99,0.12345678901234]",
      1),
    L("[-12.5,1.5000000000000000000001,100000000000000000000.0,0.0000,-1.0,10.10]", 1),
};

static void test_differential_corpus(void **state)
{
    (void)state;
    cw_jscan *js = cw_jscan_new();
    int same, nmsg = 0;
    assert_non_null(js);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        json_error_t jerr;
        json_t *j = json_loadb(lines[i].s, lines[i].len, JSON_REJECT_DUPLICATES, &jerr);
        if ((j != NULL) != lines[i].ok)
            fail_msg("line %zu: jansson %s it (fix the corpus)", i, j ? "accepts" : "rejects");
        const char *d = jd_check_msg(js, lines[i].s, lines[i].len, &same);
        if (d)
            fail_msg("line %zu '%.*s': %s", i, (int)lines[i].len, lines[i].s, d);
        if (!j && !same) {
            /* Messages are jansson's wording where it is cheap to match. */
            cw_jval root;
            int col;
            const char *why;
            (void)cw_jscan_parse(js, lines[i].s, lines[i].len, &root, &col, &why);
            print_message("message differs: line %zu: jansson %d: %s / scanner %d: %s\n", i,
                          jerr.column, jerr.text, col, why);
            nmsg++;
        }
        json_decref(j);
    }
    print_message("%d of %zu lines with another message than jansson's\n", nmsg,
                  sizeof lines / sizeof lines[0]);
    cw_jscan_free(js);
}

/* Nesting to jansson's limit and past it, objects and arrays. */
static void test_depth(void **state)
{
    (void)state;
    cw_jscan *js = cw_jscan_new();
    size_t n = 2 * CW_JSON_MAX_DEPTH + 64;
    char *b = malloc(3 * n + 16);
    assert_non_null(js);
    assert_non_null(b);
    int depths[] = {1,
                    2,
                    100,
                    CW_JSON_MAX_DEPTH - 1,
                    CW_JSON_MAX_DEPTH,
                    CW_JSON_MAX_DEPTH + 1,
                    CW_JSON_MAX_DEPTH + 10};
    for (size_t k = 0; k < sizeof depths / sizeof depths[0]; k++) {
        for (int inner = 0; inner < 3; inner++) {
            /* [[...]] empty, [[...[1]...]] and {"a":{"a":...{}}}. */
            size_t len = 0;
            int d = depths[k];
            for (int i = 0; i < d; i++)
                len += (size_t)snprintf(b + len, 8, inner == 2 ? "{\"a\":" : "[");
            if (inner == 2)
                len += (size_t)snprintf(b + len, 8, "1");
            if (inner == 1)
                len += (size_t)snprintf(b + len, 8, "1");
            for (int i = 0; i < d; i++)
                len += (size_t)snprintf(b + len, 8, inner == 2 ? "}" : "]");
            const char *diff = jd_check(js, b, len);
            if (diff)
                fail_msg("depth %d shape %d: %s", d, inner, diff);
        }
    }
    free(b);
    cw_jscan_free(js);
}

/* Many keys in one object: the duplicate check's table grows. */
static void test_many_keys(void **state)
{
    (void)state;
    cw_jscan *js = cw_jscan_new();
    char *b = malloc(1 << 20);
    assert_non_null(b);
    for (int dup = 0; dup < 2; dup++) {
        size_t len = 0;
        b[len++] = '{';
        for (int i = 0; i < 20000; i++)
            len += (size_t)snprintf(b + len, 64, "%s\"k%d\":{\"k%d\":%d}", i ? "," : "", i, i, i);
        if (dup)
            len += (size_t)snprintf(b + len, 64, ",\"k777\":1");
        b[len++] = '}';
        const char *d = jd_check(js, b, len);
        if (d)
            fail_msg("many keys (dup %d): %s", dup, d);
    }
    free(b);
    cw_jscan_free(js);
}

/* Duplicate keys at every position of objects of up to 12 keys, at every
 * depth the scanner treats apart (the top level and one level down compare
 * their first keys with their member lists; others hash them, the first
 * key only with the second), one of the pair escaped or not. */
static void test_duplicate_positions(void **state)
{
    (void)state;
    static const char *wrap[][2] = {
        {"", ""},   {"{\"x\":", "}"},   {"{\"x\":{\"y\":", "}}"},
        {"[", "]"}, {"[{\"a\":", "}]"}, {"{\"p\":1,\"x\":", ",\"q\":{}}"}};
    cw_jscan *js = cw_jscan_new();
    char b[1024];
    assert_non_null(js);
    for (size_t w = 0; w < sizeof wrap / sizeof wrap[0]; w++)
        for (int n = 1; n <= 12; n++)
            for (int i = -1; i < n; i++)
                for (int j = i + 1; j < n + (i < 0); j++) {
                    /* Keys k0..k(n-1); key j repeats key i (i -1: none). */
                    size_t len = (size_t)snprintf(b, sizeof b, "%s{", wrap[w][0]);
                    for (int k = 0; k < n; k++) {
                        int key = i >= 0 && k == j ? i : k;
                        const char *fmt = k % 2 ? "%s\"\\u006b%d\":%d" : "%s\"k%d\":%d";
                        len += (size_t)snprintf(b + len, sizeof b - len, fmt, k ? "," : "", key, k);
                    }
                    len += (size_t)snprintf(b + len, sizeof b - len, "}%s", wrap[w][1]);
                    const char *d = jd_check(js, b, len);
                    if (d)
                        fail_msg("'%s': %s", b, d);
                    if (i < 0)
                        break;
                }
    cw_jscan_free(js);
}

/* Reading: paths with indexes, strings with and without escapes (into the
 * line or the scratch), members of the top level, error columns. */
static void test_reading(void **state)
{
    (void)state;
    cw_jscan *js = cw_jscan_new();
    const char *line = "{\"type\":\"track\",\"context\":{\"groupId\":\"G\\u00e9\",\"x\":[1]},"
                       "\"items\":{\"data\":[{\"price\":{\"unit_amount\":1250}},{}]},"
                       "\"k\\\"q\":\"v\",\"n\":-0,\"r\":1e2}";
    cw_jval root;
    int col;
    const char *why;
    assert_int_equal(cw_jscan_parse(js, line, strlen(line), &root, &col, &why), CW_OK);
    assert_int_equal(root.type, CW_JSON_OBJECT);
    const cw_jmember *mem;
    assert_int_equal(cw_jscan_members(js, &mem), 6);
    assert_int_equal(mem[3].key.len, 3);
    assert_memory_equal(mem[3].key.s, "k\"q", 3);
    cw_map_step p1[2] = {{"context", {0}, 0}, {"groupId", {0}, 0}};
    cw_jval v = cw_json_path(js, root, p1, 2);
    cw_strref t;
    assert_int_equal(v.type, CW_JSON_STRING);
    assert_true(cw_json_string(js, v, &t));
    assert_int_equal(t.len, 3);
    assert_memory_equal(t.s, "G\xc3\xa9", 3);
    cw_map_step p2[3] = {{"items", {0}, 0}, {"data", {0}, 1}, {"price", {0}, 0}};
    v = cw_json_path(js, root, p2, 3);
    v = cw_json_get(js, v, "unit_amount", 11);
    assert_int_equal(v.type, CW_JSON_INTEGER);
    assert_int_equal(cw_json_integer(v), 1250);
    p2[1].idx[0] = 1;
    assert_int_equal(cw_json_path(js, root, p2, 3).type, CW_JSON_ABSENT);
    p2[1].idx[0] = 2;
    assert_int_equal(cw_json_path(js, root, p2, 2).type, CW_JSON_ABSENT);
    cw_map_step p3[1] = {{"type", {0}, 0}};
    v = cw_json_path(js, root, p3, 1);
    assert_true(cw_json_string(js, v, &t));
    assert_true(t.s > line && t.s < line + strlen(line)); /* no copy */
    t = cw_json_integer_text(cw_json_get(js, root, "n", 1));
    assert_int_equal(t.len, 1);
    assert_int_equal(t.s[0], '0');
    assert_int_equal(cw_json_get(js, root, "r", 1).type, CW_JSON_REAL);
    assert_true(cw_json_real(cw_json_get(js, root, "r", 1)) == 100.0);
    /* A nested key with escapes is found by its text. */
    const char *l2 = "{\"o\":{\"\\u0061b\":1,\"a\\\"\":2}}";
    assert_int_equal(cw_jscan_parse(js, l2, strlen(l2), &root, &col, &why), CW_OK);
    v = cw_json_get(js, root, "o", 1);
    assert_int_equal(cw_json_integer(cw_json_get(js, v, "ab", 2)), 1);
    assert_int_equal(cw_json_integer(cw_json_get(js, v, "a\"", 2)), 2);
    assert_int_equal(cw_json_get(js, v, "a", 1).type, CW_JSON_ABSENT);
    /* Columns count characters from 1. */
    const char *bad = "{\"\xc3\xa9\":1,\"a\":x}";
    assert_int_equal(cw_jscan_parse(js, bad, strlen(bad), &root, &col, &why), CW_ERR_INPUT);
    assert_int_equal(col, 12);
    assert_string_equal(why, "invalid token near 'x'");
    bad = "{\"a\":1,\"a\":2}";
    assert_int_equal(cw_jscan_parse(js, bad, strlen(bad), &root, &col, &why), CW_ERR_INPUT);
    assert_int_equal(col, 10);
    assert_string_equal(why, "duplicate object key near '\"a\"'");
    cw_jscan_free(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential_corpus),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_duplicate_positions),
        cmocka_unit_test(test_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
