/*
 * fuzz_expr.c — libFuzzer target for the rule expression parser
 * (lib/alerts/expr.c). The input is one expression over a fixed set of names
 * (a, b, c, x, tenure_days, and trend()/peer() of a). Properties: a failure
 * carries a column within the input (or just past it) and a reason; a
 * success evaluates without touching slots it did not declare, yields a
 * number, 0/1 or NaN for a top-level comparison, and its negation
 * (cw_expr_not) is the Kleene complement.
 */
#include "churnwatch.h"
#include "alerts/expr.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static const char *const names[] = {"a", "b", "c", "x", "tenure_days"};
#define NNAMES 5

static int resolve(void *ud, int how, const char *name, size_t len, char *why, size_t whysz)
{
    (void)ud;
    for (int i = 0; i < NNAMES; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) {
            if (how == CW_EXPR_PLAIN)
                return i;
            if (i == 0)
                return how == CW_EXPR_TREND ? NNAMES : NNAMES + 1;
            snprintf(why, whysz, "no trend");
            return -1;
        }
    snprintf(why, whysz, "unknown metric");
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const double slots[NNAMES + 2] = {2, -3.5, 0, NAN, 45, 1e308, -0.0};
    cw_expr_resolver r = {resolve, NULL};
    cw_expr *e = NULL;
    cw_expr_error err;
    cw_status s = cw_expr_compile((const char *)data, size, &r, &e, &err);
    if (s != CW_OK) {
        CHECK(s == CW_ERR_CONFIG && e == NULL);
        CHECK(err.col >= 1 && (size_t)err.col <= size + 1);
        CHECK(err.msg[0] != 0);
        return 0;
    }
    const int *sl;
    int n = cw_expr_slots(e, &sl);
    for (int i = 0; i < n; i++)
        CHECK(sl[i] >= 0 && sl[i] < NNAMES + 2);
    double v = cw_expr_eval(e, slots);
    CHECK(!isinf(v));
    cw_expr *ne = NULL;
    CHECK(cw_expr_not(e, &ne) == CW_OK);
    double nv = cw_expr_eval(ne, slots);
    if (isnan(v))
        CHECK(isnan(nv));
    else
        CHECK(nv == (v == 0 ? 1 : 0));
    cw_expr_free(ne);
    cw_expr_free(e);
    return 0;
}
