/*
 * time.c — strict, locale-free parsing and formatting of the timestamps
 * found in exports: ISO-8601 dates and date-times with a UTC offset, and
 * Unix seconds (9 or 10 digits; shorter numbers and milliseconds are
 * errors, never silently some instant of 1970). Everything becomes UTC Unix seconds. No libc time
 * zone code is involved (timegm/strptime depend on the environment and accept impossible dates);
 * calendar arithmetic uses Howard Hinnant's days-from-civil algorithm.
 */
#include "core/util.h"

#include <stdio.h>

int64_t cw_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t cw_add_months(int64_t from, int64_t months)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y;
    unsigned m, d;
    civil_from_days(from, &y, &m, &d);
    int64_t k = (int64_t)m - 1 + months;
    y += k / 12;
    m = (unsigned)(k % 12) + 1;
    unsigned last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return cw_days_from_civil(y, m, d < last ? d : last);
}

int64_t cw_next_anniversary(int64_t anchor, int term_months, int64_t d)
{
    /* a term is at most 31·term_months days: start no later than the answer */
    int64_t k = d > anchor ? (d - anchor) / (31 * term_months) : 0;
    int64_t next = cw_add_months(anchor, k * term_months);
    while (next < d)
        next = cw_add_months(anchor, ++k * term_months);
    return next;
}

static int days_in_month(int64_t y, unsigned m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* Reads exactly n digits at *p, advancing it. Returns -1 when not digits. */
static int digits(const char **p, const char *end, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || **p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

/* First instant not accepted: 2100-01-01T00:00:00Z. The range is the years
 * 1970-2099 whichever way the instant is written, so everything accepted
 * formats (cw_time_format) to text that parses back to it. */
#define CW_TIME_MAX 4102444800LL

/* Text of digits only, [p, end): an ISO-8601 basic date (8 digits) or Unix
 * seconds (9 or 10 digits). */
static cw_status parse_number(const char *p, const char *end, int64_t *out, const char **why)
{
    if (end - p == 8) {
        /* Eight digits are an ISO-8601 basic date (20250101), never Unix
         * seconds: those have 9 or 10 digits for any date after 1973. */
        const char *d = p;
        int y = digits(&d, end, 4), mo = digits(&d, end, 2), dd = digits(&d, end, 2);
        if (y < 1970 || y > 2099 || mo < 1 || mo > 12 || dd < 1 ||
            dd > days_in_month(y, (unsigned)mo)) {
            *why = "is not a date (8 digits are read as YYYYMMDD)";
            return CW_ERR_INPUT;
        }
        *out = cw_days_from_civil(y, (unsigned)mo, (unsigned)dd) * 86400;
        return CW_OK;
    }
    /* Unix seconds have 9 or 10 digits (1973-03-03 .. 2099); shorter
     * numbers are a year, a count or an id, never a timestamp (2025
     * would silently be 1970-01-01T00:33:45Z), and 11-13 digits are
     * milliseconds, whose unit must be declared. */
    if (end - p >= 11 && end - p <= 13) {
        *why = "looks like milliseconds: declare the unit (unit = ms in a [source])";
        return CW_ERR_INPUT;
    }
    if (end - p < 9 || end - p > 13) {
        *why = "is not a date or timestamp (Unix seconds have 9 or 10 digits)";
        return CW_ERR_INPUT;
    }
    int64_t v = 0;
    for (const char *q = p; q < end; q++)
        v = v * 10 + (*q - '0');
    if (v >= CW_TIME_MAX) {
        *why = "is after 2099-12-31";
        return CW_ERR_INPUT;
    }
    *out = v;
    return CW_OK;
}

/* "YYYY-MM-DD" at *p (advanced past it) as the Unix seconds of its
 * midnight in *t. */
static cw_status parse_date(const char **pp, const char *end, int64_t *t, const char **why)
{
    const char *p = *pp;
    int y = digits(&p, end, 4);
    if (y < 0 || p >= end || *p != '-') {
        *why = "is not a date (expected YYYY-MM-DD[THH:MM:SS±hh:mm] or Unix seconds)";
        return CW_ERR_INPUT;
    }
    p++;
    int mo = digits(&p, end, 2);
    if (mo < 0 || p >= end || *p != '-') {
        *why = "is not a date (expected YYYY-MM-DD)";
        return CW_ERR_INPUT;
    }
    p++;
    int d = digits(&p, end, 2);
    if (d < 0) {
        *why = "is not a date (expected YYYY-MM-DD)";
        return CW_ERR_INPUT;
    }
    if (y < 1970 || y > 2099) {
        *why = "has a year outside 1970-2099";
        return CW_ERR_INPUT;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (unsigned)mo)) {
        *why = "is an impossible date";
        return CW_ERR_INPUT;
    }
    *t = cw_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400;
    *pp = p;
    return CW_OK;
}

/* "HH:MM[:SS[.fff]]" at *p (advanced past it) as seconds of the day in
 * *secs; fractional seconds are read and dropped. */
static cw_status parse_clock(const char **pp, const char *end, int64_t *secs, const char **why)
{
    const char *p = *pp;
    int hh = digits(&p, end, 2), mm = -1, ss = 0;
    if (hh >= 0 && p < end && *p == ':') {
        p++;
        mm = digits(&p, end, 2);
    }
    if (hh < 0 || mm < 0) {
        *why = "has a malformed time (expected HH:MM[:SS])";
        return CW_ERR_INPUT;
    }
    if (p < end && *p == ':') {
        p++;
        ss = digits(&p, end, 2);
        if (ss < 0) {
            *why = "has malformed seconds";
            return CW_ERR_INPUT;
        }
        if (p < end && (*p == '.' || *p == ',')) {
            p++;
            const char *f = p;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            if (p == f || p - f > 9) {
                *why = "has malformed fractional seconds";
                return CW_ERR_INPUT;
            }
        }
    }
    if (hh > 23 || mm > 59 || ss > 59) {
        *why = "is an impossible time of day";
        return CW_ERR_INPUT;
    }
    *secs = hh * 3600 + mm * 60 + ss;
    *pp = p;
    return CW_OK;
}

/* The UTC offset that ends [p, end): "Z", "±hh:mm", "±hhmm", "±hh", or
 * nothing (UTC with CW_TIME_NAIVE_UTC, else an error), as seconds east of
 * UTC in *east. */
static cw_status parse_offset(const char *p, const char *end, unsigned flags, int64_t *east,
                              const char **why)
{
    *east = 0;
    if (p == end) {
        if (!(flags & CW_TIME_NAIVE_UTC)) {
            *why = "has no UTC offset (append Z or +hh:mm)";
            return CW_ERR_INPUT;
        }
    } else if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh = digits(&p, end, 2), om = 0;
        if (oh >= 0 && p < end) {
            if (*p == ':')
                p++;
            om = digits(&p, end, 2);
        }
        if (oh < 0 || om < 0 || oh > 14 || om > 59) {
            *why = "has a malformed UTC offset";
            return CW_ERR_INPUT;
        }
        *east = sign * (oh * 3600 + om * 60);
    } else {
        *why = "has trailing characters after the time";
        return CW_ERR_INPUT;
    }
    if (p != end) {
        *why = "has trailing characters after the UTC offset";
        return CW_ERR_INPUT;
    }
    return CW_OK;
}

