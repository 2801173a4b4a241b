/*
 * test_errors.c — the one error channel (issue 16, deliverable 3): the
 * message on a store handle belongs to the call that just returned (no
 * earlier call's message is ever shown), cw_store_why names the call when
 * a failure left no message, and failures deep in the revenue reports name
 * their cause.
 *
 * Out of memory is provoked, not assumed: this program is linked with
 * --wrap=malloc/calloc/realloc (tests/CMakeLists.txt), so every allocation
 * the library makes goes through fail_at below. The sweep fails the 1st,
 * 2nd, … allocation of a report call in turn until the call no longer
 * reaches the failing one. SQLite, jansson and libc allocate on their own
 * and are not affected.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "store/store.h"
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation failure injection --------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);

static long fail_at;   /* the allocation to fail (1-based); 0: none */
static long allocs;    /* allocations counted since arm() */
static int failed_one; /* fail_at was reached */

static int should_fail(void)
{
    if (!fail_at)
        return 0;
    if (++allocs != fail_at)
        return 0;
    failed_one = 1;
    return 1;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
    return should_fail() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

static void arm(long k)
{
    fail_at = k;
    allocs = 0;
    failed_one = 0;
}

/* ---- fixtures ------------------------------------------------------------ */

static cw_store *g_store;

static const char *accounts_csv =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status,churn_date\n"
    "A1,One Co,smb,2025-01-10,10,10000,USD,active,\n"
    "A2,Two Co,mid,2025-01-01,20,20000,USD,churned,2025-04-20\n"
    "A3,Three Co,smb,2025-02-01,5,5000,USD,active,\n";

static const char *subscriptions_csv =
    "account_id,effective_at,mrr_minor,currency,seats,plan,billing_period\n"
    "A1,2025-01-10,10000,USD,10,team,monthly\n"
    "A2,2025-01-01,20000,USD,20,team,monthly\n"
    "A2,2025-04-20,0,USD,0,team,monthly\n"
    "A3,2025-02-01,5000,USD,5,team,monthly\n"
    "A3,2025-03-15,7000,USD,7,team,monthly\n";

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("errors");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cw_store_close(g_store);
    g_store = NULL;
    return tu_remove_tmpdir();
}

static void load_world(const char *db)
{
    const char *const names[] = {"accounts.csv", "subscriptions.csv"};
    const char *const texts[] = {accounts_csv, subscriptions_csv};
    cw_store_close(g_store);
    g_store = NULL;
    tu_load(db, 2, names, texts, &g_store);
}

/* ---- stale messages ------------------------------------------------------ */

/* A failure that sets no message after one that did: the older message (for
 * the same status, even) must not be shown as the cause of the newer. */
static void test_no_stale_message(void **state)
{
    (void)state;
    load_world("stale.db");
    cw_store *st = g_store;
    /* 1: a failure with a message */
    assert_int_equal(cw_token_revoke(st, 424242, 1700000000), CW_ERR_NOTFOUND);
    assert_string_equal(cw_store_errmsg(st), "api tokens: no active token 424242");
    assert_string_equal(cw_store_why(st, CW_ERR_NOTFOUND), "api tokens: no active token 424242");
    /* 2: a malformed token fails without a message of its own */
    cw_token_role role;
    int64_t id;
    assert_int_equal(cw_token_verify(st, "nope", 4, 0, &role, &id, NULL, 0), CW_ERR_NOTFOUND);
    assert_string_equal(cw_store_errmsg(st), "");
    assert_string_equal(cw_store_why(st, CW_ERR_NOTFOUND), "token verify: not found");
    /* 3: a success leaves no message behind */
    assert_int_equal(cw_token_revoke(st, 424242, 1700000000), CW_ERR_NOTFOUND);
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(st, &o, &r), CW_OK);
    cw_revenue_free(r);
    assert_string_equal(cw_store_errmsg(st), "");
}

/* The message is tagged with its status: asked about another status,
 * cw_store_why answers for that status, not with the message. */
