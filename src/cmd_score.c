/*
 * cmd_score.c — `churnwatch score`: run the configured health scorecard
 * over the stored metric snapshots and show the accounts most at risk, one
 * account's breakdown by measure, or the scorecard itself.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>

static void show_scorecard(const cw_scorecard *sc)
{
    double green, red;
    cw_scorecard_cutoffs(sc, &green, &red);
    printf("scorecard %s (%s): green from %g, red below %g\n\n", cw_scorecard_name(sc),
           cw_scorecard_hash(sc), green, red);
    printf("%-12s %-28s %-28s %s\n", "group", "measure", "metric", "source");
    static const char *src[] = {"value", "trend", "peer"};
    for (int i = 0; i < cw_scorecard_measures(sc); i++) {
        cw_measure_info m;
        cw_scorecard_measure_info(sc, i, &m);
        printf("%-12s %-28s %-28s %s\n", m.group, m.name, m.metric, src[m.source]);
    }
}

int cli_load_scorecard(cw_config *cfg, cw_scorecard **out)
{
    cw_error err;
    cw_status s = cw_scorecard_load(cfg, out, &err);
    if (s != CW_OK) {
        cli_error("%s", err.msg);
        return cli_exit_code(s);
    }
    return 0;
}

int cmd_score(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_score_opts o;
    cw_score_opts_init(&o);
    cw_score_export_opts x;
    cw_score_export_opts_init(&x);
    x.limit = 20;
    int64_t as_of = -1, from = -1, to = -1;
    int no_compute = 0, quiet = 0, show = 0, c, limit_given = 0;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t offset = 0;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "score", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'a': rc = cli_parse_day("--as-of", optarg, &as_of); break;
        case 'f': rc = cli_parse_day("--from", optarg, &from); break;
        case 't': rc = cli_parse_day("--to", optarg, &to); break;
        case 'r': o.recompute = 1; break;
        case 'n': no_compute = 1; break;
        case 'F':
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt);
            x.format = fmt == CLI_FMT_TABLE ? CW_FORMAT_TABLE
                       : fmt == CLI_FMT_CSV ? CW_FORMAT_CSV
                                            : CW_FORMAT_JSON; /* the library writes JSON Lines */
            break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
        case 'A': x.account = optarg; break;
        case 'c':
            x.colour = strcmp(optarg, "green") == 0    ? CW_GREEN
                       : strcmp(optarg, "yellow") == 0 ? CW_YELLOW
                       : strcmp(optarg, "red") == 0    ? CW_RED
                                                       : -2;
            if (x.colour == -2) {
                cli_error("--colour %s: expected green, yellow or red", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 'l':
        case 'D': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 1000000000) {
                cli_error("--%s %s: expected a number >= 0", c == 'l' ? "limit" : "drivers",
                          optarg);
                rc = EXIT_USAGE;
            } else if (c == 'l') {
                x.limit = (int)v;
                limit_given = 1;
            } else {
                x.drivers = (int)v;
            }
            break;
        }
        case 's': show = 1; break;
        case 'S': show = 2; break;
        case 'q': quiet = 1; break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("score: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && as_of >= 0 && (from >= 0 || to >= 0)) {
        cli_error("score: give either --as-of or --from/--to, not both");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && from >= 0 && to >= 0 && to < from) {
        cli_error("score: --to is before --from");
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    if (show == 2) {
        fputs(cw_scorecard_default_text(), stdout);
        cw_config_free(cfg);
        return 0;
    }
    cw_scorecard *sc = NULL;
    rc = cli_load_scorecard(cfg, &sc);
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    if (show) {
        show_scorecard(sc);
        cw_scorecard_free(sc);
        cw_config_free(cfg);
        return 0;
    }
    if (!limit_given && (x.format != CW_FORMAT_TABLE || x.colour >= 0))
        x.limit = 0;
    if (as_of >= 0) {
        o.from_day = o.to_day = as_of;
        x.day = as_of;
    } else {
        if (from >= 0)
            o.from_day = from;
        if (to >= 0)
            o.to_day = to;
    }
    if (cli_progress_enabled(cfg))
        o.on_progress = cli_progress_line;
    cw_store *st;
    int orc = cli_open_store(cfg, 0, &st);
    if (orc) {
        cw_scorecard_free(sc);
        cw_config_free(cfg);
        return orc;
    }
    cw_status s = CW_OK;
    if (!no_compute) {
        cw_score_stats stats;
        s = cw_score_run(st, sc, &o, &stats);
        if (o.on_progress)
            fputs("\r\033[K", cli_raw_stderr());
        if (s != CW_OK)
            cli_error("%s", cw_store_why(st, s));
        else if (!quiet)
            fprintf(stderr,
                    "score: %lld snapshot(s) scored, %lld already scored by scorecard %s; %lld "
                    "account scores in %.2f s\n",
                    (long long)stats.days_scored, (long long)stats.days_skipped,
                    cw_scorecard_hash(sc), (long long)stats.rows, stats.elapsed_s);
    }
    if (s == CW_OK && as_of < 0 && to >= 0)
        x.day = -1; /* the latest scored day; --to bounds only the run */
    /* --offset and --format json over the library's rows (one a line). */
    int64_t shown = x.limit ? x.limit : -1;
    if (x.limit && offset)
        x.limit = (int)(x.limit + offset > 1000000000 ? 1000000000 : x.limit + offset);
    rf_rows rows;
    int whole = x.account != NULL || (fmt != CLI_FMT_JSON && offset == 0);
    FILE *out = whole ? stdout
                      : rf_rows_begin(&rows,
                                      fmt == CLI_FMT_JSON    ? RF_ROWS_JSON
                                      : fmt == CLI_FMT_JSONL ? RF_ROWS_JSONL
                                                             : RF_ROWS_TEXT,
                                      fmt == CLI_FMT_CSV ? 1 : 3, offset, shown, stdout);
    if (!out)
        s = CW_ERR_NOMEM;
    if (s == CW_OK) {
        s = cw_score_export(st, sc, &x, out);
        if (!whole)
            rf_rows_end(&rows);
        if (s != CW_OK)
            cli_error("%s", cw_store_why(st, s));
    }
    cw_store_close(st);
    cw_scorecard_free(sc);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
