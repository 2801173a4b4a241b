/*
 * test_schema.c — the data model table: every kind is defined and named,
 * field names and aliases resolve to exactly one field, header detection
 * picks the right kind (and the closest one, with what it lacks), and
 * docs/data-model.md mentions every field.
 *
 * The docs check reads the file named by argv[1], else
 * CW_SOURCE_DIR/docs/data-model.md; when neither exists it is skipped with
 * a message (the docs are written separately from the code).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/util.h"
#include "ingest/schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CW_SOURCE_DIR
#define CW_SOURCE_DIR "."
#endif

static const char *docs_path;

static const struct {
    cw_kind kind;
    const char *name;
} kind_names[] = {
    {CW_KIND_ACCOUNTS, "accounts"}, {CW_KIND_SUBSCRIPTIONS, "subscriptions"},
    {CW_KIND_USERS, "users"},       {CW_KIND_FEATURES, "features"},
    {CW_KIND_EVENTS, "events"},     {CW_KIND_TRAININGS, "trainings"},
    {CW_KIND_TICKETS, "tickets"},   {CW_KIND_SURVEYS, "surveys"},
    {CW_KIND_GOALS, "goals"},       {CW_KIND_GOAL_MEASUREMENTS, "goal_measurements"},
    {CW_KIND_JOURNEY, "journey"},   {CW_KIND_SUBSCRIPTION_PERIODS, "subscription_periods"},
};

static void test_every_kind_defined(void **state)
{
    (void)state;
    assert_int_equal(sizeof kind_names / sizeof kind_names[0], CW_KIND__COUNT - 1);
    for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++) {
        const cw_kind_def *kd = cw_kind_get(kind_names[k].kind);
        assert_non_null(kd);
        assert_int_equal(kd->kind, kind_names[k].kind);
        assert_string_equal(kd->name, kind_names[k].name);
        assert_non_null(kd->table);
        assert_true(kd->table[0] != '\0');
        assert_non_null(kd->doc);
        assert_true(kd->doc[0] != '\0');
        assert_non_null(kd->fields);
        if (kd->nfields < 1 || kd->nfields > CW_MAX_FIELDS)
            fail_msg("%s has %d fields (1..%d allowed)", kd->name, kd->nfields, CW_MAX_FIELDS);
    }
    assert_null(cw_kind_get(CW_KIND_NONE));
    assert_null(cw_kind_get(CW_KIND__COUNT));
    assert_null(cw_kind_get((cw_kind)-1));
    assert_null(cw_kind_get((cw_kind)1000));
}

static void test_kind_names_round_trip(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++) {
        assert_int_equal(cw_kind_from_name(kind_names[k].name), kind_names[k].kind);
        char upper[64];
        size_t n = strlen(kind_names[k].name);
        for (size_t i = 0; i <= n; i++)
            upper[i] = (char)toupper((unsigned char)kind_names[k].name[i]);
        assert_int_equal(cw_kind_from_name(upper), kind_names[k].kind);
    }
    static const char *not_kinds[] = {"",          "none",  "account",
                                      "accounts ", "event", "goal-measurements"};
    for (size_t i = 0; i < sizeof not_kinds / sizeof not_kinds[0]; i++)
        assert_int_equal(cw_kind_from_name(not_kinds[i]), CW_KIND_NONE);
    assert_int_equal(cw_kind_from_name(NULL), CW_KIND_NONE);
}

/* Field definitions are well-formed: unique lower-case names, sane bounds,
 * enum values where needed, docs, and KEY implies REQUIRED. */
static void test_field_defs_well_formed(void **state)
{
    (void)state;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        int keys = 0;
        for (int i = 0; i < kd->nfields; i++) {
            const cw_field_def *f = &kd->fields[i];
            assert_non_null(f->name);
            for (const char *c = f->name; *c; c++)
                if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_'))
                    fail_msg("%s.%s: name is not [a-z0-9_]", kd->name, f->name);
            for (int j = 0; j < i; j++)
                if (strcmp(kd->fields[j].name, f->name) == 0)
                    fail_msg("%s: field '%s' defined twice", kd->name, f->name);
            if (!f->doc || !f->doc[0])
                fail_msg("%s.%s: no doc", kd->name, f->name);
            if ((f->type == CW_F_ENUM) != (f->enum_values != NULL))
                fail_msg("%s.%s: enum_values must be set exactly for enums", kd->name, f->name);
            if ((f->type == CW_F_INT || f->type == CW_F_MONEY) && f->min > f->max)
                fail_msg("%s.%s: min > max", kd->name, f->name);
            if (f->type == CW_F_TEXT && f->max <= 0)
                fail_msg("%s.%s: text without a maximum length", kd->name, f->name);
            /* A key column is never NULL: required, or an enum with a default. */
            if ((f->flags & CW_FD_KEY) && !(f->flags & CW_FD_REQUIRED) &&
                !((f->flags & CW_FD_DEFAULT) && f->type == CW_F_ENUM))
                fail_msg("%s.%s: a key field must be required or defaulted", kd->name, f->name);
            keys += (f->flags & CW_FD_KEY) != 0;
        }
        /* Events are de-duplicated by id or content, not by a natural key. */
        if (k != CW_KIND_EVENTS && keys == 0)
            fail_msg("%s has no CW_FD_KEY field", kd->name);
    }
}

