/*
 * cmd_backtest.c — `churnwatch backtest`: the scorecard and each model
 * judged on the same held-out later snapshots (docs/model.md, "Backtest").
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>

/* The backtest as a table: each subject's metrics, their 95% intervals and
 * calibration by decile. */
static void print_table(const cw_backtest *b)
{
    char a[16], z[16];
    cw_time_format(b->test_from * 86400, CW_TIME_DATE, a, sizeof a);
    cw_time_format(b->test_to * 86400, CW_TIME_DATE, z, sizeof z);
    if (b->rows_design == CW_ROWS_RENEWAL)
        printf("backtest on renewal rows observed %s .. %s, %d days before each renewal: churn "
               "by the end of the renewal day\n",
               a, z, b->renewal_days);
    else
        printf("backtest on snapshots %s .. %s, churn within %d days\n", a, z, b->horizon_days);
    if (b->unknown_rows > 0) {
        cw_time_format(b->data_end_day * 86400, CW_TIME_DATE, a, sizeof a);
        if (b->rows_design == CW_ROWS_RENEWAL)
            printf("%lld renewal rows left out: their renewal's outcome is not known by the "
                   "subscription data end %s\n",
                   (long long)b->unknown_rows, a);
        else
            printf("%lld rows left out: their %d-day window passes the subscription data end "
                   "%s\n",
                   (long long)b->unknown_rows, b->horizon_days, a);
    }
    char rule[48];
    cw_flag_format(&b->flag, rule, sizeof rule);
    printf("flagged: %s of %s scored rows%s; lead d (median days from the first "
           "flag to the churn) and missed (churns never flagged) count those\n",
           rule,
           b->flag.share > 0 && b->rows_design == CW_ROWS_RENEWAL ? "all the test's renewal"
                                                                  : "each test day's",
           b->flag.share > 0 ? "" : " (scorecards: colour red)");
    printf("%-28s %8s %6s %7s %7s %7s %8s %8s %8s %8s %7s %7s\n", "subject", "rows", "churn",
           "ROC AUC", "PR AUC", "Brier", "prec@10", "rec@10", "lift@10", "flagged", "lead d",
           "missed");
    for (int i = 0; i < b->n; i++) {
        const cw_backtest_subject *x = &b->subjects[i];
        printf("%-28.28s %8lld %6lld %7.3f %7.3f %7.4f %8.3f %8.3f %8.2f %8lld %7.0f %6.0f%%\n",
               x->subject, (long long)x->eval.n, (long long)x->eval.positives, x->eval.roc_auc,
               x->eval.pr_auc, x->eval.brier, x->eval.precision_10, x->eval.recall_10,
               x->eval.lift_10, (long long)x->flagged_rows, x->lead.median_days,
               100 * x->lead.never_flagged_share);
    }
    printf("95%% intervals: ROC AUC (DeLong), lift@10%% (bootstrap, %d resamples)\n",
           CW_EVAL_BOOTSTRAP);
    for (int i = 0; i < b->n; i++) {
        const cw_backtest_subject *x = &b->subjects[i];
        printf("  %-28.28s ROC AUC %.3f [%.3f, %.3f]  lift@10 %.2f [%.2f, %.2f]\n", x->subject,
               x->eval.roc_auc, x->eval.roc_auc_lo, x->eval.roc_auc_hi, x->eval.lift_10,
               x->eval.lift_10_lo, x->eval.lift_10_hi);
    }
    for (int i = 0; i < b->n; i++) {
        const cw_backtest_subject *x = &b->subjects[i];
        cli_print_deciles(x->subject, &x->eval, x->probabilities);
        if (x->probabilities) {
            printf("  mean test probability with the calibration slice's Platt alone: %.4f\n",
                   x->mean_platt);
            cli_print_recal("recalibrated before the test", &x->recal);
        }
    }
}

/* What the command line left to the configuration: the row design, the
 * flag rule and the recalibration window. */
