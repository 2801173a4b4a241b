/*
 * core/flag.c — what "flagged" means (docs/model.md, "Flagged"): the riskiest
 * share of the accounts scored on a day (risk relative to the base rate; the
 * default, top 10%) or every account at or above a churn probability. The
 * backtest's lead time and "missed", `predict`, the API and the dashboard
 * all use this one definition (`[model] flag`).
 */
#include "churnwatch.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *skip(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* A number, optionally followed by '%' (then divided by 100), then only
 * blanks. Returns 0 when it is not that. */
static int number(const char *s, double *v)
{
    char *end;
    s = skip(s);
    if (!*s)
        return 0;
    double x = strtod(s, &end);
    if (end == s || !isfinite(x))
        return 0;
    end = (char *)skip(end);
    if (*end == '%') {
        x /= 100;
        end = (char *)skip(end + 1);
    }
    if (*end)
        return 0;
    *v = x;
    return 1;
}

cw_status cw_flag_parse(const char *text, cw_flag_rule *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    const char *s = skip(text ? text : "");
    double v;
    if ((s[0] == 'p' || s[0] == 'P') && !isalpha((unsigned char)s[1])) {
        s = skip(s + 1);
        if (s[0] != '>' || s[1] != '=') {
            *why = "is not \"p >= P\" (e.g. p >= 0.25) or \"top N%\" (e.g. top 10%)";
            return CW_ERR_INPUT;
        }
        if (!number(s + 2, &v) || !(v > 0 && v < 1)) {
            *why = "must give a probability between 0 and 1 after \"p >=\" (0.25 or 25%)";
            return CW_ERR_INPUT;
        }
        out->p_at_least = v;
        return CW_OK;
    }
    if (strncmp(s, "top", 3) == 0)
        s += 3;
    if (!number(s, &v)) {
        *why = "is not \"top N%\" (e.g. top 10%) or \"p >= P\" (e.g. p >= 0.25)";
        return CW_ERR_INPUT;
    }
    if (!(v > 0 && v <= 1)) {
        *why = "must be a share in (0%, 100%] (top 10% or top 0.1)";
        return CW_ERR_INPUT;
    }
    out->share = v;
    return CW_OK;
}

void cw_flag_format(const cw_flag_rule *r, char *buf, size_t n)
{
    if (r->share > 0)
        snprintf(buf, n, "top %g%%", 100 * r->share);
    else
        snprintf(buf, n, "p >= %g", r->p_at_least);
}

int64_t cw_flag_count(const cw_flag_rule *r, int64_t n)
{
    if (n <= 0 || !(r->share > 0))
        return 0;
    int64_t k = (int64_t)ceil(r->share * (double)n - 1e-9);
    return k < 1 ? 1 : k > n ? n : k;
}

typedef struct flag_row {
    int64_t day, tie, i;
    double risk;
} flag_row;

/* Day, then riskiest first, then the lower tie-break value. */
static int flag_cmp(const void *a, const void *b)
{
    const flag_row *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    if (x->risk != y->risk)
        return x->risk > y->risk ? -1 : 1;
    if (x->tie != y->tie)
        return x->tie < y->tie ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int64_t cw_flag_rows(const cw_flag_rule *r, const double *risk, const int64_t *day,
                     const int64_t *tie, int64_t n, unsigned char *flagged)
{
    int64_t total = 0;
    if (!(r->share > 0)) {
        for (int64_t i = 0; i < n; i++) {
            flagged[i] = !isnan(risk[i]) && risk[i] >= r->p_at_least;
            total += flagged[i];
        }
        return total;
    }
    flag_row *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return -1;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        flagged[i] = 0;
        if (!isnan(risk[i]))
            v[m++] = (flag_row){.day = day[i], .tie = tie ? tie[i] : i, .i = i, .risk = risk[i]};
    }
    qsort(v, (size_t)m, sizeof *v, flag_cmp);
    for (int64_t a = 0; a < m;) {
        int64_t b = a;
        while (b < m && v[b].day == v[a].day)
            b++;
        int64_t k = cw_flag_count(r, b - a);
        for (int64_t j = a; j < a + k; j++)
            flagged[v[j].i] = 1;
        total += k;
        a = b;
    }
    free(v);
    return total;
}
