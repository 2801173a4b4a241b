/*
 * cmd_run.c — `churnwatch run`: the daily job for cron. Ingests new export
 * files from a drop directory (moving each to DIR/done once its run
 * committed; with --skip-bad or run.on_bad_row = quarantine, bad rows go to
 * the quarantine and the rest lands), computes the day's metric snapshot (only when missing),
 * scores it, evaluates the rules and delivers the outbox. Every stage is idempotent, so running it
 * twice on the same day changes nothing the second time.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_ext(const char *name)
{
    static const char *const ext[] = {".csv",    ".tsv",    ".jsonl",    ".json",
                                      ".csv.gz", ".tsv.gz", ".jsonl.gz", ".json.gz"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t l = strlen(ext[i]);
        if (n > l && strcmp(name + n - l, ext[i]) == 0)
            return 1;
    }
    return 0;
}

static void on_msg(int warning, const char *m, void *ud)
{
    (void)ud;
    if (!warning)
        fprintf(stderr, "%s\n", m);
}

/* A fresh DIR/quarantine/<UTC time>.jsonl for the run's bad rows (caller
 * frees), creating the directory; NULL after printing why. */
static char *quarantine_path(const char *dir)
{
    size_t dl = strlen(dir) + 12;
    char *qdir = malloc(dl);
    if (!qdir)
        return NULL;
    snprintf(qdir, dl, "%s/quarantine", dir);
    if (mkdir(qdir, 0777) != 0 && errno != EEXIST) {
        cli_error("run: cannot create %s: %s", qdir, strerror(errno));
        free(qdir);
        return NULL;
    }
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    size_t pl = dl + strlen(stamp) + 16;
    char *p = malloc(pl);
    struct stat sb;
    /* Two runs in one second must not overwrite each other's file. */
    for (int k = 0; p && k < 1000; k++) {
        if (k == 0)
            snprintf(p, pl, "%s/%s.jsonl", qdir, stamp);
        else
            snprintf(p, pl, "%s/%s-%d.jsonl", qdir, stamp, k);
        if (stat(p, &sb) != 0)
            break;
    }
    free(qdir);
    return p;
}

/* The run lock: an advisory flock(2) on DB.run.lock, held for the whole run
 * and released by the kernel when the process ends, however it ends (no
 * stale lock after a kill -9). It also guards the drop folder, which belongs
 * to the database it feeds. The file holds "pid start-time" of the holder
 * for the message of a run that finds it taken. Returns the descriptor, or
 * -1 with *rc set after printing why (EXIT_BUSY when another run holds it). */
