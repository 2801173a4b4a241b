/*
 * test_validate.c — cw_validate_field for every field type and
 * cw_validate_row's cross-field rules for every kind that has them.
 *
 * Field definitions are the real ones from the data model (cw_kind_get,
 * looked up by name), so a change to a bound or an enum in schema.c shows up
 * here. Each case states the text, whether it is valid, the value it must
 * produce, or words the reason must contain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "ingest/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The field of kind k named name (canonical); fails the test when missing. */
static const cw_field_def *field_def(cw_kind k, const char *name, int *index)
{
    const cw_kind_def *kd = cw_kind_get(k);
    assert_non_null(kd);
    for (int i = 0; i < kd->nfields; i++)
        if (strcmp(kd->fields[i].name, name) == 0) {
            if (index)
                *index = i;
            return &kd->fields[i];
        }
    fail_msg("kind %s has no field '%s'", kd->name, name);
    return NULL;
}

/* ---- cw_validate_field ---------------------------------------------- */

enum { BAD = 0, OK = 1, ABSENT = 2 }; /* ABSENT: valid and not present */

typedef struct field_case {
    cw_kind kind;
    const char *field;
    const char *in; /* repeated rep times (when rep > 0), then tail */
    size_t len;     /* 0 = strlen(in); for inputs with NUL bytes */
    int rep;
    const char *tail;
    int naive_utc;
    int want; /* OK, ABSENT or BAD */
    int64_t i;
    double d;
    const char *s;   /* the trimmed text the value must point at (text-like types) */
    const char *why; /* for BAD: substring of the reason */
} field_case;

#define ACC CW_KIND_ACCOUNTS
#define USR CW_KIND_USERS
#define EVT CW_KIND_EVENTS
#define TKT CW_KIND_TICKETS
#define SRV CW_KIND_SURVEYS
#define GOL CW_KIND_GOALS
#define FTR CW_KIND_FEATURES

#define V_OK(k, f, text, ...)                                                                      \
    {                                                                                              \
        .kind = k, .field = f, .in = text, .want = OK, __VA_ARGS__                                 \
    }
#define V_BAD(k, f, text, reason)                                                                  \
    {                                                                                              \
        .kind = k, .field = f, .in = text, .want = BAD, .why = reason                              \
    }
#define V_ABSENT(k, f, text)                                                                       \
    {                                                                                              \
        .kind = k, .field = f, .in = text, .want = ABSENT                                          \
    }

#define NOT_UTF8 "is not valid UTF-8"

