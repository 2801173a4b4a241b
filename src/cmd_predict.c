/*
 * cmd_predict.c — `churnwatch predict`: score a snapshot with the active
 * (or a given) model, store the predictions with their drivers and print
 * the riskiest accounts (docs/model.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/json.h"
#include "cli.h"

#include <getopt.h> /* optarg, optind */
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
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_predict_opts o = {.drivers = 3};
    double top = 20, v;
    int64_t offset = 0;
    int fmt = 0, c; /* 0 table, 1 csv, 2 json, 3 jsonl */
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "predict", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'a': rc = cli_parse_day("--as-of", optarg, &o.day); break;
        case 'm':
            rc = cli_model_num("--model", optarg, 1, 9e15, &v);
            o.model_id = (int64_t)v;
            break;
        case 'n': rc = cli_model_num("--top", optarg, 0, 1e9, &top); break;
        case 'g': rc = cli_model_num("--green-below", optarg, 0.001, 0.999, &o.green_below); break;
        case 'F': {
            cli_format f;
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &f);
            fmt = f == CLI_FMT_CSV ? 1 : f == CLI_FMT_JSON ? 2 : f == CLI_FMT_JSONL ? 3 : 0;
            break;
        }
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
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
        cli_error("predict: %s", cw_store_why(st, s));
    } else {
        cli_model_age_note("predict", p);
        char d[16];
        cw_time_format(p->day * 86400, CW_TIME_DATE, d, sizeof d);
        /* rows [offset, offset + top) of the ranking */
        int64_t from = offset < p->n ? offset : p->n, red = 0;
        int64_t n = (int64_t)top < p->n - from ? from + (int64_t)top : p->n;
        for (int64_t i = 0; i < p->n; i++)
            red += p->rows[i].probability >= o.green_below;
        if (fmt == 1)
            printf("day,account_id,probability,drivers\n");
        else if (fmt == 2) {
            printf("{\"day\":\"%s\",\"model\":%lld,\"model_name\":", d, (long long)p->model_id);
            cw_json_fstrz(stdout, p->model_name);
            printf(",\"accounts\":%lld,\"at_or_above_green_below\":%lld,", (long long)p->n,
                   (long long)red);
            if (p->rows_design == CW_ROWS_RENEWAL)
                printf("\"rows\":\"renewal\",\"renewal_days\":%d,\"not_due\":%lld,",
                       p->renewal_days, (long long)p->not_due);
            fputs("\"green_below\":", stdout);
            cw_json_fnum(stdout, o.green_below);
            fputs(",\"top\":[", stdout);
        } else if (fmt == 0 && p->rows_design == CW_ROWS_RENEWAL)
            printf("renewal model: scores the accounts whose next renewal falls in the %d days "
                   "after %s; %lld active account(s) not due are not scored\n",
                   p->renewal_days, d, (long long)p->not_due);
        if (fmt == 0)
            printf("%s: %lld accounts scored with model %lld (%s); %lld at or above %.0f%%\n"
                   "%-10s %6s  %s\n",
                   d, (long long)p->n, (long long)p->model_id, p->model_name, (long long)red,
                   100 * o.green_below, "account", "risk", "top drivers");
        for (int64_t i = from; i < n; i++) {
            const cw_prediction *r = &p->rows[i];
            if (fmt == 1) {
                printf("%s,", d);
                csv_field(r->account_id);
                printf(",%.17g,", r->probability); /* exact: ties stay ties */
                csv_field(r->drivers_json);
                putchar('\n');
            } else if (fmt == 2 || fmt == 3) {
                if (fmt == 2 && i > from)
                    putchar(',');
                fputs("{\"account_id\":", stdout);
                cw_json_fstrz(stdout, r->account_id);
                fputs(",\"probability\":", stdout); /* shortest exact: ties stay ties */
                cw_json_fnum(stdout, r->probability);
                printf(",\"drivers\":%s}%s", r->drivers_json ? r->drivers_json : "null",
                       fmt == 3 ? "\n" : "");
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
