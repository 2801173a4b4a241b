/*
 * test_reasons.c — churn reasons, the journey funnel and the user → seat →
 * revenue chain (lib/revenue/reasons.c) against a small world worked out on paper.
 * The fixture is written as CSV, ingested with cw_ingest_files and reported
 * with cw_reasons_compute / cw_funnel_compute / cw_chain_compute; every
 * figure asserted is derived in the comments (docs/revenue-reasons.md
 * states the definitions and repeats this example).
 *
 * Churned accounts (USD; "m" = mrr_minor; lost MRR = MRR in force at the
 * first instant of the churn month):
 *   R1 smb churned 2025-03-20, churn_reason "Support was slow" → bad_service
 *      m 10000 from 2025-01-01, 0 on 2025-03-20; an exit survey with an
 *      empty reason does not override.                    lost 10000
 *   R2 smb churned 2025-03-05, churn_reason "price", but exit surveys say
 *      "budget" (2025-03-01) and later "Never got started with setup"
 *      (2025-03-06): the latest exit reason wins → bad_onboarding
 *      m 20000 from 2025-01-15, 15000 from 2025-02-10, 0 on 2025-03-05
 *                                                          lost 15000
 *   R3 mid churned 2025-04-30, "Did not see the value; low adoption"
 *      → lack_of_success (an NPS survey's text is ignored)
 *      m 50000 from 2025-01-01                              lost 50000
 *   R4 mid churned 2025-04-10, "Company was acquired" → natural
 *      m 30000 from 2025-02-01                              lost 30000
 *   R5 smb churned 2025-04-15, no churn_reason, exit survey "Other"
 *      → unclassified; m 5000 from 2025-03-01               lost  5000
 *   R6 smb churned 2025-05-12, "budget cuts" → natural; m 7000 from
 *      2025-05-02, 0 on 2025-05-12: not paying on 2025-05-01 → lost 0
 *
 *   cause            accounts  lost      segments
 *   bad_service          1     10000     smb 1/10000
 *   bad_onboarding       1     15000     smb 1/15000
 *   lack_of_success      1     50000     mid 1/50000
 *   natural              2     30000     mid 1/30000, smb 1/0
 *   unclassified         1      5000     smb 1/5000
 *   total 6 / 110000; avoidable 3 / 75000; unavoidable 2 / 30000
 *
 * Users (chain for April 2025; "start" = provisioned before 2025-04-01 and
 * not deactivated before it; "lost" = of those, deactivated in April):
 *   C1 smb m 10000 s 10 from 2025-01-01, renews 2025-06-01 at m 6000 s 6;
 *      10 users, 3 deactivated in April (first 04-10), 1 in May
 *      → seats_lost 10 − 6 = 4, MRR lost 4000
 *   C2 mid m 20000 s 5, 2025-07-01 m 24000 s 6; 5 users, 1 lost → seats_kept
 *   C3 mid m 8000 s 4 from 2025-02-01, 0 on 2025-05-15; 4 users, 2 lost
 *      (U35, provisioned and removed in April, is neither) → cancelled,
 *      seats lost 4, MRR lost 8000
 *   C4 smb m 3000 s 3; 3 users, 1 lost; no later change → no_change
 *   C5 smb m 1000 s 1, 0 on 2025-03-10; its 1 user removed 04-01 → not_paying
 *   C6 smb m 2000 s 2; 1 user, none lost → not listed
 *   users at start 10+5+4+3+1+1 = 24, lost 3+1+2+1+1 = 8 (33.33 %);
 *   5 accounts lost users: 1 seat loss, 1 cancelled, 1 not paying;
 *   seats lost 4 + 4 = 8, MRR lost 4000 + 8000 = 12000.
 *
 * Journey (USD costs):
 *   V1 google: visit 01-05 (1000), lead 01-06 (500), registration 01-07,
 *      paid 01-20, upgrade 03-01
 *   V2 google: visit 01-10 (1000), lead 01-11 (500), registration 01-12
 *   V3 organic: visit 01-15, lead 01-16, registration 01-17, paid 02-01
 *   V4 google: visit 02-03 (1000)
 *   V5 organic: visits 02-04 and 02-10 (one visitor)
 *   V6 partner: lead 02-20 (2000), no visit: grouped by its first row
 *   google (V1 V2 V4): visit 3, lead 2, reg 2, paid 1, upgrade 1; cost
 *      1000+500+1000+500+1000 = 4000, per lead 2000, per customer 4000
 *   organic (V3 V5): visit 2, lead 1, reg 1, paid 1; no cost given → '-'
 *   partner (V6): lead 1; cost 2000, per lead 2000, nobody paid → '-'
 *   2025-01 (V1 V2 V3): cost 3000, per lead 1000, per customer 1500;
 *   2025-02 (V4 V5 V6): visit 2, lead 1, cost 3000
 *   total: visit 5, lead 4, registration 3, paid 2, upgrade 1; cost 6000;
 *   visit→reg 3/5 = 60 %, reg→paid 2/3 = 66.67 %, paid→upgrade 1/2 = 50 %;
 *   cost per lead 6000/4 = 1500, acquisition cost 6000/2 = 3000.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "churnwatch.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cw_store *g_store;

/* Opens a fresh database and ingests the given (name, text) files; any error fails. */
static void load(const char *db, int n, const char *const *names, const char *const *texts)
{
    tu_load(db, n, names, texts, &g_store);
}

