/*
 * cmd_report.c — `churnwatch report <subject>`: analytics reports over the
 * store, printed as aligned terminal tables (money in major units of the
 * currency, rates in %), CSV (money in minor units, one row per period) or
 * one JSON document. Subjects so far: revenue (the MRR bridge, logo counts
 * and retention rates by month or quarter; docs/revenue.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"
#include "report_cohorts.h"
#include "report_reasons.h"
#include "report_survival.h"

#include <getopt.h> /* optarg, optind */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NCOLS_MAX 14
#define CELL      32

static void period_label(const cw_revenue_period *p, char *buf, size_t n)
{
    /* Years are 1970-2099 and months 1-12 (time.c); the bounds tell the
     * compiler the label fits. */
    unsigned y = (unsigned)p->year % 10000u, m = (unsigned)p->month % 100u;
    if (p->months == 3)
        snprintf(buf, n, "%04u-Q%u", y, (m + 2u) / 3u % 10u);
    else
        snprintf(buf, n, "%04u-%02u", y, m);
}

/* `report retention` shows the same periods, rates first and without the MRR
 * bridge (its CSV and JSON are the revenue report's). */
static int g_retention;

static int write_table(const cw_revenue_report *r, const char *segment)
{
    int exp = cw_currency_exponent(r->currency);
    char(*cells)[NCOLS_MAX][CELL] = calloc((size_t)r->nperiods, sizeof *cells);
    if (!cells)
        return EXIT_INTERNAL;
    char first[16], last[16];
    period_label(&r->periods[0], first, sizeof first);
    period_label(&r->periods[r->nperiods - 1], last, sizeof last);
    if (g_retention)
        goto rates;
    printf("MRR movements, %s .. %s, %s%s (money in %s; contraction and churn are losses)\n\n",
           first, last, segment ? "segment " : "all segments", segment ? segment : "", r->currency);
    static const char *const h1[] = {"period",      "MRR start", "new",          "expansion",
                                     "contraction", "churn",     "reactivation", "MRR end"};
    for (int i = 0; i < r->nperiods; i++) {
        const cw_revenue_period *p = &r->periods[i];
        period_label(p, cells[i][0], CELL);
        const int64_t v[] = {p->mrr_start_minor,   p->new_minor,   p->expansion_minor,
                             p->contraction_minor, p->churn_minor, p->reactivation_minor,
                             p->mrr_end_minor};
        for (int c = 0; c < 7; c++)
            rf_money(v[c], exp, cells[i][c + 1], CELL);
    }
    rf_print_table(h1, 8, &cells[0][0][0], CELL, NCOLS_MAX, r->nperiods, 0);
    putchar('\n');
rates:
    if (g_retention)
        printf("Retention and churn, %s .. %s, %s%s\n", first, last,
               segment ? "segment " : "all segments", segment ? segment : "");
    printf("Customers and rates (in-out: paid within the period but at neither end; rates in "
           "%%, '-' = no base to divide by)\n\n");
    static const char *const h2[] = {"period",       "customers",   "new",    "churned",
                                     "reactiv.",     "end",         "in-out", "logo churn %",
                                     "rev churn %",  "GRR %",       "NRR %",  "quick ratio",
                                     "seat churn %", "user churn %"};
    for (int i = 0; i < r->nperiods; i++) {
        const cw_revenue_period *p = &r->periods[i];
        period_label(p, cells[i][0], CELL);
        const int64_t v[] = {p->customers_start,       p->customers_new, p->customers_churned,
                             p->customers_reactivated, p->customers_end, p->customers_in_and_out};
        for (int c = 0; c < 6; c++)
            snprintf(cells[i][c + 1], CELL, "%" PRId64, v[c]);
        rf_rate(p->logo_churn_pct, "%.1f", cells[i][7], CELL);
        rf_rate(p->gross_revenue_churn_pct, "%.1f", cells[i][8], CELL);
        rf_rate(p->grr_pct, "%.1f", cells[i][9], CELL);
        rf_rate(p->nrr_pct, "%.1f", cells[i][10], CELL);
        rf_rate(p->quick_ratio, "%.2f", cells[i][11], CELL);
        rf_rate(p->seat_churn_pct, "%.1f", cells[i][12], CELL);
        rf_rate(p->user_churn_pct, "%.1f", cells[i][13], CELL);
    }
    rf_print_table(h2, 14, &cells[0][0][0], CELL, NCOLS_MAX, r->nperiods, 0);
    free(cells);
    return 0;
}

static const char *const csv_cols =
    "period,currency,mrr_start_minor,new_minor,expansion_minor,contraction_minor,churn_minor,"
    "reactivation_minor,mrr_end_minor,customers_start,customers_new,customers_churned,"
    "customers_reactivated,customers_end,customers_in_and_out,seats_start,seats_lost,"
    "logo_churn_pct,gross_revenue_churn_pct,grr_pct,nrr_pct,quick_ratio,seat_churn_pct,"
    "users_start,users_lost,user_churn_pct";

/* The values of one period after its label, comma-separated; rates as
 * "null" (json) or empty (csv) when undefined. */
