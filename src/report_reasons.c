/*
 * report_reasons.c — `churnwatch report reasons|funnel|chain`: churn reasons
 * by cause and segment (with a post-mortem per churned account), the
 * See-Think-Do-Care journey funnel with acquisition costs, and the user →
 * seat → revenue churn chain. Aligned terminal tables (money in major units,
 * rates in %), CSV (money in minor units) or one JSON document, in the style
 * of `report revenue` (cmd_report.c); docs/revenue-reasons.md defines the
 * figures.
 */
#define _POSIX_C_SOURCE 200809L
#include "report_reasons.h"
#include "core/json.h"

#include "cli.h"
#include "report_fmt.h"
#include "churnwatch.h"

#include <getopt.h> /* optarg, optind */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NCOLS_MAX 13
#define CELL      48

/* The options the three reports share (not all apply to each). */
typedef struct rr_opts {
    const char *name;
    int from_month, to_month;
    const char *segment;
    cli_format format;
    int64_t offset, limit;
    int postmortem;
    const char *map; /* reasons: keyword=cause;... replacing the default map */
    cw_config *cfg;
} rr_opts;

/* Parses argv into o; which options are accepted depends on the report.
 * Returns an exit code; on success o->cfg is loaded (caller frees). */
static int parse_opts(int argc, char **argv, int with_segment, int with_reasons, rr_opts *o)
{
    memset(o, 0, sizeof *o);
    o->name = argv[0];
    o->from_month = o->to_month = -1;
    o->limit = -1;
    int rc = cli_load_config(NULL, &o->cfg);
    if (rc)
        return rc;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "report", argv[0], NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(o->cfg, "store.db", optarg); break;
        case 'f': rc = cli_parse_month("--from", optarg, &o->from_month); break;
        case 't': rc = cli_parse_month("--to", optarg, &o->to_month); break;
        case 'F': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &o->format); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &o->limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &o->offset); break;
        case 's':
            if (!with_segment) {
                cli_error("report %s: --segment does not apply (journey rows have no segment)",
                          o->name);
                rc = EXIT_USAGE;
            }
            o->segment = optarg;
            break;
        case 'p':
        case 'm':
            if (!with_reasons) {
                cli_error("report %s: --%s applies to report reasons only", o->name,
                          c == 'p' ? "postmortem" : "map");
                rc = EXIT_USAGE;
            }
            if (c == 'p')
                o->postmortem = 1;
            else
                o->map = optarg;
            break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("report %s: unexpected argument '%s'", o->name, argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && o->from_month >= 0 && o->to_month >= 0 && o->to_month < o->from_month) {
        cli_error("report %s: --to is before --from", o->name);
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(o->cfg);
        o->cfg = NULL;
    }
    return rc;
}

static int report_error(cw_store *st, cw_status s)
{
    cli_error("%s", cw_store_why(st, s));
    return cli_exit_code(s);
}

/* The churned accounts as a JSON array (the json document's `accounts`
 * beside the rows of totals), malloc'd; NULL when out of memory. */
