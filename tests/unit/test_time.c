/*
 * test_time.c — cw_time_parse, cw_time_format and cw_days_from_civil.
 *
 * Expected epoch values are worked out by hand from two anchors, not by
 * calling the code under test: 1970-01-01T00:00:00Z = 0 and
 * 2025-01-01T00:00:00Z = 1735689600 (= 20089 days; 55 years, 14 of them
 * leap: 1972..2024). The derivation of each value is in the comment beside
 * it. The accepted range is the years 1970-2099, whichever way an instant
 * is written; the first instant outside is 2100-01-01T00:00:00Z =
 * 4102444800 (130 years, 32 leap: 1972..2096, 2000 included as it divides
 * by 400).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/util.h"
#include "churnwatch.h"

#include <stdio.h>
#include <string.h>

#define A2025 1735689600LL /* 2025-01-01T00:00:00Z */
#define DAY   86400LL
#define TMAX  4102444800LL /* 2100-01-01T00:00:00Z, the first instant rejected */

typedef struct parse_case {
    const char *in;
    size_t len; /* 0 = strlen(in) */
    int naive_utc;
    int64_t want;    /* when why is NULL */
    const char *why; /* NULL = must parse; else a substring of the reason */
} parse_case;

static const parse_case parse_cases[] = {
    /* Dates: midnight UTC, whatever naive_utc says. */
    {"1970-01-01", 0, 0, 0, NULL},
    {"2025-01-01", 0, 0, A2025, NULL},
    {"2025-01-01", 0, 1, A2025, NULL},
    {"2025-03-01", 0, 0, A2025 + 59 * DAY, NULL},  /* Jan 31 + Feb 28 */
    {"2025-12-31", 0, 0, A2025 + 364 * DAY, NULL}, /* 1767139200 */
    {"1972-02-29", 0, 0, 68169600, NULL},          /* (730 + 59) days */
    {"2024-02-29", 0, 0, A2025 - 307 * DAY, NULL}, /* 1709164800: 2025-01-01 - (366-59) */
    {"2024-03-01", 0, 0, A2025 - 306 * DAY, NULL}, /* 1709251200 */
    {"2000-02-29", 0, 0, 951782400, NULL},         /* 11016 days: divisible by 400 → leap */
    {"2000-03-01", 0, 0, 951868800, NULL},         /* 11017 days */
    {"2096-02-29", 0, 0, 3981312000LL, NULL},      /* (46021 + 59) days */
    {"2099-12-31", 0, 0, TMAX - DAY, NULL},        /* 4102358400 */
    {"  2025-01-01\t", 0, 0, A2025, NULL},         /* surrounding blanks */
    /* Timestamps with 'T', 't' or ' ', and Z/z. */
    {"2025-01-01T00:00:00Z", 0, 0, A2025, NULL},
    {"2025-01-01t00:00:00z", 0, 0, A2025, NULL},
    {"2025-01-01 00:00:00Z", 0, 0, A2025, NULL},
    {"2025-01-01T12:34:56Z", 0, 0, A2025 + 45296, NULL}, /* 12*3600 + 34*60 + 56 */
    {"2025-01-01T12:34Z", 0, 0, A2025 + 45240, NULL},    /* seconds optional */
    {"1970-01-01T00:00:01Z", 0, 0, 1, NULL},
    {"2024-02-29T23:59:59Z", 0, 0, A2025 - 306 * DAY - 1, NULL},
    {"2099-12-31T23:59:59Z", 0, 0, TMAX - 1, NULL},
    {" 2025-01-01T00:00:00Z ", 0, 0, A2025, NULL},
    /* UTC offsets: local time minus offset. */
    {"2025-01-01T02:00:00+02:00", 0, 0, A2025, NULL},
    {"2025-01-01T00:00:00+02:00", 0, 0, A2025 - 7200, NULL},
    {"2025-01-01T00:00:00+0200", 0, 0, A2025 - 7200, NULL},
    {"2025-01-01T00:00:00+02", 0, 0, A2025 - 7200, NULL}, /* ±hh is ISO-8601 too */
    {"2024-12-31T19:00:00-05:00", 0, 0, A2025, NULL},
    {"2025-01-01T05:30:00+05:30", 0, 0, A2025, NULL},
    {"2025-01-01T00:00:00-0930", 0, 0, A2025 + 34200, NULL},
    {"2025-01-01T00:00:00+14:00", 0, 0, A2025 - 50400, NULL},
    {"2025-01-01T00:00:00-00:00", 0, 0, A2025, NULL},
    /* Fractional seconds are truncated. */
    {"2024-12-31T23:59:59.999Z", 0, 0, A2025 - 1, NULL},
    {"2025-01-01T00:00:00,5Z", 0, 0, A2025, NULL},
    {"2025-01-01T00:00:00.123456789+01:00", 0, 0, A2025 - 3600, NULL},
    {"2025-01-01T00:00:00.1234567890Z", 0, 0, 0, "malformed fractional seconds"},
    {"2025-01-01T00:00:00.Z", 0, 0, 0, "malformed fractional seconds"},
    /* Naive timestamps (no offset). */
    {"2025-01-01T00:00:00", 0, 1, A2025, NULL},
    {"2025-01-01 08:00", 0, 1, A2025 + 28800, NULL},
    {"2025-01-01T00:00:00.5", 0, 1, A2025, NULL},
    {"2025-01-01T00:00:00", 0, 0, 0, "no UTC offset"},
    {"2025-01-01 08:00", 0, 0, 0, "no UTC offset"},
    /* Unix seconds: 9 or 10 digits. */
    {"1735689600", 0, 0, A2025, NULL},
    {"100000000", 0, 0, 100000000, NULL}, /* 1973-03-03T09:46:40Z, the first 9 digits */
    {"999999999", 0, 0, 999999999, NULL},
    /* Shorter numbers are never a timestamp: a year, a count or an id would
     * otherwise be some instant of 1970. */
    {"0", 0, 0, 0, "is not a date or timestamp"},
    {"2025", 0, 0, 0, "is not a date or timestamp"},
    {"86400", 0, 0, 0, "is not a date or timestamp"},
    {"1234567", 0, 0, 0, "is not a date or timestamp"},        /* 7 digits */
    {"12345678901234", 0, 0, 0, "is not a date or timestamp"}, /* 14 digits */
    /* 9 digits and leading zeros: still a count of seconds. */
    {"000000001", 0, 0, 1, NULL},
    /* Eight digits: an ISO-8601 basic date, not Unix seconds (1970-08-23). */
    {"20250101", 0, 0, A2025, NULL},
    {"20240229", 0, 0, A2025 - 307 * DAY, NULL},
    {"20250229", 0, 0, 0, "YYYYMMDD"},
    {"99999999", 0, 0, 0, "YYYYMMDD"},
    {"\t1735689600 ", 0, 0, A2025, NULL},
    {"4102444799", 0, 0, TMAX - 1, NULL},
    {"4102444800", 0, 0, 0, "after 2099-12-31"},
    {"9999999999", 0, 0, 0, "after 2099-12-31"},
    {"1735689600000", 0, 0, 0,
     "looks like milliseconds: declare the unit (unit = ms in a [source])"}, /* 13 digits */
    {"17356896000", 0, 0, 0, "looks like milliseconds"},                     /* 11 digits */
    {"173568960000", 0, 0, 0, "looks like milliseconds"},                    /* 12 digits */
    {"-1", 0, 0, 0, "not a date"},
    {"+1735689600", 0, 0, 0, "not a date"},
    {"1735689600.5", 0, 0, 0, "not a date"},
    /* Impossible dates. */
    {"2025-02-29", 0, 0, 0, "impossible date"},
    {"2024-02-30", 0, 0, 0, "impossible date"},
    {"2097-02-29", 0, 0, 0, "impossible date"},
    {"2025-04-31", 0, 0, 0, "impossible date"},
    {"2025-13-01", 0, 0, 0, "impossible date"},
    {"2025-00-10", 0, 0, 0, "impossible date"},
    {"2025-01-32", 0, 0, 0, "impossible date"},
    {"2025-01-00", 0, 0, 0, "impossible date"},
    {"2025-02-29T00:00:00Z", 0, 0, 0, "impossible date"},
    /* Impossible times. */
    {"2025-01-01T24:00:00Z", 0, 0, 0, "impossible time"},
    {"2025-01-01T23:60:00Z", 0, 0, 0, "impossible time"},
    {"2025-01-01T23:59:60Z", 0, 0, 0, "impossible time"}, /* no leap seconds */
    {"2025-01-01T1:00:00Z", 0, 0, 0, "malformed time"},
    {"2025-01-01T", 0, 0, 0, "malformed time"},
    {"2025-01-01T12Z", 0, 0, 0, "malformed time"},
    {"2025-01-01T12:00:5Z", 0, 0, 0, "malformed seconds"},
    /* Malformed offsets. */
    {"2025-01-01T00:00:00+15:00", 0, 0, 0, "malformed UTC offset"},
    {"2025-01-01T00:00:00+02:60", 0, 0, 0, "malformed UTC offset"},
    {"2025-01-01T00:00:00+2", 0, 0, 0, "malformed UTC offset"},
    {"2025-01-01T00:00:00+", 0, 0, 0, "malformed UTC offset"},
    {"2025-01-01T00:00:00+02:0", 0, 0, 0, "malformed UTC offset"},
    /* Years and instants outside 1970..2100-01-01. */
    {"1969-12-31", 0, 0, 0, "year outside 1970-2099"},
    {"2100-01-01", 0, 0, 0, "year outside 1970-2099"},
    {"2100-02-29", 0, 0, 0, "year outside 1970-2099"},
    {"1900-02-29", 0, 0, 0, "year outside 1970-2099"},
    {"0000-01-01", 0, 0, 0, "year outside 1970-2099"},
    {"1970-01-01T00:00:00+01:00", 0, 0, 0, "outside 1970-2099"}, /* -3600 */
    {"2099-12-31T23:59:59-00:01", 0, 0, 0, "outside 1970-2099"}, /* TMAX + 59 */
    {"2099-12-31T23:00:00-01:00", 0, 0, 0, "outside 1970-2099"}, /* exactly TMAX */
    {"2099-12-31T23:00:00-00:59", 0, 0, TMAX - 60, NULL},
    /* Garbage, empty, trailing characters. */
    {"", 0, 0, 0, "is empty"},
    {"   ", 0, 0, 0, "is empty"},
    {"\t \t", 0, 1, 0, "is empty"},
    {"abc", 0, 0, 0, "not a date"},
    {"2025/01/01", 0, 0, 0, "not a date"},
    {"25-01-01", 0, 0, 0, "not a date"},
    {"2025-1-1", 0, 0, 0, "not a date"},
    {"2025-01", 0, 0, 0, "not a date"},
    {"2025-01-01x", 0, 0, 0, "trailing characters after the date"},
    {"2025-01-01\n", 0, 0, 0, "trailing characters after the date"},
    {"2025-01-01\0", 11, 0, 0, "trailing characters after the date"},
    {"2025-01-01T00:00:00 Z", 0, 0, 0, "trailing characters after the time"},
    {"2025-01-01T00:00:00Q", 0, 0, 0, "trailing characters after the time"},
    {"2025-01-01T00:00:00Zx", 0, 0, 0, "trailing characters after the UTC offset"},
    {"2025-01-01T00:00:00+02:00:00", 0, 0, 0, "trailing characters after the UTC offset"},
    /* Only len bytes are read: the input need not be NUL-terminated. */
    {"2025-01-01T00:00:00Zjunk", 20, 0, A2025, NULL},
    {"1735689600999", 10, 0, A2025, NULL},
    {"2025-01-01T00:00:00", 10, 0, A2025, NULL},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof parse_cases / sizeof parse_cases[0]; k++) {
        const parse_case *c = &parse_cases[k];
        size_t len = c->len ? c->len : strlen(c->in);
        int64_t got = -12345;
        const char *why = NULL;
        cw_status s = cw_time_parse(c->in, len, c->naive_utc ? CW_TIME_NAIVE_UTC : 0, &got, &why);
        if (!c->why) {
            if (s != CW_OK)
                fail_msg("case %zu '%s' (naive %d): rejected (%s), want %lld", k, c->in,
                         c->naive_utc, why ? why : "?", (long long)c->want);
            if (got != c->want)
                fail_msg("case %zu '%s': got %lld, want %lld", k, c->in, (long long)got,
                         (long long)c->want);
        } else {
            if (s != CW_ERR_INPUT)
                fail_msg("case %zu '%s' (naive %d): status %d (value %lld), want CW_ERR_INPUT", k,
                         c->in, c->naive_utc, (int)s, (long long)got);
            if (!why || !strstr(why, c->why))
                fail_msg("case %zu '%s': reason '%s' lacks '%s'", k, c->in, why ? why : "(null)",
                         c->why);
        }
    }
}