static const char *world_accounts =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status,churn_date,"
    "churn_reason\n"
    "R1,R1 Co,smb,2025-01-01,0,0,USD,churned,2025-03-20,Support was slow\n"
    "R2,R2 Co,smb,2025-01-15,0,0,USD,churned,2025-03-05,price\n"
    "R3,R3 Co,mid,2025-01-01,0,0,USD,churned,2025-04-30,\"Did not see the value; low "
    "adoption\"\n"
    "R4,R4 Co,mid,2025-02-01,0,0,USD,churned,2025-04-10,Company was acquired\n"
    "R5,R5 Co,smb,2025-03-01,0,0,USD,churned,2025-04-15,\n"
    "R6,R6 Co,smb,2025-05-02,0,0,USD,churned,2025-05-12,budget cuts\n"
    "C1,C1 Co,smb,2025-01-01,6,6000,USD,active,,\n"
    "C2,C2 Co,mid,2025-01-01,6,24000,USD,active,,\n"
    "C3,C3 Co,mid,2025-02-01,0,0,USD,active,,\n"
    "C4,C4 Co,smb,2025-01-01,3,3000,USD,active,,\n"
    "C5,C5 Co,smb,2025-01-01,0,0,USD,active,,\n"
    "C6,C6 Co,smb,2025-01-01,2,2000,USD,active,,\n";

static const char *world_subscriptions = "account_id,effective_at,mrr_minor,currency,seats\n"
                                         "R1,2025-01-01,10000,USD,10\n"
                                         "R1,2025-03-20,0,USD,0\n"
                                         "R2,2025-01-15,20000,USD,20\n"
                                         "R2,2025-02-10,15000,USD,15\n"
                                         "R2,2025-03-05,0,USD,0\n"
                                         "R3,2025-01-01,50000,USD,50\n"
                                         "R3,2025-04-30,0,USD,0\n"
                                         "R4,2025-02-01,30000,USD,30\n"
                                         "R4,2025-04-10,0,USD,0\n"
                                         "R5,2025-03-01,5000,USD,5\n"
                                         "R5,2025-04-15,0,USD,0\n"
                                         "R6,2025-05-02,7000,USD,7\n"
                                         "R6,2025-05-12,0,USD,0\n"
                                         "C1,2025-01-01,10000,USD,10\n"
                                         "C1,2025-06-01,6000,USD,6\n"
                                         "C2,2025-01-01,20000,USD,5\n"
                                         "C2,2025-07-01,24000,USD,6\n"
                                         "C3,2025-02-01,8000,USD,4\n"
                                         "C3,2025-05-15,0,USD,0\n"
                                         "C4,2025-01-01,3000,USD,3\n"
                                         "C5,2025-01-01,1000,USD,1\n"
                                         "C5,2025-03-10,0,USD,0\n"
                                         "C6,2025-01-01,2000,USD,2\n";

static const char *world_surveys =
    "survey_id,account_id,user_id,type,sent_at,responded_at,score,reason,comment\n"
    "S1,R2,,exit,2025-03-01,2025-03-01,,budget,\n"
    "S2,R2,,exit,2025-03-06,2025-03-06,,Never got started with setup,\n"
    "S3,R3,,nps,2025-02-01,2025-02-01,3,great support,\n"
    "S4,R5,,exit,2025-04-16,2025-04-16,,Other,\n"
    "S5,R1,,exit,2025-03-21,2025-03-21,,,\n";

