/*
 * survival.c — Kaplan–Meier retention curves of customer lifetimes, by
 * segment or by start cohort, with Greenwood variance and log-log
 * confidence bands, the median lifetime with its interval, and the log-rank
 * test across the groups.
 *
 * A lifetime starts at an account's first paid subscription change (MRR >
 * 0) and ends at the first later change to MRR 0 (lib/revenue/revenue.c's churn);
 * an account still paying is censored at the data's end, the latest
 * subscription change of the whole store. Only the first lifetime counts:
 * a reactivated account is the same customer, and counting its second spell
 * as a new subject would make the observations dependent (docs/revenue-
 * survival.md). Durations are whole days (floor of the elapsed seconds), so
 * ties are real; months are a presentation unit (days / 30.4375).
 */
#include "churnwatch.h"
#include "core/util.h"
#include "store/store.h"
#include "revenue/ledger.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int cw_survival_milestone_months[CW_SURVIVAL_NMILESTONES] = {1, 3, 6, 12, 18, 24};

/* One lifetime: its group, duration in days and whether it ended in churn. */
typedef struct obs {
    int32_t group;
    int32_t event;
    double days;
} obs;

static int by_time(const void *a, const void *b)
{
    const obs *x = a, *y = b;
    if (x->days != y->days)
        return x->days < y->days ? -1 : 1;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return 0;
}

/* Standard normal quantile for p in (0.5, 1), by bisection on erfc: exact to
 * double precision, and called once per report. */
static double normal_quantile(double p)
{
    double lo = 0.0, hi = 40.0;
    for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
        double mid = 0.5 * (lo + hi);
        if (1.0 - 0.5 * erfc(mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double cw_chi2_sf(double x, int df)
{
    if (df < 1 || isnan(x))
        return (double)NAN;
    if (x <= 0.0)
        return 1.0;
    if (isinf(x))
        return 0.0;
    /* Q(a, y) = Γ(a, y) / Γ(a): the power series of P below y = a + 1, the
     * continued fraction of Q (modified Lentz) above (Numerical Recipes
     * §6.2); both converge in a few dozen terms there. */
    double a = 0.5 * df, y = 0.5 * x;
    double lead = exp(-y + a * log(y) - lgamma(a));
    if (y < a + 1.0) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 10000; n++) {
            ap += 1.0;
            del *= y / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-17)
                break;
        }
        double q = 1.0 - sum * lead;
        return q < 0.0 ? 0.0 : q;
    }
    const double tiny = 1e-300;
    double b = y + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-17)
            break;
    }
    return lead * h;
}

void cw_survival_opts_init(cw_survival_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cohort_months = 3;
    o->confidence = 0.95;
}

void cw_survival_free(cw_survival_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ngroups; i++)
        free(r->groups[i].points);
    free(r->groups);
    free(r);
}

/* Fills g's curve from its lifetimes o[0..n) (sorted by time), in the unit
 * of days_per_unit. z is the band's normal quantile. */
