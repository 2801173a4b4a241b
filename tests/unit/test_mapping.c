/*
 * test_mapping.c — mappings (lib/ingest/mapping.c, docs/importers.md): header
 * normalisation, JSON paths, alternatives, constants, value maps, units,
 * money in major units, scales, timestamp formats and zones (fixed and
 * IANA from the tz database, across DST changes), lookups, where, each,
 * presets, and every configuration error message. Expected values are
 * worked by hand in the comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <jansson.h>

#include "ingest/mapping.h"
#include "testutil.h"
#include "core/util.h"
#include "core/tz.h"
#include "core/ini.h"
#include "ingest/schema.h"

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("mapping");
    unsetenv("TZDIR");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_tmpdir();
}

/* Compiles [source.t] from body (the keys after the section line); returns
 * the status, with the error in *err (caller frees). */
static cw_status compile(const char *body, cw_source *out, char **err)
{
    char text[4096];
    snprintf(text, sizeof text, "[source.t]\n%s", body);
    write_file("t.conf", text);
    cw_config *c;
    cw_error cerr;
    cw_status s = cw_config_load(path_of("t.conf"), &c, &cerr);
    if (s != CW_OK)
        fail_msg("config: %s", cerr.msg);
    *err = NULL;
    s = cw_source_compile(c, "t", 0, out, err);
    cw_config_free(c);
    return s;
}

static cw_mapping *must(const char *body, cw_source *src)
{
    char *err = NULL;
    if (compile(body, src, &err) != CW_OK)
        fail_msg("compile: %s", err ? err : "?");
    assert_int_equal(src->nmaps, 1);
    return src->maps[0];
}

/* Fake lookups: user u1 is in A1; account "Acme Corp" is A1; domain
 * acme.com is A1. */
static int fake_lookup(void *ud, int kind, const char *s, size_t len, cw_strref *out, char *why,
                       size_t whysz)
{
    (void)ud;
    const char *want = kind == CW_LK_USER_ACCOUNT      ? "u1"
                       : kind == CW_LK_ACCOUNT_BY_NAME ? "acme corp"
                                                       : "acme.com";
    int ok = strlen(want) == len && strncasecmp(want, s, len) == 0;
    if (kind == CW_LK_ACCOUNT_BY_DOMAIN && len > 9 && memcmp(s + len - 9, "@acme.com", 9) == 0)
        ok = 1;
    if (!ok) {
        snprintf(why, whysz, "no match for '%.*s'", (int)len, s);
        return 0;
    }
    out->s = "A1";
    out->len = 2;
    return 1;
}

/* Applies m to a JSON record; returns 1 or 0 with why. texts as NUL-ended
 * strings in got[i] ("" when absent). */
static char got[CW_MAX_FIELDS][512];
static char why[512];
static int bad_field;
static unsigned set_mask;

/* A record of JSON text as ingest reads it (jsonscan.h); the element of
 * `each`, when given, is scanned by a second scanner. */
static cw_jscan *scan_a, *scan_b;
static cw_map_record json_rec(const char *json, const char *elem)
{
    if (!scan_a && (!(scan_a = cw_jscan_new()) || !(scan_b = cw_jscan_new())))
        fail_msg("out of memory");
    cw_map_record rec = {.js = scan_a};
    int col;
    const char *jwhy;
    if (cw_jscan_parse(scan_a, json, strlen(json), &rec.obj, &col, &jwhy) != CW_OK)
        fail_msg("bad test JSON at column %d: %s", col, jwhy);
    if (elem && cw_jscan_parse(scan_b, elem, strlen(elem), &rec.elem, &col, &jwhy) != CW_OK)
        fail_msg("bad test JSON at column %d: %s", col, jwhy);
    return rec;
}

static int apply_json(cw_mapping *m, const char *json, const char *elem)
{
    cw_map_record rec = json_rec(json, elem);
    cw_strref texts[CW_MAX_FIELDS];
    const char *origin[CW_MAX_FIELDS];
    memset(texts, 0, sizeof texts);
    static cw_map_scratch sc;
    cw_map_ctx ctx = {fake_lookup, NULL};
    why[0] = '\0';
    int ok = cw_mapping_apply(m, &rec, NULL, &ctx, &sc, texts, origin, &set_mask, &bad_field, why,
                              sizeof why);
    for (int i = 0; i < CW_MAX_FIELDS; i++)
        snprintf(got[i], sizeof got[i], "%.*s", texts[i].s ? (int)texts[i].len : 0,
                 texts[i].s ? texts[i].s : "");
    return ok;
}

static int fidx(cw_kind k, const char *name)
{
    const cw_kind_def *kd = cw_kind_get(k);
    for (int i = 0; i < kd->nfields; i++)
        if (strcmp(kd->fields[i].name, name) == 0)
            return i;
    fail_msg("no field %s", name);
    return -1;
}

#define GOT(kind, name) got[fidx(kind, name)]

static void test_normalise(void **state)
{
    (void)state;
    char b[64];
    assert_int_equal(cw_name_normalise("  Account Name ", 15, b, sizeof b), 12);
    assert_string_equal(b, "account_name");
    cw_name_normalise("ACCOUNT-NAME", 12, b, sizeof b);
    assert_string_equal(b, "account_name");
    cw_name_normalise("__Annual  Revenue ($)__", 23, b, sizeof b);
    assert_string_equal(b, "annual_revenue");
    cw_name_normalise("properties.$browser", 19, b, sizeof b);
    assert_string_equal(b, "properties_browser");
    /* Bytes of UTF-8 letters are kept as they are. */
    cw_name_normalise("Größe", strlen("Größe"), b, sizeof b);
    assert_string_equal(b, "größe");
    assert_int_equal(cw_name_normalise("!!!", 3, b, sizeof b), 0);
    assert_int_equal(cw_name_normalise("abcdef", 6, b, 4), 0); /* does not fit */
    /* Native headers go through the same rule. */
    const cw_kind_def *kd = cw_kind_get(CW_KIND_ACCOUNTS);
    assert_int_equal(cw_schema_field_index(kd, "Account Name", 12), fidx(CW_KIND_ACCOUNTS, "name"));
    assert_int_equal(cw_schema_field_index(kd, "MRR-Cents", 9),
                     fidx(CW_KIND_ACCOUNTS, "mrr_minor"));
}

