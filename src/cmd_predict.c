/*
 * cmd_predict.c — `churnwatch predict`: score a snapshot with the active
 * (or a given) model, store the predictions with their drivers and print
 * the riskiest accounts (docs/model.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/json.h"
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Prints a CSV field, quoted when it must be. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

int cmd_predict(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"as-of", required_argument, NULL, 'a'},
        {"model", required_argument, NULL, 'm'},
        {"top", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'F'},
        {"green-below", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_predict_opts o = {0, 0, 0, 3};
    double top = 20, v;
    int fmt = 0, c; /* 0 table, 1 csv, 2 json */
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'a': rc = cli_parse_day("--as-of", optarg, &o.day); break;
        case 'm':
            rc = cli_model_num("--model", optarg, 1, 9e15, &v);
            o.model_id = (int64_t)v;
            break;
        case 'n': rc = cli_model_num("--top", optarg, 0, 1e9, &top); break;
        case 'g': rc = cli_model_num("--green-below", optarg, 0.001, 0.999, &o.green_below); break;
        case 'F':
            if (strcmp(optarg, "table") != 0)
                cli_stdout_data(); /* csv/json: exact bytes unless on a terminal */
            if (!strcmp(optarg, "table"))
                fmt = 0;
            else if (!strcmp(optarg, "csv"))
                fmt = 1;
            else if (!strcmp(optarg, "json"))
                fmt = 2;
            else {
                cli_error("--format %s: expected table, csv or json", optarg);
                rc = EXIT_USAGE;
            }
            break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("predict: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && o.green_below == 0)
        o.green_below = (double)cw_config_get_int(cfg, "model.green_below_pct") / 100.0;
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    cw_predictions *p = NULL;
    cw_status s = cw_model_predict(st, &o, &p);
    if (s != CW_OK) {
        cli_error("predict: %s", cw_store_errmsg(st)[0] ? cw_store_errmsg(st) : cw_strerror(s));
    } else {
        cli_model_age_note("predict", p);
        char d[16];
        cw_time_format(p->day * 86400, 1, d, sizeof d);
        int64_t n = (int64_t)top < p->n ? (int64_t)top : p->n, red = 0;
        for (int64_t i = 0; i < p->n; i++)
            red += p->rows[i].probability >= o.green_below;
        if (fmt == 1)
            printf("day,account_id,probability,drivers\n");
        else if (fmt == 2) {
            printf("{\"day\":\"%s\",\"model\":%lld,\"model_name\":", d, (long long)p->model_id);
            cw_json_fstrz(stdout, p->model_name);
            printf(",\"accounts\":%lld,\"at_or_above_green_below\":%lld,\"green_below\":",
                   (long long)p->n, (long long)red);
            cw_json_fnum(stdout, o.green_below);
            fputs(",\"top\":[", stdout);
        } else
            printf("%s: %lld accounts scored with model %lld (%s); %lld at or above %.0f%%\n"
                   "%-10s %6s  %s\n",
                   d, (long long)p->n, (long long)p->model_id, p->model_name, (long long)red,
                   100 * o.green_below, "account", "risk", "top drivers");
        for (int64_t i = 0; i < n; i++) {
            const cw_prediction *r = &p->rows[i];
            if (fmt == 1) {
                printf("%s,", d);
                csv_field(r->account_id);
                printf(",%.17g,", r->probability); /* exact: ties stay ties */
                csv_field(r->drivers_json);
                putchar('\n');
            } else if (fmt == 2) {
                printf("%s{\"account_id\":", i ? "," : "");
                cw_json_fstrz(stdout, r->account_id);
                fputs(",\"probability\":", stdout); /* shortest exact: ties stay ties */
                cw_json_fnum(stdout, r->probability);
                printf(",\"drivers\":%s}", r->drivers_json ? r->drivers_json : "null");
            } else {
                printf("%-10s %5.1f%%", r->account_id, 100 * r->probability);
                json_error_t je;
                json_t *drv = json_loads(r->drivers_json, 0, &je);
                size_t k;
                json_t *x;
                int first = 1;
                json_array_foreach (drv, k, x) {
                    const char *dir = json_string_value(json_object_get(x, "direction"));
                    printf("%s%s %s (%+.2f)\n", first ? "  " : "                   ",
                           !dir                     ? "?"
                           : !strcmp(dir, "raises") ? "▲"
                           : !strcmp(dir, "lowers") ? "▼"
                                                    : "·",
                           json_string_value(json_object_get(x, "text")),
                           json_number_value(json_object_get(x, "contribution")));
                    first = 0;
                    json_t *g = json_object_get(x, "to_green");
                    if (g)
                        printf("                   → %s\n",
                               json_string_value(json_object_get(g, "text")));
                }
                if (first)
                    putchar('\n');
                json_decref(drv);
            }
        }
        if (fmt == 2)
            printf("]}\n");
    }
    cw_predictions_free(p);
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
