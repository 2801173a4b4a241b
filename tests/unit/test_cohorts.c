/*
 * test_cohorts.c — cohort retention and lifetime value (lib/revenue/cohorts.c)
 * against a small world worked out on paper. The fixture is written as CSV,
 * ingested with cw_ingest_files and reported with cw_cohorts_compute and
 * cw_ltv_compute; every cell is derived in the comments
 * (docs/revenue-cohorts.md states the definitions).
 *
 * The world (USD minor units; the data runs Jan..Jun 2025, the last change
 * being A6's cancellation in June):
 *   A1 smb  2025-01-05 10000                                  (stays)
 *   A2 smb  2025-01-10 20000; 2025-03-01 30000                (expansion in Mar)
 *   A3 mid  2025-01-15 40000; 2025-03-20 0; 2025-05-10 40000  (churn Mar, back May)
 *   A4 mid  2025-02-01 50000; 2025-04-15 0                    (churn Apr)
 *   A5 smb  2025-02-10 10000                                  (stays)
 *   A6 smb  2025-04-05 5000;  2025-06-20 0                    (churn Jun)
 *   A7 smb  2025-02-03 3000;  2025-02-25 0                    (in-and-out: no cohort)
 *
 * MRR at each month end:
 *          Jan    Feb    Mar    Apr    May    Jun
 *   A1   10000  10000  10000  10000  10000  10000
 *   A2   20000  20000  30000  30000  30000  30000
 *   A3   40000  40000      0      0  40000  40000
 *   A4       0  50000  50000      0      0      0
 *   A5       0  10000  10000  10000  10000  10000
 *   A6       0      0      0   5000   5000      0
 *   A7       0      0      0      0      0      0
 *   sum  70000 130000 100000  55000  95000  90000
 *   logos    3      5      4      4      5      4
 *
 * Cohorts (first paying month end): Jan = {A1, A2, A3}, Feb = {A4, A5},
 * Apr = {A6}; A7 never paid at a month end.
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
    "A1,Steady Co,smb,2025-01-05,1,10000,USD,active,\n"
    "A2,Grow Co,smb,2025-01-10,1,30000,USD,active,\n"
    "A3,Return Co,mid,2025-01-15,1,40000,USD,active,\n"
    "A4,Leave Co,mid,2025-02-01,0,0,USD,churned,2025-04-15\n"
    "A5,Late Co,smb,2025-02-10,1,10000,USD,active,\n"
    "A6,Brief Co,smb,2025-04-05,0,0,USD,churned,2025-06-20\n"
    "A7,Blink Co,smb,2025-02-03,0,0,USD,churned,2025-02-25\n";

static const char *world_subscriptions = "account_id,effective_at,mrr_minor,currency,seats\n"
                                         "A1,2025-01-05,10000,USD,1\n"
                                         "A2,2025-01-10,20000,USD,1\n"
                                         "A2,2025-03-01,30000,USD,1\n"
                                         "A3,2025-01-15,40000,USD,1\n"
                                         "A3,2025-03-20,0,USD,0\n"
                                         "A3,2025-05-10,40000,USD,1\n"
                                         "A4,2025-02-01,50000,USD,1\n"
                                         "A4,2025-04-15,0,USD,0\n"
                                         "A5,2025-02-10,10000,USD,1\n"
                                         "A6,2025-04-05,5000,USD,1\n"
                                         "A6,2025-06-20,0,USD,0\n"
                                         "A7,2025-02-03,3000,USD,1\n"
                                         "A7,2025-02-25,0,USD,0\n";

#define NA ((double)NAN)

static void assert_near(double got, double want, const char *what)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("%s: expected undefined, got %.6f", what, got);
    } else if (isnan(got) || fabs(got - want) > 1e-4) {
        fail_msg("%s: expected %.6f, got %.6f", what, want, got);
    }
}

/* Checks one cohort row against expected logos, MRR and percentages over
 * offsets 0..n-1 (-1 / NA = after the data end). */