static void test_paths_alternatives_constants(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = subscriptions\n"
                         "account_id = metadata.account_id | customer\n"
                         "effective_at = start\n"
                         "mrr_minor = items.data[0].price.unit_amount\n"
                         "seats = items.data[1].quantity | quantity | '1'\n"
                         "currency = 'usd'\n"
                         "plan = grid[1][0]\n",
                         &src);
    assert_true(apply_json(m,
                           "{\"customer\":\"cus_1\",\"metadata\":{},\"start\":\"2024-01-01\","
                           "\"items\":{\"data\":[{\"price\":{\"unit_amount\":2000}}]},"
                           "\"grid\":[[\"a\"],[\"b\",\"c\"]]}",
                           NULL));
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "account_id"), "cus_1");
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "mrr_minor"), "2000");
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "seats"), "1");      /* the constant */
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "currency"), "USD"); /* upper-cased */
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "plan"), "b");
    /* Constants are defaults for merge: not "set" by the record. */
    assert_false(set_mask >> fidx(CW_KIND_SUBSCRIPTIONS, "seats") & 1);
    assert_true(set_mask >> fidx(CW_KIND_SUBSCRIPTIONS, "account_id") & 1);
    /* The first alternative present and non-empty wins; numbers and reals
     * become their shortest text. */
    assert_true(apply_json(m,
                           "{\"customer\":\"cus_1\",\"metadata\":{\"account_id\":\"A9\"},"
                           "\"quantity\":0.1,\"items\":{\"data\":[{},{\"quantity\":\"  \"}]}}",
                           NULL));
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "account_id"), "A9");
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "seats"), "0.1");
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "mrr_minor"), "");
    /* An object where a value belongs. */
    assert_false(apply_json(m, "{\"customer\":{\"id\":\"x\"}}", NULL));
    assert_string_equal(why, "is an object or array, not a value");
    assert_int_equal(bad_field, fidx(CW_KIND_SUBSCRIPTIONS, "account_id"));
    cw_source_clear(&src);
}

static void test_maps(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = accounts\nsegment = stage\n"
                         "segment.map = customer=mid, evangelist = enterprise, *=smb\n"
                         "status = state\nstatus.map = live=active, gone=churned, ''=trial\n",
                         &src);
    assert_true(apply_json(m, "{\"stage\":\" Customer \",\"state\":\"LIVE\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "segment"), "mid");
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "status"), "active");
    assert_true(apply_json(m, "{\"stage\":\"lead\",\"state\":\"\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "segment"), "smb");  /* the * fallback */
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "status"), "trial"); /* '' maps the empty value */
    assert_false(apply_json(m, "{\"stage\":\"x\",\"state\":\"paused\"}", NULL));
    assert_string_equal(why, "'paused' is not in the value map (add it, or *=value)");
    cw_source_clear(&src);
}

