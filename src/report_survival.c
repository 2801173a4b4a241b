/*
 * report_survival.c — `churnwatch report survival`: Kaplan–Meier retention
 * curves of customer lifetimes by segment or start cohort. The terminal gets
 * a summary (median lifetime and its interval) and survival at 1, 3, 6, 12,
 * 18 and 24 months with the band; CSV gets every point of every curve; JSON
 * gets both plus the log-rank test, in the shape docs/revenue-survival.md
 * documents for the dashboard.
 */
#define _POSIX_C_SOURCE 200809L
#include "report_survival.h"
#include "core/json.h"

#include "cli.h"
#include "report_fmt.h"
#include "churnwatch.h"

#include <getopt.h> /* optarg, optind */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CELL 80 /* a group name (72 bytes) fits */

static const char *by_name(cw_survival_by by)
{
    return by == CW_SURVIVAL_BY_SEGMENT  ? "segment"
           : by == CW_SURVIVAL_BY_COHORT ? "cohort"
                                         : "none";
}

/* A number for CSV (empty when undefined) or JSON (null), round-trip exact
 * enough for plotting and stable across runs. */
static void num(FILE *f, double v)
{
    if (isfinite(v))
        cw_json_fnum_sig(f, v, 10); /* ten digits, never an exponent */
    else
        fputs("null", f);
}

/* The json document's fields beside the curve rows: each group's summary
 * (medians, milestones) and the log-rank test, as JSON text in *groups and
 * *logrank (malloc'd); -1 when out of memory. */
