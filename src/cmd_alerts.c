/*
 * cmd_alerts.c — `churnwatch evaluate` (run the rules on one snapshot
 * day), `churnwatch alerts list|show|ack|snooze|resolve` (the CSM's view of
 * alerts and their history) and `churnwatch report plays` (acted-on vs
 * held-out outcomes per playbook).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/json.h"
#include "cli.h"
#include "report_fmt.h"

#include <getopt.h> /* optarg, optind */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int store_fail(cw_store *st, const char *what, cw_status s)
{
    cli_error("%s: %s", what, cw_store_why(st, s));
    return cli_exit_code(s);
}

void cli_print_evaluate(const char *day, const cw_evaluate_stats *e)
{
    fprintf(stderr,
            "evaluate %s: %lld rules on %lld accounts and %lld users; %lld firing, %lld opened, "
            "%lld in cooldown, %lld resolved, %lld gone, %lld unsnoozed; %lld held out, %lld "
            "messages queued%s%s\n",
            day, (long long)e->rules, (long long)e->accounts, (long long)e->users,
            (long long)e->firing, (long long)e->opened, (long long)e->cooling,
            (long long)e->resolved, (long long)e->gone, (long long)e->unsnoozed,
            (long long)e->held_out, (long long)e->queued,
            e->backfilled ? "; backfill: playbooks not run" : "",
            e->already_evaluated ? " (day evaluated before)" : "");
}

int cmd_evaluate(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int64_t day = -1;
    int quiet = 0, c;
    unsigned flags = 0;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "evaluate", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'a': rc = cli_parse_day("--as-of", optarg, &day); break;
        case 'q': quiet = 1; break;
        case 'B': flags |= CW_EVALUATE_BACKFILL; break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("evaluate: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && day < 0) {
        cli_error("evaluate: give --as-of DATE (a day with a metric snapshot)");
        rc = EXIT_USAGE;
    }
    cw_rules *rs = NULL;
    if (rc == 0)
        rc = cli_load_rules(cfg, &rs);
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc == 0) {
        cw_evaluate_stats e;
        cw_status s = cw_alerts_evaluate_ex(st, rs, day, (int64_t)time(NULL), flags, &e);
        if (s != CW_OK)
            rc = store_fail(st, "evaluate", s);
        else if (!quiet) {
            char d[16];
            cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
            cli_print_evaluate(d, &e);
        }
    }
    cw_store_close(st);
    cw_rules_free(rs);
    cw_config_free(cfg);
    return rc;
}

static void day_str(int64_t day, char *buf, size_t n)
{
    if (day < 0)
        snprintf(buf, n, "-");
    else
        cw_time_format(day * 86400, CW_TIME_DATE, buf, n);
}

static void print_list(const cw_alert_list *l)
{
    int64_t held = 0;
    printf("%-6s %-10s %-8s %-8s %-24s %-12s %-12s %-22s %s\n", "id", "opened", "severity",
           "status", "rule", "account", "user", "playbook", "values");
    for (int64_t i = 0; i < l->n; i++) {
        const cw_alert *a = &l->alerts[i];
        char d[16], pb[64];
        day_str(a->opened_day, d, sizeof d);
        snprintf(pb, sizeof pb, "%s%s", a->playbook ? a->playbook : "-",
                 a->control == 1 ? "*" : "");
        held += a->control == 1;
        printf("%-6lld %-10s %-8s %-8s %-24s %-12s %-12s %-22s %s\n", (long long)a->id, d,
               a->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning",
               cw_alert_status_name(a->status) ? cw_alert_status_name(a->status) : "?", a->rule,
               a->account_id ? a->account_id : "?", a->user_id ? a->user_id : "-", pb,
               a->values_json ? a->values_json : "");
    }
    printf("%lld alert(s)%s\n", (long long)l->n,
           held ? "; * = held out (control group: no action taken)" : "");
}

static json_t *day_json(int64_t day)
{
    char d[16];
    if (day < 0)
        return json_null();
    cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
    return json_string(d);
}

/* One JSON object per alert a line (strings escaped by jansson); as_array
 * wraps them in one JSON array. */