static cw_status fit_group(cw_survival_group *g, const obs *o, int64_t n, double days_per_unit,
                           double z)
{
    int64_t nt = 0;
    for (int64_t i = 0; i < n; i++)
        nt += i == 0 || o[i].days != o[i - 1].days;
    int64_t *d = calloc((size_t)nt, sizeof *d), *c = calloc((size_t)nt, sizeof *c);
    int64_t *nr = malloc((size_t)nt * sizeof *nr);
    double *S = malloc((size_t)nt * sizeof *S), *gw = malloc((size_t)nt * sizeof *gw);
    g->points = calloc((size_t)nt, sizeof *g->points);
    cw_status s = CW_OK;
    if (!d || !c || !nr || !S || !gw || !g->points) {
        s = CW_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0, k = -1; i < n; i++) {
        if (i == 0 || o[i].days != o[i - 1].days)
            g->points[++k].t = o[i].days / days_per_unit;
        (o[i].event ? d : c)[k]++;
        g->accounts++;
        (o[i].event ? &g->events : &g->censored)[0]++;
    }
    cw_km_curve(nt, d, c, n, nr, S, gw);
    g->npoints = nt;
    g->median = g->median_lower = g->median_upper = (double)NAN;
    for (int64_t k = 0; k < nt; k++) {
        cw_survival_point *p = &g->points[k];
        p->at_risk = nr[k];
        p->events = d[k];
        p->censored = c[k];
        p->survival = S[k];
        p->se = isinf(gw[k]) ? (double)NAN : S[k] * sqrt(gw[k]);
        if (S[k] >= 1.0 || S[k] <= 0.0 || isinf(gw[k])) {
            p->lower = p->upper = S[k] >= 1.0 ? 1.0 : 0.0;
        } else {
            /* log-log: θ = log(-log S), se(θ) = sqrt(gw) / |log S|; the
             * band exp(-exp(θ ± z se)) = S^exp(±z se) stays inside (0, 1). */
            double se_ll = sqrt(gw[k]) / fabs(log(S[k]));
            p->lower = pow(S[k], exp(z * se_ll));
            p->upper = pow(S[k], exp(-z * se_ll));
        }
        if (isnan(g->median) && p->survival <= 0.5)
            g->median = p->t;
        /* The band's lower curve crosses 0.5 first: the interval's low end. */
        if (isnan(g->median_lower) && p->lower <= 0.5)
            g->median_lower = p->t;
        if (isnan(g->median_upper) && p->upper <= 0.5)
            g->median_upper = p->t;
    }
    double last_days = n ? o[n - 1].days : 0.0;
    for (int m = 0; m < CW_SURVIVAL_NMILESTONES; m++) {
        cw_survival_milestone *ms = &g->milestones[m];
        ms->months = cw_survival_milestone_months[m];
        double t = ms->months * CW_SURVIVAL_MONTH_DAYS;
        ms->observed = t <= last_days;
        ms->survival = ms->lower = ms->upper = 1.0;
        ms->at_risk = 0;
        for (int64_t k = 0; k < nt; k++) {
            const cw_survival_point *p = &g->points[k];
            if (p->t * days_per_unit <= t) {
                ms->survival = p->survival;
                ms->lower = p->lower;
                ms->upper = p->upper;
            } else {
                ms->at_risk = p->at_risk; /* lifetimes lasting at least t */
                break;
            }
        }
        if (!ms->observed)
            ms->survival = ms->lower = ms->upper = (double)NAN;
    }
done:
    free(d);
    free(c);
    free(nr);
    free(S);
    free(gw);
    return s;
}

/* Solves a x = b (n × n, row-major, overwritten) by Gaussian elimination
 * with partial pivoting; returns -1 when a is singular. */
static int solve(double *a, double *b, int n)
{
    double scale = 0.0;
    for (int i = 0; i < n * n; i++)
        scale = fabs(a[i]) > scale ? fabs(a[i]) : scale;
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(a[r * n + col]) > fabs(a[piv * n + col]))
                piv = r;
        if (!(fabs(a[piv * n + col]) > 1e-12 * scale))
            return -1;
        if (piv != col) {
            for (int k = 0; k < n; k++) {
                double t = a[col * n + k];
                a[col * n + k] = a[piv * n + k];
                a[piv * n + k] = t;
            }
            double t = b[col];
            b[col] = b[piv];
            b[piv] = t;
        }
        for (int r = col + 1; r < n; r++) {
            double f = a[r * n + col] / a[col * n + col];
            for (int k = col; k < n; k++)
                a[r * n + k] -= f * a[col * n + k];
            b[r] -= f * b[col];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        for (int k = r + 1; k < n; k++)
            b[r] -= a[r * n + k] * b[k];
        b[r] /= a[r * n + r];
    }
    return 0;
}

/* Log-rank test over all lifetimes o[0..n) sorted by time, k groups. At
 * each distinct churn time with n at risk and d churns, group g expects
 * n_g d / n; the variance is the hypergeometric one, d (n - d) / (n - 1) ·
 * n_g / n (δ_gh - n_h / n). chi² = (O - E)ᵀ V⁻¹ (O - E) over the first
 * k - 1 groups (the last is determined by the others). */