/* Each canonical name and each alias resolves to its own field, whatever
 * the case and surrounding blanks. */
static void test_names_and_aliases_resolve(void **state)
{
    (void)state;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        for (int i = 0; i < kd->nfields; i++) {
            const cw_field_def *f = &kd->fields[i];
            int got = cw_schema_field_index(kd, f->name, strlen(f->name));
            if (got != i)
                fail_msg("%s: '%s' resolves to field %d, want %d", kd->name, f->name, got, i);
            for (const char *a = f->aliases; a && *a;) {
                const char *bar = strchr(a, '|');
                size_t alen = bar ? (size_t)(bar - a) : strlen(a);
                char cell[80];
                assert_true(alen > 0 && alen + 4 < sizeof cell);
                /* " ALIAS\t": upper case, padded */
                cell[0] = ' ';
                for (size_t c = 0; c < alen; c++)
                    cell[1 + c] = (char)toupper((unsigned char)a[c]);
                cell[1 + alen] = '\t';
                got = cw_schema_field_index(kd, cell, alen + 2);
                if (got != i)
                    fail_msg("%s: alias '%.*s' of %s resolves to %d", kd->name, (int)alen, a,
                             f->name, got);
                a = bar ? bar + 1 : NULL;
            }
        }
    }
}

typedef struct index_case {
    cw_kind kind;
    const char *cell;
    size_t len;       /* 0 = strlen */
    const char *want; /* canonical name, or NULL for -1 */
} index_case;

static const index_case index_cases[] = {
    {CW_KIND_ACCOUNTS, "account_id", 0, "account_id"},
    {CW_KIND_ACCOUNTS, "Account_ID", 0, "account_id"},
    {CW_KIND_ACCOUNTS, "  CUSTOMER_ID\t", 0, "account_id"},
    {CW_KIND_ACCOUNTS, "MRR", 0, "mrr_minor"},
    {CW_KIND_ACCOUNTS, "Mrr_Cents ", 0, "mrr_minor"},
    {CW_KIND_ACCOUNTS, "licences", 0, "seats"},
    {CW_KIND_ACCOUNTS, "account_idXYZ", 10, "account_id"}, /* only len bytes count */
    {CW_KIND_ACCOUNTS, "mrr_cent", 0, NULL},
    {CW_KIND_ACCOUNTS, "account_id_x", 0, NULL},
    /* Headers are normalised (docs/importers.md): case, spaces and
     * punctuation do not matter. */
    {CW_KIND_ACCOUNTS, "account id", 0, "account_id"},
    {CW_KIND_ACCOUNTS, "Account Name", 0, "name"},
    {CW_KIND_ACCOUNTS, "-- MRR (cents) --", 0, "mrr_minor"},
    {CW_KIND_ACCOUNTS, "account-id", 0, "account_id"},
    {CW_KIND_ACCOUNTS, "accountid", 0, NULL},
    {CW_KIND_ACCOUNTS, "", 0, NULL},
    {CW_KIND_ACCOUNTS, "   ", 0, NULL},
    {CW_KIND_ACCOUNTS, "|", 0, NULL},
    {CW_KIND_EVENTS, "Timestamp", 0, "ts"},
    {CW_KIND_EVENTS, "name", 0, "event"},
    {CW_KIND_EVENTS, "insert_id", 0, "event_id"},
    {CW_KIND_EVENTS, "id", 0, "event_id"},
    {CW_KIND_USERS, "id", 0, "user_id"},
    {CW_KIND_SURVEYS, "rating", 0, "score"},
    {CW_KIND_TICKETS, "rating", 0, "satisfaction"},
    {CW_KIND_TICKETS, "type", 0, "category"},
    {CW_KIND_JOURNEY, "utm_source", 0, "source"},
    {CW_KIND_GOAL_MEASUREMENTS, "at", 0, "measured_at"},
};

