/*
 * cmd_user.c — `churnwatch user`: the dashboard's named users (add, list,
 * passwd, role, disable, enable, remove). Passwords never come from argv:
 * they are asked on the terminal without echo, twice, or read as the first
 * line of standard input (--password-stdin).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"

#include <jansson.h>

#include <getopt.h> /* optarg, optind */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Reads one line (without its end) into buf; returns its length or -1. */
static int read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return -1;
    size_t n = strlen(buf);
    if (n == cap - 1 && buf[n - 1] != '\n')
        return -2; /* too long */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return (int)n;
}

/* Asks for a password on the terminal (no echo). */
static int prompt(const char *what, char *buf, size_t cap)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return -1;
    struct termios old, quiet;
    int have = tcgetattr(fileno(tty), &old) == 0;
    if (have) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fprintf(tty, "%s: ", what);
    fflush(tty);
    int n = read_line(tty, buf, cap);
    if (have)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    return n;
}

/* The new password into buf: from stdin, or asked twice. Exit code. */
static int get_password(int from_stdin, char *buf, size_t cap)
{
    if (from_stdin) {
        int n = read_line(stdin, buf, cap);
        if (n == -2) {
            cli_error("password: longer than %d bytes", CW_PASSWORD_MAX);
            return EXIT_USAGE;
        }
        if (n < 0) {
            cli_error("--password-stdin: no line on standard input");
            return EXIT_USAGE;
        }
        return 0;
    }
    char again[CW_PASSWORD_MAX + 2];
    int n = prompt("New password", buf, cap);
    if (n == -1) {
        cli_error("no terminal to ask for the password on: use --password-stdin");
        return EXIT_USAGE;
    }
    int m = n >= 0 ? prompt("Again", again, sizeof again) : -1;
    int same = n >= 0 && m >= 0 && strcmp(buf, again) == 0;
    OPENSSL_cleanse(again, sizeof again);
    if (n == -2 || !same) {
        cli_error(n == -2 ? "password: longer than %d bytes" : "the passwords differ",
                  CW_PASSWORD_MAX);
        return EXIT_USAGE;
    }
    return 0;
}

typedef struct user_ctx {
    FILE *out;
    cli_format fmt;
} user_ctx;

static void stamp(int64_t t, char *buf, size_t n)
{
    if (t)
        cw_time_format(t, CW_TIME_TIMESTAMP, buf, n);
    else
        buf[0] = '\0';
}

static cw_status print_user(const cw_app_user *u, void *ud)
{
    user_ctx *x = ud;
    char c[32], p[32], d[32];
    stamp(u->created_at, c, sizeof c);
    stamp(u->password_at, p, sizeof p);
    stamp(u->disabled_at, d, sizeof d);
    const char *role = cw_user_role_name(u->role);
    if (x->fmt == CLI_FMT_JSON || x->fmt == CLI_FMT_JSONL) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)u->id,
                              "name", u->name, "email", u->email, "role", role ? role : "?",
                              "created_at", c, "password_at", p, "disabled_at",
                              u->disabled_at ? json_string(d) : json_null());
        if (!o)
            return CW_ERR_NOMEM;
        json_dumpf(o, x->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', x->out);
        json_decref(o);
    } else if (x->fmt == CLI_FMT_CSV) { /* names and e-mails hold no comma or quote */
        fprintf(x->out, "%lld,%s,%s,%s,%s,%s,%s\n", (long long)u->id, u->name, u->email,
                role ? role : "?", c, p, d);
    } else {
        fprintf(x->out, "%-5lld %-20s %-30s %-7s %-20s %s\n", (long long)u->id, u->name, u->email,
                role ? role : "?", c, u->disabled_at ? d : "-");
    }
    return CW_OK;
}

