/*
 * cmd_status.c — `churnwatch status`: what the database holds, as a table
 * for people or JSON for scripts and tests; and `churnwatch quarantine
 * list`: the bad rows the daily run kept aside.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"
#include "core/mask.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>

int cmd_status(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int json = 0, c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "status", NULL, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
            if ((json = strcmp(optarg, "json") == 0))
                cli_stdout_data(); /* csv/json: exact bytes unless on a terminal */
        } else {
            if (c == 'f')
                cli_error("--format %s: expected table or json", optarg);
            rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("status: unexpected argument '%s'", argv[optind]);
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
    cw_status s;
    cw_store_summary sm;
    cw_quarantine_counts qc;
    s = cw_store_summarize(st, &sm);
    if (s == CW_OK)
        s = cw_quarantine_counts_get(st, &qc);
    char mrr[32] = ""; /* money in major units of the currency, exact */
    if (s == CW_OK)
        rf_major(sm.mrr_active_minor, cw_currency_exponent(sm.mrr_currency), mrr, sizeof mrr);
    if (s != CW_OK) {
        cli_error("%s", cw_store_why(st, s));
    } else if (json) {
        printf("{\"schema_version\":%d,\"rows\":{", cw_store_schema_version(st));
        for (int k = 1; k < CW_KIND__COUNT; k++)
            printf("%s\"%s\":%lld", k > 1 ? "," : "", cw_kind_get((cw_kind)k)->name,
                   (long long)sm.rows[k]);
        printf("},\"events\":%lld,\"event_names\":%lld,\"accounts_active\":%lld,"
               "\"accounts_churned\":%lld,\"users_active\":%lld,\"seats_active\":%lld,"
               "\"mrr_active\":%s,\"currency\":\"%s\",\"ingested_files\":%lld,",
               (long long)sm.events, (long long)sm.event_names, (long long)sm.accounts_active,
               (long long)sm.accounts_churned, (long long)sm.users_active,
               (long long)sm.seats_active, mrr, sm.mrr_currency, (long long)sm.ingested_files);
        printf("\"quarantined\":%lld,\"quarantined_last_run\":%lld}\n", (long long)qc.total,
               (long long)qc.last_run);
    } else {
        char d1[16], d2[16];
        char *db = cw_mask_secrets(NULL, cw_config_get(cfg, "store.db"));
        printf("database %s (schema %d)\n", db ? db : CW_MASK, cw_store_schema_version(st));
        free(db);
        printf("  accounts     %lld active, %lld churned\n", (long long)sm.accounts_active,
               (long long)sm.accounts_churned);
        printf("  seats        %lld licensed on active accounts; %lld users active\n",
               (long long)sm.seats_active, (long long)sm.users_active);
        printf("  MRR          %s %s on active accounts\n", mrr,
               sm.mrr_currency[0] == '*' ? "(mixed currencies)" : sm.mrr_currency);
        printf("  events       %lld on %lld account-days, %lld event names", (long long)sm.events,
               (long long)sm.event_days, (long long)sm.event_names);
        if (sm.events)
            printf(", %s .. %s", cw_time_format(sm.first_event_ts, CW_TIME_DATE, d1, sizeof d1),
                   cw_time_format(sm.last_event_ts, CW_TIME_DATE, d2, sizeof d2));
        printf("\n  rows by kind:\n");
        for (int k = 1; k < CW_KIND__COUNT; k++)
            printf("    %-20s %8lld%s\n", cw_kind_get((cw_kind)k)->name, (long long)sm.rows[k],
                   k == CW_KIND_EVENTS ? " account-days" : "");
        printf("  files ingested: %lld\n", (long long)sm.ingested_files);
        char at[32];
        printf("  quarantined: %lld bad row(s)", (long long)qc.total);
        if (qc.runs)
            printf(", %lld from the last run (%s)", (long long)qc.last_run,
                   cw_time_format(qc.last_run_at, CW_TIME_TIMESTAMP, at, sizeof at));
        printf("\n");
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}

typedef struct q_ctx {
    int format;   /* 0 table, 1 json, 2 csv, 3 jsonl */
    int64_t skip; /* --offset rows still to skip */
    int64_t n;
} q_ctx;

static cw_status print_q(const cw_quarantine_row *r, void *ud)
{
    q_ctx *x = ud;
    if (x->skip > 0) {
        x->skip--;
        return CW_OK;
    }
    char at[32];
    cw_time_format(r->run_at, CW_TIME_TIMESTAMP, at, sizeof at);
    if (x->format == 1 || x->format == 3) {
        printf("%s{\"id\":%lld,\"run_at\":\"%s\",\"file\":", x->n && x->format == 1 ? "," : "",
               (long long)r->id, at);
        rf_json_string(r->file);
        printf(",\"line\":%lld,\"field\":", (long long)r->line);
        rf_json_string(r->field);
        printf(",\"error\":");
        rf_json_string(r->error);
        printf(",\"record\":");
        rf_json_string(r->record);
        printf(x->format == 3 ? "}\n" : "}");
    } else if (x->format == 2) {
        printf("%lld,%s,", (long long)r->id, at);
        rf_csv_string(r->file);
        printf(",%lld,", (long long)r->line);
        rf_csv_string(r->field);
        printf(",");
        rf_csv_string(r->error);
        printf(",");
        rf_csv_string(r->record);
        printf("\n");
    } else {
        printf("%-6lld %-20s %s:%lld", (long long)r->id, at, r->file, (long long)r->line);
        if (r->field)
            printf(": field '%s'", r->field);
        printf(": %s\n", r->error);
        if (r->record && *r->record)
            printf("       %.200s\n", r->record);
    }
    x->n++;
    return CW_OK;
}

int cmd_quarantine(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "list") != 0) {
        return cli_unknown_sub("quarantine", argc < 2 ? NULL : argv[1]);
    }
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    q_ctx x = {0, 0, 0};
    int64_t limit = 50;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc - 1, argv + 1, "quarantine", NULL, NULL)) != -1) {
        if (c == 'd') {
            rc = cli_override(cfg, "store.db", optarg);
        } else if (c == 'f') {
            cli_format f;
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &f);
            x.format = f == CLI_FMT_JSON ? 1 : f == CLI_FMT_CSV ? 2 : f == CLI_FMT_JSONL ? 3 : 0;
        } else if (c == 'O') {
            rc = cli_parse_count("--offset", optarg, &x.skip);
        } else if (c == 'l') {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || v < 1) {
                cli_error("--limit %s: expected a positive integer", optarg);
                rc = EXIT_USAGE;
            }
            limit = v;
        } else {
            rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind + 1 < argc) {
        cli_error("quarantine list: unexpected argument '%s'", argv[optind + 1]);
        rc = EXIT_USAGE;
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 1, &st);
    if (rc == 0) {
        if (x.format == 1)
            printf("[");
        else if (x.format == 2)
            printf("id,run_at,file,line,field,error,record\n");
        cw_status s = cw_quarantine_list(st, limit + x.skip, print_q, &x);
        if (x.format == 1)
            printf("]\n");
        if (s != CW_OK) {
            cli_error("%s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else if (x.format == 0 && x.n == 0) {
            printf("quarantine: no rows\n");
        }
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
