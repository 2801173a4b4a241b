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

/* The revenue report's columns, described once: table 1 is the MRR
 * bridge, table 2 the customers and rates (`report retention` shows only
 * table 2); CSV and JSON show them all, money in major units. */
enum {
    RV_PERIOD,
    RV_MRR_START,
    RV_NEW,
    RV_EXPANSION,
    RV_CONTRACTION,
    RV_CHURN,
    RV_REACTIVATION,
    RV_MRR_END,
    RV_CUST_START,
    RV_CUST_NEW,
    RV_CUST_CHURNED,
    RV_CUST_REACT,
    RV_CUST_END,
    RV_IN_OUT,
    RV_SEATS_START,
    RV_SEATS_LOST,
    RV_LOGO_CHURN,
    RV_REV_CHURN,
    RV_GRR,
    RV_NRR,
    RV_QUICK,
    RV_SEAT_CHURN,
    RV_USERS_START,
    RV_USERS_LOST,
    RV_USER_CHURN,
    RV_NCOLS
};
static const rf_col revenue_cols[RV_NCOLS] = {
    {"period", RF_TEXT, 3, NULL, 0, NULL, 0},
    {"mrr_start", RF_MONEY, 1, "MRR start", 0, NULL, 0},
    {"new", RF_MONEY, 1, "new", 0, NULL, 0},
    {"expansion", RF_MONEY, 1, "expansion", 0, NULL, 0},
    {"contraction", RF_MONEY, 1, "contraction", 0, NULL, 0},
    {"churn", RF_MONEY, 1, "churn", 0, NULL, 0},
    {"reactivation", RF_MONEY, 1, "reactivation", 0, NULL, 0},
    {"mrr_end", RF_MONEY, 1, "MRR end", 0, NULL, 0},
    {"customers_start", RF_INT, 2, "customers", 0, NULL, 0},
    {"customers_new", RF_INT, 2, "new", 0, NULL, 0},
    {"customers_churned", RF_INT, 2, "churned", 0, NULL, 0},
    {"customers_reactivated", RF_INT, 2, "reactiv.", 0, NULL, 0},
    {"customers_end", RF_INT, 2, "end", 0, NULL, 0},
    {"customers_in_and_out", RF_INT, 2, "in-out", 0, NULL, 0},
    {"seats_start", RF_INT, 0, NULL, 0, NULL, 0},
    {"seats_lost", RF_INT, 0, NULL, 0, NULL, 0},
    {"logo_churn_pct", RF_PCT, 2, "logo churn %", 1, NULL, 0},
    {"gross_revenue_churn_pct", RF_PCT, 2, "rev churn %", 1, NULL, 0},
    {"grr_pct", RF_PCT, 2, "GRR %", 1, NULL, 0},
    {"nrr_pct", RF_PCT, 2, "NRR %", 1, NULL, 0},
    {"quick_ratio", RF_NUM, 2, "quick ratio", 2, NULL, 0},
    {"seat_churn_pct", RF_PCT, 2, "seat churn %", 1, NULL, 0},
    {"users_start", RF_INT, 0, NULL, 0, NULL, 0},
    {"users_lost", RF_INT, 0, NULL, 0, NULL, 0},
    {"user_churn_pct", RF_PCT, 2, "user churn %", 1, NULL, 0},
};

/* Fills the skeleton with one row per period; 0, or -1 when out of memory. */
static int revenue_rows(const cw_revenue_report *r, rf_report *out)
{
    if (rf_report_init(out, revenue_cols, RV_NCOLS, r->nperiods, r->currency) != 0)
        return -1;
    for (int i = 0; i < r->nperiods; i++) {
        const cw_revenue_period *p = &r->periods[i];
        char label[16];
        period_label(p, label, sizeof label);
        rf_set_text(out, i, RV_PERIOD, label);
        const int64_t m[] = {p->mrr_start_minor,   p->new_minor,   p->expansion_minor,
                             p->contraction_minor, p->churn_minor, p->reactivation_minor,
                             p->mrr_end_minor};
        for (int c = 0; c < 7; c++)
            rf_set_money(out, i, RV_MRR_START + c, m[c]);
        const int64_t n[] = {p->customers_start,       p->customers_new, p->customers_churned,
                             p->customers_reactivated, p->customers_end, p->customers_in_and_out,
                             p->seats_start,           p->seats_lost};
        for (int c = 0; c < 8; c++)
            rf_set_int(out, i, RV_CUST_START + c, n[c]);
        const double d[] = {p->logo_churn_pct, p->gross_revenue_churn_pct, p->grr_pct, p->nrr_pct,
                            p->quick_ratio,    p->seat_churn_pct};
        for (int c = 0; c < 6; c++)
            rf_set_num(out, i, RV_LOGO_CHURN + c, d[c]);
        rf_set_int(out, i, RV_USERS_START, p->users_start);
        rf_set_int(out, i, RV_USERS_LOST, p->users_lost);
        rf_set_num(out, i, RV_USER_CHURN, p->user_churn_pct);
    }
    return 0;
}

static void write_table(const cw_revenue_report *r, const rf_report *rows, const char *segment)
{
    char first[16], last[16];
    period_label(&r->periods[0], first, sizeof first);
    period_label(&r->periods[r->nperiods - 1], last, sizeof last);
    if (!g_retention) {
        printf("MRR movements, %s .. %s, %s%s (money in %s; contraction and churn are losses)\n\n",
               first, last, segment ? "segment " : "all segments", segment ? segment : "",
               r->currency);
        rf_report_table(rows, 1);
        putchar('\n');
    } else {
        printf("Retention and churn, %s .. %s, %s%s\n", first, last,
               segment ? "segment " : "all segments", segment ? segment : "");
    }
    printf("Customers and rates (in-out: paid within the period but at neither end; rates in "
           "%%, '-' = no base to divide by)\n\n");
    rf_report_table(rows, 2);
}

static int report_revenue(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    cli_format format = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "report", argv[0], NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'f': rc = cli_parse_month("--from", optarg, &o.from_month); break;
        case 't': rc = cli_parse_month("--to", optarg, &o.to_month); break;
        case 'F': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &format); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
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
    } else {
        rf_report rows;
        if (revenue_rows(r, &rows) != 0) {
            cli_error("report: out of memory");
            rc = EXIT_INTERNAL;
        } else if (format == CLI_FMT_TABLE) {
            write_table(r, &rows, o.segment);
        } else {
            const rf_meta meta[] = {{"report", g_retention ? "retention" : "revenue", 0},
                                    {"currency", r->currency, 0},
                                    {"by", o.by_quarter ? "quarter" : "month", 0},
                                    {"segment", o.segment, 0}};
            rf_report_emit(&rows, (int)format, meta, 4, "periods", offset, limit);
        }
        rf_report_free(&rows);
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