static void check_cohort(const cw_cohort *h, int year, int month, int observed, int n,
                         const int64_t *logos, const int64_t *mrr, const double *lpct,
                         const double *rpct)
{
    assert_int_equal(h->year, year);
    assert_int_equal(h->month, month);
    assert_int_equal(h->observed, observed);
    assert_int_equal(h->accounts, logos[0]);
    assert_int_equal(h->mrr0_minor, mrr[0]);
    for (int k = 0; k < n; k++) {
        char what[64];
        assert_int_equal(h->logos[k], logos[k]);
        assert_int_equal(h->mrr_minor[k], mrr[k]);
        snprintf(what, sizeof what, "%04d-%02d logo m%d", year, month, k);
        assert_near(h->logo_retention_pct[k], lpct[k], what);
        snprintf(what, sizeof what, "%04d-%02d revenue m%d", year, month, k);
        assert_near(h->revenue_retention_pct[k], rpct[k], what);
    }
}

static void test_cohort_matrices(void **state)
{
    (void)state;
    load("cohorts.db", world_accounts, world_subscriptions);
    cw_cohorts_opts o;
    cw_cohorts_opts_init(&o);
    assert_int_equal(o.months, 12);
    o.months = 3; /* offsets 0..3 */
    cw_cohorts_report *r = NULL;
    assert_int_equal(cw_cohorts_compute(g_store, &o, &r), CW_OK);
    assert_string_equal(r->currency, "USD");
    assert_int_equal(r->months, 3);
    assert_int_equal(r->end_year, 2025);
    assert_int_equal(r->end_month, 6);
    /* Jan, Feb and Apr: March has no new paying account, A7 none at all. */
    assert_int_equal(r->ncohorts, 3);

    /* Jan cohort {A1, A2, A3}: m0 Jan 3 logos, 10000+20000+40000 = 70000;
     * m1 Feb unchanged; m2 Mar: A3 gone (2 logos, 2/3 = 66.6667 %), A2
     * expanded: 10000+30000 = 40000 (57.142857 %); m3 Apr same. (A3's May
     * return would show at m4: 3 logos, 80000 = 114.285714 %, beyond width 3.)
     * Six months of data: offsets 0..5 observed, all 4 columns shown. */
    static const int64_t jl[] = {3, 3, 2, 2}, jm[] = {70000, 70000, 40000, 40000};
    static const double jlp[] = {100, 100, 66.666667, 66.666667};
    static const double jrp[] = {100, 100, 57.142857, 57.142857};
    check_cohort(&r->cohorts[0], 2025, 1, 4, 4, jl, jm, jlp, jrp);
    /* Feb cohort {A4, A5}: m0 50000+10000 = 60000, m1 Mar same, m2 Apr: A4
     * cancelled: 1 logo (50 %), 10000 (16.666667 %), m3 May same. */
    static const int64_t fl[] = {2, 2, 1, 1}, fm[] = {60000, 60000, 10000, 10000};
    static const double flp[] = {100, 100, 50, 50};
    static const double frp[] = {100, 100, 16.666667, 16.666667};
    check_cohort(&r->cohorts[1], 2025, 2, 4, 4, fl, fm, flp, frp);
    /* Apr cohort {A6}: Apr 5000, May 5000, Jun 0; m3 (Jul) is after the data
     * end: observed = 3, the cell is -1 / undefined. */
    static const int64_t al[] = {1, 1, 0, -1}, am[] = {5000, 5000, 0, -1};
    static const double alp[] = {100, 100, 0, NA};
    static const double arp[] = {100, 100, 0, NA};
    check_cohort(&r->cohorts[2], 2025, 4, 3, 4, al, am, alp, arp);
    /* Six months of data: no cohort reaches offset 12. */
    for (int i = 0; i < 3; i++)
        assert_near(r->cohorts[i].nrr_12m_pct, NA, "NRR 12m");
    cw_cohorts_free(r);

    /* Wider than the data: the Jan cohort's m4 shows A3's reactivation
     * (3 logos = 100 %, 80000 / 70000 = 114.285714 % net retention). */
    o.months = 6;
    assert_int_equal(cw_cohorts_compute(g_store, &o, &r), CW_OK);
    static const int64_t jl6[] = {3, 3, 2, 2, 3, 3, -1};
    static const int64_t jm6[] = {70000, 70000, 40000, 40000, 80000, 80000, -1};
    static const double jlp6[] = {100, 100, 66.666667, 66.666667, 100, 100, NA};
    static const double jrp6[] = {100, 100, 57.142857, 57.142857, 114.285714, 114.285714, NA};
    check_cohort(&r->cohorts[0], 2025, 1, 6, 7, jl6, jm6, jlp6, jrp6);
    cw_cohorts_free(r);

    /* Segment filter "mid" = {A3, A4}: Jan {A3} 1,1,0,0 (40000,40000,0,0);
     * Feb {A4} 1,1,0,0 (50000,50000,0,0). */
    o.months = 3;
    o.segment = "mid";
    assert_int_equal(cw_cohorts_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->ncohorts, 2);
    static const int64_t ml[] = {1, 1, 0, 0}, mm3[] = {40000, 40000, 0, 0},
                         mm4[] = {50000, 50000, 0, 0};
    static const double mp[] = {100, 100, 0, 0};
    check_cohort(&r->cohorts[0], 2025, 1, 4, 4, ml, mm3, mp, mp);
    check_cohort(&r->cohorts[1], 2025, 2, 4, 4, ml, mm4, mp, mp);
    cw_cohorts_free(r);

    /* A segment without subscriptions is "not found"; a bad width a usage error. */
    o.segment = "nobody";
    r = (cw_cohorts_report *)&o;
    assert_int_equal(cw_cohorts_compute(g_store, &o, &r), CW_ERR_NOTFOUND);
    assert_null(r);
    assert_non_null(strstr(cw_store_errmsg(g_store), "no subscriptions in segment 'nobody'"));
    o.segment = NULL;
    o.months = -1;
    assert_int_equal(cw_cohorts_compute(g_store, &o, &r), CW_ERR_USAGE);
    assert_null(r);
}

