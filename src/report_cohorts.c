/*
 * report_cohorts.c — `churnwatch report cohorts` (logo and revenue retention
 * matrices by start month, NRR at 12 months per cohort) and `churnwatch
 * report ltv` (lifetime value per segment, by churn rate and by survival),
 * as aligned terminal tables (money in major units, rates in %), CSV (money
 * in minor units) or one JSON document. Definitions:
 * docs/revenue-cohorts.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "report_cohorts.h"

#include "cli.h"
#include "report_fmt.h"
#include "churnwatch.h"

#include <getopt.h> /* optarg, optind */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CELL 72 /* a segment name (64 bytes) fits */

/* Shared option state of both reports. */
typedef struct rep_opts {
    const char *segment;
    int months;
    double margin;
    cw_format format;
} rep_opts;

static int parse_format(const char *s, cw_format *f)
{
    if (strcmp(s, "table") != 0)
        cli_stdout_data(); /* csv/json: exact bytes unless on a terminal */
    if (strcmp(s, "table") == 0)
        *f = CW_FORMAT_TABLE;
    else if (strcmp(s, "csv") == 0)
        *f = CW_FORMAT_CSV;
    else if (strcmp(s, "json") == 0)
        *f = CW_FORMAT_JSON;
    else {
        cli_error("--format %s: expected table, csv or json", s);
        return EXIT_USAGE;
    }
    return 0;
}

/* Parses the options of report name (ltv: --gross-margin; cohorts:
 * --months) into o and cfg. Returns an exit code. */
static int parse_opts(int argc, char **argv, int ltv, cw_config *cfg, rep_opts *o)
{
    int rc = 0, c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "report", argv[0], NULL)) != -1) {
        char *end;
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 's': o->segment = optarg; break;
        case 'F': rc = parse_format(optarg, &o->format); break;
        case 'm': {
            long v = strtol(optarg, &end, 10);
            if (ltv || end == optarg || *end || v < 0 || v > CW_COHORTS_MAX_MONTHS) {
                if (ltv)
                    cli_error("report %s: --months applies to cohorts only", argv[0]);
                else
                    cli_error("--months %s: expected a whole number 0..%d", optarg,
                              CW_COHORTS_MAX_MONTHS);
                rc = EXIT_USAGE;
            } else {
                o->months = (int)v;
            }
            break;
        }
        case 'g': {
            double v = strtod(optarg, &end);
            if (!ltv || end == optarg || *end || !(v > 0.0 && v <= 1.0)) {
                if (!ltv)
                    cli_error("report %s: --gross-margin applies to ltv only", argv[0]);
                else
                    cli_error("--gross-margin %s: expected a fraction in (0, 1], e.g. 0.8", optarg);
                rc = EXIT_USAGE;
            } else {
                o->margin = v;
            }
            break;
        }
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("report %s: unexpected argument '%s'", argv[0], argv[optind]);
        rc = EXIT_USAGE;
    }
    return rc;
}

/* A number for CSV (empty when undefined) or JSON (null). */
static void num(double v, int json)
{
    if (!isnan(v))
        printf("%.4f", v);
    else if (json)
        fputs("null", stdout);
}

/* ---- cohorts ---------------------------------------------------------- */