static const char *world_users = "user_id,account_id,provisioned_at,deactivated_at\n"
                                 "U11,C1,2025-01-01,2025-04-10\n"
                                 "U12,C1,2025-01-01,2025-04-12\n"
                                 "U13,C1,2025-01-01,2025-04-20\n"
                                 "U14,C1,2025-01-01,2025-05-05\n"
                                 "U15,C1,2025-01-01,\n"
                                 "U16,C1,2025-01-01,\n"
                                 "U17,C1,2025-01-01,\n"
                                 "U18,C1,2025-01-01,\n"
                                 "U19,C1,2025-01-01,\n"
                                 "U10,C1,2025-01-01,\n"
                                 "U21,C2,2025-01-01,2025-04-02\n"
                                 "U22,C2,2025-01-01,\n"
                                 "U23,C2,2025-01-01,\n"
                                 "U24,C2,2025-01-01,\n"
                                 "U25,C2,2025-01-01,\n"
                                 "U31,C3,2025-02-01,2025-04-25\n"
                                 "U32,C3,2025-02-01,2025-04-25\n"
                                 "U33,C3,2025-02-01,\n"
                                 "U34,C3,2025-02-01,\n"
                                 "U35,C3,2025-04-05,2025-04-28\n"
                                 "U41,C4,2025-01-01,2025-04-03\n"
                                 "U42,C4,2025-01-01,\n"
                                 "U43,C4,2025-01-01,\n"
                                 "U51,C5,2025-01-01,2025-04-01\n"
                                 "U61,C6,2025-01-01,\n";

static const char *world_journey =
    "visitor_id,stage,at,source,campaign,cost_minor,currency,account_id\n"
    "V1,visit,2025-01-05,google,brand,1000,USD,\n"
    "V1,lead,2025-01-06,google,brand,500,USD,\n"
    "V1,registration,2025-01-07,google,brand,,,\n"
    "V1,paid,2025-01-20,google,brand,,,C1\n"
    "V1,upgrade,2025-03-01,google,brand,,,C1\n"
    "V2,visit,2025-01-10,google,brand,1000,USD,\n"
    "V2,lead,2025-01-11,google,brand,500,USD,\n"
    "V2,registration,2025-01-12,google,brand,,,\n"
    "V3,visit,2025-01-15,organic,,,,\n"
    "V3,lead,2025-01-16,organic,,,,\n"
    "V3,registration,2025-01-17,organic,,,,\n"
    "V3,paid,2025-02-01,organic,,,,C4\n"
    "V4,visit,2025-02-03,google,generic,1000,USD,\n"
    "V5,visit,2025-02-04,organic,,,,\n"
    "V5,visit,2025-02-10,organic,,,,\n"
    "V6,lead,2025-02-20,partner,webinar,2000,USD,\n";

static void load_world(const char *db)
{
    const char *const names[] = {"accounts.csv", "subscriptions.csv", "surveys.csv", "users.csv",
                                 "journey.csv"};
    const char *const texts[] = {world_accounts, world_subscriptions, world_surveys, world_users,
                                 world_journey};
    load(db, 5, names, texts);
}

static int64_t month(int y, int m)
{
    return y * 12 + m - 1;
}

static cw_status find_id(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    (void)aux;
    const char **want = ud;
    if (strlen(want[0]) == len && memcmp(ext, want[0], len) == 0)
        *(int64_t *)(void *)want[1] = id;
    return CW_OK;
}

static int64_t account_id_of(const char *ext)
{
    int64_t id = -1;
    const char *ud[2] = {ext, (const char *)(void *)&id};
    assert_int_equal(cw_store_get_ops(g_store)->load_ids(g_store, CW_KIND_ACCOUNTS, find_id, ud),
                     CW_OK);
    assert_true(id > 0);
    return id;
}

/* ---- classification -------------------------------------------------- */