/* A naive timestamp's value does not depend on how it was accepted, and a
 * timestamp with an offset parses the same in both modes. */
static void test_parse_naive_modes_agree(void **state)
{
    (void)state;
    static const char *with_offset[] = {"2025-06-15T10:20:30Z", "2025-06-15T10:20:30+03:00",
                                        "1750000000", "2025-06-15"};
    for (size_t k = 0; k < sizeof with_offset / sizeof with_offset[0]; k++) {
        int64_t a = -1, b = -2;
        assert_int_equal(cw_time_parse(with_offset[k], strlen(with_offset[k]), 0, &a, NULL), CW_OK);
        assert_int_equal(
            cw_time_parse(with_offset[k], strlen(with_offset[k]), CW_TIME_NAIVE_UTC, &b, NULL),
            CW_OK);
        assert_int_equal(a, b);
    }
    int64_t naive = -1, zulu = -2;
    assert_int_equal(cw_time_parse("2025-06-15T10:20:30", 19, CW_TIME_NAIVE_UTC, &naive, NULL),
                     CW_OK);
    assert_int_equal(cw_time_parse("2025-06-15T10:20:30Z", 20, 0, &zulu, NULL), CW_OK);
    assert_int_equal(naive, zulu);
}

static void test_parse_why_may_be_null(void **state)
{
    (void)state;
    int64_t t = 7;
    assert_int_equal(cw_time_parse("nonsense", 8, CW_TIME_NAIVE_UTC, &t, NULL), CW_ERR_INPUT);
    assert_int_equal(cw_time_parse("", 0, CW_TIME_NAIVE_UTC, &t, NULL), CW_ERR_INPUT);
    assert_int_equal(cw_time_parse("2025-02-29", 10, CW_TIME_NAIVE_UTC, &t, NULL), CW_ERR_INPUT);
}

