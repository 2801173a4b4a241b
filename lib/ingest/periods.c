/*
 * periods.c — billing periods (kind subscription_periods) to the
 * subscription change log (docs/importers.md, "Billing periods").
 *
 * A warehouse bills one row per period per product line; churnwatch's
 * revenue code reads a change log ("from this instant on the account pays
 * X for N seats"). This file holds the two pure steps between them: the
 * MRR of one period (cw_period_mrr, also used by validation so a bad row is
 * reported at its line), and the derivation of one account's change log
 * from all its periods (cw_periods_derive). Ingest (lib/ingest/ingest.c) feeds
 * them from the store and writes the result back through cw_store_ops.
 */
#include "core/util.h"
#include "ingest/validate.h"
#include "ingest/periods.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400

/* Subscriptions' billing_period enum (lib/ingest/schema.c). */
enum { BP_MONTHLY, BP_ANNUAL, BP_QUARTERLY, BP_SEMIANNUAL, BP_OTHER };
/* subscription_periods' interval enum. */
enum { IV_MONTH, IV_YEAR, IV_WEEK, IV_DAY };

int cw_period_mrr(const cw_value *v, int64_t *mrr, int *field, char *why, size_t whysz)
{
    if (v[CW_SP_MRR].present) {
        *mrr = v[CW_SP_MRR].i;
        return 1;
    }
    if (!v[CW_SP_AMOUNT].present) {
        *field = CW_SP_MRR;
        snprintf(why, whysz, "give mrr_minor or amount_minor");
        return 0;
    }
    int64_t qty = v[CW_SP_QUANTITY].present ? v[CW_SP_QUANTITY].i : 1;
    int64_t count = v[CW_SP_INTERVAL_COUNT].present ? v[CW_SP_INTERVAL_COUNT].i : 1;
    int64_t base;
    if (__builtin_mul_overflow(v[CW_SP_AMOUNT].i, qty, &base) || base > INT64_MAX / 4) {
        *field = CW_SP_AMOUNT;
        snprintf(why, whysz, "amount_minor × quantity is too large");
        return 0;
    }
    if (v[CW_SP_DISCOUNT].present) {
        if (v[CW_SP_DISCOUNT].i > base) {
            *field = CW_SP_DISCOUNT;
            snprintf(why, whysz, "is %lld, more than amount_minor × quantity (%lld)",
                     (long long)v[CW_SP_DISCOUNT].i, (long long)base);
            return 0;
        }
        base -= v[CW_SP_DISCOUNT].i;
    }
    /* Percent off in units of 1/10000 %, so the whole formula is one exact
     * rational and rounding happens once, at the end. */
    int64_t p = 0;
    if (v[CW_SP_DISCOUNT_PCT].present) {
        double d = v[CW_SP_DISCOUNT_PCT].d;
        if (!(d >= 0.0 && d <= 100.0)) {
            *field = CW_SP_DISCOUNT_PCT;
            snprintf(why, whysz, "must be 0-100, got %g", d);
            return 0;
        }
        p = (int64_t)llround(d * 10000.0);
    }
    /* Normalised to a month: year ÷12, week ×52/12, day ×365/12. */
    static const int64_t fnum[] = {1, 1, 52, 365}, fden[] = {1, 12, 12, 12};
    int iv = v[CW_SP_INTERVAL].present ? (int)v[CW_SP_INTERVAL].i : IV_MONTH;
    if (iv < 0 || iv > IV_DAY)
        iv = IV_MONTH;
    __int128 num = (__int128)base * (1000000 - p) * fnum[iv];
    __int128 den = (__int128)1000000 * fden[iv] * count;
    __int128 q = (2 * num + den) / (2 * den); /* half away from zero (num >= 0) */
    if (q > INT64_MAX / 4) {
        *field = CW_SP_AMOUNT;
        snprintf(why, whysz, "the period's MRR is too large");
        return 0;
    }
    *mrr = (int64_t)q;
    return 1;
}

int cw_period_term(int interval, int64_t count)
{
    if (interval == IV_YEAR)
        return count == 1 ? BP_ANNUAL : BP_OTHER;
    if (interval != IV_MONTH)
        return BP_OTHER;
    switch (count) {
    case 1: return BP_MONTHLY;
    case 3: return BP_QUARTERLY;
    case 6: return BP_SEMIANNUAL;
    case 12: return BP_ANNUAL;
    default: return BP_OTHER;
    }
}

/* The exclusive end of a period of the given term starting at start (the
 * same day of the month N months on, for month and year terms), or 0 when
 * the day does not exist in the target month. */
