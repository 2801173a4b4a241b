/*
 * cmd_train.c — `churnwatch train`: fit the churn models on the stored
 * snapshot history, test them on later snapshots and save them
 * (docs/model.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/json.h"

#include <getopt.h> /* optarg, optind */
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Shared by train / predict / backtest: a date option as days since epoch. */
/* A number in [lo, hi] with an optional trailing '%'. */
int cli_model_kinds(const char *s, int *kinds)
{
    if (!strcmp(s, "logreg"))
        *kinds = CW_MODEL_LOGREG;
    else if (!strcmp(s, "xgboost"))
        *kinds = CW_MODEL_XGBOOST;
    else if (!strcmp(s, "both"))
        *kinds = CW_MODEL_LOGREG | CW_MODEL_XGBOOST;
    else {
        cli_error("--kind %s: expected logreg, xgboost or both", s);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_model_rows(const cw_config *cfg, const char *rows, const char *days,
                   const char *weekly_only, int *design, int *renewal_days)
{
    const char *r = rows ? rows : cw_config_get(cfg, "model.rows");
    if (r && !strcmp(r, "renewal"))
        *design = CW_ROWS_RENEWAL;
    else if (!r || !strcmp(r, "weekly"))
        *design = CW_ROWS_WEEKLY;
    else {
        cli_error("%s %s: expected weekly or renewal", rows ? "--rows" : "model.rows", r);
        return EXIT_USAGE;
    }
    if (days) {
        double v;
        int rc = cli_model_num("--renewal-days", days, 7, 365, &v);
        if (rc)
            return rc;
        if (v != floor(v)) {
            cli_error("--renewal-days %s: expected a whole number of days", days);
            return EXIT_USAGE;
        }
        *renewal_days = (int)v;
        if (*design != CW_ROWS_RENEWAL) {
            cli_error("--renewal-days applies to renewal rows (--rows renewal)");
            return EXIT_USAGE;
        }
    } else {
        *renewal_days = (int)cw_config_get_int(cfg, "model.renewal_days");
    }
    if (weekly_only && *design == CW_ROWS_RENEWAL) {
        cli_error("%s applies to weekly rows: a renewal row is labelled by churn up to its "
                  "renewal, observed --renewal-days before it",
                  weekly_only);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_model_num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "%") != 0) || !isfinite(v) || v < lo || v > hi) {
        cli_error("%s %s: expected a number from %g to %g", opt, s, lo, hi);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int cli_flag_rule(const char *opt, const char *s, cw_flag_rule *out)
{
    const char *why = NULL;
    if (cw_flag_parse(s, out, &why) != CW_OK) {
        cli_error("%s %s: %s", opt, s, why);
        return EXIT_USAGE;
    }
    return 0;
}

/* A JSON number, or null for NaN (a metric undefined on this data). */
static const char *jnum_s(double v, char *buf, size_t n)
{
    if (!isfinite(v))
        return "null";
    snprintf(buf, n, "%.6f", v);
    return buf;
}

static void day_str(int64_t day, char *b, size_t n)
{
    cw_time_format(day * 86400, CW_TIME_DATE, b, n);
}

/* A JSON number or null, written to stdout. */
static void jout(double v)
{
    if (isfinite(v))
        cw_json_fnum_sig(stdout, v, 6);
    else
        fputs("null", stdout);
}

/* Shared by train and backtest: the calibration table by decile of risk as
 * a JSON array (mean_score absent without probabilities). */
void cli_json_deciles(const cw_eval *e, int probabilities)
{
    putchar('[');
    for (int d = 0; d < 10; d++) {
        const cw_eval_decile *x = &e->deciles[d];
        printf("%s{\"decile\":%d,\"rows\":%lld,\"positives\":%lld,", d ? "," : "", d + 1,
               (long long)x->n, (long long)x->positives);
        if (probabilities) {
            fputs("\"mean_score\":", stdout);
            jout(x->mean_score);
            putchar(',');
        }
        fputs("\"observed\":", stdout);
        jout(x->observed);
        putchar('}');
    }
    putchar(']');
}

/* A recalibration as JSON (null when none was applied). */
void cli_json_recal(const cw_recal_info *ri)
{
    if (!ri->applied) {
        fputs("null", stdout);
        return;
    }
    char a[16], b[16];
    day_str(ri->from_day, a, sizeof a);
    day_str(ri->to_day, b, sizeof b);
    printf("{\"window_from\":\"%s\",\"window_to\":\"%s\",\"rows\":%lld,\"positives\":%lld,"
           "\"observed\":",
           a, b, (long long)ri->rows, (long long)ri->positives);
    jout(ri->observed);
    fputs(",\"platt_b\":", stdout);
    jout(ri->platt_b);
    fputs(",\"b\":", stdout);
    jout(ri->b);
    fputs(",\"mean_before\":", stdout);
    jout(ri->mean_before);
    fputs(",\"mean_after\":", stdout);
    jout(ri->mean_after);
    putchar('}');
}

/* The mean of the test probabilities (from the deciles: each decile's mean
 * times its rows). */
double cli_mean_predicted(const cw_eval *e)
{
    double s = 0;
    for (int d = 0; d < 10; d++)
        s += e->deciles[d].mean_score * (double)e->deciles[d].n;
    return e->n ? s / (double)e->n : NAN;
}

/* The calibration table by decile of risk, as text. */
void cli_print_deciles(const char *title, const cw_eval *e, int probabilities)
{
    printf("\ncalibration of %s by decile of risk:\n  decile   rows  churn  %s  observed\n", title,
           probabilities ? "predicted" : "         ");
    for (int d = 0; d < 10; d++) {
        const cw_eval_decile *x = &e->deciles[d];
        if (probabilities)
            printf("  %6d %6lld %6lld  %9.4f  %8.4f\n", d + 1, (long long)x->n,
                   (long long)x->positives, x->mean_score, x->observed);
        else
            printf("  %6d %6lld %6lld  %9s  %8.4f\n", d + 1, (long long)x->n,
                   (long long)x->positives, "", x->observed);
    }
    if (probabilities && e->n)
        printf("  all    %6lld %6lld  %9.4f  %8.4f\n", (long long)e->n, (long long)e->positives,
               cli_mean_predicted(e), (double)e->positives / (double)e->n);
}

/* One line on a recalibration: its window and what it moved. */
void cli_print_recal(const char *what, const cw_recal_info *ri)
{
    if (!ri->applied) {
        printf("  %s: none (off, or no churn in the latest labelled window)\n", what);
        return;
    }
    char a[16], b[16];
    day_str(ri->from_day, a, sizeof a);
    day_str(ri->to_day, b, sizeof b);
    printf("  %s: snapshots %s .. %s, %lld rows, churn rate %.4f; mean probability there "
           "%.4f -> %.4f\n",
           what, a, b, (long long)ri->rows, ri->observed, ri->mean_before, ri->mean_after);
}

/* The training result as one JSON document. */
static void print_json(const cw_train_result *r)
{
    char a[16], b[16], e[16], f[16], de[16];
    day_str(r->data_end_day, de, sizeof de);
    day_str(r->fit_from, a, sizeof a);
    day_str(r->calib_to, b, sizeof b);
    day_str(r->test_from, e, sizeof e);
    day_str(r->test_to, f, sizeof f);
    printf("{\"train_from\":\"%s\",\"train_to\":\"%s\",\"test_from\":\"%s\","
           "\"test_to\":\"%s\",\"features\":%d,\"custom_metrics\":%d,"
           "\"event_names\":%d,\"dropped_features\":%d,\"data_end\":\"%s\","
           "\"data_end_from\":\"%s\",\"rows_left_out\":%lld,\"fit_positives\":%lld,"
           "\"small_data\":%s,\"rows\":{\"design\":\"%s\",\"built\":%lld",
           a, b, e, f, r->features, r->custom_metrics, r->event_names, r->dropped, de,
           r->data_end_declared ? "declared" : "latest subscription change",
           (long long)r->unknown_rows, (long long)r->fit_positives,
           r->small_data ? "true" : "false",
           r->rows_design == CW_ROWS_RENEWAL ? "renewal" : "weekly", (long long)r->rows);
    if (r->rows_design == CW_ROWS_RENEWAL)
        printf(",\"renewal_days\":%d,\"renewals\":%lld,\"no_snapshot\":%lld,"
               "\"unknown\":%lld,\"snapshot_stale_max_days\":%lld,"
               "\"snapshot_stale_mean_days\":%.3f",
               r->renewal_days, (long long)r->renewals_seen, (long long)r->renewals_nosnap,
               (long long)r->unknown_rows, (long long)r->stale_max, r->stale_mean);
    printf("},\"models\":[");
    for (int i = 0; i < r->nmodels; i++) {
        const cw_trained_model *m = &r->models[i];
        char n[8][32];
        printf("%s{\"id\":%lld,\"name\":", i ? "," : "", (long long)m->id);
        cw_json_fstrz(stdout, m->name);
        printf(",\"kind\":\"%s\",\"fit_rows\":%lld,"
               "\"calibration_rows\":%lld,\"test_rows\":%lld,\"test_positives\":%lld,"
               "\"roc_auc\":%s,\"roc_auc_ci95\":[%s,%s],\"pr_auc\":%s,"
               "\"brier\":%s,\"lift_top10\":%s,\"lift_top10_ci95\":[%s,%s],"
               "\"fit_s\":%.3f,\"active\":%s,\"top_drivers\":[",
               m->kind == CW_MODEL_XGBOOST ? "xgboost" : "logreg", (long long)m->fit_rows,
               (long long)m->calib_rows, (long long)m->test_rows, (long long)m->test.positives,
               jnum_s(m->test.roc_auc, n[0], 32), jnum_s(m->test.roc_auc_lo, n[1], 32),
               jnum_s(m->test.roc_auc_hi, n[2], 32), jnum_s(m->test.pr_auc, n[3], 32),
               jnum_s(m->test.brier, n[4], 32), jnum_s(m->test.lift_10, n[5], 32),
               jnum_s(m->test.lift_10_lo, n[6], 32), jnum_s(m->test.lift_10_hi, n[7], 32), m->fit_s,
               i == r->active ? "true" : "false");
        for (int j = 0; j < m->ntop; j++) { /* event names are the customer's */
            printf("%s{\"metric\":", j ? "," : "");
            cw_json_fstrz(stdout, m->top[j].metric);
            printf(",\"family\":\"%s\",\"share\":%.4f,\"direction\":%d}", m->top[j].family,
                   m->top[j].share, m->top[j].direction);
        }
        fputs("],\"calibration\":{\"mean_predicted\":", stdout);
        jout(cli_mean_predicted(&m->test));
        fputs(",\"observed\":", stdout);
        jout(m->test.n ? (double)m->test.positives / (double)m->test.n : NAN);
        fputs(",\"mean_predicted_platt_only\":", stdout);
        jout(m->test_mean_platt);
        fputs(",\"test_recalibration\":", stdout);
        cli_json_recal(&m->test_recal);
        fputs(",\"recalibration\":", stdout);
        cli_json_recal(&m->recal);
        fputs(",\"deciles\":", stdout);
        cli_json_deciles(&m->test, 1);
        printf("}}");
    }
    printf("]}\n");
}

/* The training result as a table: windows, features, labels, each model's
 * test metrics with their 95% intervals and what it looks at most. */
static void print_table(const cw_train_result *r, int horizon_days)
{
    char a[16], b[16], e[16], f[16], de[16];
    day_str(r->data_end_day, de, sizeof de);
    day_str(r->fit_from, a, sizeof a);
    day_str(r->calib_to, b, sizeof b);
    day_str(r->test_from, e, sizeof e);
    day_str(r->test_to, f, sizeof f);
    if (r->rows_design == CW_ROWS_RENEWAL) {
        printf("renewal rows: one per account and renewal, observed %d days before it (or the "
               "day after the previous one); label = churned by the end of the renewal day\n",
               r->renewal_days);
        printf("  %lld renewal(s) observed within the snapshot history, %lld row(s) built, "
               "%lld without the account's metrics at the snapshot; snapshots up to %lld "
               "day(s) before the observation day (mean %.1f)\n",
               (long long)r->renewals_seen, (long long)r->rows, (long long)r->renewals_nosnap,
               (long long)r->stale_max, r->stale_mean);
        printf("trained on rows observed %s .. %s, tested on %s .. %s\n", a, b, e, f);
    } else {
        printf("trained on snapshots %s .. %s, tested on %s .. %s (%d-day horizon)\n", a, b, e, f,
               horizon_days);
    }
    printf("features: %d (catalogue metrics, %d custom metric(s), %d event name(s) x 3; "
           "%d missing on every fit row, zero weight)\n",
           r->features, r->custom_metrics, r->event_names, r->dropped);
    if (r->extra_features[0])
        printf("  beyond the catalogue: %s\n", r->extra_features);
    printf("labels known to %s (%s); %lld row(s) whose %s passes it left out\n", de,
           r->data_end_declared ? "--data-end" : "the latest subscription change",
           (long long)r->unknown_rows,
           r->rows_design == CW_ROWS_RENEWAL ? "renewal (observation day + days + 1)" : "window");
    if (r->small_data)
        printf("warning: under --min-positives churn rows (--force): the test metrics "
               "mean little\n");
    printf("%-4s %-40s %9s %9s %8s %8s %8s %8s %7s\n", "id", "model", "fit rows", "test rows",
           "ROC AUC", "PR AUC", "Brier", "lift@10", "fit s");
    for (int i = 0; i < r->nmodels; i++) {
        const cw_trained_model *m = &r->models[i];
        printf("%-4lld %-40s %9lld %9lld %8.3f %8.3f %8.4f %8.2f %7.1f\n", (long long)m->id,
               m->name, (long long)m->fit_rows, (long long)m->test_rows, m->test.roc_auc,
               m->test.pr_auc, m->test.brier, m->test.lift_10, m->fit_s);
    }
    for (int i = 0; i < r->nmodels; i++)
        printf("%s: 95%% intervals ROC AUC %.3f [%.3f, %.3f] (DeLong), lift@10 %.2f [%.2f, "
               "%.2f] (bootstrap); %lld churn rows in the test\n",
               r->models[i].name, r->models[i].test.roc_auc, r->models[i].test.roc_auc_lo,
               r->models[i].test.roc_auc_hi, r->models[i].test.lift_10,
               r->models[i].test.lift_10_lo, r->models[i].test.lift_10_hi,
               (long long)r->models[i].test.positives);
    for (int i = 0; i < r->nmodels; i++) {
        const cw_trained_model *m = &r->models[i];
        printf("%s looks most at (share of its mean |contribution| on the test rows):\n", m->name);
        for (int j = 0; j < m->ntop; j++)
            printf("  %-26s %-11s %5.1f%%  %s\n", m->top[j].metric, m->top[j].family,
                   100 * m->top[j].share,
                   m->top[j].direction > 0   ? "higher = riskier"
                   : m->top[j].direction < 0 ? "lower = riskier"
                                             : "");
    }
    for (int i = 0; i < r->nmodels; i++) {
        const cw_trained_model *m = &r->models[i];
        cli_print_deciles(m->name, &m->test, 1);
        printf("  mean test probability with the calibration slice's Platt alone: %.4f\n",
               m->test_mean_platt);
        cli_print_recal("recalibrated before the test", &m->test_recal);
        cli_print_recal("saved model recalibrated on", &m->recal);
    }
    if (r->active >= 0)
        printf("active model: %s%s\n", r->models[r->active].name,
               r->nmodels > 1 ? " (the higher held-out ROC AUC)" : "");
}

int cmd_train(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_train_opts o;
    cw_train_opts_init(&o);
    int json = 0, c, recal_set = 0;
    double v = 0;
    const char *rows = NULL, *rdays = NULL, *weekly_only = NULL;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "train", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'k': rc = cli_model_kinds(optarg, &o.kinds); break;
        case 'H':
            rc = cli_model_num("--horizon", optarg, 7, 730, &v);
            o.horizon_days = (int)v;
            weekly_only = "--horizon";
            break;
        case 'f': rc = cli_parse_day("--from", optarg, &o.from_day); break;
        case 't': rc = cli_parse_day("--to", optarg, &o.to_day); break;
        case 's':
            rc = cli_model_num("--seat-loss", optarg, 1, 100, &o.seat_loss_pct);
            weekly_only = "--seat-loss";
            break;
        case 'm':
            rc = cli_model_num("--mrr-loss", optarg, 1, 100, &o.mrr_loss_pct);
            weekly_only = "--mrr-loss";
            break;
        case 'R': rows = optarg; break;
        case 'B': rdays = optarg; break;
        case 'a': o.activate = 1; break;
        case 'D': o.dump_matrix = optarg; break;
        case 'T':
            rc = cli_model_num("--threads", optarg, 1, 256, &v);
            o.threads = (int)v;
            break;
        case 'n': o.name = optarg; break;
        case 'E': rc = cli_parse_day("--data-end", optarg, &o.data_end_day); break;
        case 'N': o.no_product_features = 1; break;
        case 'M':
            rc = cli_model_num("--max-event-names", optarg, 1, 1000, &v);
            o.max_event_names = (int)v;
            break;
        case 'P':
            rc = cli_model_num("--min-positives", optarg, 1, 1e6, &v);
            o.min_positives = (int)v;
            break;
        case 'O': o.force = 1; break;
        case 'c':
            rc = cli_model_num("--recalibrate-days", optarg, 0, 3650, &v);
            o.recal_days = v == 0 ? -1 : (int)v;
            recal_set = 1;
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
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("train: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = cli_model_rows(cfg, rows, rdays, weekly_only, &o.rows_design, &o.renewal_days);
    if (rc == 0 && !recal_set) { /* [model] recalibrate_days; 0 = off */
        int64_t d = cw_config_get_int(cfg, "model.recalibrate_days");
        o.recal_days = d == 0 ? -1 : (int)d;
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    cw_train_result r;
    cw_status s = cw_model_train(st, &o, &r);
    if (s != CW_OK) {
        cli_error("train: %s", cw_store_why(st, s));
    } else if (json) {
        print_json(&r);
    } else {
        print_table(&r, o.horizon_days);
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