static void test_message_belongs_to_its_status(void **state)
{
    (void)state;
    load_world("status.db");
    cw_store *st = g_store;
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    o.segment = "nobody";
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(st, &o, &r), CW_ERR_NOTFOUND);
    assert_null(r);
    assert_non_null(strstr(cw_store_why(st, CW_ERR_NOTFOUND), "no subscriptions in segment"));
    assert_string_equal(cw_store_why(st, CW_ERR_IO), "revenue: input/output error");
    assert_string_equal(cw_store_why(NULL, CW_ERR_IO), "input/output error");
}

/* ---- causes named -------------------------------------------------------- */

/* An account id the ledger cannot hold: the message names the report and
 * the id, where it used to be a bare database error. */
static void test_account_id_out_of_range(void **state)
{
    (void)state;
    load_world("range.db");
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path_of("range.db"), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "UPDATE accounts SET id=3000000000 WHERE account_id='A3'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_ERR_DB);
    const char *why = cw_store_why(g_store, CW_ERR_DB);
    if (!strstr(why, "account id 3000000000 out of range"))
        fail_msg("why: %s", why);
}

/* Every out-of-memory failure of the revenue reports names its stage: the
 * handle's message (or, for an allocation in a callback without a handle,
 * the call's name) is never the bare status name or an older message. */
typedef cw_status (*report_fn)(cw_store *st);

static cw_status run_revenue(cw_store *st)
{
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    cw_revenue_report *r = NULL;
    cw_status s = cw_revenue_compute(st, &o, &r);
    cw_revenue_free(r);
    return s;
}

static cw_status run_cohorts(cw_store *st)
{
    cw_cohorts_opts o;
    cw_cohorts_opts_init(&o);
    cw_cohorts_report *r = NULL;
    cw_status s = cw_cohorts_compute(st, &o, &r);
    cw_cohorts_free(r);
    return s;
}

static cw_status run_ltv(cw_store *st)
{
    cw_ltv_opts o;
    cw_ltv_opts_init(&o);
    cw_ltv_report *r = NULL;
    cw_status s = cw_ltv_compute(st, &o, &r);
    cw_ltv_free(r);
    return s;
}

static cw_status run_survival(cw_store *st)
{
    cw_survival_opts o;
    cw_survival_opts_init(&o);
    cw_survival_report *r = NULL;
    cw_status s = cw_survival_compute(st, &o, &r);
    cw_survival_free(r);
    return s;
}

static void sweep(const char *name, report_fn fn, const char *stage)
{
    assert_int_equal(fn(g_store), CW_OK); /* the report works without failures */
    int nomem = 0;
    for (long k = 1; k < 100000; k++) {
        /* an unrelated message with the same status, left by a stand-in for
         * an earlier call: it must never be shown for this one */
        cw_store_set_error(g_store, CW_ERR_NOMEM, "stale: an earlier call's message");
        arm(k);
        cw_status s = fn(g_store);
        int hit = failed_one;
        arm(0);
        if (!hit) {
            assert_int_equal(s, CW_OK);
            break;
        }
        if (s == CW_OK)
            continue; /* an allocation whose failure has a fallback */
        const char *why = cw_store_why(g_store, s);
        if (strstr(why, "stale") || strcmp(why, cw_strerror(s)) == 0 ||
            (s == CW_ERR_NOMEM && !strstr(why, "out of memory")))
            fail_msg("%s: allocation %ld: status %s, message '%s'", name, k, cw_strerror(s), why);
        if (s == CW_ERR_NOMEM && !strstr(cw_store_errmsg(g_store), "out of memory") &&
            strncmp(why, stage, strlen(stage)) != 0)
            fail_msg("%s: allocation %ld: '%s' does not name the call", name, k, why);
        nomem += s == CW_ERR_NOMEM;
    }
    print_message("%s: %d out-of-memory failures checked\n", name, nomem);
    assert_true(nomem > 0);
}