static cw_status logrank(cw_survival_report *r, const obs *o, int64_t n, int k)
{
    double *V = calloc((size_t)k * (size_t)k, sizeof *V), *OE = calloc((size_t)k, sizeof *OE);
    int64_t *nr = calloc((size_t)k, sizeof *nr), *dg = calloc((size_t)k, sizeof *dg),
            *cg = calloc((size_t)k, sizeof *cg);
    if (!V || !OE || !nr || !dg || !cg) {
        free(V), free(OE), free(nr), free(dg), free(cg);
        return CW_ERR_NOMEM;
    }
    for (int g = 0; g < k; g++)
        nr[g] = r->groups[g].accounts;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, d = 0, at = 0;
        for (; j < n && o[j].days == o[i].days; j++)
            (o[j].event ? dg : cg)[o[j].group]++;
        for (int g = 0; g < k; g++) {
            d += dg[g];
            at += nr[g];
        }
        if (d > 0) {
            for (int g = 0; g < k; g++) {
                double e = (double)nr[g] * (double)d / (double)at;
                r->groups[g].logrank_observed += (double)dg[g];
                r->groups[g].logrank_expected += e;
                if (at > 1) {
                    double f = (double)d * (double)(at - d) / (double)(at - 1);
                    for (int h = 0; h < k; h++)
                        V[g * k + h] += f * (double)nr[g] / (double)at *
                                        ((g == h) - (double)nr[h] / (double)at);
                }
            }
        }
        for (int g = 0; g < k; g++) {
            nr[g] -= dg[g] + cg[g];
            dg[g] = cg[g] = 0;
        }
        i = j;
    }
    /* Groups never at risk beside another at a churn time have a zero row
     * in V (and O = E): they carry no information and are left out, as a
     * generalised inverse would; the last remaining group is implied. */
    int m = 0;
    for (int g = 0; g < k; g++)
        if (V[g * k + g] > 0.0)
            dg[m++] = g; /* dg reused as the index of the groups kept */
    m--;
    double *x = calloc((size_t)(m > 0 ? m : 1), sizeof *x);
    double *W = calloc((size_t)(m > 0 ? m * m : 1), sizeof *W);
    if (!x || !W) {
        free(x), free(W), free(V), free(OE), free(nr), free(dg), free(cg);
        return CW_ERR_NOMEM;
    }
    for (int i = 0; i < m; i++) {
        const cw_survival_group *gi = &r->groups[dg[i]];
        OE[i] = x[i] = gi->logrank_observed - gi->logrank_expected;
        for (int j = 0; j < m; j++)
            W[i * m + j] = V[dg[i] * k + dg[j]];
    }
    if (m >= 1 && solve(W, x, m) == 0) {
        double chi2 = 0.0;
        for (int i = 0; i < m; i++)
            chi2 += OE[i] * x[i];
        r->logrank_computed = 1;
        r->logrank_chi2 = chi2 < 0.0 ? 0.0 : chi2;
        r->logrank_df = m;
        r->logrank_p = cw_chi2_sf(r->logrank_chi2, m);
    }
    free(W);
    free(x), free(V), free(OE), free(nr), free(dg), free(cg);
    return CW_OK;
}

/* What the stages of cw_survival_compute share: the ledger, the lifetimes
 * and the report being filled. */
typedef struct surv_ctx {
    cw_store *st;
    const cw_survival_opts *o;
    cw_ledger L;
    double days_per_unit, horizon_days;
    int64_t end; /* the data end: the latest subscription change (Unix s) */
    int nkeys;   /* group keys: segments, cohorts or 1 */
    int *gmap;   /* group key → group, -1 = none yet */
    obs *ob;     /* the first lifetime of every account that ever paid */
    int64_t nob;
    cw_survival_report *r;
} surv_ctx;

static cw_status survival_check_opts(cw_store *st, const cw_survival_opts *o)
{
    if (o->by == CW_SURVIVAL_BY_COHORT &&
        (o->cohort_months < 1 || o->cohort_months > 12 || 12 % o->cohort_months != 0))
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "survival: cohort months must be 1, 2, 3, 4, 6 or 12, not %d",
                                  o->cohort_months);
    if (!(o->confidence > 0.0 && o->confidence < 1.0))
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "survival: confidence must be in (0, 1), not %g", o->confidence);
    if (!(o->horizon >= 0.0) || isinf(o->horizon))
        return cw_store_set_error(st, CW_ERR_USAGE, "survival: horizon must be >= 0, not %g",
                                  o->horizon);
    return CW_OK;
}

/* The group of key (m0: the lifetime's start month), added to the report
 * under its name on first sight; -1 when out of memory. */
