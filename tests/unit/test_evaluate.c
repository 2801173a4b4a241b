/*
 * test_evaluate.c — the backtest's metric functions (lib/model/eval.c) and
 * the churn-event definition (lib/model/model_data.c) against numbers worked out
 * by hand, plus one cross-check against scikit-learn on a data file it
 * generated once (tests/data/eval_sklearn.csv, 300 rows with many ties).
 *
 * The hand-worked case (P = 4 churns, N = 6 others):
 *   score 0.9 0.8 0.8 0.6 0.5 0.4 0.3 0.3 0.2 0.1
 *   label  1   1   0   1   0   0   1   0   0   0
 * ROC AUC: each churn against each other row, ties half:
 *   0.9 → 6, 0.8 → 5.5 (ties one 0.8), 0.6 → 5, 0.3 → 2.5; 19 / 24.
 * Average precision over the distinct thresholds (recall step × precision):
 *   0.9: 0.25 × 1/1; 0.8: 0.25 × 2/3; 0.6: 0.25 × 3/4; 0.3: 0.25 × 4/8
 *   = 12/48 + 8/48 + 9/48 + 6/48 = 35/48.
 * Riskiest 10% = 1 row (0.9, a churn): precision 1, recall 1/4, lift 1/0.4 = 2.5.
 * Riskiest 20% = 2 rows (0.9; of the tied 0.8s the first, a churn): 1, 1/2, 2.5.
 * Brier: (.01 + .04 + .64 + .16 + .25 + .16 + .49 + .09 + .04 + .01) / 10 = 0.189.
 * Deciles (1 row each, ascending): decile 1 = 0.1 (0), decile 4 = the first
 * 0.3 by row order (a churn), decile 10 = 0.9 (1).
 * ROC: 8 distinct scores → 9 points, (0,0) (0,.25) (1/6,.5) (1/6,.75)
 *   (2/6,.75) (3/6,.75) (4/6,1) (5/6,1) (1,1).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int.h"

static void hand_worked(void **state)
{
    (void)state;
    const double s[10] = {0.9, 0.8, 0.8, 0.6, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1};
    const unsigned char y[10] = {1, 1, 0, 1, 0, 0, 1, 0, 0, 0};
    cw_eval e;
    assert_int_equal(cw_eval_binary(s, y, 10, CW_EVAL_PROBABILITIES, &e), CW_OK);
    assert_int_equal(e.n, 10);
    assert_int_equal(e.positives, 4);
    assert_true(fabs(e.roc_auc - 19.0 / 24.0) < 1e-12);
    assert_true(fabs(e.pr_auc - 35.0 / 48.0) < 1e-12);
    assert_true(fabs(e.brier - 0.189) < 1e-12);
    assert_true(fabs(e.precision_10 - 1) < 1e-12);
    assert_true(fabs(e.recall_10 - 0.25) < 1e-12);
    assert_true(fabs(e.lift_10 - 2.5) < 1e-12);
    assert_true(fabs(e.precision_20 - 1) < 1e-12);
    assert_true(fabs(e.recall_20 - 0.5) < 1e-12);
    assert_true(fabs(e.lift_20 - 2.5) < 1e-12);
    assert_int_equal(e.deciles[0].n, 1);
    assert_true(fabs(e.deciles[0].mean_score - 0.1) < 1e-12);
    assert_true(e.deciles[0].observed == 0);
    assert_true(e.deciles[3].observed == 1);
    assert_true(fabs(e.deciles[3].mean_score - 0.3) < 1e-12);
    assert_true(e.deciles[9].observed == 1);
    const double fpr[9] = {0, 0, 1. / 6, 1. / 6, 2. / 6, 3. / 6, 4. / 6, 5. / 6, 1};
    const double tpr[9] = {0, .25, .5, .75, .75, .75, 1, 1, 1};
    assert_int_equal(e.nroc, 9);
    double area = 0;
    for (int i = 0; i < 9; i++) {
        assert_true(fabs(e.roc_fpr[i] - fpr[i]) < 1e-12);
        assert_true(fabs(e.roc_tpr[i] - tpr[i]) < 1e-12);
        if (i)
            area += (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2;
    }
    /* the trapezoid area under the ROC points is the AUC */
    assert_true(fabs(area - e.roc_auc) < 1e-12);
    /* scores that are no probabilities: no Brier score */
    assert_int_equal(cw_eval_binary(s, y, 10, CW_EVAL_RANKS, &e), CW_OK);
    assert_true(isnan(e.brier));
}