static const field_case field_cases[] = {
    /* CW_F_ID: accounts.account_id (required key). */
    V_OK(ACC, "account_id", "acct-1", .s = "acct-1"),
    V_OK(ACC, "account_id", "  acct-1 \t", .s = "acct-1"),
    V_OK(ACC, "account_id", "caf\xc3\xa9", .s = "caf\xc3\xa9"),
    V_OK(ACC, "account_id", "a\tb", .s = "a\tb"),
    V_OK(ACC, "account_id", "\xf0\x9f\x98\x80", .s = "\xf0\x9f\x98\x80"), /* U+1F600 */
    V_OK(ACC, "account_id", "\xf4\x8f\xbf\xbf", .s = "\xf4\x8f\xbf\xbf"), /* U+10FFFF */
    V_OK(ACC, "account_id", "\xef\xbf\xbd", .s = "\xef\xbf\xbd"),         /* U+FFFD */
    V_BAD(ACC, "account_id", "", "is required"),
    V_BAD(ACC, "account_id", " \t ", "is required"),
    {.kind = ACC, .field = "account_id", .in = "a", .rep = 128, .want = OK},
    {.kind = ACC,
     .field = "account_id",
     .in = "a",
     .rep = 129,
     .want = BAD,
     .why = "longer than 128 bytes"},
    {.kind = ACC, .field = "account_id", .in = "\xc3\xa9", .rep = 64, .want = OK}, /* 128 bytes */
    {.kind = ACC,
     .field = "account_id",
     .in = "\xc3\xa9",
     .rep = 64,
     .tail = "x",
     .want = BAD,
     .why = "longer than 128 bytes"},
    V_BAD(ACC, "account_id", "\xc0\xaf", NOT_UTF8),         /* overlong '/' */
    V_BAD(ACC, "account_id", "\xc1\xbf", NOT_UTF8),         /* overlong U+007F */
    V_BAD(ACC, "account_id", "\xe0\x80\xaf", NOT_UTF8),     /* overlong, 3 bytes */
    V_BAD(ACC, "account_id", "\xe0\x9f\xbf", NOT_UTF8),     /* overlong U+07FF */
    V_BAD(ACC, "account_id", "\xf0\x80\x80\xaf", NOT_UTF8), /* overlong, 4 bytes */
    V_BAD(ACC, "account_id", "\xf0\x8f\xbf\xbf", NOT_UTF8), /* overlong U+FFFF */
    V_BAD(ACC, "account_id", "a\xed\xa0\x80z", NOT_UTF8),   /* surrogate U+D800 */
    V_BAD(ACC, "account_id", "\xed\xbf\xbf", NOT_UTF8),     /* surrogate U+DFFF */
    V_BAD(ACC, "account_id", "\xf4\x90\x80\x80", NOT_UTF8), /* U+110000 */
    V_BAD(ACC, "account_id", "\xf5\x80\x80\x80", NOT_UTF8), /* lead byte F5 */
    V_BAD(ACC, "account_id", "\xff", NOT_UTF8),
    V_BAD(ACC, "account_id", "ab\xc3", "truncated sequence"),
    V_BAD(ACC, "account_id", "ab\xe2\x82", "truncated sequence"),
    V_BAD(ACC, "account_id", "\xf0\x9f\x98", "truncated sequence"),
    V_BAD(ACC, "account_id", "\xe2\x82x", NOT_UTF8), /* continuation byte missing */
    V_BAD(ACC, "account_id",
          "\x80"
          "abc",
          NOT_UTF8), /* bare continuation byte */
    V_BAD(ACC, "account_id", "ab\xbf", NOT_UTF8),
    V_BAD(ACC, "account_id", "a\x01z", "control character"),
    V_BAD(ACC, "account_id", "a\x1b[0m", "control character"),
    V_BAD(ACC, "account_id", "a\x7fz", "control character"),
    V_BAD(ACC, "account_id", "a\nb", "control character"),
    V_BAD(ACC, "account_id", "a\rb", "control character"),
    {.kind = ACC, .field = "account_id", .in = "a\0b", .len = 3, .want = BAD, .why = "NUL byte"},
    /* CW_F_REF_ACCOUNT / CW_F_REF_USER: same rules; user_id on events is optional. */
    V_OK(USR, "account_id", "acct-9", .s = "acct-9"),
    V_BAD(USR, "account_id", "", "is required"),
    V_ABSENT(EVT, "user_id", ""),
    V_ABSENT(EVT, "user_id", "   "),
    V_OK(EVT, "user_id", "u-1", .s = "u-1"),
    {.kind = EVT,
     .field = "user_id",
     .in = "u",
     .rep = 129,
     .want = BAD,
     .why = "longer than 128 bytes"},
    V_BAD(EVT, "user_id", "u\xc3", "truncated"),
    /* CW_F_TEXT: accounts.name (max 256), events.event (max 128), surveys.comment (4000). */
    V_OK(ACC, "name", "Acme, Inc.", .s = "Acme, Inc."),
    V_OK(ACC, "name", "  Zürich AG  ", .s = "Zürich AG"),
    V_BAD(ACC, "name", "", "is required"),
    {.kind = ACC, .field = "name", .in = "n", .rep = 256, .want = OK},
    {.kind = ACC,
     .field = "name",
     .in = "n",
     .rep = 257,
     .want = BAD,
     .why = "longer than 256 bytes"},
    {.kind = EVT, .field = "event", .in = "e", .rep = 128, .want = OK},
    {.kind = EVT,
     .field = "event",
     .in = "e",
     .rep = 129,
     .want = BAD,
     .why = "longer than 128 bytes"},
    V_OK(SRV, "comment", "line one\nline two\r\nthree", .s = "line one\nline two\r\nthree"),
    V_BAD(SRV, "comment", "bell\a", "control character"),
    V_BAD(SRV, "comment", "\xed\xa0\x80", NOT_UTF8),
    {.kind = SRV, .field = "comment", .in = "ok\0", .len = 3, .want = BAD, .why = "NUL byte"},
    V_ABSENT(ACC, "owner", ""),
    /* CW_F_INT: accounts.seats 0..10000000, tickets.satisfaction 1..5. */
    V_OK(ACC, "seats", "42", .i = 42),
    V_OK(ACC, "seats", " 7 ", .i = 7),
    V_OK(ACC, "seats", "0", .i = 0),
    V_OK(ACC, "seats", "007", .i = 7),
    V_OK(ACC, "seats", "10000000", .i = 10000000),
    V_BAD(ACC, "seats", "", "is required"),
    V_BAD(ACC, "seats", "10000001", "is 10000001, outside 0..10000000"),
    V_BAD(ACC, "seats", "-1", "must not be negative (-1)"),
    V_BAD(ACC, "seats", "-0x5", "is not an integer: '-0x5'"),
    V_BAD(ACC, "seats", "12abc", "is not an integer: '12abc'"),
    V_BAD(ACC, "seats", "1.5", "is not an integer: '1.5'"),
    V_BAD(ACC, "seats", "1e3", "is not an integer"),
    V_BAD(ACC, "seats", "0x10", "is not an integer"),
    V_BAD(ACC, "seats", "1 000", "is not an integer"),
    V_BAD(ACC, "seats", "9223372036854775807", "outside 0..10000000"),
    V_BAD(ACC, "seats", "9223372036854775808", "is not an integer"), /* overflow */
    V_BAD(ACC, "seats", "99999999999999999999999", "is not an integer"),
    V_BAD(ACC, "seats", "-9223372036854775809", "is not an integer"),
    {.kind = ACC, .field = "seats", .in = "1", .rep = 80, .want = BAD, .why = "is not an integer"},
    V_OK(TKT, "satisfaction", "5", .i = 5),
    V_BAD(TKT, "satisfaction", "0", "is 0, outside 1..5"),
    V_BAD(TKT, "satisfaction", "6", "is 6, outside 1..5"),
    V_BAD(TKT, "satisfaction", "-3", "must not be negative"),
    V_ABSENT(TKT, "satisfaction", ""),
    V_OK(FTR, "milestone_due_day", "3650", .i = 3650),
    V_BAD(FTR, "milestone_due_day", "3651", "outside 0..3650"),
    /* CW_F_MONEY: accounts.mrr_minor 0..INT64_MAX/4, integer minor units. */
    V_OK(ACC, "mrr_minor", "1250", .i = 1250),
    V_OK(ACC, "mrr_minor", "0", .i = 0),
    V_OK(ACC, "mrr_minor", "2305843009213693951", .i = 2305843009213693951LL),
    V_BAD(ACC, "mrr_minor", "2305843009213693952", "outside 0..2305843009213693951"),
    V_BAD(ACC, "mrr_minor", "12.50", "integer amount in minor units (cents), got '12.50'"),
    V_BAD(ACC, "mrr_minor", "1e3", "minor units"),
    V_BAD(ACC, "mrr_minor", "-100", "must not be negative (-100)"),
    V_BAD(ACC, "mrr_minor", "$12", "is not an integer: '$12'"),
    V_BAD(ACC, "mrr_minor", "nan", "is not an integer"),
    V_BAD(ACC, "mrr_minor", "", "is required"),
    /* CW_F_REAL: events.value (optional), goals.baseline (required). */
    V_OK(EVT, "value", "3.25", .d = 3.25),
    V_OK(EVT, "value", "-1.5", .d = -1.5),
    V_OK(EVT, "value", "1e3", .d = 1000.0),
    V_OK(EVT, "value", "2.5E-1", .d = 0.25),
    V_OK(EVT, "value", "  42 ", .d = 42.0),
    V_OK(EVT, "value", "-0", .d = 0.0),
    V_ABSENT(EVT, "value", ""),
    V_BAD(EVT, "value", "inf", "is not a number: 'inf'"),
    V_BAD(EVT, "value", "-Infinity", "is not a number"),
    V_BAD(EVT, "value", "nan", "is not a number"),
    V_BAD(EVT, "value", "NaN", "is not a number"),
    V_BAD(EVT, "value", "0x1p3", "is not a number"),
    V_BAD(EVT, "value", "0X10", "is not a number"),
    V_BAD(EVT, "value", "1e999", "is not a number"),
    V_BAD(EVT, "value", "-1e400", "is not a number"),
    V_BAD(EVT, "value", "1.2.3", "is not a number"),
    V_BAD(EVT, "value", "1,5", "is not a number"),
    V_BAD(EVT, "value", "12kg", "is not a number: '12kg'"),
    V_BAD(GOL, "baseline", "", "is required"),
    V_OK(GOL, "baseline", "0.1", .d = 0.1),
    /* CW_F_CURRENCY: three capitals. */
    V_OK(ACC, "currency", "USD", .s = "USD"),
    V_OK(ACC, "currency", " EUR ", .s = "EUR"),
    V_BAD(ACC, "currency", "usd", "ISO-4217"),
    V_BAD(ACC, "currency", "Usd", "ISO-4217"),
    V_BAD(ACC, "currency", "US", "ISO-4217"),
    V_BAD(ACC, "currency", "USDX", "ISO-4217"),
    V_BAD(ACC, "currency", "U$D", "ISO-4217"),
    V_BAD(ACC, "currency", "\xc3\x84UR", "ISO-4217"),
    V_BAD(ACC, "currency", "", "is required"),
    /* CW_F_DATE / CW_F_TS: cw_time_parse, reason prefixed with the text. */
    V_OK(ACC, "contract_start", "2025-01-01", .i = 1735689600),
    V_OK(ACC, "contract_start", "2025-01-01T00:00:00Z", .i = 1735689600),
    V_BAD(ACC, "contract_start", "2025-02-29", "'2025-02-29' is an impossible date"),
    V_BAD(ACC, "contract_start", "", "is required"),
    V_OK(EVT, "ts", "2025-01-01T01:00:00+01:00", .i = 1735689600),
    V_OK(EVT, "ts", "1735689600", .i = 1735689600),
    {.kind = EVT,
     .field = "ts",
     .in = "2025-01-01 00:00:00",
     .naive_utc = 1,
     .want = OK,
     .i = 1735689600},
    V_BAD(EVT, "ts", "2025-01-01 00:00:00", "'2025-01-01 00:00:00' has no UTC offset"),
    V_BAD(EVT, "ts", "1735689600000", "milliseconds"),
    V_BAD(EVT, "ts", "yesterday", "'yesterday' is not a date"),
    V_ABSENT(USR, "deactivated_at", ""),
    /* CW_F_ENUM: case-insensitive, value is the index. */
    V_OK(ACC, "status", "active", .i = 0),
    V_OK(ACC, "status", "CHURNED", .i = 1),
    V_OK(ACC, "status", " Trial\t", .i = 2),
    V_OK(ACC, "status", "paused", .i = 3),
    V_BAD(ACC, "status", "cancelled", "'cancelled' is not one of active|churned|trial|paused"),
    V_BAD(ACC, "status", "act", "is not one of"),
    V_BAD(ACC, "status", "active|churned", "is not one of"),
    V_BAD(ACC, "status", "", "is required"),
    V_OK(SRV, "type", "NPS", .i = 0),
    V_OK(SRV, "type", "exit", .i = 2),
    V_OK(TKT, "category", "Other", .i = 4),
    V_ABSENT(TKT, "priority", ""),
    /* CW_F_BOOL. */
    V_OK(FTR, "first_value", "true", .i = 1),
    V_OK(FTR, "first_value", "false", .i = 0),
    V_OK(FTR, "first_value", "YES", .i = 1),
    V_OK(FTR, "first_value", "No", .i = 0),
    V_OK(FTR, "first_value", "1", .i = 1),
    V_OK(FTR, "first_value", "0", .i = 0),
    V_OK(FTR, "first_value", "y", .i = 1),
    V_OK(FTR, "first_value", "n", .i = 0),
    V_OK(FTR, "first_value", "T", .i = 1),
    V_OK(FTR, "first_value", "f", .i = 0),
    V_OK(FTR, "first_value", " TRUE ", .i = 1),
    V_ABSENT(FTR, "first_value", ""),
    V_BAD(FTR, "first_value", "maybe", "is not a boolean"),
    V_BAD(FTR, "first_value", "2", "is not a boolean"),
    V_BAD(FTR, "first_value", "on", "is not a boolean"),
    /* CW_F_EMAIL: users.email, max 254 bytes. */
    V_OK(USR, "email", "a@b.co", .s = "a@b.co"),
    V_OK(USR, "email", " first.last+tag@example.com ", .s = "first.last+tag@example.com"),
    V_OK(USR, "email", "j\xc3\xb6rg@m\xc3\xbcller.de", .s = "j\xc3\xb6rg@m\xc3\xbcller.de"),
    V_ABSENT(USR, "email", ""),
    V_BAD(USR, "email", "a@b", "is not an e-mail address"),
    V_BAD(USR, "email", "@b.com", "is not an e-mail address"),
    V_BAD(USR, "email", "a@", "is not an e-mail address"),
    V_BAD(USR, "email", "ab.com", "is not an e-mail address"),
    V_BAD(USR, "email", "a@@b.com", "is not an e-mail address"),
    V_BAD(USR, "email", "a@b@c.com", "is not an e-mail address"),
    V_BAD(USR, "email", "a b@c.com", "is not an e-mail address"),
    V_BAD(USR, "email", "a@b\x01.com", "control character"),
    V_BAD(USR, "email", "a\xc3@b.com", NOT_UTF8),
    {.kind = USR, .field = "email", .in = "a", .rep = 242, .tail = "@example.com", .want = OK},
    {.kind = USR,
     .field = "email",
     .in = "a",
     .rep = 243,
     .tail = "@example.com",
     .want = BAD,
     .why = "longer than 254 bytes"},
};