static int run_lock(const char *db, double wait_s, int *rc)
{
    *rc = 0;
    if (!db || !*db || strcmp(db, ":memory:") == 0)
        return -2; /* nothing on disk to share */
    if (cw_store_db_is_server(db))
        return -2; /* the server keeps the lock: store_run_lock below */
    size_t n = strlen(db) + 10;
    char *path = malloc(n);
    if (!path) {
        *rc = EXIT_INTERNAL;
        return -1;
    }
    snprintf(path, n, "%s.run.lock", db);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0 && errno == ENOENT) {
        free(path); /* no such directory: opening the database says so */
        return -2;
    }
    if (fd < 0) {
        cli_error("run: cannot open the run lock %s: %s", path, strerror(errno));
        free(path);
        *rc = EXIT_IO;
        return -1;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            cli_error("run: cannot lock %s: %s", path, strerror(errno));
            *rc = EXIT_IO;
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (waited >= wait_s) {
            char who[64] = "";
            ssize_t got = pread(fd, who, sizeof who - 1, 0);
            long long pid = 0, since = 0;
            char when[32] = "an unknown time";
            if (got > 0 && sscanf(who, "%lld %lld", &pid, &since) == 2)
                cw_time_format(since, CW_TIME_TIMESTAMP, when, sizeof when);
            if (pid > 0)
                cli_error("run: another run is in progress (pid %lld since %s; lock %s)%s", pid,
                          when, path, wait_s > 0 ? ", still after --wait" : "");
            else
                cli_error("run: another run is in progress (lock %s)%s", path,
                          wait_s > 0 ? ", still after --wait" : "");
            *rc = EXIT_BUSY;
            break;
        }
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (*rc == 0) {
        char who[64];
        int w =
            snprintf(who, sizeof who, "%lld %lld\n", (long long)getpid(), (long long)time(NULL));
        /* Only informative: a failure here does not stop the run. */
        if (ftruncate(fd, 0) != 0 || pwrite(fd, who, (size_t)w, 0) != w)
            fprintf(stderr, "run: warning: cannot record the holder in %s: %s\n", path,
                    strerror(errno));
    }
    free(path);
    if (*rc) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The run lock of a store that keeps it itself (PostgreSQL, shared by
 * several hosts: a file lock would only cover this one). Returns an exit
 * code: EXIT_BUSY after printing the holder when another run has it. */
static int store_run_lock(cw_store *st, double wait_s)
{
    int held;
    char who[200];
    cw_status s = cw_store_run_lock(st, wait_s, &held, who, sizeof who);
    if (s != CW_OK) {
        cli_error("run: %s", cw_store_why(st, s));
        return cli_exit_code(s);
    }
    if (held == 0) {
        cli_error("run: another run is in progress (%s)%s", who,
                  wait_s > 0 ? ", still after --wait" : "");
        return EXIT_BUSY;
    }
    return 0;
}

/* Ingests every export file directly in dir (sorted by name) in one run
 * and moves them to dir/done. With quarantine, bad rows go to the store's
 * quarantine and DIR/quarantine/<time>.jsonl and the good rows land.
 * Returns an exit code. */
static int ingest_drop(cw_store *st, const cw_config *cfg, const char *dir, int quiet,
                       int quarantine)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("run: --drop %s: %s", dir, strerror(errno));
        return EXIT_IO;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !has_ext(de->d_name))
            continue;
        char *p = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (!p) {
            rc = EXIT_INTERNAL;
            break;
        }
        snprintf(p, strlen(dir) + strlen(de->d_name) + 2, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **np = realloc(paths, cap * sizeof *np);
            if (!np) {
                free(p);
                rc = EXIT_INTERNAL;
                break;
            }
            paths = np;
        }
        paths[n++] = p;
    }
    closedir(d);
    if (rc == 0 && n > 0) {
        qsort(paths, n, sizeof *paths, cmp_str);
        /* The same settings as `churnwatch ingest` and the API. */
        cw_ingest_opts o;
        cw_ingest_opts_from_config(&o, cfg);
        o.on_message = on_msg;
        char *qpath = NULL;
        if (quarantine) {
            if (!(qpath = quarantine_path(dir))) {
                for (size_t i = 0; i < n; i++)
                    free(paths[i]);
                free(paths);
                return EXIT_IO;
            }
            o.skip_bad = o.quarantine = 1;
            o.rejects_path = qpath;
        }
        cw_ingest_stats stats;
        cw_status s = cw_ingest_files(st, (const char *const *)paths, n, &o, &stats);
        if (qpath && (s != CW_OK || stats.rejected == 0))
            unlink(qpath); /* only a run that kept bad rows leaves a file */
        if (s == CW_OK && stats.rejected && !quiet)
            fprintf(stderr,
                    "run: %lld bad row(s) quarantined with their reasons: %s "
                    "(`churnwatch quarantine list`)\n",
                    (long long)stats.rejected, qpath);
        free(qpath);
        if (s != CW_OK) {
            cli_error("run: ingest of %s failed; nothing was ingested and no file moved", dir);
            rc = cli_exit_code(s);
        } else {
            size_t dl = strlen(dir) + 6;
            char *done = malloc(dl);
            if (!done)
                rc = EXIT_INTERNAL;
            else
                snprintf(done, dl, "%s/done", dir);
            if (rc == 0 && mkdir(done, 0777) != 0 && errno != EEXIST) {
                cli_error("run: cannot create %s: %s", done, strerror(errno));
                rc = EXIT_IO;
            }
            for (size_t i = 0; rc == 0 && i < n; i++) {
                const char *base = strrchr(paths[i], '/') + 1;
                size_t tl = dl + strlen(base) + 1;
                char *to = malloc(tl);
                if (!to) {
                    rc = EXIT_INTERNAL;
                    break;
                }
                snprintf(to, tl, "%s/%s", done, base);
                if (rename(paths[i], to) != 0) {
                    /* Its rows are in: a re-ingest of the same file changes nothing. */
                    cli_error("run: ingested but cannot move %s to %s: %s", paths[i], done,
                              strerror(errno));
                    rc = EXIT_IO;
                }
                free(to);
            }
            free(done);
            if (!quiet)
                fprintf(stderr, "run: ingested %zu file(s) from %s (%lld rows written)\n", n, dir,
                        (long long)(stats.rows_written[CW_KIND_ACCOUNTS] +
                                    stats.rows_written[CW_KIND_USERS] +
                                    stats.rows_written[CW_KIND_EVENTS]));
        }
    } else if (rc == 0 && !quiet)
        fprintf(stderr, "run: no new files in %s\n", dir);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    const char *drop = NULL;
    int64_t day = (int64_t)time(NULL) / 86400;
    int quiet = 0, deliver = 1, skip_bad = 0, c;
    double wait_s = 0;
    unsigned flags = 0;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "run", NULL, NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'D': drop = optarg; break;
        case 'a': rc = cli_parse_day("--as-of", optarg, &day); break;
        case 'q': quiet = 1; break;
        case 'B': flags |= CW_EVALUATE_BACKFILL; break;
        case 'S': skip_bad = 1; break;
        case 'W': {
            char *end;
            errno = 0;
            wait_s = strtod(optarg, &end);
            if (end == optarg || *end || errno || !(wait_s >= 0 && wait_s <= 86400)) {
                cli_error("--wait %s: expected seconds, 0..86400", optarg);
                rc = EXIT_USAGE;
            }
            break;
        }
        case 'L':
            deliver = strcmp(optarg, "yes") == 0       ? 1
                      : strcmp(optarg, "no") == 0      ? 0
                      : strcmp(optarg, "dry-run") == 0 ? 2
                                                       : -1;
            if (deliver < 0) {
                cli_error("--deliver %s: expected yes, no or dry-run", optarg);
                rc = EXIT_USAGE;
            }
            break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("run: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    cw_rules *rs = NULL;
    cw_scorecard *sc = NULL;
    if (rc == 0)
        rc = cli_load_rules(cfg, &rs); /* a bad rule fails before anything is written */
    if (rc == 0)
        rc = cli_load_scorecard(cfg, &sc); /* …and so does a bad scorecard */
    cw_actions *acts = NULL;
    if (rc == 0) { /* …or a bad action */
        cw_error err;
        cw_status s = cw_actions_load(cfg, &acts, &err);
        if (s != CW_OK) {
            cli_error("%s", err.msg);
            rc = cli_exit_code(s);
        }
    }
    /* One run at a time per database: two overlapping runs would race for the
     * drop folder's files (one ingests, the other fails to move them). The
     * lock is taken before the store is opened, so a waiting run sees the
     * first one's work. */
    int lock = -1;
    if (rc == 0)
        lock = run_lock(cw_config_get(cfg, "store.db"), wait_s, &rc);
    cw_store *st = NULL;
    if (rc == 0)
        rc = cli_open_store(cfg, 0, &st);
    if (rc == 0)
        rc = store_run_lock(st, wait_s);
    /* The run log (docs/operations.md): its start now, its end and exit
     * code below; /metrics and `doctor` read the latest. */
    int64_t run_id = 0;
    if (rc == 0 && cw_run_log_begin(st, day, (int64_t)time(NULL), &run_id) != CW_OK) {
        cli_error("run: %s", cw_store_errmsg(st));
        rc = EXIT_DB;
    }
    /* 1. ingest */
    if (rc == 0 && drop)
        rc = ingest_drop(st, cfg, drop, quiet,
                         skip_bad ||
                             strcmp(cw_config_get(cfg, "run.on_bad_row"), "quarantine") == 0);
    /* 2. the day's snapshot (computed only when missing) */
    if (rc == 0) {
        cw_metrics_opts o;
        cw_metrics_opts_init(&o);
        o.from_day = o.to_day = day;
        o.window_days = (int)cw_config_get_int(cfg, "metrics.window_days");
        o.ncustom = cw_config_custom_metrics(cfg, &o.custom);
        cw_metrics_stats ms;
        memset(&ms, 0, sizeof ms);
        cw_status s = cw_metrics_run(st, &o, &ms);
        if (s != CW_OK) {
            cli_error("run: metrics: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else if (!quiet)
            fprintf(stderr, "run: metrics: %lld snapshot computed, %lld already stored\n",
                    (long long)ms.snapshots_computed, (long long)ms.snapshots_skipped);
    }
    /* 3. score the day with the scorecard (only when this version has not
     * scored it yet) and with the active churn model, if one was trained,
     * before the rules read health_score / churn_probability. */
    if (rc == 0) {
        cw_score_opts so;
        cw_score_opts_init(&so);
        so.from_day = so.to_day = day;
        cw_score_stats ss;
        cw_status s = cw_score_run(st, sc, &so, &ss);
        if (s != CW_OK) {
            cli_error("run: score: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else if (!quiet)
            fprintf(stderr, "run: score: %lld snapshot scored, %lld already scored\n",
                    (long long)ss.days_scored, (long long)ss.days_skipped);
    }
    if (rc == 0) {
        cw_predict_opts po = {.day = day, .drivers = 3};
        po.green_below = (double)cw_config_get_int(cfg, "model.green_below_pct") / 100.0;
        cw_predictions *p = NULL;
        cw_status s = cw_model_predict(st, &po, &p);
        if (s == CW_ERR_NOTFOUND) {
            /* No active model is a normal state: the scorecard still runs. */
            if (!quiet)
                fprintf(stderr, "run: predict: skipped (%s)\n", cw_store_why(st, s));
        } else if (s != CW_OK) {
            cli_error("run: predict: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else {
            if (!quiet)
                fprintf(stderr, "run: predict: %lld accounts scored with model %s\n",
                        (long long)p->n, p->model_name);
            cli_model_age_note("run: predict", p);
        }
        cw_predictions_free(p);
    }
    /* 4. rules and alerts */
    if (rc == 0) {
        cw_evaluate_stats e;
        cw_status s = cw_alerts_evaluate_ex(st, rs, day, (int64_t)time(NULL), flags, &e);
        if (s != CW_OK) {
            cli_error("run: evaluate: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else if (!quiet) {
            char d[16];
            cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
            cli_print_evaluate(d, &e);
        }
    }
    /* 5. deliver what is due (the new alerts' messages and earlier retries);
     * a failed message stays in the outbox with its outcome, it does not
     * fail the run. */
    if (rc == 0 && deliver) {
        cw_deliver_opts d = {.now = 0, .out = stdout, .log = quiet ? NULL : stderr};
        d.dry_run = deliver == 2;
        if (!d.dry_run) { /* as `deliver`: stdout is the JSON Lines sink "-" */
            cli_stdout_data();
            d.out = stdout;
        }
        cw_deliver_stats ds;
        cw_status s = cw_deliver_run(st, cfg, acts, &d, &ds);
        if (s != CW_OK) {
            cli_error("run: deliver: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else if (!quiet)
            fprintf(stderr,
                    d.dry_run ? "run: deliver: dry run, %lld due message(s) shown, nothing sent\n"
                              : "run: deliver: %lld attempted, %lld delivered, %lld to retry, "
                                "%lld dead\n",
                    (long long)ds.attempted, (long long)ds.delivered, (long long)ds.retrying,
                    (long long)ds.dead);
    }
    if (run_id && cw_run_log_end(st, run_id, (int64_t)time(NULL), rc) != CW_OK) {
        cli_error("run: %s", cw_store_errmsg(st));
        if (rc == 0)
            rc = EXIT_DB;
    }
    if (cli_log_is_json()) { /* the outcome as fields, for log-based alerting */
        char code[16], d[16];
        snprintf(code, sizeof code, "%d", rc);
        cli_log(rc ? "error" : "info", "run: finished", "day",
                cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d), "#exit_code", code, NULL);
    }
    cw_store_close(st);
    if (lock >= 0)
        close(lock); /* releases the run lock; the file stays, for the next run */
    cw_rules_free(rs);
    cw_scorecard_free(sc);
    cw_actions_free(acts);
    cw_config_free(cfg);
    return rc;
}
