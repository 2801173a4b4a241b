/*
 * cmd_sources.c — `churnwatch sources`: list the mappings (configured
 * [source.NAME] sections and built-in presets), show one as INI, and check
 * a file against one without changing the database (docs/importers.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"

#include <getopt.h> /* optarg, optind */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int sources_list(cw_config *cfg, int argc, char **argv)
{
    cli_format fmt = CLI_FMT_TABLE;
    int64_t offset = 0, limit = -1;
    int rc = cli_list_opts(argc, argv, "sources", "list", &fmt, &offset, &limit);
    if (rc)
        return rc;
    cw_source_info *si;
    int n;
    cw_error err;
    cw_status s = cw_sources_list(cfg, CW_SOURCES_PRESETS, &si, &n, &err);
    if (s != CW_OK) {
        cli_error("%s", err.msg);
        return cli_exit_code(s == CW_ERR_NOTFOUND ? CW_ERR_CONFIG : s);
    }
    if (fmt != CLI_FMT_TABLE) {
        static const rf_col cols[] = {
            {"name", RF_TEXT, 0, NULL, 0, NULL, 0},        {"origin", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"kinds", RF_TEXT, 0, NULL, 0, NULL, 0},       {"files", RF_TEXT, 0, NULL, 0, NULL, 0},
            {"description", RF_TEXT, 0, NULL, 0, NULL, 0},
        };
        rf_report r;
        if (rf_report_init(&r, cols, 5, n, NULL) != 0) {
            free(si);
            return EXIT_INTERNAL;
        }
        for (int i = 0; i < n; i++) {
            rf_set_text(&r, i, 0, si[i].name);
            rf_set_text(&r, i, 1, si[i].is_preset ? "preset" : "config");
            rf_set_text(&r, i, 2, si[i].kinds);
            if (si[i].files[0])
                rf_set_text(&r, i, 3, si[i].files);
            rf_set_text(&r, i, 4, si[i].description);
        }
        rf_report_emit(&r, (int)fmt, NULL, 0, NULL, offset, limit);
        rf_report_free(&r);
        free(si);
        return 0;
    }
    printf("%-20s %-7s %-34s %-24s %s\n", "name", "origin", "kinds", "files", "description");
    for (int64_t i = offset; i < n && (limit < 0 || i < offset + limit); i++)
        printf("%-20s %-7s %-34s %-24s %s\n", si[i].name, si[i].is_preset ? "preset" : "config",
               si[i].kinds, si[i].files[0] ? si[i].files : "-", si[i].description);
    free(si);
    return 0;
}

static int sources_show(cw_config *cfg, const char *name)
{
    const cw_config_entry *e;
    int n = cw_config_entries(cfg, &e), shown = 0;
    const char *last = NULL;
    for (int i = 0; i < n; i++) {
        const char *sn;
        size_t nl = strlen(name);
        /* [source.NAME] or its parts [source.NAME.PART] */
        if (!cw_config_section_is(e[i].section, "source", &sn) || strncmp(sn, name, nl) != 0 ||
            (sn[nl] != '\0' && sn[nl] != '.'))
            continue;
        if (!last)
            printf("; %s, as configured in %s\n", name,
                   cw_config_path(cfg) ? cw_config_path(cfg) : "the configuration");
        if (!last || strcmp(last, e[i].section) != 0)
            printf("[%s]\n", e[i].section);
        last = e[i].section;
        printf("%s = %s\n", e[i].key, e[i].value);
        shown++;
    }
    if (shown)
        return 0;
    const char *text = cw_preset_text(name);
    if (!text) {
        cli_error("sources show: no source or preset named '%s' (see `churnwatch sources list`)",
                  name);
        return EXIT_USAGE;
    }
    fputs(text, stdout);
    return 0;
}

static void print_row(const cw_kind_def *kd, const char *const *texts, int64_t line, void *ud)
{
    (void)ud;
    printf("%s line %lld:\n", kd->name, (long long)line);
    for (int i = 0; i < kd->nfields; i++)
        printf("  %-18s %s\n", kd->fields[i].name, texts[i] ? texts[i] : "");
}

static void on_message(int is_warning, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s%s\n", is_warning ? "warning: " : "error: ", msg);
}

static int sources_check(cw_config *cfg, int argc, char **argv)
{
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    int limit = 5, rc = 0, c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "sources", "check", NULL)) != -1) {
        switch (c) {
        case 'd': rc = cli_override(cfg, "store.db", optarg); break;
        case 'S': o.source = optarg; break;
        case 'P': o.preset = optarg; break;
        case 'm': rc = cli_override(cfg, "ingest.max_errors", optarg); break;
        case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 1000000) {
                cli_error("--limit %s: expected a number of rows 0..1000000", optarg);
                rc = EXIT_USAGE;
            }
            limit = (int)v;
            break;
        }
        default: rc = EXIT_USAGE;
        }
    }
    if (rc)
        return rc;
    if (!o.source == !o.preset) {
        cli_error("sources check: give --source NAME or --preset NAME");
        return EXIT_USAGE;
    }
    if (optind >= argc) {
        cli_error("sources check: no input files");
        return EXIT_USAGE;
    }
    o.naive_utc = strcmp(cw_config_get(cfg, "ingest.naive_timestamps"), "utc") == 0;
    o.max_errors = (int)cw_config_get_int(cfg, "ingest.max_errors");
    o.max_line_bytes = (size_t)cw_config_get_int(cfg, "ingest.max_line_bytes");
    o.config = cfg;
    o.on_message = on_message;
    /* Without a database, check against an empty in-memory one and leave
     * references unchecked; never create a database file for a check. */
    char db[1024];
    snprintf(db, sizeof db, "%s", cw_config_get(cfg, "store.db"));
    int have_db = cw_store_db_is_server(db) ||
                  access(strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db, F_OK) == 0;
    cw_store *st;
    if (!have_db)
        rc = cli_override(cfg, "store.db", ":memory:");
    if (rc || (rc = cli_open_store(cfg, 0, &st)) != 0)
        return rc;
    if (!have_db)
        fprintf(stderr, "note: no database %s: references to accounts and users are not checked\n",
                db);
    cw_ingest_stats stats;
    cw_status s =
        cw_ingest_preview(st, (const char *const *)argv + optind, (size_t)(argc - optind), &o,
                          limit, have_db ? CW_PREVIEW_CHECK_REFS : 0, print_row, &stats);
    int64_t read = 0;
    for (int k = 1; k < CW_KIND__COUNT; k++)
        read += stats.rows_read[k];
    fprintf(s == CW_OK ? stdout : stderr,
            "checked %lld row(s): %lld bad, %lld left out by where, %lld warning(s); nothing "
            "written\n",
            (long long)read, (long long)stats.rejected, (long long)stats.filtered,
            (long long)stats.warnings);
    cw_store_close(st);
    return cli_exit_code(s);
}

int cmd_sources(int argc, char **argv)
{
    if (argc < 2 || !cli_find("sources", argv[1]))
        return cli_unknown_sub("sources", argc < 2 ? NULL : argv[1]);
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    if (strcmp(argv[1], "list") == 0)
        rc = sources_list(cfg, argc - 1, argv + 1);
    else if (strcmp(argv[1], "show") == 0 && argc == 3)
        rc = sources_show(cfg, argv[2]);
    else if (strcmp(argv[1], "check") == 0)
        rc = sources_check(cfg, argc - 1, argv + 1);
    else {
        cli_error("usage: churnwatch sources list | show NAME | check --source NAME FILE...");
        rc = EXIT_USAGE;
    }
    cw_config_free(cfg);
    return rc;
}
