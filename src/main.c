/*
 * main.c — the churnwatch program: git-style subcommand dispatch, help,
 * version, and the helpers every subcommand shares (configuration loading,
 * exit codes). Each subcommand lives in its own cmd_*.c file and is a thin
 * layer over the library.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/mask.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_command cli_commands[] = {
    {"simulate", cmd_simulate, "write a deterministic simulated SaaS world as CSV files",
     "usage: churnwatch simulate [--accounts N] [--start DATE] [--months M] [--seed S]\n"
     "                           [--gzip] [--product-events] --out DIR\n"
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
     "  --product-events  users also pin or dismiss insights (insight_pin,\n"
     "                 insight_dismiss: no feature, no built-in metric); 20% of\n"
     "                 accounts stop pinning at some point and then churn at renewals\n"
     "  --out DIR      output directory (created when missing)\n"},
    {"ingest", cmd_ingest, "validate and load CSV / JSON Lines exports into the database",
     "usage: churnwatch ingest [--db F] [--kind K | --source NAME | --preset NAME]\n"
     "                         [--skip-bad --rejects F] [--data-end DATE]\n"
     "                         [--provision-users] FILE...\n"
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
     "user or goal the database does not know are rejected (users: unless\n"
     "--provision-users or ingest.provision_users = yes). Money columns say their\n"
     "unit (mrr_minor, mrr_cents or mrr_major); Unix timestamps are seconds (9-10\n"
     "digits). The [ingest] settings apply here, to `run --drop` and to the API.\n"
     "\n"
     "  --db F          database (default: store.db, churnwatch.db)\n"
     "  --kind K        treat every file as kind K (needed for '-')\n"
     "  --source NAME   read every file through the configuration's [source.NAME]\n"
     "                  mapping (docs/importers.md); without it, a file whose name\n"
     "                  matches a source's `files` glob is read through that source\n"
     "  --preset NAME   read every file through a built-in mapping preset\n"
     "                  (`churnwatch sources list`)\n"
     "  --data-end DATE billing periods (subscription_periods): the last day the\n"
     "                  export covers (YYYY-MM-DD or today); a line's last\n"
     "                  period ending by then is a cancellation, one ending later\n"
     "                  is still running (required for such files unless the\n"
     "                  source sets data_end)\n"
     "  --skip-bad      land the good rows; bad rows go to --rejects\n"
     "  --rejects F     JSON Lines file of rejected rows with their reasons\n"
     "  --max-errors N  errors listed in full (default 20)\n"
     "  --progress W    auto|always|never (default auto: only on a terminal)\n"
     "  --provision-users  a user named in events (tickets, surveys, trainings) but\n"
     "                  unknown is created on first sight, provisioned_at = its\n"
     "                  earliest event; a later users export fills in the rest\n"
     "  --quiet         no summary\n"},
    {"sources", cmd_sources, "list, show and try the mappings that read vendor exports",
     "usage: churnwatch sources list\n"
     "       churnwatch sources show NAME\n"
     "       churnwatch sources check --source NAME | --preset NAME [--db F] [--limit N] FILE...\n"
     "\n"
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
     "       no database (--db, default store.db) references are not checked.\n"},
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
    {"score", cmd_score,
     "health scores: run the scorecard over stored snapshots, show who is at risk",
     "usage: churnwatch score [--as-of DATE | --from D1 --to D2] [options]\n"
     "       churnwatch score --account ID [--as-of DATE]\n"
     "       churnwatch score --show-scorecard | --default-scorecard\n"
     "\n"
     "Runs the health scorecard ([scorecard], [group.X] and [measure.X] sections of the\n"
     "configuration, or the built-in default; docs/scoring.md) over every stored metric\n"
     "snapshot not yet scored by this version of it, stores each account's score\n"
     "(0-100), colour, change over change_days and each measure's points, and prints\n"
     "the riskiest accounts of the latest (or --as-of) day with their weakest measures.\n"
     "\n"
     "  --db F               database (default: store.db)\n"
     "  --as-of DATE         score and show this snapshot only\n"
     "  --from D1 --to D2    score the snapshots in this range\n"
     "  --recompute          rescore days already scored by this scorecard\n"
     "  --no-compute         only print what is stored\n"
     "  --account ID         one account's breakdown: value, points and points lost per measure\n"
     "  --colour C           only green, yellow or red accounts\n"
     "  --limit N            rows shown (default 20 in a table, all otherwise)\n"
     "  --drivers N          weakest measures named per account (default 3)\n"
     "  --format F           table (default), csv or json (JSON Lines)\n"
     "  --show-scorecard     print the scorecard in force and exit\n"
     "  --default-scorecard  print the built-in scorecard as INI (to copy and edit) and exit\n"
     "  --quiet              no summary on stderr\n"},
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
     "       churnwatch report survival [--db F] [--by segment|cohort|none] [--segment S]\n"
     "                                  [--cohort-months N] [--unit days|months] [--horizon N]\n"
     "                                  [--confidence X] [--format table|csv|json]\n"
     "       churnwatch report html --out FILE [--db F] [--accounts N]\n"
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
     "next subscription change.\n"
     "survival: Kaplan-Meier retention curves of customer lifetimes (first paid\n"
     "subscription to churn; still paying = censored at the data end) by segment or\n"
     "start cohort (--cohort-months, default 3), Greenwood log-log bands\n"
     "(--confidence, default 0.95), median lifetime with its interval, S at 1, 3, 6,\n"
     "12, 18, 24 months and the log-rank test between groups; csv prints every\n"
     "curve point; --horizon N cuts follow-up at N units (docs/revenue-survival.md).\n"
     "plays: per playbook, churn within --horizon days (default 90) and recovery of\n"
     "acted-on vs held-out alerts, with 95% Newcombe intervals (docs/rules.md);\n"
     "options --from/--to DATE (alert opening days), --format table|csv.\n"
     "html: the dashboard's views (at risk, the N riskiest accounts in full, default\n"
     "20, retention, score quality, alerts) as one self-contained HTML file.\n"},
    {"rules", cmd_rules, "list and show the alert rules and playbooks",
     "usage: churnwatch rules list\n"
     "       churnwatch rules show NAME\n"
     "       churnwatch rules playbooks\n"
     "\n"
     "The effective rule set: the stock rules compiled into churnwatch (docs/rules.md)\n"
     "with the configuration's [rule.NAME] and [playbook.NAME] sections applied (a\n"
     "section named like a stock rule overrides the keys it sets; enabled = false\n"
     "disables it). Origin: stock, stock* (overridden) or config.\n"},
    {"check-config", cmd_check_config, "validate the configuration file and every rule",
     "usage: churnwatch check-config [--config F]\n"
     "\n"
     "Loads the configuration and validates every setting, custom metric, rule and\n"
     "playbook: keys, values, expressions (errors as file:line:col: [rule.x] when: why)\n"
     "and the names of metrics, playbooks and actions. Exit 0 when all is well, 3 with\n"
     "the first error otherwise.\n"},
    {"evaluate", cmd_evaluate, "run the rules on one snapshot day: open and close alerts",
     "usage: churnwatch evaluate --as-of DATE [--db F] [--quiet] [--backfill]\n"
     "\n"
     "Evaluates every enabled rule on the metric snapshot of DATE (and the scores of\n"
     "that day when present): opens one alert per firing (rule, account or user)\n"
     "episode, resolves alerts whose clear condition holds, re-arms after the rule's\n"
     "cooldown, and queues each new alert's playbook actions in the outbox (or holds\n"
     "it out as control). One transaction; evaluating a day twice changes nothing;\n"
     "days before the last evaluated day are refused (docs/alerts.md).\n"
     "  --backfill  open the alerts but run no playbook: no message queued, no\n"
     "              control draw (first evaluations on an existing customer base)\n"},
    {"alerts", cmd_alerts, "list, show, acknowledge, snooze and resolve alerts",
     "usage: churnwatch alerts list [--all] [--rule R] [--account ID] [--opened-since DATE]\n"
     "                            [--format table|json]\n"
     "       churnwatch alerts show ID [--format table|json]\n"
     "       churnwatch alerts ack ID [--by WHO] [--note TEXT]\n"
     "       churnwatch alerts snooze ID --until DATE [--by WHO] [--note TEXT]\n"
     "       churnwatch alerts resolve ID [--by WHO] [--note TEXT]\n"
     "\n"
     "list shows open alerts (--all: closed ones too), hiding snoozed alerts until\n"
     "their date. show prints one alert with the values that raised it and its full\n"
     "history. ack marks it seen; snooze hides it until DATE (it reappears if still\n"
     "firing); resolve closes the episode by hand (the rule re-arms after its\n"
     "cooldown). --by defaults to $USER. Statuses: 1 open, 2 acked, 3 snoozed,\n"
     "4 resolved, 5 closed by hand, 6 gone (docs/alerts.md).\n"
     "  --opened-since DATE  only alerts opened on or after DATE (e.g. the last\n"
     "                       run's day, to see what is new)\n"
     "  --db F   database (default: store.db)\n"},
    {"run", cmd_run, "the daily job: ingest new files, snapshot, score, evaluate, deliver",
     "usage: churnwatch run [--db F] [--drop DIR [--skip-bad]] [--as-of DATE] [--quiet]\n"
     "                      [--deliver yes|no|dry-run] [--backfill] [--wait SECONDS]\n"
     "\n"
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
     "database) from before it opens the database to its end. Another run of the same\n"
     "database waits up to --wait SECONDS (default 0) for it, then exits 7 (\"another\n"
     "run is in progress (pid N since T)\") having done nothing.\n"},
    {"status", cmd_status, "summarise what the database holds",
     "usage: churnwatch status [--db F] [--format table|json]\n"
     "\n"
     "Prints rows per kind, product events represented, active accounts, seats and\n"
     "MRR, the rows in the quarantine (all, and from the last run), and the schema\n"
     "version.\n"},
    {"quarantine", cmd_quarantine, "list the bad rows the daily run kept aside",
     "usage: churnwatch quarantine list [--db F] [--limit N] [--format table|csv|json]\n"
     "\n"
     "Lists the rows `run --skip-bad` (or run.on_bad_row = quarantine) kept out of\n"
     "the store, newest first: the run's time, file, line, field, the reason and the\n"
     "raw record. The same rows are in DIR/quarantine/TIME.jsonl of the drop folder.\n"
     "\n"
     "  --limit N   at most N rows (default 50)\n"
     "  --format F  table (default), csv or json\n"},
    {"config", cmd_config, "show the effective configuration",
     "usage: churnwatch config show [--config F] [--set section.name=value]...\n"
     "\n"
     "Prints every setting as an INI file with its help text: the defaults, the\n"
     "configuration file's values and command-line overrides (the CLI wins).\n"
     "churnwatch.conf.example in the source tree is this output with defaults.\n"},
    {"deliver", cmd_deliver, "send the queued actions (tasks, e-mails, webhooks) at least once",
     "usage: churnwatch deliver [--db F] [--limit N] [--dry-run] [--now T] [--quiet]\n"
     "\n"
     "Drains the outbox: every pending message that is due is claimed, performed\n"
     "(a CSM task, an e-mail through deliver.smtp_url, a signed webhook / Slack /\n"
     "in-app POST, a JSON line) and its outcome recorded. Failures are retried with\n"
     "exponential backoff (deliver.backoff_base_s doubling up to backoff_max_s,\n"
     "Retry-After honoured); 4xx answers other than 408/429 and SMTP 5xx replies are\n"
     "dead at once; a message is dead after max_attempts. A crash loses nothing: a\n"
     "message whose outcome was not recorded is sent again (at least once; receivers\n"
     "dedupe by Idempotency-Key / Message-ID). One line per attempt on stderr.\n"
     "\n"
     "  --db F      database (default: store.db)\n"
     "  --limit N   attempt at most N messages\n"
     "  --dry-run   print what would be sent; send and change nothing\n"
     "  --now T     the run's clock (YYYY-MM-DD, ISO timestamp or unix seconds)\n"
     "  --quiet     no per-attempt lines or summary\n"},
    {"outbox", cmd_outbox, "list, show, retry and purge queued messages",
     "usage: churnwatch outbox list [--db F] [--status pending|delivered|dead|all]\n"
     "                              [--format table|json]\n"
     "       churnwatch outbox show ID [--format table|json]\n"
     "       churnwatch outbox retry ID [--now T]\n"
     "       churnwatch outbox purge --delivered-before DATE\n"
     "\n"
     "The outbox holds every action an alert queued (docs/actions.md). retry makes a\n"
     "dead (or pending) message due now with its attempts reset; purge deletes\n"
     "delivered messages delivered before DATE (pending and dead ones are kept).\n"},
    {"tasks", cmd_tasks, "the CSM task list: list, done, dismiss",
     "usage: churnwatch tasks [list] [--db F] [--status open|done|dismissed|all]\n"
     "                        [--assignee EMAIL] [--format table|json]\n"
     "       churnwatch tasks done ID\n"
     "       churnwatch tasks dismiss ID\n"
     "\n"
     "Tasks are written by task actions (e.g. the stock csm_task) when `churnwatch\n"
     "deliver` runs, assigned to the account owner, due due_days after the alert\n"
     "opened. list shows open tasks by due day unless --status says otherwise.\n"},
    {"serve", cmd_serve, "serve the JSON API and the dashboard over HTTP",
     "usage: churnwatch serve [--db F] [--listen HOST:PORT] [--threads N]\n"
     "                        [--max-body SIZE] [--max-ingest-body SIZE]\n"
     "                        [--max-connections-per-ip N] [--header-timeout SECONDS]\n"
     "                        [--access-log]\n"
     "\n"
     "Serves the JSON API under /api/v1 (docs/api.md, docs/openapi.yaml), the\n"
     "dashboard at / (docs/dashboard.md), /metrics (Prometheus text) and /healthz.\n"
     "Every endpoint but /healthz and the dashboard's static files needs an API\n"
     "token (`churnwatch token create`) as 'Authorization: Bearer TOKEN'. Runs beside\n"
     "`churnwatch ingest` / `run` on the same database. Stops on SIGINT or SIGTERM.\n"
     "\n"
     "  --db F                 database (default: store.db)\n"
     "  --listen HOST:PORT     address (default 127.0.0.1:8080; port 0 = any free port;\n"
     "                         beyond loopback, put TLS in front)\n"
     "  --threads N            worker threads, each with its own read connection (4)\n"
     "  --max-body SIZE        largest request body (default 1M)\n"
     "  --max-ingest-body SIZE largest POST /api/v1/ingest body (default 64M)\n"
     "  --max-connections-per-ip N\n"
     "                         connections one client address holds at once, of 512\n"
     "                         (serve.max_connections_per_ip, 64; 0 = no limit)\n"
     "  --header-timeout SECONDS\n"
     "                         time for a request's headers in all, not per line\n"
     "                         (serve.header_timeout_s, 10)\n"
     "  --access-log           one line per request on stderr\n"},
    {"token", cmd_token, "create, list and revoke API tokens for `serve`",
     "usage: churnwatch token create --role read|write [--name N] [--db F]\n"
     "       churnwatch token list [--db F]\n"
     "       churnwatch token revoke ID [--db F]\n"
     "\n"
     "create prints a new token once (only its SHA-256 is stored); read tokens can\n"
     "use every GET endpoint, write tokens also acknowledge alerts and ingest.\n"
     "list shows id, role, the token's public prefix, dates and name.\n"},
    {"train", cmd_train, "train the churn models on the stored snapshot history",
     "usage: churnwatch train [--db F] [--kind logreg|xgboost|both] [--horizon DAYS]\n"
     "                        [--from DATE] [--to DATE] [--seat-loss X%] [--mrr-loss X%]\n"
     "                        [--activate] [--name N] [--threads N] [--dump-matrix PREFIX]\n"
     "                        [--data-end DATE] [--no-product-features]\n"
     "                        [--max-event-names N] [--min-positives N] [--force]\n"
     "                        [--format table|json]\n"
     "\n"
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
     "Saves each model in table models with its test metrics and prints the metrics\n"
     "each model looks at most; --activate makes the one with the higher held-out ROC\n"
     "AUC the one predict uses. XGBoost's rounds come from early stopping on a purged\n"
     "slice of the fit rows (docs/model.md). --dump-matrix writes PREFIX.x.npy,\n"
     "PREFIX.y.npy, PREFIX.set.npy and PREFIX.features.txt (bench/model_ref.py).\n"},
    {"predict", cmd_predict, "score a snapshot with the active model and explain each score",
     "usage: churnwatch predict [--db F] [--as-of DATE] [--model ID] [--top N]\n"
     "                          [--green-below P] [--format table|csv|json]\n"
     "\n"
     "Scores every account active at the snapshot (default: the latest) into table\n"
     "predictions, with the drivers raising and lowering each account's risk in words\n"
     "and numbers, and what single change would bring it under the green cut-off\n"
     "(--green-below, default model.green_below_pct). Prints the --top riskiest (20).\n"
     "Warns when the model has not seen the last half year of history (retrain it).\n"},
    {"backtest", cmd_backtest, "judge the scorecard and the models on later snapshots",
     "usage: churnwatch backtest [--db F] [--horizon DAYS] [--from DATE] [--to DATE]\n"
     "                           [--kind logreg|xgboost|both] [--green-below P]\n"
     "                           [--threads N] [--data-end DATE] [--no-product-features]\n"
     "                           [--min-positives N] [--force] [--format table|json]\n"
     "\n"
     "Labels, features and the small-data stop as in train.\n"
     "Trains the models on the earlier snapshots and evaluates them, and every\n"
     "scorecard version in table scores (risk = 100 - score, red = colour 2), on the\n"
     "later ones: ROC AUC, PR AUC, precision/recall/lift in the riskiest 10% and 20%,\n"
     "Brier score, calibration by decile and early-warning lead time. Stored in table\n"
     "backtests as JSON (with the ROC curve).\n"},
    {"doctor", cmd_doctor, "check the configuration, database, destinations and data freshness",
     "usage: churnwatch doctor [--db F] [--stale-days N] [--timeout-ms MS] [--no-network]\n"
     "\n"
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
     "unreachable, 1 stale data or a failed or missing daily run.\n"
     "\n"
     "  --db F            database (default: store.db)\n"
     "  --stale-days N    events and the last run older than N days fail (default 2)\n"
     "  --timeout-ms MS   TCP connect timeout per destination (default 3000)\n"
     "  --no-network      skip the destination checks\n"},
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
    "  6  out of memory or an internal error\n"
    "  7  another `churnwatch run` is in progress on the same database (run lock\n"
    "     DB.run.lock); nothing was done\n"
    "  8  train / backtest: too few churns in the fit or test rows for the result to\n"
    "     mean anything (under --min-positives, default 30); nothing was saved.\n"
    "     --force trains anyway\n";

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
    "  --log-format text|json\n"
    "                json: every log and error line on stderr is one JSON object\n"
    "                {\"ts\",\"level\",\"msg\",\"fields\"} (docs/operations.md)\n"
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
            fprintf(out, "  %-12s %s\n", c->name, c->summary);
        fprintf(out, "  %-12s %s\n", "help", "show help for a command or topic");
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
    if (cw_time_parse(s, strlen(s), 1, &t, &why) != CW_OK) {
        cli_error("%s %s: %s", opt, s, why ? why : "is not a date");
        return EXIT_USAGE;
    }
    *day = t / 86400;
    return 0;
}

int cli_open_store(cw_config *cfg, int readonly, cw_store **st)
{
    char *err = NULL;
    cw_store_opts so = {readonly, cw_config_get_int(cfg, "store.cache_mib") * 1024, 0};
    cw_status s = cw_store_open(cw_config_get(cfg, "store.db"), &so, st, &err);
    if (s != CW_OK) {
        cli_error("%s", err ? err : cw_strerror(s));
        free(err);
        return cli_exit_code(s);
    }
    return 0;
}

void cli_model_age_note(const char *cmd, const cw_predictions *p)
{
    if (!cw_model_is_stale(p))
        return;
    char t[16], d[16];
    cw_time_format(p->tested_to * 86400, 1, t, sizeof t);
    cw_time_format(p->day * 86400, 1, d, sizeof d);
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
            cli_error("'%s' is not a command (see `churnwatch help`)", rest[1]);
            rc = EXIT_USAGE;
        }
    }
    free(rest);
    free(g_overrides);
    return rc;
}
