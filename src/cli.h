/*
 * cli.h — what the churnwatch program's subcommands share: the command
 * table, option helpers, configuration loading and the mapping from library
 * statuses to documented exit codes (`churnwatch help exit-codes`).
 */
#ifndef CW_CLI_H
#define CW_CLI_H

#include "churnwatch.h"

#include <stdio.h>

/* Exit codes: documented in `churnwatch help exit-codes` and docs/cli.md;
 * the numbers never change. */
enum {
    EXIT_OK_ = 0,
    EXIT_DATA = 1,      /* input data failed validation; nothing was written */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_CONFIG = 3,    /* bad configuration file or setting */
    EXIT_IO = 4,        /* a file could not be read or written */
    EXIT_DB = 5,        /* database error, or schema newer than this build */
    EXIT_INTERNAL = 6,  /* out of memory or an internal error */
    EXIT_BUSY = 7,      /* another `run` holds the database's run lock */
    EXIT_SMALL_DATA = 8 /* train / backtest: too few churns to judge a model */
};

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full help text */
} cli_command;

/* Maps a library status to an exit code. */
int cli_exit_code(cw_status s);
/* Prints "churnwatch: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Loads the configuration: path given with --config, else $CHURNWATCH_CONFIG,
 * else ./churnwatch.conf when it exists, else defaults. Returns an exit code
 * (0 on success). */
int cli_load_config(const char *path, cw_config **out);
/* Applies "section.name=value" overrides; returns an exit code. */
int cli_override(cw_config *c, const char *key, const char *value);
/* Draws "phase: done/total  rate/s  ETA" on stderr (a cw_*_opts on_progress). */
/* Warns on stderr when the model behind p has not seen the last half year
 * (cw_model_is_stale). */
void cli_model_age_note(const char *cmd, const cw_predictions *p);
void cli_progress_line(const char *phase, int64_t done, int64_t total, double elapsed, void *ud);
/* Whether live progress should be drawn on stderr (ingest.progress setting). */
int cli_progress_enabled(const cw_config *c);

int cmd_simulate(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_sources(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_score(int argc, char **argv);

/* Rules, alerts and the daily run (cmd_rules.c, cmd_alerts.c, cmd_run.c). */
int cmd_rules(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_run(int argc, char **argv);
int report_plays(int argc, char **argv);
/* Loads the rule set of cfg; prints the error and returns an exit code. */
int cli_load_rules(cw_config *cfg, cw_rules **out);
/* Loads the health scorecard (configured or default); returns an exit code. */
int cli_load_scorecard(cw_config *cfg, cw_scorecard **out);
/* Opens the store named by store.db; returns an exit code. */
int cli_open_store(cw_config *cfg, int readonly, cw_store **st);
/* Parses a date option into days since the epoch; returns an exit code. */
int cli_parse_day(const char *opt, const char *s, int64_t *day);
/* Prints an evaluation's summary line on stderr. */
void cli_print_evaluate(const char *day, const cw_evaluate_stats *e);
int cmd_deliver(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_report_html(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_backtest(int argc, char **argv);
/* --kind logreg|xgboost|both into a CW_MODEL_* mask; EXIT_USAGE with a message otherwise. */
int cli_model_kinds(const char *s, int *kinds);
/* A bounded number with an optional trailing '%' (model commands); returns
 * 0 or an exit code after printing the error. */
int cli_model_num(const char *opt, const char *s, double lo, double hi, double *out);

/* Terminal safety (term.c): control bytes in data (ESC sequences, BEL, C1…)
 * never reach a terminal or log raw. cli_term_init() puts escaping streams in
 * front of stderr and stdout; a command printing csv or json calls
 * cli_stdout_data(), which restores the real stdout unless it is a terminal;
 * a progress line draws its own "\r\033[K" on cli_raw_stderr(). */
void cli_term_init(void);
void cli_stdout_data(void);
FILE *cli_raw_stderr(void);

/* Structured logs (log.c, docs/operations.md): with --log-format json every
 * stderr line becomes {"ts","level","msg","fields"}; cli_log_init returns
 * an exit code (EXIT_USAGE for a format other than text or json). cli_log
 * writes msg with fields given as key, value pairs of strings ending in
 * NULL; a key starting with '#' takes a JSON number as its value (the '#'
 * is not part of the name). In text format it prints "msg key=value ...". */
int cli_log_init(const char *format, const char *cmd);
int cli_log_is_json(void);
void cli_log(const char *level, const char *msg, ...) __attribute__((sentinel));

/* `churnwatch doctor` (cmd_doctor.c). */
int cmd_doctor(int argc, char **argv);

extern const cli_command cli_commands[];
/* Prints a command's help; returns 0, or EXIT_USAGE when unknown. */
int cli_help(const char *topic, FILE *out);

#endif
