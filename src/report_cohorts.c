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
    cli_format format;
    int64_t offset, limit;
} rep_opts;

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
        case 'F': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &o->format); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &o->limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &o->offset); break;
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

/* ---- cohorts ---------------------------------------------------------- */

/* The cohort triangle: one row per cohort, --offset/--limit select cohorts. */
static int cohorts_table(const cw_cohorts_report *r, const char *segment, int64_t offset,
                         int64_t limit)
{
    int first = offset < r->ncohorts ? (int)offset : r->ncohorts;
    int shown = r->ncohorts - first;
    if (limit >= 0 && limit < shown)
        shown = (int)limit;
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
        for (int i = 0; i < shown; i++) {
            const cw_cohort *h = &r->cohorts[first + i];
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
        rf_print_table(hp, pass ? ncols : ncols - 1, &cells[0][0], CELL, ncols, shown, 0);
    }
    free(cells);
    free(head);
    free(hp);
    return 0;
}

/* The cohorts report's long form (one row per cohort and month offset),
 * described once for CSV and JSON Lines. */
enum {
    CH_COHORT,
    CH_OFFSET,
    CH_MONTH,
    CH_COHORT_ACCOUNTS,
    CH_COHORT_MRR,
    CH_ACCOUNTS,
    CH_MRR,
    CH_LOGO_RET,
    CH_REV_RET,
    CH_NRR12,
    CH_NCOLS
};
static const rf_col cohort_cols[CH_NCOLS] = {
    {"cohort", RF_TEXT, 0, NULL, 0, NULL, 0},
    {"offset", RF_INT, 0, NULL, 0, NULL, 0},
    {"month", RF_TEXT, 0, NULL, 0, NULL, 0},
    {"cohort_accounts", RF_INT, 0, NULL, 0, NULL, 0},
    {"cohort_mrr", RF_MONEY, 0, NULL, 0, NULL, 0},
    {"accounts", RF_INT, 0, NULL, 0, NULL, 0},
    {"mrr", RF_MONEY, 0, NULL, 0, NULL, 0},
    {"logo_retention_pct", RF_PCT, 0, NULL, 1, NULL, 0},
    {"revenue_retention_pct", RF_PCT, 0, NULL, 1, NULL, 0},
    {"nrr_12m_pct", RF_PCT, 0, NULL, 1, NULL, 0},
};

static int cohorts_rows(const cw_cohorts_report *r, const rep_opts *o)
{
    rf_report rows;
    int n = r->ncohorts * (r->months + 1);
    if (rf_report_init(&rows, cohort_cols, CH_NCOLS, n, r->currency) != 0)
        return EXIT_INTERNAL;
    int row = 0;
    for (int i = 0; i < r->ncohorts; i++) {
        const cw_cohort *h = &r->cohorts[i];
        for (int k = 0; k <= r->months; k++, row++) {
            int m = h->year * 12 + h->month - 1 + k;
            char label[16];
            snprintf(label, sizeof label, "%04d-%02d", h->year % 10000, h->month % 100);
            rf_set_text(&rows, row, CH_COHORT, label);
            rf_set_int(&rows, row, CH_OFFSET, k);
            snprintf(label, sizeof label, "%04d-%02d", m / 12 % 10000, m % 12 + 1);
            rf_set_text(&rows, row, CH_MONTH, label);
            rf_set_int(&rows, row, CH_COHORT_ACCOUNTS, h->accounts);
            rf_set_money(&rows, row, CH_COHORT_MRR, h->mrr0_minor);
            if (k < h->observed) {
                rf_set_int(&rows, row, CH_ACCOUNTS, h->logos[k]);
                rf_set_money(&rows, row, CH_MRR, h->mrr_minor[k]);
            }
            rf_set_num(&rows, row, CH_LOGO_RET, h->logo_retention_pct[k]);
            rf_set_num(&rows, row, CH_REV_RET, h->revenue_retention_pct[k]);
            rf_set_num(&rows, row, CH_NRR12, h->nrr_12m_pct);
        }
    }
    char months[16], end[16];
    snprintf(months, sizeof months, "%d", r->months);
    snprintf(end, sizeof end, "%04d-%02d", r->end_year % 10000, r->end_month % 100);
    const rf_meta meta[] = {{"report", "cohorts", 0},
                            {"segment", o->segment, 0},
                            {"months", months, 1},
                            {"data_end", end, 0}};
    rf_report_emit(&rows, (int)o->format, meta, 4, "rows", o->offset, o->limit);
    rf_report_free(&rows);
    return 0;
}

