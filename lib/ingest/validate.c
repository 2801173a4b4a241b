/*
 * validate.c — turns the text of one field into a typed value, or into a
 * reason the row is rejected. Every input path (CSV, JSON Lines, the HTTP
 * API later) goes through here, so one set of rules decides what is valid.
 * Numbers are parsed with strtoll/strtod on a bounded, NUL-terminated copy
 * (fields are not NUL-terminated in the read buffer), and rejected unless
 * the whole field is consumed.
 */
#include "core/util.h"
#include "ingest/validate.h"
#include "ingest/periods.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies a field into a NUL-terminated buffer, trimming blanks. Returns 0
 * when it does not fit (no number needs 63 characters). */
static int tmpcopy(char *dst, size_t n, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len + 1 > n)
        return 0;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 1;
}

static int parse_int(const char *s, size_t len, int64_t *out)
{
    char tmp[64], *end;
    if (!tmpcopy(tmp, sizeof tmp, s, len) || !tmp[0])
        return 0;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int parse_real(const char *s, size_t len, double *out)
{
    char tmp[64], *end;
    if (!tmpcopy(tmp, sizeof tmp, s, len) || !tmp[0])
        return 0;
    errno = 0;
    double v = strtod(tmp, &end);
    if (errno == ERANGE || *end || !isfinite(v))
        return 0;
    /* strtod accepts hex floats and "inf"/"nan"; exports never mean those. */
    for (const char *c = tmp; *c; c++)
        if (*c == 'x' || *c == 'X' || *c == 'n' || *c == 'N' || *c == 'i' || *c == 'I')
            return 0;
    *out = v;
    return 1;
}

static int enum_index(const char *values, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    int i = 0;
    for (const char *a = values; a && *a; i++) {
        const char *bar = strchr(a, '|');
        size_t alen = bar ? (size_t)(bar - a) : strlen(a);
        if (alen == len && strncasecmp(a, s, len) == 0)
            return i;
        a = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Drops the blanks around s[0..*len): returns the new start, *len the new length. */
static const char *trim(const char *s, size_t *len)
{
    while (*len && (*s == ' ' || *s == '\t'))
        s++, (*len)--;
    while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

int cw_validate_field(const cw_field_def *f, const char *s, size_t len, int naive_utc,
                      cw_value *out, char *why, size_t whysz)
{
    memset(out, 0, sizeof *out);
    size_t tl = len;
    const char *ts = trim(s, &tl);
    if (tl == 0) {
        if ((f->flags & CW_FD_DEFAULT) && f->type == CW_F_ENUM) {
            out->present = 1; /* out->i = 0: the first enum value */
            return 1;
        }
        if (f->flags & CW_FD_REQUIRED) {
            snprintf(why, whysz, "is required");
            return 0;
        }
        return 1;
    }
    out->present = 1;
    out->s = ts;
    out->len = tl;
    const char *bad;
    switch (f->type) {
    case CW_F_ID:
    case CW_F_REF_ACCOUNT:
    case CW_F_REF_USER:
        if (tl > 128) {
            snprintf(why, whysz, "is longer than 128 bytes");
            return 0;
        }
        if ((bad = cw_utf8_check(ts, tl, 0)) != NULL) {
            snprintf(why, whysz, "%s", bad);
            return 0;
        }
        return 1;
    case CW_F_TEXT:
        if (f->max && tl > (size_t)f->max) {
            snprintf(why, whysz, "is longer than %lld bytes", (long long)f->max);
            return 0;
        }
        if ((bad = cw_utf8_check(ts, tl, 1)) != NULL) {
            snprintf(why, whysz, "%s", bad);
            return 0;
        }
        return 1;
    case CW_F_EMAIL: {
        if (f->max && tl > (size_t)f->max) {
            snprintf(why, whysz, "is longer than %lld bytes", (long long)f->max);
            return 0;
        }
        if ((bad = cw_utf8_check(ts, tl, 0)) != NULL) {
            snprintf(why, whysz, "%s", bad);
            return 0;
        }
        const char *at = memchr(ts, '@', tl);
        int ok = at && at > ts && at < ts + tl - 1 &&
                 !memchr(at + 1, '@', tl - (size_t)(at - ts) - 1) && !memchr(ts, ' ', tl) &&
                 memchr(at, '.', tl - (size_t)(at - ts));
        if (!ok) {
            snprintf(why, whysz, "is not an e-mail address");
            return 0;
        }
        return 1;
    }
    case CW_F_INT:
    case CW_F_MONEY:
        if (!parse_int(ts, tl, &out->i)) {
            double d;
            if (f->type == CW_F_MONEY && parse_real(ts, tl, &d))
                snprintf(why, whysz,
                         "must be an integer amount in minor units (cents), got '%.*s' (for major "
                         "units name the column %.*s_major)",
                         (int)(tl > 40 ? 40 : tl), ts,
                         (int)(strlen(f->name) > 6 ? strlen(f->name) - 6 : strlen(f->name)),
                         f->name);
            else
                snprintf(why, whysz, "is not an integer: '%.*s'", (int)(tl > 40 ? 40 : tl), ts);
            return 0;
        }
        if (out->i < f->min || out->i > f->max) {
            if (out->i < 0 && f->min >= 0)
                snprintf(why, whysz, "must not be negative (%lld)", (long long)out->i);
            else
                snprintf(why, whysz, "is %lld, outside %lld..%lld", (long long)out->i,
                         (long long)f->min, (long long)f->max);
            return 0;
        }
        return 1;
    case CW_F_REAL:
        if (!parse_real(ts, tl, &out->d)) {
            snprintf(why, whysz, "is not a number: '%.*s'", (int)(tl > 40 ? 40 : tl), ts);
            return 0;
        }
        /* "-0.00" is zero: SQLite keeps no sign on a stored zero and
         * PostgreSQL does, and a metric's ratio (0 / negative) would keep
         * it, so both stores get +0. */
        if (out->d == 0)
            out->d = 0;
        return 1;
    case CW_F_CURRENCY:
        if (tl != 3 || ts[0] < 'A' || ts[0] > 'Z' || ts[1] < 'A' || ts[1] > 'Z' || ts[2] < 'A' ||
            ts[2] > 'Z') {
            snprintf(why, whysz, "is not an ISO-4217 currency code (three capitals, e.g. USD)");
            return 0;
        }
        return 1;
    case CW_F_DATE:
    case CW_F_TS: {
        const char *reason = NULL;
        if (cw_time_parse(ts, tl, naive_utc ? CW_TIME_NAIVE_UTC : 0, &out->i, &reason) != CW_OK) {
            snprintf(why, whysz, "'%.*s' %s", (int)(tl > 40 ? 40 : tl), ts, reason);
            return 0;
        }
        return 1;
    }
    case CW_F_ENUM: {
        int k = enum_index(f->enum_values, ts, tl);
        if (k < 0) {
            snprintf(why, whysz, "'%.*s' is not one of %s", (int)(tl > 40 ? 40 : tl), ts,
                     f->enum_values);
            return 0;
        }
        out->i = k;
        return 1;
    }
    case CW_F_BOOL: {
        int k = enum_index("false|true|no|yes|0|1|n|y|f|t", ts, tl);
        if (k < 0) {
            snprintf(why, whysz, "is not a boolean (true/false, yes/no, 1/0)");
            return 0;
        }
        out->i = k & 1;
        return 1;
    }
    }
    snprintf(why, whysz, "has an unknown type");
    return 0;
}

/* Index of the field named name in kd (canonical name), or -1. */
static int fidx(const cw_kind_def *kd, const char *name)
{
    for (int i = 0; i < kd->nfields; i++)
        if (strcmp(kd->fields[i].name, name) == 0)
            return i;
    return -1;
}

#define FAIL(fname, ...)                                                                           \
    do {                                                                                           \
        *field = fidx(kd, fname);                                                                  \
        snprintf(why, whysz, __VA_ARGS__);                                                         \
        return 0;                                                                                  \
    } while (0)
#define V(name) (&v[fidx(kd, name)])

int cw_validate_row(const cw_kind_def *kd, const cw_value *v, int *field, char *why, size_t whysz)
{
    switch (kd->kind) {
    case CW_KIND_ACCOUNTS: {
        const cw_value *st = V("status"), *cd = V("churn_date"), *cs = V("contract_start");
        const cw_value *rd = V("renewal_date");
        if (st->i == 1 && !cd->present)
            FAIL("churn_date", "is required when status is churned");
        if (cd->present && cd->i < cs->i)
            FAIL("churn_date", "is before contract_start");
        if (rd->present && rd->i < cs->i)
            FAIL("renewal_date", "is before contract_start");
        return 1;
    }
    case CW_KIND_USERS: {
        const cw_value *p = V("provisioned_at"), *d = V("deactivated_at");
        if (d->present && d->i < p->i)
            FAIL("deactivated_at", "is before provisioned_at");
        return 1;
    }
    case CW_KIND_FEATURES:
        if (V("milestone_due_day")->present && !V("milestone")->present)
            FAIL("milestone", "is required when milestone_due_day is given");
        return 1;
    case CW_KIND_TICKETS: {
        const cw_value *o = V("opened_at"), *c = V("closed_at");
        if (c->present && c->i < o->i)
            FAIL("closed_at", "is before opened_at");
        return 1;
    }
    case CW_KIND_SURVEYS: {
        const cw_value *type = V("type"), *score = V("score"), *sent = V("sent_at"),
                       *resp = V("responded_at");
        if (!sent->present && !resp->present)
            FAIL("responded_at", "is required when sent_at is empty");
        if (sent->present && resp->present && resp->i < sent->i)
            FAIL("responded_at", "is before sent_at");
        if (type->i == 0 && resp->present && !score->present)
            FAIL("score", "is required for an answered NPS survey (0-10)");
        if (type->i == 1 && resp->present && !score->present)
            FAIL("score", "is required for an answered CSAT survey (1-5)");
        if (type->i == 1 && score->present && (score->i < 1 || score->i > 5))
            FAIL("score", "must be 1-5 for a CSAT survey, got %lld", (long long)score->i);
        if (score->present && !resp->present)
            FAIL("responded_at", "is required when a score is given");
        if (type->i == 2 && score->present)
            FAIL("score", "must be empty for an exit survey");
        return 1;
    }
    case CW_KIND_GOALS: {
        const cw_value *s = V("start_date"), *t = V("target_date");
        if (t->i <= s->i)
            FAIL("target_date", "must be after start_date");
        if (V("target")->d == V("baseline")->d)
            FAIL("target", "equals baseline: nothing to attain");
        return 1;
    }
    case CW_KIND_JOURNEY:
        if (V("cost_minor")->present && !V("currency")->present)
            FAIL("currency", "is required when cost_minor is given");
        return 1;
    case CW_KIND_SUBSCRIPTION_PERIODS: {
        const cw_value *a = &v[CW_SP_START], *e = &v[CW_SP_END];
        if (e->present && e->i <= a->i)
            FAIL("period_end", "must be after period_start");
        int64_t mrr;
        /* The MRR is computed again when deriving; computing it here reports
         * an impossible price (discount above the amount, …) at its line. */
        return cw_period_mrr(v, &mrr, field, why, whysz);
    }
    default: return 1;
    }
}

int cw_money_parse_major(const char *s, size_t len, const char *currency, int64_t *out, char *why,
                         size_t whysz)
{
    int exp = cw_currency_exponent(currency);
    size_t i = 0, n = len;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '(')) {
        neg = 1;
        i++;
        if (s[i - 1] == '(') {
            if (n == i || s[n - 1] != ')')
                goto bad;
            n--;
        }
    }
    /* An optional currency sign or code before the number: "$", "€", "£",
     * "¥", "USD ", "US$". */
    while (i < n && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') {
        if (s[i] == '-' && !neg) {
            neg = 1;
            i++;
            continue;
        }
        if ((unsigned char)s[i] < 0x80 &&
            !(s[i] == '$' || s[i] == ' ' || (s[i] >= 'A' && s[i] <= 'Z')))
            goto bad;
        i++;
    }
    /* …and after it: "120 USD", "120 €". */
    while (n > i && !(s[n - 1] >= '0' && s[n - 1] <= '9') && s[n - 1] != '.') {
        if ((unsigned char)s[n - 1] < 0x80 &&
            !(s[n - 1] == ' ' || (s[n - 1] >= 'A' && s[n - 1] <= 'Z')))
            goto bad;
        n--;
    }
    if (i >= n)
        goto bad;
    int64_t units = 0;
    int digits = 0, frac = -1, group = -1;
    for (size_t k = i; k < n; k++) {
        char c = s[k];
        if (c >= '0' && c <= '9') {
            if (frac >= 0) {
                if (frac >= exp) {
                    if (c != '0') {
                        snprintf(why, whysz, "'%.*s' has more decimals than %s's %d",
                                 (int)(len > 40 ? 40 : len), s,
                                 currency ? currency : "the currency", exp);
                        return 0;
                    }
                    continue;
                }
                frac++;
            }
            if (group >= 0)
                group++;
            if (__builtin_mul_overflow(units, 10, &units) ||
                __builtin_add_overflow(units, c - '0', &units))
                goto range;
            digits++;
        } else if (c == ',' && frac < 0) {
            /* A thousands separator: groups of exactly three digits. */
            if (digits == 0 || (group >= 0 && group != 3))
                goto bad;
            group = 0;
        } else if (c == '.' && frac < 0) {
            if (group >= 0 && group != 3)
                goto bad;
            group = -1;
            frac = 0;
        } else {
            goto bad;
        }
    }
    if (digits == 0 || (group >= 0 && group != 3))
        goto bad;
    for (int k = frac < 0 ? 0 : frac; k < exp; k++)
        if (__builtin_mul_overflow(units, 10, &units))
            goto range;
    *out = neg ? -units : units;
    return 1;
bad:
    snprintf(why, whysz, "'%.*s' is not an amount of money", (int)(len > 40 ? 40 : len), s);
    return 0;
range:
    snprintf(why, whysz, "'%.*s' is too large", (int)(len > 40 ? 40 : len), s);
    return 0;
}

int cw_validate_money_major(const cw_field_def *f, const char *s, size_t len, const char *currency,
                            cw_value *out, char *why, size_t whysz)
{
    memset(out, 0, sizeof *out);
    size_t tl = len;
    const char *ts = trim(s, &tl);
    if (tl == 0) {
        if (f->flags & CW_FD_REQUIRED) {
            snprintf(why, whysz, "is required");
            return 0;
        }
        return 1;
    }
    out->present = 1;
    out->s = ts;
    out->len = tl;
    if (!cw_money_parse_major(ts, tl, currency, &out->i, why, whysz))
        return 0;
    if (out->i < f->min || out->i > f->max) {
        if (out->i < 0 && f->min >= 0)
            snprintf(why, whysz, "must not be negative ('%.*s')", (int)(tl > 40 ? 40 : tl), ts);
        else
            snprintf(why, whysz, "'%.*s' is outside the accepted range", (int)(tl > 40 ? 40 : tl),
                     ts);
        return 0;
    }
    return 1;
}