typedef struct format_case {
    int64_t t;
    int date_only;
    const char *want;
} format_case;

static const format_case format_cases[] = {
    {0, 0, "1970-01-01T00:00:00Z"},
    {0, 1, "1970-01-01"},
    {86399, 0, "1970-01-01T23:59:59Z"},
    {A2025, 0, "2025-01-01T00:00:00Z"},
    {A2025, 1, "2025-01-01"},
    {A2025 + 45296, 0, "2025-01-01T12:34:56Z"},
    {A2025 + 45296, 1, "2025-01-01"},
    {A2025 - 306 * DAY - 1, 0, "2024-02-29T23:59:59Z"},
    {951782400, 1, "2000-02-29"},
    {951868800, 1, "2000-03-01"},
    {TMAX - 1, 0, "2099-12-31T23:59:59Z"},
    {TMAX, 1, "2100-01-01"},
    {-1, 0, "1969-12-31T23:59:59Z"},
    {-DAY, 1, "1969-12-31"},
};

static void test_format_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof format_cases / sizeof format_cases[0]; k++) {
        const format_case *c = &format_cases[k];
        char buf[32];
        memset(buf, 'x', sizeof buf);
        char *r =
            cw_time_format(c->t, c->date_only ? CW_TIME_DATE : CW_TIME_TIMESTAMP, buf, sizeof buf);
        assert_ptr_equal(r, buf);
        if (strcmp(buf, c->want) != 0)
            fail_msg("format(%lld, %d) = '%s', want '%s'", (long long)c->t, c->date_only, buf,
                     c->want);
    }
}

