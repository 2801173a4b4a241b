/*
 * main.c — the churnwatch program: git-style subcommand dispatch, version,
 * and the helpers every subcommand shares (configuration loading, opening
 * the store, exit codes). The commands and their options are one table
 * (cli_table.c) that cli_opts.c turns into parsing, help, man pages and
 * completions; each subcommand lives in its own cmd_*.c file and is a thin
 * layer over the library.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/mask.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_error(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg)
        vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    va_end(ap);
    /* An error may quote a setting or a URL: its secrets are masked. */
    char *shown = cw_mask_secrets(NULL, msg ? msg : "out of memory");
    fprintf(stderr, "churnwatch: %s\n", shown ? shown : CW_MASK);
    free(shown);
    free(msg);
}

int cli_parse_day(const char *opt, const char *s, int64_t *day)
{
    int64_t t;
    const char *why = NULL;
    if (cw_time_parse(s, strlen(s), CW_TIME_NAIVE_UTC, &t, &why) != CW_OK) {
        cli_error("%s %s: %s", opt, s, why ? why : "is not a date");
        return EXIT_USAGE;
    }
    *day = t / 86400;
    return 0;
}

int cli_parse_month(const char *opt, const char *s, int *month)
{
    char *end;
    long y = strtol(s, &end, 10);
    if (end == s + 4 && *end == '-' && end[1] >= '0' && end[1] <= '9') {
        char *e2;
        long m = strtol(end + 1, &e2, 10);
        if (!*e2 && e2 == end + 3 && y >= 1970 && y <= 2099 && m >= 1 && m <= 12) {
            *month = (int)(y * 12 + m - 1);
            return 0;
        }
    }
    /* A full date or timestamp: its (UTC) month. */
    int64_t t;
    const char *why = NULL;
    char ymd[16];
    if (cw_time_parse(s, strlen(s), CW_TIME_NAIVE_UTC, &t, &why) == CW_OK && t >= 0 &&
        cw_time_format(t, CW_TIME_DATE, ymd, sizeof ymd) && strlen(ymd) == 10) {
        long yy = strtol(ymd, NULL, 10), mm = strtol(ymd + 5, NULL, 10);
        if (yy >= 1970 && yy <= 2099) {
            *month = (int)(yy * 12 + mm - 1);
            return 0;
        }
    }
    cli_error("%s %s: expected a month as YYYY-MM (or a date, meaning its month)", opt, s);
    return EXIT_USAGE;
}

/* A password inside store.db is still honoured (libpq reads it), but a
 * command line is seen by ps and shell history, a file by backups. */
void cli_warn_db_password(const cw_config *cfg)
{
    static int warned;
    if (!warned && cw_store_db_has_password(cw_config_get(cfg, "store.db"))) {
        warned = 1;
        fprintf(stderr, "churnwatch: warning: store.db holds a password; put it in ~/.pgpass, "
                        "PGPASSWORD or the variable named by store.password_env instead\n");
    }
}

int cli_store_password(const cw_config *cfg, cw_store_opts *so)
{
    cli_warn_db_password(cfg);
    const char *env = cw_config_get(cfg, "store.password_env");
    so->password = NULL;
    if (!env || !*env)
        return 0;
    so->password = getenv(env);
    if (!so->password) {
        cli_error("store.password_env: environment variable %s is not set", env);
        return EXIT_CONFIG;
    }
    return 0;
}

const char *cli_acting_user(const char *as)
{
    if (as && *as)
        return as;
    const char *u = getenv("USER");
    if (u && *u)
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name && *pw->pw_name ? pw->pw_name : "cli";
}

int cli_open_store(cw_config *cfg, int readonly, cw_store **st)
{
    /* Only `init` creates a database: a mistyped --db is an error, not a
     * new empty database (a URL-style store is the backend's to judge). */
    const char *path = cw_config_get(cfg, "store.db");
    const char *file = strncmp(path, "sqlite:", 7) == 0 ? path + 7 : path;
    struct stat sb;
    *st = NULL;
    if (!strstr(file, "://") && !cw_store_db_is_server(path) && strcmp(file, ":memory:") != 0 &&
        stat(file, &sb) != 0) {
        if (errno == ENOENT) {
            cli_error("%s: no such database (create it with `churnwatch init --db %s`)", file,
                      file);
        } else {
            cli_error("%s: %s", file, strerror(errno));
        }
        return EXIT_DB;
    }
    cw_error err = {CW_OK, ""};
    cw_store_opts so = {.readonly = readonly,
                        .cache_kib = cw_config_get_int(cfg, "store.cache_mib") * 1024,
                        .must_exist = 1};
    int rc = cli_store_password(cfg, &so);
    if (rc)
        return rc;
    cw_status s = cw_store_open(path, &so, st, &err);
    if (s != CW_OK) {
        cli_error("%s", cw_error_why(&err));
        return cli_exit_code(s);
    }
    return 0;
}

void cli_model_age_note(const char *cmd, const cw_predictions *p)
{
    if (!cw_model_is_stale(p))
        return;
    char t[16], d[16];
    cw_time_format(p->tested_to * 86400, CW_TIME_DATE, t, sizeof t);
    cw_time_format(p->day * 86400, CW_TIME_DATE, d, sizeof d);
    fprintf(stderr,
            "%s: warning: model %s was tested on snapshots up to %s, %lld days before %s; it has "
            "not learnt from the last half year: retrain it (churnwatch train --activate)\n",
            cmd, p->model_name, t, (long long)(p->day - p->tested_to), d);
}

void cli_progress_line(const char *phase, int64_t done, int64_t total, double elapsed, void *ud)
{
    (void)ud;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
    fputs("\r\033[K", cli_raw_stderr());
    fprintf(stderr, "%s: %lld/%lld  %.1f/s  ETA %.0fs", phase, (long long)done, (long long)total,
            rate, eta);
}

