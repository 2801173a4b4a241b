/*
 * test_survival.c — Kaplan–Meier curves, Greenwood bands, medians and the
 * log-rank test (lib/revenue/survival.c) on two hand-checked fixtures, and the
 * chi-square tail function against closed forms.
 *
 * Fixture 1 is the classic AML trial (Miller 1981; R's survival::aml):
 * weeks to relapse, + = censored,
 *   maintained     9 13 13+ 18 23 28+ 31 34 45+ 48 161+
 *   nonmaintained  5 5 8 8 12 16+ 23 27 30 33 43 45
 * played as days of customer lifetime: every account pays 1000 from its
 * start; a relapse is a cancellation t days later; a censored account
 * starts t days before the data end 2026-01-01, which M10's cancellation
 * sets. It has tied churns (5, 5; 8, 8), a censoring at the time of a
 * churn (13 and 13+), a time shared by both groups (23) and a churn in one
 * group at the time of a censoring in the other (45).
 *
 * Expected values, worked with the textbook formulas independently of this
 * code (plain Python, no library); they agree with R's published
 * survfit/survdiff output for aml (S 0.909 0.818 0.716 0.614 0.491 0.368
 * 0.184, std.err 0.0867 0.1163 0.1397 0.1526 0.1642 0.1627 0.1535,
 * expected 10.69 / 7.31, chisq 3.4 on 1 df, p 0.0653):
 *   S(t) = Π (1 - d/n); Greenwood Σ d / (n (n - d)); se = S sqrt(Σ);
 *   log-log band S^exp(±z sqrt(Σ) / |log S|), z = 1.959964.
 * maintained:
 *   t   n d c   S            se           lower        upper
 *   9  11 1 0   0.909090909  0.086678417  0.508080206  0.986673823
 *   13 10 1 1   0.818181818  0.116291300  0.447428615  0.951162229
 *   18  8 1 0   0.715909091  0.139664971  0.350190386  0.899023974
 *   23  7 1 0   0.613636364  0.152632331  0.265752040  0.835299243
 *   28  6 0 1   (unchanged)
 *   31  5 1 0   0.490909091  0.164193267  0.167330910  0.753399790
 *   34  4 1 0   0.368181818  0.162668886  0.092829575  0.657040832
 *   45  3 0 1   (unchanged)
 *   48  2 1 0   0.184090909  0.153492746  0.011738480  0.525014843
 *   161 1 0 1   (unchanged)
 *   median 31 (first S <= 0.5); interval: the lower curve is first <= 0.5
 *   at 13, the upper never (its minimum is 0.525): not reached.
 * nonmaintained: S 5: 10/12 = 0.833333, 8: 0.666667, 12: 0.583333,
 *   23: 0.486111, 27: 0.388889, 30: 0.291667, 33: 0.194444, 43: 0.097222,
 *   45: 0 (se undefined, band 0-0); median 23, interval [5, 33]
 *   (lower 0.481715 at 5, upper 0.461429 at 33).
 * Milestones: 1 month = 30.4375 days. maintained S = 0.613636 (the value
 * at 28), 5 at risk (those lasting >= 31); nonmaintained 0.291667 (at 30),
 * 3 at risk. At 3 months (91.3 days) nonmaintained has no follow-up left.
 * Log-rank: O = 7, 11; E = 10.689335992, 7.310664008; V = 4.007550746;
 * chi2 = (O - E)^2 / V = 3.396388699, p = erfc(sqrt(chi2 / 2)) = 0.06533932.
 *
 * Fixture 2 (data end 2025-07-01, set by C6's expansion):
 *   C1 a  pays 2025-01-10, cancels 2025-03-01 (50 days), returns 2025-05-01
 *         (the reactivation is not a second lifetime)
 *   C2 a  pays 2025-01-20, still paying: censored at 162 days
 *   C3 a  a free row 2025-02-05 (MRR 0), pays 2025-02-15, cancels 2025-04-16
 *         (60 days from the first paid row)
 *   C4 b  only a free row 2025-04-10: never a customer, not counted
 *   C5 b  pays 2025-04-02: censored at 90 days
 *   C6 b  pays 2025-05-01, expands 2025-07-01: censored at 61 days
 *   C7 c  pays from the data end: censored at 0 days
 *   a: S(50) = 2/3, S(60) = 1/3, Greenwood 1/6 + 1/2 = 2/3, se(50) =
 *      (2/3) sqrt(1/6) = 0.272166, se(60) = (1/3) sqrt(2/3) = 0.272166;
 *      median 60.
 *   b: no churn: S = 1 throughout, se 0, median not reached.
 *   log-rank: at 50, n = 3 + 2, E_a = 3/5, V = 1*4/4 * 3/5 * 2/5 = 0.24;
 *   at 60, n = 2 + 2, E_a = 1/2, V = 0.25. O_a - E_a = 2 - 1.1 = 0.9,
 *   chi2 = 0.81 / 0.49 = 1.653061224, p = erfc(sqrt(chi2 / 2)) = 0.198542794.
 *   c is never at risk at a churn time: its row of V is zero, so it is left
 *   out (as R's generalised inverse does) and the test keeps 1 df.
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

static void load(const char *db_name, const char *accounts, const char *subscriptions)
{
    const char *const names[] = {"accounts.csv", "subscriptions.csv"};
    const char *const texts[] = {accounts, subscriptions};
    tu_load(db_name, 2, names, texts, &g_store);
}

static const char *aml_accounts =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status,churn_date\n"
    "M01,M01 Co,maint,2025-06-15,0,0,USD,churned,2025-06-24\n"
    "M02,M02 Co,maint,2025-06-15,0,0,USD,churned,2025-06-28\n"
    "M03,M03 Co,maint,2025-12-19,1,1000,USD,active,\n"
    "M04,M04 Co,maint,2025-06-15,0,0,USD,churned,2025-07-03\n"
    "M05,M05 Co,maint,2025-06-15,0,0,USD,churned,2025-07-08\n"
    "M06,M06 Co,maint,2025-12-04,1,1000,USD,active,\n"
    "M07,M07 Co,maint,2025-06-15,0,0,USD,churned,2025-07-16\n"
    "M08,M08 Co,maint,2025-06-15,0,0,USD,churned,2025-07-19\n"
    "M09,M09 Co,maint,2025-11-17,1,1000,USD,active,\n"
    "M10,M10 Co,maint,2025-11-14,0,0,USD,churned,2026-01-01\n"
    "M11,M11 Co,maint,2025-07-24,1,1000,USD,active,\n"
    "N01,N01 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-06-20\n"
    "N02,N02 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-06-20\n"
    "N03,N03 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-06-23\n"
    "N04,N04 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-06-23\n"
    "N05,N05 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-06-27\n"
    "N06,N06 Co,nonmaint,2025-12-16,1,1000,USD,active,\n"
    "N07,N07 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-07-08\n"
    "N08,N08 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-07-12\n"
    "N09,N09 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-07-15\n"
    "N10,N10 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-07-18\n"
    "N11,N11 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-07-28\n"
    "N12,N12 Co,nonmaint,2025-06-15,0,0,USD,churned,2025-07-30\n";

static const char *aml_subscriptions = "account_id,effective_at,mrr_minor,currency,seats\n"
                                       "M01,2025-06-15,1000,USD,1\n"
                                       "M01,2025-06-24,0,USD,0\n"
                                       "M02,2025-06-15,1000,USD,1\n"
                                       "M02,2025-06-28,0,USD,0\n"
                                       "M03,2025-12-19,1000,USD,1\n"
                                       "M04,2025-06-15,1000,USD,1\n"
                                       "M04,2025-07-03,0,USD,0\n"
                                       "M05,2025-06-15,1000,USD,1\n"
                                       "M05,2025-07-08,0,USD,0\n"
                                       "M06,2025-12-04,1000,USD,1\n"
                                       "M07,2025-06-15,1000,USD,1\n"
                                       "M07,2025-07-16,0,USD,0\n"
                                       "M08,2025-06-15,1000,USD,1\n"
                                       "M08,2025-07-19,0,USD,0\n"
                                       "M09,2025-11-17,1000,USD,1\n"
                                       "M10,2025-11-14,1000,USD,1\n"
                                       "M10,2026-01-01,0,USD,0\n"
                                       "M11,2025-07-24,1000,USD,1\n"
                                       "N01,2025-06-15,1000,USD,1\n"
                                       "N01,2025-06-20,0,USD,0\n"
                                       "N02,2025-06-15,1000,USD,1\n"
                                       "N02,2025-06-20,0,USD,0\n"
                                       "N03,2025-06-15,1000,USD,1\n"
                                       "N03,2025-06-23,0,USD,0\n"
                                       "N04,2025-06-15,1000,USD,1\n"
                                       "N04,2025-06-23,0,USD,0\n"
                                       "N05,2025-06-15,1000,USD,1\n"
                                       "N05,2025-06-27,0,USD,0\n"
                                       "N06,2025-12-16,1000,USD,1\n"
                                       "N07,2025-06-15,1000,USD,1\n"
                                       "N07,2025-07-08,0,USD,0\n"
                                       "N08,2025-06-15,1000,USD,1\n"
                                       "N08,2025-07-12,0,USD,0\n"
                                       "N09,2025-06-15,1000,USD,1\n"
                                       "N09,2025-07-15,0,USD,0\n"
                                       "N10,2025-06-15,1000,USD,1\n"
                                       "N10,2025-07-18,0,USD,0\n"
                                       "N11,2025-06-15,1000,USD,1\n"
                                       "N11,2025-07-28,0,USD,0\n"
                                       "N12,2025-06-15,1000,USD,1\n"
                                       "N12,2025-07-30,0,USD,0\n";

static const char *small_accounts =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status,churn_date\n"
    "C1,Back Co,a,2025-01-10,1,1000,USD,active,\n"
    "C2,Stay Co,a,2025-01-20,1,1000,USD,active,\n"
    "C3,Trial Co,a,2025-02-05,0,0,USD,churned,2025-04-16\n"
    "C4,Free Co,b,2025-04-10,0,0,USD,trial,\n"
    "C5,Late Co,b,2025-04-02,1,1000,USD,active,\n"
    "C6,Grow Co,b,2025-05-01,1,2000,USD,active,\n"
    "C7,Fresh Co,c,2025-07-01,1,1000,USD,active,\n";

static const char *small_subscriptions = "account_id,effective_at,mrr_minor,currency,seats\n"
                                         "C1,2025-01-10,1000,USD,1\n"
                                         "C1,2025-03-01,0,USD,0\n"
                                         "C1,2025-05-01,1000,USD,1\n"
                                         "C2,2025-01-20,1000,USD,1\n"
                                         "C3,2025-02-05,0,USD,1\n"
                                         "C3,2025-02-15,1000,USD,1\n"
                                         "C3,2025-04-16,0,USD,0\n"
                                         "C4,2025-04-10,0,USD,1\n"
                                         "C5,2025-04-02,1000,USD,1\n"
                                         "C6,2025-05-01,1000,USD,1\n"
                                         "C6,2025-07-01,2000,USD,2\n"
                                         "C7,2025-07-01,1000,USD,1\n";

static void near(double got, double want, double tol, const char *what)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("%s: expected undefined, got %.9f", what, got);
    } else if (isnan(got) || fabs(got - want) > tol) {
        fail_msg("%s: expected %.9f, got %.9f", what, want, got);
    }
}

typedef struct want_pt {
    double t;
    int64_t n, d, c;
    double s, se, lo, hi;
} want_pt;

static void check_curve(const cw_survival_group *g, const want_pt *w, int n)
{
    assert_int_equal(g->npoints, n);
    for (int i = 0; i < n; i++) {
        const cw_survival_point *p = &g->points[i];
        char what[96];
        snprintf(what, sizeof what, "%s t=%g", g->name, w[i].t);
        near(p->t, w[i].t, 1e-12, what);
        assert_int_equal(p->at_risk, w[i].n);
        assert_int_equal(p->events, w[i].d);
        assert_int_equal(p->censored, w[i].c);
        near(p->survival, w[i].s, 1e-9, what);
        near(p->se, w[i].se, 1e-9, what);
        near(p->lower, w[i].lo, 1e-9, what);
        near(p->upper, w[i].hi, 1e-9, what);
    }
}

static const want_pt maint[] = {
    {9, 11, 1, 0, 0.909090909091, 0.086678417204, 0.508080205770, 0.986673822668},
    {13, 10, 1, 1, 0.818181818182, 0.116291299830, 0.447428614682, 0.951162228582},
    {18, 8, 1, 0, 0.715909090909, 0.139664970557, 0.350190385908, 0.899023974191},
    {23, 7, 1, 0, 0.613636363636, 0.152632331027, 0.265752040001, 0.835299243250},
    {28, 6, 0, 1, 0.613636363636, 0.152632331027, 0.265752040001, 0.835299243250},
    {31, 5, 1, 0, 0.490909090909, 0.164193267221, 0.167330909777, 0.753399790371},
    {34, 4, 1, 0, 0.368181818182, 0.162668885827, 0.092829574937, 0.657040832398},
    {45, 3, 0, 1, 0.368181818182, 0.162668885827, 0.092829574937, 0.657040832398},
    {48, 2, 1, 0, 0.184090909091, 0.153492745786, 0.011738480123, 0.525014842727},
    {161, 1, 0, 1, 0.184090909091, 0.153492745786, 0.011738480123, 0.525014842727},
};

static const want_pt nonmaint[] = {
    {5, 12, 2, 0, 0.833333333333, 0.107582870728, 0.481714942195, 0.955509365728},
    {8, 10, 2, 0, 0.666666666667, 0.136082763488, 0.337018932541, 0.859711799084},
    {12, 8, 1, 0, 0.583333333333, 0.142318760638, 0.270138924085, 0.800940192333},
    {16, 7, 0, 1, 0.583333333333, 0.142318760638, 0.270138924085, 0.800940192333},
    {23, 6, 1, 0, 0.486111111111, 0.148130062553, 0.191876619619, 0.729671569779},
    {27, 5, 1, 0, 0.388888888889, 0.146986183948, 0.126272012195, 0.649817408289},
    {30, 4, 1, 0, 0.291666666667, 0.138715169135, 0.072401608908, 0.560886052671},
    {33, 3, 1, 0, 0.194444444444, 0.121874505380, 0.031198642931, 0.461429476238},
    {43, 2, 1, 0, 0.097222222222, 0.091866364968, 0.005746305696, 0.348903861111},
    {45, 1, 1, 0, 0.0, NAN, 0.0, 0.0},
};

static void test_aml_by_segment(void **state)
{
    (void)state;
    load("aml.db", aml_accounts, aml_subscriptions);
    cw_survival_opts o;
    cw_survival_opts_init(&o);
    assert_int_equal(o.cohort_months, 3);
    near(o.confidence, 0.95, 0, "default confidence");
    o.by = CW_SURVIVAL_BY_SEGMENT;
    cw_survival_report *r = NULL;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    char end[32];
    assert_string_equal(cw_time_format(r->data_end_unix, CW_TIME_DATE, end, sizeof end),
                        "2026-01-01");
    assert_int_equal(r->ngroups, 2);
    const cw_survival_group *m = &r->groups[0], *n = &r->groups[1];
    assert_string_equal(m->name, "maint");
    assert_string_equal(n->name, "nonmaint");
    assert_int_equal(m->accounts, 11);
    assert_int_equal(m->events, 7);
    assert_int_equal(m->censored, 4);
    assert_int_equal(n->accounts, 12);
    assert_int_equal(n->events, 11);
    assert_int_equal(n->censored, 1);
    check_curve(m, maint, 10);
    check_curve(n, nonmaint, 10);
    near(m->median, 31, 0, "maint median");
    near(m->median_lower, 13, 0, "maint median lower");
    near(m->median_upper, NAN, 0, "maint median upper");
    near(n->median, 23, 0, "nonmaint median");
    near(n->median_lower, 5, 0, "nonmaint median lower");
    near(n->median_upper, 33, 0, "nonmaint median upper");
    /* Milestones at 1 month (30.4375 days) and 3 months. */
    assert_int_equal(m->milestones[0].months, 1);
    assert_true(m->milestones[0].observed);
    near(m->milestones[0].survival, 0.613636363636, 1e-9, "maint S(1 mo)");
    near(m->milestones[0].lower, 0.265752040001, 1e-9, "maint lower(1 mo)");
    assert_int_equal(m->milestones[0].at_risk, 5);
    near(n->milestones[0].survival, 0.291666666667, 1e-9, "nonmaint S(1 mo)");
    assert_int_equal(n->milestones[0].at_risk, 3);
    assert_true(m->milestones[1].observed);
    near(m->milestones[1].survival, 0.184090909091, 1e-9, "maint S(3 mo)");
    assert_int_equal(m->milestones[1].at_risk, 1);
    assert_false(n->milestones[1].observed);
    near(n->milestones[1].survival, NAN, 0, "nonmaint S(3 mo)");
    assert_false(m->milestones[2].observed); /* 6 months = 182.6 days > 161 */
    assert_true(r->logrank_computed);
    assert_int_equal(r->logrank_df, 1);
    near(m->logrank_observed, 7, 0, "O maint");
    near(n->logrank_observed, 11, 0, "O nonmaint");
    near(m->logrank_expected, 10.689335992301, 1e-9, "E maint");
    near(n->logrank_expected, 7.310664007699, 1e-9, "E nonmaint");
    near(r->logrank_chi2, 3.396388698978, 1e-9, "chi2");
    near(r->logrank_p, 0.0653393220405, 1e-10, "p");
    cw_survival_free(r);

    /* Quarterly start cohorts, the first (June) not at a quarter's start:
     * the churned accounts but M10 started 2025-06-15 (Q2, "2025-04": 6 +
     * 11), M11 2025-07-24 (Q3), and M03, M06, M09, M10, N06 in Q4. */
    o.by = CW_SURVIVAL_BY_COHORT;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->ngroups, 3);
    assert_string_equal(r->groups[0].name, "2025-04");
    assert_int_equal(r->groups[0].accounts, 17);
    assert_int_equal(r->groups[0].events, 17);
    assert_string_equal(r->groups[1].name, "2025-07");
    assert_int_equal(r->groups[1].accounts, 1);
    assert_string_equal(r->groups[2].name, "2025-10");
    assert_int_equal(r->groups[2].accounts, 5);
    assert_int_equal(r->groups[2].events, 1);
    assert_int_equal(r->logrank_df, 2);
    cw_survival_free(r);

    /* One segment: one group, the same curve, no log-rank. */
    o.by = CW_SURVIVAL_BY_NONE;
    o.segment = "maint";
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->ngroups, 1);
    assert_string_equal(r->groups[0].name, "all");
    check_curve(&r->groups[0], maint, 10);
    assert_false(r->logrank_computed);
    cw_survival_free(r);

    /* A 99 % band: z = 2.575829 (tables), maint at t = 9 with Greenwood
     * 1/110: 0.909091^exp(2.575829 * 0.095346 / 0.095310) = 0.285416. */
    o.confidence = 0.99;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    near(r->groups[0].points[0].lower, 0.28541572062000964, 1e-9, "99 % lower");
    cw_survival_free(r);

    o.segment = "nope";
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_ERR_NOTFOUND);
    assert_null(r);
    assert_non_null(strstr(cw_store_errmsg(g_store), "no subscriptions in segment 'nope'"));
}

