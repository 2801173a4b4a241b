/*
 * report_html.c — `churnwatch report html --out FILE`: the dashboard's
 * views as one self-contained HTML file to e-mail to leadership. The data
 * the API would serve (at-risk list, the riskiest accounts in full, the
 * retention reports, backtests, open alerts) is embedded as JSON; the same
 * app.js, uPlot and CSS as the server's are inlined, and app.js reads the
 * embedded data instead of calling the API. Nothing is fetched.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/json.h"
#include "api/api.h"
#include "cli.h"
#include "serve.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Stores a report's JSON, or {"empty": true, "reason": …} when there is
 * nothing to report, under key. */
static cw_status put_report(json_t *data, const char *key, cw_store *st, cw_status s, json_t *v)
{
    if (s == CW_ERR_NOTFOUND || s == CW_ERR_INPUT) {
        json_object_set_new(data, key,
                            json_pack("{s:b, s:s}", "empty", 1, "reason", cw_store_errmsg(st)));
        return CW_OK;
    }
    if (s == CW_OK)
        json_object_set_new(data, key, v);
    return s;
}

static int put_asset(FILE *f, const char *name)
{
    const cw_asset *a = cw_asset_find(name);
    if (!a)
        return -1;
    return fwrite(a->data, 1, a->len, f) == a->len ? 0 : -1;
}

int cmd_report_html(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"accounts", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    const char *out = NULL;
    long detail = 20;
    int c;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 'o')
            out = optarg;
        else if (c == 'n') {
            char *end;
            detail = strtol(optarg, &end, 10);
            if (*end || detail < 0 || detail > 200) {
                cli_error("--accounts %s: expected 0..200", optarg);
                rc = EXIT_USAGE;
            }
        } else
            rc = EXIT_USAGE;
    }
    if (rc == 0 && (!out || optind < argc)) {
        cli_error(out ? "report html: unexpected argument" : "report html: --out FILE is required");
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
    json_t *data = json_object(), *v = NULL, *details = json_object();
    char now[32];
    json_object_set_new(data, "generated",
                        json_string(cw_time_format((int64_t)time(NULL), 0, now, sizeof now)));
    json_object_set_new(data, "session", json_pack("{s:s}", "role", "read"));
    cw_api_accounts_q q;
    cw_api_accounts_q_init(&q);
    q.limit = 200;
    if ((s = cw_api_accounts(st, NULL, &q, &v)) == CW_OK) {
        json_object_set_new(data, "accounts", v);
        size_t i;
        json_t *it;
        json_array_foreach (json_object_get(v, "items"), i, it) {
            if ((long)i >= detail)
                break;
            json_t *d = NULL;
            const char *id = json_string_value(json_object_get(it, "id"));
            if ((s = cw_api_account(st, id, &d)) != CW_OK)
                break;
            json_object_set_new(details, id, d);
        }
    }
    json_object_set_new(data, "account", details);
    if (s == CW_OK && (s = cw_api_facets(st, &v)) == CW_OK)
        json_object_set_new(data, "facets", v);
    /* Each report is computed before put_report reads v (argument
     * evaluation order is unspecified). */
    cw_status r;
    if (s == CW_OK) {
        r = cw_api_report_revenue(st, 0, NULL, &v);
        s = put_report(data, "revenue", st, r, v);
    }
    if (s == CW_OK) {
        r = cw_api_report_cohorts(st, NULL, 12, &v);
        s = put_report(data, "cohorts", st, r, v);
    }
    if (s == CW_OK) {
        r = cw_api_report_reasons(st, NULL, &v);
        s = put_report(data, "reasons", st, r, v);
    }
    if (s == CW_OK && (s = cw_api_backtests(st, &v)) == CW_OK)
        json_object_set_new(data, "backtests", v);
    if (s == CW_OK && (s = cw_api_models(st, &v)) == CW_OK)
        json_object_set_new(data, "models", v);
    if (s == CW_OK &&
        (s = cw_api_alerts_list(st, "open", NULL, 500, 0, (int64_t)time(NULL), &v)) == CW_OK)
        json_object_set_new(data, "alerts", v);
    if (s != CW_OK) {
        cli_error("%s", cw_store_errmsg(st));
        json_decref(data);
        cw_store_close(st);
        cw_config_free(cfg);
        return cli_exit_code(s);
    }
    /* JSON_ESCAPE_SLASH: "</script>" can never appear inside the data. */
    char *text = cw_json_dumps(data, JSON_COMPACT | JSON_ESCAPE_SLASH);
    json_decref(data);
    FILE *f = text ? fopen(out, "w") : NULL;
    int bad = !f, err = text ? errno : ENOMEM; /* err: why, for the message */
    if (f) {
        fputs("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
              "<title>churnwatch — customer health report</title>\n<style>\n",
              f);
        bad |= put_asset(f, "uplot.css") | put_asset(f, "app.css");
        fputs("</style></head>\n<body>\n<div id=\"app\"></div>\n"
              "<script type=\"application/json\" id=\"cw-data\">",
              f);
        fputs(text, f);
        fputs("</script>\n<script>\n", f);
        bad |= put_asset(f, "uplot.js");
        fputs("\n</script>\n<script type=\"module\">\n", f);
        bad |= put_asset(f, "app.js");
        fputs("\n</script>\n</body></html>\n", f);
        /* A full disk shows on the first buffer that does not fit, or at
         * the latest on fclose: say which (ENOSPC, EIO), not just "cannot". */
        err = 0;
        if (bad || ferror(f) || fflush(f) != 0) {
            bad = 1;
            err = errno;
        }
        if (fclose(f) != 0 && !bad) {
            bad = 1;
            err = errno;
        }
    }
    free(text);
    cw_store_close(st);
    cw_config_free(cfg);
    if (bad) {
        if (err)
            cli_error("%s: cannot write the report: %s", out, strerror(err));
        else
            cli_error("%s: cannot write the report", out);
        return EXIT_IO;
    }
    return 0;
}
