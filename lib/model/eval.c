/*
 * model/eval.c — the metrics a backtest reports for one binary outcome and a
 * risk score per row: ROC AUC (Mann-Whitney, ties counted half), PR AUC as
 * average precision (as scikit-learn computes it: tied scores form one
 * threshold), precision / recall / lift in the riskiest 10% and 20%, the
 * Brier score, a calibration table by decile of the score and the ROC curve
 * thinned to at most CW_EVAL_ROC_POINTS points. One sort, one pass.
 *
 * Conventions (docs/model.md, "Backtest"): the riskiest k% are the first
 * round(k/100 · n) rows in descending score order, ties broken by row order
 * so the result is deterministic; deciles split the rows in ascending score
 * order into ten groups of n/10 (the remainder going to the upper deciles);
 * the Brier score and the calibration's mean prediction are only meaningful
 * when the scores are probabilities, which the caller states.
 *
 * Uncertainty: a 95% interval for the ROC AUC from DeLong's variance
 * (DeLong, DeLong & Clarke-Pearson 1988: the variance of the placement
 * values of positives and negatives), and for lift@10% from a percentile
 * bootstrap over the rows with a fixed seed, resampled as weights on the
 * one sorted order (a resample ranks its rows as the original does), so a
 * resample costs one pass instead of a sort.
 */
#include "model/model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ev_row {
    double s;
    int64_t i;
    int y;
} ev_row;