static cw_status run_metrics(cw_store *st)
{
    cw_metrics_opts o;
    cw_metrics_opts_init(&o);
    o.from_day = cw_days_from_civil(2025, 3, 1);
    o.to_day = cw_days_from_civil(2025, 4, 12);
    o.every_days = 14;
    o.recompute = 1;
    o.threads = 1; /* the allocation counter is not shared between threads */
    cw_metrics_stats ms;
    return cw_metrics_run(st, &o, &ms);
}

/* cw_metrics_run over a world with users and events (the revenue world
 * plus two users and a few days of use). */
static void test_out_of_memory_in_metrics(void **state)
{
    (void)state;
    const char *const names[] = {"accounts.csv", "subscriptions.csv", "users.csv", "events.csv"};
    const char *const texts[] = {
        accounts_csv, subscriptions_csv,
        "user_id,account_id,role,department,provisioned_at,deactivated_at\n"
        "U1,A1,analyst,ops,2025-01-12,\n"
        "U2,A3,admin,,2025-02-02,\n",
        "ts,account_id,user_id,event\n"
        "2025-03-02T10:00:00Z,A1,U1,report_created\n"
        "2025-03-20T10:00:00Z,A1,U1,login\n"
        "2025-04-01T09:00:00Z,A3,U2,dashboard_view\n"
        "2025-04-10T15:00:00Z,A1,U1,report_created\n"};
    cw_store_close(g_store);
    g_store = NULL;
    tu_load("metrics.db", 4, names, texts, &g_store);
    sweep("metrics", run_metrics, "metrics: ");
}

static void test_out_of_memory_names_stage(void **state)
{
    (void)state;
    load_world("nomem.db");
    sweep("revenue", run_revenue, "revenue: ");
    sweep("cohorts", run_cohorts, "cohorts: ");
    sweep("ltv", run_ltv, "ltv: ");
    sweep("survival", run_survival, "survival: ");
}

/* The same for calls without a handle: the cw_error names the stage. */
static cw_status run_reasons_map(cw_error *err)
{
    cw_reason_rule *rules = NULL;
    int n = 0;
    cw_status s =
        cw_reasons_map_parse("too expensive=natural; onboarding=bad_onboarding", &rules, &n, err);
    cw_reasons_map_free(rules, n);
    return s;
}

static cw_status run_template(cw_error *err)
{
    char *out = NULL;
    cw_status s = cw_template_render("Hello {{account_name}}, {{score}}",
                                     "{\"account_name\": \"Acme\", \"score\": 41.5}",
                                     CW_ESCAPE_NONE, &out, err);
    free(out);
    return s;
}

static void sweep_err(const char *name, cw_status (*fn)(cw_error *), const char *stage)
{
    cw_error err = {CW_OK, ""};
    assert_int_equal(fn(&err), CW_OK);
    int nomem = 0;
    for (long k = 1; k < 100000; k++) {
        cw_error_clear(&err);
        arm(k);
        cw_status s = fn(&err);
        int hit = failed_one;
        arm(0);
        if (!hit) {
            assert_int_equal(s, CW_OK);
            break;
        }
        if (s == CW_OK)
            continue;
        assert_int_equal(err.status, s);
        if (strncmp(err.msg, stage, strlen(stage)) != 0 || !strstr(err.msg, "out of memory"))
            fail_msg("%s: allocation %ld: status %s, message '%s'", name, k, cw_strerror(s),
                     err.msg);
        nomem++;
    }
    print_message("%s: %d out-of-memory failures checked\n", name, nomem);
    assert_true(nomem > 0);
}

static void test_out_of_memory_without_handle(void **state)
{
    (void)state;
    sweep_err("reason map", run_reasons_map, "reason map: ");
    sweep_err("template", run_template, "template: ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_stale_message),
        cmocka_unit_test(test_message_belongs_to_its_status),
        cmocka_unit_test(test_account_id_out_of_range),
        cmocka_unit_test(test_out_of_memory_names_stage),
        cmocka_unit_test(test_out_of_memory_without_handle),
        cmocka_unit_test(test_out_of_memory_in_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