static char *accounts_json(const cw_reasons_report *r)
{
    int exp = cw_currency_exponent(r->currency);
    char *buf = NULL;
    size_t n;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    fputc('[', f);
    for (int64_t i = 0; i < r->naccounts; i++) {
        const cw_churned_account *a = &r->accounts[i];
        char day[32], major[32];
        fprintf(f, "%s{\"account_id\":", i ? "," : "");
        cw_json_fstrz(f, a->account_id);
        fputs(",\"segment\":", f);
        cw_json_fstrz(f, a->segment);
        fprintf(f, ",\"churn_date\":\"%s\",\"cause\":\"%s\",\"reason_source\":",
                cw_time_format(a->churn_ts_unix, CW_TIME_DATE, day, sizeof day),
                cw_churn_cause_name(a->cause));
        cw_json_fstrz(f, !a->reason              ? NULL
                         : a->reason_from_survey ? "exit_survey"
                                                 : "churn_reason");
        fputs(",\"reason\":", f);
        cw_json_fstrz(f, a->reason);
        rf_major(a->lost_mrr_minor, exp, major, sizeof major);
        fprintf(f, ",\"lost_mrr\":%s}", major);
    }
    fputc(']', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void range_label(const rr_opts *o, char *buf, size_t n)
{
    if (o->from_month < 0 && o->to_month < 0)
        snprintf(buf, n, "all months");
    else if (o->to_month < 0)
        snprintf(buf, n, "from %04d-%02d", o->from_month / 12, o->from_month % 12 + 1);
    else if (o->from_month < 0)
        snprintf(buf, n, "to %04d-%02d", o->to_month / 12, o->to_month % 12 + 1);
    else
        snprintf(buf, n, "%04d-%02d .. %04d-%02d", o->from_month / 12, o->from_month % 12 + 1,
                 o->to_month / 12, o->to_month % 12 + 1);
}

/* ---- reasons ----------------------------------------------------------- */

static void reasons_table(const cw_reasons_report *r, const rr_opts *o)
{
    int exp = cw_currency_exponent(r->currency);
    char range[64];
    range_label(o, range, sizeof range);
    printf("Churn reasons, churned %s, %s%s (%" PRId64 " accounts; lost MRR = MRR at the start "
           "of the churn month, in %s)\n\n",
           range, o->segment ? "segment " : "all segments", o->segment ? o->segment : "",
           r->total.accounts, r->currency[0] ? r->currency : "-");
    static const char *const h[] = {"cause", "accounts", "% accounts", "lost MRR", "% lost MRR"};
    char cells[CW_CAUSE__COUNT + 3][NCOLS_MAX][CELL];
    const cw_reasons_cell *rows[CW_CAUSE__COUNT + 3];
    const char *names[CW_CAUSE__COUNT + 3];
    for (int c = 0; c < CW_CAUSE__COUNT; c++)
        rows[c] = &r->by_cause[c], names[c] = cw_churn_cause_name((cw_churn_cause)c);
    rows[5] = &r->avoidable, names[5] = "avoidable (first three)";
    rows[6] = &r->unavoidable, names[6] = "unavoidable (natural)";
    rows[7] = &r->total, names[7] = "total";
    for (int i = 0; i < CW_CAUSE__COUNT + 3; i++) {
        snprintf(cells[i][0], CELL, "%s", names[i]);
        snprintf(cells[i][1], CELL, "%" PRId64, rows[i]->accounts);
        rf_rate(r->total.accounts ? 100.0 * (double)rows[i]->accounts / (double)r->total.accounts
                                  : (double)NAN,
                "%.1f", cells[i][2], CELL);
        rf_money(rows[i]->lost_mrr_minor, exp, cells[i][3], CELL);
        rf_rate(r->total.lost_mrr_minor
                    ? 100.0 * (double)rows[i]->lost_mrr_minor / (double)r->total.lost_mrr_minor
                    : (double)NAN,
                "%.1f", cells[i][4], CELL);
    }
    rf_print_table(h, 5, &cells[0][0][0], CELL, NCOLS_MAX, CW_CAUSE__COUNT + 3, 0);

    printf("\nBy segment (accounts / lost MRR)\n\n");
    static const char *const h2[] = {"segment",         "bad_service", "bad_onboarding",
                                     "lack_of_success", "natural",     "unclassified"};
    char(*sc)[NCOLS_MAX][CELL] = calloc((size_t)r->nsegments + 1, sizeof *sc);
    if (!sc)
        return;
    for (int g = 0; g < r->nsegments; g++) {
        snprintf(sc[g][0], CELL, "%.*s", CELL - 1, r->segments[g].segment);
        for (int c = 0; c < CW_CAUSE__COUNT; c++) {
            char m[CELL];
            rf_money(r->segments[g].by_cause[c].lost_mrr_minor, exp, m, sizeof m);
            snprintf(sc[g][c + 1], CELL, "%" PRId64 " / %.24s", r->segments[g].by_cause[c].accounts,
                     m);
        }
    }
    rf_print_table(h2, 6, &sc[0][0][0], CELL, NCOLS_MAX, r->nsegments, 0);
    free(sc);

    if (!o->postmortem)
        return;
    printf("\nPost-mortem per churned account\n");
    /* --offset/--limit select the same accounts as in csv and json */
    int64_t end =
        o->limit >= 0 && o->offset + o->limit < r->naccounts ? o->offset + o->limit : r->naccounts;
    for (int64_t i = o->offset; i < end; i++) {
        const cw_churned_account *a = &r->accounts[i];
        char day[32], m[CELL];
        rf_money(a->lost_mrr_minor, exp, m, sizeof m);
        printf("\n%s (%s) churned %s, lost MRR %s %s\n", a->account_id, a->segment,
               cw_time_format(a->churn_ts_unix, CW_TIME_DATE, day, sizeof day), m, r->currency);
        printf("  reason: %s%s%s (%s) -> %s\n", a->reason ? "\"" : "",
               a->reason ? a->reason : "none recorded", a->reason ? "\"" : "",
               a->reason_from_survey ? "exit survey" : "accounts.churn_reason",
               cw_churn_cause_name(a->cause));
        if (a->snapshot_day < 0) {
            printf("  metrics: no snapshot before churn\n");
        } else {
            printf("  metrics at %s:",
                   cw_time_format(a->snapshot_day * 86400, CW_TIME_DATE, day, sizeof day));
            for (int k = 0; k < CW_POSTMORTEM_NMETRICS; k++) {
                if (isnan(a->metrics[k]))
                    printf(" %s -", cw_postmortem_metric_name(k));
                else
                    printf(" %s %.2f", cw_postmortem_metric_name(k), a->metrics[k]);
                printf(k + 1 < CW_POSTMORTEM_NMETRICS ? "," : "\n");
            }
        }
        printf("  alerts/scores: not available yet\n");
    }
}

/* The reasons report's rows for CSV and JSON Lines: the lost MRR by cause
 * (segment "all", then avoidable, unavoidable, total, then by segment), or
 * with --postmortem one row per churned account with its last metrics. */
static const rf_col reasons_cols[] = {
    {"segment", RF_TEXT, 0, NULL, 0, NULL, 0},      {"cause", RF_TEXT, 0, NULL, 0, NULL, 0},
    {"currency", RF_CURRENCY, 0, NULL, 0, NULL, 0}, {"accounts", RF_INT, 0, NULL, 0, NULL, 0},
    {"lost_mrr", RF_MONEY, 0, NULL, 0, NULL, 0},
};

static void reasons_cell(rf_report *out, int row, const char *segment, const char *cause,
                         const cw_reasons_cell *c)
{
    rf_set_text(out, row, 0, segment);
    rf_set_text(out, row, 1, cause);
    rf_set_int(out, row, 3, c->accounts);
    rf_set_money(out, row, 4, c->lost_mrr_minor);
}

enum {
    PM_ACCOUNT,
    PM_SEGMENT,
    PM_DATE,
    PM_CAUSE,
    PM_SOURCE,
    PM_REASON,
    PM_CURRENCY,
    PM_LOST,
    PM_SNAPSHOT,
    PM_METRICS
};

static int reasons_rows(const cw_reasons_report *r, const rr_opts *o)
{
    rf_report rows;
    if (o->postmortem) {
        enum { NC = PM_METRICS + CW_POSTMORTEM_NMETRICS + 1 };
        rf_col cols[NC] = {
            {"account_id", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"segment", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"churn_date", RF_DATE, 0, NULL, 0, NULL, 0},
            {"cause", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"reason_source", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"reason", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"currency", RF_CURRENCY, 0, NULL, 0, NULL, 0},
            {"lost_mrr", RF_MONEY, 0, NULL, 0, NULL, 0},
            {"snapshot_date", RF_DATE, 0, NULL, 0, NULL, 0},
        };
        for (int k = 0; k < CW_POSTMORTEM_NMETRICS; k++)
            cols[PM_METRICS + k] =
                (rf_col){cw_postmortem_metric_name(k), RF_NUM, 0, NULL, 0, NULL, 0};
        cols[NC - 1] = (rf_col){"alerts_scores", RF_TEXT, 0, NULL, 0, NULL, 0};
        if (rf_report_init(&rows, cols, NC, (int)r->naccounts, r->currency) != 0)
            return EXIT_INTERNAL;
        for (int i = 0; i < (int)r->naccounts; i++) {
            const cw_churned_account *a = &r->accounts[i];
            rf_set_text(&rows, i, PM_ACCOUNT, a->account_id);
            rf_set_text(&rows, i, PM_SEGMENT, a->segment);
            /* a day: the time of day is not part of a churn date */
            rf_set_date(&rows, i, PM_DATE, a->churn_ts_unix / 86400);
            rf_set_text(&rows, i, PM_CAUSE, cw_churn_cause_name(a->cause));
            rf_set_text(&rows, i, PM_SOURCE,
                        !a->reason              ? NULL
                        : a->reason_from_survey ? "exit_survey"
                                                : "churn_reason");
            rf_set_text(&rows, i, PM_REASON, a->reason);
            rf_set_money(&rows, i, PM_LOST, a->lost_mrr_minor);
            rf_set_date(&rows, i, PM_SNAPSHOT, a->snapshot_day);
            for (int k = 0; k < CW_POSTMORTEM_NMETRICS; k++)
                rf_set_num(&rows, i, PM_METRICS + k, a->metrics[k]);
            rf_set_text(&rows, i, NC - 1, "not available yet");
        }
        const rf_meta meta[] = {{"report", "reasons", 0}, {"segment", o->segment, 0}};
        rf_report_emit(&rows, (int)o->format, meta, 2, "rows", o->offset, o->limit);
        rf_report_free(&rows);
        return 0;
    }
    int n = CW_CAUSE__COUNT + 3 + r->nsegments * CW_CAUSE__COUNT, i = 0;
    if (rf_report_init(&rows, reasons_cols, 5, n, r->currency) != 0)
        return EXIT_INTERNAL;
    for (int c = 0; c < CW_CAUSE__COUNT; c++)
        reasons_cell(&rows, i++, "all", cw_churn_cause_name((cw_churn_cause)c), &r->by_cause[c]);
    reasons_cell(&rows, i++, "all", "avoidable", &r->avoidable);
    reasons_cell(&rows, i++, "all", "unavoidable", &r->unavoidable);
    reasons_cell(&rows, i++, "all", "total", &r->total);
    for (int g = 0; g < r->nsegments; g++)
        for (int c = 0; c < CW_CAUSE__COUNT; c++)
            reasons_cell(&rows, i++, r->segments[g].segment, cw_churn_cause_name((cw_churn_cause)c),
                         &r->segments[g].by_cause[c]);
    char *accounts = NULL;
    if (o->format == CLI_FMT_JSON && !(accounts = accounts_json(r))) {
        rf_report_free(&rows);
        return EXIT_INTERNAL;
    }
    const rf_meta meta[] = {
        {"report", "reasons", 0}, {"segment", o->segment, 0}, {"accounts", accounts, 1}};
    rf_report_emit(&rows, (int)o->format, meta, 3, "rows", o->offset, o->limit);
    free(accounts);
    rf_report_free(&rows);
    return 0;
}

int report_reasons(int argc, char **argv)
{
    rr_opts o;
    int rc = parse_opts(argc, argv, 1, 1, &o);
    if (rc)
        return rc;
    cw_reasons_opts ro;
    cw_reasons_opts_init(&ro);
    ro.from_month = o.from_month;
    ro.to_month = o.to_month;
    ro.segment = o.segment;
    ro.postmortem = o.postmortem;
    cw_reason_rule *map = NULL;
    int nmap = 0;
    /* --map wins over the configuration's reports.reason_map */
    const char *cfg_map = cw_config_get(o.cfg, "reports.reason_map");
    if (!o.map && cfg_map && *cfg_map)
        o.map = cfg_map;
    if (o.map) {
        cw_error err;
        cw_status s = cw_reasons_map_parse(o.map, &map, &nmap, &err);
        if (s != CW_OK) {
            cli_error("%s: %s", o.map == cfg_map ? "reports.reason_map" : "--map", err.msg);
            cw_config_free(o.cfg);
            return cli_exit_code(s);
        }
        ro.rules = map;
        ro.nrules = nmap;
    }
    cw_store *st = NULL;
    rc = cli_open_store(o.cfg, 1, &st);
    if (rc == 0) {
        cw_reasons_report *r = NULL;
        cw_status s = cw_reasons_compute(st, &ro, &r);
        if (s != CW_OK)
            rc = report_error(st, s);
        else if (o.format != CLI_FMT_TABLE)
            rc = reasons_rows(r, &o);
        else
            reasons_table(r, &o);
        cw_reasons_free(r);
        cw_store_close(st);
    }
    cw_reasons_map_free(map, nmap);
    cw_config_free(o.cfg);
    return rc;
}

/* ---- funnel ------------------------------------------------------------ */

/* The funnel's rows (by source, by month, the total), described once. */
enum {
    FU_BY,
    FU_KEY,
    FU_VISIT,
    FU_LEAD,
    FU_REG,
    FU_PAID,
    FU_UPGRADE,
    FU_VISIT_REG,
    FU_REG_PAID,
    FU_PAID_UPG,
    FU_CURRENCY,
    FU_COST,
    FU_PER_LEAD,
    FU_PER_CUSTOMER,
    FU_NCOLS
};
static const rf_col funnel_cols[FU_NCOLS] = {
    {"by", RF_TEXT, 0, NULL, 0, NULL, 0},
    {"key", RF_TEXT, 1, NULL, 0, NULL, 0},
    {"visit", RF_INT, 1, NULL, 0, NULL, 0},
    {"lead", RF_INT, 1, NULL, 0, NULL, 0},
    {"registration", RF_INT, 1, NULL, 0, NULL, 0},
    {"paid", RF_INT, 1, NULL, 0, NULL, 0},
    {"upgrade", RF_INT, 1, NULL, 0, NULL, 0},
    {"visit_to_registration_pct", RF_PCT, 1, "visit->reg %", 1, NULL, 0},
    {"registration_to_paid_pct", RF_PCT, 1, "reg->paid %", 1, NULL, 0},
    {"paid_to_upgrade_pct", RF_PCT, 1, "paid->upg %", 1, NULL, 0},
    {"currency", RF_CURRENCY, 0, NULL, 0, NULL, 0},
    {"cost", RF_MONEY, 1, NULL, 0, NULL, 0},
    {"cost_per_lead", RF_MONEY, 1, "per lead", 0, NULL, 0},
    {"acquisition_cost", RF_MONEY, 1, "per customer", 0, NULL, 0},
};

static void funnel_row(rf_report *out, int i, const char *by, const cw_funnel_row *r)
{
    rf_set_text(out, i, FU_BY, by);
    rf_set_text(out, i, FU_KEY, r->key);
    for (int s = 0; s < CW_STAGE__COUNT; s++)
        rf_set_int(out, i, FU_VISIT + s, r->visitors[s]);
    rf_set_num(out, i, FU_VISIT_REG, r->visit_to_registration_pct);
    rf_set_num(out, i, FU_REG_PAID, r->registration_to_paid_pct);
    rf_set_num(out, i, FU_PAID_UPG, r->paid_to_upgrade_pct);
    if (r->cost_rows)
        rf_set_money(out, i, FU_COST, r->cost_minor);
    rf_set_money_d(out, i, FU_PER_LEAD, r->cost_per_lead_minor);
    rf_set_money_d(out, i, FU_PER_CUSTOMER, r->acquisition_cost_minor);
}

/* Rows: the sources, the months, then the total. */
static int funnel_report(const cw_funnel_report *r, rf_report *out)
{
    if (rf_report_init(out, funnel_cols, FU_NCOLS, r->nsources + r->nmonths + 1, r->currency) != 0)
        return -1;
    int i = 0;
    for (int k = 0; k < r->nsources; k++)
        funnel_row(out, i++, "source", &r->sources[k]);
    for (int k = 0; k < r->nmonths; k++)
        funnel_row(out, i++, "month", &r->months[k]);
    funnel_row(out, i, "total", &r->total);
    return 0;
}

int report_funnel(int argc, char **argv)
{
    rr_opts o;
    int rc = parse_opts(argc, argv, 0, 0, &o);
    if (rc)
        return rc;
    cw_funnel_opts fo;
    cw_funnel_opts_init(&fo);
    fo.from_month = o.from_month;
    fo.to_month = o.to_month;
    cw_store *st = NULL;
    rc = cli_open_store(o.cfg, 1, &st);
    if (rc) {
        cw_config_free(o.cfg);
        return rc;
    }
    cw_funnel_report *r = NULL;
    cw_status s = cw_funnel_compute(st, &fo, &r);
    if (s != CW_OK) {
        rc = report_error(st, s);
    } else {
        rf_report rows;
        if (funnel_report(r, &rows) != 0) {
            rc = EXIT_INTERNAL;
        } else if (o.format == CLI_FMT_TABLE) {
            char range[64];
            range_label(&o, range, sizeof range);
            printf("Journey funnel (See-Think-Do-Care), visitors first seen %s (distinct visitors "
                   "per stage; rates in %%; costs in %s, '-' = none given)\n\n",
                   range, r->currency[0] ? r->currency : "-");
            int cols[FU_NCOLS], n = 0;
            for (int c = 0; c < FU_NCOLS; c++)
                if (funnel_cols[c].tables & 1)
                    cols[n++] = c;
            rf_report_table_cols(&rows, cols, n, 0, r->nsources, "source");
            putchar('\n');
            rf_report_table_cols(&rows, cols, n, r->nsources, r->nmonths, "month");
            putchar('\n');
            rf_report_table_cols(&rows, cols, n, r->nsources + r->nmonths, 1, "total");
        } else {
            const rf_meta meta[] = {{"report", "funnel", 0}, {"currency", r->currency, 0}};
            rf_report_emit(&rows, (int)o.format, meta, 2, "rows", o.offset, o.limit);
        }
        rf_report_free(&rows);
    }
    cw_funnel_free(r);
    cw_store_close(st);
    cw_config_free(o.cfg);
    return rc;
}

/* ---- chain ------------------------------------------------------------- */

/* Whether a subscription change followed the account's first user loss. */
static int has_change(const cw_chain_account *a)
{
    return a->outcome != CW_CHAIN_NO_CHANGE && a->outcome != CW_CHAIN_NOT_PAYING;
}

/* The chain report's accounts, described once. */
enum {
    CN_ACCOUNT,
    CN_SEGMENT,
    CN_USERS_START,
    CN_USERS_LOST,
    CN_FIRST_LOSS,
    CN_NEXT_CHANGE,
    CN_OUTCOME,
    CN_SEATS_BEFORE,
    CN_SEATS_AFTER,
    CN_SEATS_LOST,
    CN_CURRENCY,
    CN_MRR_BEFORE,
    CN_MRR_AFTER,
    CN_MRR_LOST,
    CN_NCOLS
};
static const rf_col chain_cols[CN_NCOLS] = {
    {"account_id", RF_TEXT, 1, "account", 0, NULL, 0},
    {"segment", RF_TEXT, 1, NULL, 0, NULL, 0},
    {"users_start", RF_INT, 1, "users start", 0, NULL, 0},
    {"users_lost", RF_INT, 1, "users lost", 0, NULL, 0},
    {"first_loss", RF_TIME, 1, "first loss", 0, NULL, 0},
    {"next_change", RF_TIME, 1, "next change", 0, NULL, 0},
    {"outcome", RF_TEXT, 1, NULL, 0, NULL, 0},
    {"seats_before", RF_INT, 1, "seats before", 0, NULL, 0},
    {"seats_after", RF_INT, 1, "seats after", 0, NULL, 0},
    {"seats_lost", RF_INT, 1, "seats lost", 0, NULL, 0},
    {"currency", RF_CURRENCY, 0, NULL, 0, NULL, 0},
    {"mrr_before", RF_MONEY, 0, NULL, 0, NULL, 0},
    {"mrr_after", RF_MONEY, 0, NULL, 0, NULL, 0},
    {"mrr_lost", RF_MONEY, 1, "MRR lost", 0, NULL, 0},
};

static int chain_rows(const cw_chain_report *r, rf_report *out)
{
    if (rf_report_init(out, chain_cols, CN_NCOLS, (int)r->naccounts, r->currency) != 0)
        return -1;
    for (int i = 0; i < (int)r->naccounts; i++) {
        const cw_chain_account *a = &r->accounts[i];
        rf_set_text(out, i, CN_ACCOUNT, a->account_id);
        rf_set_text(out, i, CN_SEGMENT, a->segment);
        rf_set_int(out, i, CN_USERS_START, a->users_start);
        rf_set_int(out, i, CN_USERS_LOST, a->users_lost);
        rf_set_time(out, i, CN_FIRST_LOSS, a->first_loss_ts_unix);
        if (has_change(a))
            rf_set_time(out, i, CN_NEXT_CHANGE, a->change_ts_unix);
        rf_set_text(out, i, CN_OUTCOME, cw_chain_outcome_name(a->outcome));
        rf_set_int(out, i, CN_SEATS_BEFORE, a->seats_before);
        rf_set_int(out, i, CN_SEATS_AFTER, a->seats_after);
        rf_set_int(out, i, CN_SEATS_LOST, a->seats_lost);
        rf_set_money(out, i, CN_MRR_BEFORE, a->mrr_before_minor);
        rf_set_money(out, i, CN_MRR_AFTER, a->mrr_after_minor);
        rf_set_money(out, i, CN_MRR_LOST, a->mrr_lost_minor);
    }
    return 0;
}

int report_chain(int argc, char **argv)
{
    rr_opts o;
    int rc = parse_opts(argc, argv, 1, 0, &o);
    if (rc)
        return rc;
    cw_chain_opts co;
    cw_chain_opts_init(&co);
    co.from_month = o.from_month;
    co.to_month = o.to_month;
    co.segment = o.segment;
    cw_store *st = NULL;
    rc = cli_open_store(o.cfg, 1, &st);
    if (rc) {
        cw_config_free(o.cfg);
        return rc;
    }
    cw_chain_report *r = NULL;
    cw_status s = cw_chain_compute(st, &co, &r);
    if (s != CW_OK) {
        rc = report_error(st, s);
        goto out;
    }
    rf_report rows;
    if (chain_rows(r, &rows) != 0) {
        rc = EXIT_INTERNAL;
        goto out;
    }
    if (o.format == CLI_FMT_TABLE) {
        char m[CELL];
        rf_money(r->mrr_lost_minor, rows.exp, m, sizeof m);
        char up[CELL];
        rf_rate(r->user_churn_pct, "%.1f %%", up, sizeof up);
        printf("User -> seat -> revenue churn, users lost %04d-%02d .. %04d-%02d, %s%s\n\n",
               r->from_month / 12, r->from_month % 12 + 1, r->to_month / 12, r->to_month % 12 + 1,
               o.segment ? "segment " : "all segments", o.segment ? o.segment : "");
        printf("users at start %" PRId64 ", lost %" PRId64 " (user churn %s); accounts that lost "
               "users %" PRId64 " (%" PRId64 " not paying then), then lost seats %" PRId64
               ", cancelled %" PRId64 "; seats lost %" PRId64 ", MRR lost %s %s\n\n",
               r->users_start, r->users_lost, up, r->accounts_with_user_loss,
               r->accounts_not_paying, r->accounts_seat_loss, r->accounts_cancelled, r->seats_lost,
               m, r->currency[0] ? r->currency : "");
        rf_report_table(&rows, 1);
    } else {
        char from[16], to[16], n[6][24], pct[32], lost[32];
        snprintf(from, sizeof from, "%04d-%02d", r->from_month / 12 % 10000,
                 r->from_month % 12 + 1);
        snprintf(to, sizeof to, "%04d-%02d", r->to_month / 12 % 10000, r->to_month % 12 + 1);
        const int64_t nv[] = {
            r->users_start,        r->users_lost,         r->accounts_with_user_loss,
            r->accounts_seat_loss, r->accounts_cancelled, r->accounts_not_paying};
        for (int k = 0; k < 6; k++)
            snprintf(n[k], sizeof n[k], "%" PRId64, nv[k]);
        snprintf(pct, sizeof pct, "%.4f", r->user_churn_pct);
        char seats[24];
        snprintf(seats, sizeof seats, "%" PRId64, r->seats_lost);
        rf_major(r->mrr_lost_minor, rows.exp, lost, sizeof lost);
        const rf_meta meta[] = {{"report", "chain", 0},
                                {"currency", r->currency, 0},
                                {"from", from, 0},
                                {"to", to, 0},
                                {"segment", o.segment, 0},
                                {"users_start", n[0], 1},
                                {"users_lost", n[1], 1},
                                {"user_churn_pct", isnan(r->user_churn_pct) ? NULL : pct, 1},
                                {"accounts_with_user_loss", n[2], 1},
                                {"accounts_seat_loss", n[3], 1},
                                {"accounts_cancelled", n[4], 1},
                                {"accounts_not_paying", n[5], 1},
                                {"seats_lost", seats, 1},
                                {"mrr_lost", lost, 1}};
        rf_report_emit(&rows, (int)o.format, meta, 14, "accounts", o.offset, o.limit);
    }
    rf_report_free(&rows);
out:
    cw_chain_free(r);
    cw_store_close(st);
    cw_config_free(o.cfg);
    return rc;
}
