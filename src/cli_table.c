/*
 * cli_table.c — the one table of churnwatch's commands, subcommands and
 * options. It drives option parsing (cli_getopt), `churnwatch help`, the
 * suggestions for typos, the man page and the shell completions
 * (cli_opts.c), so none of them can fall behind the others. A command's
 * synopsis and description are prose; its option list is generated from
 * the entries here.
 */
#include "cli.h"

#include <stddef.h>

#define O_DB                                                                                       \
    {                                                                                              \
        "db", 'd', "F", "database (default: store.db; create it with `churnwatch init`)"           \
    }
#define O_FORMAT(v, formats)                                                                       \
    {                                                                                              \
        "format", v, "F", formats                                                                  \
    }
#define F_ALL "table (default), csv, json (one document) or jsonl (one object a line)"
#define F_TJJ "table (default), json (one document) or jsonl (one object a line)"
#define F_TCJ "table (default), csv or json (one document)"
#define F_TJ  "table (default) or json (one document)"
#define F_TC  "table (default) or csv"
#define O_LIMIT(v)                                                                                 \
    {                                                                                              \
        "limit", v, "N", "at most N rows"                                                          \
    }
#define O_OFFSET(v)                                                                                \
    {                                                                                              \
        "offset", v, "N", "skip the first N rows"                                                  \
    }
#define O_END                                                                                      \
    {                                                                                              \
        NULL, 0, NULL, NULL                                                                        \
    }

static const cli_option o_init[] = {O_DB, O_END};

static const cli_option o_simulate[] = {
    {"accounts", 'a', "N", "customer accounts (default: simulate.accounts, 500)"},
    {"start", 's', "DATE", "first simulated day, YYYY-MM-DD (default 2025-01-01)"},
    {"months", 'm', "M", "months simulated, 1..120 (default 12)"},
    {"seed", 'S', "S", "random seed (default 42)"},
    {"gzip", 'z', NULL, "write events.csv.gz instead of events.csv"},
    {"product-events", 'P', NULL,
     "users also pin or dismiss insights (insight_pin,\n"
     "insight_dismiss: no feature, no built-in metric); 20% of\n"
     "accounts stop pinning at some point and then churn at renewals"},
    {"churn-shift", 'C', "DATE:F",
     "from DATE on the churn rate drops to about F times (0 < F <= 1):\n"
     "base hazard x F, accounts at risk won back with probability 1 - F"},
    {"out", 'o', "DIR", "output directory (created when missing)"},
    O_END,
};

static const cli_option o_ingest[] = {
    O_DB,
    {"kind", 'k', "K", "treat every file as kind K (needed for '-')"},
    {"source", 'S', "NAME",
     "read every file through the configuration's [source.NAME]\n"
     "mapping (docs/importers.md); without it, a file whose name\n"
     "matches a source's `files` glob is read through that source"},
    {"preset", 'T', "NAME",
     "read every file through a built-in mapping preset\n(`churnwatch sources list`)"},
    {"data-end", 'E', "DATE",
     "billing periods (subscription_periods): the last day the\n"
     "export covers (YYYY-MM-DD or today); a line's last\n"
     "period ending by then is a cancellation, one ending later\n"
     "is still running (required for such files unless the\n"
     "source sets data_end)"},
    {"skip-bad", 's', NULL, "land the good rows; bad rows go to --rejects"},
    {"rejects", 'r', "F", "JSON Lines file of rejected rows with their reasons"},
    {"max-errors", 'm', "N", "errors listed in full (default 20)"},
    {"progress", 'p', "W", "auto|always|never (default auto: only on a terminal)"},
    {"provision-users", 'P', NULL,
     "a user named in events (tickets, surveys, trainings) but\n"
     "unknown is created on first sight, provisioned_at = its\n"
     "earliest event; a later users export fills in the rest"},
    {"quiet", 'q', NULL, "no summary"},
    O_END,
};

static const cli_option o_sources_check[] = {
    O_DB,
    {"source", 'S', "NAME", "read through the configuration's [source.NAME]"},
    {"preset", 'P', "NAME", "read through a built-in preset"},
    {"limit", 'l', "N", "mapped rows printed (default 5)"},
    {"max-errors", 'm', "N", "errors listed in full (default 20)"},
    O_END,
};

static const cli_option o_metrics[] = {
    O_DB,
    {"as-of", 'a', "DATE", "one snapshot (YYYY-MM-DD: data before that day's 00:00 UTC)"},
    {"from", 'f', "DATE", "first day of a series of snapshots"},
    {"to", 't', "DATE", "last day of the series"},
    {"every", 'e', "Nd", "days between the series' snapshots (default 7d)"},
    {"window", 'w', "N", "activity window in days (default: metrics.window_days, 28)"},
    {"recompute", 'r', NULL, "replace stored snapshots"},
    {"user-history", 'H', NULL, "store user metrics for every snapshot (default: the last)"},
    {"no-compute", 'n', NULL, "only print what is stored (latest snapshot without dates)"},
    O_FORMAT('F', F_ALL "; csv is the long form"),
    {"account", 'A', "ID", "only this account"},
    {"metric", 'm', "NAME", "only this metric"},
    {"users", 'u', NULL, "user metrics instead of account metrics"},
    {"limit", 'l', "N", "at most N rows (a table: N snapshot blocks)"},
    {"offset", 'O', "N", "skip the first N rows (a table: blocks)"},
    {"threads", 'T', "N",
     "2 (default on 2+ cores): two threads read and compute\n"
     "half the accounts each while this one writes; 1: one"},
    {"quiet", 'q', NULL, "no summary on stderr"},
    O_END,
};