static void test_reactivation_no_events_horizon(void **state)
{
    (void)state;
    load("small.db", small_accounts, small_subscriptions);
    cw_survival_opts o;
    cw_survival_opts_init(&o);
    o.by = CW_SURVIVAL_BY_SEGMENT;
    cw_survival_report *r = NULL;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    char end[32];
    assert_string_equal(cw_time_format(r->data_end_unix, CW_TIME_DATE, end, sizeof end),
                        "2025-07-01");
    assert_int_equal(r->ngroups, 3);
    const cw_survival_group *a = &r->groups[0], *b = &r->groups[1], *c = &r->groups[2];
    static const want_pt wa[] = {
        {50, 3, 1, 0, 2.0 / 3.0, 0.272165526976, 0, 0},
        {60, 2, 1, 0, 1.0 / 3.0, 0.272165526976, 0, 0},
        {162, 1, 0, 1, 1.0 / 3.0, 0.272165526976, 0, 0},
    };
    assert_int_equal(a->accounts, 3);
    assert_int_equal(a->npoints, 3);
    for (int i = 0; i < 3; i++) {
        near(a->points[i].t, wa[i].t, 0, "a t");
        assert_int_equal(a->points[i].at_risk, wa[i].n);
        assert_int_equal(a->points[i].events, wa[i].d);
        assert_int_equal(a->points[i].censored, wa[i].c);
        near(a->points[i].survival, wa[i].s, 1e-12, "a S");
        near(a->points[i].se, wa[i].se, 1e-9, "a se");
    }
    near(a->median, 60, 0, "a median");
    /* b: C4 never paid; C5 censored at 90 days, C6 at 61: no churn. */
    assert_int_equal(b->accounts, 2);
    assert_int_equal(b->events, 0);
    assert_int_equal(b->npoints, 2);
    near(b->points[0].t, 61, 0, "b t0");
    near(b->points[1].t, 90, 0, "b t1");
    near(b->points[1].survival, 1, 0, "b S");
    near(b->points[1].se, 0, 0, "b se");
    near(b->points[1].lower, 1, 0, "b lower");
    near(b->median, NAN, 0, "b median");
    assert_string_equal(c->name, "c");
    assert_int_equal(c->accounts, 1);
    near(c->points[0].t, 0, 0, "c t");
    near(c->logrank_expected, 0, 0, "E c");
    assert_true(r->logrank_computed);
    assert_int_equal(r->logrank_df, 1);
    near(a->logrank_expected, 1.1, 1e-12, "E a");
    near(r->logrank_chi2, 0.81 / 0.49, 1e-12, "chi2");
    near(r->logrank_p, 0.19854279368666197, 1e-12, "p");
    cw_survival_free(r);

    /* Quarterly cohorts partition the accounts as the segments do here
     * (a = Jan/Feb starts, b = Apr/May, c = Jul): the same test. */
    o.by = CW_SURVIVAL_BY_COHORT;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->ngroups, 3);
    assert_string_equal(r->groups[0].name, "2025-01");
    assert_string_equal(r->groups[1].name, "2025-04");
    assert_string_equal(r->groups[2].name, "2025-07");
    near(r->logrank_chi2, 0.81 / 0.49, 1e-12, "cohort chi2");
    assert_int_equal(r->logrank_df, 1);
    cw_survival_free(r);
    /* Monthly cohorts: Jan {C1, C2}, Feb {C3}, Apr {C5}, May {C6}, Jul
     * {C7}. At 50 days 2, 1, 1, 1 are at risk (n = 5), at 60 days 1, 1, 1,
     * 1: E = 0.4 + 0.25 = 0.65 for Jan, 0.2 + 0.25 = 0.45 for the others,
     * O = 1, 1, 0, 0; Jul is left out; chi2 over Jan, Feb, Apr with the
     * 3 x 3 covariance, solved independently (plain Python, Gauss-Jordan):
     * 1.768031189 on 3 df, p = erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) =
     * 0.621916292. */
    o.cohort_months = 1;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->ngroups, 5);
    static const char *const names[] = {"2025-01", "2025-02", "2025-04", "2025-05", "2025-07"};
    static const int64_t accounts[] = {2, 1, 1, 1, 1};
    static const double expected[] = {0.65, 0.45, 0.45, 0.45, 0};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(r->groups[i].name, names[i]);
        assert_int_equal(r->groups[i].accounts, accounts[i]);
        near(r->groups[i].logrank_expected, expected[i], 1e-12, names[i]);
    }
    assert_int_equal(r->logrank_df, 3);
    near(r->logrank_chi2, 1.7680311890838207, 1e-12, "monthly chi2");
    near(r->logrank_p, 0.6219162919545396, 1e-12, "monthly p");
    cw_survival_free(r);
    r = NULL;
    /* Four-month cohorts of segment b, whose data starts in April (inside
     * the Jan-Apr cohort): C5 (Apr) is in "2025-01", C6 (May) in "2025-05". */
    o.cohort_months = 4;
    o.segment = "b";
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->ngroups, 2);
    assert_string_equal(r->groups[0].name, "2025-01");
    assert_string_equal(r->groups[1].name, "2025-05");
    assert_false(r->logrank_computed); /* no churn at all */
    cw_survival_free(r);
    r = NULL;
    o.segment = NULL;
    o.cohort_months = 5;
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_ERR_USAGE);
    assert_null(r);

    /* Horizon 55 days: C3 (60) and C2 (162) are censored at 55. */
    cw_survival_opts_init(&o);
    o.horizon = 55;
    o.segment = "a";
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    assert_int_equal(r->groups[0].npoints, 2);
    near(r->groups[0].points[1].t, 55, 0, "horizon t");
    assert_int_equal(r->groups[0].points[1].censored, 2);
    assert_int_equal(r->groups[0].events, 1);
    near(r->groups[0].points[1].survival, 2.0 / 3.0, 1e-12, "horizon S");
    near(r->groups[0].median, NAN, 0, "horizon median");
    cw_survival_free(r);

    /* Months: the same curve, times divided by 30.4375. */
    cw_survival_opts_init(&o);
    o.unit_months = 1;
    o.segment = "a";
    assert_int_equal(cw_survival_compute(g_store, &o, &r), CW_OK);
    near(r->groups[0].points[0].t, 50 / 30.4375, 1e-12, "t in months");
    near(r->groups[0].median, 60 / 30.4375, 1e-12, "median in months");
    cw_survival_free(r);
}

