/*
 * cmd_doctor.c — `churnwatch doctor`: checks what a daily operation needs
 * and says what is wrong, one line per check: the configuration (settings,
 * rules, scorecard, actions), the database (there, readable, schema
 * version, integrity check, file mode), the destinations of the
 * configured actions (DNS and a TCP connect: nothing is sent) and the
 * freshness of the data and of the daily run. It only reads: the database
 * is opened read-only and never migrated.
 *
 * Exit status: 0 when nothing failed (warnings allowed); otherwise the
 * code of the first failed area: 3 configuration, 5 database, 4
 * destinations (I/O), 1 data freshness.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/mask.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct doctor {
    int failed_rc; /* exit code of the first failure, 0 while none */
    int fails, warns;
} doctor;

static void report(doctor *d, int rc, int warn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints one check's line: "ok", "WARN" or "FAIL" then the text (secrets
 * masked). rc: the exit code of a failure (0: the check passed). */
static void report(doctor *d, int rc, int warn, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text)
        vsnprintf(text, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    va_end(ap);
    char *shown = cw_mask_secrets(NULL, text ? text : "out of memory");
    const char *tag = rc ? "FAIL" : warn ? "WARN" : "ok";
    printf("%-5s %s\n", tag, shown ? shown : CW_MASK);
    free(shown);
    free(text);
    if (rc) {
        d->fails++;
        if (!d->failed_rc)
            d->failed_rc = rc;
    } else if (warn) {
        d->warns++;
    }
}

/* ---- destinations ------------------------------------------------------ */

/* Connects to one address within timeout_ms; 0 or an errno. */
static int tcp_connect(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return errno;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int r = poll(&p, 1, timeout_ms);
            if (r == 0) {
                e = ETIMEDOUT;
            } else if (r < 0) {
                e = errno;
            } else {
                socklen_t l = sizeof e;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
                    e = errno;
            }
        }
    }
    close(fd);
    return e;
}

/* Resolves the URL's host and opens a TCP connection to its port (the
 * scheme's default when none); sends nothing. */
static void check_destination(doctor *d, const char *what, const char *url, int timeout_ms)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *scheme = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        report(d, EXIT_CONFIG, 0, "destination %s: '%s' is not a URL", what, url);
        goto done;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    /* IPv6 literals come back bracketed */
    char h[256];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        snprintf(h, sizeof h, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(h, sizeof h, "%s", host);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int g = getaddrinfo(h, port, &hints, &res);
    if (g != 0) {
        report(d, EXIT_IO, 0, "destination %s: %s: DNS: %s", what, host, gai_strerror(g));
        goto done;
    }
    int e = ENOENT;
    char addr[NI_MAXHOST] = "?";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
        if ((e = tcp_connect(ai, timeout_ms)) == 0)
            break;
    }
    freeaddrinfo(res);
    if (e)
        report(d, EXIT_IO, 0, "destination %s: %s port %s (%s): TCP connect: %s", what, host, port,
               addr, strerror(e));
    else
        report(d, 0, 0, "destination %s: %s port %s (%s) reachable over TCP (%s)", what, host, port,
               addr, scheme ? scheme : "?");
done:
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_url_cleanup(u);
}

typedef struct pending_email {
    const cw_actions *acts;
    int64_t queued;
} pending_email;

static cw_status count_email(const char *action, const char *dest, int64_t queued, int64_t dead,
                             void *ud)
{
    (void)dest;
    (void)dead;
    pending_email *p = ud;
    const cw_action *a = action ? cw_actions_find(p->acts, action) : NULL;
    if (a && a->type == CW_ACTION_EMAIL)
        p->queued += queued;
    return CW_OK;
}

/* ---- the command -------------------------------------------------------- */

static int days_ago(int64_t now, int64_t ts)
{
    return (int)((now - ts) / 86400);
}

/* 1. The configuration: settings (loaded by the caller), then the rules,
 * the scorecard and the actions, each kept for the later checks. */