static void test_nrr_12_months(void **state)
{
    (void)state;
    /* C1 starts 2024-01 at 10000 and expands to 12000 on 2025-01-01; C2 starts
     * 2024-01 at 10000 and leaves on 2024-06-10; C3 starts 2024-02 at 5000.
     * The 2024-01 cohort: m0 = 20000; m12 (Jan 2025) = 12000 (C2 gone) →
     * NRR 12m = 60 %. The 2024-02 cohort's m12 would be Feb 2025, after the
     * data end (Jan 2025): undefined. */
    load("nrr.db",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
         "C1,One,smb,2024-01-01,1,12000,EUR,active\n"
         "C2,Two,smb,2024-01-01,1,0,EUR,active\n"
         "C3,Three,smb,2024-02-01,1,5000,EUR,active\n",
         "account_id,effective_at,mrr_minor,currency,seats\n"
         "C1,2024-01-15,10000,EUR,1\n"
         "C1,2025-01-01,12000,EUR,1\n"
         "C2,2024-01-20,10000,EUR,1\n"
         "C2,2024-06-10,0,EUR,0\n"
         "C3,2024-02-01,5000,EUR,1\n");
    cw_cohorts_report *r = NULL;
    assert_int_equal(cw_cohorts_compute(g_store, NULL, &r), CW_OK);
    assert_string_equal(r->currency, "EUR");
    assert_int_equal(r->ncohorts, 2);
    assert_int_equal(r->cohorts[0].observed, 13);
    assert_int_equal(r->cohorts[0].logos[12], 1);
    assert_int_equal(r->cohorts[0].mrr_minor[12], 12000);
    assert_near(r->cohorts[0].revenue_retention_pct[12], 60.0, "m12");
    assert_near(r->cohorts[0].logo_retention_pct[12], 50.0, "logo m12");
    assert_near(r->cohorts[0].nrr_12m_pct, 60.0, "NRR 12m 2024-01");
    /* C2 left in June: Jan cohort at m5 (June) is C1 only, 10000 = 50 %. */
    assert_near(r->cohorts[0].revenue_retention_pct[5], 50.0, "m5");
    assert_int_equal(r->cohorts[1].observed, 12);
    assert_near(r->cohorts[1].revenue_retention_pct[11], 100.0, "Feb m11");
    assert_near(r->cohorts[1].nrr_12m_pct, NA, "NRR 12m 2024-02");
    cw_cohorts_free(r);
    /* NRR at 12 months does not depend on the matrix width. */
    cw_cohorts_opts o;
    cw_cohorts_opts_init(&o);
    o.months = 2;
    assert_int_equal(cw_cohorts_compute(g_store, &o, &r), CW_OK);
    assert_near(r->cohorts[0].nrr_12m_pct, 60.0, "NRR 12m, width 2");
    cw_cohorts_free(r);
}