static int64_t term_end(int64_t start, int interval, int64_t count)
{
    if (interval == IV_WEEK)
        return start + count * 7 * DAY_S;
    if (interval == IV_DAY)
        return start + count * DAY_S;
    int64_t months = interval == IV_YEAR ? 12 * count : count;
    int m = cw_month_of(start);
    int64_t into = start - cw_month_start_unix(m);
    int64_t t = cw_month_start_unix(m + (int)months) + into;
    /* Day 31 into a 30-day month overflows into the next: no evidence. */
    return cw_month_of(t) == m + (int)months ? t : 0;
}

void cw_periods_free(cw_period *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].line);
        free(p[i].product);
    }
    free(p);
}

static int period_cmp(const void *a, const void *b)
{
    const cw_period *x = a, *y = b;
    int c = strcmp(x->line, y->line);
    if (c)
        return c;
    return (x->start > y->start) - (x->start < y->start);
}

static int ts_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One stretch of one line at one price: [start, end), end INT64_MAX = open. */
typedef struct seg {
    int64_t start, end, mrr, qty;
    size_t period; /* index of its period (line, product, term) */
} seg;

/* Decides each line's end convention (periods sorted by line): dec[l] is
 * 0, DAY_S, 1 or -1 (undecided) for the line starting at p[line_lo[l]].
 * Returns the number of lines; *fallback is the convention the decided
 * lines share, else 0 (exclusive). */
static size_t decide_lines(const cw_period *p, size_t n, size_t *line_lo, int64_t *dec,
                           int64_t *fallback)
{
    int64_t acc = -2; /* the decided lines' shared convention; -1 when they differ */
    size_t nlines = 0;
    /* First pass: decide each line; -1 = undecided. */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(p[j].line, p[i].line) == 0)
            j++;
        line_lo[nlines] = i;
        /* [0] exact, [1] a day, [2] a second; pairs, then terms */
        int pe[3] = {0, 0, 0}, te[3] = {0, 0, 0};
        static const int64_t delta[3] = {0, DAY_S, 1};
        for (size_t k = i; k < j; k++) {
            if (!p[k].end)
                continue;
            int64_t t = term_end(p[k].start, p[k].interval, p[k].interval_count);
            for (int e = 0; e < 3; e++) {
                pe[e] += k + 1 < j && p[k + 1].start == p[k].end + delta[e];
                te[e] += t && p[k].end == t - delta[e];
            }
        }
        const int *ev = pe[0] || pe[1] || pe[2] ? pe : te;
        int64_t d = ev[0] ? 0 : ev[1] ? DAY_S : ev[2] ? 1 : -1;
        dec[nlines] = d;
        if (d >= 0)
            acc = acc == -2 || acc == d ? d : -1;
        nlines++;
        i = j;
    }
    *fallback = acc >= 0 ? acc : 0;
    return nlines;
}

/* The lines' periods as stretches [start, end) at one price, with each
 * line's convention applied: a period starting inside the previous one
 * supersedes it, and a line's last period ends only within the data.
 * Returns their number. */
static size_t line_segments(const cw_period *p, size_t n, const size_t *line_lo, const int64_t *dec,
                            size_t nlines, int64_t fallback, int64_t data_end, seg *segs)
{
    size_t nseg = 0;
    for (size_t l = 0; l < nlines; l++) {
        size_t i = line_lo[l], j = l + 1 < nlines ? line_lo[l + 1] : n;
        int64_t add = dec[l] >= 0 ? dec[l] : fallback;
        for (size_t k = i; k < j; k++) {
            int64_t end = p[k].end ? p[k].end + add : INT64_MAX;
            /* A period starting inside the previous one (a mid-period
             * change) supersedes it from its start. */
            if (k + 1 < j && p[k + 1].start < end)
                end = p[k + 1].start;
            /* The line's last period: it ends (a cancellation) only when its
             * end is within the data; else the line is still running. */
            if (k + 1 == j && end != INT64_MAX && end > data_end)
                end = INT64_MAX;
            if (end <= p[k].start)
                continue;
            segs[nseg++] = (seg){p[k].start, end, p[k].mrr_minor, p[k].quantity, k};
        }
    }
    return nseg;
}

/* Sweeps the instants where any segment starts or ends into subscription
 * changes (rows[0 .. *nrows)): the total MRR and seats and the plan of the
 * line with the highest MRR, one row per change. ts has room for 2 nseg. */
