/*
 * test_revenue.c — revenue analytics (lib/revenue/revenue.c) against a small world
 * worked out on paper. The fixture is written as CSV, ingested through
 * cw_ingest_files and reported with cw_revenue_compute; every movement,
 * count and rate below is derived in the comments beside it, so a failure
 * says which definition moved (docs/revenue.md states them).
 *
 * The world (currency USD; "m" = mrr_minor, "s" = seats):
 *   A1 new               2025-01-10 m 10000 s 10
 *   A2 expansion         2025-01-01T00:00:00Z m 20000 s 20 (first instant of Jan)
 *                        2025-03-15 m 30000 s 30
 *   A3 contraction       2025-01-05 m 50000 s 50
 *                        2025-02-28T23:59:59Z m 40000 s 40 (last second of Feb)
 *   A4 downgrade, cancel 2025-01-01 m 30000 s 30; 2025-03-10 m 15000 s 15;
 *                        2025-04-25 m 0 s 0
 *   A5 same-month in/out 2025-02-03 m 5000 s 5; 2025-02-20 m 0 s 0;
 *                        back 2025-06-10 m 6000 s 6 (never paid at a month end: new)
 *   A6 reactivation      2025-01-01 m 8000 s 8; 2025-02-15 m 0 s 0;
 *                        2025-05-01T00:00:00Z m 9000 s 9
 *   A7 annual contract   2025-03-01 m 100000 s 100, billing annual (12,000.00 a
 *                        year is stored as its monthly 100000: taken as given)
 *
 * MRR at each month end (USD minor units):
 *         Jan     Feb     Mar     Apr     May     Jun
 *   A1  10000   10000   10000   10000   10000   10000
 *   A2  20000   20000   30000   30000   30000   30000
 *   A3  50000   40000   40000   40000   40000   40000
 *   A4  30000   30000   15000       0       0       0
 *   A5      0       0       0       0       0    6000
 *   A6   8000       0       0       0    9000    9000
 *   A7      0       0  100000  100000  100000  100000
 *   sum 118000 100000 195000  180000  189000  195000
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "churnwatch.h"
#include "churnwatch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cw_store *g_store;

/* Opens a fresh database db_name and ingests the two files; any error fails. */
static void load(const char *db_name, const char *accounts, const char *subscriptions)
{
    const char *const names[] = {"accounts.csv", "subscriptions.csv"};
    const char *const texts[] = {accounts, subscriptions};
    tu_load(db_name, 2, names, texts, &g_store);
}

static const char *world_accounts =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status,churn_date\n"
    "A1,New Co,smb,2025-01-10,10,10000,USD,active,\n"
    "A2,Grow Co,smb,2025-01-01,30,30000,USD,active,\n"
    "A3,Shrink Co,mid,2025-01-05,40,40000,USD,active,\n"
    "A4,Leave Co,mid,2025-01-01,0,0,USD,churned,2025-04-25\n"
    "A5,Blink Co,smb,2025-02-03,6,6000,USD,active,\n"
    "A6,Return Co,smb,2025-01-01,9,9000,USD,active,\n"
    "A7,Annual Co,ent,2025-03-01,100,100000,USD,active,\n";

static const char *world_subscriptions =
    "account_id,effective_at,mrr_minor,currency,seats,plan,billing_period\n"
    "A1,2025-01-10,10000,USD,10,team,monthly\n"
    "A2,2025-01-01T00:00:00Z,20000,USD,20,team,monthly\n"
    "A2,2025-03-15,30000,USD,30,team,monthly\n"
    "A3,2025-01-05,50000,USD,50,business,monthly\n"
    "A3,2025-02-28T23:59:59Z,40000,USD,40,business,monthly\n"
    "A4,2025-01-01,30000,USD,30,business,monthly\n"
    "A4,2025-03-10,15000,USD,15,team,monthly\n"
    "A4,2025-04-25,0,USD,0,team,monthly\n"
    "A5,2025-02-03,5000,USD,5,team,monthly\n"
    "A5,2025-02-20,0,USD,0,team,monthly\n"
    "A5,2025-06-10,6000,USD,6,team,monthly\n"
    "A6,2025-01-01,8000,USD,8,team,monthly\n"
    "A6,2025-02-15,0,USD,0,team,monthly\n"
    "A6,2025-05-01T00:00:00Z,9000,USD,9,team,monthly\n"
    "A7,2025-03-01,100000,USD,100,enterprise,annual\n";

