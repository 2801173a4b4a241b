/*
 * cmd_simulate.c — `churnwatch simulate`: options and progress around
 * cw_sim_run(), which writes the simulated world.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_progress(int64_t done, int64_t total, int64_t events, void *ud)
{
    double *t0 = ud;
    (void)t0;
    fputs("\r\033[K", cli_raw_stderr());
    fprintf(stderr, "simulating: %lld/%lld accounts, %lld events", (long long)done,
            (long long)total, (long long)events);
}

/* --churn-shift DATE:FACTOR */
static int churn_shift(const char *arg, cw_sim_opts *o)
{
    const char *colon = strchr(arg, ':');
    int64_t t = 0;
    char *end = NULL;
    double f = colon ? strtod(colon + 1, &end) : -1;
    if (!colon || cw_time_parse(arg, (size_t)(colon - arg), CW_TIME_NAIVE_UTC, &t, NULL) != CW_OK ||
        end == colon + 1 || *end || !(f > 0 && f <= 1)) {
        cli_error("--churn-shift %s: expected DATE:FACTOR, e.g. 2025-01-01:0.3 (factor over 0, at "
                  "most 1)",
                  arg);
        return EXIT_USAGE;
    }
    o->churn_shift_day = t / 86400;
    o->churn_shift_factor = f;
    return 0;
}

int cmd_simulate(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_sim_opts o;
    cw_sim_opts_init(&o);
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "simulate", NULL, NULL)) != -1) {
        switch (c) {
        case 'a': rc = cli_override(cfg, "simulate.accounts", optarg); break;
        case 's': rc = cli_override(cfg, "simulate.start", optarg); break;
        case 'm': rc = cli_override(cfg, "simulate.months", optarg); break;
        case 'S': rc = cli_override(cfg, "simulate.seed", optarg); break;
        case 'o': o.out_dir = optarg; break;
        case 'z': o.gzip = 1; break;
        case 'P': o.product_events = 1; break;
        case 'C': rc = churn_shift(optarg, &o); break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && (!o.out_dir || optind < argc)) {
        cli_error(optind < argc ? "simulate: unexpected argument"
                                : "simulate: --out DIR is required");
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    o.accounts = cw_config_get_int(cfg, "simulate.accounts");
    o.months = (int)cw_config_get_int(cfg, "simulate.months");
    o.seed = (uint64_t)cw_config_get_int(cfg, "simulate.seed");
    const char *start = cw_config_get(cfg, "simulate.start");
    int64_t t = 0;
    cw_time_parse(start, strlen(start), CW_TIME_NAIVE_UTC, &t, NULL);
    o.start_day = t / 86400;
    int tty = isatty(2);
    if (tty)
        o.on_progress = on_progress;
    cw_sim_stats stats;
    cw_error err;
    double t0 = 0;
    o.ud = &t0;
    cw_status s = cw_sim_run(&o, &stats, &err);
    if (tty)
        fputs("\r\033[K", cli_raw_stderr());
    if (s != CW_OK) {
        cli_error("simulate: %s", err.msg);
    } else {
        int64_t total = 0;
        for (int k = 1; k < CW_KIND__COUNT; k++)
            total += stats.rows[k];
        printf("simulated %lld accounts over %d months (seed %llu) into %s: %lld rows, %lld "
               "events, %lld accounts churned, %.1f MB\n",
               (long long)o.accounts, o.months, (unsigned long long)o.seed, o.out_dir,
               (long long)total, (long long)stats.rows[CW_KIND_EVENTS], (long long)stats.churned,
               (double)stats.bytes / 1e6);
    }
    cw_config_free(cfg);
    return cli_exit_code(s);
}