static int cohorts_table(const cw_cohorts_report *r, const char *segment)
{
    int exp = cw_currency_exponent(r->currency);
    int ncols = 3 + r->months + 1 + 1;
    char(*cells)[CELL] = calloc((size_t)r->ncohorts * (size_t)ncols, CELL);
    char(*head)[CELL] = calloc((size_t)ncols, CELL);
    const char **hp = calloc((size_t)ncols, sizeof *hp);
    if (!cells || !head || !hp) {
        free(cells);
        free(head);
        free(hp);
        return EXIT_INTERNAL;
    }
    snprintf(head[0], CELL, "cohort");
    snprintf(head[1], CELL, "accounts");
    snprintf(head[2], CELL, "MRR m0");
    for (int k = 0; k <= r->months; k++)
        snprintf(head[3 + k], CELL, "m%d", k);
    snprintf(head[ncols - 1], CELL, "NRR 12m %%");
    for (int c = 0; c < ncols; c++)
        hp[c] = head[c];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            printf("Logo retention by start month, %s%s, data to %04d-%02d (%% of the cohort's "
                   "accounts paying at month offset k; '-' = after the data end)\n\n",
                   segment ? "segment " : "all segments", segment ? segment : "", r->end_year,
                   r->end_month);
        else
            printf("\nRevenue retention (net: cohort MRR at offset k / at offset 0, in %%, "
                   "expansion included; money in %s)\n\n",
                   r->currency);
        for (int i = 0; i < r->ncohorts; i++) {
            const cw_cohort *h = &r->cohorts[i];
            char(*row)[CELL] = &cells[(size_t)i * ncols];
            snprintf(row[0], CELL, "%04d-%02d", h->year, h->month);
            snprintf(row[1], CELL, "%" PRId64, h->accounts);
            rf_money_d((double)h->mrr0_minor, exp, row[2], CELL);
            for (int k = 0; k <= r->months; k++)
                rf_rate(pass ? h->revenue_retention_pct[k] : h->logo_retention_pct[k], "%.1f",
                        row[3 + k], CELL);
            rf_rate(h->nrr_12m_pct, "%.1f", row[ncols - 1], CELL);
        }
        /* The NRR column belongs to the revenue table only. */
        rf_print_table(hp, pass ? ncols : ncols - 1, &cells[0][0], CELL, ncols, r->ncohorts, 0);
    }
    free(cells);
    free(head);
    free(hp);
    return 0;
}

static int cohorts_csv(const cw_cohorts_report *r)
{
    puts("cohort,currency,offset,month,cohort_accounts,cohort_mrr_minor,accounts,mrr_minor,"
         "logo_retention_pct,revenue_retention_pct,nrr_12m_pct");
    for (int i = 0; i < r->ncohorts; i++) {
        const cw_cohort *h = &r->cohorts[i];
        for (int k = 0; k <= r->months; k++) {
            int m = h->year * 12 + h->month - 1 + k;
            printf("%04d-%02d,%s,%d,%04d-%02d,%" PRId64 ",%" PRId64 ",", h->year, h->month,
                   r->currency, k, m / 12, m % 12 + 1, h->accounts, h->mrr0_minor);
            if (k < h->observed)
                printf("%" PRId64 ",%" PRId64 ",", h->logos[k], h->mrr_minor[k]);
            else
                fputs(",,", stdout);
            num(h->logo_retention_pct[k], 0);
            putchar(',');
            num(h->revenue_retention_pct[k], 0);
            putchar(',');
            num(h->nrr_12m_pct, 0);
            putchar('\n');
        }
    }
    return 0;
}

static int cohorts_json(const cw_cohorts_report *r, const char *segment)
{
    printf("{\"report\":\"cohorts\",\"currency\":\"%s\",\"segment\":", r->currency);
    if (segment)
        rf_json_string(segment);
    else
        fputs("null", stdout);
    printf(",\"months\":%d,\"data_end\":\"%04d-%02d\",\"cohorts\":[", r->months, r->end_year,
           r->end_month);
    for (int i = 0; i < r->ncohorts; i++) {
        const cw_cohort *h = &r->cohorts[i];
        printf("%s\n{\"cohort\":\"%04d-%02d\",\"accounts\":%" PRId64 ",\"mrr_minor\":%" PRId64
               ",\"nrr_12m_pct\":",
               i ? "," : "", h->year, h->month, h->accounts, h->mrr0_minor);
        num(h->nrr_12m_pct, 1);
        const char *keys[] = {"logos", "mrr_minor_by_offset", "logo_retention_pct",
                              "revenue_retention_pct"};
        for (int a = 0; a < 4; a++) {
            printf(",\"%s\":[", keys[a]);
            for (int k = 0; k <= r->months; k++) {
                if (k)
                    putchar(',');
                if (a < 2 && k < h->observed)
                    printf("%" PRId64, a == 0 ? h->logos[k] : h->mrr_minor[k]);
                else if (a < 2)
                    fputs("null", stdout);
                else
                    num(a == 2 ? h->logo_retention_pct[k] : h->revenue_retention_pct[k], 1);
            }
            putchar(']');
        }
        putchar('}');
    }
    fputs("]}\n", stdout);
    return 0;
}

