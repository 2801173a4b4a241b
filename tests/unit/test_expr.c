/*
 * test_expr.c — the rule expression language (lib/alerts/expr.c): precedence and
 * associativity, three-valued logic over missing values, missing(), trend()
 * and peer(), division by zero, and compile errors with their columns.
 * Expected values are worked out by hand in the tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "alerts/expr.h"

/* Slots: a = 2, b = 3, c = 4, x = missing, z = 0; trend(a) = -1;
 * peer(a) = 75. */
enum { S_A, S_B, S_C, S_X, S_Z, S_TA, S_PA, NS };
static const double slots[NS] = {2, 3, 4, NAN, 0, -1, 75};

static int resolve(void *ud, int how, const char *name, size_t len, char *why, size_t whysz)
{
    (void)ud;
    static const char *const names[] = {"a", "b", "c", "x", "z"};
    for (int i = 0; i < 5; i++)
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0) {
            if (how == CW_EXPR_PLAIN)
                return i;
            if (i == S_A)
                return how == CW_EXPR_TREND ? S_TA : S_PA;
            snprintf(why, whysz, "no trend for '%.*s'", (int)len, name);
            return -1;
        }
    snprintf(why, whysz, "unknown metric '%.*s'", (int)len, name);
    return -1;
}

static const cw_expr_resolver R = {resolve, NULL};

static double eval(const char *src)
{
    cw_expr *e = NULL;
    cw_expr_error err;
    cw_status s = cw_expr_compile(src, strlen(src), &R, &e, &err);
    if (s != CW_OK)
        fail_msg("'%s' did not compile: %d: %s", src, err.col, err.msg);
    double v = cw_expr_eval(e, slots);
    cw_expr_free(e);
    return v;
}

#define U NAN /* unknown */

static void test_values(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        double want;
    } cases[] = {
        /* arithmetic: * and / bind tighter than + and -, all left-associative */
        {"1 + 2 * 3", 7},
        {"(1 + 2) * 3", 9},
        {"10 - 4 - 3", 3}, /* (10 - 4) - 3, not 10 - (4 - 3) = 9 */
        {"24 / 4 / 2", 3}, /* (24 / 4) / 2 */
        {"a * b + c", 10}, /* 2*3 + 4 */
        {"a + b * c", 14}, /* 2 + 12 */
        {"-a * b", -6},
        {"- -a", 2},
        {"2 - -3", 5},
        {"1.5e1 + .5", 15.5},
        {"a / z", U}, /* division by zero is missing */
        {"x + 1", U},
        /* comparisons */
        {"a < b", 1},
        {"a >= b", 0},
        {"a + 1 == b", 1},
        {"a != 2", 0},
        {"c <= 4", 1},
        {"x < 1", U},
        /* not > and > or */
        {"not a < b", 0},            /* not (a < b) */
        {"a < b or b < a and z", 1}, /* a<b or (b<a and z) */
        {"(a < b or b < a) and z", 0},
        {"not z", 1},
        {"not not a", 1},
        /* Kleene logic with missing values */
        {"x < 1 and a > 5", 0}, /* unknown and false = false */
        {"x < 1 and a < 5", U}, /* unknown and true = unknown */
        {"x < 1 or a < 5", 1},  /* unknown or true = true */
        {"x < 1 or a > 5", U},  /* unknown or false = unknown */
        {"not x < 1", U},
        {"missing(x)", 1},
        {"missing(a)", 0},
        {"missing(a / z)", 1},
        {"not missing(x) and x > 0", 0},
        {"missing(x) or x > 0", 1},
        /* trend() and peer() */
        {"trend(a) < 0", 1},
        {"peer( a ) - 75", 0},
        {"trend(a) + peer(a)", 74},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = eval(cases[i].src);
        if (isnan(cases[i].want)) {
            if (!isnan(got))
                fail_msg("%s: got %g, want unknown", cases[i].src, got);
        } else if (isnan(got) || fabs(got - cases[i].want) > 1e-12)
            fail_msg("%s: got %g, want %g", cases[i].src, got, cases[i].want);
    }
    assert_true(cw_expr_is_true(1));
    assert_true(cw_expr_is_true(-2));
    assert_false(cw_expr_is_true(0));
    assert_false(cw_expr_is_true(NAN));
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        int col;
        const char *msg;
    } cases[] = {
        {"a < ", 5, "unexpected end of expression"},
        {"a < b < c", 7, "comparisons do not chain"},
        {"a = b", 3, "use '==' to compare"},
        {"(a + b", 1, "unbalanced '('"},
        {"a + b)", 6, "unbalanced ')'"},
        {"a + nope", 5, "unknown metric 'nope'"},
        {"trend(b)", 7, "no trend for 'b'"},
        {"frob(a)", 1, "unknown function 'frob'"},
        {"trend(1)", 7, "trend() takes a metric name"},
        {"a and or b", 7, "expected a value, found 'or'"},
        {"", 1, "empty expression"},
        {"   ", 4, "empty expression"},
        {"a $ b", 3, "unexpected '$'"},
        {"3x", 2, "unexpected 'x' after a number"},
        {"1.2.3", 1, "'1.2.3' is not a number"},
        {"missing(a", 10, "expected ')'"},
        {"a b", 3, "unexpected 'b'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cw_expr *e = NULL;
        cw_expr_error err;
        cw_status s = cw_expr_compile(cases[i].src, strlen(cases[i].src), &R, &e, &err);
        if (s != CW_ERR_CONFIG || e)
            fail_msg("'%s' compiled", cases[i].src);
        if (err.col != cases[i].col || !strstr(err.msg, cases[i].msg))
            fail_msg("'%s': got %d: %s; want %d: %s", cases[i].src, err.col, err.msg, cases[i].col,
                     cases[i].msg);
    }
}

