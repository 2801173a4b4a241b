/*
 * main.c — the churnwatch program: git-style subcommand dispatch, help,
 * version, and the helpers every subcommand shares (configuration loading,
 * exit codes). Each subcommand lives in its own cmd_*.c file and is a thin
 * layer over the library.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_command cli_commands[] = {
    {"simulate", cmd_simulate, "write a deterministic simulated SaaS world as CSV files",
     "usage: churnwatch simulate [--accounts N] [--start DATE] [--months M] [--seed S]\n"
     "                           [--gzip] --out DIR\n"
     "\n"
     "Writes one CSV per kind of input (see `churnwatch help data-model`), plus\n"
     "truth/ground_truth.csv (each account's hidden churn driver) and manifest.json (the\n"
     "simulator's own counts). The same options and seed always give the same bytes.\n"
     "\n"
     "  --accounts N   customer accounts (default: simulate.accounts, 500)\n"
     "  --start DATE   first simulated day, YYYY-MM-DD (default 2025-01-01)\n"
     "  --months M     months simulated, 1..120 (default 12)\n"
     "  --seed S       random seed (default 42)\n"
     "  --gzip         write events.csv.gz instead of events.csv\n"
     "  --out DIR      output directory (created when missing)\n"},
    {"ingest", cmd_ingest, "validate and load CSV / JSON Lines exports into the database",
     "usage: churnwatch ingest [--db F] [--kind K] [--skip-bad --rejects F] FILE...\n"
     "\n"
     "Loads exports (CSV with a header row, or JSON Lines; .gz is decompressed; '-'\n"
     "reads standard input) into the database in one transaction. The kind of each\n"
     "file is detected from its header or first object; files are applied in kind\n"
     "order (accounts, subscriptions, users, features, events, …) so references\n"
     "resolve whatever order they are named in.\n"
     "\n"
     "By default a single bad row changes nothing: the first errors are listed as\n"
     "file:line: field 'x': why, with a count, and the exit status is 1.\n"
     "Re-ingesting the same data changes nothing. Rows referring to an account,\n"
     "user or goal the database does not know are rejected.\n"
     "\n"
     "  --db F          database (default: store.db, churnwatch.db)\n"
     "  --kind K        treat every file as kind K (needed for '-')\n"
     "  --skip-bad      land the good rows; bad rows go to --rejects\n"
     "  --rejects F     JSON Lines file of rejected rows with their reasons\n"
     "  --max-errors N  errors listed in full (default 20)\n"
     "  --progress W    auto|always|never (default auto: only on a terminal)\n"
     "  --quiet         no summary\n"},
    {"metrics", cmd_metrics, "compute and show point-in-time metric snapshots",
     "usage: churnwatch metrics --as-of DATE [options]\n"
     "       churnwatch metrics --from D1 --to D2 [--every 7d] [options]\n"
     "       churnwatch metrics --no-compute [--from D1 --to D2] [options]\n"
     "       churnwatch metrics list\n"
     "\n"
     "Computes every metric of the catalogue (docs/metrics.md) for every account\n"
     "active on each date, and its users, from data stamped before the date, and\n"
     "stores the snapshots. Only missing snapshots are computed unless --recompute.\n"
     "A single date is printed; a series is printed with --format.\n"
     "\n"
     "  --db F            database (default: store.db)\n"
     "  --as-of DATE      one snapshot (YYYY-MM-DD: data before that day's 00:00 UTC)\n"
     "  --from D1 --to D2 a series of snapshots, every --every days (default 7d)\n"
     "  --window N        activity window in days (default: metrics.window_days, 28)\n"
     "  --recompute       replace stored snapshots\n"
     "  --user-history    store user metrics for every snapshot (default: the last)\n"
     "  --no-compute      only print what is stored (latest snapshot without dates)\n"
     "  --format F        table (default), csv (long form) or json (JSON Lines)\n"
     "  --account ID      only this account\n"
     "  --metric NAME     only this metric\n"
     "  --users           user metrics instead of account metrics\n"
     "  --threads N       2 (default on 2+ cores): two threads read and compute\n"
     "                    half the accounts each while this one writes; 1: one\n"
     "  --quiet           no summary on stderr\n"},
    {"report", cmd_report,
     "revenue analytics: MRR movements, retention, cohorts, LTV, reasons, funnel",
     "usage: churnwatch report cohorts [--db F] [--segment S] [--months N]\n"
     "                                 [--format table|csv|json]\n"
     "       churnwatch report ltv [--db F] [--segment S] [--gross-margin X]\n"
     "                             [--format table|csv|json]\n"
     "       churnwatch report reasons [--db F] [--from M] [--to M] [--segment S]\n"
     "                                 [--postmortem] [--map \"kw=cause;...\"] [--format F]\n"
     "       churnwatch report funnel [--db F] [--from M] [--to M] [--format F]\n"
     "       churnwatch report chain [--db F] [--from M] [--to M] [--segment S] [--format F]\n"
     "       churnwatch report revenue|retention [--db F] [--from YYYY-MM] [--to YYYY-MM]\n"
     "                                 [--by month|quarter] [--segment S]\n"
     "                                 [--format table|csv|json]\n"
     "\n"
     "Computes the MRR bridge per calendar month (UTC) from the subscriptions:\n"
     "MRR at the start, new, expansion, contraction, churn, reactivation and MRR at\n"
     "the end (start + new + expansion - contraction - churn + reactivation = end,\n"
     "exactly), customers at the start, new, churned, reactivated and at the end,\n"
     "and the rates: logo churn, gross revenue churn, GRR, NRR, quick ratio and\n"
     "seat churn (`retention` prints the rates alone). An account's MRR in a month is the MRR in "
     "force at the month's\n"
     "end; movements compare it with the previous month's end (docs/revenue.md).\n"
     "All subscriptions must share one currency; several are an error (exit 1).\n"
     "\n"
     "  --db F         database (default: store.db)\n"
     "  --from YYYY-MM first month (default: the first month with a subscription change)\n"
     "  --to YYYY-MM   last month (default: the last month with a change)\n"
     "  --by B         month (default) or quarter: a quarter compares each account's\n"
     "                 MRR at the quarter's start and end\n"
     "  --segment S    only accounts of segment S\n"
     "  --format F     table (default: money in major units, rates in %), csv or json\n"
     "                 (money in minor units, rates in %, empty/null when undefined)\n"
     "\n"
     "cohorts: accounts grouped by their first paying month; logo retention and net\n"
     "revenue retention for months 0..N (--months, default 12) and NRR at 12 months\n"
     "(docs/revenue-cohorts.md).\n"
     "ltv: per segment, ARPA x gross margin (--gross-margin, default 0.8) / monthly\n"
     "logo churn, and a Kaplan-Meier survival estimate; segments with fewer than 10\n"
     "churns are flagged unreliable.\n"
     "reasons: churned accounts' exit reasons mapped to the four causes (bad service,\n"
     "bad onboarding, lack of ongoing success, natural), counts and lost MRR per\n"
     "cause and segment, avoidable vs unavoidable; --postmortem lists each account's\n"
     "last metrics before it churned (docs/revenue-reasons.md).\n"
     "funnel: See-Think-Do-Care journey: visitors per stage, conversions, cost per\n"
     "lead and acquisition cost, by source and month.\n"
     "chain: users lost per account, and whether that became seats or MRR lost at the\n"
     "next subscription change.\n"},
    {"status", cmd_status, "summarise what the database holds",
     "usage: churnwatch status [--db F] [--format table|json]\n"
     "\n"
     "Prints rows per kind, product events represented, active accounts, seats and\n"
     "MRR, and the schema version.\n"},
    {"config", cmd_config, "show the effective configuration",
     "usage: churnwatch config show [--config F] [--set section.name=value]...\n"
     "\n"
     "Prints every setting as an INI file with its help text: the defaults, the\n"
     "configuration file's values and command-line overrides (the CLI wins).\n"
     "churnwatch.conf.example in the source tree is this output with defaults.\n"},
    {"train", cmd_train, "train the churn models on the stored snapshot history",
     "usage: churnwatch train [--db F] [--kind logreg|xgboost|both] [--horizon DAYS]\n"
     "                        [--from DATE] [--to DATE] [--seat-loss X%] [--mrr-loss X%]\n"
     "                        [--activate] [--name N] [--threads N] [--dump-matrix PREFIX]\n"
     "                        [--format table|json]\n"
     "\n"
     "Label: the account churns (MRR goes to 0) within --horizon days (default 90) after\n"
     "a snapshot, or loses at least --seat-loss / --mrr-loss percent. Rows: accounts\n"
     "active at each stored snapshot (churnwatch metrics --from --to --every 7d).\n"
     "Split by time: fit, calibration (Platt), a purge gap of one horizon, test.\n"
     "Saves each model in table models with its test metrics; --activate makes the\n"
     "last one trained the one predict uses. --dump-matrix writes PREFIX.x.npy,\n"
     "PREFIX.y.npy, PREFIX.set.npy and PREFIX.features.txt (bench/model_ref.py).\n"},
    {"predict", cmd_predict, "score a snapshot with the active model and explain each score",
     "usage: churnwatch predict [--db F] [--as-of DATE] [--model ID] [--top N]\n"
     "                          [--green-below P] [--format table|csv|json]\n"
     "\n"
     "Scores every account active at the snapshot (default: the latest) into table\n"
     "predictions, with the drivers raising and lowering each account's risk in words\n"
     "and numbers, and what single change would bring it under the green cut-off\n"
     "(--green-below, default model.green_below_pct). Prints the --top riskiest (20).\n"},
    {"backtest", cmd_backtest, "judge the scorecard and the models on later snapshots",
     "usage: churnwatch backtest [--db F] [--horizon DAYS] [--from DATE] [--to DATE]\n"
     "                           [--kind logreg|xgboost|both] [--green-below P]\n"
     "                           [--threads N] [--format table|json]\n"
     "\n"
     "Trains the models on the earlier snapshots and evaluates them, and every\n"
     "scorecard version in table scores (risk = 100 - score, red = colour 2), on the\n"
     "later ones: ROC AUC, PR AUC, precision/recall/lift in the riskiest 10% and 20%,\n"
     "Brier score, calibration by decile and early-warning lead time. Stored in table\n"
     "backtests as JSON (with the ROC curve).\n"},
    {NULL, NULL, NULL, NULL},
};

static const char *exit_codes_help =
    "churnwatch exit codes (stable):\n"
    "  0  success\n"
    "  1  input data failed validation; nothing was written (unless --skip-bad)\n"
    "  2  bad command line\n"
    "  3  bad configuration file or setting\n"
    "  4  a file could not be read or written\n"
    "  5  database error, or a database schema newer than this build\n"
    "  6  out of memory or an internal error\n";

static const char *global_help =
    "usage: churnwatch [--config F] <command> [options]\n"
    "       churnwatch help [command | data-model | exit-codes]\n"
    "       churnwatch --version\n"
    "\n"
    "churnwatch: a customer-health and churn early-warning engine for SaaS.\n"
    "\n"
    "Global options (before or after the command):\n"
    "  --config F    configuration file (default: $CHURNWATCH_CONFIG, else\n"
    "                ./churnwatch.conf when present)\n"
    "  --set K=V     override one setting, e.g. --set ingest.max_errors=50\n"
    "\n"
    "Commands:\n";

static void print_data_model(FILE *out)
{
    static const char *tn[] = {"id",    "account ref", "user ref", "text",      "integer",
                               "money", "currency",    "date",     "timestamp", "number",
                               "enum",  "boolean",     "e-mail"};
    fprintf(out, "churnwatch data model: one CSV (header row) or JSON Lines file per kind.\n"
                 "* = required, K = part of the natural key. Column names are\n"
                 "case-insensitive; the aliases in docs/data-model.md are accepted too.\n");
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = cw_kind_get((cw_kind)k);
        fprintf(out, "\n%s — %s\n", kd->name, kd->doc);
        for (int i = 0; i < kd->nfields; i++) {
            const cw_field_def *f = &kd->fields[i];
            char type[128];
            if (f->type == CW_F_ENUM)
                snprintf(type, sizeof type, "%s", f->enum_values);
            else
                snprintf(type, sizeof type, "%s", tn[f->type]);
            fprintf(out, "  %-18s %s%s %-28s %s\n", f->name, f->flags & CW_FD_REQUIRED ? "*" : " ",
                    f->flags & CW_FD_KEY ? "K" : " ", type, f->doc);
        }
    }
}

int cli_help(const char *topic, FILE *out)
{
    if (!topic) {
        fputs(global_help, out);
        for (const cli_command *c = cli_commands; c->name; c++)
            fprintf(out, "  %-10s %s\n", c->name, c->summary);
        fprintf(out, "  %-10s %s\n", "help", "show help for a command or topic");
        fprintf(out, "\nTopics: churnwatch help data-model | exit-codes\n");
        return 0;
    }
    if (strcmp(topic, "exit-codes") == 0) {
        fputs(exit_codes_help, out);
        return 0;
    }
    if (strcmp(topic, "data-model") == 0) {
        print_data_model(out);
        return 0;
    }
    for (const cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, topic) == 0) {
            fputs(c->usage, out);
            return 0;
        }
    cli_error("no help for '%s' (try `churnwatch help`)", topic);
    return EXIT_USAGE;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("churnwatch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
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
    char *err = NULL;
    cw_status s = cw_config_load(path, out, &err);
    if (s != CW_OK) {
        cli_error("%s", err ? err : cw_strerror(s));
        free(err);
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
    char *err = NULL;
    cw_status s = cw_config_set(c, key, value, &err);
    if (s != CW_OK) {
        cli_error("%s", err ? err : cw_strerror(s));
        free(err);
        return cli_exit_code(s);
    }
    return 0;
}

int cli_progress_enabled(const cw_config *c)
{
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
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    g_overrides = calloc((size_t)argc + 1, sizeof *g_overrides);
    if (!rest || !g_overrides)
        return EXIT_INTERNAL;
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i > 0 && strcmp(a, "--config") == 0 && i + 1 < argc) {
            g_config_path = argv[++i];
        } else if (i > 0 && strncmp(a, "--config=", 9) == 0) {
            g_config_path = a + 9;
        } else if (i > 0 && strcmp(a, "--set") == 0 && i + 1 < argc) {
            g_overrides[g_noverrides++] = argv[++i];
        } else if (i > 0 && strcmp(a, "--") == 0) {
            while (i < argc)
                rest[nrest++] = argv[i++];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    int rc;
    if (nrest < 2) {
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
            cli_error("'%s' is not a command (see `churnwatch help`)", rest[1]);
            rc = EXIT_USAGE;
        }
    }
    free(rest);
    free(g_overrides);
    return rc;
}