cw_status cw_time_parse(const char *s, size_t len, unsigned flags, int64_t *out, const char **why)
{
    const char *p = s, *end = s + len;
    const char *dummy;
    if (!why)
        why = &dummy;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (p == end) {
        *why = "is empty";
        return CW_ERR_INPUT;
    }
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    if (q == end)
        return parse_number(p, end, out, why);
    int64_t t, secs, east;
    cw_status st = parse_date(&p, end, &t, why);
    if (st != CW_OK)
        return st;
    if (p == end) {
        *out = t;
        return CW_OK;
    }
    if (*p != 'T' && *p != 't' && *p != ' ') {
        *why = "has trailing characters after the date";
        return CW_ERR_INPUT;
    }
    p++;
    if ((st = parse_clock(&p, end, &secs, why)) != CW_OK ||
        (st = parse_offset(p, end, flags, &east, why)) != CW_OK)
        return st;
    t += secs - east;
    if (t < 0 || t >= CW_TIME_MAX) {
        *why = "is outside 1970-2099";
        return CW_ERR_INPUT;
    }
    *out = t;
    return CW_OK;
}

char *cw_time_format(int64_t t, cw_time_layout layout, char *buf, size_t n)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sec = t - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (layout == CW_TIME_DATE)
        snprintf(buf, n, "%04lld-%02u-%02u", (long long)y, m, d);
    else
        snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(sec / 3600),
                 (int)(sec / 60 % 60), (int)(sec % 60));
    return buf;
}

int cw_month_of(int64_t ts_unix)
{
    int64_t days = ts_unix >= 0 ? ts_unix / 86400 : -((-ts_unix + 86399) / 86400), y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    return (int)(y * 12 + m - 1);
}

int64_t cw_month_start_unix(int month)
{
    return cw_days_from_civil(month / 12, (unsigned)(month % 12 + 1), 1) * 86400;
}