static const cw_ltv_segment *find_seg(const cw_ltv_report *r, const char *name)
{
    for (int i = 0; i < r->nsegments; i++)
        if (name ? !r->segments[i].all && strcmp(r->segments[i].segment, name) == 0
                 : r->segments[i].all)
            return &r->segments[i];
    fail_msg("no row for segment %s", name ? name : "(all)");
    return NULL;
}

static void test_ltv(void **state)
{
    (void)state;
    load("ltv.db", world_accounts, world_subscriptions);
    cw_ltv_opts o;
    cw_ltv_opts_init(&o);
    assert_true(o.gross_margin == 0.8);
    cw_ltv_report *r = NULL;
    assert_int_equal(cw_ltv_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->start_year * 100 + r->start_month, 202501);
    assert_int_equal(r->end_year * 100 + r->end_month, 202506);
    /* Rows: mid, smb, then all. */
    assert_int_equal(r->nsegments, 3);
    assert_string_equal(r->segments[0].segment, "mid");
    assert_string_equal(r->segments[1].segment, "smb");
    assert_true(r->segments[2].all);

    /* All accounts. Logos at month ends 3+5+4+4+5+4 = 25 account-months;
     * MRR 70000+130000+100000+55000+95000+90000 = 540000; ARPA = 21600.
     * Customers at each month's start (the previous end; Jan starts at 0):
     * 0+3+5+4+4+5 = 21; churns A3 (Mar), A4 (Apr), A6 (Jun) = 3; monthly
     * logo churn 3/21 = 14.285714 %. LTV = 21600 × 0.8 ÷ (3/21) = 120960.
     * Kaplan–Meier, months from the first paying month end to the first
     * month end without pay: A3 Jan→Mar 2 (event), A4 Feb→Apr 2 (event),
     * A6 Apr→Jun 2 (event); censored at Jun: A1 5, A2 5, A5 4.
     *   t=1: at risk 6, 0 events: S(1) = 1
     *   t=2: at risk 6, 3 events: S(2) = 0.5
     *   t=3: at risk 3 (A1, A2, A5), 0: S(3) = 0.5; t=4: 3, 0; t=5: 2, 0
     * horizon 5, S(5) = 0.5; lifetime = S(0)+…+S(4) = 1+1+0.5+0.5+0.5 = 3.5
     * months; survival LTV = 3.5 × 21600 × 0.8 = 60480. 3 churns < 10:
     * unreliable. */
    const cw_ltv_segment *g = find_seg(r, NULL);
    assert_int_equal(g->accounts, 6);
    assert_int_equal(g->account_months, 25);
    assert_int_equal(g->mrr_sum_minor, 540000);
    assert_near(g->arpa_minor, 21600, "all ARPA");
    assert_int_equal(g->customers_start_sum, 21);
    assert_int_equal(g->churns, 3);
    assert_near(g->churn_pct, 14.285714, "all churn");
    assert_near(g->ltv_minor, 120960, "all LTV");
    assert_int_equal(g->km_events, 3);
    assert_int_equal(g->km_censored, 3);
    assert_int_equal(g->km_horizon_months, 5);
    assert_near(g->km_survival_at_horizon, 0.5, "all S(5)");
    assert_near(g->lifetime_months, 3.5, "all lifetime");
    assert_near(g->ltv_survival_minor, 60480, "all survival LTV");
    assert_true(g->unreliable);

    /* smb = {A1, A2, A5, A6} (A7 never paid at a month end). Logos
     * 2+3+3+4+4+3 = 19; MRR 30000+40000+50000+55000+55000+50000 = 280000;
     * ARPA 280000/19 = 14736.842105. Starts 0+2+3+3+4+4 = 16, churns 1 (A6):
     * 6.25 %; LTV = 14736.842105 × 0.8 ÷ 0.0625 = 188631.578947.
     * KM: A6 event at 2; A1, A2 censored at 5, A5 at 4. t=2: at risk 4, 1
     * event: S = 0.75, unchanged after. Lifetime 1+1+0.75+0.75+0.75 = 4.25;
     * survival LTV = 4.25 × 14736.842105 × 0.8 = 50105.263158. */
    g = find_seg(r, "smb");
    assert_int_equal(g->accounts, 4);
    assert_int_equal(g->account_months, 19);
    assert_near(g->arpa_minor, 14736.842105, "smb ARPA");
    assert_int_equal(g->customers_start_sum, 16);
    assert_int_equal(g->churns, 1);
    assert_near(g->churn_pct, 6.25, "smb churn");
    assert_near(g->ltv_minor, 188631.578947, "smb LTV");
    assert_near(g->km_survival_at_horizon, 0.75, "smb S(5)");
    assert_near(g->lifetime_months, 4.25, "smb lifetime");
    assert_near(g->ltv_survival_minor, 50105.263158, "smb survival LTV");
    assert_true(g->unreliable);

    /* mid = {A3, A4}. Logos 1+2+1+0+1+1 = 6; MRR 40000+90000+50000+0+40000+
     * 40000 = 260000; ARPA 43333.333333. Starts 0+1+2+1+0+1 = 5; churns A3
     * (Mar) and A4 (Apr) = 2: 40 %; LTV = 43333.333333 × 0.8 ÷ 0.4 =
     * 86666.666667. A3's May return is a reactivation: it counts in ARPA
     * but not again in the survival curve (time to first churn). KM: both
     * churn at 2: S(1) = 1, S(2) = 0; horizon 2, lifetime 1+1 = 2; survival
     * LTV = 2 × 43333.333333 × 0.8 = 69333.333333. */
    g = find_seg(r, "mid");
    assert_int_equal(g->account_months, 6);
    assert_int_equal(g->mrr_sum_minor, 260000);
    assert_near(g->arpa_minor, 43333.333333, "mid ARPA");
    assert_int_equal(g->customers_start_sum, 5);
    assert_int_equal(g->churns, 2);
    assert_near(g->churn_pct, 40.0, "mid churn");
    assert_near(g->ltv_minor, 86666.666667, "mid LTV");
    assert_int_equal(g->km_events, 2);
    assert_int_equal(g->km_censored, 0);
    assert_int_equal(g->km_horizon_months, 2);
    assert_near(g->km_survival_at_horizon, 0.0, "mid S(2)");
    assert_near(g->lifetime_months, 2.0, "mid lifetime");
    assert_near(g->ltv_survival_minor, 69333.333333, "mid survival LTV");
    assert_true(g->unreliable);
    cw_ltv_free(r);

    /* --segment smb with margin 0.5: one row, no total; LTV scales with the
     * margin: 14736.842105 × 0.5 ÷ 0.0625 = 117894.736842. */
    o.segment = "smb";
    o.gross_margin = 0.5;
    assert_int_equal(cw_ltv_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->nsegments, 1);
    assert_false(r->segments[0].all);
    assert_near(r->segments[0].ltv_minor, 117894.736842, "smb LTV at 0.5");
    assert_near(r->segments[0].ltv_survival_minor, 4.25 * 14736.842105 * 0.5, "smb surv 0.5");
    cw_ltv_free(r);

    /* A margin outside (0, 1] is a usage error. */
    o.gross_margin = 1.5;
    r = (cw_ltv_report *)&o;
    assert_int_equal(cw_ltv_compute(g_store, &o, &r), CW_ERR_USAGE);
    assert_null(r);
    o.gross_margin = 0;
    assert_int_equal(cw_ltv_compute(g_store, &o, &r), CW_ERR_USAGE);
}