static void test_field_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof field_cases / sizeof field_cases[0]; k++) {
        const field_case *c = &field_cases[k];
        const cw_field_def *f = field_def(c->kind, c->field, NULL);
        char in[1024];
        size_t len;
        if (c->rep > 0) {
            size_t one = strlen(c->in), tl = c->tail ? strlen(c->tail) : 0;
            len = one * (size_t)c->rep + tl;
            assert_true(len < sizeof in);
            for (int r = 0; r < c->rep; r++)
                memcpy(in + one * (size_t)r, c->in, one);
            if (tl)
                memcpy(in + one * (size_t)c->rep, c->tail, tl);
        } else {
            len = c->len ? c->len : strlen(c->in);
            memcpy(in, c->in, len);
        }
        cw_value v;
        memset(&v, 0x5a, sizeof v);
        char why[256] = "";
        int ok = cw_validate_field(f, in, len, c->naive_utc, &v, why, sizeof why);
        const char *show = c->rep > 0 ? "(generated)" : c->in;
        if (c->want == BAD) {
            if (ok)
                fail_msg("case %zu %s '%s': accepted, want '%s'", k, c->field, show, c->why);
            if (!strstr(why, c->why))
                fail_msg("case %zu %s '%s': reason '%s' lacks '%s'", k, c->field, show, why,
                         c->why);
            continue;
        }
        if (!ok)
            fail_msg("case %zu %s '%s': rejected: %s", k, c->field, show, why);
        if (c->want == ABSENT) {
            if (v.present)
                fail_msg("case %zu %s '%s': present, want absent", k, c->field, show);
            continue;
        }
        if (!v.present)
            fail_msg("case %zu %s '%s': not present", k, c->field, show);
        /* The value points into the input, blanks trimmed. */
        assert_true(v.s >= in && v.s + v.len <= in + len);
        switch (f->type) {
        case CW_F_INT:
        case CW_F_MONEY:
        case CW_F_DATE:
        case CW_F_TS:
        case CW_F_ENUM:
        case CW_F_BOOL:
            if (v.i != c->i)
                fail_msg("case %zu %s '%s': value %lld, want %lld", k, c->field, show,
                         (long long)v.i, (long long)c->i);
            break;
        case CW_F_REAL:
            if (v.d != c->d)
                fail_msg("case %zu %s '%s': value %.17g, want %.17g", k, c->field, show, v.d, c->d);
            break;
        default:
            if (c->s && (v.len != strlen(c->s) || memcmp(v.s, c->s, v.len) != 0))
                fail_msg("case %zu %s '%s': text '%.*s', want '%s'", k, c->field, show, (int)v.len,
                         v.s, c->s);
            if (!c->s && c->rep > 0 && v.len != len)
                fail_msg("case %zu %s: length %zu, want %zu", k, c->field, v.len, len);
        }
    }
}