/* DeLong's interval. By hand: churns 0.9, 0.6; others 0.7, 0.3, 0.1.
 * AUC 5/6. Placements: churns V10 = 1, 2/3; others V01 = 1/2, 1, 1.
 * S10 = ((1/6)^2 + (1/6)^2) / 1 = 1/18; S01 = ((1/3)^2 + 2 (1/6)^2) / 2 = 1/12;
 * var = S10/2 + S01/3 = 1/36 + 1/36 = 1/18; se = 0.2357022;
 * 95%: 5/6 - 1.959964 se = 0.3713648, the upper end clipped to 1. */
static void delong_interval(void **state)
{
    (void)state;
    const double s[5] = {0.9, 0.7, 0.6, 0.3, 0.1};
    const unsigned char y[5] = {1, 0, 1, 0, 0};
    cw_eval e;
    assert_int_equal(cw_eval_binary(s, y, 5, 1, &e), CW_OK);
    assert_true(fabs(e.roc_auc - 5.0 / 6.0) < 1e-12);
    assert_true(fabs(e.roc_auc_lo - 0.3713648) < 1e-6);
    assert_true(e.roc_auc_hi == 1);

    /* Larger, with ties: the tie-grouped computation against placements
     * counted pair by pair, and the interval narrows as rows are added. */
    enum { M = 400 };
    double *sc = malloc(M * sizeof *sc);
    unsigned char *yy = malloc(M);
    uint64_t r = 7;
    int64_t np = 0;
    for (int i = 0; i < M; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        yy[i] = (r >> 60) < 3;
        np += yy[i];
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        sc[i] = (double)((r >> 58) + (yy[i] ? 20 : 0)) / 10.0; /* coarse: many ties */
    }
    int64_t nn = M - np;
    double auc = 0;
    double *v10 = calloc(M, sizeof *v10), *v01 = calloc(M, sizeof *v01);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++)
            if (yy[i] && !yy[j]) {
                double k = sc[i] > sc[j] ? 1 : sc[i] == sc[j] ? 0.5 : 0;
                v10[i] += k / (double)nn;
                v01[j] += k / (double)np;
                auc += k;
            }
    auc /= (double)np * (double)nn;
    double s10 = 0, s01 = 0;
    for (int i = 0; i < M; i++) {
        if (yy[i])
            s10 += (v10[i] - auc) * (v10[i] - auc);
        else
            s01 += (v01[i] - auc) * (v01[i] - auc);
    }
    double se = sqrt(s10 / (double)(np - 1) / (double)np + s01 / (double)(nn - 1) / (double)nn);
    assert_int_equal(cw_eval_binary(sc, yy, M, 0, &e), CW_OK);
    assert_true(fabs(e.roc_auc - auc) < 1e-12);
    assert_true(fabs(e.roc_auc_lo - (auc - 1.959964 * se)) < 1e-9);
    assert_true(fabs(e.roc_auc_hi - fmin(1, auc + 1.959964 * se)) < 1e-9);
    /* the bootstrap interval of lift@10% holds the estimate, and the same
     * rows give the same interval (fixed seed) */
    assert_true(e.lift_10_lo <= e.lift_10 && e.lift_10 <= e.lift_10_hi);
    assert_true(e.lift_10_hi > e.lift_10_lo);
    cw_eval e2;
    assert_int_equal(cw_eval_binary(sc, yy, M, 0, &e2), CW_OK);
    assert_true(e2.lift_10_lo == e.lift_10_lo && e2.lift_10_hi == e.lift_10_hi);
    free(sc);
    free(yy);
    free(v10);
    free(v01);
}

static void degenerate(void **state)
{
    (void)state;
    const double s[3] = {0.5, 0.2, 0.9};
    const unsigned char none[3] = {0, 0, 0}, all[3] = {1, 1, 1};
    cw_eval e;
    assert_int_equal(cw_eval_binary(s, none, 3, CW_EVAL_PROBABILITIES, &e), CW_OK);
    assert_true(isnan(e.roc_auc));
    assert_true(isnan(e.pr_auc));
    assert_true(isnan(e.lift_10));
    assert_int_equal(e.nroc, 0);
    assert_int_equal(cw_eval_binary(s, all, 3, CW_EVAL_PROBABILITIES, &e), CW_OK);
    assert_true(isnan(e.roc_auc));
    assert_true(fabs(e.pr_auc - 1) < 1e-12); /* every threshold has precision 1 */
    assert_int_equal(cw_eval_binary(s, all, 0, CW_EVAL_PROBABILITIES, &e), CW_OK);
    assert_int_equal(e.n, 0);
    /* all scores tied: AUC 0.5, one ROC segment */
    const double t[4] = {0.3, 0.3, 0.3, 0.3};
    const unsigned char y[4] = {1, 0, 0, 1};
    assert_int_equal(cw_eval_binary(t, y, 4, CW_EVAL_PROBABILITIES, &e), CW_OK);
    assert_true(fabs(e.roc_auc - 0.5) < 1e-12);
    assert_true(fabs(e.pr_auc - 0.5) < 1e-12);
    assert_int_equal(e.nroc, 2);
}