static int survival_group(surv_ctx *c, int key, int m0)
{
    const cw_survival_opts *o = c->o;
    cw_survival_report *r = c->r;
    if (c->gmap[key] >= 0)
        return c->gmap[key];
    cw_survival_group *groups = realloc(r->groups, (size_t)(r->ngroups + 1) * sizeof *groups);
    if (!groups)
        return -1;
    r->groups = groups;
    cw_survival_group *g = &r->groups[r->ngroups];
    memset(g, 0, sizeof *g);
    if (o->by == CW_SURVIVAL_BY_SEGMENT) {
        snprintf(g->name, sizeof g->name, "%s", cw_ledger_str(&c->L, c->L.seg_name[key]));
    } else if (o->by == CW_SURVIVAL_BY_COHORT) {
        int c0 = m0 - m0 % o->cohort_months;
        snprintf(g->name, sizeof g->name, "%04d-%02d", c0 / 12, c0 % 12 + 1);
    } else {
        snprintf(g->name, sizeof g->name, "all");
    }
    return c->gmap[key] = r->ngroups++;
}

/* Each included account's first lifetime: from its first paid change to
 * the next change to MRR 0 (a churn) or the data end (censored), cut at the
 * horizon; with its group. */
static cw_status survival_lifetimes(surv_ctx *c)
{
    const cw_survival_opts *o = c->o;
    const cw_ledger *L = &c->L;
    for (int64_t id = 1; id < L->nids; id++) {
        const cw_ledger_account *a = &L->acc[id];
        if (!a->included)
            continue;
        int64_t k = a->lo;
        while (k < a->hi && L->subs[k].mrr_minor <= 0)
            k++;
        if (k == a->hi)
            continue; /* never paid: never a customer */
        int64_t start = L->subs[k].ts_unix, stop = c->end;
        int event = 0;
        for (k++; k < a->hi; k++)
            if (L->subs[k].mrr_minor <= 0) {
                stop = L->subs[k].ts_unix;
                event = 1;
                break;
            }
        double days = floor((double)(stop - start) / 86400.0);
        if (days > c->horizon_days) {
            days = c->horizon_days;
            event = 0;
        }
        int key = 0, m0 = cw_month_of(start);
        if (o->by == CW_SURVIVAL_BY_SEGMENT)
            key = a->segment;
        else if (o->by == CW_SURVIVAL_BY_COHORT)
            key =
                (m0 - m0 % o->cohort_months) - (L->first_month - L->first_month % o->cohort_months);
        int g = survival_group(c, key, m0);
        if (g < 0)
            return cw_store_set_error(c->st, CW_ERR_NOMEM,
                                      "survival: out of memory grouping lifetimes");
        c->ob[c->nob++] = (obs){g, event, days};
    }
    if (c->nob == 0)
        return cw_store_set_error(c->st, CW_ERR_NOTFOUND, "survival: no account ever paid%s%s%s",
                                  o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                                  o->segment ? "'" : "");
    return CW_OK;
}

/* Sorts the groups by name, once, and renumbers the lifetimes. */
static cw_status survival_sort_groups(surv_ctx *c)
{
    cw_survival_report *r = c->r;
    const int ng = r->ngroups;
    int *order = malloc((size_t)ng * sizeof *order), *rank = malloc((size_t)ng * sizeof *rank);
    cw_survival_group *sorted = malloc((size_t)ng * sizeof *sorted);
    if (!order || !rank || !sorted) {
        free(order), free(rank), free(sorted);
        return cw_store_set_error(c->st, CW_ERR_NOMEM, "survival: out of memory sorting groups");
    }
    for (int i = 0; i < ng; i++)
        order[i] = i;
    /* Sorting names keeps their old index in a parallel array: a small
     * insertion sort, groups are few. */
    for (int i = 1; i < ng; i++)
        for (int j = i; j > 0 && strcmp(r->groups[order[j - 1]].name, r->groups[order[j]].name) > 0;
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < ng; i++) {
        sorted[i] = r->groups[order[i]];
        rank[order[i]] = i;
    }
    free(r->groups);
    r->groups = sorted;
    for (int64_t q = 0; q < c->nob; q++)
        c->ob[q].group = rank[c->ob[q].group];
    free(order);
    free(rank);
    return CW_OK;
}

/* Each group's curve and, with two groups or more, the log-rank test; the
 * lifetimes are sorted by time once. */
