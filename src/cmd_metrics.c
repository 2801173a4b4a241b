/*
 * cmd_metrics.c — `churnwatch metrics`: compute point-in-time snapshots of
 * the metric catalogue (one date, or a date series) and print or export
 * them; `churnwatch metrics list` prints the catalogue.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"

#include <errno.h>
#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "7d", "7" or "1w" → days. */
static int parse_step(const char *s, int *days)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    int mult = *end == 'w' ? 7 : 1;
    if (*end == 'd' || *end == 'w')
        end++;
    if (errno || end == s || *end || v < 1 || v * mult > 3650) {
        cli_error("--every %s: expected a number of days such as 7d (or 1w)", s);
        return EXIT_USAGE;
    }
    *days = (int)(v * mult);
    return 0;
}

static int list_catalog(int argc, char **argv)
{
    cli_format fmt = CLI_FMT_TABLE;
    int64_t offset = 0, limit = -1;
    int rc = cli_list_opts(argc, argv, "metrics", "list", &fmt, &offset, &limit);
    if (rc)
        return rc;
    const cw_metric_info *m;
    int n = cw_metrics_catalog(&m);
    if (fmt != CLI_FMT_TABLE) {
        static const rf_col cols[] = {
            {"metric", RF_TEXT, 0, NULL, 0, NULL, 0},     {"scope", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"family", RF_TEXT, 0, NULL, 0, NULL, 0},     {"unit", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"definition", RF_TEXT, 0, NULL, 0, NULL, 0},
        };
        rf_report r;
        if (rf_report_init(&r, cols, 5, n, NULL) != 0)
            return EXIT_INTERNAL;
        for (int i = 0; i < n; i++) {
            rf_set_text(&r, i, 0, m[i].name);
            rf_set_text(&r, i, 1, m[i].scope == CW_SCOPE_ACCOUNT ? "account" : "user");
            rf_set_text(&r, i, 2, m[i].family);
            rf_set_text(&r, i, 3, m[i].unit);
            rf_set_text(&r, i, 4, m[i].doc);
        }
        rf_report_emit(&r, (int)fmt, NULL, 0, NULL, offset, limit);
        rf_report_free(&r);
        return 0;
    }
    printf("%-30s %-8s %-11s %-12s %s\n", "metric", "scope", "family", "unit", "definition");
    for (int64_t i = offset; i < n && (limit < 0 || i < offset + limit); i++)
        printf("%-30s %-8s %-11s %-12s %s\n", m[i].name,
               m[i].scope == CW_SCOPE_ACCOUNT ? "account" : "user", m[i].family, m[i].unit,
               m[i].doc);
    return 0;
}

int cmd_metrics(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return list_catalog(argc - 1, argv + 1);
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_metrics_opts o;
    cw_metrics_opts_init(&o);
    cw_metrics_export_opts x = {.to_day = -1, .format = CW_FORMAT_TABLE};
    int64_t as_of = -1, from = -1, to = -1;
    int every = 0, format_given = 0, no_compute = 0, quiet = 0, c;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "metrics", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'a': rc = cli_parse_day("--as-of", optarg, &as_of); break;
        case 'f': rc = cli_parse_day("--from", optarg, &from); break;
        case 't': rc = cli_parse_day("--to", optarg, &to); break;
        case 'e': rc = parse_step(optarg, &every); break;
        case 'w': rc = cli_override(cfg, "metrics.window_days", optarg); break;
        case 'r': o.recompute = 1; break;
        case 'H': o.user_history = 1; break;
        case 'F':
            format_given = 1;
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt);
            x.format = fmt == CLI_FMT_TABLE ? CW_FORMAT_TABLE
                       : fmt == CLI_FMT_CSV ? CW_FORMAT_CSV
                                            : CW_FORMAT_JSON; /* the library writes JSON Lines */
            break;
        case 'l': rc = cli_parse_count("--limit", optarg, &limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
        case 'A': x.account = optarg; break;
        case 'm': x.metric = optarg; break;
        case 'u': x.users = 1; break;
        case 'n': no_compute = 1; break;
        case 'T': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 2) {
                cli_error("--threads %s: expected 1 or 2", optarg);
                rc = EXIT_USAGE;
            }
            o.threads = (int)v;
            break;
        }
        case 'q': quiet = 1; break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("metrics: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && as_of >= 0 && (from >= 0 || to >= 0)) {
        cli_error("metrics: give either --as-of or --from/--to, not both");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && as_of < 0 && (from < 0 || to < 0) && !no_compute) {
        cli_error("metrics: give --as-of DATE, or --from D1 --to D2 [--every 7d]");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && from >= 0 && to >= 0 && to < from) {
        cli_error("metrics: --to is before --from");
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    if (as_of >= 0) {
        o.from_day = o.to_day = as_of;
        x.from_day = x.to_day = as_of;
    } else if (from >= 0) {
        o.from_day = from;
        o.to_day = to;
        o.every_days = every ? every : 7;
        x.from_day = from;
        x.to_day = to;
    }
    o.window_days = (int)cw_config_get_int(cfg, "metrics.window_days");
    o.ncustom = cw_config_custom_metrics(cfg, &o.custom);
    x.custom = o.custom;
    x.ncustom = o.ncustom;
    if (cli_progress_enabled(cfg))
        o.on_progress = cli_progress_line;
    cw_store *st;
    int orc = cli_open_store(cfg, 0, &st);
    if (orc) {
        cw_config_free(cfg);
        return orc;
    }
    cw_status s = CW_OK;
    cw_metrics_stats stats;
    memset(&stats, 0, sizeof stats);
    if (!no_compute) {
        s = cw_metrics_run(st, &o, &stats);
        if (o.on_progress)
            fputs("\r\033[K", cli_raw_stderr());
        if (s != CW_OK)
            cli_error("metrics: %s", cw_store_why(st, s));
        else if (!quiet)
            fprintf(stderr,
                    "metrics: %lld snapshot(s) computed, %lld already stored; %lld account rows, "
                    "%lld user rows; %lld events read in %.2f s (load %.2f, compute %.2f, peers "
                    "%.2f)\n",
                    (long long)stats.snapshots_computed, (long long)stats.snapshots_skipped,
                    (long long)stats.account_rows, (long long)stats.user_rows,
                    (long long)stats.events_read, stats.elapsed_s, stats.load_s, stats.compute_s,
                    stats.peers_s);
    }
    /* A single date prints its snapshot; a series prints only when asked. */
    if (s == CW_OK && (as_of >= 0 || format_given || no_compute || x.account || x.metric)) {
        /* Rows go through --offset / --limit: csv, json and jsonl rows, and
         * the table's blocks (one per snapshot and entity). */
        rf_rows rows;
        int whole = fmt != CLI_FMT_JSON && offset == 0 && limit < 0;
        FILE *out = whole ? stdout
                          : rf_rows_begin(&rows,
                                          fmt == CLI_FMT_JSON    ? RF_ROWS_JSON
                                          : fmt == CLI_FMT_JSONL ? RF_ROWS_JSONL
                                          : fmt == CLI_FMT_TABLE ? RF_ROWS_BLOCKS
                                                                 : RF_ROWS_TEXT,
                                          fmt == CLI_FMT_TABLE ? 0 : 1, offset, limit, stdout);
        s = out ? cw_metrics_export(st, &x, out) : CW_ERR_NOMEM;
        if (!whole && out)
            rf_rows_end(&rows);
        if (s != CW_OK)
            cli_error("metrics: %s", cw_store_why(st, s));
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