static void test_format_truncates_to_buffer(void **state)
{
    (void)state;
    char buf[8];
    assert_ptr_equal(cw_time_format(A2025, CW_TIME_TIMESTAMP, buf, sizeof buf), buf);
    assert_string_equal(buf, "2025-01");
    char one[1] = {'x'};
    cw_time_format(A2025, CW_TIME_DATE, one, sizeof one);
    assert_int_equal(one[0], '\0');
}

/* format → parse is the identity across the whole accepted range. */
static void test_format_parse_round_trip(void **state)
{
    (void)state;
    char buf[32];
    int64_t n = 0;
    for (int64_t t = 0; t < TMAX; t += 262861) { /* 3 days + 1 h 1 min 1 s: walks every field */
        int64_t back = -1;
        cw_time_format(t, CW_TIME_TIMESTAMP, buf, sizeof buf);
        if (cw_time_parse(buf, strlen(buf), 0, &back, NULL) != CW_OK || back != t)
            fail_msg("round trip of %lld via '%s' gave %lld", (long long)t, buf, (long long)back);
        cw_time_format(t, CW_TIME_DATE, buf, sizeof buf);
        if (cw_time_parse(buf, strlen(buf), 0, &back, NULL) != CW_OK || back != t - t % DAY)
            fail_msg("date round trip of %lld via '%s' gave %lld", (long long)t, buf,
                     (long long)back);
        n++;
    }
    assert_true(n > 15000);
    /* The ends of the range. */
    int64_t back = -1;
    cw_time_format(TMAX - 1, CW_TIME_TIMESTAMP, buf, sizeof buf);
    assert_int_equal(cw_time_parse(buf, strlen(buf), 0, &back, NULL), CW_OK);
    assert_int_equal(back, TMAX - 1);
    cw_time_format(TMAX, CW_TIME_TIMESTAMP, buf, sizeof buf);
    assert_string_equal(buf, "2100-01-01T00:00:00Z");
    assert_int_equal(cw_time_parse(buf, strlen(buf), 0, &back, NULL), CW_ERR_INPUT);
    assert_int_equal(cw_time_parse("4102444800", 10, 0, &back, NULL), CW_ERR_INPUT);
}