static void test_classify_default_map(void **state)
{
    (void)state;
    const cw_reason_rule *m;
    int n = cw_reasons_default_map(&m);
    assert_true(n > 20);
    static const struct {
        const char *reason;
        cw_churn_cause cause;
    } cases[] = {
        {"support", CW_CAUSE_BAD_SERVICE},
        {"Support was poor", CW_CAUSE_BAD_SERVICE},
        {"bugs and reliability", CW_CAUSE_BAD_SERVICE},
        {"never got started", CW_CAUSE_BAD_ONBOARDING},
        {"too hard to set up", CW_CAUSE_BAD_ONBOARDING},
        {"SETUP took months", CW_CAUSE_BAD_ONBOARDING},
        {"did not see value", CW_CAUSE_LACK_OF_SUCCESS},
        {"ROI not proven", CW_CAUSE_LACK_OF_SUCCESS},
        {"low adoption", CW_CAUSE_LACK_OF_SUCCESS},
        {"too expensive for how much we use it", CW_CAUSE_LACK_OF_SUCCESS},
        {"went out of business", CW_CAUSE_NATURAL},
        {"Budget was cut", CW_CAUSE_NATURAL},
        {"champion left", CW_CAUSE_NATURAL},
        {"we outgrew it", CW_CAUSE_NATURAL},
        /* "support" (7) vs "onboarding" (10): the longer keyword wins */
        {"support during onboarding", CW_CAUSE_BAD_ONBOARDING},
        /* keywords match at word starts only: no "roi" in "android" */
        {"android app", CW_CAUSE_UNCLASSIFIED},
        {"Other", CW_CAUSE_UNCLASSIFIED},
        {"", CW_CAUSE_UNCLASSIFIED},
        {NULL, CW_CAUSE_UNCLASSIFIED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rule = 99;
        cw_churn_cause c = cw_reasons_classify(cases[i].reason, m, n, &rule);
        if (c != cases[i].cause)
            fail_msg("'%s': got %s, want %s", cases[i].reason ? cases[i].reason : "(null)",
                     cw_churn_cause_name(c), cw_churn_cause_name(cases[i].cause));
        assert_true(c == CW_CAUSE_UNCLASSIFIED ? rule == -1 : rule >= 0);
    }
    assert_string_equal(cw_churn_cause_name(CW_CAUSE_LACK_OF_SUCCESS), "lack_of_success");
    assert_null(cw_churn_cause_name(CW_CAUSE__COUNT));
    assert_int_equal(cw_churn_cause_from_name("Natural"), CW_CAUSE_NATURAL);
    assert_int_equal(cw_churn_cause_from_name("nope"), -1);
}

static void test_map_parse(void **state)
{
    (void)state;
    cw_reason_rule *r;
    int n;
    cw_error err;
    assert_int_equal(cw_reasons_map_parse(" refund = bad_service ;price=natural;; ", &r, &n, &err),
                     CW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].keyword, "refund");
    assert_int_equal(r[0].cause, CW_CAUSE_BAD_SERVICE);
    assert_string_equal(r[1].keyword, "price");
    assert_int_equal(r[1].cause, CW_CAUSE_NATURAL);
    assert_int_equal(cw_reasons_classify("Price went up", r, n, NULL), CW_CAUSE_NATURAL);
    assert_int_equal(cw_reasons_classify("support", r, n, NULL), CW_CAUSE_UNCLASSIFIED);
    cw_reasons_map_free(r, n);
    assert_int_equal(cw_reasons_map_parse("x=foo", &r, &n, &err), CW_ERR_USAGE);
    assert_null(r);
    assert_int_equal(err.status, CW_ERR_USAGE);
    assert_string_equal(err.msg, "reason map: 'x=foo' is not keyword=cause (causes: bad_service, "
                                 "bad_onboarding, lack_of_success, natural)");
    assert_int_equal(cw_reasons_map_parse("a=natural;noequals", &r, &n, &err), CW_ERR_USAGE);
    assert_int_equal(cw_reasons_map_parse("=natural", &r, &n, &err), CW_ERR_USAGE);
    assert_int_equal(cw_reasons_map_parse("a=unclassified", &r, &n, &err), CW_ERR_USAGE);
    cw_reasons_map_free(NULL, 0);
}

/* ---- reasons ----------------------------------------------------------- */

static void assert_cell(const cw_reasons_cell *c, int64_t accounts, int64_t lost)
{
    assert_int_equal(c->accounts, accounts);
    assert_int_equal(c->lost_mrr_minor, lost);
}

static const cw_churned_account *find_churned(const cw_reasons_report *r, const char *id)
{
    for (int64_t i = 0; i < r->naccounts; i++)
        if (strcmp(r->accounts[i].account_id, id) == 0)
            return &r->accounts[i];
    fail_msg("account %s not in the report", id);
    return NULL;
}