/* One expected period: money, logos, seats, then the rates (NAN = undefined). */
typedef struct expect {
    int year, month, months;
    int64_t start, new_, expansion, contraction, churn, reactivation, end;
    int64_t c_start, c_new, c_churned, c_reactivated, c_end, c_in_out;
    int64_t seats_start, seats_lost;
    double logo, grc, grr, nrr, quick, seat;
} expect;

static void assert_rate(double got, double want, const char *what, const expect *e)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("%04d-%02d %s: expected undefined, got %.6f", e->year, e->month, what, got);
    } else if (isnan(got) || fabs(got - want) > 1e-4) {
        fail_msg("%04d-%02d %s: expected %.6f, got %.6f", e->year, e->month, what, want, got);
    }
}

static void check(const cw_revenue_period *p, const expect *e)
{
    assert_int_equal(p->year, e->year);
    assert_int_equal(p->month, e->month);
    assert_int_equal(p->months, e->months);
    assert_int_equal(p->mrr_start_minor, e->start);
    assert_int_equal(p->new_minor, e->new_);
    assert_int_equal(p->expansion_minor, e->expansion);
    assert_int_equal(p->contraction_minor, e->contraction);
    assert_int_equal(p->churn_minor, e->churn);
    assert_int_equal(p->reactivation_minor, e->reactivation);
    assert_int_equal(p->mrr_end_minor, e->end);
    assert_int_equal(p->customers_start, e->c_start);
    assert_int_equal(p->customers_new, e->c_new);
    assert_int_equal(p->customers_churned, e->c_churned);
    assert_int_equal(p->customers_reactivated, e->c_reactivated);
    assert_int_equal(p->customers_end, e->c_end);
    assert_int_equal(p->customers_in_and_out, e->c_in_out);
    assert_int_equal(p->seats_start, e->seats_start);
    assert_int_equal(p->seats_lost, e->seats_lost);
    assert_rate(p->logo_churn_pct, e->logo, "logo churn", e);
    assert_rate(p->gross_revenue_churn_pct, e->grc, "gross revenue churn", e);
    assert_rate(p->grr_pct, e->grr, "GRR", e);
    assert_rate(p->nrr_pct, e->nrr, "NRR", e);
    assert_rate(p->quick_ratio, e->quick, "quick ratio", e);
    assert_rate(p->seat_churn_pct, e->seat, "seat churn", e);
    /* The bridges are exact. */
    assert_int_equal(p->mrr_start_minor + p->new_minor + p->expansion_minor - p->contraction_minor -
                         p->churn_minor + p->reactivation_minor,
                     p->mrr_end_minor);
    assert_int_equal(p->customers_start + p->customers_new + p->customers_reactivated -
                         p->customers_churned,
                     p->customers_end);
}

#define NA ((double)NAN)