/* cw_chi2_sf against closed forms of the chi-square upper tail:
 * df 1: erfc(sqrt(x/2)); df 2: exp(-x/2); df 3: erfc(sqrt(x/2)) +
 * sqrt(2x/pi) exp(-x/2); df 4: exp(-x/2) (1 + x/2); and the tabled 95 %
 * critical values 3.841459 (1 df) and 16.918978 (9 df). */
static void test_chi2_sf(void **state)
{
    (void)state;
    static const double xs[] = {0.001, 0.1, 0.5, 1, 2, 3.396388698978, 5, 10, 30, 80, 200};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double x = xs[i], h = exp(-x / 2);
        double want[5] = {0, erfc(sqrt(x / 2)), h,
                          erfc(sqrt(x / 2)) + sqrt(2 * x / 3.14159265358979323846) * h,
                          h * (1 + x / 2)};
        for (int df = 1; df <= 4; df++) {
            char what[64];
            snprintf(what, sizeof what, "Q(%g, df %d)", x, df);
            near(cw_chi2_sf(x, df) / want[df], 1.0, 1e-10, what);
        }
    }
    near(cw_chi2_sf(3.841458820694124, 1), 0.05, 1e-12, "1 df 95 %");
    near(cw_chi2_sf(16.918977604620448, 9), 0.05, 1e-12, "9 df 95 %");
    near(cw_chi2_sf(0, 3), 1, 0, "x = 0");
    assert_true(isnan(cw_chi2_sf(1, 0)));
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("survival");
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
        cmocka_unit_test_teardown(test_aml_by_segment, close_db),
        cmocka_unit_test_teardown(test_reactivation_no_events_horizon, close_db),
        cmocka_unit_test(test_chi2_sf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