static void test_reasons(void **state)
{
    (void)state;
    load_world("reasons.db");
    cw_reasons_report *r = NULL;
    assert_int_equal(cw_reasons_compute(g_store, NULL, &r), CW_OK);
    assert_string_equal(r->currency, "USD");
    assert_cell(&r->by_cause[CW_CAUSE_BAD_SERVICE], 1, 10000);
    assert_cell(&r->by_cause[CW_CAUSE_BAD_ONBOARDING], 1, 15000);
    assert_cell(&r->by_cause[CW_CAUSE_LACK_OF_SUCCESS], 1, 50000);
    assert_cell(&r->by_cause[CW_CAUSE_NATURAL], 2, 30000);
    assert_cell(&r->by_cause[CW_CAUSE_UNCLASSIFIED], 1, 5000);
    assert_cell(&r->total, 6, 110000);
    assert_cell(&r->avoidable, 3, 75000);
    assert_cell(&r->unavoidable, 2, 30000);
    /* segments sorted by name: mid, smb */
    assert_int_equal(r->nsegments, 2);
    assert_string_equal(r->segments[0].segment, "mid");
    assert_cell(&r->segments[0].by_cause[CW_CAUSE_LACK_OF_SUCCESS], 1, 50000);
    assert_cell(&r->segments[0].by_cause[CW_CAUSE_NATURAL], 1, 30000);
    assert_cell(&r->segments[0].by_cause[CW_CAUSE_BAD_SERVICE], 0, 0);
    assert_string_equal(r->segments[1].segment, "smb");
    assert_cell(&r->segments[1].by_cause[CW_CAUSE_BAD_SERVICE], 1, 10000);
    assert_cell(&r->segments[1].by_cause[CW_CAUSE_BAD_ONBOARDING], 1, 15000);
    assert_cell(&r->segments[1].by_cause[CW_CAUSE_NATURAL], 1, 0);
    assert_cell(&r->segments[1].by_cause[CW_CAUSE_UNCLASSIFIED], 1, 5000);
    /* accounts in churn-date order: R2 03-05, R1 03-20, R4 04-10, R5 04-15, R3 04-30, R6 */
    assert_int_equal(r->naccounts, 6);
    static const char *const order[] = {"R2", "R1", "R4", "R5", "R3", "R6"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(r->accounts[i].account_id, order[i]);
    const cw_churned_account *a = find_churned(r, "R2");
    assert_string_equal(a->reason, "Never got started with setup");
    assert_int_equal(a->reason_from_survey, 1);
    assert_int_equal(a->lost_mrr_minor, 15000); /* after the February downgrade */
    a = find_churned(r, "R1");
    assert_string_equal(a->reason, "Support was slow"); /* empty exit reason ignored */
    assert_int_equal(a->reason_from_survey, 0);
    a = find_churned(r, "R3");
    assert_int_equal(a->cause, CW_CAUSE_LACK_OF_SUCCESS); /* NPS text ignored */
    a = find_churned(r, "R5");
    assert_string_equal(a->reason, "Other");
    a = find_churned(r, "R6");
    assert_int_equal(a->lost_mrr_minor, 0);
    assert_int_equal(a->snapshot_day, -1); /* no post-mortem asked for */
    cw_reasons_free(r);

    /* April only: R4, R5, R3 → 3 accounts, 85000; segment mid: R3 and R4 */
    cw_reasons_opts o;
    cw_reasons_opts_init(&o);
    o.from_month = o.to_month = (int)month(2025, 4);
    assert_int_equal(cw_reasons_compute(g_store, &o, &r), CW_OK);
    assert_cell(&r->total, 3, 85000);
    assert_cell(&r->avoidable, 1, 50000);
    assert_cell(&r->unavoidable, 1, 30000);
    cw_reasons_free(r);
    o.segment = "mid";
    assert_int_equal(cw_reasons_compute(g_store, &o, &r), CW_OK);
    assert_cell(&r->total, 2, 80000);
    assert_int_equal(r->nsegments, 1);
    cw_reasons_free(r);

    /* A custom map replaces the default one: "setup" is natural here, so
     * R2's survey reason is natural; R3-R6 match nothing. */
    cw_reason_rule map[] = {{"setup", CW_CAUSE_NATURAL}, {"support", CW_CAUSE_BAD_SERVICE}};
    cw_reasons_opts_init(&o);
    o.rules = map;
    o.nrules = 2;
    assert_int_equal(cw_reasons_compute(g_store, &o, &r), CW_OK);
    assert_cell(&r->by_cause[CW_CAUSE_NATURAL], 1, 15000);      /* R2 */
    assert_cell(&r->by_cause[CW_CAUSE_BAD_SERVICE], 1, 10000);  /* R1 */
    assert_cell(&r->by_cause[CW_CAUSE_UNCLASSIFIED], 4, 85000); /* R3 R4 R5 R6 */
    cw_reasons_free(r);

    /* Nothing churned in 2026 */
    cw_reasons_opts_init(&o);
    o.from_month = (int)month(2026, 1);
    assert_int_equal(cw_reasons_compute(g_store, &o, &r), CW_ERR_NOTFOUND);
    assert_null(r);
    assert_non_null(strstr(cw_store_errmsg(g_store), "no churned accounts"));
}

static void test_postmortem(void **state)
{
    (void)state;
    load_world("postmortem.db");
    const cw_store_ops *ops = cw_store_get_ops(g_store);
    int64_t r1 = account_id_of("R1"), r3 = account_id_of("R3");
    int64_t d1 = cw_days_from_civil(2025, 3, 1), d2 = cw_days_from_civil(2025, 3, 25);
    /* The snapshot's own catalogue decides positions: tenure_days first. */
    const char *cat = "tenure_days,active_licence_ratio,events_change_pct,nps_latest,"
                      "goal_attainment_worst,milestones_overdue";
    const double v1[] = {59, 0.5, -40, NAN, 0.2, 2};
    const double v2[] = {83, 0.1, -90, 0, 0.1, 3};
    assert_int_equal(ops->begin(g_store), CW_OK);
    assert_int_equal(ops->snapshot_put(g_store, d1, 28, cat, 2, 0), CW_OK);
    assert_int_equal(ops->snapshot_put(g_store, d2, 28, cat, 1, 0), CW_OK);
    assert_int_equal(ops->account_metrics_put(g_store, d1, r1, v1, NULL, 6), CW_OK);
    assert_int_equal(ops->account_metrics_put(g_store, d1, r3, v2, NULL, 6), CW_OK);
    assert_int_equal(ops->account_metrics_put(g_store, d2, r1, v2, NULL, 6), CW_OK);
    assert_int_equal(ops->account_metrics_put(g_store, d2, r3, v1, NULL, 6), CW_OK);
    assert_int_equal(ops->commit(g_store), CW_OK);
    cw_reasons_opts o;
    cw_reasons_opts_init(&o);
    o.postmortem = 1;
    cw_reasons_report *r = NULL;
    assert_int_equal(cw_reasons_compute(g_store, &o, &r), CW_OK);
    /* R1 churned 03-20: the 03-25 snapshot is after it, 03-01 is the last before */
    const cw_churned_account *a = find_churned(r, "R1");
    assert_int_equal(a->snapshot_day, d1);
    assert_true(a->metrics[0] == 0.5);
    assert_true(a->metrics[1] == -40);
    assert_true(isnan(a->metrics[2]));
    assert_true(a->metrics[3] == 0.2);
    assert_true(a->metrics[4] == 2);
    /* R3 churned 04-30: the later snapshot (03-25) wins */
    a = find_churned(r, "R3");
    assert_int_equal(a->snapshot_day, d2);
    assert_true(a->metrics[0] == 0.5);
    /* R2 has no snapshot at all */
    a = find_churned(r, "R2");
    assert_int_equal(a->snapshot_day, -1);
    assert_true(isnan(a->metrics[0]));
    assert_string_equal(cw_postmortem_metric_name(4), "milestones_overdue");
    assert_null(cw_postmortem_metric_name(5));
    cw_reasons_free(r);
}

/* ---- funnel ------------------------------------------------------------ */

static void assert_stages(const cw_funnel_row *r, int64_t v, int64_t l, int64_t g, int64_t p,
                          int64_t u)
{
    assert_int_equal(r->visitors[CW_STAGE_VISIT], v);
    assert_int_equal(r->visitors[CW_STAGE_LEAD], l);
    assert_int_equal(r->visitors[CW_STAGE_REGISTRATION], g);
    assert_int_equal(r->visitors[CW_STAGE_PAID], p);
    assert_int_equal(r->visitors[CW_STAGE_UPGRADE], u);
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_funnel(void **state)
{
    (void)state;
    load_world("funnel.db");
    cw_funnel_report *r = NULL;
    assert_int_equal(cw_funnel_compute(g_store, NULL, &r), CW_OK);
    assert_string_equal(r->currency, "USD");
    assert_string_equal(r->total.key, "all");
    assert_stages(&r->total, 5, 4, 3, 2, 1);
    assert_int_equal(r->total.cost_minor, 6000);
    NEAR(r->total.visit_to_registration_pct, 60.0);
    NEAR(r->total.registration_to_paid_pct, 200.0 / 3.0);
    NEAR(r->total.paid_to_upgrade_pct, 50.0);
    NEAR(r->total.cost_per_lead_minor, 1500.0);
    NEAR(r->total.acquisition_cost_minor, 3000.0);
    /* by source: google, organic, partner */
    assert_int_equal(r->nsources, 3);
    const cw_funnel_row *g = &r->sources[0], *o = &r->sources[1], *p = &r->sources[2];
    assert_string_equal(g->key, "google");
    assert_stages(g, 3, 2, 2, 1, 1);         /* V1 V2 V4 */
    assert_int_equal(g->cost_minor, 4000);   /* 1000 + 500 + 1000 + 500 + 1000 */
    NEAR(g->cost_per_lead_minor, 2000.0);    /* 4000 / 2 leads */
    NEAR(g->acquisition_cost_minor, 4000.0); /* 4000 / 1 paid */
    NEAR(g->visit_to_registration_pct, 200.0 / 3.0);
    NEAR(g->paid_to_upgrade_pct, 100.0);
    assert_string_equal(o->key, "organic");
    assert_stages(o, 2, 1, 1, 1, 0); /* V3 V5 */
    assert_int_equal(o->cost_rows, 0);
    assert_true(isnan(o->cost_per_lead_minor)); /* no cost given */
    assert_true(isnan(o->acquisition_cost_minor));
    NEAR(o->paid_to_upgrade_pct, 0.0);
    assert_string_equal(p->key, "partner");
    assert_stages(p, 0, 1, 0, 0, 0); /* V6, lead only */
    NEAR(p->cost_per_lead_minor, 2000.0);
    assert_true(isnan(p->acquisition_cost_minor)); /* nobody paid */
    assert_true(isnan(p->visit_to_registration_pct));
    /* by month of the first visit (V6: of its first row) */
    assert_int_equal(r->nmonths, 2);
    assert_string_equal(r->months[0].key, "2025-01");
    assert_stages(&r->months[0], 3, 3, 3, 2, 1); /* V1 V2 V3 */
    assert_int_equal(r->months[0].cost_minor, 3000);
    NEAR(r->months[0].cost_per_lead_minor, 1000.0);
    NEAR(r->months[0].acquisition_cost_minor, 1500.0);
    assert_string_equal(r->months[1].key, "2025-02");
    assert_stages(&r->months[1], 2, 1, 0, 0, 0); /* V4 V5 V6 */
    assert_int_equal(r->months[1].cost_minor, 3000);
    cw_funnel_free(r);

    cw_funnel_opts fo;
    cw_funnel_opts_init(&fo);
    fo.from_month = (int)month(2025, 2);
    assert_int_equal(cw_funnel_compute(g_store, &fo, &r), CW_OK);
    assert_stages(&r->total, 2, 1, 0, 0, 0);
    assert_int_equal(r->nmonths, 1);
    cw_funnel_free(r);
    fo.from_month = (int)month(2025, 3);
    assert_int_equal(cw_funnel_compute(g_store, &fo, &r), CW_ERR_NOTFOUND);
    assert_null(r);
}

static void test_funnel_two_currencies(void **state)
{
    (void)state;
    const char *const names[] = {"journey.csv"};
    const char *const texts[] = {"visitor_id,stage,at,source,cost_minor,currency\n"
                                 "V1,visit,2025-01-05,google,1000,USD\n"
                                 "V2,visit,2025-01-06,google,900,EUR\n"};
    load("funnel2.db", 1, names, texts);
    cw_funnel_report *r = NULL;
    assert_int_equal(cw_funnel_compute(g_store, NULL, &r), CW_ERR_INPUT);
    assert_null(r);
    const char *msg = cw_store_errmsg(g_store);
    assert_non_null(strstr(msg, "more than one currency"));
    assert_non_null(strstr(msg, "'V1'"));
    assert_non_null(strstr(msg, "'V2'"));
}

/* ---- chain ------------------------------------------------------------- */

static const cw_chain_account *find_chain(const cw_chain_report *r, const char *id)
{
    for (int64_t i = 0; i < r->naccounts; i++)
        if (strcmp(r->accounts[i].account_id, id) == 0)
            return &r->accounts[i];
    fail_msg("account %s not in the chain", id);
    return NULL;
}

static void test_chain(void **state)
{
    (void)state;
    load_world("chain.db");
    cw_chain_opts o;
    cw_chain_opts_init(&o);
    o.from_month = o.to_month = (int)month(2025, 4);
    cw_chain_report *r = NULL;
    assert_int_equal(cw_chain_compute(g_store, &o, &r), CW_OK);
    assert_string_equal(r->currency, "USD");
    assert_int_equal(r->users_start, 24);
    assert_int_equal(r->users_lost, 8);
    NEAR(r->user_churn_pct, 100.0 / 3.0);
    assert_int_equal(r->accounts_with_user_loss, 5);
    assert_int_equal(r->accounts_seat_loss, 1);
    assert_int_equal(r->accounts_cancelled, 1);
    assert_int_equal(r->accounts_not_paying, 1);
    assert_int_equal(r->seats_lost, 8);
    assert_int_equal(r->mrr_lost_minor, 12000);
    assert_int_equal(r->naccounts, 5);
    assert_string_equal(r->accounts[0].account_id, "C1"); /* by id */

    const cw_chain_account *a = find_chain(r, "C1");
    assert_int_equal(a->users_start, 10);
    assert_int_equal(a->users_lost, 3);
    assert_int_equal(a->outcome, CW_CHAIN_SEATS_LOST);
    assert_int_equal(a->first_loss_ts_unix, cw_days_from_civil(2025, 4, 10) * 86400);
    assert_int_equal(a->change_ts_unix, cw_days_from_civil(2025, 6, 1) * 86400);
    assert_int_equal(a->seats_before, 10);
    assert_int_equal(a->seats_after, 6);
    assert_int_equal(a->seats_lost, 4);
    assert_int_equal(a->mrr_lost_minor, 4000);
    a = find_chain(r, "C2");
    assert_int_equal(a->outcome, CW_CHAIN_SEATS_KEPT);
    assert_int_equal(a->seats_lost, 0);
    assert_int_equal(a->mrr_lost_minor, 0);
    a = find_chain(r, "C3");
    assert_int_equal(a->users_start, 4);
    assert_int_equal(a->users_lost, 2);
    assert_int_equal(a->outcome, CW_CHAIN_CANCELLED);
    assert_int_equal(a->seats_lost, 4);
    assert_int_equal(a->mrr_lost_minor, 8000);
    a = find_chain(r, "C4");
    assert_int_equal(a->outcome, CW_CHAIN_NO_CHANGE);
    assert_int_equal(a->seats_after, 3);
    a = find_chain(r, "C5");
    assert_int_equal(a->outcome, CW_CHAIN_NOT_PAYING);
    assert_string_equal(cw_chain_outcome_name(a->outcome), "not_paying");
    cw_chain_free(r);

    /* smb only: C1, C4, C5, C6 → start 10+3+1+1 = 15, lost 3+1+1 = 5 */
    o.segment = "smb";
    assert_int_equal(cw_chain_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->users_start, 15);
    assert_int_equal(r->users_lost, 5);
    assert_int_equal(r->mrr_lost_minor, 4000);
    cw_chain_free(r);

    /* May: only U14 (C1) is lost, of C1's 7 users still there; C3's users
     * U33, U34 are still active though it stopped paying */
    o.segment = NULL;
    o.from_month = o.to_month = (int)month(2025, 5);
    assert_int_equal(cw_chain_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->users_lost, 1);
    assert_int_equal(r->naccounts, 1);
    assert_int_equal(r->accounts[0].users_start, 7);
    assert_int_equal(r->accounts[0].outcome, CW_CHAIN_SEATS_LOST);
    cw_chain_free(r);

    /* Default range: the last month with a deactivation (May, U14) */
    cw_chain_opts_init(&o);
    assert_int_equal(cw_chain_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->from_month, (int)month(2025, 5));
    assert_int_equal(r->to_month, (int)month(2025, 5));
    assert_int_equal(r->users_lost, 1);
    cw_chain_free(r);

    o.segment = "none";
    assert_int_equal(cw_chain_compute(g_store, &o, &r), CW_ERR_NOTFOUND);
    assert_null(r);
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("reasons");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_tmpdir();
}

static int close_db(void **state)
{
    (void)state;
    cw_store_close(g_store);
    g_store = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_default_map),
        cmocka_unit_test(test_map_parse),
        cmocka_unit_test_teardown(test_reasons, close_db),
        cmocka_unit_test_teardown(test_postmortem, close_db),
        cmocka_unit_test_teardown(test_funnel, close_db),
        cmocka_unit_test_teardown(test_funnel_two_currencies, close_db),
        cmocka_unit_test_teardown(test_chain, close_db),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
