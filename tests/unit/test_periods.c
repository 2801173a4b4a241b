/*
 * test_periods.c — billing periods (lib/ingest/periods.c): the MRR of one period
 * and the derivation of an account's change log, with every expected number
 * worked out by hand in the comments. The end-to-end path (CSV → store →
 * revenue bridge) is tests/periods.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "ingest/validate.h"
#include "ingest/periods.h"

#include <stdlib.h>
#include <string.h>

#define DAY 86400

static int64_t day(int y, unsigned m, unsigned d)
{
    return cw_days_from_civil(y, m, d) * DAY;
}

/* Values of one period row: amount, quantity, interval (-1 = absent),
 * count (0 = absent), percent (< 0 = absent), discount (< 0 = absent), mrr
 * (< 0 = absent). */
static void row(cw_value *v, int64_t amount, int64_t qty, int interval, int64_t count, double pct,
                int64_t discount, int64_t mrr)
{
    memset(v, 0, sizeof(cw_value) * CW_MAX_FIELDS);
    if (amount >= 0)
        v[CW_SP_AMOUNT] = (cw_value){.i = amount, .present = 1};
    if (qty >= 0)
        v[CW_SP_QUANTITY] = (cw_value){.i = qty, .present = 1};
    if (interval >= 0)
        v[CW_SP_INTERVAL] = (cw_value){.i = interval, .present = 1};
    if (count > 0)
        v[CW_SP_INTERVAL_COUNT] = (cw_value){.i = count, .present = 1};
    if (pct >= 0)
        v[CW_SP_DISCOUNT_PCT] = (cw_value){.d = pct, .present = 1};
    if (discount >= 0)
        v[CW_SP_DISCOUNT] = (cw_value){.i = discount, .present = 1};
    if (mrr >= 0)
        v[CW_SP_MRR] = (cw_value){.i = mrr, .present = 1};
}

enum { MONTH = 0, YEAR = 1, WEEK = 2, DAYS = 3 };

static void test_mrr(void **state)
{
    (void)state;
    static const struct {
        int64_t amount, qty;
        int interval;
        int64_t count;
        double pct;
        int64_t discount, mrr, want;
    } cases[] = {
        {10000, 5, MONTH, 0, -1, -1, -1, 50000}, /* 100.00 × 5 */
        {10000, -1, -1, 0, -1, -1, -1, 10000},   /* quantity 1, month by default */
        {2000, 1, MONTH, 0, 25, -1, -1, 1500},   /* 2000 × 0.75 */
        {60000, 1, MONTH, 6, -1, -1, -1, 10000}, /* a 6-month term: 60000 / 6 */
        /* (1200.00 × 2 − 240.00) × 0.9 / 12 = 216000 × 0.9 / 12 = 16200 */
        {120000, 2, YEAR, 0, 10, 24000, -1, 16200},
        {100, 1, DAYS, 0, -1, -1, -1, 3042},    /* 100 × 365 / 12 = 3041.67 */
        {999, 1, WEEK, 0, -1, -1, -1, 4329},    /* 999 × 52 / 12 = 4329 exactly */
        {7, 1, MONTH, 2, -1, -1, -1, 4},        /* 3.5: half away from zero */
        {3, 1, MONTH, 0, 50, -1, -1, 2},        /* 1.5 → 2 */
        {1000, 1, MONTH, 0, 12.5, -1, -1, 875}, /* a fractional percent */
        {1000, 1, MONTH, 0, 100, -1, -1, 0},    /* free */
        {1000, 3, MONTH, 0, -1, 3000, -1, 0},   /* the whole amount off */
        {12345, 9, YEAR, 3, 33, 45, 777, 777},  /* mrr_minor given wins */
    };
    cw_value v[CW_MAX_FIELDS];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        row(v, cases[i].amount, cases[i].qty, cases[i].interval, cases[i].count, cases[i].pct,
            cases[i].discount, cases[i].mrr);
        int64_t mrr = -1;
        int field = -1;
        char why[200] = "";
        if (!cw_period_mrr(v, &mrr, &field, why, sizeof why))
            fail_msg("case %zu: %s", i, why);
        if (mrr != cases[i].want)
            fail_msg("case %zu: mrr %lld, want %lld", i, (long long)mrr, (long long)cases[i].want);
    }
}