int report_cohorts(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    rep_opts o = {.months = 12, .margin = 0.8, .format = CW_FORMAT_TABLE};
    rc = parse_opts(argc, argv, 0, cfg, &o);
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 1, &st);
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    cw_cohorts_opts co;
    cw_cohorts_opts_init(&co);
    co.segment = o.segment;
    co.months = o.months;
    cw_cohorts_report *r = NULL;
    cw_status s = cw_cohorts_compute(st, &co, &r);
    if (s != CW_OK) {
        cli_error("%s", cw_store_why(st, s));
        rc = cli_exit_code(s);
    } else if (o.format == CW_FORMAT_CSV) {
        rc = cohorts_csv(r);
    } else if (o.format == CW_FORMAT_JSON) {
        rc = cohorts_json(r, o.segment);
    } else {
        rc = cohorts_table(r, o.segment);
    }
    cw_cohorts_free(r);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}

/* ---- lifetime value ----------------------------------------------------- */

static const char *seg_label(const cw_ltv_segment *g)
{
    return g->all ? "(all)" : g->segment;
}

static int ltv_table(const cw_ltv_report *r)
{
    int exp = cw_currency_exponent(r->currency);
    enum { NC = 11 };
    static const char *const head[NC] = {
        "segment",      "accounts",   "churns",         "churn %/mo",   "ARPA", "LTV",
        "KM life (mo)", "S(horizon)", "LTV (survival)", "horizon (mo)", "note"};
    char(*cells)[CELL] = calloc((size_t)r->nsegments * NC, CELL);
    if (!cells)
        return EXIT_INTERNAL;
    printf("Customer lifetime value, %04d-%02d .. %04d-%02d, gross margin %.2f (money in %s; "
           "LTV = ARPA x margin / monthly logo churn; survival LTV = Kaplan-Meier lifetime x "
           "ARPA x margin)\n\n",
           r->start_year, r->start_month, r->end_year, r->end_month, r->gross_margin, r->currency);
    int flagged = 0, bounded = 0;
    for (int i = 0; i < r->nsegments; i++) {
        const cw_ltv_segment *g = &r->segments[i];
        char(*row)[CELL] = &cells[(size_t)i * NC];
        snprintf(row[0], CELL, "%.*s", CELL - 1, seg_label(g));
        snprintf(row[1], CELL, "%" PRId64, g->accounts);
        snprintf(row[2], CELL, "%" PRId64, g->churns);
        rf_rate(g->churn_pct, "%.2f", row[3], CELL);
        rf_money_d(g->arpa_minor, exp, row[4], CELL);
        rf_money_d(g->ltv_minor, exp, row[5], CELL);
        rf_rate(g->lifetime_months, "%.2f", row[6], CELL);
        rf_rate(g->km_survival_at_horizon, "%.3f", row[7], CELL);
        rf_money_d(g->ltv_survival_minor, exp, row[8], CELL);
        snprintf(row[9], CELL, "%d", g->km_horizon_months);
        if (g->unreliable) {
            snprintf(row[10], CELL, "unreliable: %" PRId64 " churns < %d", g->churns,
                     CW_LTV_MIN_CHURNS);
            flagged++;
        }
        bounded += g->km_survival_at_horizon > 0;
        if (!g->unreliable && g->km_survival_at_horizon > 0) {
            snprintf(row[10], CELL, "KM life is a lower bound");
        }
    }
    rf_print_table(head, NC, &cells[0][0], CELL, NC, r->nsegments, 1);
    if (flagged)
        printf("\n%d of %d rows have fewer than %d churns: their estimates are too uncertain to "
               "act on.\n",
               flagged, r->nsegments, CW_LTV_MIN_CHURNS);
    if (bounded)
        printf(
            "S(horizon) > 0: some accounts outlived the data, so the KM lifetime (the sum of the "
            "survival curve up to the horizon) and its LTV are lower bounds.\n");
    free(cells);
    return 0;
}