/* 1000 distinct scores: the curve is thinned to 101 points, ends included,
 * and its trapezoid area stays within 0.005 of the exact AUC. */
static void roc_thinning(void **state)
{
    (void)state;
    enum { N = 1000 };
    double *s = malloc(N * sizeof *s);
    unsigned char *y = malloc(N);
    assert_non_null(s);
    assert_non_null(y);
    uint64_t z = 12345;
    for (int i = 0; i < N; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        y[i] = (z >> 33) % 4 == 0;
        s[i] = (double)i / N + (y[i] ? 0.3 : 0);
    }
    cw_eval e;
    assert_int_equal(cw_eval_binary(s, y, N, CW_EVAL_RANKS, &e), CW_OK);
    assert_int_equal(e.nroc, CW_EVAL_ROC_POINTS);
    assert_true(e.roc_fpr[0] == 0 && e.roc_tpr[0] == 0);
    assert_true(e.roc_fpr[e.nroc - 1] == 1 && e.roc_tpr[e.nroc - 1] == 1);
    double area = 0;
    for (int i = 1; i < e.nroc; i++) {
        assert_true(e.roc_fpr[i] >= e.roc_fpr[i - 1] && e.roc_tpr[i] >= e.roc_tpr[i - 1]);
        area += (e.roc_fpr[i] - e.roc_fpr[i - 1]) * (e.roc_tpr[i] + e.roc_tpr[i - 1]) / 2;
    }
    assert_true(fabs(area - e.roc_auc) < 0.005);
    free(s);
    free(y);
}

static void against_sklearn(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/eval_sklearn.csv", CW_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    double auc = NAN, ap = NAN, brier = NAN, s[400];
    unsigned char y[400];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            char *p = strstr(line, "roc_auc=");
            if (p)
                assert_int_equal(
                    sscanf(p, "roc_auc=%lf average_precision=%lf brier=%lf", &auc, &ap, &brier), 3);
            continue;
        }
        int lab;
        assert_true(n < 400);
        assert_int_equal(sscanf(line, "%lf,%d", &s[n], &lab), 2);
        y[n++] = (unsigned char)lab;
    }
    fclose(f);
    assert_int_equal(n, 300);
    cw_eval e;
    assert_int_equal(cw_eval_binary(s, y, n, CW_EVAL_PROBABILITIES, &e), CW_OK);
    assert_true(fabs(e.roc_auc - auc) < 1e-9);
    assert_true(fabs(e.pr_auc - ap) < 1e-9);
    assert_true(fabs(e.brier - brier) < 1e-9);
}

/* Account 1 (days): from day 100 MRR 500 seats 10; day 200 MRR 400 seats 8;
 * day 300 cancels (MRR 0); day 400 back with MRR 300 seats 5; day 500
 * cancels again. Account 2 has no rows. Churn events: days 300 and 500. */
static void churn_events(void **state)
{
    (void)state;
    const int64_t D = DAY_SECONDS;
    int64_t lo[4] = {0, 0, 5, 5};
    int64_t ts[5] = {100 * D, 200 * D, 300 * D, 400 * D, 500 * D};
    int64_t mrr[5] = {500, 400, 0, 300, 0}, seats[5] = {10, 8, 0, 5, 0};
    cw_subs s = {3, lo, ts, mrr, seats, 5, NULL, NULL, NULL, NULL};
    assert_int_equal(cw_churn_first(&s, 1, 0, 1000 * D), 300 * D);
    assert_int_equal(cw_churn_first(&s, 1, 300 * D, 1000 * D), 500 * D);
    assert_int_equal(cw_churn_first(&s, 1, 0, 299 * D), -1);
    assert_int_equal(cw_churn_first(&s, 1, 299 * D, 300 * D), 300 * D); /* window end included */
    assert_int_equal(cw_churn_first(&s, 2, 0, 1000 * D), -1);
    assert_int_equal(cw_churn_first(&s, 7, 0, 1000 * D), -1);
    int64_t m, st;
    cw_subs_at(&s, 1, 200 * D, &m, &st); /* in force *before* the instant */
    assert_int_equal(m, 500);
    cw_subs_at(&s, 1, 200 * D + 1, &m, &st);
    assert_int_equal(m, 400);
    assert_int_equal(st, 8);
    /* labels at day 150 with a 90-day horizon: no churn by day 240 ... */
    assert_int_equal(cw_churn_label(&s, 1, 150 * D, 90, 0, 0), 0);
    /* ... but 8 of 10 seats is a 20% seat loss and 400 of 500 a 20% MRR loss */
    assert_int_equal(cw_churn_label(&s, 1, 150 * D, 90, 20, 0), 1);
    assert_int_equal(cw_churn_label(&s, 1, 150 * D, 90, 21, 0), 0);
    assert_int_equal(cw_churn_label(&s, 1, 150 * D, 90, 0, 20), 1);
    assert_int_equal(cw_churn_label(&s, 1, 150 * D, 90, 0, 25), 0);
    /* day 250 + 90 covers the cancellation on day 300 */
    assert_int_equal(cw_churn_label(&s, 1, 250 * D, 90, 0, 0), 1);
    assert_int_equal(cw_churn_label(&s, 1, 420 * D, 90, 0, 0), 1);
    assert_int_equal(cw_churn_label(&s, 1, 420 * D, 60, 0, 0), 0);
}