static const cli_option o_score[] = {
    O_DB,
    {"as-of", 'a', "DATE", "score and show this snapshot only"},
    {"from", 'f', "DATE", "score the snapshots from this day"},
    {"to", 't', "DATE", "... to this day"},
    {"recompute", 'r', NULL, "rescore days already scored by this scorecard"},
    {"no-compute", 'n', NULL, "only print what is stored"},
    {"account", 'A', "ID", "one account's breakdown: value, points and points lost per measure"},
    {"colour", 'c', "C", "only green, yellow or red accounts"},
    {"color", 'c', "C", NULL},
    {"limit", 'l', "N", "rows shown (default 20 in a table, all otherwise)"},
    O_OFFSET('O'),
    {"drivers", 'D', "N", "weakest measures named per account (default 3)"},
    O_FORMAT('F', F_ALL),
    {"show-scorecard", 's', NULL, "print the scorecard in force and exit"},
    {"default-scorecard", 'S', NULL,
     "print the built-in scorecard as INI (to copy and edit) and exit"},
    {"quiet", 'q', NULL, "no summary on stderr"},
    O_END,
};

static const cli_option o_report_revenue[] = {
    O_DB,
    {"from", 'f', "MONTH",
     "first month, YYYY-MM (a date means its month; default: the\n"
     "first month with a subscription change)"},
    {"to", 't', "MONTH", "last month (default: the last month with a change)"},
    {"by", 'b', "B",
     "month (default) or quarter: a quarter compares each account's\n"
     "MRR at the quarter's start and end"},
    {"segment", 's', "S", "only accounts of segment S"},
    O_FORMAT('F', F_ALL "\n(money in major units of the currency, rates in %,\n"
                        "empty/null when undefined)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_cohorts[] = {
    O_DB,
    {"segment", 's', "S", "only accounts of segment S"},
    {"months", 'm', "N", "months of retention per cohort (default 12)"},
    O_FORMAT('F', F_ALL "\n(money in major units of the currency)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_ltv[] = {
    O_DB,
    {"segment", 's', "S", "only accounts of segment S"},
    {"gross-margin", 'g', "X", "gross margin, 0..1 (default 0.8)"},
    O_FORMAT('F', F_ALL "\n(money in major units of the currency)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_reasons[] = {
    O_DB,
    {"from", 'f', "MONTH", "first month, YYYY-MM (a date means its month)"},
    {"to", 't', "MONTH", "last month"},
    {"segment", 's', "S", "only accounts of segment S"},
    {"postmortem", 'p', NULL, "each churned account's last metrics before it churned"},
    {"map", 'm', "\"kw=cause;...\"", "churn-reason keywords to causes (reports.reason_map)"},
    O_FORMAT('F', F_ALL "\n(money in major units of the currency)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_funnel[] = {
    O_DB,
    {"from", 'f', "MONTH", "first month, YYYY-MM (a date means its month)"},
    {"to", 't', "MONTH", "last month"},
    O_FORMAT('F', F_ALL "\n(money in major units of the currency)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_chain[] = {
    O_DB,
    {"from", 'f', "MONTH", "first month, YYYY-MM (a date means its month)"},
    {"to", 't', "MONTH", "last month"},
    {"segment", 's', "S", "only accounts of segment S"},
    O_FORMAT('F', F_ALL "\n(money in major units of the currency)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_survival[] = {
    O_DB,
    {"by", 'b', "B", "segment (default), cohort or none"},
    {"segment", 's', "S", "only accounts of segment S"},
    {"cohort-months", 'c', "N", "months per start cohort (default 3)"},
    {"unit", 'u', "U", "days or months (default)"},
    {"horizon", 'h', "N", "cut follow-up at N units"},
    {"confidence", 'C', "X", "confidence of the bands (default 0.95)"},
    O_FORMAT('F', F_ALL "\n(csv, jsonl and json rows: every curve point)"),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_plays[] = {
    O_DB,
    {"from", 'f', "DATE", "first alert opening day"},
    {"to", 't', "DATE", "last alert opening day"},
    {"horizon", 'h', "DAYS", "churn and recovery window after an alert (default 90)"},
    O_FORMAT('F', F_ALL),
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_END,
};

static const cli_option o_report_html[] = {
    O_DB,
    {"out", 'o', "FILE", "the HTML file to write"},
    {"accounts", 'n', "N", "riskiest accounts shown in full (default 20)"},
    O_END,
};

static const cli_option o_status[] = {O_DB, O_FORMAT('f', F_TJ), O_END};

static const cli_option o_quarantine[] = {
    O_DB,  {"limit", 'l', "N", "at most N rows (default 50)"}, O_OFFSET('O'), O_FORMAT('f', F_ALL),
    O_END,
};

static const cli_option o_evaluate[] = {
    O_DB,
    {"as-of", 'a', "DATE", "the snapshot day to evaluate"},
    {"quiet", 'q', NULL, "no summary"},
    {"backfill", 'B', NULL,
     "open the alerts but run no playbook: no message queued, no\n"
     "control draw (first evaluations on an existing customer base)"},
    O_END,
};

static const cli_option o_alerts[] = {
    O_DB,
    {"all", 'A', NULL, "list: closed alerts too"},
    {"rule", 'r', "R", "list: only alerts of rule R"},
    {"account", 'c', "ID", "list: only alerts of account ID"},
    {"opened-since", 'o', "DATE",
     "list: only alerts opened on or after DATE (e.g. the last\nrun's day, to see what is new)"},
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_FORMAT('f', F_TJJ " (list, show); csv (list)"),
    {"until", 'u', "DATE", "snooze: the day the alert reappears"},
    {"by", 'b', "WHO", "ack, snooze, resolve: who did it (default $USER)"},
    {"as", 'y', "NAME", "ack, snooze, resolve: the same as --by"},
    {"note", 'n', "TEXT", "ack, snooze, resolve: a note kept in the history"},
    O_END,
};

static const cli_option o_run[] = {
    O_DB,
    {"drop", 'D', "DIR", "ingest the export files in DIR and move them to DIR/done"},
    {"skip-bad", 'S', NULL, "bad rows go to the quarantine; the good rows land"},
    {"as-of", 'a', "DATE", "the day to snapshot, score and evaluate (default: today, UTC)"},
    {"deliver", 'L', "W", "yes (default), no or dry-run"},
    {"backfill", 'B', NULL, "evaluate as `evaluate --backfill` does"},
    {"wait", 'W', "SECONDS", "wait for another run of the same database (default 0)"},
    {"quiet", 'q', NULL, "no summary"},
    O_END,
};

static const cli_option o_deliver[] = {
    O_DB,
    {"limit", 'l', "N", "attempt at most N messages"},
    {"dry-run", 'n', NULL, "print what would be sent; send and change nothing"},
    {"now", 't', "T", "the run's clock (YYYY-MM-DD, ISO timestamp or unix seconds)"},
    {"quiet", 'q', NULL, "no per-attempt lines or summary"},
    O_END,
};

static const cli_option o_outbox[] = {
    O_DB,
    {"status", 's', "S", "list: pending, delivered, dead or all (default all)"},
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_FORMAT('f', F_TJJ " (list, show); csv (list)"),
    {"now", 't', "T", "retry: the clock (YYYY-MM-DD, ISO timestamp or unix seconds)"},
    {"delivered-before", 'b', "DATE", "purge: messages delivered before DATE"},
    O_END,
};

static const cli_option o_tasks[] = {
    O_DB,
    {"status", 's', "S", "list: open (default), done, dismissed or all"},
    {"assignee", 'a', "EMAIL", "list: only tasks of this assignee"},
    {"as", 'y', "NAME", "done, dismiss: who did it, kept with the task (default $USER)"},
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_FORMAT('f', F_ALL " (list)"),
    O_END,
};

static const cli_option o_serve[] = {
    O_DB,
    {"listen", 'l', "HOST:PORT",
     "address (default 127.0.0.1:8080; port 0 = any free port;\n"
     "beyond loopback, put TLS in front)"},
    {"threads", 't', "N", "worker threads, each with its own read connection (4)"},
    {"max-body", 'b', "SIZE", "largest request body (default 1M)"},
    {"max-ingest-body", 'i', "SIZE", "largest POST /api/v1/ingest body (default 64M)"},
    {"max-connections-per-ip", 'p', "N",
     "connections one client address holds at once, of 512\n"
     "(serve.max_connections_per_ip, 64; 0 = no limit)"},
    {"header-timeout", 'h', "SECONDS",
     "time for a request's headers in all, not per line\n(serve.header_timeout_s, 10)"},
    {"access-log", 'a', NULL, "one line per request on stderr"},
    O_END,
};

static const cli_option o_token[] = {
    O_DB,
    {"role", 'r', "ROLE", "create: read or write"},
    {"name", 'n', "N", "create: a name to recognise the token by"},
    {"expires", 'e', "DURATION",
     "create: the token stops working after DURATION (30d, 12h,\n"
     "90m; default: never)"},
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_FORMAT('f', F_ALL " (list)"),
    O_END,
};

static const cli_option o_user[] = {
    O_DB,
    {"email", 'e', "EMAIL", "add: the user's e-mail address (also a sign-in name)"},
    {"role", 'r', "ROLE",
     "add, role: viewer (reads), csm (also acks, snoozes,\n"
     "resolves, changes tasks) or admin (also manages users)"},
    {"password-stdin", 'P', NULL,
     "add, passwd: read the password from the first line of\n"
     "standard input (default: asked for on the terminal, no echo)"},
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_FORMAT('f', F_ALL " (list)"),
    O_END,
};

static const cli_option o_train[] = {
    O_DB,
    {"kind", 'k', "K", "logreg, xgboost or both (default)"},
    {"horizon", 'H', "DAYS", "churn within DAYS after a snapshot (default 90)"},
    {"from", 'f', "DATE", "first snapshot used"},
    {"to", 't', "DATE", "last snapshot used"},
    {"seat-loss", 's', "X%", "losing at least X% of the seats counts as churn"},
    {"mrr-loss", 'm', "X%", "losing at least X% of the MRR counts as churn"},
    {"activate", 'a', NULL, "make the better model the one predict uses"},
    {"name", 'n', "N", "a name for the models"},
    {"threads", 'T', "N", "threads for XGBoost"},
    {"dump-matrix", 'D', "PREFIX", "write the training matrix as .npy files"},
    {"data-end", 'E', "DATE",
     "labels are known up to DATE, the day the subscription data\n"
     "is complete to (default: the latest subscription change)"},
    {"no-product-features", 'N', NULL,
     "catalogue metrics only: no custom metrics, no event features"},
    {"max-event-names", 'M', "N", "event names with behaviour features, at most (default 40)"},
    {"min-positives", 'P', "N",
     "churn rows needed in the fit and in the test rows (default 30;\n"
     "under it: exit 8)"},
    {"force", 'O', NULL, "train even under --min-positives"},
    {"rows", 'R', "DESIGN",
     "weekly (one row per snapshot and active account) or renewal\n"
     "(one row per account and renewal; default model.rows)"},
    {"renewal-days", 'B', "N",
     "renewal rows: observed N days before the renewal\n"
     "(default model.renewal_days, 30)"},
    {"recalibrate-days", 'c', "N",
     "refit the calibration's intercept on the latest fully labelled\n"
     "N days of snapshots (default model.recalibrate_days, 28; 0 = off)"},
    O_FORMAT('F', F_TJ),
    O_END,
};

static const cli_option o_predict[] = {
    O_DB,
    {"as-of", 'a', "DATE", "the snapshot to score (default: the latest)"},
    {"model", 'm', "ID", "the model (default: the active one)"},
    {"top", 'n', "N", "riskiest accounts printed (default 20)"},
    {"limit", 'n', "N", "the same as --top"},
    O_OFFSET('O'),
    {"green-below", 'g', "P", "green cut-off, percent (default model.green_below_pct)"},
    O_FORMAT('F', F_ALL),
    O_END,
};

static const cli_option o_doctor[] = {
    O_DB,
    {"stale-days", 's', "N", "events and the last run older than N days fail (default 2)"},
    {"timeout-ms", 't', "MS", "TCP connect timeout per destination (default 3000)"},
    {"no-network", 'n', NULL, "skip the destination checks"},
    O_END,
};

static const cli_option o_backtest[] = {
    O_DB,
    {"horizon", 'H', "DAYS", "churn within DAYS after a snapshot (default 90)"},
    {"from", 'f', "DATE", "first snapshot used"},
    {"to", 't', "DATE", "last snapshot used"},
    {"kind", 'k', "K", "logreg, xgboost or both (default)"},
    {"flag", 'L', "RULE",
     "what is flagged for the lead time and missed: \"top 10%\" (the riskiest\n"
     "share of each day's rows) or \"p >= 0.25\" (default model.flag, top 10%)"},
    {"green-below", 'g', "P", "the same as --flag \"p >= P\""},
    {"recalibrate-days", 'c', "N",
     "refit the calibration's intercept on the latest labelled N days\n"
     "before the test (default model.recalibrate_days, 28; 0 = off)"},
    {"predictions", 'W', "FILE",
     "write every scored test row as CSV (subject, day, account_id,\n"
     "label, risk, p_platt_only, flagged)"},
    {"threads", 'T', "N", "threads for XGBoost"},
    {"suggest-weights", 'S', NULL, "suggest scorecard weights from the held-out snapshots"},
    {"data-end", 'E', "DATE",
     "labels are known up to DATE, the day the subscription data\n"
     "is complete to (default: the latest subscription change)"},
    {"no-product-features", 'N', NULL,
     "catalogue metrics only: no custom metrics, no event features"},
    {"min-positives", 'P', "N",
     "churn rows needed in the fit and in the test rows (default 30;\n"
     "under it: exit 8)"},
    {"force", 'O', NULL, "train even under --min-positives"},
    {"rows", 'R', "DESIGN",
     "weekly (one row per snapshot and active account) or renewal\n"
     "(one row per account and renewal; default model.rows)"},
    {"renewal-days", 'B', "N",
     "renewal rows: observed N days before the renewal\n"
     "(default model.renewal_days, 30)"},
    O_FORMAT('F', F_TJ),
    O_END,
};

static const cli_option o_completion[] = {O_END};

static const cli_option o_db_copy[] = {
    {"from", 'F', "DB", "the database to copy (opened read-only)"},
    {"to", 'T', "DB", "the database to fill: initialised (`churnwatch init`), empty"},
    {"replace", 'R', NULL, "empty a non-empty --to first (in the same transaction)"},
    O_FORMAT('f', F_ALL),
    O_END,
};

static const cli_option o_db_digest[] = {O_DB, O_FORMAT('f', F_ALL), O_END};

#define SUB_END                                                                                    \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, NULL, NULL                                                   \
    }

/* The options of a plain list (cli_list_opts). */
static const cli_option o_list[] = {
    O_LIMIT('l'),
    O_OFFSET('O'),
    O_FORMAT('F', F_ALL),
    O_END,
};

static const cli_command s_sources[] = {
    {"list", NULL, "presets and configured sources, one a line",
     "sources list [--format F] [--limit N] [--offset N]", NULL, o_list, NULL},
    {"show", NULL, "a preset's INI text or a configured source's keys", "sources show NAME", NULL,
     NULL, NULL},
    {"check", NULL, "read files through a mapping and change nothing",
     "sources check --source NAME | --preset NAME [--db F] [--limit N] FILE...", NULL,
     o_sources_check, NULL},
    SUB_END,
};

static const cli_command s_metrics[] = {
    {"list", NULL, "the metric catalogue", "metrics list [--format F] [--limit N] [--offset N]",
     NULL, o_list, NULL},
    SUB_END,
};

static const cli_command s_report[] = {
    {"revenue", NULL, "the MRR bridge per month or quarter",
     "report revenue [--from YYYY-MM] [--to YYYY-MM] [--by month|quarter] [--segment S]", NULL,
     o_report_revenue, NULL},
    {"retention", NULL, "the retention rates alone",
     "report retention [--from YYYY-MM] [--to YYYY-MM] [--by month|quarter] [--segment S]", NULL,
     o_report_revenue, NULL},
    {"cohorts", NULL, "logo and net revenue retention per first paying month",
     "report cohorts [--segment S] [--months N]", NULL, o_report_cohorts, NULL},
    {"ltv", NULL, "lifetime value per segment", "report ltv [--segment S] [--gross-margin X]", NULL,
     o_report_ltv, NULL},
    {"reasons", NULL, "churned accounts' exit reasons mapped to causes",
     "report reasons [--from M] [--to M] [--segment S] [--postmortem] [--map \"kw=cause;...\"]",
     NULL, o_report_reasons, NULL},
    {"funnel", NULL, "See-Think-Do-Care journey by source and month",
     "report funnel [--from M] [--to M]", NULL, o_report_funnel, NULL},
    {"chain", NULL, "users lost per account and the seats or MRR lost after",
     "report chain [--from M] [--to M] [--segment S]", NULL, o_report_chain, NULL},
    {"survival", NULL, "Kaplan-Meier retention curves of customer lifetimes",
     "report survival [--by segment|cohort|none] [--segment S] [--cohort-months N]\n"
     "                  [--unit days|months] [--horizon N] [--confidence X]",
     NULL, o_report_survival, NULL},
    {"plays", NULL, "playbook effectiveness: acted-on vs held-out alerts",
     "report plays [--from DATE] [--to DATE] [--horizon DAYS]", NULL, o_report_plays, NULL},
    {"html", NULL, "the dashboard's views as one self-contained HTML file",
     "report html --out FILE [--accounts N]", NULL, o_report_html, NULL},
    SUB_END,
};

static const cli_command s_quarantine[] = {
    {"list", NULL, "the quarantined rows, newest first", "quarantine list [--limit N]", NULL, NULL,
     NULL},
    SUB_END,
};

static const cli_command s_config[] = {
    {"show", NULL, "every setting as an INI file", "config show", NULL, NULL, NULL},
    SUB_END,
};

static const cli_command s_rules[] = {
    {"list", NULL, "the effective rules", "rules list [--format F] [--limit N] [--offset N]", NULL,
     o_list, NULL},
    {"show", NULL, "one rule", "rules show NAME", NULL, NULL, NULL},
    {"playbooks", NULL, "the playbooks", "rules playbooks", NULL, NULL, NULL},
    SUB_END,
};

static const cli_command s_alerts[] = {
    {"list", NULL, "open alerts",
     "alerts list [--all] [--rule R] [--account ID] [--opened-since DATE]", NULL, NULL, NULL},
    {"show", NULL, "one alert with its history", "alerts show ID", NULL, NULL, NULL},
    {"ack", NULL, "mark an alert seen", "alerts ack ID [--by WHO] [--note TEXT]", NULL, NULL, NULL},
    {"snooze", NULL, "hide an alert until a day",
     "alerts snooze ID --until DATE [--by WHO] [--note TEXT]", NULL, NULL, NULL},
    {"resolve", NULL, "close an alert's episode by hand",
     "alerts resolve ID [--by WHO] [--note TEXT]", NULL, NULL, NULL},
    SUB_END,
};

static const cli_command s_outbox[] = {
    {"list", NULL, "queued messages", "outbox list [--status pending|delivered|dead|all]", NULL,
     NULL, NULL},
    {"show", NULL, "one message", "outbox show ID", NULL, NULL, NULL},
    {"retry", NULL, "make a message due now", "outbox retry ID [--now T]", NULL, NULL, NULL},
    {"purge", NULL, "delete delivered messages", "outbox purge --delivered-before DATE", NULL, NULL,
     NULL},
    SUB_END,
};

static const cli_command s_tasks[] = {
    {"list", NULL, "the task list",
     "tasks [list] [--status open|done|dismissed|all] [--assignee EMAIL]", NULL, NULL, NULL},
    {"done", NULL, "mark a task done", "tasks done ID", NULL, NULL, NULL},
    {"dismiss", NULL, "dismiss a task", "tasks dismiss ID", NULL, NULL, NULL},
    SUB_END,
};

static const cli_command s_token[] = {
    {"create", NULL, "create a token", "token create --role read|write [--name N]", NULL, NULL,
     NULL},
    {"list", NULL, "the tokens", "token list", NULL, NULL, NULL},
    {"revoke", NULL, "revoke a token", "token revoke ID", NULL, NULL, NULL},
    SUB_END,
};

static const cli_command s_user[] = {
    {"add", NULL, "add a named user", "user add NAME --email E --role viewer|csm|admin", NULL, NULL,
     NULL},
    {"list", NULL, "the users", "user list", NULL, NULL, NULL},
    {"passwd", NULL, "set a user's password (ends its sessions)", "user passwd NAME", NULL, NULL,
     NULL},
    {"role", NULL, "change a user's role (ends its sessions)", "user role NAME --role ROLE", NULL,
     NULL, NULL},
    {"disable", NULL, "stop a user signing in (ends its sessions)", "user disable NAME", NULL, NULL,
     NULL},
    {"enable", NULL, "let a disabled user sign in again", "user enable NAME", NULL, NULL, NULL},
    {"remove", NULL, "delete a user and its sessions", "user remove NAME", NULL, NULL, NULL},
    SUB_END,
};

static const cli_command s_db[] = {
    {"copy", NULL, "copy every table of one database into another",
     "db copy --from DB --to DB [--replace] [--format F]", NULL, o_db_copy, NULL},
    {"digest", NULL, "a SHA-256 of every table's rows, the same on any backend",
     "db digest [--db F] [--format F]", NULL, o_db_digest, NULL},
    SUB_END,
};

static const cli_command s_completion[] = {
    {"bash", NULL, "the bash completion script", "completion bash", NULL, NULL, NULL},
    {"zsh", NULL, "the zsh completion script", "completion zsh", NULL, NULL, NULL},
    SUB_END,
};

const cli_command cli_commands[] = {
    {"init", cmd_init, "create a new, empty database", "init [--db F]",
     "Creates the database named by --db (or store.db) with the current schema, mode\n"
     "0600. Every other command refuses a database that does not exist, so a\n"
     "mistyped --db is an error, not a new empty database. An existing database is\n"
     "an error too (exit 4), unless it is already a churnwatch database: then init\n"
     "says so and changes nothing.\n",
     o_init, NULL},
    {"simulate", cmd_simulate, "write a deterministic simulated SaaS world as CSV files",
     "simulate [--accounts N] [--start DATE] [--months M] [--seed S] [--gzip]\n"
     "                  [--product-events] [--churn-shift DATE:F] --out DIR",
     "Writes one CSV per kind of input (see `churnwatch help data-model`), plus\n"
     "truth/ground_truth.csv (each account's hidden churn driver) and manifest.json (the\n"
     "simulator's own counts). The same options and seed always give the same bytes.\n",
     o_simulate, NULL},
    {"ingest", cmd_ingest, "validate and load CSV / JSON Lines exports into the database",
     "ingest [--db F] [--kind K | --source NAME | --preset NAME]\n"
     "                  [--skip-bad --rejects F] [--data-end DATE] [--provision-users] FILE...",
     "Loads exports (CSV with a header row, or JSON Lines; .gz is decompressed; '-'\n"
     "reads standard input) into the database in one transaction. The kind of each\n"
     "file is detected from its header or first object; files are applied in kind\n"
     "order (accounts, subscriptions, users, features, events, ...) so references\n"
     "resolve whatever order they are named in.\n"
     "\n"
     "By default a single bad row changes nothing: the first errors are listed as\n"
     "file:line: field 'x': why, with a count, and the exit status is 1.\n"
     "Re-ingesting the same data changes nothing. Rows referring to an account,\n"
     "user or goal the database does not know are rejected (users: unless\n"
     "--provision-users or ingest.provision_users = yes). Money columns say their\n"
     "unit (mrr_minor, mrr_cents or mrr_major); Unix timestamps are seconds (9-10\n"
     "digits). The [ingest] settings apply here, to `run --drop` and to the API.\n",
     o_ingest, NULL},
    {"sources", cmd_sources, "list, show and try the mappings that read vendor exports",
     "sources list|show|check",
     "A source maps a vendor's export (a CRM's companies CSV, Stripe subscription\n"
     "objects, Segment JSON Lines, ...) onto one of churnwatch's kinds: a\n"
     "[source.NAME] section of the configuration, or a preset built into churnwatch\n"
     "(docs/importers.md).\n"
     "\n"
     "list   presets and configured sources, one a line: name, origin, kinds, files\n"
     "       and description\n"
     "show   a preset's INI text (or a configured source's keys), to copy into the\n"
     "       configuration and edit\n"
     "check  reads FILE through the mapping exactly as ingest would, prints the first\n"
     "       --limit mapped rows (default 5) as the kind's fields and every source\n"
     "       column it leaves unmapped, and changes nothing. Bad rows are listed as\n"
     "       file:line: field 'x' (column 'Y'): why, and the exit status is 1. With\n"
     "       no database (--db, default store.db) references are not checked.\n",
     NULL, s_sources},
    {"metrics", cmd_metrics, "compute and show point-in-time metric snapshots",
     "metrics --as-of DATE [options]\n"
     "       churnwatch metrics --from D1 --to D2 [--every 7d] [options]\n"
     "       churnwatch metrics --no-compute [--from D1 --to D2] [options]\n"
     "       churnwatch metrics list",
     "Computes every metric of the catalogue (docs/metrics.md) for every account\n"
     "active on each date, and its users, from data stamped before the date, and\n"
     "stores the snapshots. Only missing snapshots are computed unless --recompute.\n"
     "A single date is printed; a series is printed with --format.\n",
     o_metrics, s_metrics},
    {"score", cmd_score,
     "health scores: run the scorecard over stored snapshots, show who is at risk",
     "score [--as-of DATE | --from D1 --to D2] [options]\n"
     "       churnwatch score --account ID [--as-of DATE]\n"
     "       churnwatch score --show-scorecard | --default-scorecard",
     "Runs the health scorecard ([scorecard], [group.X] and [measure.X] sections of the\n"
     "configuration, or the built-in default; docs/scoring.md) over every stored metric\n"
     "snapshot not yet scored by this version of it, stores each account's score\n"
     "(0-100), colour, change over change_days and each measure's points, and prints\n"
     "the riskiest accounts of the latest (or --as-of) day with their weakest measures.\n",
     o_score, NULL},
    {"report", cmd_report,
     "revenue analytics: MRR movements, retention, cohorts, LTV, reasons, funnel",
     "report REPORT [--db F] [options] [--format F]",
     "revenue: the MRR bridge per calendar month (UTC) from the subscriptions:\n"
     "MRR at the start, new, expansion, contraction, churn, reactivation and MRR at\n"
     "the end (start + new + expansion - contraction - churn + reactivation = end,\n"
     "exactly), customers at the start, new, churned, reactivated and at the end,\n"
     "and the rates: logo churn, gross revenue churn, GRR, NRR, quick ratio and\n"
     "seat churn (`retention` prints the rates alone). An account's MRR in a month\n"
     "is the MRR in force at the month's end; movements compare it with the previous\n"
     "month's end (docs/revenue.md). All subscriptions must share one currency;\n"
     "several are an error (exit 1).\n"
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
     "next subscription change.\n"
     "survival: Kaplan-Meier retention curves of customer lifetimes (first paid\n"
     "subscription to churn; still paying = censored at the data end) by segment or\n"
     "start cohort (--cohort-months, default 3), Greenwood log-log bands\n"
     "(--confidence, default 0.95), median lifetime with its interval, S at 1, 3, 6,\n"
     "12, 18, 24 months and the log-rank test between groups; csv prints every\n"
     "curve point; --horizon N cuts follow-up at N units (docs/revenue-survival.md).\n"
     "plays: per playbook, churn within --horizon days (default 90) and recovery of\n"
     "acted-on vs held-out alerts, with 95% Newcombe intervals (docs/rules.md).\n"
     "html: the dashboard's views (at risk, the N riskiest accounts in full, default\n"
     "20, retention, score quality, alerts) as one self-contained HTML file.\n"
     "\n"
     "--from and --to take a month (YYYY-MM) where the report is by month, and a\n"
     "full date (YYYY-MM-DD) is accepted there too, meaning its month.\n",
     NULL, s_report},
    {"rules", cmd_rules, "list and show the alert rules and playbooks", "rules list|show|playbooks",
     "The effective rule set: the stock rules compiled into churnwatch (docs/rules.md)\n"
     "with the configuration's [rule.NAME] and [playbook.NAME] sections applied (a\n"
     "section named like a stock rule overrides the keys it sets; enabled = false\n"
     "disables it). Origin: stock, stock* (overridden) or config.\n",
     NULL, s_rules},
    {"check-config", cmd_check_config, "validate the configuration file and every rule",
     "check-config [--config F]",
     "Loads the configuration and validates every setting, custom metric, rule and\n"
     "playbook: keys, values, expressions (errors as file:line:col: [rule.x] when: why)\n"
     "and the names of metrics, playbooks and actions. Exit 0 when all is well, 3 with\n"
     "the first error otherwise.\n",
     NULL, NULL},
    {"evaluate", cmd_evaluate, "run the rules on one snapshot day: open and close alerts",
     "evaluate --as-of DATE [--db F] [--quiet] [--backfill]",
     "Evaluates every enabled rule on the metric snapshot of DATE (and the scores of\n"
     "that day when present): opens one alert per firing (rule, account or user)\n"
     "episode, resolves alerts whose clear condition holds, re-arms after the rule's\n"
     "cooldown, and queues each new alert's playbook actions in the outbox (or holds\n"
     "it out as control). One transaction; evaluating a day twice changes nothing;\n"
     "days before the last evaluated day are refused (docs/alerts.md).\n",
     o_evaluate, NULL},
    {"alerts", cmd_alerts, "list, show, acknowledge, snooze and resolve alerts",
     "alerts list|show|ack|snooze|resolve [ID] [options]",
     "list shows open alerts (--all: closed ones too), hiding snoozed alerts until\n"
     "their date. show prints one alert with the values that raised it and its full\n"
     "history. ack marks it seen; snooze hides it until DATE (it reappears if still\n"
     "firing); resolve closes the episode by hand (the rule re-arms after its\n"
     "cooldown). --by defaults to $USER. Statuses: 1 open, 2 acked, 3 snoozed,\n"
     "4 resolved, 5 closed by hand, 6 gone (docs/alerts.md).\n",
     o_alerts, s_alerts},
    {"run", cmd_run, "the daily job: ingest new files, snapshot, score, evaluate, deliver",
     "run [--db F] [--drop DIR [--skip-bad]] [--as-of DATE] [--quiet]\n"
     "                      [--deliver yes|no|dry-run] [--backfill] [--wait SECONDS]",
     "For cron. Ingests the export files in DIR (*.csv, *.tsv, *.jsonl, *.json, .gz)\n"
     "in one run and moves them to DIR/done, computes the metric snapshot of DATE\n"
     "(default: today, UTC) when it is missing, scores it, evaluates the rules and\n"
     "delivers the queued messages. Running it twice on the same day changes nothing\n"
     "the second time. --backfill evaluates as `evaluate --backfill` does.\n"
     "\n"
     "The drop folder is read with the [ingest] settings, as `ingest` reads files. A\n"
     "bad row fails the run and nothing is ingested or moved, unless --skip-bad (or\n"
     "run.on_bad_row = quarantine): then bad rows go, with their reasons, to the\n"
     "quarantine (`churnwatch quarantine list`) and DIR/quarantine/TIME.jsonl, the\n"
     "good rows land, the files move to done/ and the day goes on. A file that cannot\n"
     "be read at all (no usable header, unknown kind) still fails the run.\n"
     "\n"
     "One run at a time: a run holds an advisory lock on DB.run.lock (beside the\n"
     "database) from before it opens the database to its end; on PostgreSQL an\n"
     "advisory lock in the server instead, for the run's session. Another run of the\n"
     "same database waits up to --wait SECONDS (default 0) for it, then exits 7\n"
     "(\"another run is in progress (pid N since T)\", on PostgreSQL \"(churnwatch run\n"
     "pid N host H since T UTC)\") having done nothing.\n",
     o_run, NULL},
    {"status", cmd_status, "summarise what the database holds", "status [--db F] [--format F]",
     "Prints rows per kind, product events represented, active accounts, seats and\n"
     "MRR, the rows in the quarantine (all, and from the last run), and the schema\n"
     "version. It never writes to the database.\n",
     o_status, NULL},
    {"quarantine", cmd_quarantine, "list the bad rows the daily run kept aside",
     "quarantine list [--db F] [--limit N] [--offset N] [--format F]",
     "Lists the rows `run --skip-bad` (or run.on_bad_row = quarantine) kept out of\n"
     "the store, newest first: the run's time, file, line, field, the reason and the\n"
     "raw record. The same rows are in DIR/quarantine/TIME.jsonl of the drop folder.\n",
     o_quarantine, s_quarantine},
    {"config", cmd_config, "show the effective configuration",
     "config show [--config F] [--set section.name=value]...",
     "Prints every setting as an INI file with its help text: the defaults, the\n"
     "configuration file's values and command-line overrides (the CLI wins).\n"
     "churnwatch.conf.example in the source tree is this output with defaults;\n"
     "churnwatch.conf(5) describes every setting.\n",
     NULL, s_config},
    {"deliver", cmd_deliver, "send the queued actions (tasks, e-mails, webhooks) at least once",
     "deliver [--db F] [--limit N] [--dry-run] [--now T] [--quiet]",
     "Drains the outbox: every pending message that is due is claimed, performed\n"
     "(a CSM task, an e-mail through deliver.smtp_url, a signed webhook / Slack /\n"
     "in-app POST, a JSON line) and its outcome recorded. Failures are retried with\n"
     "exponential backoff (deliver.backoff_base_s doubling up to backoff_max_s,\n"
     "Retry-After honoured); 4xx answers other than 408/429 and SMTP 5xx replies are\n"
     "dead at once; a message is dead after max_attempts. A crash loses nothing: a\n"
     "message whose outcome was not recorded is sent again (at least once; receivers\n"
     "dedupe by Idempotency-Key / Message-ID). One line per attempt on stderr.\n",
     o_deliver, NULL},
    {"outbox", cmd_outbox, "list, show, retry and purge queued messages",
     "outbox list|show|retry|purge [ID] [options]",
     "The outbox holds every action an alert queued (docs/actions.md). retry makes a\n"
     "dead (or pending) message due now with its attempts reset; purge deletes\n"
     "delivered messages delivered before DATE (pending and dead ones are kept).\n",
     o_outbox, s_outbox},
    {"tasks", cmd_tasks, "the CSM task list: list, done, dismiss",
     "tasks [list|done|dismiss] [ID] [options]",
     "Tasks are written by task actions (e.g. the stock csm_task) when `churnwatch\n"
     "deliver` runs, assigned to the account owner, due due_days after the alert\n"
     "opened. list shows open tasks by due day unless --status says otherwise.\n",
     o_tasks, s_tasks},
    {"serve", cmd_serve, "serve the JSON API and the dashboard over HTTP",
     "serve [--db F] [--listen HOST:PORT] [--threads N] [options]",
     "Serves the JSON API under /api/v1 (docs/api.md, docs/openapi.yaml), the\n"
     "dashboard at / (docs/dashboard.md), /metrics (Prometheus text) and /healthz.\n"
     "Every endpoint but /healthz and the dashboard's static files needs an API\n"
     "token (`churnwatch token create`) as 'Authorization: Bearer TOKEN'. Runs beside\n"
     "`churnwatch ingest` / `run` on the same database. Stops on SIGINT or SIGTERM.\n",
     o_serve, NULL},
    {"token", cmd_token, "create, list and revoke API tokens for `serve`",
     "token create|list|revoke [ID] [options]",
     "create prints a new token once (only its SHA-256 is stored); read tokens can\n"
     "use every GET endpoint, write tokens also acknowledge alerts and ingest.\n"
     "--expires makes a token stop working after a while (401 afterwards).\n"
     "list shows id, role, the token's public prefix, dates and name.\n"
     "Tokens are for machines; people sign in to the dashboard as users (`user`).\n",
     o_token, s_token},
    {"user", cmd_user, "add, list and manage the dashboard's named users",
     "user add|list|passwd|role|disable|enable|remove [NAME] [options]",
     "Users sign in to the dashboard (and POST /api/v1/login) with their name or\n"
     "e-mail and a password; what they do to alerts and tasks is recorded under\n"
     "their name. Roles: viewer reads, csm also acknowledges, snoozes and resolves\n"
     "alerts and changes tasks, admin also manages users. Passwords (at least 10\n"
     "characters) are never taken from the command line: add and passwd ask on the\n"
     "terminal without echo, or read one line from standard input with\n"
     "--password-stdin. They are stored as scrypt hashes (docs/api.md). passwd,\n"
     "role, disable and remove end the user's sessions.\n",
     o_user, s_user},
    {"train", cmd_train, "train the churn models on the stored snapshot history",
     "train [--db F] [--kind logreg|xgboost|both] [--horizon DAYS] [options]",
     "Label: the account churns (MRR goes to 0) within --horizon days (default 90) after\n"
     "a snapshot, or loses at least --seat-loss / --mrr-loss percent. Rows: accounts\n"
     "active at each stored snapshot (churnwatch metrics --from --to --every 7d).\n"
     "A label is known when its window ends by the day the subscription data is\n"
     "complete to: --data-end, else the latest subscription change stored; rows past\n"
     "it are left out of fit and test and counted.\n"
     "Features: the catalogue's account metrics, the configured custom metrics (each\n"
     "with its 28-day trend) and, per event name used by at least 2% of accounts (at\n"
     "most --max-event-names, default 40), its 28-day count, count per active user and\n"
     "% change vs the previous 28 days; --no-product-features keeps the catalogue only.\n"
     "Under --min-positives (30) churn rows in the fit or the test rows it stops with\n"
     "exit 8 unless --force. Prints 95% intervals for ROC AUC (DeLong) and lift@10%.\n"
     "Split by time: fit, calibration (Platt), a purge gap of one horizon, test.\n"
     "The calibration's intercept is refitted on the latest labelled window before the\n"
     "test (for the test metrics) and on the latest labelled window (the saved model),\n"
     "so probabilities follow the recent churn rate; prints calibration by decile.\n"
     "Saves each model in table models with its test metrics and prints the metrics\n"
     "each model looks at most; --activate makes the one with the higher held-out ROC\n"
     "AUC the one predict uses. XGBoost's rounds come from early stopping on a purged\n"
     "slice of the fit rows (docs/model.md). --dump-matrix writes PREFIX.x.npy,\n"
     "PREFIX.y.npy, PREFIX.set.npy and PREFIX.features.txt (bench/model_ref.py).\n",
     o_train, NULL},
    {"predict", cmd_predict, "score a snapshot with the active model and explain each score",
     "predict [--db F] [--as-of DATE] [--model ID] [--top N] [--green-below P]",
     "Scores every account active at the snapshot (default: the latest) into table\n"
     "predictions, with the drivers raising and lowering each account's risk in words\n"
     "and numbers, and what single change would bring it under the green cut-off\n"
     "(--green-below, default model.green_below_pct). Prints the --top riskiest (20).\n"
     "Warns when the model has not seen the last half year of history (retrain it).\n",
     o_predict, NULL},
    {"backtest", cmd_backtest, "judge the scorecard and the models on later snapshots",
     "backtest [--db F] [--horizon DAYS] [--from DATE] [--to DATE] [options]",
     "Labels, features and the small-data stop as in train.\n"
     "Trains the models on the earlier snapshots and evaluates them, and every\n"
     "scorecard version in table scores (risk = 100 - score), on the later ones: ROC\n"
     "AUC, PR AUC, precision/recall/lift in the riskiest 10% and 20%, Brier score,\n"
     "calibration by decile (mean predicted vs observed, rows) and early-warning lead\n"
     "time. Flagged (lead time, missed): the riskiest 10% of each test day's rows by\n"
     "default (--flag; renewal rows: of all the test rows). Models are recalibrated on the latest "
     "labelled window before\n"
     "the test. Stored in table backtests as JSON (with the ROC curve).\n",
     o_backtest, NULL},
    {"doctor", cmd_doctor, "check the configuration, database, destinations and data freshness",
     "doctor [--db F] [--stale-days N] [--timeout-ms MS] [--no-network]",
     "Checks what the daily operation needs and prints one line per check, ok,\n"
     "WARN or FAIL: the configuration (settings, rules, scorecard, actions); the\n"
     "database (opened read-only, never migrated: its schema version and SQLite's\n"
     "integrity check, and a warning when other users may read the file); each\n"
     "destination of the actions (the URL's host resolved in DNS and a TCP\n"
     "connection opened to its port; nothing is sent), and the SMTP server when\n"
     "deliver.smtp_url is set or e-mails are waiting in the outbox; the freshness\n"
     "of the events and the last `churnwatch run` (its end and exit code).\n"
     "Secrets in what it prints are masked.\n"
     "\n"
     "Exits 0 when nothing failed (warnings allowed), else with the code of the\n"
     "first failing area: 3 configuration, 5 database, 4 a destination\n"
     "unreachable, 1 stale data or a failed or missing daily run.\n",
     o_doctor, NULL},
    {"db", cmd_db, "copy a database to another backend, or digest its content",
     "db copy|digest [options]",
     "copy reads every table of --from in key order and writes it into --to in one\n"
     "transaction: --to must be initialised (`churnwatch init --db DB`) at the same\n"
     "schema version and empty, unless --replace. Either may be a SQLite file or a\n"
     "PostgreSQL URL. It prints the rows copied per table and the digests of both\n"
     "databases, and exits 5 when they differ. digest prints the SHA-256 of each\n"
     "table's rows in key order (types kept: integer, real, text, blob, NULL) and of\n"
     "the whole database (row \"*\"); the same content gives the same digest on any\n"
     "backend. Run neither while `churnwatch run` or `ingest` writes to --from.\n",
     NULL, s_db},
    {"completion", cmd_completion, "print the bash or zsh completion script", "completion bash|zsh",
     "Prints a completion script generated from this command table. bash: source it,\n"
     "or install it as /usr/share/bash-completion/completions/churnwatch; zsh: install\n"
     "it as _churnwatch in a directory of $fpath.\n",
     o_completion, s_completion},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