int report_cohorts(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    rep_opts o = {.months = 12, .margin = 0.8, .format = CLI_FMT_TABLE, .limit = -1};
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
    } else if (o.format != CLI_FMT_TABLE) {
        rc = cohorts_rows(r, &o);
    } else {
        rc = cohorts_table(r, o.segment, o.offset, o.limit);
    }
    cw_cohorts_free(r);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}

/* ---- lifetime value ----------------------------------------------------- */

/* The LTV report's columns, described once; the terminal table shows
 * ltv_table_cols in its own order, the note last. */
enum {
    LT_SEGMENT,
    LT_MARGIN,
    LT_ACCOUNTS,
    LT_ACCOUNT_MONTHS,
    LT_MRR_SUM,
    LT_ARPA,
    LT_CUST_START,
    LT_CHURNS,
    LT_CHURN_PCT,
    LT_LTV,
    LT_KM_EVENTS,
    LT_KM_CENSORED,
    LT_KM_HORIZON,
    LT_KM_S,
    LT_LIFETIME,
    LT_LTV_SURV,
    LT_UNRELIABLE,
    LT_NOTE,
    LT_NCOLS
};
static const rf_col ltv_cols[LT_NCOLS] = {
    {"segment", RF_TEXT, 1, NULL, 0, "(all)", 0},
    {"gross_margin", RF_NUM, 0, NULL, 0, NULL, 0},
    {"accounts", RF_INT, 1, NULL, 0, NULL, 0},
    {"account_months", RF_INT, 0, NULL, 0, NULL, 0},
    {"mrr_sum", RF_MONEY, 0, NULL, 0, NULL, 0},
    {"arpa", RF_MONEY, 1, "ARPA", 0, NULL, 0},
    {"customers_start_sum", RF_INT, 0, NULL, 0, NULL, 0},
    {"churns", RF_INT, 1, NULL, 0, NULL, 0},
    {"monthly_logo_churn_pct", RF_PCT, 1, "churn %/mo", 2, NULL, 0},
    {"ltv", RF_MONEY, 1, "LTV", 0, NULL, 0},
    {"km_events", RF_INT, 0, NULL, 0, NULL, 0},
    {"km_censored", RF_INT, 0, NULL, 0, NULL, 0},
    {"km_horizon_months", RF_INT, 1, "horizon (mo)", 0, NULL, 0},
    {"km_survival_at_horizon", RF_NUM, 1, "S(horizon)", 3, NULL, 0},
    {"lifetime_months", RF_NUM, 1, "KM life (mo)", 2, NULL, 0},
    {"ltv_survival", RF_MONEY, 1, "LTV (survival)", 0, NULL, 0},
    {"unreliable", RF_BOOL, 0, NULL, 0, NULL, 0},
    {"note", RF_TEXT, 1 | RF_TABLE_ONLY, NULL, 0, "", 0},
};
static const int ltv_table_cols[] = {LT_SEGMENT,  LT_ACCOUNTS,   LT_CHURNS,   LT_CHURN_PCT,
                                     LT_ARPA,     LT_LTV,        LT_LIFETIME, LT_KM_S,
                                     LT_LTV_SURV, LT_KM_HORIZON, LT_NOTE};