static void test_time_units(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m =
        must("kind = events\nts = t\nts.unit = ms\naccount_id = 'A'\nevent = 'e'\n", &src);
    /* 1712052000 s = 2024-04-02T10:00:00Z; the milliseconds are dropped. */
    assert_true(apply_json(m, "{\"t\":1712052000999}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-04-02T10:00:00Z");
    assert_false(apply_json(m, "{\"t\":\"yesterday\"}", NULL));
    assert_string_equal(why, "'yesterday' is not a number of milliseconds");
    cw_source_clear(&src);
    m = must("kind = events\nts = t\nts.unit = us\naccount_id = 'A'\nevent = 'e'\n", &src);
    assert_true(apply_json(m, "{\"t\":\"1712052000123456\"}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-04-02T10:00:00Z");
    cw_source_clear(&src);
    m = must("kind = events\nts = t\nts.unit = s\naccount_id = 'A'\nevent = 'e'\n", &src);
    assert_true(apply_json(m, "{\"t\":1712052000.75}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-04-02T10:00:00Z");
    /* Milliseconds read as seconds land after 2099. */
    assert_false(apply_json(m, "{\"t\":1712052000123}", NULL));
    assert_string_equal(why, "'1712052000123' is after 2099 (wrong .unit?)");
    cw_source_clear(&src);
}

static void test_money(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = accounts\nmrr_minor = revenue\nmrr_minor.unit = major\n"
                         "mrr_minor.scale = 1/12\ncurrency = cur\n",
                         &src);
    /* $120,000.00 a year = 12,000,000 cents; / 12 = 1,000,000 a month. */
    assert_true(apply_json(m, "{\"revenue\":\"$120,000.00\",\"cur\":\"USD\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "mrr_minor"), "1000000");
    /* JPY has no minor unit: ¥1,200,000 / 12 = 100,000. */
    assert_true(apply_json(m, "{\"revenue\":\"¥1,200,000\",\"cur\":\"jpy\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "mrr_minor"), "100000");
    /* 0.07 USD = 7 cents; 7 / 12 = 0.583 rounds to 1; 0.05 → 5/12 = 0.42 → 0. */
    assert_true(apply_json(m, "{\"revenue\":0.07,\"cur\":\"USD\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "mrr_minor"), "1");
    assert_true(apply_json(m, "{\"revenue\":\"0.05\",\"cur\":\"USD\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "mrr_minor"), "0");
    assert_false(apply_json(m, "{\"revenue\":\"12,00\",\"cur\":\"USD\"}", NULL));
    assert_string_equal(why, "'12,00' is not an amount of money");
    assert_false(apply_json(m, "{\"revenue\":\"1.001\",\"cur\":\"JPY\"}", NULL));
    assert_string_equal(why, "'1.001' has more decimals than JPY's 0");
    cw_source_clear(&src);
    /* The currency from the record's own (unmapped) currency key. */
    m = must("kind = accounts\nmrr_minor = revenue\nmrr_minor.unit = major\n", &src);
    assert_true(apply_json(m, "{\"revenue\":\"1,200\",\"currency\":\"JPY\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "mrr_minor"), "1200");
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "currency"), "JPY");
    cw_source_clear(&src);
    m = must("kind = accounts\nmrr_minor = m\nmrr_minor.scale = 12\n", &src);
    assert_true(apply_json(m, "{\"m\":\"250\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "mrr_minor"), "3000");
    assert_false(apply_json(m, "{\"m\":\"2.5\"}", NULL));
    assert_string_equal(why, "'2.5' is not a whole amount in minor units");
    cw_source_clear(&src);
}

static void test_formats_and_zones(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = tickets\nopened_at = c\nopened_at.format = %d/%m/%Y %H:%M:%S\n"
                         "closed_at = d\nclosed_at.format = %Y%m%d\nclosed_at.zone = +05:30\n",
                         &src);
    /* No zone: naive text, left to ingest.naive_timestamps; a fraction of
     * a second after %S is skipped. */
    assert_true(apply_json(m, "{\"c\":\"01/04/2024 09:00:05.123\",\"d\":\"20240402\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "opened_at"), "2024-04-01T09:00:05");
    /* 2024-04-02 00:00 at +05:30 = 2024-04-01 18:30 UTC. */
    assert_string_equal(GOT(CW_KIND_TICKETS, "closed_at"), "2024-04-01T18:30:00Z");
    assert_false(apply_json(m, "{\"c\":\"2024-04-01 09:00\"}", NULL));
    assert_string_equal(why, "'2024-04-01 09:00' does not match the format '%d/%m/%Y %H:%M:%S'");
    assert_false(apply_json(m, "{\"c\":\"31/02/2024 09:00:00\"}", NULL));
    assert_string_equal(why, "'31/02/2024 09:00:00' is an impossible date or time");
    cw_source_clear(&src);

    m = must("kind = tickets\nopened_at = c\nopened_at.format = %Y-%m-%d %H:%M\n"
             "opened_at.zone = Europe/Berlin\nclosed_at = d\nclosed_at.zone = America/New_York\n",
             &src);
    const char *cases[][2] = {
        /* winter, CET = UTC+1 */
        {"2024-01-15 12:00", "2024-01-15T11:00:00Z"},
        /* summer, CEST = UTC+2 */
        {"2024-07-01 12:00", "2024-07-01T10:00:00Z"},
        /* the last CET minute before DST starts (2024-03-31 02:00 CET) */
        {"2024-03-31 01:59", "2024-03-31T00:59:00Z"},
        /* 02:30 does not exist that day: the offset before the change */
        {"2024-03-31 02:30", "2024-03-31T01:30:00Z"},
        {"2024-03-31 03:00", "2024-03-31T01:00:00Z"},
        /* 02:30 on 2024-10-27 happens twice: the first (CEST) */
        {"2024-10-27 02:30", "2024-10-27T00:30:00Z"},
        {"2024-10-27 03:30", "2024-10-27T02:30:00Z"},
        /* beyond the file's transitions: its POSIX rule */
        {"2090-07-01 12:00", "2090-07-01T10:00:00Z"},
        {"2090-12-01 12:00", "2090-12-01T11:00:00Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rec[128];
        snprintf(rec, sizeof rec, "{\"c\":\"%s\"}", cases[i][0]);
        assert_true(apply_json(m, rec, NULL));
        if (strcmp(GOT(CW_KIND_TICKETS, "opened_at"), cases[i][1]) != 0)
            fail_msg("%s Berlin: %s, want %s", cases[i][0], GOT(CW_KIND_TICKETS, "opened_at"),
                     cases[i][1]);
    }
    /* A zone without a format: ISO text without an offset is local time
     * there (EDT = UTC-4 in July); text with an offset or Unix seconds keep
     * theirs. */
    assert_true(apply_json(m, "{\"d\":\"2024-07-01T12:00:00\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "closed_at"), "2024-07-01T16:00:00Z");
    assert_true(apply_json(m, "{\"d\":\"2024-07-01T12:00:00+02:00\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "closed_at"), "2024-07-01T10:00:00Z");
    assert_true(apply_json(m, "{\"d\":1712052000}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "closed_at"), "2024-04-02T10:00:00Z");
    /* 2024-11-03 01:30 New York happens twice: the first, EDT. */
    assert_true(apply_json(m, "{\"d\":\"2024-11-03 01:30:00\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "closed_at"), "2024-11-03T05:30:00Z");
    cw_source_clear(&src);

    /* The offsets themselves. */
    cw_tz *z;
    char w[256];
    assert_int_equal(cw_tz_load("Europe/Berlin", &z, w, sizeof w), CW_OK);
    assert_int_equal(cw_tz_offset(z, 1704067200), 3600); /* 2024-01-01 */
    assert_int_equal(cw_tz_offset(z, 1719792000), 7200); /* 2024-07-01 */
    assert_int_equal(cw_tz_offset(z, 1711846799), 3600); /* 2024-03-31 00:59:59Z */
    assert_int_equal(cw_tz_offset(z, 1711846800), 7200); /* 2024-03-31 01:00:00Z */
    cw_tz_free(z);
    assert_int_equal(cw_tz_load("Asia/Kolkata", &z, w, sizeof w), CW_OK);
    assert_int_equal(cw_tz_offset(z, 1719792000), 19800);
    cw_tz_free(z);
}

static void test_lookups(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = tickets\nticket_id = id\n"
                         "account_id = account_by_domain(email) | account_by_name(company)\n"
                         "user_id = user\nuser_id.map = *=u1\n",
                         &src);
    assert_true(m->uses_lookups);
    assert_true(apply_json(m, "{\"id\":\"T1\",\"email\":\"x@acme.com\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "account_id"), "A1");
    /* The first lookup finds nothing: the next alternative. */
    assert_true(
        apply_json(m, "{\"id\":\"T1\",\"email\":\"x@other.org\",\"company\":\"ACME Corp\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "account_id"), "A1");
    /* None finds one: the (last) lookup's reason. */
    assert_false(
        apply_json(m, "{\"id\":\"T1\",\"email\":\"x@other.org\",\"company\":\"Nope\"}", NULL));
    assert_string_equal(why, "no match for 'Nope'");
    cw_source_clear(&src);
    /* The whole-field shorthand. */
    m = must("kind = events\nts = 'now'\nevent = 'e'\naccount_id = userId\n"
             "account_id.lookup = user_account\n",
             &src);
    assert_true(apply_json(m, "{\"userId\":\"u1\"}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "account_id"), "A1");
    assert_false(apply_json(m, "{\"userId\":\"u2\"}", NULL));
    assert_string_equal(why, "no match for 'u2'");
    cw_source_clear(&src);
    /* .table: from,to rows after a header. */
    write_file("cust.csv", "stripe,crm\ncus_1, A1\n");
    m = must("kind = subscriptions\naccount_id = customer\naccount_id.table = cust.csv\n", &src);
    assert_true(apply_json(m, "{\"customer\":\"cus_1\"}", NULL));
    assert_string_equal(GOT(CW_KIND_SUBSCRIPTIONS, "account_id"), "A1");
    assert_false(apply_json(m, "{\"customer\":\"cus_2\"}", NULL));
    char want[512];
    snprintf(want, sizeof want, "'cus_2' is not in %s", path_of("cust.csv"));
    assert_string_equal(why, want);
    cw_source_clear(&src);
}

static void test_where_each_csv(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = events\nwhere = type in track, page\nts = timestamp\n"
                         "account_id = 'A'\nevent = each.name\nvalue = each.n\neach = items\n",
                         &src);
    cw_map_record rec = json_rec("{\"type\":\"Track\"}", NULL);
    assert_true(cw_mapping_where(m, &rec));
    rec = json_rec("{\"type\":\"identify\"}", NULL);
    assert_false(cw_mapping_where(m, &rec));
    assert_true(apply_json(m, "{\"timestamp\":\"2024-01-01\"}", "{\"name\":\"x\",\"n\":2}"));
    assert_string_equal(GOT(CW_KIND_EVENTS, "event"), "x");
    assert_string_equal(GOT(CW_KIND_EVENTS, "value"), "2");
    cw_source_clear(&src);
    m = must("kind = events\nwhere = type != identify\nts = t\naccount_id = a\nevent = e\n", &src);
    rec = json_rec("{\"type\":\"identify\"}", NULL);
    assert_false(cw_mapping_where(m, &rec));
    cw_source_clear(&src);

    /* CSV: columns by normalised header; an unmapped field's own column is
     * still read; a required field whose only column is missing is
     * reported. */
    m = must("kind = accounts\naccount_id = Record ID\nname = Company name\n", &src);
    cw_strref hdr[] = {{"record_id", 9}, {"COMPANY NAME", 12}, {"Segment", 7}};
    const char *missing = NULL;
    assert_int_equal(cw_mapping_bind_header(m, hdr, 3, &missing), 0);
    char nbuf[64];
    cw_name_normalise("Segment", 7, nbuf, sizeof nbuf);
    assert_true(cw_mapping_uses_column(m, nbuf));
    assert_true(cw_mapping_uses_column(m, "record_id"));
    assert_false(cw_mapping_uses_column(m, "website"));
    cw_strref row[] = {{"101", 3}, {"Acme", 4}, {"smb", 3}};
    int native[CW_MAX_FIELDS];
    for (int i = 0; i < CW_MAX_FIELDS; i++)
        native[i] = -1;
    native[fidx(CW_KIND_ACCOUNTS, "segment")] = 2;
    cw_map_record crec = {.cells = row, .ncells = 3};
    cw_strref texts[CW_MAX_FIELDS];
    const char *origin[CW_MAX_FIELDS];
    memset(texts, 0, sizeof texts);
    static cw_map_scratch sc;
    unsigned set;
    int bad;
    char w[256];
    assert_true(
        cw_mapping_apply(m, &crec, native, NULL, &sc, texts, origin, &set, &bad, w, sizeof w));
    assert_int_equal(texts[0].len, 3);
    assert_memory_equal(texts[1].s, "Acme", 4);
    assert_memory_equal(texts[fidx(CW_KIND_ACCOUNTS, "segment")].s, "smb", 3);
    assert_string_equal(origin[1], "Company name");
    cw_strref hdr2[] = {{"id", 2}};
    assert_int_equal(cw_mapping_bind_header(m, hdr2, 1, &missing), 2);
    assert_string_equal(missing, "Record ID");
    cw_source_clear(&src);
}

static void test_presets(void **state)
{
    (void)state;
    const char *text = cw_preset_text("example");
    assert_non_null(text);
    assert_non_null(strstr(text, "[source.example]"));
    assert_null(cw_preset_text("nope"));
    cw_source src;
    char *err = NULL;
    assert_int_equal(cw_source_compile(NULL, "example", 1, &src, &err), CW_OK);
    assert_int_equal(src.nmaps, 1);
    assert_int_equal(src.maps[0]->kind, CW_KIND_ACCOUNTS);
    assert_non_null(src.description);
    cw_source_clear(&src);
    /* A configured source starting from a preset, overriding one key. */
    cw_mapping *m =
        must("preset = example\nstatus = 'trial'\nsegment.map = customer=smb, *=mid\n", &src);
    assert_true(apply_json(m, "{}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "status"), "trial");
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "currency"), "USD");
    /* The override replaces the preset's map (customer=mid there). */
    assert_true(apply_json(m, "{\"Lifecycle Stage\":\"customer\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "segment"), "smb");
    assert_true(apply_json(m, "{\"Lifecycle Stage\":\"evangelist\"}", NULL));
    assert_string_equal(GOT(CW_KIND_ACCOUNTS, "segment"), "mid");
    cw_source_clear(&src);
    assert_int_equal(cw_source_compile(NULL, "nope", 1, &src, &err), CW_ERR_NOTFOUND);
    assert_string_equal(err, "no preset named 'nope' (see `churnwatch sources list`)");
    free(err);
}

typedef struct err_case {
    const char *body, *want;
} err_case;

static void test_errors(void **state)
{
    (void)state;
    const err_case cases[] = {
        {"name = x\n", "t.conf:2: [source.t] kind: is required: the target kind (accounts, users, "
                       "events, ...)"},
        {"kind = nope\n", "t.conf:2: [source.t] kind: 'nope' is not a kind (see `churnwatch help "
                          "data-model`)"},
        {"kind = accounts\nfrob = 1\n",
         "t.conf:3: [source.t] frob: is neither a key of a source (kind, preset, description, "
         "format, records, each, where, files, provision_users, merge, data_end, or a field of "
         "the kind with .map .unit .scale .format .zone .lookup .table) nor a field of accounts"},
        {"kind = accounts\nname.frob = 1\n",
         "t.conf:3: [source.t] name.frob: is not a modifier (map, unit, scale, format, zone, "
         "lookup, table)"},
        {"kind = accounts\nname.unit = s\n",
         "t.conf:3: [source.t] name.unit: applies only to money and timestamp fields"},
        {"kind = accounts\nmrr_minor.unit = cents\n",
         "t.conf:3: [source.t] mrr_minor.unit: is not major or minor (a money field)"},
        {"kind = events\nts.unit = ns\n",
         "t.conf:3: [source.t] ts.unit: is not s, ms or us (a timestamp given as a number)"},
        {"kind = accounts\nmrr_minor.scale = 1/0\n",
         "t.conf:3: [source.t] mrr_minor.scale: is not N or 1/N (N a whole number 1..1000000)"},
        {"kind = accounts\nseats.scale = 2\n",
         "t.conf:3: [source.t] seats.scale: applies only to money fields"},
        {"kind = events\nts.format = %H:%M\n",
         "t.conf:3: [source.t] ts.format: needs %Y, %m and %d once each"},
        {"kind = events\nts.format = %Y-%m-%d %z\n",
         "t.conf:3: [source.t] ts.format: uses an unknown directive (only %Y %m %d %H %M %S %%)"},
        {"kind = accounts\nname.format = %Y\n",
         "t.conf:3: [source.t] name.format: applies only to timestamp and date fields"},
        {"kind = events\nts.zone = Mars/Base\n",
         "t.conf:3: [source.t] ts.zone: unknown time zone 'Mars/Base' (not in the tz database "
         "/usr/share/zoneinfo)"},
        {"kind = events\nts.zone = ../../etc/passwd\n",
         "t.conf:3: [source.t] ts.zone: '../../etc/passwd' is not a time zone name"},
        {"kind = events\nts.zone = +25:00\n",
         "t.conf:3: [source.t] ts.zone: is not an offset ±HH:MM"},
        {"kind = events\naccount_id.lookup = by_guess\n",
         "t.conf:3: [source.t] account_id.lookup: is not user_account, account_by_name or "
         "account_by_domain"},
        {"kind = events\naccount_id.lookup = user_account\n",
         "t.conf: [source.t] account_id.lookup: the field has no source expression"},
        {"kind = events\naccount_id = tokens('x')\n",
         "t.conf:3: [source.t] account_id: tokens() reads a column or path, not a constant"},
        {"kind = tickets\ncategory = tokens(Tags)\n",
         "t.conf: [source.t] category: tokens() picks the first word the value map knows: give "
         "category.map"},
        {"kind = accounts\nname = \"\"\n",
         "t.conf:3: [source.t] name: a quoted column name is empty"},
        {"kind = events\nevent = each.a.\"b\n",
         "t.conf:3: [source.t] event: path has an unclosed '\"'"},
        {"kind = accounts\nwhere = a = 1 and b\n",
         "t.conf:3: [source.t] where: expects 'expression = value', '!= value', 'in v1, v2', "
         "'not in v1, v2', 'present' or 'absent' (conditions joined by 'and')"},
        {"kind = accounts\nformat = csv, xml\n",
         "t.conf:3: [source.t] format: is not one of auto, csv, jsonl, json (or a list: json, "
         "jsonl)"},
        {"kind = accounts\ncurrency = 'USD\n",
         "t.conf:3: [source.t] currency: a constant must be quoted as 'text'"},
        {"kind = accounts\nname = a |\n", "t.conf:3: [source.t] name: an alternative is empty"},
        {"kind = accounts\nname = !!!\n", "t.conf:3: [source.t] name: names no column (nothing "
                                          "but punctuation, or too long)"},
        {"kind = accounts\nsegment.map = a, b\n",
         "t.conf:3: [source.t] segment.map: expects from=to pairs separated by commas"},
        {"kind = accounts\nformat = xml\n",
         "t.conf:3: [source.t] format: is not one of auto, csv, jsonl, json (or a list: json, "
         "jsonl)"},
        {"kind = accounts\nrecords = data[x]\n",
         "t.conf:3: [source.t] records: path index must be [N] with N >= 0"},
        {"kind = events\nevent = each.\n", "t.conf:3: [source.t] event: path is empty"},
        {"kind = events\nevent = each.a..b\n",
         "t.conf:3: [source.t] event: path has an empty step"},
        {"kind = accounts\nwhere = type\n",
         "t.conf:3: [source.t] where: expects 'expression = value', '!= value', 'in v1, v2', "
         "'not in v1, v2', 'present' or 'absent' (conditions joined by 'and')"},
        {"kind = accounts\nmerge = maybe\n", "t.conf:3: [source.t] merge: is not yes or no"},
        {"kind = accounts\nprovision_users = 2\n",
         "t.conf:3: [source.t] provision_users: is not yes or no"},
        {"kind = accounts\ndata_end = soon\n",
         "t.conf:3: [source.t] data_end: is not a date (YYYY-MM-DD) or today"},
        {"kind = accounts\naccount_id.table = none.csv\n", "none.csv: cannot open"},
        {"preset = nope\n", "t.conf:2: [source.t] preset: no preset named 'nope' (see `churnwatch "
                            "sources list`)"},
        {"preset = example.other\n",
         "t.conf:2: [source.t] preset: no section [source.example.other] in preset example"},
        {"preset = example\nevent = x\n",
         "t.conf:3: [source.t] event: is not a field of any kind of preset example"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cw_source src;
        char *err = NULL;
        cw_status s = compile(cases[i].body, &src, &err);
        if (s == CW_OK)
            fail_msg("case %zu compiled; want %s", i, cases[i].want);
        const char *e = err ? strstr(err, "t.conf") : NULL;
        if (!e || !strstr(e, cases[i].want))
            fail_msg("case %zu: got '%s'\n want '%s'", i, err ? err : "(null)", cases[i].want);
        free(err);
    }
}

/* Quoted column names: exact header text (trimmed), not normalised, so
 * "#" (nothing but punctuation) can be named; name(...) is a call only for
 * a known function; a quoted step of a JSON path keeps its dots. */
static void test_quoted_names(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = surveys\nsurvey_id = \"#\" | Token\n"
                         "responded_at = \"Submit Date (UTC)\"\n"
                         "comment = Start Date (UTC)\nscore = properties.\"a.b\"[1]\n",
                         &src);
    /* "Submit Date (UTC)" is a column (submit_date is no function). */
    assert_int_equal(m->fields[fidx(CW_KIND_SURVEYS, "comment")].e.alts[0].type, CW_ALT_COLUMN);
    assert_string_equal(m->fields[fidx(CW_KIND_SURVEYS, "comment")].e.alts[0].norm,
                        "start_date_utc");
    cw_strref hdr[] = {
        {" # ", 3}, {"Submit Date (UTC)", 17}, {"Start Date (UTC)", 16}, {"submit date utc", 15}};
    const char *missing = NULL;
    assert_int_equal(cw_mapping_bind_header(m, hdr, 4, &missing), 0);
    assert_int_equal(m->fields[fidx(CW_KIND_SURVEYS, "survey_id")].e.alts[0].col, 0);
    /* Exact: the column spelled so, not the one that normalises alike. */
    assert_int_equal(m->fields[fidx(CW_KIND_SURVEYS, "responded_at")].e.alts[0].col, 1);
    assert_int_equal(m->fields[fidx(CW_KIND_SURVEYS, "comment")].e.alts[0].col, 2);
    /* Case matters in an exact name. */
    cw_strref hdr2[] = {{"submit date (utc)", 17}, {"#", 1}};
    assert_int_equal(cw_mapping_bind_header(m, hdr2, 2, &missing), 0);
    assert_int_equal(m->fields[fidx(CW_KIND_SURVEYS, "responded_at")].e.alts[0].col, -1);
    /* JSON: "#" is the key "#"; properties."a.b"[1] the key "a.b". */
    assert_true(
        apply_json(m, "{\"#\":\"tok\",\"properties\":{\"a.b\":[1,7],\"a\":{\"b\":[2,8]}}}", NULL));
    assert_string_equal(GOT(CW_KIND_SURVEYS, "survey_id"), "tok");
    assert_string_equal(GOT(CW_KIND_SURVEYS, "score"), "7");
    cw_source_clear(&src);
}

/* where: conditions joined by and; present / absent. */
static void test_where_and_present(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = events\nwhere = type in track, page and context.groupId | userId "
                         "present and anonymousId absent\nts = t\naccount_id = 'A'\nevent = 'e'\n",
                         &src);
    assert_int_equal(m->nwhere, 3);
    const char *cases[][2] = {
        {"{\"type\":\"track\",\"userId\":\"u\"}", "1"},
        {"{\"type\":\"page\",\"context\":{\"groupId\":\"g\"}}", "1"},
        /* neither a group nor a user: filtered */
        {"{\"type\":\"track\",\"userId\":\"  \",\"context\":{}}", "0"},
        {"{\"type\":\"identify\",\"userId\":\"u\"}", "0"},
        {"{\"type\":\"track\",\"userId\":\"u\",\"anonymousId\":\"x\"}", "0"},
        /* null is absent */
        {"{\"type\":\"track\",\"userId\":\"u\",\"anonymousId\":null}", "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cw_map_record rec = json_rec(cases[i][0], NULL);
        if (cw_mapping_where(m, &rec) != (cases[i][1][0] == '1'))
            fail_msg("where on %s: want %s", cases[i][0], cases[i][1]);
    }
    cw_source_clear(&src);
    /* After '=' the words present / absent are values; quotes keep " and ". */
    m = must("kind = events\nwhere = state = absent and name = 'R and D'\nts = t\n"
             "account_id = 'A'\nevent = 'e'\n",
             &src);
    assert_int_equal(m->nwhere, 2);
    cw_map_record rec = json_rec("{\"state\":\"Absent\",\"name\":\"r and d\"}", NULL);
    assert_true(cw_mapping_where(m, &rec));
    rec = json_rec("{\"name\":\"R and D\"}", NULL);
    assert_false(cw_mapping_where(m, &rec));
    cw_source_clear(&src);
}

/* tokens(x): the first word the map knows decides; none: the next
 * alternative; the * fallback applies to the others only. */
static void test_tokens(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m =
        must("kind = tickets\ncategory = tokens(Tags) | type | 'other'\n"
             "category.map = how_to=introductory, billing=billing, question=introductory,"
             " incident=bug, *=other\n",
             &src);
    assert_true(apply_json(m, "{\"Tags\":\"vip  Billing,invoice\",\"type\":\"incident\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "category"), "billing");
    assert_true(apply_json(m, "{\"Tags\":\"how_to billing\",\"type\":\"incident\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "category"), "introductory"); /* the first */
    /* No tag known: the type, through the map. */
    assert_true(apply_json(m, "{\"Tags\":\"vip trial\",\"type\":\"incident\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "category"), "bug");
    /* Neither: the constant; an unknown type: the * fallback. */
    assert_true(apply_json(m, "{\"Tags\":\"vip\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "category"), "other");
    assert_true(apply_json(m, "{\"Tags\":\"\",\"type\":\"task\"}", NULL));
    assert_string_equal(GOT(CW_KIND_TICKETS, "category"), "other");
    assert_string_equal(m->fields[fidx(CW_KIND_TICKETS, "category")].e.alts[0].text, "Tags");
    cw_source_clear(&src);
}

/* .zone on numbers: local wall-clock seconds in that zone. */
static void test_numeric_zone(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = events\nts = t\nts.unit = s\nts.zone = America/Los_Angeles\n"
                         "account_id = 'A'\nevent = 'e'\n",
                         &src);
    /* 1717409700 = 2024-06-03 10:15:00 read as Los Angeles wall clock
     * (PDT, UTC-7) is 17:15 UTC. */
    assert_true(apply_json(m, "{\"t\":1717409700}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-06-03T17:15:00Z");
    /* 1704103200 = 2024-01-01 10:00 wall clock, PST (UTC-8): 18:00 UTC. */
    assert_true(apply_json(m, "{\"t\":\"1704103200\"}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-01-01T18:00:00Z");
    cw_source_clear(&src);
    m = must("kind = events\nts = t\nts.unit = ms\nts.zone = +02:00\naccount_id = 'A'\n"
             "event = 'e'\n",
             &src);
    assert_true(apply_json(m, "{\"t\":1717409700999}", NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-06-03T08:15:00Z");
    cw_source_clear(&src);
}

/* Long configuration lines: accepted up to CW_INI_MAX_LINE bytes (no
 * longer cut at inih's 200), longer ones an error naming file:line; and
 * indented continuation lines joined with one space. */
static void test_long_lines(void **state)
{
    (void)state;
    size_t big = CW_INI_MAX_LINE + 200;
    char *text = malloc(big), *longv = malloc(big);
    assert_non_null(text);
    assert_non_null(longv);
    memset(longv, 'a', 4000);
    longv[4000] = '\0';
    snprintf(text, big, "[source.t]\nkind = accounts\nsegment = s\nsegment.map = x=%s\nname = n\n",
             longv);
    write_file("long.conf", text);
    cw_config *c = NULL;
    cw_error cerr;
    assert_int_equal(cw_config_load(path_of("long.conf"), &c, &cerr), CW_OK);
    cw_config_free(c);
    /* one byte over the limit: "segment.map = x=" is 16 bytes */
    memset(longv, 'a', CW_INI_MAX_LINE - 16 + 1);
    longv[CW_INI_MAX_LINE - 16 + 1] = '\0';
    snprintf(text, big, "[source.t]\nkind = accounts\nsegment.map = x=%s\nname = n\n", longv);
    write_file("long.conf", text);
    assert_int_equal(cw_config_load(path_of("long.conf"), &c, &cerr), CW_ERR_CONFIG);
    assert_non_null(strstr(cerr.msg, "long.conf:3: line longer than 65536 bytes"));
    char *err = NULL;
    cw_source src;
    cw_mapping *m = must("kind = accounts\nsegment = s\nsegment.map = a=smb,\n"
                         "    b=mid,\n\tc=enterprise\nname = n\n",
                         &src);
    const cw_map_field *f = &m->fields[fidx(CW_KIND_ACCOUNTS, "segment")];
    assert_int_equal(f->nmap, 3);
    assert_string_equal(f->map_from[2], "c");
    assert_string_equal(f->map_to[1], "mid");
    cw_source_clear(&src);
    /* Preset text too. */
    memset(longv, 'a', CW_INI_MAX_LINE);
    longv[CW_INI_MAX_LINE] = '\0';
    snprintf(text, big, "[source.p]\nkind = accounts\nname = %s\n", longv);
    assert_int_equal(cw_source_compile_text("p", text, &src, &err), CW_ERR_CONFIG);
    assert_string_equal(err, "preset p:3: line longer than 65536 bytes");
    free(err);
    assert_int_equal(cw_source_compile_text("p",
                                            "[source.p]\nkind = accounts\nwhere = a = 1\n"
                                            "  and b present\n",
                                            &src, &err),
                     CW_OK);
    assert_int_equal(src.maps[0]->nwhere, 2);
    cw_source_clear(&src);
    /* A preset key given twice is an error, not the last one winning. */
    assert_int_equal(cw_source_compile_text(
                         "p", "[source.p]\nkind = accounts\nname = a\nname = b\n", &src, &err),
                     CW_ERR_CONFIG);
    assert_string_equal(err, "preset p:4: [source.p] name: given again (first at line 3); a key "
                             "is given once per section");
    free(err);
    free(text);
    free(longv);
}

/* A section declaring a format reads only files of it. */
static void test_format_filter(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = accounts\nformat = csv\n", &src);
    assert_true(cw_mapping_accepts(m, 'R'));
    assert_false(cw_mapping_accepts(m, '{'));
    cw_source_clear(&src);
    m = must("kind = accounts\nformat = json, jsonl\n", &src);
    assert_int_equal(m->format, CW_FMT_AUTO);
    assert_true(cw_mapping_accepts(m, '['));
    assert_true(cw_mapping_accepts(m, '{'));
    assert_false(cw_mapping_accepts(m, 'i'));
    cw_source_clear(&src);
    m = must("kind = accounts\n", &src);
    assert_true(cw_mapping_accepts(m, 'i') && cw_mapping_accepts(m, '{'));
    cw_source_clear(&src);
}

/* Paths of one or two keys are resolved in one pass over the scanner's
 * member lists (mapping.c, plan_resolve): the same values as a walk. */
static void test_resolved_paths(void **state)
{
    (void)state;
    cw_source src;
    cw_mapping *m = must("kind = events\n"
                         "where = type in track\n"
                         "ts = when | ctx.when\n"
                         "account_id = ctx.acct | acct\n"
                         "user_id = who.id\n"
                         "event = what\n"
                         "value = props.value\n"
                         "event_id = ctx.ids[0] | id\n",
                         &src);
    assert_true(m->plan.nslots > 0);
    /* Escaped keys read decoded; ctx is both a leaf and a parent here; a
     * path through a string is absent; a deeper object is not looked in. */
    assert_true(
        apply_json(m,
                   "{\"type\":\"track\",\"wh\\u0065n\":\"2024-01-02\","
                   "\"ctx\":{\"a\\u0063ct\":\"A1\",\"ids\":[\"E1\"],\"x\":{\"acct\":\"no\"}},"
                   "\"who\":\"u1\",\"what\":\"login\",\"props\":{\"value\":2.50}}",
                   NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-01-02");
    assert_string_equal(GOT(CW_KIND_EVENTS, "account_id"), "A1");
    assert_string_equal(GOT(CW_KIND_EVENTS, "user_id"), "");
    assert_string_equal(GOT(CW_KIND_EVENTS, "value"), "2.5");
    assert_string_equal(GOT(CW_KIND_EVENTS, "event_id"), "E1");
    /* Alternatives fall through to the next path; a value inside an object
     * one level down that is itself an object is no value. */
    assert_true(apply_json(m,
                           "{\"acct\":\"A2\",\"ctx\":{\"when\":\"2024-01-03\"},"
                           "\"who\":{\"id\":7},\"id\":\"E2\",\"what\":\"x\"}",
                           NULL));
    assert_string_equal(GOT(CW_KIND_EVENTS, "ts"), "2024-01-03");
    assert_string_equal(GOT(CW_KIND_EVENTS, "account_id"), "A2");
    assert_string_equal(GOT(CW_KIND_EVENTS, "user_id"), "7");
    assert_string_equal(GOT(CW_KIND_EVENTS, "event_id"), "E2");
    assert_false(apply_json(m, "{\"who\":{\"id\":{\"a\":1}}}", NULL));
    assert_string_equal(why, "is an object or array, not a value");
    assert_int_equal(bad_field, fidx(CW_KIND_EVENTS, "user_id"));
    cw_map_record rec = json_rec("{\"type\":\"page\",\"what\":\"x\"}", NULL);
    assert_false(cw_mapping_where(m, &rec));
    rec = json_rec("{\"what\":\"x\",\"type\":\"track\"}", NULL);
    assert_true(cw_mapping_where(m, &rec));
    cw_source_clear(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),      cmocka_unit_test(test_paths_alternatives_constants),
        cmocka_unit_test(test_maps),           cmocka_unit_test(test_time_units),
        cmocka_unit_test(test_money),          cmocka_unit_test(test_formats_and_zones),
        cmocka_unit_test(test_lookups),        cmocka_unit_test(test_where_each_csv),
        cmocka_unit_test(test_presets),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_quoted_names),   cmocka_unit_test(test_where_and_present),
        cmocka_unit_test(test_tokens),         cmocka_unit_test(test_numeric_zone),
        cmocka_unit_test(test_long_lines),     cmocka_unit_test(test_format_filter),
        cmocka_unit_test(test_resolved_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