static void test_monthly(void **state)
{
    (void)state;
    load("monthly.db", world_accounts, world_subscriptions);
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(g_store, NULL, &r), CW_OK);
    assert_non_null(r);
    assert_string_equal(r->currency, "USD");
    /* Default range: the first month with a change (Jan) to the last (Jun). */
    assert_int_equal(r->nperiods, 6);
    static const expect months[] = {
        /* Jan: everyone starts at 0 (nothing before Jan). New: A1 10000 + A2 20000
         * (effective at Jan's first instant: in Jan, not Dec) + A3 50000 + A4 30000 +
         * A6 8000 = 118000, 5 logos. No start base: every rate is undefined, and
         * the quick ratio too (nothing lost). */
        {2025, 1, 1, 0, 118000, 0, 0, 0, 0, 118000, 0, 5, 0, 0, 5, 0, 0, 0, NA, NA, NA, NA, NA, NA},
        /* Feb: start 118000, 5 logos, seats 10+20+50+30+8 = 118. A3 50000 → 40000
         * at 23:59:59 on the 28th (still Feb): contraction 10000, 10 seats lost.
         * A6 8000 → 0: churn 8000, 8 seats lost. A5 paid 5000 from the 3rd to the
         * 20th: 0 at both ends, so no movement, one in-and-out logo. End 100000.
         * logo churn 1/5 = 20 %; gross revenue churn 18000/118000 = 15.254237 %;
         * GRR = NRR = 100000/118000 = 84.745763 %; quick 0/18000 = 0;
         * seat churn 18/118 = 15.254237 %. */
        {2025, 2, 1, 118000, 0,   0,  10000, 8000,      0,         100000,    5,   0,
         1,    0, 4, 1,      118, 18, 20.0,  15.254237, 84.745763, 84.745763, 0.0, 15.254237},
        /* Mar: start 100000 (A1 10000, A2 20000, A3 40000, A4 30000), 4 logos,
         * seats 10+20+40+30 = 100. A2 → 30000: expansion 10000. A4 → 15000:
         * contraction 15000, 15 seats lost. A7's annual contract starts on the 1st
         * at its monthly 100000: new. End 100000+100000+10000-15000 = 195000.
         * logo 0/4 = 0; revenue churn 15000/100000 = 15 %; GRR 85 %;
         * NRR (100000-15000+10000)/100000 = 95 %; quick (100000+10000)/15000 =
         * 7.333333; seats 15/100 = 15 %. */
        {2025, 3, 1, 100000, 100000, 10000, 15000, 0,    0,    195000, 4,        1,
         0,    0, 5, 0,      100,    15,    0.0,   15.0, 85.0, 95.0,   7.333333, 15.0},
        /* Apr: start 195000, 5 logos, seats 10+30+40+15+100 = 195. A4 cancels
         * (15000 → 0, the downgrade already counted in Mar): churn 15000, 15 seats.
         * End 180000. logo 1/5 = 20 %; revenue churn 15000/195000 = 7.692308 %;
         * GRR = NRR = 92.307692 %; quick 0; seats 15/195 = 7.692308 %. */
        {2025, 4, 1, 195000, 0,   0,  0,    15000,    0,         180000,    5,   0,
         1,    0, 4, 0,      195, 15, 20.0, 7.692308, 92.307692, 92.307692, 0.0, 7.692308},
        /* May: start 180000, 4 logos, seats 10+30+40+100 = 180. A6 returns at
         * May's first instant with 9000; it paid at Jan's end: reactivation.
         * Reactivation is not in NRR. Nothing lost: quick ratio undefined. */
        {2025, 5, 1, 180000, 0,   0, 0,   0,   9000,  189000, 4,  0,
         0,    1, 5, 0,      180, 0, 0.0, 0.0, 100.0, 100.0,  NA, 0.0},
        /* Jun: start 189000, 5 logos, seats 10+30+40+100+9 = 189. A5 comes back
         * with 6000; it never paid at a month end (its Feb stint netted out), so
         * this is new, not reactivation. */
        {2025, 6, 1, 189000, 6000, 0, 0,   0,   0,     195000, 5,  1,
         0,    0, 6, 0,      189,  0, 0.0, 0.0, 100.0, 100.0,  NA, 0.0},
    };
    for (int i = 0; i < 6; i++)
        check(&r->periods[i], &months[i]);
    cw_revenue_free(r);
}

static void test_quarterly(void **state)
{
    (void)state;
    load("quarterly.db", world_accounts, world_subscriptions);
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    o.by_quarter = 1;
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->nperiods, 2);
    static const expect q[] = {
        /* Q1 compares Dec's end (all 0) with Mar's end: new A1 10000 + A2 30000 +
         * A3 40000 + A4 15000 + A7 100000 = 195000, 5 logos (the quarter sees
         * only the end values, so A2's expansion and the contractions vanish).
         * A5 and A6 paid within Q1 but not at its end: 2 in-and-out. */
        {2025, 1, 3, 0, 195000, 0, 0, 0, 0, 195000, 0, 5, 0, 0, 5, 2, 0, 0, NA, NA, NA, NA, NA, NA},
        /* Q2 compares Mar's end (195000, 5 logos, 195 seats) with Jun's end:
         * A4 churns 15000 (15 seats); A6 reactivates 9000 (paid at Jan's end,
         * before Q2); A5 is new with 6000. End 195000, 6 logos.
         * logo 1/5 = 20 %; revenue churn 15000/195000 = 7.692308 %; GRR = NRR =
         * 92.307692 %; quick (6000+9000)/15000 = 1; seats 15/195 = 7.692308 %. */
        {2025, 4, 3, 195000, 6000, 0,  0,    15000,    9000,      195000,    5,   1,
         1,    1, 6, 0,      195,  15, 20.0, 7.692308, 92.307692, 92.307692, 1.0, 7.692308},
    };
    check(&r->periods[0], &q[0]);
    check(&r->periods[1], &q[1]);
    cw_revenue_free(r);
}