static int backtest_config(const cw_config *cfg, const char *rows, const char *rdays,
                           const char *weekly_only, int recal_set, cw_backtest_opts *o)
{
    int rc = cli_model_rows(cfg, rows, rdays, weekly_only, &o->rows_design, &o->renewal_days);
    if (rc == 0 && !o->flag_set) { /* [model] flag, validated when the file was read */
        rc = cli_flag_rule("model.flag", cw_config_get(cfg, "model.flag"), &o->flag);
        o->flag_set = 1;
    }
    if (rc == 0 && !recal_set) { /* [model] recalibrate_days; 0 = off */
        int64_t d = cw_config_get_int(cfg, "model.recalibrate_days");
        o->recal_days = d == 0 ? -1 : (int)d;
    }
    return rc;
}

int cmd_backtest(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_backtest_opts o;
    memset(&o, 0, sizeof o);
    o.horizon_days = 90;
    int json = 0, suggest = 0, c, recal_set = 0;
    double v;
    const char *rows = NULL, *rdays = NULL, *weekly_only = NULL;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "backtest", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'H':
            rc = cli_model_num("--horizon", optarg, 7, 730, &v);
            o.horizon_days = (int)v;
            weekly_only = "--horizon";
            break;
        case 'R': rows = optarg; break;
        case 'B': rdays = optarg; break;
        case 'f': rc = cli_parse_day("--from", optarg, &o.from_day); break;
        case 't': rc = cli_parse_day("--to", optarg, &o.to_day); break;
        case 'k': rc = cli_model_kinds(optarg, &o.kinds); break;
        case 'T':
            rc = cli_model_num("--threads", optarg, 1, 256, &v);
            o.threads = (int)v;
            break;
        case 'g':
            rc = cli_model_num("--green-below", optarg, 0.001, 0.999, &v);
            o.flag = (cw_flag_rule){.p_at_least = v};
            o.flag_set = 1;
            break;
        case 'F':
            if (strcmp(optarg, "table") != 0)
                cli_stdout_data(); /* csv/json: exact bytes unless on a terminal */
            if (!strcmp(optarg, "json") || !strcmp(optarg, "table"))
                json = !strcmp(optarg, "json");
            else {
                cli_error("--format %s: expected table or json", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 'S':
            suggest = 1;
            weekly_only = "--suggest-weights";
            break;
        case 'E': rc = cli_parse_day("--data-end", optarg, &o.data_end_day); break;
        case 'N': o.no_product_features = 1; break;
        case 'P':
            rc = cli_model_num("--min-positives", optarg, 1, 1e6, &v);
            o.min_positives = (int)v;
            break;
        case 'O': o.force = 1; break;
        case 'L':
            rc = cli_flag_rule("--flag", optarg, &o.flag);
            o.flag_set = 1;
            break;
        case 'c':
            rc = cli_model_num("--recalibrate-days", optarg, 0, 3650, &v);
            o.recal_days = v == 0 ? -1 : (int)v;
            recal_set = 1;
            break;
        case 'W': o.predictions_csv = optarg; break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("backtest: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = backtest_config(cfg, rows, rdays, weekly_only, recal_set, &o);
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    if (suggest) {
        /* Only the scorecard's weights against the history; no models. */
        cw_scorecard *sc = NULL;
        rc = cli_load_scorecard(cfg, &sc);
        if (rc == 0) {
            cw_suggest_opts so = {
                .from_day = o.from_day, .to_day = o.to_day, .horizon_days = o.horizon_days};
            cw_suggest_result r;
            cw_status s = cw_score_suggest(st, sc, &so, &r);
            if (s != CW_OK) {
                cli_error("backtest: %s", cw_store_why(st, s));
                rc = cli_exit_code(s);
            } else
                cw_score_suggest_print(sc, &r, stdout);
        }
        cw_scorecard_free(sc);
        cw_store_close(st);
        cw_config_free(cfg);
        return rc;
    }
    cw_backtest *b = NULL;
    cw_status s = cw_backtest_run(st, &o, &b);
    if (s != CW_OK) {
        cli_error("backtest: %s", cw_store_why(st, s));
    } else if (json) {
        printf("[");
        for (int i = 0; i < b->n; i++) {
            char *j = cw_backtest_subject_json(b, &b->subjects[i]);
            printf("%s%s", i ? "," : "", j ? j : "null");
            free(j);
        }
        printf("]\n");
    } else {
        print_table(b);
    }
    cw_backtest_free(b);
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
