/*
 * cmd_status.c — `churnwatch status`: what the database holds, as a table
 * for people or JSON for scripts and tests.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int json = 0, c;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
            json = strcmp(optarg, "json") == 0;
        else {
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
    s = cw_store_summarize(st, &sm);
    if (s != CW_OK) {
        cli_error("%s", cw_store_errmsg(st));
    } else if (json) {
        printf("{\"schema_version\":%d,\"rows\":{", cw_store_schema_version(st));
        for (int k = 1; k < CW_KIND__COUNT; k++)
            printf("%s\"%s\":%lld", k > 1 ? "," : "", cw_kind_get((cw_kind)k)->name,
                   (long long)sm.rows[k]);
        printf("},\"events\":%lld,\"event_names\":%lld,\"accounts_active\":%lld,"
               "\"accounts_churned\":%lld,\"users_active\":%lld,\"seats_active\":%lld,"
               "\"mrr_active_minor\":%lld,\"currency\":\"%s\",\"ingested_files\":%lld}\n",
               (long long)sm.events, (long long)sm.event_names, (long long)sm.accounts_active,
               (long long)sm.accounts_churned, (long long)sm.users_active,
               (long long)sm.seats_active, (long long)sm.mrr_active_minor, sm.mrr_currency,
               (long long)sm.ingested_files);
    } else {
        char d1[16], d2[16];
        printf("database %s (schema %d)\n", cw_config_get(cfg, "store.db"),
               cw_store_schema_version(st));
        printf("  accounts     %lld active, %lld churned\n", (long long)sm.accounts_active,
               (long long)sm.accounts_churned);
        printf("  seats        %lld licensed on active accounts; %lld users active\n",
               (long long)sm.seats_active, (long long)sm.users_active);
        printf("  MRR          %.2f %s on active accounts\n", (double)sm.mrr_active_minor / 100.0,
               sm.mrr_currency[0] == '*' ? "(mixed currencies)" : sm.mrr_currency);
        printf("  events       %lld on %lld account-days, %lld event names", (long long)sm.events,
               (long long)sm.event_days, (long long)sm.event_names);
        if (sm.events)
            printf(", %s .. %s", cw_time_format(sm.first_event_ts, 1, d1, sizeof d1),
                   cw_time_format(sm.last_event_ts, 1, d2, sizeof d2));
        printf("\n  rows by kind:\n");
        for (int k = 1; k < CW_KIND__COUNT; k++)
            printf("    %-18s %10lld%s\n", cw_kind_get((cw_kind)k)->name, (long long)sm.rows[k],
                   k == CW_KIND_EVENTS ? " account-days" : "");
        printf("  files ingested: %lld\n", (long long)sm.ingested_files);
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