static void test_range_and_segment(void **state)
{
    (void)state;
    load("range.db", world_accounts, world_subscriptions);
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    /* Only segment "mid" (A3, A4), Mar..Apr: Mar starts at 40000+30000 =
     * 70000 (seats 70); A4's downgrade is a 15000 contraction (15 seats);
     * Apr: A4's 15000 churns. */
    o.segment = "mid";
    o.from_month = 2025 * 12 + 2;
    o.to_month = 2025 * 12 + 3;
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->nperiods, 2);
    static const expect m[] = {
        /* GRR = NRR = 55000/70000 = 78.571429 %; revenue churn 21.428571 %;
         * quick 0/15000 = 0; seats 15/70 = 21.428571 %. */
        {2025, 3, 1, 70000, 0,  0,  15000, 0,         0,         55000,     2,   0,
         0,    0, 2, 0,     70, 15, 0.0,   21.428571, 78.571429, 78.571429, 0.0, 21.428571},
        /* Apr: 55000 → 40000; logo 1/2 = 50 %; revenue churn 15000/55000 =
         * 27.272727 %; GRR = NRR = 72.727273 %; seats 15/55 = 27.272727 %. */
        {2025, 4, 1, 55000, 0,  0,  0,    15000,     0,         40000,     2,   0,
         1,    0, 1, 0,     55, 15, 50.0, 27.272727, 72.727273, 72.727273, 0.0, 27.272727},
    };
    check(&r->periods[0], &m[0]);
    check(&r->periods[1], &m[1]);
    cw_revenue_free(r);

    /* A segment without subscriptions is "not found", with a message. */
    o.segment = "nobody";
    r = (cw_revenue_report *)&o; /* must be reset to NULL on failure */
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_ERR_NOTFOUND);
    assert_null(r);
    assert_non_null(strstr(cw_store_errmsg(g_store), "no subscriptions in segment 'nobody'"));

    /* A range given at one end only extends the other: from Jan 2026 alone is
     * one month in which the June MRR (195000, 6 logos) simply carries on. */
    o.segment = NULL;
    o.from_month = 2026 * 12;
    o.to_month = -1;
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->nperiods, 1);
    static const expect later = {2026, 1, 1, 195000, 0,   0, 0,   0,   0,     195000, 6,  0,
                                 0,    0, 6, 0,      195, 0, 0.0, 0.0, 100.0, 100.0,  NA, 0.0};
    check(&r->periods[0], &later);
    cw_revenue_free(r);
    r = NULL;

    /* A range that ends before it starts is a usage error. */
    o.segment = NULL;
    o.from_month = 2025 * 12 + 5;
    o.to_month = 2025 * 12 + 1;
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_ERR_USAGE);
    assert_null(r);
}

static void test_two_currencies_rejected(void **state)
{
    (void)state;
    /* B2 bills in EUR beside B1's USD: there is no documented conversion yet,
     * so the report refuses rather than add euros to dollars. */
    load("eur.db",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
         "B1,Dollar Co,smb,2025-01-01,1,1000,USD,active\n"
         "B2,Euro Co,eu,2025-01-01,1,1000,EUR,active\n",
         "account_id,effective_at,mrr_minor,currency,seats\n"
         "B1,2025-01-01,1000,USD,1\n"
         "B2,2025-02-01,1000,EUR,1\n");
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(g_store, NULL, &r), CW_ERR_INPUT);
    assert_null(r);
    const char *msg = cw_store_errmsg(g_store);
    assert_non_null(strstr(msg, "more than one currency"));
    assert_non_null(strstr(msg, "USD for account 'B1'"));
    assert_non_null(strstr(msg, "EUR for account 'B2' at 2025-02-01T00:00:00Z"));
    /* Restricted to one currency's accounts (segment smb: B1), the report works. */
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    o.segment = "smb";
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_OK);
    assert_string_equal(r->currency, "USD");
    assert_int_equal(r->nperiods, 1);
    assert_int_equal(r->periods[0].new_minor, 1000);
    cw_revenue_free(r);
}

