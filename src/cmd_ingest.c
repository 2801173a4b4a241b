/*
 * cmd_ingest.c — `churnwatch ingest`: options, the live progress line on a
 * terminal (rows/s, MB/s, ETA; nothing when stderr is not a terminal) and
 * the closing summary. All validation and writing is in lib/ingest.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ui {
    int progress_shown;
    int quiet;
} ui;

static void on_message(int is_warning, const char *msg, void *ud)
{
    ui *u = ud;
    if (u->progress_shown) {
        fputs("\r\033[K", cli_raw_stderr());
        u->progress_shown = 0;
    }
    fprintf(stderr, "%s%s\n", is_warning ? "warning: " : "error: ", msg);
}

static void on_progress(const cw_ingest_progress *p, void *ud)
{
    ui *u = ud;
    double rate = p->elapsed_s > 0 ? (double)p->rows_done / p->elapsed_s : 0;
    char pct[64] = "";
    if (p->bytes_total > 0) {
        double frac = (double)p->bytes_done / (double)p->bytes_total;
        if (frac > 1)
            frac = 1;
        /* ETA from this file's own progress rate. */
        snprintf(pct, sizeof pct, "  %3.0f%%", frac * 100);
    }
    fputs("\r\033[K", cli_raw_stderr()); /* the path below goes through the escaping stderr */
    fprintf(stderr, "[%d/%d] %s  %lld rows  %.0f rows/s  %.1f MB/s%s", p->file_index + 1,
            p->file_count, p->path, (long long)p->rows_done, rate,
            p->elapsed_s > 0 ? (double)p->bytes_done / 1e6 / p->elapsed_s : 0.0, pct);
    if (p->bytes_total > 0 && p->bytes_done > 0 && p->bytes_done < p->bytes_total) {
        double eta =
            p->elapsed_s * (double)(p->bytes_total - p->bytes_done) / (double)p->bytes_done;
        fprintf(stderr, "  ETA %.0fs", eta);
    }
    u->progress_shown = 1;
}

int cmd_ingest(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    ui u = {0, 0};
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "ingest", NULL, "qs")) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'k':
            o.kind = cw_kind_from_name(optarg);
            if (o.kind == CW_KIND_NONE) {
                cli_error("--kind %s: not a kind (see `churnwatch help data-model`)", optarg);
                rc = EXIT_USAGE;
            }
            break;
        case 's': o.skip_bad = 1; break;
        case 'r': o.rejects_path = optarg; break;
        case 'm': rc = cli_override(cfg, "ingest.max_errors", optarg); break;
        case 'p': rc = cli_override(cfg, "ingest.progress", optarg); break;
        case 'q': u.quiet = 1; break;
        case 'S': o.source = optarg; break;
        case 'T': o.preset = optarg; break;
        case 'E': {
            int64_t day = (int64_t)time(NULL) / 86400; /* "today", as in a source's data_end */
            if (strcmp(optarg, "today") == 0 ||
                (rc = cli_parse_day("--data-end", optarg, &day)) == 0) {
                if (day <= 0) {
                    cli_error("--data-end %s: must be after 1970-01-01", optarg);
                    rc = EXIT_USAGE;
                }
                o.data_end = day * 86400;
            }
            break;
        }
        case 'P': o.provision_users = 1; break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind >= argc) {
        cli_error("ingest: no input files (see `churnwatch help ingest`)");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && o.source && o.preset) {
        cli_error("ingest: give --source or --preset, not both");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && o.kind != CW_KIND_NONE && (o.source || o.preset)) {
        cli_error("ingest: --kind does not go with --source or --preset (the mapping names the "
                  "kind)");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && o.rejects_path && !o.skip_bad) {
        cli_error("ingest: --rejects needs --skip-bad");
        rc = EXIT_USAGE;
    }
    if (rc) {
        cw_config_free(cfg);
        return rc;
    }
    /* The settings first (the same function `run --drop` and the API use),
     * then what the command line said. */
    cw_ingest_opts cli = o;
    cw_ingest_opts_from_config(&o, cfg);
    o.kind = cli.kind;
    o.skip_bad = cli.skip_bad;
    o.rejects_path = cli.rejects_path;
    o.data_end = cli.data_end;
    o.source = cli.source;
    o.preset = cli.preset;
    if (cli.provision_users == 1)
        o.provision_users = 1;
    o.on_message = on_message;
    o.on_progress = cli_progress_enabled(cfg) ? on_progress : NULL;
    o.ud = &u;

    cw_store *st;
    int orc = cli_open_store(cfg, 0, &st);
    if (orc) {
        cw_config_free(cfg);
        return orc;
    }
    cw_ingest_stats stats;
    cw_status s = cw_ingest_files(st, (const char *const *)argv + optind, (size_t)(argc - optind),
                                  &o, &stats);
    if (u.progress_shown)
        fputs("\r\033[K", cli_raw_stderr());
    if (!u.quiet) {
        FILE *out = s == CW_OK ? stdout : stderr;
        int64_t read = 0, written = 0;
        fprintf(out, "%s %lld file(s), %.1f MB in %.2f s\n",
                stats.committed ? "ingested" : "NOT ingested (nothing changed):",
                (long long)stats.files, (double)stats.bytes / 1e6, stats.elapsed_s);
        for (int k = 1; k < CW_KIND__COUNT; k++) {
            if (!stats.rows_read[k])
                continue;
            read += stats.rows_read[k];
            written += stats.rows_written[k];
            fprintf(out, "  %-18s %10lld rows read %10lld new or changed\n",
                    cw_kind_get((cw_kind)k)->name, (long long)stats.rows_read[k],
                    (long long)stats.rows_written[k]);
        }
        fprintf(out,
                "  total %lld rows, %lld new or changed, %lld unchanged, %lld duplicates "
                "skipped, %lld rejected, %lld warnings; %.0f rows/s\n",
                (long long)read, (long long)written, (long long)stats.rows_unchanged,
                (long long)stats.duplicates, (long long)stats.rejected, (long long)stats.warnings,
                stats.elapsed_s > 0 ? (double)read / stats.elapsed_s : 0.0);
        if (stats.filtered)
            fprintf(out, "  %lld records left out by a source's where\n",
                    (long long)stats.filtered);
        if (stats.periods_accounts)
            fprintf(out,
                    "  billing periods: change log derived for %lld account(s), %lld of them "
                    "changed\n",
                    (long long)stats.periods_accounts, (long long)stats.periods_accounts_changed);
        if (stats.provisioned_users && stats.committed)
            fprintf(out, "  %lld user(s) created on first sight in events\n",
                    (long long)stats.provisioned_users);
        if (o.rejects_path && stats.rejected && s == CW_OK)
            fprintf(out, "  rejected rows written to %s\n", o.rejects_path);
    }
    cw_store_close(st);
    cw_config_free(cfg);
    return cli_exit_code(s);
}