/* Every field of every kind accepts empty text exactly when it is optional. */
static void test_required_flags(void **state)
{
    (void)state;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        for (int i = 0; i < kd->nfields; i++) {
            cw_value v;
            char why[128] = "";
            int ok = cw_validate_field(&kd->fields[i], "", 0, 0, &v, why, sizeof why);
            int required = (kd->fields[i].flags & CW_FD_REQUIRED) != 0;
            if (ok == required)
                fail_msg("%s.%s: empty text %s", kd->name, kd->fields[i].name,
                         ok ? "accepted although required" : "rejected although optional");
            if (required)
                assert_string_equal(why, "is required");
            else if (kd->fields[i].flags & CW_FD_DEFAULT) /* the enum's first value */
                assert_true(v.present && v.i == 0);
            else
                assert_false(v.present);
        }
    }
}

/* The reason is truncated to the buffer, never overflowing it. */
static void test_small_why_buffer(void **state)
{
    (void)state;
    const cw_field_def *f = field_def(ACC, "status", NULL);
    char why[9];
    memset(why, 'x', sizeof why);
    cw_value v;
    assert_int_equal(cw_validate_field(f, "cancelled", 9, 0, &v, why, 8), 0);
    assert_int_equal(why[8], 'x');
    assert_int_equal(strlen(why), 7);
    assert_memory_equal(why, "'cancel", 7);
}

