/*
 * cmd_deliver.c — `churnwatch deliver` (drain the outbox), `churnwatch
 * outbox` (list, show, retry and purge its messages) and `churnwatch tasks`
 * (the CSM task list the task action fills). Thin layers over deliver.c
 * and store/sql/store_outbox.c; docs/actions.md explains the mechanics.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/json.h"
#include "report_fmt.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A time argument: unix seconds, a date or an ISO timestamp. */
static int parse_when(const char *opt, const char *v, int64_t *out)
{
    const char *why = NULL;
    if (cw_time_parse(v, strlen(v), CW_TIME_NAIVE_UTC, out, &why) != CW_OK) {
        cli_error("%s %s: %s", opt, v, why ? why : "not a time");
        return EXIT_USAGE;
    }
    return 0;
}

static int parse_count(const char *opt, const char *v, int64_t *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 1) {
        cli_error("%s %s: expected a positive integer", opt, v);
        return EXIT_USAGE;
    }
    *out = x;
    return 0;
}

int cmd_deliver(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_deliver_opts o = {.now = 0, .out = stdout, .log = stderr};
    int quiet = 0, c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "deliver", NULL, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 'l')
            rc = parse_count("--limit", optarg, &o.limit);
        else if (c == 'n')
            o.dry_run = 1;
        else if (c == 't')
            rc = parse_when("--now", optarg, &o.now);
        else if (c == 'q')
            quiet = 1;
        else
            rc = EXIT_USAGE;
    }
    if (rc == 0 && optind < argc) {
        cli_error("deliver: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (quiet)
        o.log = NULL;
    if (rc == 0 && !o.dry_run) {
        /* Sent, stdout is only the JSON Lines sink "-": data, kept exact
         * unless on a terminal. A dry run is for people: escaped. */
        cli_stdout_data();
        o.out = stdout;
    }
    cw_actions *acts = NULL;
    cw_error err;
    if (rc == 0) {
        cw_status s = cw_actions_load(cfg, &acts, &err);
        if (s != CW_OK) {
            cli_error("%s", err.msg);
            rc = cli_exit_code(s);
        }
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc == 0) {
        cw_deliver_stats ds;
        cw_status s = cw_deliver_run(st, cfg, acts, &o, &ds);
        if (s != CW_OK) {
            cli_error("deliver: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else if (!quiet && cli_log_is_json()) {
            char n[5][24];
            snprintf(n[0], sizeof n[0], "%lld", (long long)ds.attempted);
            snprintf(n[1], sizeof n[1], "%lld", (long long)ds.delivered);
            snprintf(n[2], sizeof n[2], "%lld", (long long)ds.retrying);
            snprintf(n[3], sizeof n[3], "%lld", (long long)ds.dead);
            snprintf(n[4], sizeof n[4], "%lld", (long long)ds.rate_limited);
            cli_log("info", o.dry_run ? "deliver: dry run" : "deliver: finished", "#attempted",
                    n[0], "#delivered", n[1], "#retrying", n[2], "#dead", n[3], "#rate_limited",
                    n[4], NULL);
        } else if (!quiet) {
            if (o.dry_run)
                fprintf(stderr, "deliver: dry run, %lld due message(s) shown, nothing sent\n",
                        (long long)ds.attempted);
            else
                fprintf(stderr,
                        "deliver: %lld attempted, %lld delivered, %lld to retry, %lld dead, "
                        "%lld deferred by rate limits\n",
                        (long long)ds.attempted, (long long)ds.delivered, (long long)ds.retrying,
                        (long long)ds.dead, (long long)ds.rate_limited);
        }
    }
    cw_store_close(st);
    cw_actions_free(acts);
    cw_config_free(cfg);
    return rc;
}

/* ---- outbox ----------------------------------------------------------- */

static const char *const outbox_status_names[] = {"pending", "delivered", "dead"};

static void when(int64_t t, char *buf, size_t n)
{
    if (t)
        cw_time_format(t, CW_TIME_TIMESTAMP, buf, n);
    else
        snprintf(buf, n, "-");
}

typedef struct list_ctx {
    int json; /* 0 table, 1 JSON objects, 2 CSV */
    int show, count;
    FILE *out; /* stdout, or a --format / --offset / --limit filter (rf_rows) */
} list_ctx;

/* The list's stream: stdout, or rf_rows over it when the output is a JSON
 * document or --offset / --limit select rows (one a line, after the table
 * header). NULL when out of memory. */
static FILE *list_out(rf_rows *r, cli_format fmt, int64_t offset, int64_t limit)
{
    if (fmt == CLI_FMT_TABLE && offset == 0 && limit < 0)
        return stdout;
    if (fmt == CLI_FMT_JSONL && offset == 0 && limit < 0)
        return stdout;
    return rf_rows_begin(r,
                         fmt == CLI_FMT_JSON    ? RF_ROWS_JSON
                         : fmt == CLI_FMT_JSONL ? RF_ROWS_JSONL
                                                : RF_ROWS_TEXT,
                         1, offset, limit, stdout);
}

/* s as a CSV field on f (quoted when needed; nothing for NULL). */
static void csv_field(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static const char *const outbox_csv_head =
    "id,idem_key,action,status,attempts,dest,next_at,created_at,last_at,delivered_at,last_error\n";

static cw_status print_outbox_row(const cw_outbox_row *r, void *ud)
{
    list_ctx *x = ud;
    char na[32], ca[32], da[32], la[32];
    when(r->next_at, na, sizeof na);
    when(r->created_at, ca, sizeof ca);
    when(r->delivered_at, da, sizeof da);
    when(r->last_at, la, sizeof la);
    const char *st = (unsigned)r->status < 3 ? outbox_status_names[r->status] : "?";
    x->count++;
    if (x->json == 2) {
        if (x->count == 1)
            fputs(outbox_csv_head, x->out);
        fprintf(x->out, "%lld,", (long long)r->id);
        csv_field(x->out, r->idem_key);
        fputc(',', x->out);
        csv_field(x->out, r->action);
        fprintf(x->out, ",%s,%d,", st, r->attempts);
        csv_field(x->out, r->dest);
        fprintf(x->out, ",%lld,%lld,%lld,%lld,", (long long)r->next_at, (long long)r->created_at,
                (long long)r->last_at, (long long)r->delivered_at);
        csv_field(x->out, r->last_error);
        fputc('\n', x->out);
    } else if (x->json) {
        fprintf(x->out, "{\"id\":%lld,\"idem_key\":", (long long)r->id);
        cw_json_fstrz(x->out, r->idem_key);
        fprintf(x->out, ",\"action\":");
        cw_json_fstrz(x->out, r->action);
        fprintf(x->out, ",\"status\":\"%s\",\"attempts\":%d,\"dest\":", st, r->attempts);
        cw_json_fstrz(x->out, r->dest);
        fprintf(x->out,
                ",\"next_at\":%lld,\"created_at\":%lld,\"last_at\":%lld,\"delivered_at\":%lld,"
                "\"last_error\":",
                (long long)r->next_at, (long long)r->created_at, (long long)r->last_at,
                (long long)r->delivered_at);
        cw_json_fstrz(x->out, r->last_error);
        if (x->show)
            fprintf(x->out, ",\"payload\":%s", r->payload);
        fprintf(x->out, "}\n");
    } else if (x->show) {
        fprintf(x->out,
                "id           %lld\nidem_key     %s\naction       %s\nstatus       %s\n"
                "attempts     %d\ndestination  %s\ncreated      %s\nlast attempt %s\n"
                "next due     %s\ndelivered    %s\nlast error   %s\npayload      %s\n",
                (long long)r->id, r->idem_key, r->action, st, r->attempts, r->dest ? r->dest : "-",
                ca, la, r->status == 0 ? na : "-", da, r->last_error ? r->last_error : "-",
                r->payload);
    } else {
        if (x->count == 1)
            fprintf(x->out, "%-6s %-9s %-3s %-20s %-28s %-24s %s\n", "id", "status", "try",
                    "next/done", "action", "destination", "last error");
        fprintf(x->out, "%-6lld %-9s %-3d %-20s %-28s %-24s %s\n", (long long)r->id, st,
                r->attempts,
                r->status == 1   ? da
                : r->status == 0 ? na
                                 : la,
                r->action, r->dest ? r->dest : "-", r->last_error ? r->last_error : "");
    }
    return CW_OK;
}

static int parse_id(const char *v, int64_t *id)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 1) {
        cli_error("'%s' is not a message or task id", v);
        return EXIT_USAGE;
    }
    *id = x;
    return 0;
}

int cmd_outbox(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int status = -1, json = 0, c, have_before = 0;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    int64_t before = 0, now = (int64_t)time(NULL);
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "outbox", NULL, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 's') {
            status = -2;
            for (int i = 0; i < 3; i++)
                if (strcmp(optarg, outbox_status_names[i]) == 0)
                    status = i;
            if (strcmp(optarg, "all") == 0)
                status = -1;
            if (status == -2) {
                cli_error("--status %s: expected pending, delivered, dead or all", optarg);
                rc = EXIT_USAGE;
            }
        } else if (c == 'f') {
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt);
            json = fmt == CLI_FMT_CSV ? 2 : fmt != CLI_FMT_TABLE;
        } else if (c == 'l') {
            rc = cli_parse_count("--limit", optarg, &limit);
        } else if (c == 'O') {
            rc = cli_parse_count("--offset", optarg, &offset);
        } else if (c == 'b') {
            rc = parse_when("--delivered-before", optarg, &before);
            have_before = 1;
        } else if (c == 't')
            rc = parse_when("--now", optarg, &now);
        else
            rc = EXIT_USAGE;
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int64_t id = 0;
    if (rc == 0) {
        if (!sub) {
            cli_error("outbox: expected list, show ID, retry ID or purge --delivered-before DATE");
            rc = EXIT_USAGE;
        } else if (strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0) {
            if (optind + 2 != argc) {
                cli_error("outbox %s: expected one message id", sub);
                rc = EXIT_USAGE;
            } else {
                rc = parse_id(argv[optind + 1], &id);
            }
        } else if (strcmp(sub, "purge") == 0) {
            if (!have_before) {
                cli_error("outbox purge: --delivered-before DATE is required");
                rc = EXIT_USAGE;
            }
        } else if (strcmp(sub, "list") != 0) {
            rc = cli_unknown_sub("outbox", sub);
        }
        if (rc == 0 && strcmp(sub, "show") != 0 && strcmp(sub, "retry") != 0 &&
            optind + 1 != argc) {
            cli_error("outbox %s: unexpected argument '%s'", sub, argv[optind + 1]);
            rc = EXIT_USAGE;
        }
        if (rc == 0 && json == 2 && strcmp(sub, "list") != 0) {
            cli_error("outbox %s: --format csv: expected table, json or jsonl", sub);
            rc = EXIT_USAGE;
        }
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc == 0) {
        cw_status s = CW_OK;
        if (strcmp(sub, "list") == 0) {
            rf_rows rows;
            list_ctx x = {json, 0, 0, list_out(&rows, fmt, offset, limit)};
            s = x.out ? cw_outbox_scan(st, status, 0, print_outbox_row, &x) : CW_ERR_NOMEM;
            if (x.out && x.out != stdout)
                rf_rows_end(&rows);
            if (s == CW_OK && json == 2 && x.count == 0)
                fputs(outbox_csv_head, stdout);
            else if (s == CW_OK && !json && x.count == 0)
                printf("outbox: no messages\n");
        } else if (strcmp(sub, "show") == 0) {
            list_ctx x = {json, 1, 0, stdout};
            s = cw_outbox_scan(st, -1, id, print_outbox_row, &x);
            if (s == CW_OK && x.count == 0) {
                cli_error("outbox: no message %lld", (long long)id);
                rc = EXIT_USAGE;
            }
        } else if (strcmp(sub, "retry") == 0) {
            s = cw_outbox_retry(st, id, now);
            if (s == CW_OK)
                printf("outbox: message %lld is pending again\n", (long long)id);
        } else {
            int64_t n = 0;
            s = cw_outbox_purge(st, before, &n);
            if (s == CW_OK)
                printf("outbox: %lld delivered message(s) purged\n", (long long)n);
        }
        if (s != CW_OK) {
            cli_error("%s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        }
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}

/* ---- tasks ------------------------------------------------------------ */

static const char *const task_status_names[] = {"open", "done", "dismissed"};

static cw_status print_task(const cw_task *t, void *ud)
{
    list_ctx *x = ud;
    char due[32];
    if (t->due_day)
        cw_time_format(t->due_day, CW_TIME_DATE, due, sizeof due);
    else
        snprintf(due, sizeof due, "-");
    const char *st = (unsigned)t->status < 3 ? task_status_names[t->status] : "?";
    x->count++;
    if (x->json == 2) {
        if (x->count == 1)
            fputs("id,idem_key,account,assignee,status,due_day,title,body,closed_by\n", x->out);
        fprintf(x->out, "%lld,", (long long)t->id);
        csv_field(x->out, t->idem_key);
        fputc(',', x->out);
        csv_field(x->out, t->account);
        fputc(',', x->out);
        csv_field(x->out, t->assignee);
        fprintf(x->out, ",%s,%s,", st, t->due_day ? due : "");
        csv_field(x->out, t->title);
        fputc(',', x->out);
        csv_field(x->out, t->body);
        fputc(',', x->out);
        csv_field(x->out, t->closed_by);
        fputc('\n', x->out);
    } else if (x->json) {
        fprintf(x->out, "{\"id\":%lld,\"idem_key\":", (long long)t->id);
        cw_json_fstrz(x->out, t->idem_key);
        fprintf(x->out, ",\"account\":");
        cw_json_fstrz(x->out, t->account);
        fprintf(x->out, ",\"assignee\":");
        cw_json_fstrz(x->out, t->assignee);
        fprintf(x->out, ",\"status\":\"%s\",\"due_day\":", st);
        if (t->due_day)
            fprintf(x->out, "\"%s\"", due);
        else
            fprintf(x->out, "null");
        fprintf(x->out, ",\"title\":");
        cw_json_fstrz(x->out, t->title);
        fprintf(x->out, ",\"body\":");
        cw_json_fstrz(x->out, t->body);
        fprintf(x->out, ",\"closed_by\":");
        cw_json_fstrz(x->out, t->closed_by);
        fprintf(x->out, "}\n");
    } else {
        if (x->count == 1)
            fprintf(x->out, "%-6s %-9s %-10s %-12s %-26s %s\n", "id", "status", "due", "account",
                    "assignee", "title");
        fprintf(x->out, "%-6lld %-9s %-10s %-12s %-26s %s\n", (long long)t->id, st, due, t->account,
                t->assignee ? t->assignee : "(unassigned)", t->title);
    }
    return CW_OK;
}

int cmd_tasks(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int status = CW_TASK_OPEN, json = 0, c;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    const char *assignee = NULL, *as = NULL;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "tasks", NULL, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 's') {
            status = -2;
            for (int i = 0; i < 3; i++)
                if (strcmp(optarg, task_status_names[i]) == 0)
                    status = i;
            if (strcmp(optarg, "all") == 0)
                status = -1;
            if (status == -2) {
                cli_error("--status %s: expected open, done, dismissed or all", optarg);
                rc = EXIT_USAGE;
            }
        } else if (c == 'a')
            assignee = optarg;
        else if (c == 'y')
            as = optarg;
        else if (c == 'f') {
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt);
            json = fmt == CLI_FMT_CSV ? 2 : fmt != CLI_FMT_TABLE;
        } else if (c == 'l')
            rc = cli_parse_count("--limit", optarg, &limit);
        else if (c == 'O')
            rc = cli_parse_count("--offset", optarg, &offset);
        else
            rc = EXIT_USAGE;
    }
    const char *sub = optind < argc ? argv[optind] : "list";
    int64_t id = 0;
    if (rc == 0) {
        if (strcmp(sub, "done") == 0 || strcmp(sub, "dismiss") == 0) {
            if (optind + 2 != argc) {
                cli_error("tasks %s: expected one task id", sub);
                rc = EXIT_USAGE;
            } else {
                rc = parse_id(argv[optind + 1], &id);
            }
        } else if (strcmp(sub, "list") != 0) {
            rc = cli_unknown_sub("tasks", sub);
        } else if (optind + 1 < argc) {
            cli_error("tasks list: unexpected argument '%s'", argv[optind + 1]);
            rc = EXIT_USAGE;
        }
        if (rc == 0 && json == 2 && strcmp(sub, "list") != 0) {
            cli_error("tasks %s: --format csv: expected table, json or jsonl", sub);
            rc = EXIT_USAGE;
        }
    }
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc == 0) {
        cw_status s;
        if (strcmp(sub, "list") == 0) {
            rf_rows rows;
            list_ctx x = {json, 0, 0, list_out(&rows, fmt, offset, limit)};
            s = x.out ? cw_tasks_scan(st, status, assignee, print_task, &x) : CW_ERR_NOMEM;
            if (x.out && x.out != stdout)
                rf_rows_end(&rows);
            if (s == CW_OK && json == 2 && x.count == 0)
                fputs("id,idem_key,account,assignee,status,due_day,title,body,closed_by\n", stdout);
            else if (s == CW_OK && !json && x.count == 0)
                printf("tasks: none\n");
        } else {
            cw_task_status to = strcmp(sub, "done") == 0 ? CW_TASK_DONE : CW_TASK_DISMISSED;
            s = cw_task_close(st, id, to, (int64_t)time(NULL), cli_acting_user(as));
            if (s == CW_OK)
                printf("tasks: task %lld %s\n", (long long)id,
                       to == CW_TASK_DONE ? "done" : "dismissed");
        }
        if (s != CW_OK) {
            cli_error("%s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        }
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