static int write_summary(const cw_survival_report *r, char **groups, char **logrank)
{
    size_t n;
    FILE *f = open_memstream(groups, &n);
    if (!f)
        return -1;
    fputc('[', f);
    for (int i = 0; i < r->ngroups; i++) {
        const cw_survival_group *g = &r->groups[i];
        fprintf(f, "%s{\"group\":", i ? "," : "");
        cw_json_fstrz(f, g->name);
        fprintf(f,
                ",\"accounts\":%" PRId64 ",\"events\":%" PRId64 ",\"censored\":%" PRId64
                ",\"median\":",
                g->accounts, g->events, g->censored);
        num(f, g->median);
        fputs(",\"median_lower\":", f);
        num(f, g->median_lower);
        fputs(",\"median_upper\":", f);
        num(f, g->median_upper);
        fputs(",\"milestones\":[", f);
        for (int m = 0; m < CW_SURVIVAL_NMILESTONES; m++) {
            const cw_survival_milestone *ms = &g->milestones[m];
            fprintf(f, "%s{\"months\":%d,\"observed\":%s,\"at_risk\":%" PRId64 ",\"survival\":",
                    m ? "," : "", ms->months, ms->observed ? "true" : "false", ms->at_risk);
            num(f, ms->survival);
            fputs(",\"lower\":", f);
            num(f, ms->lower);
            fputs(",\"upper\":", f);
            num(f, ms->upper);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputc(']', f);
    if (fclose(f) != 0)
        return -1;
    f = open_memstream(logrank, &n);
    if (!f)
        return -1;
    if (!r->logrank_computed) {
        fputs("null", f);
    } else {
        fputs("{\"chi2\":", f);
        num(f, r->logrank_chi2);
        fprintf(f, ",\"df\":%d,\"p\":", r->logrank_df);
        num(f, r->logrank_p);
        fputs(",\"groups\":[", f);
        for (int i = 0; i < r->ngroups; i++) {
            fprintf(f, "%s{\"group\":", i ? "," : "");
            cw_json_fstrz(f, r->groups[i].name);
            fputs(",\"observed\":", f);
            num(f, r->groups[i].logrank_observed);
            fputs(",\"expected\":", f);
            num(f, r->groups[i].logrank_expected);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    return fclose(f) != 0 ? -1 : 0;
}

static void fmt_t(double v, int unit_months, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "not reached");
    else
        snprintf(buf, n, unit_months ? "%.1f" : "%.0f", v);
}

static int write_table(const cw_survival_report *r, const char *segment)
{
    const char *unit = r->unit_months ? "months" : "days";
    char end[32];
    cw_time_format(r->data_end_unix, CW_TIME_TIMESTAMP, end, sizeof end);
    char by[32] = "";
    if (r->by != CW_SURVIVAL_BY_NONE)
        snprintf(by, sizeof by, "by %s, ", by_name(r->by));
    printf("Customer survival (Kaplan-Meier), %s%s%s; lifetime = first paid subscription to "
           "churn, censored at the data end %s",
           by, segment ? "segment " : "all segments", segment ? segment : "", end);
    if (r->horizon > 0)
        printf(" or at %g %s", r->horizon, unit);
    printf("; %g%% log-log bands\n\n", 100.0 * r->confidence);
    enum { NS = 6 };
    char h_med[40], h_lo[40], h_hi[40];
    snprintf(h_med, sizeof h_med, "median (%s)", unit);
    snprintf(h_lo, sizeof h_lo, "%g%% CI low", 100.0 * r->confidence);
    snprintf(h_hi, sizeof h_hi, "%g%% CI high", 100.0 * r->confidence);
    const char *const head[NS] = {"group", "accounts", "churns", "censored", h_med, h_lo};
    const char *const head7[NS + 1] = {head[0], head[1], head[2], head[3], head[4], head[5], h_hi};
    int n = r->ngroups;
    char(*cells)[CELL] = calloc((size_t)n * (CW_SURVIVAL_NMILESTONES + 1), CELL);
    if (!cells)
        return EXIT_INTERNAL;
    for (int i = 0; i < n; i++) {
        const cw_survival_group *g = &r->groups[i];
        char(*row)[CELL] = &cells[(size_t)i * (NS + 1)];
        snprintf(row[0], CELL, "%s", g->name);
        snprintf(row[1], CELL, "%" PRId64, g->accounts);
        snprintf(row[2], CELL, "%" PRId64, g->events);
        snprintf(row[3], CELL, "%" PRId64, g->censored);
        fmt_t(g->median, r->unit_months, row[4], CELL);
        fmt_t(g->median_lower, r->unit_months, row[5], CELL);
        fmt_t(g->median_upper, r->unit_months, row[6], CELL);
    }
    rf_print_table(head7, NS + 1, &cells[0][0], CELL, NS + 1, n, 0);
    printf("\nSurvival S(t) with its band at t months (a month = %.4f days; '-' = beyond the "
           "group's follow-up)\n\n",
           CW_SURVIVAL_MONTH_DAYS);
    const char *mh[CW_SURVIVAL_NMILESTONES + 1] = {"group"};
    char mhb[CW_SURVIVAL_NMILESTONES][16];
    for (int m = 0; m < CW_SURVIVAL_NMILESTONES; m++) {
        snprintf(mhb[m], sizeof mhb[m], "%d mo", cw_survival_milestone_months[m]);
        mh[m + 1] = mhb[m];
    }
    for (int i = 0; i < n; i++) {
        const cw_survival_group *g = &r->groups[i];
        char(*row)[CELL] = &cells[(size_t)i * (CW_SURVIVAL_NMILESTONES + 1)];
        snprintf(row[0], CELL, "%s", g->name);
        for (int m = 0; m < CW_SURVIVAL_NMILESTONES; m++) {
            const cw_survival_milestone *ms = &g->milestones[m];
            if (!ms->observed)
                snprintf(row[m + 1], CELL, "-");
            else
                snprintf(row[m + 1], CELL, "%.3f (%.3f-%.3f)", ms->survival, ms->lower, ms->upper);
        }
    }
    rf_print_table(mh, CW_SURVIVAL_NMILESTONES + 1, &cells[0][0], CELL, CW_SURVIVAL_NMILESTONES + 1,
                   n, 0);
    free(cells);
    if (r->logrank_computed) {
        printf("\nLog-rank test across the %d groups: chi-square %.3f on %d df, p = %.4g "
               "(churns observed / expected if survival were equal:",
               r->ngroups, r->logrank_chi2, r->logrank_df, r->logrank_p);
        for (int i = 0; i < n; i++)
            printf("%s %s %.0f / %.2f", i ? "," : "", r->groups[i].name,
                   r->groups[i].logrank_observed, r->groups[i].logrank_expected);
        printf(")\n");
    } else if (n < 2) {
        printf("\nLog-rank test: not computed (one group)\n");
    } else {
        printf("\nLog-rank test: not computed (no churn while two groups were at risk)\n");
    }
    return 0;
}

/* The curve points of every group, one row each, for CSV and JSON Lines
 * (the report skeleton, report_fmt.h). */
static int write_rows(const cw_survival_report *r, const char *segment, cli_format format,
                      int64_t offset, int64_t limit)
{
    enum { GROUP, T, AT_RISK, EVENTS, CENSORED, SURV, SE, LOWER, UPPER, NC };
    const rf_col cols[NC] = {
        {"group", RF_TEXT, 0, NULL, 0, NULL, 0},
        {r->unit_months ? "t_months" : "t_days", RF_REAL, 0, NULL, 0, NULL, 0},
        {"at_risk", RF_INT, 0, NULL, 0, NULL, 0},
        {"events", RF_INT, 0, NULL, 0, NULL, 0},
        {"censored", RF_INT, 0, NULL, 0, NULL, 0},
        {"survival", RF_REAL, 0, NULL, 0, NULL, 0},
        {"se", RF_REAL, 0, NULL, 0, NULL, 0},
        {"lower", RF_REAL, 0, NULL, 0, NULL, 0},
        {"upper", RF_REAL, 0, NULL, 0, NULL, 0},
    };
    int64_t n = 0;
    for (int i = 0; i < r->ngroups; i++)
        n += r->groups[i].npoints;
    if (n > INT32_MAX)
        return EXIT_INTERNAL;
    rf_report rows;
    if (rf_report_init(&rows, cols, NC, (int)n, NULL) != 0)
        return EXIT_INTERNAL;
    int row = 0;
    for (int i = 0; i < r->ngroups; i++) {
        const cw_survival_group *g = &r->groups[i];
        for (int64_t k = 0; k < g->npoints; k++, row++) {
            const cw_survival_point *p = &g->points[k];
            rf_set_text(&rows, row, GROUP, g->name);
            rf_set_num(&rows, row, T, p->t);
            rf_set_int(&rows, row, AT_RISK, p->at_risk);
            rf_set_int(&rows, row, EVENTS, p->events);
            rf_set_int(&rows, row, CENSORED, p->censored);
            rf_set_num(&rows, row, SURV, p->survival);
            rf_set_num(&rows, row, SE, p->se);
            rf_set_num(&rows, row, LOWER, p->lower);
            rf_set_num(&rows, row, UPPER, p->upper);
        }
    }
    char *groups = NULL, *logrank = NULL;
    if (format == CLI_FMT_JSON && write_summary(r, &groups, &logrank) != 0) {
        free(groups);
        free(logrank);
        rf_report_free(&rows);
        return EXIT_INTERNAL;
    }
    char cm[16], conf[40], hz[40], end[32];
    snprintf(cm, sizeof cm, "%d", r->cohort_months);
    snprintf(conf, sizeof conf, "%.10g", r->confidence);
    snprintf(hz, sizeof hz, "%.10g", r->horizon);
    cw_time_format(r->data_end_unix, CW_TIME_TIMESTAMP, end, sizeof end);
    const rf_meta meta[] = {{"report", "survival", 0},
                            {"by", by_name(r->by), 0},
                            {"segment", segment, 0},
                            {"cohort_months", r->by == CW_SURVIVAL_BY_COHORT ? cm : NULL, 1},
                            {"unit", r->unit_months ? "months" : "days", 0},
                            {"confidence", conf, 1},
                            {"band", "log-log", 0},
                            {"horizon", r->horizon > 0 ? hz : NULL, 1},
                            {"data_end", end, 0},
                            {"groups", groups, 1},
                            {"logrank", logrank, 1}};
    rf_report_emit(&rows, (int)format, meta, 11, "rows", offset, limit);
    free(groups);
    free(logrank);
    rf_report_free(&rows);
    return 0;
}

/* Parses a positive number for opt; returns an exit code. */
static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        cli_error("%s %s: expected a number in [%g, %g]", opt, s, lo, hi);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int report_survival(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_survival_opts o;
    cw_survival_opts_init(&o);
    cli_format format = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "report", "survival", NULL)) != -1) {
        double v = 0.0;
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 's': o.segment = optarg; break;
        case 'b':
            if (strcmp(optarg, "segment") == 0)
                o.by = CW_SURVIVAL_BY_SEGMENT;
            else if (strcmp(optarg, "cohort") == 0)
                o.by = CW_SURVIVAL_BY_COHORT;
            else if (strcmp(optarg, "none") == 0)
                o.by = CW_SURVIVAL_BY_NONE;
            else {
                cli_error("--by %s: expected segment, cohort or none", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 'c':
            rc = parse_double("--cohort-months", optarg, 1, 12, &v);
            if (rc == 0 && (v != floor(v) || 12 % (int)v != 0)) {
                cli_error("--cohort-months %s: expected 1, 2, 3, 4, 6 or 12", optarg);
                rc = EXIT_USAGE;
            }
            o.cohort_months = (int)v;
            break;
        case 'u':
            if (strcmp(optarg, "days") == 0 || strcmp(optarg, "months") == 0)
                o.unit_months = optarg[0] == 'm';
            else {
                cli_error("--unit %s: expected days or months", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 'h': rc = parse_double("--horizon", optarg, 0, 1e6, &o.horizon); break;
        case 'C': rc = parse_double("--confidence", optarg, 0.5, 0.999, &o.confidence); break;
        case 'F': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &format); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("report survival: unexpected argument '%s'", argv[optind]);
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
    cw_survival_report *r = NULL;
    cw_status s = cw_survival_compute(st, &o, &r);
    if (s != CW_OK) {
        cli_error("%s", cw_store_why(st, s));
        rc = cli_exit_code(s);
    } else if (format != CLI_FMT_TABLE) {
        rc = write_rows(r, o.segment, format, offset, limit);
    } else {
        rc = write_table(r, o.segment);
    }
    cw_survival_free(r);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