/* Every day 1970-01-01 .. 2099-12-31: the formatted date parses back to the
 * same day and agrees with cw_days_from_civil, and days are consecutive. */
static void test_every_day_round_trips(void **state)
{
    (void)state;
    char buf[16];
    for (int64_t d = 0; d < TMAX / DAY; d++) {
        cw_time_format(d * DAY, CW_TIME_DATE, buf, sizeof buf);
        int64_t back = -1;
        if (cw_time_parse(buf, strlen(buf), 0, &back, NULL) != CW_OK || back != d * DAY)
            fail_msg("day %lld formatted as '%s' parsed as %lld", (long long)d, buf,
                     (long long)back);
        unsigned y = (unsigned)(buf[0] - '0') * 1000 + (unsigned)(buf[1] - '0') * 100 +
                     (unsigned)(buf[2] - '0') * 10 + (unsigned)(buf[3] - '0');
        unsigned m = (unsigned)(buf[5] - '0') * 10 + (unsigned)(buf[6] - '0');
        unsigned dd = (unsigned)(buf[8] - '0') * 10 + (unsigned)(buf[9] - '0');
        assert_int_equal(cw_days_from_civil(y, m, dd), d);
    }
}

typedef struct civil_case {
    int64_t y;
    unsigned m, d;
    int64_t want;
} civil_case;

static const civil_case civil_cases[] = {
    {1970, 1, 1, 0},      {1970, 1, 2, 1},
    {1969, 12, 31, -1},   {1972, 2, 29, 789},  /* 730 + 31 + 28 */
    {1972, 3, 1, 790},    {2000, 1, 1, 10957}, /* 30*365 + 7 leap days */
    {2000, 2, 29, 11016},                      /* + 31 + 28 */
    {2000, 3, 1, 11017},  {2024, 2, 29, 19782},
    {2025, 1, 1, 20089},  {2100, 1, 1, 47482}, /* 130*365 + 32 */
    {2100, 2, 28, 47540},                      /* + 31 + 27 */
    {2100, 3, 1, 47541},                       /* 2100 is not a leap year */
    {1900, 1, 1, -25567},                      /* -(70*365 + 17) */
    {1900, 3, 1, -25508},                      /* 1900 is not a leap year either */
    {0, 3, 1, -719468},                        /* the algorithm's own epoch */
};

