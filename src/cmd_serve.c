/*
 * cmd_serve.c — `churnwatch serve` (the JSON API and the dashboard, see
 * serve_http.c) and `churnwatch token` (create, list and revoke the API
 * tokens the server accepts).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"
#include "serve.h"

#include <jansson.h>

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_size(const char *opt, const char *s, size_t lo, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    if (end == s || *end || v == 0 || v > (1ull << 40) / mul || v * mul < lo) {
        cli_error("%s %s: expected a size such as 1M or 65536 (at least %zu bytes)", opt, s, lo);
        return EXIT_USAGE;
    }
    *out = (size_t)(v * mul);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    srv_opts o = {.listen = "127.0.0.1:8080",
                  .threads = 4,
                  .max_body = 1 << 20,
                  .max_ingest_body = 64u << 20};
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "serve", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'l': o.listen = optarg; break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                cli_error("--threads %s: expected 1..64", optarg);
                rc = EXIT_USAGE;
            }
            o.threads = (int)n;
            break;
        }
        case 'b': rc = parse_size("--max-body", optarg, 1024, &o.max_body); break;
        case 'i': rc = parse_size("--max-ingest-body", optarg, 1024, &o.max_ingest_body); break;
        case 'a': o.access_log = 1; break;
        /* [serve] settings: the table in lib/core/config.c checks the values. */
        case 'p': rc = cli_override(cfg, "serve.max_connections_per_ip", optarg); break;
        case 'h': rc = cli_override(cfg, "serve.header_timeout_s", optarg); break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("serve: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc == 0) {
        /* Refuse a missing database (only `init` creates one) before the
         * server opens its own connections. */
        cw_store *st = NULL;
        rc = cli_open_store(cfg, 1, &st);
        cw_store_close(st);
    }
    if (rc == 0) {
        o.db = cw_config_get(cfg, "store.db");
        o.max_per_ip = (unsigned)cw_config_get_int(cfg, "serve.max_connections_per_ip");
        o.header_timeout = (int)cw_config_get_int(cfg, "serve.header_timeout_s");
        o.cfg = cfg;
        rc = srv_run(&o);
    }
    cw_config_free(cfg);
    return rc;
}

/* "30d", "12h", "90m" or "3600s" (or plain seconds) into seconds. */
static int parse_duration(const char *opt, const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    int64_t mul = 1;
    if (*end == 'd')
        mul = 86400, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 's')
        end++;
    if (end == s || *end || v <= 0 || v > (int64_t)3660 * 86400 / mul) {
        cli_error("%s %s: expected a duration such as 30d, 12h or 90m (at most 3660d)", opt, s);
        return EXIT_USAGE;
    }
    *out = v * mul;
    return 0;
}

typedef struct token_ctx {
    FILE *out;
    int json; /* 0 table, 1 one JSON object a line */
    int csv;  /* one CSV row a line (json 0) */
} token_ctx;