static const char *const ltv_cols =
    "segment,currency,gross_margin,accounts,account_months,mrr_sum_minor,arpa_minor,"
    "customers_start_sum,churns,monthly_logo_churn_pct,ltv_minor,km_events,km_censored,"
    "km_horizon_months,km_survival_at_horizon,lifetime_months,ltv_survival_minor,unreliable";

static void ltv_values(const cw_ltv_report *r, const cw_ltv_segment *g, int json)
{
    const char *names = ltv_cols;
    for (int i = 0; i < 18; i++) {
        const char *comma = strchr(names, ',');
        int len = comma ? (int)(comma - names) : (int)strlen(names);
        if (json)
            printf("%s\"%.*s\":", i ? "," : "", len, names);
        else if (i)
            putchar(',');
        names = comma ? comma + 1 : names;
        switch (i) {
        case 0:
            if (json && g->all)
                fputs("null", stdout);
            else if (json)
                rf_json_string(g->segment);
            else
                rf_csv_string(seg_label(g));
            break;
        case 1: printf(json ? "\"%s\"" : "%s", r->currency); break;
        case 2: num(r->gross_margin, json); break;
        case 3: printf("%" PRId64, g->accounts); break;
        case 4: printf("%" PRId64, g->account_months); break;
        case 5: printf("%" PRId64, g->mrr_sum_minor); break;
        case 6: num(g->arpa_minor, json); break;
        case 7: printf("%" PRId64, g->customers_start_sum); break;
        case 8: printf("%" PRId64, g->churns); break;
        case 9: num(g->churn_pct, json); break;
        case 10: num(g->ltv_minor, json); break;
        case 11: printf("%" PRId64, g->km_events); break;
        case 12: printf("%" PRId64, g->km_censored); break;
        case 13: printf("%d", g->km_horizon_months); break;
        case 14: num(g->km_survival_at_horizon, json); break;
        case 15: num(g->lifetime_months, json); break;
        case 16: num(g->ltv_survival_minor, json); break;
        case 17: fputs(g->unreliable ? (json ? "true" : "1") : (json ? "false" : "0"), stdout);
        }
    }
}

static int ltv_csv(const cw_ltv_report *r)
{
    printf("%s\n", ltv_cols);
    for (int i = 0; i < r->nsegments; i++) {
        ltv_values(r, &r->segments[i], 0);
        putchar('\n');
    }
    return 0;
}

static int ltv_json(const cw_ltv_report *r, const char *segment)
{
    printf("{\"report\":\"ltv\",\"currency\":\"%s\",\"gross_margin\":%.4f,\"segment\":",
           r->currency, r->gross_margin);
    if (segment)
        rf_json_string(segment);
    else
        fputs("null", stdout);
    printf(",\"from\":\"%04d-%02d\",\"to\":\"%04d-%02d\",\"min_churns\":%d,\"segments\":[",
           r->start_year, r->start_month, r->end_year, r->end_month, CW_LTV_MIN_CHURNS);
    for (int i = 0; i < r->nsegments; i++) {
        printf("%s\n{", i ? "," : "");
        ltv_values(r, &r->segments[i], 1);
        putchar('}');
    }
    fputs("]}\n", stdout);
    return 0;
}

int report_ltv(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    rep_opts o = {.months = 12, .margin = 0.8, .format = CW_FORMAT_TABLE};
    rc = parse_opts(argc, argv, 1, cfg, &o);
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 1, &st);
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    cw_ltv_opts lo;
    cw_ltv_opts_init(&lo);
    lo.segment = o.segment;
    lo.gross_margin = o.margin;
    cw_ltv_report *r = NULL;
    cw_status s = cw_ltv_compute(st, &lo, &r);
    if (s != CW_OK) {
        cli_error("%s", cw_store_why(st, s));
        rc = cli_exit_code(s);
    } else if (o.format == CW_FORMAT_CSV) {
        rc = ltv_csv(r);
    } else if (o.format == CW_FORMAT_JSON) {
        rc = ltv_json(r, o.segment);
    } else {
        rc = ltv_table(r);
    }
    cw_ltv_free(r);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