/* ---- cw_validate_row ------------------------------------------------ */

typedef struct row_case {
    const char *name;
    cw_kind kind;
    const char *row;   /* "field=value;field=value" (absent fields are empty) */
    const char *field; /* NULL = valid; else the offending field */
    const char *why;
} row_case;

#define ACCOUNT                                                                                    \
    "account_id=a1;name=Acme;segment=smb;contract_start=2024-01-01;seats=10;mrr_minor=1000;"       \
    "currency=USD;"
#define USER    "user_id=u1;account_id=a1;provisioned_at=2024-01-02T00:00:00Z;"
#define TICKET  "ticket_id=t1;account_id=a1;opened_at=2024-03-01T10:00:00Z;category=bug;"
#define SURVEY  "survey_id=s1;account_id=a1;"
#define GOAL    "goal_id=g1;account_id=a1;metric=cost savings;unit=%;"
#define JOURNEY "visitor_id=v1;stage=visit;at=2025-01-01T00:00:00Z;"
#define FEATURE "event=report_run;feature=Reports;tier=basic;"

static const row_case row_cases[] = {
    /* accounts */
    {"active account", ACC, ACCOUNT "status=active", NULL, NULL},
    {"churned with date", ACC, ACCOUNT "status=churned;churn_date=2024-06-01", NULL, NULL},
    {"churned on the first day", ACC, ACCOUNT "status=churned;churn_date=2024-01-01", NULL, NULL},
    {"churned without date", ACC, ACCOUNT "status=churned", "churn_date",
     "is required when status is churned"},
    {"churn before contract start", ACC, ACCOUNT "status=churned;churn_date=2023-12-31",
     "churn_date", "is before contract_start"},
    {"active with an earlier churn date", ACC, ACCOUNT "status=active;churn_date=2023-01-01",
     "churn_date", "is before contract_start"},
    {"renewal before contract start", ACC, ACCOUNT "status=active;renewal_date=2023-06-01",
     "renewal_date", "is before contract_start"},
    {"renewal after contract start", ACC, ACCOUNT "status=trial;renewal_date=2025-01-01", NULL,
     NULL},
    /* users */
    {"user still active", USR, USER, NULL, NULL},
    {"user deactivated later", USR, USER "deactivated_at=2024-05-01T00:00:00Z", NULL, NULL},
    {"user deactivated the same second", USR, USER "deactivated_at=2024-01-02T00:00:00Z", NULL,
     NULL},
    {"user deactivated before provisioned", USR, USER "deactivated_at=2024-01-01T23:59:59Z",
     "deactivated_at", "is before provisioned_at"},
    /* tickets */
    {"open ticket", TKT, TICKET, NULL, NULL},
    {"closed ticket", TKT, TICKET "closed_at=2024-03-02T08:00:00Z", NULL, NULL},
    {"ticket closed before opened", TKT, TICKET "closed_at=2024-03-01T09:59:59Z", "closed_at",
     "is before opened_at"},
    {"ticket closed before opened (offsets)", TKT, TICKET "closed_at=2024-03-01T11:00:00+01:01",
     "closed_at", "is before opened_at"},
    /* surveys */
    {"NPS answered", SRV,
     SURVEY "type=nps;sent_at=2025-01-01T00:00:00Z;responded_at=2025-01-02T00:00:00Z;score=9", NULL,
     NULL},
    {"NPS answered with 0", SRV, SURVEY "type=nps;responded_at=2025-01-02T00:00:00Z;score=0", NULL,
     NULL},
    {"NPS sent, not answered", SRV, SURVEY "type=nps;sent_at=2025-01-01T00:00:00Z", NULL, NULL},
    {"NPS answered without score", SRV,
     SURVEY "type=nps;sent_at=2025-01-01T00:00:00Z;responded_at=2025-01-02T00:00:00Z", "score",
     "is required for an answered NPS survey"},
    {"CSAT score 7", SRV, SURVEY "type=csat;responded_at=2025-01-02T00:00:00Z;score=7", "score",
     "must be 1-5 for a CSAT survey, got 7"},
    {"CSAT score 0", SRV, SURVEY "type=csat;responded_at=2025-01-02T00:00:00Z;score=0", "score",
     "must be 1-5 for a CSAT survey, got 0"},
    {"CSAT score 5", SRV, SURVEY "type=csat;responded_at=2025-01-02T00:00:00Z;score=5", NULL, NULL},
    {"CSAT answered without score", SRV, SURVEY "type=csat;responded_at=2025-01-02T00:00:00Z",
     "score", "is required for an answered CSAT survey"},
    {"exit survey with a score", SRV,
     SURVEY "type=exit;responded_at=2025-01-02T00:00:00Z;score=3;reason=price", "score",
     "must be empty for an exit survey"},
    {"exit survey without score", SRV,
     SURVEY "type=exit;responded_at=2025-01-02T00:00:00Z;reason=price", NULL, NULL},
    {"score without responded_at", SRV, SURVEY "type=nps;sent_at=2025-01-01T00:00:00Z;score=8",
     "responded_at", "is required when a score is given"},
    {"neither sent nor responded", SRV, SURVEY "type=nps", "responded_at",
     "is required when sent_at is empty"},
    {"responded before sent", SRV,
     SURVEY "type=nps;sent_at=2025-01-02T00:00:00Z;responded_at=2025-01-01T00:00:00Z;score=9",
     "responded_at", "is before sent_at"},
    /* goals */
    {"goal", GOL, GOAL "baseline=10;target=20;start_date=2025-01-01;target_date=2025-06-30", NULL,
     NULL},
    {"goal to decrease", GOL,
     GOAL "baseline=20;target=10;start_date=2025-01-01;target_date=2025-01-02", NULL, NULL},
    {"goal due on its start", GOL,
     GOAL "baseline=10;target=20;start_date=2025-01-01;target_date=2025-01-01", "target_date",
     "must be after start_date"},
    {"goal due before its start", GOL,
     GOAL "baseline=10;target=20;start_date=2025-01-01;target_date=2024-12-31", "target_date",
     "must be after start_date"},
    {"target equals baseline", GOL,
     GOAL "baseline=10;target=10.0;start_date=2025-01-01;target_date=2025-06-30", "target",
     "equals baseline"},
    /* journey */
    {"journey without cost", CW_KIND_JOURNEY, JOURNEY "source=ads", NULL, NULL},
    {"journey cost with currency", CW_KIND_JOURNEY, JOURNEY "cost_minor=500;currency=EUR", NULL,
     NULL},
    {"journey cost without currency", CW_KIND_JOURNEY, JOURNEY "cost_minor=500", "currency",
     "is required when cost_minor is given"},
    {"journey zero cost without currency", CW_KIND_JOURNEY, JOURNEY "cost_minor=0", "currency",
     "is required when cost_minor is given"},
    /* features */
    {"feature", FTR, FEATURE "first_value=yes", NULL, NULL},
    {"feature with milestone", FTR, FEATURE "milestone=first report;milestone_due_day=14", NULL,
     NULL},
    {"milestone without due day", FTR, FEATURE "milestone=first report", NULL, NULL},
    {"due day without milestone", FTR, FEATURE "milestone_due_day=14", "milestone",
     "is required when milestone_due_day is given"},
    /* kinds without cross-field rules */
    {"subscription", CW_KIND_SUBSCRIPTIONS,
     "account_id=a1;effective_at=2025-01-01T00:00:00Z;mrr_minor=0;currency=USD;seats=0", NULL,
     NULL},
    {"event", EVT, "ts=2025-01-01T00:00:00Z;account_id=a1;event=login", NULL, NULL},
    {"training", CW_KIND_TRAININGS,
     "user_id=u1;account_id=a1;course=Basics;completed_at=2025-01-01T00:00:00Z", NULL, NULL},
    {"goal measurement", CW_KIND_GOAL_MEASUREMENTS,
     "goal_id=g1;measured_at=2025-01-01T00:00:00Z;kind=actual;value=3", NULL, NULL},
};