/* One row per segment; 0, or -1 when out of memory. */
static int ltv_rows(const cw_ltv_report *r, rf_report *out)
{
    if (rf_report_init(out, ltv_cols, LT_NCOLS, r->nsegments, r->currency) != 0)
        return -1;
    out->left_last = 1;
    for (int i = 0; i < r->nsegments; i++) {
        const cw_ltv_segment *g = &r->segments[i];
        if (!g->all)
            rf_set_text(out, i, LT_SEGMENT, g->segment);
        rf_set_num(out, i, LT_MARGIN, r->gross_margin);
        rf_set_int(out, i, LT_ACCOUNTS, g->accounts);
        rf_set_int(out, i, LT_ACCOUNT_MONTHS, g->account_months);
        rf_set_money(out, i, LT_MRR_SUM, g->mrr_sum_minor);
        rf_set_money_d(out, i, LT_ARPA, g->arpa_minor);
        rf_set_int(out, i, LT_CUST_START, g->customers_start_sum);
        rf_set_int(out, i, LT_CHURNS, g->churns);
        rf_set_num(out, i, LT_CHURN_PCT, g->churn_pct);
        rf_set_money_d(out, i, LT_LTV, g->ltv_minor);
        rf_set_int(out, i, LT_KM_EVENTS, g->km_events);
        rf_set_int(out, i, LT_KM_CENSORED, g->km_censored);
        rf_set_int(out, i, LT_KM_HORIZON, g->km_horizon_months);
        rf_set_num(out, i, LT_KM_S, g->km_survival_at_horizon);
        rf_set_num(out, i, LT_LIFETIME, g->lifetime_months);
        rf_set_money_d(out, i, LT_LTV_SURV, g->ltv_survival_minor);
        rf_set_bool(out, i, LT_UNRELIABLE, g->unreliable);
        char note[RF_CELL];
        if (g->unreliable)
            snprintf(note, sizeof note, "unreliable: %" PRId64 " churns < %d", g->churns,
                     CW_LTV_MIN_CHURNS);
        else if (g->km_survival_at_horizon > 0)
            snprintf(note, sizeof note, "KM life is a lower bound");
        else
            note[0] = '\0';
        rf_set_text(out, i, LT_NOTE, note);
    }
    return 0;
}

static void ltv_table(const cw_ltv_report *r, const rf_report *rows)
{
    printf("Customer lifetime value, %04d-%02d .. %04d-%02d, gross margin %.2f (money in %s; "
           "LTV = ARPA x margin / monthly logo churn; survival LTV = Kaplan-Meier lifetime x "
           "ARPA x margin)\n\n",
           r->start_year, r->start_month, r->end_year, r->end_month, r->gross_margin, r->currency);
    int flagged = 0, bounded = 0;
    for (int i = 0; i < r->nsegments; i++) {
        flagged += r->segments[i].unreliable != 0;
        bounded += r->segments[i].km_survival_at_horizon > 0;
    }
    rf_report_table_cols(rows, ltv_table_cols,
                         (int)(sizeof ltv_table_cols / sizeof ltv_table_cols[0]), 0, rows->nrows,
                         NULL);
    if (flagged)
        printf("\n%d of %d rows have fewer than %d churns: their estimates are too uncertain to "
               "act on.\n",
               flagged, r->nsegments, CW_LTV_MIN_CHURNS);
    if (bounded)
        printf(
            "S(horizon) > 0: some accounts outlived the data, so the KM lifetime (the sum of the "
            "survival curve up to the horizon) and its LTV are lower bounds.\n");
}

int report_ltv(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    rep_opts o = {.months = 12, .margin = 0.8, .format = CLI_FMT_TABLE, .limit = -1};
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
    } else {
        rf_report rows;
        if (ltv_rows(r, &rows) != 0) {
            cli_error("report: out of memory");
            rc = EXIT_INTERNAL;
        } else if (o.format == CLI_FMT_TABLE) {
            ltv_table(r, &rows);
        } else {
            char margin[32], from[16], to[16], minc[16];
            snprintf(margin, sizeof margin, "%.4f", r->gross_margin);
            snprintf(from, sizeof from, "%04d-%02d", r->start_year % 10000, r->start_month % 100);
            snprintf(to, sizeof to, "%04d-%02d", r->end_year % 10000, r->end_month % 100);
            snprintf(minc, sizeof minc, "%d", CW_LTV_MIN_CHURNS);
            const rf_meta meta[] = {{"report", "ltv", 0},        {"currency", r->currency, 0},
                                    {"gross_margin", margin, 1}, {"segment", o.segment, 0},
                                    {"from", from, 0},           {"to", to, 0},
                                    {"min_churns", minc, 1}};
            rf_report_emit(&rows, (int)o.format, meta, 7, "segments", o.offset, o.limit);
        }
        rf_report_free(&rows);
    }
    cw_ltv_free(r);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