/* Descending score, then ascending row index. */
static int ev_cmp(const void *a, const void *b)
{
    const ev_row *x = a, *y = b;
    if (x->s > y->s)
        return -1;
    if (x->s < y->s)
        return 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void top_share(const ev_row *r, int64_t n, int64_t pos, double share, double *precision,
                      double *recall, double *lift)
{
    int64_t k = (int64_t)llround(share * (double)n);
    if (k < 1 || pos == 0) {
        *precision = *recall = *lift = NAN;
        return;
    }
    int64_t tp = 0;
    for (int64_t i = 0; i < k; i++)
        tp += r[i].y;
    *precision = (double)tp / (double)k;
    *recall = (double)tp / (double)pos;
    *lift = *precision / ((double)pos / (double)n);
}

/* The 95% interval of out->roc_auc by DeLong's variance over the sorted
 * rows r (pos positives). */
static void eval_auc_ci(const ev_row *r, int64_t n, int64_t pos, cw_eval *out)
{
    int64_t neg = n - pos;
    /* DeLong: V10 of a positive = share of negatives ranked below it (ties
     * half), V01 of a negative = share of positives ranked above it. */
    out->roc_auc_lo = out->roc_auc_hi = NAN;
    if (pos > 1 && neg > 1) {
        double a = out->roc_auc, s10 = 0, s01 = 0;
        int64_t tpb = 0, fpb = 0;
        for (int64_t i = 0; i < n;) {
            int64_t j = i, gp = 0, gn = 0;
            while (j < n && r[j].s == r[i].s) {
                gp += r[j].y;
                gn += !r[j].y;
                j++;
            }
            double v10 = ((double)(neg - fpb - gn) + 0.5 * (double)gn) / (double)neg;
            double v01 = ((double)tpb + 0.5 * (double)gp) / (double)pos;
            s10 += (double)gp * (v10 - a) * (v10 - a);
            s01 += (double)gn * (v01 - a) * (v01 - a);
            tpb += gp;
            fpb += gn;
            i = j;
        }
        double var = s10 / (double)(pos - 1) / (double)pos + s01 / (double)(neg - 1) / (double)neg;
        double h = 1.959964 * sqrt(var);
        out->roc_auc_lo = a - h < 0 ? 0 : a - h;
        out->roc_auc_hi = a + h > 1 ? 1 : a + h;
    }
}

/* The 95% interval of lift@10% by a percentile bootstrap of the sorted
 * rows r (pos positives). */
static void eval_lift_ci(const ev_row *r, int64_t n, int64_t pos, cw_eval *out)
{
    out->lift_10_lo = out->lift_10_hi = NAN;
    int64_t k10 = (int64_t)llround(0.10 * (double)n);
    if (pos > 0 && k10 >= 1) {
        int32_t *w = malloc((size_t)n * sizeof *w);
        double *lifts = malloc(CW_EVAL_BOOTSTRAP * sizeof *lifts);
        int nb = 0;
        uint64_t seed = 0x9e3779b97f4a7c15ULL;
        for (int b = 0; w && lifts && b < CW_EVAL_BOOTSTRAP; b++) {
            memset(w, 0, (size_t)n * sizeof *w);
            for (int64_t i = 0; i < n; i++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                w[(int64_t)((seed >> 11) % (uint64_t)n)]++;
            }
            int64_t bpos = 0, tpk = 0, left = k10;
            for (int64_t i = 0; i < n; i++) {
                bpos += (int64_t)w[i] * r[i].y;
                if (left > 0) {
                    int64_t take = w[i] < left ? w[i] : left;
                    tpk += take * r[i].y;
                    left -= take;
                }
            }
            if (bpos > 0)
                lifts[nb++] = ((double)tpk / (double)k10) / ((double)bpos / (double)n);
        }
        if (nb >= 20) {
            qsort(lifts, (size_t)nb, sizeof *lifts, dbl_cmp);
            out->lift_10_lo = lifts[(int)floor(0.025 * (nb - 1))];
            out->lift_10_hi = lifts[(int)ceil(0.975 * (nb - 1))];
        }
        free(w);
        free(lifts);
    }
}

cw_status cw_eval_binary(const double *score, const unsigned char *y, int64_t n,
                         cw_eval_scores kind, cw_eval *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->roc_auc = out->pr_auc = out->brier = NAN;
    if (n <= 0)
        return CW_OK;
    ev_row *r = malloc((size_t)n * sizeof *r);
    if (!r)
        return CW_ERR_NOMEM;
    int64_t pos = 0;
    double brier = 0;
    for (int64_t i = 0; i < n; i++) {
        r[i] = (ev_row){score[i], i, y[i] ? 1 : 0};
        pos += r[i].y;
        double d = score[i] - (double)r[i].y;
        brier += d * d;
    }
    int64_t neg = n - pos;
    out->positives = pos;
    if (kind == CW_EVAL_PROBABILITIES)
        out->brier = brier / (double)n;
    qsort(r, (size_t)n, sizeof *r, ev_cmp);

    /* One walk over groups of tied scores: AUC, AP and the ROC curve. */
    double auc = 0, ap = 0, prev_recall = 0;
    int64_t tp = 0, fp = 0, ngroups = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, gp = 0, gn = 0;
        while (j < n && r[j].s == r[i].s) {
            gp += r[j].y;
            gn += !r[j].y;
            j++;
        }
        auc += (double)gn * ((double)tp + 0.5 * (double)gp);
        tp += gp;
        fp += gn;
        if (pos > 0 && gp > 0) {
            double recall = (double)tp / (double)pos;
            ap += (recall - prev_recall) * (double)tp / (double)(tp + fp);
            prev_recall = recall;
        }
        ngroups++;
        i = j;
    }
    if (pos > 0 && neg > 0)
        out->roc_auc = auc / ((double)pos * (double)neg);
    if (pos > 0)
        out->pr_auc = ap;

    /* ROC points at every threshold, thinned evenly to at most CW_EVAL_ROC_POINTS
     * (the first and last are always (0,0) and (1,1)). */
    if (pos > 0 && neg > 0) {
        int64_t npts = ngroups + 1, want = npts < CW_EVAL_ROC_POINTS ? npts : CW_EVAL_ROC_POINTS;
        int64_t g = 0, next = 1, k = 1;
        tp = fp = 0;
        out->roc_fpr[0] = out->roc_tpr[0] = 0;
        for (int64_t i = 0; i < n;) {
            int64_t j = i;
            while (j < n && r[j].s == r[i].s) {
                tp += r[j].y;
                fp += !r[j].y;
                j++;
            }
            g++;
            /* point g of npts-1; keep it when it is the next one of the thinned grid */
            int64_t target =
                (int64_t)llround((double)next * (double)(npts - 1) / (double)(want - 1));
            if (g == target || j == n) {
                out->roc_fpr[k] = (double)fp / (double)neg;
                out->roc_tpr[k] = (double)tp / (double)pos;
                k++;
                next++;
            }
            i = j;
        }
        out->nroc = (int)k;
    }

    eval_auc_ci(r, n, pos, out);
    eval_lift_ci(r, n, pos, out);

    top_share(r, n, pos, 0.10, &out->precision_10, &out->recall_10, &out->lift_10);
    top_share(r, n, pos, 0.20, &out->precision_20, &out->recall_20, &out->lift_20);

    /* Deciles in ascending score order: decile d holds ascending ranks
     * [d·n/10, (d+1)·n/10), i.e. descending positions counted from the end. */
    for (int d = 0; d < 10; d++) {
        int64_t lo = (int64_t)d * n / 10, hi = (int64_t)(d + 1) * n / 10;
        double sp = 0;
        int64_t sy = 0;
        for (int64_t a = lo; a < hi; a++) {
            const ev_row *e = &r[n - 1 - a];
            sp += e->s;
            sy += e->y;
        }
        out->deciles[d].n = hi - lo;
        out->deciles[d].positives = sy;
        out->deciles[d].mean_score = hi > lo ? sp / (double)(hi - lo) : NAN;
        out->deciles[d].observed = hi > lo ? (double)sy / (double)(hi - lo) : NAN;
    }
    free(r);
    return CW_OK;
}
