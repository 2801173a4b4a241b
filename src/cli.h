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

/* One option of a command (cli_table.c). */
typedef struct cli_option {
    const char *name; /* long name without the dashes */
    int val;          /* what cli_getopt() returns for it */
    const char *arg;  /* its value's placeholder; NULL for a flag */
    const char *help; /* NULL: a hidden alias of an option listed before it */
} cli_option;

/* One command or subcommand of the table in cli_table.c: the single source
 * of option parsing, help, suggestions, the man page and completions. */
typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL for a subcommand */
    const char *summary;
    const char *synopsis;           /* after "usage: churnwatch " */
    const char *description;        /* prose; NULL for a subcommand */
    const cli_option *opts;         /* NULL-terminated; NULL: none (a subcommand: its command's) */
    const struct cli_command *subs; /* NULL-terminated subcommands, or NULL */
} cli_command;

/* getopt_long over the options the table gives command cmd (subcommand sub
 * when it has its own, else cmd's), with the short options in shorts (may
 * be NULL). Returns an option's val, -1 at the end, or '?' after printing
 * an error (unknown option with the nearest one suggested, a missing or
 * unexpected value). Set optind = 1 before the first call. */
int cli_getopt(int argc, char **argv, const char *cmd, const char *sub, const char *shorts);
/* Prints "cmd: 'word' is not a subcommand (…)" with the nearest subcommand
 * of cmd suggested; returns EXIT_USAGE. */
int cli_unknown_sub(const char *cmd, const char *word);
/* The command (sub NULL) or subcommand of the table, or NULL. */
const cli_command *cli_find(const char *cmd, const char *sub);
/* The nearest of n names to word (edit distance, or a unique prefix), or
 * NULL when none is near enough to suggest. */
const char *cli_nearest(const char *word, const char *const *names, int n);
/* Output formats every listing command accepts (--format). */
typedef enum cli_format {
    CLI_FMT_TABLE = 0,
    CLI_FMT_CSV = 1,
    CLI_FMT_JSON = 2, /* one JSON document */
    CLI_FMT_JSONL = 3 /* JSON Lines: one object a line */
} cli_format;
/* Parses --format's value into *out, allowing the formats in the mask
 * (1 << CLI_FMT_*); prints the error and returns EXIT_USAGE otherwise.
 * A non-table format sends exact bytes to stdout (cli_stdout_data). */
int cli_parse_format(const char *s, unsigned allowed, cli_format *out);
#define CLI_FMTS_ALL 15u
/* Parses a --limit / --offset count (0..1e9); prints the error and returns
 * EXIT_USAGE otherwise. */
int cli_parse_count(const char *opt, const char *s, int64_t *out);
/* Parses the options of a plain list (`sources list`, `rules list`,
 * `metrics list`): --format, --limit, --offset, in argv from index 1
 * (argv[0] is the subcommand). Returns an exit code (the error printed). */
int cli_list_opts(int argc, char **argv, const char *cmd, const char *sub, cli_format *fmt,
                  int64_t *offset, int64_t *limit);
int cmd_init(int argc, char **argv);
int cmd_completion(int argc, char **argv);

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
/* Opens the store named by store.db; a database file that does not exist is
 * refused (only `churnwatch init` creates one). Returns an exit code. */
int cli_open_store(cw_config *cfg, int readonly, cw_store **st);
/* Fills so's password from store.password_env (an unset variable is a
 * configuration error, printed) and warns once on stderr when store.db
 * holds a password of its own. Returns an exit code. */
int cli_store_password(const cw_config *cfg, cw_store_opts *so);
/* The warning of cli_store_password about a password inside store.db
 * (once per process). */
void cli_warn_db_password(const cw_config *cfg);
/* Who acts for the history of alerts and tasks: as when given (--as),
 * else the OS user ($USER, else the password database), else "cli". */
const char *cli_acting_user(const char *as);
/* Parses a date option into days since the epoch; returns an exit code. */
int cli_parse_day(const char *opt, const char *s, int64_t *day);
/* Parses a month option, YYYY-MM, or a date (YYYY-MM-DD, an ISO timestamp)
 * meaning its month, into year * 12 + month - 1; returns an exit code. */
int cli_parse_month(const char *opt, const char *s, int *month);
/* Prints an evaluation's summary line on stderr. */
void cli_print_evaluate(const char *day, const cw_evaluate_stats *e);
int cmd_deliver(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_report_html(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_backtest(int argc, char **argv);
/* --kind logreg|xgboost|both into a CW_MODEL_* mask; EXIT_USAGE with a message otherwise. */
int cli_model_kinds(const char *s, int *kinds);
/* The row design of train / backtest: --rows (or model.rows) and
 * --renewal-days (or model.renewal_days); weekly_only names an option given
 * that only weekly rows have (NULL: none). 0, or EXIT_USAGE with a message. */
int cli_model_rows(const cw_config *cfg, const char *rows, const char *days,
                   const char *weekly_only, int *design, int *renewal_days);
/* A bounded number with an optional trailing '%' (model commands); returns
 * 0 or an exit code after printing the error. */
int cli_model_num(const char *opt, const char *s, double lo, double hi, double *out);
/* cmd_train.c, shared with backtest: the calibration table by decile, the
 * recalibration, the mean test probability (docs/model.md, "Calibration"). */
void cli_json_deciles(const cw_eval *e, int probabilities);
void cli_json_recal(const cw_recal_info *ri);
double cli_mean_predicted(const cw_eval *e);
void cli_print_deciles(const char *title, const cw_eval *e, int probabilities);
void cli_print_recal(const char *what, const cw_recal_info *ri);
/* A --flag / [model] flag value; prints the error. */
int cli_flag_rule(const char *opt, const char *s, cw_flag_rule *out);

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
/* `churnwatch db copy|digest` (cmd_db.c). */
int cmd_db(int argc, char **argv);

extern const cli_command cli_commands[];
/* Prints a command's help; returns 0, or EXIT_USAGE when unknown. */
int cli_help(const char *topic, FILE *out);

#endif