static void test_mrr_errors(void **state)
{
    (void)state;
    cw_value v[CW_MAX_FIELDS];
    int64_t mrr;
    int field;
    char why[200];
    row(v, -1, 2, MONTH, 0, -1, -1, -1); /* neither mrr_minor nor amount_minor */
    assert_false(cw_period_mrr(v, &mrr, &field, why, sizeof why));
    assert_int_equal(field, CW_SP_MRR);
    assert_string_equal(why, "give mrr_minor or amount_minor");
    row(v, 1000, 2, MONTH, 0, -1, 2001, -1); /* more off than 1000 × 2 */
    assert_false(cw_period_mrr(v, &mrr, &field, why, sizeof why));
    assert_int_equal(field, CW_SP_DISCOUNT);
    assert_non_null(strstr(why, "more than amount_minor × quantity (2000)"));
    row(v, 1000, 1, MONTH, 0, 150, -1, -1);
    assert_false(cw_period_mrr(v, &mrr, &field, why, sizeof why));
    assert_int_equal(field, CW_SP_DISCOUNT_PCT);
}

static void test_term(void **state)
{
    (void)state;
    /* billing_period: 0 monthly, 1 annual, 2 quarterly, 3 semiannual, 4 other */
    assert_int_equal(cw_period_term(MONTH, 1), 0);
    assert_int_equal(cw_period_term(MONTH, 3), 2);
    assert_int_equal(cw_period_term(MONTH, 6), 3);
    assert_int_equal(cw_period_term(MONTH, 12), 1);
    assert_int_equal(cw_period_term(MONTH, 5), 4);
    assert_int_equal(cw_period_term(YEAR, 1), 1);
    assert_int_equal(cw_period_term(YEAR, 2), 4);
    assert_int_equal(cw_period_term(WEEK, 1), 4);
}

/* Builds n periods (line, product, start, end, mrr, qty) of one currency. */
typedef struct pdef {
    const char *line, *product;
    int64_t start, end, mrr, qty;
    int interval;
    int64_t count;
} pdef;

static cw_period *build(const pdef *d, size_t n, const char *currency)
{
    cw_period *p = calloc(n, sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        p[i].line = strdup(d[i].line);
        p[i].product = strdup(d[i].product);
        p[i].start = d[i].start;
        p[i].end = d[i].end;
        p[i].mrr_minor = d[i].mrr;
        p[i].quantity = d[i].qty;
        p[i].interval = d[i].interval;
        p[i].interval_count = d[i].count ? d[i].count : 1;
        memcpy(p[i].currency, currency, 4);
    }
    return p;
}

typedef struct want {
    int64_t at, mrr, seats;
    const char *plan;
} want;

static void check(const pdef *d, size_t n, int64_t data_end, const want *w, size_t nw)
{
    cw_period *p = build(d, n, "USD");
    cw_sub_row *rows = NULL;
    size_t nrows = 0;
    char why[200] = "";
    assert_int_equal(cw_periods_derive(p, n, data_end, &rows, &nrows, why, sizeof why), CW_OK);
    for (size_t i = 0; i < nrows && i < nw; i++) {
        char a[32], b[32];
        if (rows[i].effective_at != w[i].at || rows[i].mrr_minor != w[i].mrr ||
            rows[i].seats != w[i].seats ||
            (w[i].plan ? !rows[i].plan || strcmp(rows[i].plan, w[i].plan) : rows[i].plan != NULL))
            fail_msg("row %zu: %s %lld %lld %s, want %s %lld %lld %s", i,
                     cw_time_format(rows[i].effective_at, CW_TIME_DATE, a, sizeof a),
                     (long long)rows[i].mrr_minor, (long long)rows[i].seats,
                     rows[i].plan ? rows[i].plan : "-",
                     cw_time_format(w[i].at, CW_TIME_DATE, b, sizeof b), (long long)w[i].mrr,
                     (long long)w[i].seats, w[i].plan ? w[i].plan : "-");
    }
    if (nrows != nw)
        fail_msg("%zu rows, want %zu", nrows, nw);
    free(rows);
    cw_periods_free(p, n);
}