/* What "flagged" means (core/flag.c), on numbers worked by hand. */
static void flag_rules(void **state)
{
    (void)state;
    cw_flag_rule r;
    const char *why = NULL;
    assert_int_equal(cw_flag_parse("top 10%", &r, &why), CW_OK);
    assert_true(r.share == 0.10 && r.p_at_least == 0);
    assert_int_equal(cw_flag_parse("  top 0.25 ", &r, &why), CW_OK);
    assert_true(r.share == 0.25);
    assert_int_equal(cw_flag_parse("15%", &r, &why), CW_OK);
    assert_true(fabs(r.share - 0.15) < 1e-12);
    assert_int_equal(cw_flag_parse("p >= 0.25", &r, &why), CW_OK);
    assert_true(r.share == 0 && r.p_at_least == 0.25);
    assert_int_equal(cw_flag_parse("p>=25%", &r, &why), CW_OK);
    assert_true(r.p_at_least == 0.25);
    char buf[48];
    cw_flag_format(&r, buf, sizeof buf);
    assert_string_equal(buf, "p >= 0.25");
    r = (cw_flag_rule){.share = 0.10};
    cw_flag_format(&r, buf, sizeof buf);
    assert_string_equal(buf, "top 10%");
    const char *bad[] = {"top 10", "top 0%", "p > 0.3", "p >= 1.5",
                         "p >= 0", "ten",    "",        "top 10%x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_equal(cw_flag_parse(bad[i], &r, &why), CW_ERR_INPUT);
        assert_non_null(why);
    }
    /* ceil(share x n): 10% of 30 is 3, of 31 is 4, of 70 is 7 (0.1 x 70 is
     * 7.000000000000001 in binary: the tolerance), of 1 is 1, of 0 is 0 */
    r = (cw_flag_rule){.share = 0.10};
    assert_int_equal(cw_flag_count(&r, 30), 3);
    assert_int_equal(cw_flag_count(&r, 31), 4);
    assert_int_equal(cw_flag_count(&r, 70), 7);
    assert_int_equal(cw_flag_count(&r, 1), 1);
    assert_int_equal(cw_flag_count(&r, 0), 0);
    /* two days: day 1 has 12 rows (2 flagged), day 2 has 5 rows (1 flagged);
     * a tie at the cut-off goes to the lower tie value; NaN is not scored */
    double risk[] = {0.1, 0.9, 0.3, 0.8, 0.8, 0.2, 0.2, 0.1, 0.0, 0.4, 0.5, 0.6, /* day 1 */
                     0.5, NAN, 0.7, 0.7, 0.1, 0.2};                              /* day 2 */
    int64_t day[18], tie[18];
    for (int i = 0; i < 18; i++) {
        day[i] = i < 12 ? 1 : 2;
        tie[i] = 100 - i; /* later rows have lower tie values */
    }
    unsigned char f[18];
    assert_int_equal(cw_flag_rows(&r, risk, day, tie, 18, f), 3);
    for (int i = 0; i < 18; i++) /* day 1: 0.9 and one 0.8 (row 4: tie 96 < 97); day 2: row 15 */
        assert_int_equal(f[i], i == 1 || i == 4 || i == 15);
    cw_flag_rule p = {.p_at_least = 0.7};
    assert_int_equal(cw_flag_rows(&p, risk, day, tie, 18, f), 5);
    for (int i = 0; i < 18; i++)
        assert_int_equal(f[i], i == 1 || i == 3 || i == 4 || i == 14 || i == 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_worked),     cmocka_unit_test(delong_interval),
        cmocka_unit_test(degenerate),      cmocka_unit_test(roc_thinning),
        cmocka_unit_test(against_sklearn), cmocka_unit_test(churn_events),
        cmocka_unit_test(flag_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