static cw_status survival_fit(surv_ctx *c)
{
    cw_survival_report *r = c->r;
    const int ng = r->ngroups;
    const int64_t nob = c->nob;
    const obs *ob = c->ob;
    qsort(c->ob, (size_t)nob, sizeof *c->ob, by_time);
    double z = normal_quantile(0.5 + 0.5 * c->o->confidence);
    /* Each group's lifetimes, in time order: a stable pass per group over
     * the sorted array would be k passes; instead copy them grouped. */
    obs *byg = malloc((size_t)nob * sizeof *byg);
    int64_t *off = calloc((size_t)ng + 1, sizeof *off), *pos = calloc((size_t)ng, sizeof *pos);
    cw_status s = CW_ERR_NOMEM;
    if (!byg || !off || !pos) {
        s = cw_store_set_error(c->st, CW_ERR_NOMEM, "survival: out of memory fitting curves");
        goto out;
    }
    for (int64_t q = 0; q < nob; q++)
        off[ob[q].group + 1]++;
    for (int g = 0; g < ng; g++)
        off[g + 1] += off[g];
    for (int64_t q = 0; q < nob; q++)
        byg[off[ob[q].group] + pos[ob[q].group]++] = ob[q];
    s = CW_OK;
    for (int g = 0; g < ng && s == CW_OK; g++)
        s = fit_group(&r->groups[g], byg + off[g], off[g + 1] - off[g], c->days_per_unit, z);
    if (s == CW_OK && ng >= 2)
        s = logrank(r, ob, nob, ng);
    if (s == CW_ERR_NOMEM) /* fit_group and logrank have no handle */
        s = cw_store_set_error(c->st, s, "survival: out of memory fitting curves");
out:
    free(byg);
    free(off);
    free(pos);
    return s;
}

cw_status cw_survival_compute(cw_store *st, const cw_survival_opts *o, cw_survival_report **out)
{
    cw_store_enter(st, "survival");
    *out = NULL;
    cw_survival_opts def;
    if (!o) {
        cw_survival_opts_init(&def);
        o = &def;
    }
    cw_status s = survival_check_opts(st, o);
    if (s != CW_OK)
        return s;
    surv_ctx c = {.st = st, .o = o};
    c.days_per_unit = o->unit_months ? CW_SURVIVAL_MONTH_DAYS : 1.0;
    c.horizon_days = o->horizon > 0.0 ? o->horizon * c.days_per_unit : (double)INFINITY;
    const cw_ledger *L = &c.L;
    if ((s = cw_ledger_load(st, "survival", o->segment, &c.L)) != CW_OK)
        goto done;
    if (L->nsubs_included == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "survival: no subscriptions%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    c.end = INT64_MIN;
    for (int64_t i = 0; i < L->nsubs; i++)
        c.end = L->subs[i].ts_unix > c.end ? L->subs[i].ts_unix : c.end;
    /* Group keys: segment index, or the cohort's first month counted from
     * that of the first included month's cohort (cohorts align with the
     * year, so that one may begin up to cohort_months - 1 months earlier:
     * hence the extra keys). */
    c.nkeys = o->by == CW_SURVIVAL_BY_SEGMENT  ? L->nsegs
              : o->by == CW_SURVIVAL_BY_COHORT ? L->last_month - L->first_month + o->cohort_months
                                               : 1;
    if (c.nkeys > 12 * 200) {
        s = cw_store_set_error(st, CW_ERR_INPUT,
                               "survival: subscriptions span more than 200 years");
        goto done;
    }
    c.ob = malloc((size_t)L->nsubs_included * sizeof *c.ob);
    c.gmap = malloc((size_t)(c.nkeys > 0 ? c.nkeys : 1) * sizeof *c.gmap);
    c.r = calloc(1, sizeof *c.r);
    if (!c.ob || !c.gmap || !c.r) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "survival: out of memory");
        goto done;
    }
    for (int i = 0; i < c.nkeys; i++)
        c.gmap[i] = -1;
    *c.r = (cw_survival_report){.by = o->by,
                                .cohort_months = o->cohort_months,
                                .unit_months = o->unit_months,
                                .horizon = o->horizon,
                                .confidence = o->confidence,
                                .data_end_unix = c.end};
    if ((s = survival_lifetimes(&c)) == CW_OK && (s = survival_sort_groups(&c)) == CW_OK)
        s = survival_fit(&c);
done:
    if (s != CW_OK) {
        cw_survival_free(c.r);
        c.r = NULL;
    }
    *out = c.r;
    free(c.ob);
    free(c.gmap);
    cw_ledger_free(&c.L);
    return s;
}