static void test_ltv_reliable(void **state)
{
    (void)state;
    /* Ten "big" accounts pay 1000 in January and all cancel on 2025-02-01
     * (0 at February's end); one "tiny" account pays 500 from January on and
     * changes to 600 in February (so the data runs Jan..Feb).
     * big: 10 account-months, 10000 → ARPA 1000; starts 0 + 10, 10 churns:
     * 100 %; LTV = 1000 × 0.8 ÷ 1 = 800. KM: 10 events at 1 → S(1) = 0,
     * lifetime S(0) = 1, survival LTV 800. 10 churns: reliable.
     * tiny: no churn: the churn-rate LTV is undefined (nothing to divide by),
     * KM censored at 1: lifetime 1 (a lower bound, S(1) = 1), survival LTV
     * 1 × 550 × 0.8 = 440; 0 churns: unreliable. */
    char acc[2048], sub[2048];
    size_t na = (size_t)snprintf(
        acc, sizeof acc,
        "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n");
    size_t ns =
        (size_t)snprintf(sub, sizeof sub, "account_id,effective_at,mrr_minor,currency,seats\n");
    for (int i = 1; i <= 10; i++) {
        na += (size_t)snprintf(acc + na, sizeof acc - na,
                               "D%02d,Big %d,big,2025-01-01,1,0,USD,active\n", i, i);
        ns += (size_t)snprintf(sub + ns, sizeof sub - ns,
                               "D%02d,2025-01-03,1000,USD,1\nD%02d,2025-02-01,0,USD,0\n", i, i);
    }
    snprintf(acc + na, sizeof acc - na, "T1,Tiny,tiny,2025-01-01,1,600,USD,active\n");
    snprintf(sub + ns, sizeof sub - ns, "T1,2025-01-02,500,USD,1\nT1,2025-02-10,600,USD,1\n");
    load("reliable.db", acc, sub);
    cw_ltv_report *r = NULL;
    assert_int_equal(cw_ltv_compute(g_store, NULL, &r), CW_OK);
    const cw_ltv_segment *g = find_seg(r, "big");
    assert_int_equal(g->churns, 10);
    assert_near(g->arpa_minor, 1000, "big ARPA");
    assert_near(g->churn_pct, 100, "big churn");
    assert_near(g->ltv_minor, 800, "big LTV");
    assert_near(g->lifetime_months, 1, "big lifetime");
    assert_near(g->km_survival_at_horizon, 0, "big S(1)");
    assert_near(g->ltv_survival_minor, 800, "big survival LTV");
    assert_false(g->unreliable);
    g = find_seg(r, "tiny");
    assert_int_equal(g->churns, 0);
    assert_near(g->arpa_minor, 550, "tiny ARPA");
    assert_near(g->churn_pct, 0, "tiny churn");
    assert_near(g->ltv_minor, NA, "tiny LTV");
    assert_near(g->lifetime_months, 1, "tiny lifetime");
    assert_near(g->km_survival_at_horizon, 1, "tiny S(1)");
    assert_near(g->ltv_survival_minor, 440, "tiny survival LTV");
    assert_true(g->unreliable);
    cw_ltv_free(r);
}