static void test_days_from_civil(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof civil_cases / sizeof civil_cases[0]; k++) {
        const civil_case *c = &civil_cases[k];
        int64_t got = cw_days_from_civil(c->y, c->m, c->d);
        if (got != c->want)
            fail_msg("days_from_civil(%lld-%u-%u) = %lld, want %lld", (long long)c->y, c->m, c->d,
                     (long long)got, (long long)c->want);
    }
}

/* The Gregorian leap rule: every 4th year, except centuries, except every 400th. */
static void test_leap_rule(void **state)
{
    (void)state;
    static const struct {
        int64_t y;
        int leap;
    } years[] = {{1900, 0}, {1970, 0}, {1972, 1}, {2000, 1}, {2023, 0},
                 {2024, 1}, {2025, 0}, {2096, 1}, {2100, 0}, {2400, 1}};
    for (size_t k = 0; k < sizeof years / sizeof years[0]; k++) {
        int64_t feb = cw_days_from_civil(years[k].y, 3, 1) - cw_days_from_civil(years[k].y, 2, 1);
        if (feb != 28 + years[k].leap)
            fail_msg("February %lld has %lld days", (long long)years[k].y, (long long)feb);
        int64_t year =
            cw_days_from_civil(years[k].y + 1, 1, 1) - cw_days_from_civil(years[k].y, 1, 1);
        assert_int_equal(year, 365 + years[k].leap);
    }
}

/* Civil-month arithmetic (cw_add_months, cw_next_anniversary), by hand:
 * the day of month is clamped to the target month, and anniversaries keep
 * counting from the anchor (not from the clamped day). */
static void test_months_and_anniversaries(void **state)
{
    (void)state;
#define D(y, m, d) cw_days_from_civil(y, m, d)
    assert_int_equal(cw_add_months(D(2025, 1, 31), 1), D(2025, 2, 28));
    assert_int_equal(cw_add_months(D(2024, 1, 31), 1), D(2024, 2, 29));
    assert_int_equal(cw_add_months(D(2024, 2, 29), 12), D(2025, 2, 28));
    assert_int_equal(cw_add_months(D(2025, 11, 15), 3), D(2026, 2, 15));
    assert_int_equal(cw_add_months(D(2025, 3, 31), -1), D(2025, 2, 28));
    /* monthly from Jan 31: Feb 28, then Mar 31 again */
    assert_int_equal(cw_next_anniversary(D(2025, 1, 31), 1, D(2025, 2, 1)), D(2025, 2, 28));
    assert_int_equal(cw_next_anniversary(D(2025, 1, 31), 1, D(2025, 3, 1)), D(2025, 3, 31));
    /* the anchor day itself, and days before it, answer the anchor */
    assert_int_equal(cw_next_anniversary(D(2025, 6, 10), 12, D(2025, 6, 10)), D(2025, 6, 10));
    assert_int_equal(cw_next_anniversary(D(2025, 6, 10), 12, D(2025, 1, 1)), D(2025, 6, 10));
    /* annual: the day after one renewal is a year from the next */
    assert_int_equal(cw_next_anniversary(D(2023, 6, 10), 12, D(2025, 6, 11)), D(2026, 6, 10));
    /* quarterly, many terms later */
    assert_int_equal(cw_next_anniversary(D(2020, 8, 31), 3, D(2025, 12, 1)), D(2026, 2, 28));
#undef D
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_naive_modes_agree),
        cmocka_unit_test(test_parse_why_may_be_null),
        cmocka_unit_test(test_format_table),
        cmocka_unit_test(test_format_truncates_to_buffer),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_every_day_round_trips),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_leap_rule),
        cmocka_unit_test(test_months_and_anniversaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