static cw_status sweep_changes(const cw_period *p, const seg *segs, size_t nseg, int64_t *ts,
                               cw_sub_row *rows, size_t *nrows_out, char *why, size_t whysz)
{
    size_t nts = 0;
    for (size_t k = 0; k < nseg; k++) {
        ts[nts++] = segs[k].start;
        if (segs[k].end != INT64_MAX)
            ts[nts++] = segs[k].end;
    }
    qsort(ts, nts, sizeof *ts, ts_cmp);
    size_t nrows = 0;
    int64_t last_mrr = -1, last_seats = -1;
    const char *last_plan = NULL;
    int last_bp = -1;
    for (size_t t = 0; t < nts; t++) {
        if (t && ts[t] == ts[t - 1])
            continue;
        int64_t at = ts[t], mrr = 0, seats = 0, best = -1;
        size_t top = 0;
        int covered = 0;
        for (size_t k = 0; k < nseg; k++) {
            if (segs[k].start > at || segs[k].end <= at)
                continue;
            covered = 1;
            if (__builtin_add_overflow(mrr, segs[k].mrr, &mrr) ||
                __builtin_add_overflow(seats, segs[k].qty, &seats)) {
                snprintf(why, whysz, "the account's MRR or seats overflow 64 bits");
                return CW_ERR_INPUT;
            }
            /* Plan = the product of the line with the highest MRR; on a tie
             * the line whose key sorts first. */
            if (segs[k].mrr > best)
                best = segs[k].mrr, top = segs[k].period;
        }
        if (!covered && nrows == 0)
            continue;
        const char *plan = last_plan;
        int bp = last_bp;
        if (covered) {
            plan = p[top].product[0] ? p[top].product : NULL;
            bp = cw_period_term(p[top].interval, p[top].interval_count);
        }
        int same_plan = (plan == NULL && last_plan == NULL) ||
                        (plan && last_plan && strcmp(plan, last_plan) == 0);
        if (nrows && mrr == last_mrr && seats == last_seats && same_plan)
            continue;
        cw_sub_row *r = &rows[nrows++];
        r->effective_at = at;
        r->mrr_minor = mrr;
        r->seats = seats;
        memcpy(r->currency, p[0].currency, 4);
        r->plan = plan;
        r->billing_period = bp;
        last_mrr = mrr, last_seats = seats, last_plan = plan, last_bp = bp;
    }
    *nrows_out = nrows;
    return CW_OK;
}

cw_status cw_periods_derive(cw_period *p, size_t n, int64_t data_end, cw_sub_row **rows_out,
                            size_t *nrows_out, char *why, size_t whysz)
{
    *rows_out = NULL;
    *nrows_out = 0;
    if (n == 0)
        return CW_OK;
    for (size_t i = 1; i < n; i++)
        if (strcmp(p[i].currency, p[0].currency) != 0) {
            snprintf(why, whysz,
                     "the account is billed in %s and %s; one account's periods must share one "
                     "currency",
                     p[0].currency, p[i].currency);
            return CW_ERR_INPUT;
        }
    qsort(p, n, sizeof *p, period_cmp);

    /* End convention per line, as the amount to add to an end to make it
     * exclusive: 0, a day (inclusive dates, 2025-01-01..2025-01-31 then
     * 2025-02-01) or a second (…T23:59:59 then the next day's 00:00:00).
     * Evidence, strongest first: consecutive periods that meet exactly, a
     * day or a second after the end; else the end matching the period's
     * own term (start + interval × count, or that minus a day or a second);
     * else the convention all the account's decided lines share; else
     * exclusive. Reading an inclusive end as exclusive would put a
     * one-day stop (a churn and a reactivation) at every renewal. */
    size_t *line_lo = malloc(n * sizeof *line_lo);
    seg *segs = malloc(n * sizeof *segs);
    int64_t *ts = malloc(2 * n * sizeof *ts);
    int64_t *dec = malloc(n * sizeof *dec); /* per line: 0, DAY_S, 1, or -1 undecided */
    cw_sub_row *rows = malloc((2 * n + 1) * sizeof *rows);
    cw_status s = CW_OK;
    if (!line_lo || !segs || !ts || !dec || !rows) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    int64_t fallback;
    size_t nlines = decide_lines(p, n, line_lo, dec, &fallback);
    size_t nseg = line_segments(p, n, line_lo, dec, nlines, fallback, data_end, segs);
    size_t nrows = 0;
    if ((s = sweep_changes(p, segs, nseg, ts, rows, &nrows, why, whysz)) != CW_OK)
        goto done;
    *rows_out = rows;
    *nrows_out = nrows;
    rows = NULL;
done:
    free(dec);
    free(line_lo);
    free(segs);
    free(ts);
    free(rows);
    return s;
}