static void test_two_currencies_rejected(void **state)
{
    (void)state;
    load("eur.db",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
         "B1,Dollar Co,smb,2025-01-01,1,1000,USD,active\n"
         "B2,Euro Co,eu,2025-01-01,1,1000,EUR,active\n",
         "account_id,effective_at,mrr_minor,currency,seats\n"
         "B1,2025-01-01,1000,USD,1\n"
         "B2,2025-02-01,1000,EUR,1\n");
    cw_cohorts_report *r = NULL;
    assert_int_equal(cw_cohorts_compute(g_store, NULL, &r), CW_ERR_INPUT);
    assert_null(r);
    assert_non_null(strstr(cw_store_errmsg(g_store), "cohorts: subscriptions use more than one"));
    cw_ltv_report *l = NULL;
    assert_int_equal(cw_ltv_compute(g_store, NULL, &l), CW_ERR_INPUT);
    assert_null(l);
    assert_non_null(strstr(cw_store_errmsg(g_store), "EUR for account 'B2'"));
    /* One currency's segment works. */
    cw_ltv_opts o;
    cw_ltv_opts_init(&o);
    o.segment = "eu";
    assert_int_equal(cw_ltv_compute(g_store, &o, &l), CW_OK);
    assert_string_equal(l->currency, "EUR");
    cw_ltv_free(l);
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("cohorts");
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
        cmocka_unit_test_teardown(test_cohort_matrices, close_db),
        cmocka_unit_test_teardown(test_nrr_12_months, close_db),
        cmocka_unit_test_teardown(test_ltv, close_db),
        cmocka_unit_test_teardown(test_ltv_reliable, close_db),
        cmocka_unit_test_teardown(test_two_currencies_rejected, close_db),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