static void print_json(const cw_alert_list *l, int as_array)
{
    if (as_array)
        fputs(l->n ? "[\n" : "[", stdout);
    for (int64_t i = 0; i < l->n; i++) {
        const cw_alert *a = &l->alerts[i];
        json_t *o = json_object();
        json_t *vals = a->values_json ? json_loads(a->values_json, 0, NULL) : NULL;
        const char *sn = cw_alert_status_name(a->status);
        json_object_set_new(o, "id", json_integer(a->id));
        json_object_set_new(o, "rule", json_string(a->rule));
        json_object_set_new(o, "status", json_integer(a->status));
        json_object_set_new(o, "status_name", json_string(sn ? sn : "?"));
        json_object_set_new(
            o, "severity",
            json_string(a->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning"));
        json_object_set_new(o, "account_id",
                            a->account_id ? json_string(a->account_id) : json_null());
        json_object_set_new(o, "user_id", a->user_id ? json_string(a->user_id) : json_null());
        json_object_set_new(o, "opened_day", day_json(a->opened_day));
        json_object_set_new(o, "last_firing_day", day_json(a->last_firing_day));
        json_object_set_new(o, "closed_day", day_json(a->closed_day));
        json_object_set_new(o, "snoozed_until", day_json(a->snoozed_until));
        json_object_set_new(o, "playbook", a->playbook ? json_string(a->playbook) : json_null());
        json_object_set_new(o, "held_out", json_boolean(a->control == 1));
        json_object_set_new(o, "acked_by", a->acked_by ? json_string(a->acked_by) : json_null());
        json_object_set_new(o, "values", vals ? vals : json_object());
        char *txt = cw_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (txt)
            printf("%s%s\n", txt, as_array && i + 1 < l->n ? "," : "");
        free(txt);
        json_decref(o);
    }
    if (as_array)
        puts("]");
}

/* The list as CSV: the JSON objects' fields, `values` as its JSON text. */
static int print_csv(const cw_alert_list *l)
{
    static const rf_col cols[] = {
        {"id", RF_INT, 0, NULL, 0, NULL, 0},
        {"rule", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"status", RF_INT, 0, NULL, 0, NULL, 0},
        {"status_name", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"severity", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"account_id", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"user_id", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"opened_day", RF_DATE, 0, NULL, 0, NULL, 0},
        {"last_firing_day", RF_DATE, 0, NULL, 0, NULL, 0},
        {"closed_day", RF_DATE, 0, NULL, 0, NULL, 0},
        {"snoozed_until", RF_DATE, 0, NULL, 0, NULL, 0},
        {"playbook", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"held_out", RF_BOOL, 0, NULL, 0, NULL, 0},
        {"acked_by", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"values", RF_TEXT, 0, NULL, 0, NULL, 0},
    };
    rf_report r;
    if (l->n > INT32_MAX || rf_report_init(&r, cols, 15, (int)l->n, NULL) != 0)
        return EXIT_INTERNAL;
    for (int i = 0; i < (int)l->n; i++) {
        const cw_alert *a = &l->alerts[i];
        const char *sn = cw_alert_status_name(a->status);
        rf_set_int(&r, i, 0, a->id);
        rf_set_text(&r, i, 1, a->rule);
        rf_set_int(&r, i, 2, a->status);
        rf_set_text(&r, i, 3, sn ? sn : "?");
        rf_set_text(&r, i, 4, a->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning");
        rf_set_text(&r, i, 5, a->account_id);
        rf_set_text(&r, i, 6, a->user_id);
        rf_set_date(&r, i, 7, a->opened_day);
        rf_set_date(&r, i, 8, a->last_firing_day);
        rf_set_date(&r, i, 9, a->closed_day);
        rf_set_date(&r, i, 10, a->snoozed_until);
        rf_set_text(&r, i, 11, a->playbook);
        rf_set_bool(&r, i, 12, a->control == 1);
        rf_set_text(&r, i, 13, a->acked_by);
        rf_set_text(&r, i, 14, a->values_json ? a->values_json : "{}");
    }
    rf_report_emit(&r, RF_FMT_CSV, NULL, 0, NULL, 0, -1);
    rf_report_free(&r);
    return 0;
}

static int parse_id(const char *s, int64_t *id)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s || v < 1) {
        cli_error("alerts: '%s' is not an alert id", s);
        return EXIT_USAGE;
    }
    *id = v;
    return 0;
}

int cmd_alerts(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("usage: churnwatch alerts list|show|ack|snooze|resolve (see `churnwatch help "
                  "alerts`)");
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    int is_list = !strcmp(sub, "list"), is_show = !strcmp(sub, "show"),
        is_ack = !strcmp(sub, "ack"), is_snooze = !strcmp(sub, "snooze"),
        is_resolve = !strcmp(sub, "resolve");
    if (!is_list && !is_show && !is_ack && !is_snooze && !is_resolve) {
        return cli_unknown_sub("alerts", sub);
    }
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_alerts_query q = {.today = -2};
    int c;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t until = -1, limit = -1, offset = 0;
    const char *by = NULL, *note = NULL;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc - 1, argv + 1, "alerts", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'A': q.all = 1; break;
        case 'r': q.rule = optarg; break;
        case 'c': q.account = optarg; break;
        case 'f': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
        case 'u': rc = cli_parse_day("--until", optarg, &until); break;
        case 'b':
        case 'y': by = optarg; break;
        case 'n': note = optarg; break;
        case 'o': rc = cli_parse_day("--opened-since", optarg, &q.opened_from); break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && !is_list && fmt == CLI_FMT_CSV) {
        cli_error("alerts %s: --format csv: expected table, json or jsonl", sub);
        rc = EXIT_USAGE;
    }
    int64_t id = 0;
    int nargs = argc - 1 - optind;
    if (rc == 0 && is_list && nargs > 0) {
        cli_error("alerts list: unexpected argument '%s'", argv[1 + optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && !is_list) {
        if (nargs != 1) {
            cli_error("alerts %s: give one alert id", sub);
            rc = EXIT_USAGE;
        } else
            rc = parse_id(argv[1 + optind], &id);
    }
    if (rc == 0 && is_snooze && until < 0) {
        cli_error("alerts snooze: give --until DATE");
        rc = EXIT_USAGE;
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, is_list || is_show, &st);
    if (rc == 0 && (is_list || is_show)) {
        int64_t today = -1;
        cw_status s = cw_alerts_last_day(st, &today);
        if (q.today == -2)
            q.today = today;
        q.id = id;
        cw_alert_list l = {0, NULL};
        if (s == CW_OK)
            s = cw_alerts_list(st, &q, &l);
        if (s != CW_OK)
            rc = store_fail(st, "alerts", s);
        else if (is_show && l.n == 0) {
            cli_error("alerts show: no alert %lld", (long long)id);
            rc = EXIT_USAGE;
        } else if (fmt != CLI_FMT_TABLE && is_show) {
            print_json(&l, 0);
        } else if (is_list) {
            /* --offset / --limit: a view of the list; l keeps its rows. */
            cw_alert_list v = l;
            int64_t skip = offset < v.n ? offset : v.n;
            v.alerts += skip;
            v.n -= skip;
            if (limit >= 0 && v.n > limit)
                v.n = limit;
            if (fmt == CLI_FMT_CSV)
                rc = print_csv(&v);
            else if (fmt != CLI_FMT_TABLE)
                print_json(&v, fmt == CLI_FMT_JSON);
            else
                print_list(&v);
        } else {
            const cw_alert *a = &l.alerts[0];
            char d[16], lf[16], cd[16], sn[16];
            day_str(a->opened_day, d, sizeof d);
            day_str(a->last_firing_day, lf, sizeof lf);
            day_str(a->closed_day, cd, sizeof cd);
            day_str(a->snoozed_until, sn, sizeof sn);
            printf("alert %lld: %s (%s)\n", (long long)a->id, a->rule,
                   a->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning");
            printf("  account   %s  %s\n", a->account_id ? a->account_id : "?",
                   a->account_name ? a->account_name : "");
            if (a->user_id)
                printf("  user      %s\n", a->user_id);
            printf("  status    %s (%d)%s%s\n", cw_alert_status_name(a->status), a->status,
                   a->status == CW_ALERT_SNOOZED ? " until " : "",
                   a->status == CW_ALERT_SNOOZED ? sn : "");
            printf("  opened    %s   last firing %s   closed %s\n", d, lf, cd);
            printf("  values    %s\n", a->values_json ? a->values_json : "{}");
            printf("  playbook  %s%s\n", a->playbook ? a->playbook : "-",
                   a->control == 1 ? " (held out: control group)" : "");
            if (a->acked_by && *a->acked_by)
                printf("  acked by  %s\n", a->acked_by);
            printf("history:\n");
            s = cw_alert_history(st, a->id, stdout);
            if (s != CW_OK)
                rc = store_fail(st, "alerts", s);
        }
        cw_alert_list_free(&l);
    } else if (rc == 0) {
        cw_alert_action what = is_ack      ? CW_ALERT_DO_ACK
                               : is_snooze ? CW_ALERT_DO_SNOOZE
                                           : CW_ALERT_DO_RESOLVE;
        cw_status s =
            cw_alert_update(st, id, what, until, cli_acting_user(by), note, (int64_t)time(NULL));
        if (s != CW_OK)
            rc = store_fail(st, "alerts", s);
        else
            printf("alert %lld %s\n", (long long)id,
                   is_ack      ? "acknowledged"
                   : is_snooze ? "snoozed"
                               : "resolved");
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}

static void fmt_pct(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%+.1f", 100 * v);
}

/* The plays report's rows for CSV and JSON (differences as fractions). */
static void plays_emit(const cw_play_row *rows, int n, cli_format fmt, int64_t offset,
                       int64_t limit)
{
    static const rf_col cols[] = {
        {"playbook", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"treated", RF_INT, 0, NULL, 0, NULL, 0},
        {"control", RF_INT, 0, NULL, 0, NULL, 0},
        {"treated_churned", RF_INT, 0, NULL, 0, NULL, 0},
        {"control_churned", RF_INT, 0, NULL, 0, NULL, 0},
        {"churn_diff", RF_NUM, 0, NULL, 0, NULL, 6},
        {"churn_lo", RF_NUM, 0, NULL, 0, NULL, 6},
        {"churn_hi", RF_NUM, 0, NULL, 0, NULL, 6},
        {"treated_recovered", RF_INT, 0, NULL, 0, NULL, 0},
        {"control_recovered", RF_INT, 0, NULL, 0, NULL, 0},
        {"recover_diff", RF_NUM, 0, NULL, 0, NULL, 6},
        {"recover_lo", RF_NUM, 0, NULL, 0, NULL, 6},
        {"recover_hi", RF_NUM, 0, NULL, 0, NULL, 6},
    };
    rf_report rep;
    if (rf_report_init(&rep, cols, 13, n, NULL) != 0)
        return;
    for (int i = 0; i < n; i++) {
        const cw_play_row *r = &rows[i];
        rf_set_text(&rep, i, 0, r->playbook);
        const int64_t c[] = {r->treated, r->control, r->treated_churned, r->control_churned};
        for (int k = 0; k < 4; k++)
            rf_set_int(&rep, i, 1 + k, c[k]);
        rf_set_num(&rep, i, 5, r->churn_diff);
        rf_set_num(&rep, i, 6, r->churn_lo);
        rf_set_num(&rep, i, 7, r->churn_hi);
        rf_set_int(&rep, i, 8, r->treated_recovered);
        rf_set_int(&rep, i, 9, r->control_recovered);
        rf_set_num(&rep, i, 10, r->recover_diff);
        rf_set_num(&rep, i, 11, r->recover_lo);
        rf_set_num(&rep, i, 12, r->recover_hi);
    }
    const rf_meta meta[] = {{"report", "plays", 0}};
    rf_report_emit(&rep, (int)fmt, meta, 1, "playbooks", offset, limit);
    rf_report_free(&rep);
}

int report_plays(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int64_t from = -1, to = -1;
    long horizon = 90;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "report", "plays", NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'f': rc = cli_parse_day("--from", optarg, &from); break;
        case 't': rc = cli_parse_day("--to", optarg, &to); break;
        case 'h': {
            char *end;
            horizon = strtol(optarg, &end, 10);
            if (*end || horizon < 1 || horizon > 3650) {
                cli_error("--horizon %s: expected a number of days 1..3650", optarg);
                rc = EXIT_USAGE;
            }
            break;
        }
        case 'F': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("report plays: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 1, &st);
    if (rc == 0) {
        cw_play_row *rows = NULL;
        int n = 0;
        cw_status s = cw_plays_report(st, from, to, (int)horizon, &rows, &n);
        if (s != CW_OK)
            rc = store_fail(st, "report plays", s);
        else if (fmt != CLI_FMT_TABLE) {
            plays_emit(rows, n, fmt, offset, limit);
        } else {
            printf("Play effectiveness: acted-on vs held-out alerts, churn within %ld days of the "
                   "alert and recovery (alert auto-resolved);\ndifferences in percentage points "
                   "with 95%% Newcombe intervals (docs/rules.md)\n\n",
                   horizon);
            printf("%-22s %7s %7s  %-30s %s\n", "playbook", "acted", "held", "churn diff [CI]",
                   "recovery diff [CI]");
            /* the table keeps its own layout; --offset/--limit select
               the same playbooks as in csv and json */
            int64_t end = limit >= 0 && offset + limit < n ? offset + limit : n;
            for (int64_t i = offset; i < end; i++) {
                const cw_play_row *r = &rows[i];
                char a[16], b[16], cc[16], d[16], e[16], f[16], c1[64], c2[64];
                fmt_pct(a, sizeof a, r->churn_diff);
                fmt_pct(b, sizeof b, r->churn_lo);
                fmt_pct(cc, sizeof cc, r->churn_hi);
                fmt_pct(d, sizeof d, r->recover_diff);
                fmt_pct(e, sizeof e, r->recover_lo);
                fmt_pct(f, sizeof f, r->recover_hi);
                snprintf(c1, sizeof c1, "%s [%s, %s]", a, b, cc);
                snprintf(c2, sizeof c2, "%s [%s, %s]", d, e, f);
                printf("%-22s %7lld %7lld  %-30s %s\n", r->playbook, (long long)r->treated,
                       (long long)r->control, c1, c2);
            }
            if (n == 0)
                printf("(no alert with a playbook is %ld days old yet)\n", horizon);
        }
        free(rows);
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