static void test_limits_and_not(void **state)
{
    (void)state;
    /* Nesting beyond the limit is an error, not a stack overflow. */
    char deep[400];
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        deep[n++] = '(';
    deep[n++] = 'a';
    for (int i = 0; i < 150; i++)
        deep[n++] = ')';
    cw_expr *e = NULL;
    cw_expr_error err;
    assert_int_equal(cw_expr_compile(deep, n, &R, &e, &err), CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* Depth 40 is fine. */
    n = 0;
    for (int i = 0; i < 40; i++)
        deep[n++] = '(';
    deep[n++] = 'a';
    for (int i = 0; i < 40; i++)
        deep[n++] = ')';
    assert_int_equal(cw_expr_compile(deep, n, &R, &e, &err), CW_OK);
    assert_true(cw_expr_eval(e, slots) == 2);
    /* cw_expr_not is the default clear condition: not (when). */
    cw_expr *ne = NULL;
    assert_int_equal(cw_expr_not(e, &ne), CW_OK);
    assert_true(cw_expr_eval(ne, slots) == 0);
    cw_expr_free(e);
    cw_expr_free(ne);
    assert_int_equal(cw_expr_compile("x < 1 or a > b", 14, &R, &e, &err), CW_OK);
    assert_int_equal(cw_expr_not(e, &ne), CW_OK);
    assert_true(isnan(cw_expr_eval(ne, slots))); /* not unknown = unknown */
    /* The slots read, in order of first appearance, each once. */
    const int *sl;
    assert_int_equal(cw_expr_slots(e, &sl), 3);
    assert_int_equal(sl[0], S_X);
    assert_int_equal(sl[1], S_A);
    assert_int_equal(sl[2], S_B);
    cw_expr_free(e);
    cw_expr_free(ne);
    /* A long flat chain stays within the stack: left-associative. */
    char chain[4000];
    n = 0;
    chain[n++] = '1';
    for (int i = 0; i < 1000; i++) {
        chain[n++] = '+';
        chain[n++] = '1';
    }
    assert_int_equal(cw_expr_compile(chain, n, &R, &e, &err), CW_OK);
    assert_true(cw_expr_eval(e, slots) == 1001);
    cw_expr_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits_and_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