static void test_field_index_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof index_cases / sizeof index_cases[0]; k++) {
        const index_case *c = &index_cases[k];
        const cw_kind_def *kd = cw_kind_get(c->kind);
        int got = cw_schema_field_index(kd, c->cell, c->len ? c->len : strlen(c->cell));
        const char *name = got >= 0 ? kd->fields[got].name : NULL;
        if (!c->want ? got != -1 : !name || strcmp(name, c->want) != 0)
            fail_msg("%s: '%s' → %s, want %s", kd->name, c->cell, name ? name : "-1",
                     c->want ? c->want : "-1");
    }
}

/* ---- header detection ----------------------------------------------- */

/* Splits a comma-separated header into refs (pointing into h). */
static int split(const char *h, cw_strref *out, int max)
{
    int n = 0;
    const char *p = h;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        assert_true(n < max);
        out[n].s = p;
        out[n].len = len;
        n++;
        if (!c)
            return n;
        p = c + 1;
    }
}

/* Each kind's full canonical header and its required-only header detect that kind. */
static void test_detect_canonical_headers(void **state)
{
    (void)state;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        for (int required_only = 0; required_only <= 1; required_only++) {
            cw_strref names[CW_MAX_FIELDS];
            int n = 0;
            for (int i = 0; i < kd->nfields; i++) {
                if (required_only && !(kd->fields[i].flags & CW_FD_REQUIRED))
                    continue;
                names[n].s = kd->fields[i].name;
                names[n].len = strlen(kd->fields[i].name);
                n++;
            }
            int amb = -1;
            cw_kind got = cw_schema_detect(names, n, &amb);
            if (got != (cw_kind)k || amb != 0)
                fail_msg("%s header (%s): detected %d (ambiguous %d)", kd->name,
                         required_only ? "required fields" : "all fields", (int)got, amb);
            /* Column order does not matter. */
            for (int i = 0; i < n / 2; i++) {
                cw_strref t = names[i];
                names[i] = names[n - 1 - i];
                names[n - 1 - i] = t;
            }
            assert_int_equal(cw_schema_detect(names, n, NULL), k);
        }
    }
}

typedef struct detect_case {
    const char *header;
    cw_kind want;
    int ambiguous;
} detect_case;

static const detect_case detect_cases[] = {
    /* Aliases, mixed case, padding. */
    {"customer_id,company,tier_segment,start_date,licenses,mrr_cents,mrr_currency,account_status",
     CW_KIND_ACCOUNTS, 0},
    {"Account_ID , Name,Segment,Contract_Start,Seats,MRR,Currency,Status", CW_KIND_ACCOUNTS, 0},
    {"timestamp,account,user,event_name,amount,message_id", CW_KIND_EVENTS, 0},
    {"user,account,email_address,created_at", CW_KIND_USERS, 0},
    {"id,account,requester,created_at,solved_at,type", CW_KIND_TICKETS, 0},
    {"response_id,account,survey_type,answered_at,rating,verbatim", CW_KIND_SURVEYS, 0},
    {"account,date,mrr,currency,quantity,plan_name", CW_KIND_SUBSCRIPTIONS, 0},
    {"event_name,feature_name,level,due_day", CW_KIND_FEATURES, 0},
    {"lead_id,funnel_stage,timestamp,utm_source,cost_cents,cost_currency", CW_KIND_JOURNEY, 0},
    {"goal,date,measurement_kind,measured_value", CW_KIND_GOAL_MEASUREMENTS, 0},
    /* Extra unknown columns are tolerated. */
    {"ts,account_id,event,browser,country", CW_KIND_EVENTS, 0},
    /* Unrelated or incomplete headers. */
    {"foo,bar,baz", CW_KIND_NONE, 0},
    {"", CW_KIND_NONE, 0},
    {"account_id,name", CW_KIND_NONE, 0},
    {"ts,account_id", CW_KIND_NONE, 0},
    /* Complete for events and for features with the same score: ambiguous. */
    {"event,feature,tier,ts,account_id", CW_KIND_NONE, 1},
};

static void test_detect_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof detect_cases / sizeof detect_cases[0]; k++) {
        const detect_case *c = &detect_cases[k];
        cw_strref names[64];
        int n = c->header[0] ? split(c->header, names, 64) : 0;
        int amb = -1;
        cw_kind got = cw_schema_detect(names, n, &amb);
        if (got != c->want || amb != c->ambiguous)
            fail_msg("'%s': kind %d ambiguous %d, want kind %d ambiguous %d", c->header, (int)got,
                     amb, (int)c->want, c->ambiguous);
    }
}