static void check_config(doctor *D, const cw_config *cfg, cw_rules **rs, cw_scorecard **sc,
                         cw_actions **acts)
{
    cw_error err = {CW_OK, ""};
    if (cw_rules_load(cfg, rs, &err) != CW_OK)
        report(D, EXIT_CONFIG, 0, "configuration: rules: %s", cw_error_why(&err));
    if (cw_scorecard_load(cfg, sc, &err) != CW_OK)
        report(D, EXIT_CONFIG, 0, "configuration: scorecard: %s", cw_error_why(&err));
    if (cw_actions_load(cfg, acts, &err) != CW_OK)
        report(D, EXIT_CONFIG, 0, "configuration: actions: %s", cw_error_why(&err));
    if (!D->fails) {
        const cw_action *const *list;
        report(D, 0, 0, "configuration: %d rules, %d actions", cw_rules_count(*rs),
               cw_actions_list(*acts, &list));
    }
}

/* 2. The database: opened read-only (*st, NULL when it cannot be), never
 * migrated; its schema version, integrity and file mode. */
static void check_database(doctor *D, const cw_config *cfg, cw_store **st)
{
    cw_error err = {CW_OK, ""};
    const char *db = cw_config_get(cfg, "store.db");
    const char *file = strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
    struct stat sb;
    int server = cw_store_db_is_server(db); /* a URI or a libpq key=value string */
    cw_store_opts so = {.readonly = 1,
                        .cache_kib = cw_config_get_int(cfg, "store.cache_mib") * 1024};
    if (!server && stat(file, &sb) != 0) {
        report(D, EXIT_DB, 0, "database: %s: %s", file, strerror(errno));
    } else if (cli_store_password(cfg, &so) != 0) {
        report(D, EXIT_CONFIG, 0,
               "database: store.password_env: environment variable %s is not set",
               cw_config_get(cfg, "store.password_env"));
    } else {
        cw_status s = cw_store_open(db, &so, st, &err);
        if (s != CW_OK) {
            report(D, EXIT_DB, 0, "database: %s%s", cw_error_why(&err),
                   strstr(cw_error_why(&err), "schema version")
                       ? " (a writing command migrates it: back it up first, docs/operations.md)"
                       : "");
        } else {
            char *problems = NULL;
            s = cw_store_integrity_check(*st, &problems);
            if (s != CW_OK)
                report(D, EXIT_DB, 0, "database: integrity check: %s", cw_store_errmsg(*st));
            else if (problems)
                report(D, EXIT_DB, 0, "database: %s: integrity check failed:\n%s", file, problems);
            else if (!server)
                report(D, 0, 0, "database: %s: schema %d, integrity ok", file,
                       cw_store_schema_version(*st));
            else /* a server checks its own pages: say what was checked */
                report(D, 0, 0,
                       "database: %s: %s, schema %d, every table present (page checks are the "
                       "server's own: data checksums, amcheck)",
                       file, cw_store_backend(*st), cw_store_schema_version(*st));
            free(problems);
            if (!server && (sb.st_mode & 077))
                report(D, 0, 1,
                       "database: %s has mode %04o: readable by other users (chmod 600; it "
                       "holds e-mail addresses and token hashes)",
                       file, (unsigned)(sb.st_mode & 07777));
        }
    }
}

/* 3. Destinations: every action with a URL; the SMTP server when an e-mail
 * action has messages waiting or smtp_url is configured. */
static void check_destinations(doctor *D, const cw_config *cfg, cw_actions *acts, cw_store *st,
                               int network, long timeout_ms)
{
    if (acts) {
        const cw_action *const *list;
        int n = cw_actions_list(acts, &list);
        int checked = 0;
        for (int i = 0; i < n; i++) {
            if (!list[i]->url)
                continue;
            checked++;
            if (network)
                check_destination(D, list[i]->name, list[i]->url, (int)timeout_ms);
        }
        pending_email pe = {acts, 0};
        if (st)
            cw_outbox_dest_counts(st, count_email, &pe);
        const char *smtp = cw_config_get(cfg, "deliver.smtp_url");
        int smtp_set = strcmp(smtp, "smtp://127.0.0.1:25") != 0;
        if (smtp && (pe.queued || smtp_set)) {
            checked++;
            if (network)
                check_destination(D, "smtp (deliver.smtp_url)", smtp, (int)timeout_ms);
        }
        if (!network)
            report(D, 0, 1, "destinations: %d not checked (--no-network)", checked);
        else if (!checked)
            report(D, 0, 0, "destinations: none configured");
    }
}