static cw_status print_token(const cw_token_info *t, void *ud)
{
    token_ctx *x = ud;
    char c[32], r[32];
    cw_time_format(t->created_at_unix, CW_TIME_TIMESTAMP, c, sizeof c);
    if (t->revoked_at_unix)
        cw_time_format(t->revoked_at_unix, CW_TIME_TIMESTAMP, r, sizeof r);
    char e[32] = "";
    if (t->expires_at_unix)
        cw_time_format(t->expires_at_unix, CW_TIME_TIMESTAMP, e, sizeof e);
    const char *role = t->role == CW_ROLE_WRITE ? "write" : "read";
    if (x->json) {
        json_t *o = json_pack("{sIssssssss?}", "id", (json_int_t)t->id, "role", role, "prefix",
                              t->prefix, "created_at", c, "name", t->name);
        if (!o)
            return CW_ERR_NOMEM;
        json_object_set_new(o, "revoked_at", t->revoked_at_unix ? json_string(r) : json_null());
        json_object_set_new(o, "expires_at", t->expires_at_unix ? json_string(e) : json_null());
        json_dumpf(o, x->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', x->out);
        json_decref(o);
        return CW_OK;
    }
    if (x->csv) { /* the JSON keys, in order; the name quoted when needed */
        fprintf(x->out, "%lld,%s,%s,%s,\"", (long long)t->id, role, t->prefix, c);
        for (const char *p = t->name ? t->name : ""; *p; p++) {
            if (*p == '"')
                fputc('"', x->out);
            fputc(*p, x->out);
        }
        fprintf(x->out, "\",%s,%s\n", t->revoked_at_unix ? r : "", e);
        return CW_OK;
    }
    fprintf(x->out, "%-5lld %-5s %-14s %-20s %-20s %-20s %s\n", (long long)t->id, role, t->prefix,
            c, t->revoked_at_unix ? r : "-", t->expires_at_unix ? e : "-", t->name);
    return CW_OK;
}

int cmd_token(int argc, char **argv)
{
    if (argc < 2 ||
        (strcmp(argv[1], "create") && strcmp(argv[1], "list") && strcmp(argv[1], "revoke"))) {
        return cli_unknown_sub("token", argc < 2 ? NULL : argv[1]);
    }
    const char *sub = argv[1];
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    const char *role = NULL, *name = "";
    int c;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0, expires_s = 0;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc - 1, argv + 1, "token", NULL, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 'r')
            role = optarg;
        else if (c == 'n')
            name = optarg;
        else if (c == 'f')
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt);
        else if (c == 'l')
            rc = cli_parse_count("--limit", optarg, &limit);
        else if (c == 'O')
            rc = cli_parse_count("--offset", optarg, &offset);
        else if (c == 'e')
            rc = parse_duration("--expires", optarg, &expires_s);
        else
            rc = EXIT_USAGE;
    }
    int64_t id = 0;
    if (rc == 0 && strcmp(sub, "create") == 0) {
        if (!role || (strcmp(role, "read") && strcmp(role, "write"))) {
            cli_error("token create: --role read|write is required");
            rc = EXIT_USAGE;
        } else if (strlen(name) > 128) {
            cli_error("token create: --name is longer than 128 bytes");
            rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && strcmp(sub, "revoke") == 0) {
        char *end = NULL;
        if (optind + 1 < argc)
            id = strtoll(argv[optind + 1], &end, 10);
        if (!end || *end || id <= 0 || optind + 2 != argc) {
            cli_error("token revoke: give one token id (see `churnwatch token list`)");
            rc = EXIT_USAGE;
        }
    } else if (rc == 0 && optind + 1 < argc) {
        cli_error("token %s: unexpected argument '%s'", sub, argv[optind + 1]);
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    cw_store *st;
    int orc = cli_open_store(cfg, 0, &st);
    if (orc) {
        cw_config_free(cfg);
        return orc;
    }
    cw_status s;
    if (strcmp(sub, "create") == 0) {
        char tok[CW_TOKEN_LEN + 1];
        int64_t now = (int64_t)time(NULL);
        s = cw_token_create(st, strcmp(role, "write") == 0 ? CW_ROLE_WRITE : CW_ROLE_READ, name,
                            now, expires_s ? now + expires_s : 0, tok, &id);
        if (s == CW_OK) {
            char until[32] = "";
            if (expires_s)
                cw_time_format(now + expires_s, CW_TIME_TIMESTAMP, until, sizeof until);
            printf("%s\n", tok);
            fprintf(stderr, "token %lld (%s) created%s%s; it is shown only this once\n",
                    (long long)id, role, expires_s ? ", valid until " : "", until);
        }
    } else if (strcmp(sub, "list") == 0) {
        rf_rows rows;
        token_ctx x = {rf_rows_begin(&rows,
                                     fmt == CLI_FMT_JSON    ? RF_ROWS_JSON
                                     : fmt == CLI_FMT_JSONL ? RF_ROWS_JSONL
                                                            : RF_ROWS_TEXT,
                                     1, offset, limit, stdout),
                       fmt == CLI_FMT_JSON || fmt == CLI_FMT_JSONL, fmt == CLI_FMT_CSV};
        if (!x.out) {
            s = CW_ERR_NOMEM;
        } else {
            if (fmt == CLI_FMT_TABLE)
                fprintf(x.out, "%-5s %-5s %-14s %-20s %-20s %-20s %s\n", "id", "role", "prefix",
                        "created", "revoked", "expires", "name");
            else if (fmt == CLI_FMT_CSV)
                fputs("id,role,prefix,created_at,name,revoked_at,expires_at\n", x.out);
            s = cw_token_list(st, print_token, &x);
            rf_rows_end(&rows);
        }
    } else {
        s = cw_token_revoke(st, id, (int64_t)time(NULL));
        if (s == CW_OK)
            fprintf(stderr, "token %lld revoked\n", (long long)id);
    }
    if (s != CW_OK)
        cli_error("%s", cw_store_why(st, s));
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