typedef struct closest_case {
    const char *header;
    size_t missing_size;
    cw_kind want;
    const char *missing;
} closest_case;

static const closest_case closest_cases[] = {
    {"ts,account_id", 256, CW_KIND_EVENTS, "'event'"},
    {"ts,account_id,event", 256, CW_KIND_EVENTS, ""},
    {"user_id,account_id,email", 256, CW_KIND_USERS, "'provisioned_at'"},
    {"visitor_id,stage", 256, CW_KIND_JOURNEY, "'at'"},
    /* No column is one kind's only: the share of required columns decides
     * (events has 2 of 3 through name = event's alias, accounts 2 of 8). */
    {"account_id,name", 256, CW_KIND_EVENTS, "'ts'"},
    /* owner is only accounts': it decides. */
    {"account_id,name,owner", 256, CW_KIND_ACCOUNTS,
     "'segment', 'contract_start', 'seats', 'mrr_minor', 'currency', 'status'"},
    /* The list is cut to the buffer, never past it. */
    {"account_id,name,owner", 10, CW_KIND_ACCOUNTS, "'segment'"},
    {"account_id,name,owner", 12, CW_KIND_ACCOUNTS, "'segment', "},
    /* Real exports, headers normalised ("Account Name" → account_name): a
     * Salesforce accounts report is accounts, never tickets (its Type is
     * also tickets' and surveys'); a HubSpot companies export too. */
    {"Account Name,Account Owner,Type,Industry,Billing State/Province,Annual Revenue,Created "
     "Date,Account ID",
     256, CW_KIND_ACCOUNTS,
     "'segment', 'contract_start', 'seats', 'mrr_minor', 'currency', 'status'"},
    {"Record ID,Company name,Company owner,Create Date,Phone Number,Last Activity Date,City,"
     "Country/Region,Industry,Number of Employees,Annual Revenue,Lifecycle Stage",
     256, CW_KIND_ACCOUNTS,
     "'account_id', 'segment', 'contract_start', 'seats', 'mrr_minor', 'currency', 'status'"},
    /* A plain event table without the event column: events, not users. */
    {"timestamp,account,user,action", 256, CW_KIND_EVENTS, "'event'"},
    {"ts,account_id,user_id,value", 256, CW_KIND_EVENTS, "'event'"},
    {"foo,bar", 256, CW_KIND_NONE, ""},
    {"", 256, CW_KIND_NONE, ""},
};

static void test_closest_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof closest_cases / sizeof closest_cases[0]; k++) {
        const closest_case *c = &closest_cases[k];
        cw_strref names[64];
        int n = c->header[0] ? split(c->header, names, 64) : 0;
        char missing[300];
        memset(missing, 'x', sizeof missing);
        cw_kind got = cw_schema_closest(names, n, missing, c->missing_size);
        if (got != c->want || strcmp(missing, c->missing) != 0)
            fail_msg("'%s' (%zu): kind %d missing \"%s\", want kind %d missing \"%s\"", c->header,
                     c->missing_size, (int)got, missing, (int)c->want, c->missing);
        assert_int_equal(missing[c->missing_size], 'x');
    }
}

typedef struct cand_case {
    const char *header;
    int n;
    const char *want;
} cand_case;

/* cw_schema_candidates: the kinds a header no kind fits may be, each with
 * what it lacks, worked out by hand from the table. */
static const cand_case cand_cases[] = {
    /* Salesforce accounts report: account_name is accounts' only; Type is
     * also tickets' (alias) and surveys' (canonical), so neither counts. */
    {"Account Name,Account Owner,Type,Industry,Billing State/Province,Annual Revenue,Created "
     "Date,Account ID",
     1, "accounts (needs segment, contract_start, seats, mrr_minor, currency, status)"},
    /* HubSpot companies export: Company name → company_name, accounts' only. */
    {"Record ID,Company name,Company owner,Create Date,Phone Number,Last Activity Date,City,"
     "Country/Region,Industry,Number of Employees,Annual Revenue,Lifecycle Stage",
     1, "accounts (needs account_id, segment, contract_start, seats, mrr_minor, currency, status)"},
    /* An event table whose event column is called action: no column is one
     * kind's only; events has 2/3 of its required columns and reads 3
     * columns, users 2/3 reading 2, trainings 2/4 (0.5 ≥ half of 0.70). */
    {"timestamp,account,user,action", 3,
     "events (needs event), users (needs provisioned_at), trainings (needs course, completed_at)"},
    /* Complete for two kinds: both, saying so. */
    {"event,feature,tier,ts,account_id", 2,
     "features (has every required column), events (has every required column)"},
    {"foo,bar", 0, ""},
};