/* 4. Freshness: the events and the daily run. */
static void check_freshness(doctor *D, cw_store *st, int64_t now, long stale_days)
{
    if (st) {
        cw_store_health h;
        cw_run_info run;
        int have_run = 0;
        char t1[32];
        if (cw_store_health_get(st, &h) != CW_OK || cw_run_log_last(st, &run, &have_run) != CW_OK) {
            report(D, EXIT_DB, 0, "freshness: %s", cw_store_errmsg(st));
        } else {
            int64_t ev = h.data_latest_ts[CW_KIND_EVENTS];
            if (!ev)
                report(D, EXIT_DATA, 0, "freshness: no events stored");
            else if (days_ago(now, ev) > stale_days)
                report(D, EXIT_DATA, 0,
                       "freshness: the newest events are of %s, %d days ago (more than %ld: is "
                       "the export feeding the drop folder still running?)",
                       cw_time_format(ev, CW_TIME_DATE, t1, sizeof t1), days_ago(now, ev),
                       stale_days);
            else
                report(D, 0, 0, "freshness: the newest events are of %s",
                       cw_time_format(ev, CW_TIME_DATE, t1, sizeof t1));
            if (!have_run)
                report(D, 0, 1, "daily run: no `churnwatch run` recorded yet");
            else if (run.ended_at == 0 && now - run.started_at > 86400)
                report(D, EXIT_DATA, 0,
                       "daily run: the last run, started %s, never ended (killed?)",
                       cw_time_format(run.started_at, CW_TIME_TIMESTAMP, t1, sizeof t1));
            else if (run.ended_at == 0)
                report(D, 0, 0, "daily run: running since %s",
                       cw_time_format(run.started_at, CW_TIME_TIMESTAMP, t1, sizeof t1));
            else if (run.exit_code != 0)
                report(D, EXIT_DATA, 0,
                       "daily run: the last run, ended %s, failed with exit code %d (see its "
                       "log; `churnwatch help exit-codes`)",
                       cw_time_format(run.ended_at, CW_TIME_TIMESTAMP, t1, sizeof t1),
                       run.exit_code);
            else if (days_ago(now, run.started_at) > stale_days)
                report(D, EXIT_DATA, 0,
                       "daily run: the last run started %s, %d days ago (is the timer or cron "
                       "job still there?)",
                       cw_time_format(run.started_at, CW_TIME_TIMESTAMP, t1, sizeof t1),
                       days_ago(now, run.started_at));
            else
                report(D, 0, 0, "daily run: the last run ended %s, exit code 0",
                       cw_time_format(run.ended_at, CW_TIME_TIMESTAMP, t1, sizeof t1));
        }
    }
}

int cmd_doctor(int argc, char **argv)
{
    cw_config *cfg;
    doctor D = {0, 0, 0};
    int rc = cli_load_config(NULL, &cfg);
    if (rc) {
        report(&D, rc, 0, "configuration: cannot be loaded (the error is above)");
        return rc;
    }
    long stale_days = 2, timeout_ms = 3000;
    int network = 1, c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "doctor", NULL, NULL)) != -1) {
        char *end;
        if (c == 'd') {
            rc = cli_override(cfg, "store.db", optarg);
        } else if (c == 's' || c == 't') {
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > (c == 's' ? 3650 : 60000)) {
                cli_error("--%s %s: expected a whole number, 1..%d",
                          c == 's' ? "stale-days" : "timeout-ms", optarg, c == 's' ? 3650 : 60000);
                rc = EXIT_USAGE;
            } else if (c == 's') {
                stale_days = v;
            } else {
                timeout_ms = v;
            }
        } else if (c == 'n') {
            network = 0;
        } else {
            rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("doctor: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    int64_t now = (int64_t)time(NULL);

    cw_rules *rs = NULL;
    cw_scorecard *sc = NULL;
    cw_actions *acts = NULL;
    cw_store *st = NULL;
    check_config(&D, cfg, &rs, &sc, &acts);
    check_database(&D, cfg, &st);
    check_destinations(&D, cfg, acts, st, network, timeout_ms);
    check_freshness(&D, st, now, stale_days);
    printf("doctor: %d failed, %d warning(s)\n", D.fails, D.warns);
    cw_store_close(st);
    cw_actions_free(acts);
    cw_scorecard_free(sc);
    cw_rules_free(rs);
    cw_config_free(cfg);
    return D.failed_rc;
}
