/*
 * cmd_rules.c — `churnwatch rules list|show` (the effective rule set: the
 * stock pack with the configuration's overrides) and `churnwatch
 * check-config` (loads the configuration and validates every subsystem's
 * sections: rules and playbooks here; the scorecard and actions join it as
 * they land).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "report_fmt.h"

#include <stdlib.h>
#include <string.h>

/* Loads the configuration and the rule set; returns an exit code. */
int cli_load_rules(cw_config *cfg, cw_rules **out)
{
    cw_error err;
    cw_status s = cw_rules_load(cfg, out, &err);
    if (s != CW_OK) {
        cli_error("%s", err.msg);
        return cli_exit_code(s);
    }
    return 0;
}

static const char *origin(const cw_rule *r)
{
    return !r->stock ? "config" : r->overridden ? "stock*" : "stock";
}

static void show_rule(const cw_rules *rs, const cw_rule *r)
{
    printf("[rule.%s]\n", r->name);
    printf("description   = %s\n", r->description);
    printf("scope         = %s\n", r->scope == CW_SCOPE_USER ? "user" : "account");
    printf("when          = %s\n", r->when);
    if (r->clear_when)
        printf("clear_when    = %s\n", r->clear_when);
    else
        printf("clear_when    = not (%s)   ; default\n", r->when);
    printf("severity      = %s\n", r->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning");
    if (r->segments)
        printf("segment       = %s\n", r->segments);
    printf("cooldown_days = %d\n", r->cooldown_days);
    printf("playbook      = %s\n", r->playbook ? r->playbook : "");
    printf("enabled       = %s\n", r->enabled ? "true" : "false");
    printf("# origin: %s\n",
           r->stock ? (r->overridden ? "stock rule, overridden by the configuration" : "stock rule")
                    : "configuration");
    const cw_playbook *pb = r->playbook ? cw_playbooks_find(rs, r->playbook) : NULL;
    if (pb) {
        printf("\n[playbook.%s]\n", pb->name);
        printf("description   = %s\n", pb->description);
        printf("actions       = %s\n", pb->actions);
        printf("control_share = %g\n", pb->control_share);
    }
}

/* `rules list` in csv, json or jsonl (the report skeleton, report_fmt.h). */
static int rules_rows(const cw_rules *rs, cli_format fmt, int64_t offset, int64_t limit)
{
    static const rf_col cols[] = {
        {"rule", RF_TEXT, 0, NULL, 0, NULL, 0},        {"scope", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"severity", RF_TEXT, 0, NULL, 0, NULL, 0},    {"enabled", RF_BOOL, 0, NULL, 0, NULL, 0},
        {"origin", RF_TEXT, 0, NULL, 0, NULL, 0},      {"playbook", RF_TEXT, 0, NULL, 0, NULL, 0},
        {"description", RF_TEXT, 0, NULL, 0, NULL, 0},
    };
    rf_report t;
    int n = cw_rules_count(rs);
    if (rf_report_init(&t, cols, 7, n, NULL) != 0)
        return EXIT_INTERNAL;
    for (int i = 0; i < n; i++) {
        const cw_rule *r = cw_rules_get(rs, i);
        rf_set_text(&t, i, 0, r->name);
        rf_set_text(&t, i, 1, r->scope == CW_SCOPE_USER ? "user" : "account");
        rf_set_text(&t, i, 2, r->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning");
        rf_set_bool(&t, i, 3, r->enabled);
        rf_set_text(&t, i, 4, origin(r));
        rf_set_text(&t, i, 5, r->playbook);
        rf_set_text(&t, i, 6, r->description);
    }
    rf_report_emit(&t, (int)fmt, NULL, 0, NULL, offset, limit);
    rf_report_free(&t);
    return 0;
}

int cmd_rules(int argc, char **argv)
{
    int list = argc >= 2 && strcmp(argv[1], "list") == 0;
    int show = argc == 3 && strcmp(argv[1], "show") == 0;
    int playbooks = argc == 2 && strcmp(argv[1], "playbooks") == 0;
    if (argc < 2 || !cli_find("rules", argv[1]))
        return cli_unknown_sub("rules", argc < 2 ? NULL : argv[1]);
    if (!list && !show && !playbooks) {
        cli_error("usage: churnwatch rules list | rules show NAME | rules playbooks");
        return EXIT_USAGE;
    }
    cli_format fmt = CLI_FMT_TABLE;
    int64_t offset = 0, limit = -1;
    if (list) {
        int lrc = cli_list_opts(argc - 1, argv + 1, "rules", "list", &fmt, &offset, &limit);
        if (lrc)
            return lrc;
    }
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_rules *rs = NULL;
    rc = cli_load_rules(cfg, &rs);
    if (rc == 0 && list && fmt != CLI_FMT_TABLE) {
        rc = rules_rows(rs, fmt, offset, limit);
    } else if (rc == 0 && list) {
        printf("%-24s %-7s %-8s %-7s %-7s %-22s %s\n", "rule", "scope", "severity", "enabled",
               "origin", "playbook", "description");
        for (int i = (int)offset; i < cw_rules_count(rs) && (limit < 0 || i < offset + limit);
             i++) {
            const cw_rule *r = cw_rules_get(rs, i);
            printf("%-24s %-7s %-8s %-7s %-7s %-22s %s\n", r->name,
                   r->scope == CW_SCOPE_USER ? "user" : "account",
                   r->severity == CW_SEVERITY_CRITICAL ? "critical" : "warning",
                   r->enabled ? "yes" : "no", origin(r), r->playbook ? r->playbook : "-",
                   r->description);
        }
    } else if (rc == 0 && playbooks) {
        printf("%-24s %-7s %-52s %s\n", "playbook", "control", "actions", "description");
        for (int i = 0; i < cw_playbooks_count(rs); i++) {
            const cw_playbook *p = cw_playbooks_get(rs, i);
            printf("%-24s %-7g %-52s %s\n", p->name, p->control_share, p->actions, p->description);
        }
    } else if (rc == 0) {
        const cw_rule *r = cw_rules_find(rs, argv[2]);
        if (!r) {
            cli_error("rules show: no rule named '%s' (see `churnwatch rules list`)", argv[2]);
            rc = EXIT_USAGE;
        } else
            show_rule(rs, r);
    }
    cw_rules_free(rs);
    cw_config_free(cfg);
    return rc;
}

int cmd_check_config(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        cli_error("usage: churnwatch check-config [--config F]");
        return EXIT_USAGE;
    }
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cw_rules *rs = NULL;
    rc = cli_load_rules(cfg, &rs);
    /* Each subsystem validates its own sections through its loader. */
    cw_scorecard *sc = NULL;
    if (rc == 0)
        rc = cli_load_scorecard(cfg, &sc);
    cw_actions *acts = NULL;
    if (rc == 0) {
        cw_error err;
        cw_status s = cw_actions_load(cfg, &acts, &err);
        if (s != CW_OK) {
            cli_error("%s", err.msg);
            rc = cli_exit_code(s);
        }
    }
    int nsources = 0;
    if (rc == 0) {
        /* Every [source.NAME] mapping (docs/importers.md). */
        cw_source_info *si = NULL;
        cw_error err;
        cw_status s = cw_sources_list(cfg, 0, &si, &nsources, &err);
        if (s != CW_OK) {
            cli_error("%s", err.msg);
            rc = cli_exit_code(s == CW_ERR_NOTFOUND ? CW_ERR_CONFIG : s);
        }
        free(si);
    }
    if (rc == 0) {
        int enabled = 0;
        for (int i = 0; i < cw_rules_count(rs); i++)
            enabled += cw_rules_get(rs, i)->enabled;
        const char *path = cw_config_path(cfg);
        printf("%s: ok: %d rules (%d enabled), %d playbooks; scorecard %s (%s, %d measures)",
               path ? path : "(defaults)", cw_rules_count(rs), enabled, cw_playbooks_count(rs),
               cw_scorecard_name(sc), cw_scorecard_hash(sc), cw_scorecard_measures(sc));
        if (nsources)
            printf("; %d source(s)", nsources);
        printf("\n");
    }
    cw_scorecard_free(sc);
    cw_actions_free(acts);
    cw_rules_free(rs);
    cw_config_free(cfg);
    return rc;
}