static void test_candidates(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cand_cases / sizeof cand_cases[0]; k++) {
        const cand_case *c = &cand_cases[k];
        cw_strref names[64];
        int n = split(c->header, names, 64);
        char out[512];
        int got = cw_schema_candidates(names, n, out, sizeof out);
        if (got != c->n || strcmp(out, c->want) != 0)
            fail_msg("'%s': %d \"%s\", want %d \"%s\"", c->header, got, out, c->n, c->want);
    }
    /* Cut to the buffer. */
    cw_strref names[64];
    int n = split("timestamp,account,user,action", names, 64);
    char small[16];
    memset(small, 'x', sizeof small);
    cw_schema_candidates(names, n, small, 10);
    assert_string_equal(small, "events (n");
    assert_int_equal(small[10], 'x');
}

/* The simulator's native headers are detected as their kinds. */
static void test_detect_simulator_headers(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        cw_kind kind;
    } sim[] = {
        {"account_id,name,segment,owner,contract_start,seats,mrr_minor,currency,renewal_date,"
         "status,"
         "churn_date,churn_reason",
         CW_KIND_ACCOUNTS},
        {"account_id,effective_at,mrr_minor,currency,seats,plan,billing_period",
         CW_KIND_SUBSCRIPTIONS},
        {"user_id,account_id,email,role,department,provisioned_at,deactivated_at", CW_KIND_USERS},
        {"event,feature,tier,milestone,milestone_due_day,first_value", CW_KIND_FEATURES},
        {"ts,account_id,user_id,event,value,event_id", CW_KIND_EVENTS},
        {"user_id,account_id,course,completed_at", CW_KIND_TRAININGS},
        {"ticket_id,account_id,user_id,opened_at,closed_at,category,priority,satisfaction",
         CW_KIND_TICKETS},
        {"survey_id,account_id,user_id,type,sent_at,responded_at,score,reason,comment",
         CW_KIND_SURVEYS},
        {"goal_id,account_id,metric,unit,baseline,target,start_date,target_date", CW_KIND_GOALS},
        {"goal_id,measured_at,kind,value", CW_KIND_GOAL_MEASUREMENTS},
        {"visitor_id,stage,at,source,campaign,cost_minor,currency,account_id", CW_KIND_JOURNEY},
        /* A plain event table with the names people give it. */
        {"timestamp,account,user,event", CW_KIND_EVENTS},
    };
    for (size_t k = 0; k < sizeof sim / sizeof sim[0]; k++) {
        cw_strref names[64];
        int n = split(sim[k].header, names, 64), amb = -1;
        cw_kind got = cw_schema_detect(names, n, &amb);
        if (got != sim[k].kind || amb)
            fail_msg("'%s': kind %d (ambiguous %d), want %d", sim[k].header, (int)got, amb,
                     (int)sim[k].kind);
    }
}

/* ---- docs/data-model.md agrees with the table ----------------------- */

/* Whether word occurs in text bounded by characters that cannot be part of a name. */
static int has_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = text; (p = strstr(p, word)) != NULL; p++) {
        int before = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = !(isalnum((unsigned char)p[wl]) || p[wl] == '_');
        if (before && after)
            return 1;
    }
    return 0;
}

static void test_docs_mention_every_field(void **state)
{
    (void)state;
    FILE *f = fopen(docs_path, "rb");
    if (!f) {
        print_message("docs check skipped: %s not found\n", docs_path);
        skip();
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    assert_non_null(text);
    text[len] = '\0';
    int missing = 0;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        if (!has_word(text, kd->name)) {
            print_error("%s: kind '%s' not mentioned\n", docs_path, kd->name);
            missing++;
        }
        for (int i = 0; i < kd->nfields; i++)
            if (!has_word(text, kd->fields[i].name)) {
                print_error("%s: field %s.%s not mentioned\n", docs_path, kd->name,
                            kd->fields[i].name);
                missing++;
            }
    }
    free(text);
    assert_int_equal(missing, 0);
}

int main(int argc, char **argv)
{
    docs_path = argc > 1 ? argv[1] : CW_SOURCE_DIR "/docs/data-model.md";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_defined),
        cmocka_unit_test(test_kind_names_round_trip),
        cmocka_unit_test(test_field_defs_well_formed),
        cmocka_unit_test(test_names_and_aliases_resolve),
        cmocka_unit_test(test_field_index_table),
        cmocka_unit_test(test_detect_canonical_headers),
        cmocka_unit_test(test_detect_table),
        cmocka_unit_test(test_closest_table),
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_detect_simulator_headers),
        cmocka_unit_test(test_docs_mention_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
