/*
 * cmd_db.c — `churnwatch db copy` (every table of one database into
 * another, e.g. SQLite to PostgreSQL) and `churnwatch db digest` (a SHA-256
 * of a database's content that is the same on any backend), over
 * store/store_copy.h. docs/operations.md, "Moving a database".
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"
#include "store/store_copy.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Per table: rows, and the digests (copy: source's and destination's).
 * The last row, table "*", is the whole database. */
static int digest_report(rf_report *r, const cw_db_digest *a, const cw_db_digest *b)
{
    static const rf_col one[] = {
        {"table", RF_TEXT, 1, NULL, 0, NULL, 0},
        {"rows", RF_INT, 1, NULL, 0, NULL, 0},
        {"sha256", RF_TEXT, 1, NULL, 0, NULL, 0},
    };
    static const rf_col two[] = {
        {"table", RF_TEXT, 1, NULL, 0, NULL, 0},
        {"rows", RF_INT, 1, NULL, 0, NULL, 0},
        {"source_sha256", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"destination_sha256", RF_TEXT, 0, NULL, 0, NULL, 0},
    };
    int n = a->ntables;
    if (rf_report_init(r, b ? two : one, b ? 4 : 3, n + 1, NULL) != 0)
        return -1;
    char hex[2 * CW_DIGEST_LEN + 1];
    for (int i = 0; i <= n; i++) {
        rf_set_text(r, i, 0, i < n ? a->table[i] : "*");
        rf_set_int(r, i, 1, i < n ? a->rows[i] : a->total_rows);
        cw_db_digest_hex(i < n ? a->sha[i] : a->all, hex);
        rf_set_text(r, i, 2, hex);
        if (b) {
            cw_db_digest_hex(i < n ? b->sha[i] : b->all, hex);
            rf_set_text(r, i, 3, hex);
        }
    }
    return 0;
}

static int print_digest(const cw_db_digest *d, cli_format fmt)
{
    rf_report r;
    if (digest_report(&r, d, NULL) != 0)
        return EXIT_INTERNAL;
    char hex[2 * CW_DIGEST_LEN + 1], rows[32];
    cw_db_digest_hex(d->all, hex);
    snprintf(rows, sizeof rows, "%lld", (long long)d->total_rows);
    if (fmt == CLI_FMT_TABLE) {
        rf_report_table(&r, 1);
    } else {
        cli_stdout_data();
        const rf_meta meta[] = {{"digest", hex, 0}, {"rows", rows, 1}};
        rf_report_emit(&r, (int)fmt, meta, 2, "tables", 0, -1);
    }
    rf_report_free(&r);
    return 0;
}

static int print_copy(const cw_db_digest *src, const cw_db_digest *dst, cli_format fmt)
{
    rf_report r;
    if (digest_report(&r, src, dst) != 0)
        return EXIT_INTERNAL;
    char hs[2 * CW_DIGEST_LEN + 1], hd[2 * CW_DIGEST_LEN + 1], rows[32];
    cw_db_digest_hex(src->all, hs);
    cw_db_digest_hex(dst->all, hd);
    snprintf(rows, sizeof rows, "%lld", (long long)src->total_rows);
    int same = memcmp(src->all, dst->all, CW_DIGEST_LEN) == 0;
    if (fmt == CLI_FMT_TABLE) {
        rf_report_table(&r, 1);
        printf("source digest:      %s\ndestination digest: %s\n", hs, hd);
    } else {
        cli_stdout_data();
        const rf_meta meta[] = {{"rows", rows, 1},
                                {"source_digest", hs, 0},
                                {"destination_digest", hd, 0},
                                {"match", same ? "true" : "false", 1}};
        rf_report_emit(&r, (int)fmt, meta, 4, "tables", 0, -1);
    }
    rf_report_free(&r);
    return 0;
}

/* Opens the database named by path: read-only (never migrated) for a
 * source, read-write for a destination, which must exist (`churnwatch
 * init` creates it). */