/* Renewals at one price give one row; the last period ending by the data
 * end is a cancellation at its end; exactly at the data end counts as
 * within it. */
static void test_renewals_and_cancel(void **state)
{
    (void)state;
    pdef d[] = {
        {"Pro", "Pro", day(2025, 3, 1), day(2025, 4, 1), 5000, 2, MONTH, 1},
        {"Pro", "Pro", day(2025, 1, 1), day(2025, 2, 1), 5000, 2, MONTH, 1}, /* out of order */
        {"Pro", "Pro", day(2025, 2, 1), day(2025, 3, 1), 5000, 2, MONTH, 1},
    };
    want w[] = {{day(2025, 1, 1), 5000, 2, "Pro"}, {day(2025, 4, 1), 0, 0, "Pro"}};
    check(d, 3, day(2025, 4, 1), w, 2);
    /* One day before the end: the last period is still running. */
    check(d, 3, day(2025, 3, 31), w, 1);
}

/* Two lines of one product told apart by line_id; the plan is the product
 * of the line with the highest MRR, and switches when that changes. */
static void test_plan_and_lines(void **state)
{
    (void)state;
    pdef d[] = {
        {"si_1", "Basic", day(2025, 1, 1), 0, 3000, 3, MONTH, 1},
        {"si_2", "Basic", day(2025, 1, 1), 0, 1000, 1, MONTH, 1},
        {"si_3", "Premium", day(2025, 2, 1), day(2025, 3, 1), 5000, 1, MONTH, 1},
    };
    /* Jan: 3000 + 1000 = 4000, 4 seats, Basic; Feb: + 5000 = 9000, 5 seats,
     * Premium (5000 > 3000); Mar: Premium ended (before the data end). */
    want w[] = {{day(2025, 1, 1), 4000, 4, "Basic"},
                {day(2025, 2, 1), 9000, 5, "Premium"},
                {day(2025, 3, 1), 4000, 4, "Basic"}};
    check(d, 3, day(2025, 6, 30), w, 3);
}

/* A period starting inside the previous one supersedes it from its start
 * (a mid-period upgrade); a gap stops the line and restarts it. */
static void test_overlap_and_gap(void **state)
{
    (void)state;
    pdef d[] = {
        {"", "", day(2025, 1, 1), day(2025, 2, 1), 1000, 1, MONTH, 1},
        {"", "", day(2025, 1, 20), day(2025, 2, 20), 1500, 1, MONTH, 1},
        {"", "", day(2025, 4, 1), 0, 1500, 1, MONTH, 1},
    };
    want w[] = {{day(2025, 1, 1), 1000, 1, NULL},
                {day(2025, 1, 20), 1500, 1, NULL},
                {day(2025, 2, 20), 0, 0, NULL},
                {day(2025, 4, 1), 1500, 1, NULL}};
    check(d, 3, day(2025, 6, 30), w, 4);
}

/* Inclusive ends: detected from consecutive periods meeting one day after
 * the end, or, for a single period, from its own term (a year minus a day);
 * both give the same log as exclusive ends. */