int cmd_user(int argc, char **argv)
{
    static const char *const subs[] = {"add",     "list",   "passwd", "role",
                                       "disable", "enable", "remove"};
    int k = -1;
    for (int i = 0; argc >= 2 && i < 7; i++)
        if (strcmp(argv[1], subs[i]) == 0)
            k = i;
    if (k < 0)
        return cli_unknown_sub("user", argc < 2 ? NULL : argv[1]);
    const char *sub = argv[1];
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    const char *email = NULL, *role = NULL;
    int from_stdin = 0, c;
    cli_format fmt = CLI_FMT_TABLE;
    int64_t limit = -1, offset = 0;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc - 1, argv + 1, "user", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'e': email = optarg; break;
        case 'r': role = optarg; break;
        case 'P': from_stdin = 1; break;
        case 'f': rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt); break;
        case 'l': rc = cli_parse_count("--limit", optarg, &limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, &offset); break;
        default: rc = EXIT_USAGE;
        }
    }
    int nargs = argc - 1 - optind;
    const char *name = nargs >= 1 ? argv[1 + optind] : NULL;
    int r = -1;
    if (rc == 0 && k == 1 && nargs > 0) {
        cli_error("user list: unexpected argument '%s'", argv[1 + optind]);
        rc = EXIT_USAGE;
    } else if (rc == 0 && k != 1 && nargs != 1) {
        cli_error("user %s: give one user name", sub);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && (k == 0 || k == 3) && (!role || (r = cw_user_role_from_name(role)) < 0)) {
        cli_error("user %s: --role viewer|csm|admin is required", sub);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && k == 0 && !email) {
        cli_error("user add: --email is required");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && k != 1 && fmt != CLI_FMT_TABLE) {
        cli_error("user %s: --format is for list", sub);
        rc = EXIT_USAGE;
    }
    char pw[CW_PASSWORD_MAX + 2] = "";
    if (rc == 0 && (k == 0 || k == 2))
        rc = get_password(from_stdin, pw, sizeof pw);
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, k == 1, &st);
    if (rc == 0) {
        int64_t now = (int64_t)time(NULL), id = 0;
        cw_status s = CW_OK;
        switch (k) {
        case 0:
            s = cw_user_add(st, name, email, r, pw, now, &id);
            if (s == CW_OK)
                fprintf(stderr, "user %s (%s) added\n", name, role);
            break;
        case 1: {
            rf_rows rows;
            user_ctx x = {rf_rows_begin(&rows,
                                        fmt == CLI_FMT_JSON    ? RF_ROWS_JSON
                                        : fmt == CLI_FMT_JSONL ? RF_ROWS_JSONL
                                                               : RF_ROWS_TEXT,
                                        1, offset, limit, stdout),
                          fmt};
            if (!x.out) {
                s = CW_ERR_NOMEM;
                break;
            }
            if (fmt == CLI_FMT_TABLE)
                fprintf(x.out, "%-5s %-20s %-30s %-7s %-20s %s\n", "id", "name", "email", "role",
                        "created", "disabled");
            else if (fmt == CLI_FMT_CSV)
                fputs("id,name,email,role,created_at,password_at,disabled_at\n", x.out);
            s = cw_user_list(st, print_user, &x);
            rf_rows_end(&rows);
            break;
        }
        case 2:
            s = cw_user_passwd(st, name, pw, now);
            if (s == CW_OK)
                fprintf(stderr, "user %s: password set; its sessions ended\n", name);
            break;
        case 3:
            s = cw_user_set_role(st, name, r);
            if (s == CW_OK)
                fprintf(stderr, "user %s: role %s; its sessions ended\n", name, role);
            break;
        case 4:
        case 5:
            s = cw_user_disable(st, name, k == 5, now);
            if (s == CW_OK)
                fprintf(stderr, "user %s %s\n", name,
                        k == 5 ? "enabled" : "disabled; its sessions ended");
            break;
        default:
            s = cw_user_remove(st, name);
            if (s == CW_OK)
                fprintf(stderr, "user %s removed\n", name);
        }
        if (s != CW_OK) {
            cli_error("%s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        }
    }
    OPENSSL_cleanse(pw, sizeof pw);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}