static void write_values(const cw_revenue_period *p, int json)
{
    const int64_t v[] = {p->mrr_start_minor,
                         p->new_minor,
                         p->expansion_minor,
                         p->contraction_minor,
                         p->churn_minor,
                         p->reactivation_minor,
                         p->mrr_end_minor,
                         p->customers_start,
                         p->customers_new,
                         p->customers_churned,
                         p->customers_reactivated,
                         p->customers_end,
                         p->customers_in_and_out,
                         p->seats_start,
                         p->seats_lost};
    const double d[] = {p->logo_churn_pct, p->gross_revenue_churn_pct, p->grr_pct, p->nrr_pct,
                        p->quick_ratio,    p->seat_churn_pct};
    const int64_t u[] = {p->users_start, p->users_lost};
    /* Column names 2.. of csv_cols, for JSON keys. */
    const char *names = strchr(strchr(csv_cols, ',') + 1, ',') + 1;
    for (int i = 0; i < 24; i++) {
        const char *comma = strchr(names, ',');
        int len = comma ? (int)(comma - names) : (int)strlen(names);
        if (json)
            printf(",\"%.*s\":", len, names);
        else
            putchar(',');
        double dv = i < 21 ? (i >= 15 ? d[i - 15] : 0) : p->user_churn_pct;
        if (i < 15)
            printf("%" PRId64, v[i]);
        else if (i == 21 || i == 22)
            printf("%" PRId64, u[i - 21]);
        else if (!isnan(dv))
            printf("%.4f", dv);
        else if (json)
            fputs("null", stdout);
        names = comma ? comma + 1 : names;
    }
}

static int write_csv(const cw_revenue_report *r)
{
    printf("%s\n", csv_cols);
    for (int i = 0; i < r->nperiods; i++) {
        char label[16];
        period_label(&r->periods[i], label, sizeof label);
        printf("%s,%s", label, r->currency);
        write_values(&r->periods[i], 0);
        putchar('\n');
    }
    return 0;
}

static int write_json(const cw_revenue_report *r, int quarter, const char *segment)
{
    printf("{\"report\":\"%s\",\"currency\":\"%s\",\"by\":\"%s\",\"segment\":",
           g_retention ? "retention" : "revenue", r->currency, quarter ? "quarter" : "month");
    rf_json_string(segment);
    fputs(",\"periods\":[", stdout);
    for (int i = 0; i < r->nperiods; i++) {
        char label[16];
        period_label(&r->periods[i], label, sizeof label);
        printf("%s\n{\"period\":\"%s\"", i ? "," : "", label);
        write_values(&r->periods[i], 1);
        putchar('}');
    }
    fputs("]}\n", stdout);
    return 0;
}

static int report_revenue(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    cw_format format = CW_FORMAT_TABLE;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "report", argv[0], NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'f': rc = cli_parse_month("--from", optarg, &o.from_month); break;
        case 't': rc = cli_parse_month("--to", optarg, &o.to_month); break;
        case 'F':
            if (strcmp(optarg, "table") != 0)
                cli_stdout_data(); /* csv/json: exact bytes unless on a terminal */
            if (strcmp(optarg, "table") == 0)
                format = CW_FORMAT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                format = CW_FORMAT_CSV;
            else if (strcmp(optarg, "json") == 0)
                format = CW_FORMAT_JSON;
            else {
                cli_error("--format %s: expected table, csv or json", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 'b':
            if (strcmp(optarg, "month") == 0 || strcmp(optarg, "quarter") == 0)
                o.by_quarter = optarg[0] == 'q';
            else {
                cli_error("--by %s: expected month or quarter", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 's': o.segment = optarg; break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("report revenue: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && o.from_month >= 0 && o.to_month >= 0 && o.to_month < o.from_month) {
        cli_error("report revenue: --to is before --from");
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    cw_store *st;
    int orc = cli_open_store(cfg, 1, &st);
    if (orc) {
        cw_config_free(cfg);
        return orc;
    }
    cw_revenue_report *r = NULL;
    cw_status s = cw_revenue_compute(st, &o, &r);
    if (s != CW_OK) {
        cli_error("%s", cw_store_why(st, s));
        rc = cli_exit_code(s);
    } else if (format == CW_FORMAT_CSV) {
        rc = write_csv(r);
    } else if (format == CW_FORMAT_JSON) {
        rc = write_json(r, o.by_quarter, o.segment);
    } else {
        rc = write_table(r, o.segment);
    }
    cw_revenue_free(r);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}

#define REPORTS "revenue, retention, cohorts, ltv, reasons, funnel, chain, survival, plays, html"

int cmd_report(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("report: name a report (available: %s; see `churnwatch help report`)", REPORTS);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "revenue") == 0 || strcmp(argv[1], "retention") == 0) {
        g_retention = strcmp(argv[1], "retention") == 0;
        return report_revenue(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "html") == 0)
        return cmd_report_html(argc - 1, argv + 1);
    if (strcmp(argv[1], "cohorts") == 0)
        return report_cohorts(argc - 1, argv + 1);
    if (strcmp(argv[1], "ltv") == 0)
        return report_ltv(argc - 1, argv + 1);
    if (strcmp(argv[1], "reasons") == 0)
        return report_reasons(argc - 1, argv + 1);
    if (strcmp(argv[1], "funnel") == 0)
        return report_funnel(argc - 1, argv + 1);
    if (strcmp(argv[1], "chain") == 0)
        return report_chain(argc - 1, argv + 1);
    if (strcmp(argv[1], "survival") == 0)
        return report_survival(argc - 1, argv + 1);
    if (strcmp(argv[1], "plays") == 0)
        return report_plays(argc - 1, argv + 1);
    return cli_unknown_sub("report", argv[1]);
}