static void test_inclusive_ends(void **state)
{
    (void)state;
    pdef incl[] = {
        {"A", "A", day(2025, 1, 1), day(2025, 1, 31), 1000, 1, MONTH, 1},
        {"A", "A", day(2025, 2, 1), day(2025, 2, 28), 1000, 1, MONTH, 1},
        {"B", "B", day(2025, 1, 15), day(2026, 1, 14), 500, 1, YEAR, 1},
    };
    pdef excl[] = {
        {"A", "A", day(2025, 1, 1), day(2025, 2, 1), 1000, 1, MONTH, 1},
        {"A", "A", day(2025, 2, 1), day(2025, 3, 1), 1000, 1, MONTH, 1},
        {"B", "B", day(2025, 1, 15), day(2026, 1, 15), 500, 1, YEAR, 1},
    };
    /* Data end 2026-06-30: both lines ended. A stops 2025-03-01, B
     * 2026-01-15. Plan: A (1000 > 500) until A stops. */
    want w[] = {{day(2025, 1, 1), 1000, 1, "A"},
                {day(2025, 1, 15), 1500, 2, "A"},
                {day(2025, 3, 1), 500, 1, "B"},
                {day(2026, 1, 15), 0, 0, "B"}};
    check(incl, 3, day(2026, 6, 30), w, 4);
    check(excl, 3, day(2026, 6, 30), w, 4);
    /* Data end 2025-02-28: with inclusive ends A's last period ends with
     * that day (exclusive 2025-03-01, after the data end): still running. */
    check(incl, 3, day(2025, 2, 28), w, 2);
    /* Ends at the last second (…T23:59:59): the same log. */
    pdef secs[] = {
        {"A", "A", day(2025, 1, 1), day(2025, 2, 1) - 1, 1000, 1, MONTH, 1},
        {"A", "A", day(2025, 2, 1), day(2025, 3, 1) - 1, 1000, 1, MONTH, 1},
        {"B", "B", day(2025, 1, 15), day(2026, 1, 15) - 1, 500, 1, YEAR, 1},
    };
    check(secs, 3, day(2026, 6, 30), w, 4);
    /* A line without evidence (an odd 40-day period) takes the account's
     * other lines' convention: C ends 2025-02-09 inclusive = 02-10. */
    pdef odd[] = {
        {"A", "A", day(2025, 1, 1), day(2025, 1, 31), 1000, 1, MONTH, 1},
        {"A", "A", day(2025, 2, 1), day(2025, 2, 28), 1000, 1, MONTH, 1},
        {"C", "C", day(2025, 1, 1), day(2025, 2, 9), 200, 1, MONTH, 1},
    };
    want wo[] = {{day(2025, 1, 1), 1200, 2, "A"},
                 {day(2025, 2, 10), 1000, 1, "A"},
                 {day(2025, 3, 1), 0, 0, "A"}};
    check(odd, 3, day(2025, 6, 30), wo, 3);
}

static void test_currency_mismatch(void **state)
{
    (void)state;
    pdef d[] = {
        {"A", "A", day(2025, 1, 1), 0, 1000, 1, MONTH, 1},
        {"B", "B", day(2025, 1, 1), 0, 1000, 1, MONTH, 1},
    };
    cw_period *p = build(d, 2, "USD");
    memcpy(p[1].currency, "EUR", 4);
    cw_sub_row *rows = NULL;
    size_t nrows = 0;
    char why[200] = "";
    assert_int_equal(cw_periods_derive(p, 2, day(2025, 6, 30), &rows, &nrows, why, sizeof why),
                     CW_ERR_INPUT);
    assert_non_null(strstr(why, "USD and EUR"));
    assert_null(rows);
    cw_periods_free(p, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mrr),
        cmocka_unit_test(test_mrr_errors),
        cmocka_unit_test(test_term),
        cmocka_unit_test(test_renewals_and_cancel),
        cmocka_unit_test(test_plan_and_lines),
        cmocka_unit_test(test_overlap_and_gap),
        cmocka_unit_test(test_inclusive_ends),
        cmocka_unit_test(test_currency_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