/* Validates every field of row (as ingest would) into v; fails the test if a field is invalid. */
static void build_row(const row_case *c, const cw_kind_def *kd, cw_value *v, char *copy)
{
    const char *text[CW_MAX_FIELDS] = {0};
    size_t tlen[CW_MAX_FIELDS] = {0};
    size_t n = strlen(c->row);
    memcpy(copy, c->row, n + 1);
    for (char *p = copy; p && *p;) {
        char *semi = strchr(p, ';'), *eq = strchr(p, '=');
        if (semi)
            *semi = '\0';
        assert_non_null(eq);
        *eq = '\0';
        int idx = -1;
        field_def(kd->kind, p, &idx);
        assert_true(idx >= 0);
        text[idx] = eq + 1;
        tlen[idx] = strlen(eq + 1);
        p = semi ? semi + 1 : NULL;
    }
    for (int i = 0; i < kd->nfields; i++) {
        char why[256] = "";
        if (!cw_validate_field(&kd->fields[i], text[i] ? text[i] : "", tlen[i], 0, &v[i], why,
                               sizeof why))
            fail_msg("row '%s': field %s: %s", c->name, kd->fields[i].name, why);
    }
}

static void test_row_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof row_cases / sizeof row_cases[0]; k++) {
        const row_case *c = &row_cases[k];
        const cw_kind_def *kd = cw_kind_get(c->kind);
        cw_value v[CW_MAX_FIELDS];
        char copy[512];
        assert_true(strlen(c->row) < sizeof copy);
        build_row(c, kd, v, copy);
        int field = -7;
        char why[256] = "";
        int ok = cw_validate_row(kd, v, &field, why, sizeof why);
        if (!c->field) {
            if (!ok)
                fail_msg("row '%s': rejected: field %d: %s", c->name, field, why);
            continue;
        }
        if (ok)
            fail_msg("row '%s': accepted, want %s: %s", c->name, c->field, c->why);
        int want = -1;
        field_def(c->kind, c->field, &want);
        if (field != want)
            fail_msg("row '%s': offending field %d (%s), want %s", c->name, field,
                     field >= 0 && field < kd->nfields ? kd->fields[field].name : "?", c->field);
        if (!strstr(why, c->why))
            fail_msg("row '%s': reason '%s' lacks '%s'", c->name, why, c->why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_table),
        cmocka_unit_test(test_required_flags),
        cmocka_unit_test(test_small_why_buffer),
        cmocka_unit_test(test_row_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
