/*
 * model/calib.c — calibration that follows the recent base rate
 * (docs/model.md, "Calibration"). A Platt sigmoid fitted on the calibration
 * slice carries that slice's churn rate; when the base rate moves (6% churn
 * in the fit months, 2% in the test month) every probability is too high.
 * Recalibration keeps the slice's slope (how far apart the model's scores
 * lie: a property of its ranking, which needs many rows to measure) and
 * refits the intercept on the latest fully labelled window — the most
 * recent snapshot days whose label windows end by the data end — so the
 * mean probability there equals the churn rate observed there.
 */
#include "model/model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline double sigmoid(double t)
{
    return 1.0 / (1.0 + exp(-t));
}

/* The intercept b maximising the log-likelihood of the (Platt-smoothed)
 * targets t given the slopes z[i] = a f[i]: Newton's method on a concave
 * one-dimensional function, started at b0. */
static double fit_intercept(const double *z, const unsigned char *y, int64_t n, double hi,
                            double lo, double b0)
{
    double b = b0;
    for (int it = 0; it < 100; it++) {
        double g = 0, h = 1e-12;
        for (int64_t i = 0; i < n; i++) {
            double p = sigmoid(z[i] + b);
            g += p - (y[i] ? hi : lo);
            h += p * (1 - p);
        }
        double step = g / h;
        if (step > 5)
            step = 5;
        else if (step < -5)
            step = -5;
        b -= step;
        if (fabs(g) < 1e-9 * (double)n)
            break;
    }
    return b;
}

cw_status cw_model_recalibrate(cw_model *md, const cw_mx *m, int64_t end_day, int days,
                               cw_recal_info *ri, cw_error *err)
{
    memset(ri, 0, sizeof *ri);
    ri->platt_b = ri->b = md->platt_b;
    ri->observed = ri->mean_before = ri->mean_after = NAN;
    if (days < 0)
        return CW_OK;
    if (days == 0)
        days = CW_RECAL_DAYS;
    /* the last snapshot day with labels, at or before end_day */
    int e = m->nsnap - 1;
    while (e >= 0 && m->snap[e] > end_day)
        e--;
    while (e >= 0) {
        int64_t k = 0;
        for (int64_t r = 0; r < m->rows && !k; r++)
            k = m->day[r] == m->snap[e] && m->y[r] != CW_LABEL_UNKNOWN;
        if (k)
            break;
        e--;
    }
    if (e < 0)
        return CW_OK;
    int s = e;
    while (s > 0 && m->snap[s - 1] > m->snap[e] - days)
        s--;
    /* rows per snapshot day: widen until enough churn rows */
    int64_t pos = 0;
    for (;;) {
        pos = 0;
        for (int64_t r = 0; r < m->rows; r++)
            if (m->day[r] >= m->snap[s] && m->day[r] <= m->snap[e] && m->y[r] != CW_LABEL_UNKNOWN)
                pos += m->y[r];
        if (pos >= CW_RECAL_MIN_POSITIVES || s == 0)
            break;
        s--;
    }
    int64_t n = 0;
    for (int64_t r = 0; r < m->rows; r++)
        n += m->day[r] >= m->snap[s] && m->day[r] <= m->snap[e] && m->y[r] != CW_LABEL_UNKNOWN;
    if (n == 0 || pos == 0)
        return CW_OK; /* no churn at all: an intercept of -infinity is no calibration */
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    double *z = malloc((size_t)n * sizeof *z);
    unsigned char *y = malloc((size_t)n);
    if (!idx || !z || !y) {
        free(idx);
        free(z);
        free(y);
        return cw_error_set(err, CW_ERR_NOMEM, "model: recalibration: out of memory");
    }
    n = 0;
    for (int64_t r = 0; r < m->rows; r++)
        if (m->day[r] >= m->snap[s] && m->day[r] <= m->snap[e] && m->y[r] != CW_LABEL_UNKNOWN)
            idx[n++] = r;
    cw_status rc = cw_model_decision(md, m, idx, n, z, err);
    if (rc == CW_OK) {
        double mb = 0, ma = 0;
        for (int64_t i = 0; i < n; i++) {
            z[i] *= md->platt_a;
            y[i] = m->y[idx[i]] != 0;
            mb += sigmoid(z[i] + md->platt_b);
        }
        /* Platt's targets, as the calibration slice's fit uses */
        double hi = ((double)pos + 1) / ((double)pos + 2), lo = 1 / ((double)(n - pos) + 2);
        double b = fit_intercept(z, y, n, hi, lo, md->platt_b);
        for (int64_t i = 0; i < n; i++)
            ma += sigmoid(z[i] + b);
        ri->applied = 1;
        ri->from_day = m->snap[s];
        ri->to_day = m->snap[e];
        ri->rows = n;
        ri->positives = pos;
        ri->observed = (double)pos / (double)n;
        ri->b = b;
        ri->mean_before = mb / (double)n;
        ri->mean_after = ma / (double)n;
        md->platt_b = b;
        md->recal = *ri;
    }
    free(idx);
    free(z);
    free(y);
    return rc;
}