/* User churn per period: users of the (included) accounts provisioned
 * before the period's first instant and not yet deactivated, and how many of
 * them were deactivated within it. U1 from 2025-01-01 00:00 (not before
 * January's start), U2 2025-01-15 .. 2025-02-10, U3 from 2025-02-05, and U4
 * 2025-01-10 .. 2025-03-01T00:00.
 *   January: nobody before 01-01 00:00 → 0 of 0, rate undefined.
 *   February: U1, U2, U4 at the start; U2 lost → 1/3 = 33.33 %.
 *   March: U1, U3 and U4 at the start — deactivated exactly at 03-01 00:00,
 *   U4 is still a user at that instant, as in the metrics engine's as-of
 *   rule — and U4 lost within March → 1/3. */
static void test_user_churn(void **state)
{
    (void)state;
    load("users.db",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
         "C1,Users Co,smb,2025-01-01,4,1000,USD,active\n",
         "account_id,effective_at,mrr_minor,currency,seats\n"
         "C1,2025-01-01,1000,USD,4\n");
    write_file("users.users.csv", "user_id,account_id,provisioned_at,deactivated_at\n"
                                  "U1,C1,2025-01-01T00:00:00Z,\n"
                                  "U2,C1,2025-01-15,2025-02-10\n"
                                  "U3,C1,2025-02-05,\n"
                                  "U4,C1,2025-01-10,2025-03-01T00:00:00Z\n");
    char *paths[1] = {strdup(path_of("users.users.csv"))};
    cw_ingest_opts io;
    cw_ingest_opts_init(&io);
    io.on_message = tu_on_msg;
    cw_ingest_stats ist;
    assert_int_equal(cw_ingest_files(g_store, (const char *const *)paths, 1, &io, &ist), CW_OK);
    free(paths[0]);
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    o.from_month = 2025 * 12 + 0;
    o.to_month = 2025 * 12 + 2;
    cw_revenue_report *r = NULL;
    assert_int_equal(cw_revenue_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->nperiods, 3);
    assert_int_equal(r->periods[0].users_start, 0);
    assert_int_equal(r->periods[0].users_lost, 0);
    assert_true(isnan(r->periods[0].user_churn_pct));
    assert_int_equal(r->periods[1].users_start, 3);
    assert_int_equal(r->periods[1].users_lost, 1);
    assert_true(fabs(r->periods[1].user_churn_pct - 100.0 / 3.0) < 1e-9);
    assert_int_equal(r->periods[2].users_start, 3);
    assert_int_equal(r->periods[2].users_lost, 1);
    assert_true(fabs(r->periods[2].user_churn_pct - 100.0 / 3.0) < 1e-9);
    cw_revenue_free(r);
}

static void test_currency_exponent(void **state)
{
    (void)state;
    assert_int_equal(cw_currency_exponent("USD"), 2);
    assert_int_equal(cw_currency_exponent("JPY"), 0);
    assert_int_equal(cw_currency_exponent("KWD"), 3);
    assert_int_equal(cw_currency_exponent("EUR"), 2);
    assert_int_equal(cw_currency_exponent("PY"), 2);
    assert_int_equal(cw_currency_exponent(NULL), 2);
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("revenue");
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
        cmocka_unit_test_teardown(test_monthly, close_db),
        cmocka_unit_test_teardown(test_quarterly, close_db),
        cmocka_unit_test_teardown(test_range_and_segment, close_db),
        cmocka_unit_test_teardown(test_two_currencies_rejected, close_db),
        cmocka_unit_test_teardown(test_user_churn, close_db),
        cmocka_unit_test(test_currency_exponent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