static int open_db(cw_config *cfg, const char *path, int readonly, cw_store **st)
{
    int rc = cli_override(cfg, "store.db", path);
    if (rc == 0 && (rc = cli_open_store(cfg, readonly, st)) != 0)
        cli_error("db copy: cannot use %s as the %s", path, readonly ? "source" : "destination");
    return rc;
}

static void clear_progress(int on)
{
    if (on)
        fputs("\r\033[K", cli_raw_stderr());
}

static int run_copy(cw_config *cfg, const char *from, const char *to, int replace, cli_format fmt)
{
    /* The same database under two names is refused by cw_db_copy, which
     * compares what each store is (file identity, server and database),
     * not the strings. */
    cw_store *src = NULL, *dst = NULL;
    int rc = open_db(cfg, from, 1, &src);
    if (rc == 0)
        rc = open_db(cfg, to, 0, &dst);
    cw_copy_opts o = {.replace = replace};
    if (cli_progress_enabled(cfg))
        o.on_progress = cli_progress_line;
    cw_db_digest *d = rc ? NULL : calloc(2, sizeof *d);
    if (rc == 0 && !d) {
        cli_error("db copy: out of memory");
        rc = EXIT_INTERNAL;
    }
    if (rc == 0) {
        cw_status s = cw_db_copy(src, dst, &o, &d[0]);
        if (s == CW_OK)
            s = cw_db_digest_compute(dst, &d[1], o.on_progress, NULL);
        clear_progress(o.on_progress != NULL);
        if (s != CW_OK) {
            cli_error("db copy: %s", cw_store_why(dst, s));
            rc = cli_exit_code(s);
        } else if ((rc = print_copy(&d[0], &d[1], fmt)) == 0 &&
                   memcmp(d[0].all, d[1].all, CW_DIGEST_LEN) != 0) {
            cli_error("db copy: the destination's digest differs from the source's");
            rc = EXIT_DB;
        }
    }
    free(d);
    cw_store_close(dst);
    cw_store_close(src);
    return rc;
}

static int run_digest(cw_config *cfg, cli_format fmt)
{
    cw_store *st = NULL;
    int rc = cli_open_store(cfg, 1, &st);
    cw_db_digest *d = rc ? NULL : malloc(sizeof *d);
    if (rc == 0 && !d) {
        cli_error("db digest: out of memory");
        rc = EXIT_INTERNAL;
    }
    if (rc == 0) {
        int progress = cli_progress_enabled(cfg);
        cw_status s = cw_db_digest_compute(st, d, progress ? cli_progress_line : NULL, NULL);
        clear_progress(progress);
        if (s != CW_OK) {
            cli_error("db digest: %s", cw_store_why(st, s));
            rc = cli_exit_code(s);
        } else {
            rc = print_digest(d, fmt);
        }
    }
    free(d);
    cw_store_close(st);
    return rc;
}

int cmd_db(int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : NULL;
    if (!sub || (strcmp(sub, "copy") != 0 && strcmp(sub, "digest") != 0))
        return cli_unknown_sub("db", sub);
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    const char *from = NULL, *to = NULL;
    int replace = 0, c;
    cli_format fmt = CLI_FMT_TABLE;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc - 1, argv + 1, "db", sub, NULL)) != -1) {
        if (c == 'd')
            rc = cli_override(cfg, "store.db", optarg);
        else if (c == 'F')
            from = optarg;
        else if (c == 'T')
            to = optarg;
        else if (c == 'R')
            replace = 1;
        else if (c == 'f')
            rc = cli_parse_format(optarg, CLI_FMTS_ALL, &fmt);
        else
            rc = EXIT_USAGE;
    }
    if (rc == 0 && optind + 1 < argc) {
        cli_error("db %s: unexpected argument '%s'", sub, argv[optind + 1]);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && *sub == 'c' && (!from || !to)) {
        cli_error("db copy: --from and --to are required");
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = *sub == 'c' ? run_copy(cfg, from, to, replace, fmt) : run_digest(cfg, fmt);
    cw_config_free(cfg);
    return rc;
}