int cli_exit_code(cw_status s)
{
    switch (s) {
    case CW_OK: return EXIT_OK_;
    case CW_ERR_INPUT: return EXIT_DATA;
    case CW_ERR_USAGE: return EXIT_USAGE;
    case CW_ERR_CONFIG: return EXIT_CONFIG;
    case CW_ERR_IO: return EXIT_IO;
    case CW_ERR_DB:
    case CW_ERR_SCHEMA: return EXIT_DB;
    case CW_ERR_TOOBIG: return EXIT_DATA;
    case CW_ERR_NOTFOUND: return EXIT_USAGE;
    case CW_ERR_SMALLDATA: return EXIT_SMALL_DATA;
    case CW_ERR_NOMEM: return EXIT_INTERNAL;
    }
    return EXIT_INTERNAL;
}

/* Global options are gathered by main() before dispatch. */
static const char *g_config_path;
static char **g_overrides;
static int g_noverrides;

int cli_load_config(const char *path, cw_config **out)
{
    if (!path)
        path = g_config_path;
    if (!path) {
        path = getenv("CHURNWATCH_CONFIG");
        if (path && !*path)
            path = NULL;
    }
    if (!path && access("churnwatch.conf", R_OK) == 0)
        path = "churnwatch.conf";
    cw_error err = {CW_OK, ""};
    cw_status s = cw_config_load(path, out, &err);
    if (s != CW_OK) {
        cli_error("%s", cw_error_why(&err));
        return cli_exit_code(s);
    }
    for (int i = 0; i < g_noverrides; i++) {
        char *eq = strchr(g_overrides[i], '=');
        if (!eq) {
            cli_error("--set %s: expected section.name=value", g_overrides[i]);
            cw_config_free(*out);
            *out = NULL;
            return EXIT_USAGE;
        }
        *eq = '\0';
        int rc = cli_override(*out, g_overrides[i], eq + 1);
        *eq = '=';
        if (rc) {
            cw_config_free(*out);
            *out = NULL;
            return rc;
        }
    }
    return 0;
}

int cli_override(cw_config *c, const char *key, const char *value)
{
    cw_error err = {CW_OK, ""};
    cw_status s = cw_config_set(c, key, value, &err);
    if (s != CW_OK) {
        cli_error("%s", cw_error_why(&err));
        return cli_exit_code(s);
    }
    return 0;
}

int cli_progress_enabled(const cw_config *c)
{
    if (cli_log_is_json())
        return 0; /* a progress line is no log line */
    const char *p = cw_config_get(c, "ingest.progress");
    if (p && strcmp(p, "always") == 0)
        return 1;
    if (p && strcmp(p, "never") == 0)
        return 0;
    return isatty(2);
}

int main(int argc, char **argv)
{
    /* Pull global options out of argv wherever they are; the rest goes to
     * the subcommand unchanged. */
    cli_term_init();
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    g_overrides = calloc((size_t)argc + 1, sizeof *g_overrides);
    if (!rest || !g_overrides)
        return EXIT_INTERNAL;
    int nrest = 0;
    const char *log_format = "text";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i > 0 && strcmp(a, "--config") == 0 && i + 1 < argc) {
            g_config_path = argv[++i];
        } else if (i > 0 && strncmp(a, "--config=", 9) == 0) {
            g_config_path = a + 9;
        } else if (i > 0 && strcmp(a, "--log-format") == 0 && i + 1 < argc) {
            log_format = argv[++i];
        } else if (i > 0 && strncmp(a, "--log-format=", 13) == 0) {
            log_format = a + 13;
        } else if (i > 0 && strcmp(a, "--set") == 0 && i + 1 < argc) {
            g_overrides[g_noverrides++] = argv[++i];
        } else if (i > 0 && strcmp(a, "--") == 0) {
            while (i < argc)
                rest[nrest++] = argv[i++];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    int rc = cli_log_init(log_format, nrest > 1 ? rest[1] : "");
    if (rc) {
        /* the message is printed */
    } else if (nrest < 2) {
        cli_help(NULL, stderr);
        rc = EXIT_USAGE;
    } else if (strcmp(rest[1], "--version") == 0 || strcmp(rest[1], "version") == 0) {
        printf("churnwatch %s (schema %d)\n", CW_VERSION, cw_store_latest_version());
        rc = 0;
    } else if (strcmp(rest[1], "help") == 0 || strcmp(rest[1], "--help") == 0 ||
               strcmp(rest[1], "-h") == 0) {
        rc = cli_help(nrest > 2 ? rest[2] : NULL, stdout);
    } else {
        rc = -1;
        for (const cli_command *c = cli_commands; c->name; c++)
            if (strcmp(c->name, rest[1]) == 0) {
                int i;
                for (i = 2; i < nrest; i++)
                    if (strcmp(rest[i], "--help") == 0 || strcmp(rest[i], "-h") == 0)
                        break;
                rc = i < nrest ? cli_help(c->name, stdout) : c->run(nrest - 1, rest + 1);
                break;
            }
        if (rc == -1) {
            const char *names[64];
            int n = 0;
            for (const cli_command *c = cli_commands; c->name && n < 63; c++)
                names[n++] = c->name;
            names[n++] = "help";
            const char *near = cli_nearest(rest[1], names, n);
            if (near)
                cli_error("'%s' is not a command (did you mean '%s'?)", rest[1], near);
            else
                cli_error("'%s' is not a command (see `churnwatch help`)", rest[1]);
            rc = EXIT_USAGE;
        }
    }
    free(rest);
    free(g_overrides);
    return rc;
}
