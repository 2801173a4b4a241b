/*
 * cli_opts.c — everything the command table (cli_table.c) drives: option
 * parsing with suggestions for typos, `churnwatch help`, the man pages
 * churnwatch(1) and churnwatch.conf(5) (`churnwatch help --man` and
 * `--man-conf`, written into the build tree at build time), the bash and zsh
 * completion scripts (`churnwatch completion bash|zsh`), and `churnwatch
 * init`. Whatever lists commands or options reads the table, so help, man
 * page and completion cannot disagree with what the parser accepts.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/mask.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_OPTS 48

static const char *const global_opts[] = {"config", "set"};

const cli_command *cli_find(const char *cmd, const char *sub)
{
    for (const cli_command *c = cli_commands; c->name; c++) {
        if (strcmp(c->name, cmd) != 0)
            continue;
        if (!sub)
            return c;
        for (const cli_command *s = c->subs; s && s->name; s++)
            if (strcmp(s->name, sub) == 0)
                return s;
        return NULL;
    }
    return NULL;
}

/* Optimal string alignment distance (Levenshtein plus transpositions),
 * capped: words longer than 63 bytes are never near. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *cli_nearest(const char *word, const char *const *names, int n)
{
    size_t lw = strlen(word);
    const char *best = NULL, *prefix = NULL;
    int best_d = 99, nprefix = 0;
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        if (lw && strncmp(names[i], word, lw) == 0 && (!prefix || strcmp(prefix, names[i]))) {
            prefix = names[i];
            nprefix++;
        }
        int d = edit_distance(word, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    /* Near enough: a third of the word may be wrong, at least one and at
     * most three edits ("--asof" -> "--as-of", "scroe" -> "score"). */
    int allowed = (int)lw / 3;
    if (allowed < 1)
        allowed = 1;
    if (allowed > 3)
        allowed = 3;
    if (best && best_d <= allowed && best_d < (int)lw)
        return best;
    return nprefix == 1 ? prefix : NULL;
}

/* The options in force for cmd / sub: the subcommand's own, else the
 * command's (NULL when it has none). */
static const cli_option *opts_of(const char *cmd, const char *sub)
{
    const cli_command *c = cli_find(cmd, NULL);
    if (!c)
        return NULL;
    const cli_command *s = sub ? cli_find(cmd, sub) : NULL;
    return s && s->opts ? s->opts : c->opts;
}

static void suggest_option(const char *where, const char *cmd, const char *arg, const cli_option *o)
{
    const char *names[MAX_OPTS + 2];
    int n = 0;
    for (; o && o->name && n < MAX_OPTS; o++)
        names[n++] = o->name;
    names[n++] = global_opts[0];
    names[n++] = global_opts[1];
    char word[128];
    const char *w = arg;
    while (*w == '-')
        w++;
    size_t l = strcspn(w, "=");
    if (l >= sizeof word)
        l = sizeof word - 1;
    memcpy(word, w, l);
    word[l] = '\0';
    const char *near = cli_nearest(word, names, n);
    if (near)
        cli_error("%s: unknown option '%s' (did you mean --%s?)", where, arg, near);
    else
        cli_error("%s: unknown option '%s' (see `churnwatch help %s`)", where, arg, cmd);
}

int cli_getopt(int argc, char **argv, const char *cmd, const char *sub, const char *shorts)
{
    static struct option lo[MAX_OPTS + 1];
    static const cli_option *built;
    const cli_option *o = opts_of(cmd, sub);
    if (o != built) {
        int n = 0;
        for (const cli_option *p = o; p && p->name && n < MAX_OPTS; p++, n++) {
            lo[n].name = p->name;
            lo[n].has_arg = p->arg ? required_argument : no_argument;
            lo[n].flag = NULL;
            lo[n].val = p->val;
        }
        memset(&lo[n], 0, sizeof lo[n]);
        built = o;
    }
    char optstring[32] = ":";
    if (shorts)
        snprintf(optstring, sizeof optstring, ":%s", shorts);
    opterr = 0;
    int prev = optind;
    int c = getopt_long(argc, argv, optstring, lo, NULL);
    if (c != '?' && c != ':')
        return c;
    char where[64];
    snprintf(where, sizeof where, "%s%s%s", cmd, sub ? " " : "", sub ? sub : "");
    /* The word at fault: getopt_long has moved optind past it. */
    const char *arg = optind - 1 >= 1 && optind - 1 < argc ? argv[optind - 1] : "";
    if (optind == prev && prev < argc)
        arg = argv[prev];
    if (c == ':') {
        cli_error("%s: option '%s' needs a value", where, arg);
    } else if (optopt && strncmp(arg, "--", 2) == 0) {
        cli_error("%s: option '%.*s' takes no value", where, (int)strcspn(arg, "="), arg);
    } else if (optopt) {
        cli_error("%s: unknown option '-%c' (see `churnwatch help %s`)", where, optopt, cmd);
    } else {
        suggest_option(where, cmd, arg, o);
    }
    return '?';
}

int cli_unknown_sub(const char *cmd, const char *word)
{
    const cli_command *c = cli_find(cmd, NULL);
    const char *names[32];
    char list[256] = "";
    int n = 0;
    for (const cli_command *s = c ? c->subs : NULL; s && s->name && n < 32; s++) {
        names[n++] = s->name;
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", s->name);
    }
    const char *near = word ? cli_nearest(word, names, n) : NULL;
    if (!word)
        cli_error("%s: name a subcommand: %s (see `churnwatch help %s`)", cmd, list, cmd);
    else if (near)
        cli_error("%s: '%s' is not a subcommand (did you mean '%s'?)", cmd, word, near);
    else
        cli_error("%s: '%s' is not a subcommand (%s)", cmd, word, list);
    return EXIT_USAGE;
}

int cli_parse_format(const char *s, unsigned allowed, cli_format *out)
{
    static const char *names[] = {"table", "csv", "json", "jsonl"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0 && (allowed & (1u << i))) {
            *out = (cli_format)i;
            if (i != CLI_FMT_TABLE)
                cli_stdout_data(); /* exact bytes unless on a terminal */
            return 0;
        }
    char list[64] = "";
    int left = 0;
    for (int i = 0; i < 4; i++)
        left += (allowed >> i) & 1;
    for (int i = 0; i < 4; i++)
        if (allowed & (1u << i)) {
            size_t l = strlen(list);
            left--;
            snprintf(list + l, sizeof list - l, "%s%s", !l ? "" : left ? ", " : " or ", names[i]);
        }
    cli_error("--format %s: expected %s", s, list);
    return EXIT_USAGE;
}

int cli_parse_count(const char *opt, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000000) {
        cli_error("%s %s: expected a whole number from 0 to 1000000000", opt, s);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------------
 * help
 * ------------------------------------------------------------------- */

static const char *exit_codes_help =
    "churnwatch exit codes (stable):\n"
    "  0  success\n"
    "  1  input data failed validation; nothing was written (unless --skip-bad)\n"
    "  2  bad command line: unknown command or option, bad option value\n"
    "  3  bad configuration file or setting\n"
    "  4  a file could not be read or written\n"
    "  5  database error: the database does not exist (create it with `churnwatch\n"
    "     init`), cannot be opened, or has a schema newer than this build\n"
    "  6  out of memory or an internal error\n"
    "  7  another `churnwatch run` is in progress on the same database (run lock\n"
    "     DB.run.lock, or in the PostgreSQL server); nothing was done\n"
    "  8  train / backtest: too few churns in the fit or test rows for the result to\n"
    "     mean anything (under --min-positives, default 30); nothing was saved.\n"
    "     --force trains anyway\n";

static const char *global_help =
    "usage: churnwatch [--config F] [--set K=V]... [--log-format F] <command> [options]\n"
    "       churnwatch help [command | data-model | exit-codes]\n"
    "       churnwatch --version\n"
    "\n"
    "churnwatch: a customer-health and churn early-warning engine for SaaS.\n"
    "Start with `churnwatch init --db F`; every other command needs the database.\n"
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

/* "the same as --X" for an alias (an option without help text) of the
 * option before it with the same val. */
static const char *alias_of(const cli_option *first, const cli_option *o, char *buf, size_t n)
{
    snprintf(buf, n, "an alias");
    for (const cli_option *p = first; p < o; p++)
        if (p->val == o->val && p->help)
            snprintf(buf, n, "the same as --%s", p->name);
    return buf;
}

/* Prints an option list, help text aligned at column 24. */
static void print_opts(const cli_option *o, FILE *out)
{
    for (const cli_option *first = o; o && o->name; o++) {
        char alias[64];
        const char *help = o->help ? o->help : alias_of(first, o, alias, sizeof alias);
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        if (strlen(head) > 20)
            fprintf(out, "  %s\n%24s", head, "");
        else
            fprintf(out, "  %-21s ", head);
        for (const char *p = help; *p;) {
            size_t l = strcspn(p, "\n");
            fprintf(out, "%.*s\n", (int)l, p);
            p += l;
            if (*p == '\n' && *++p)
                fprintf(out, "%24s", "");
        }
    }
}

/* The synopsis under "usage: churnwatch ", each further form on a line of its
 * own and a form's continuation aligned after its command's name. */
static void print_synopsis(const char *syn, FILE *out)
{
    int indent = 18 + (int)strcspn(syn, " \n") + 1;
    for (int first = 1; *syn; first = 0) {
        syn += strspn(syn, " ");
        size_t l = strcspn(syn, "\n");
        if (first)
            fprintf(out, "usage: churnwatch %.*s\n", (int)l, syn);
        else if (strncmp(syn, "churnwatch ", 11) == 0)
            fprintf(out, "       %.*s\n", (int)l, syn);
        else
            fprintf(out, "%*s%.*s\n", indent, "", (int)l, syn);
        syn += l + (syn[l] == '\n');
    }
}

static void print_command_help(const cli_command *c, FILE *out)
{
    print_synopsis(c->synopsis, out);
    for (const cli_command *s = c->subs; s && s->name; s++)
        fprintf(out, "       churnwatch %s\n", s->synopsis);
    fprintf(out, "\n%s", c->description);
    if (c->opts && c->opts->name) {
        fprintf(out, "\nOptions:\n");
        print_opts(c->opts, out);
    }
    for (const cli_command *s = c->subs; s && s->name; s++)
        if (s->opts && (s == c->subs || s->opts != s[-1].opts)) {
            fprintf(out, "\nOptions of %s %s", c->name, s->name);
            for (const cli_command *t = s + 1; t->name && t->opts == s->opts; t++)
                fprintf(out, ", %s", t->name);
            fprintf(out, ":\n");
            print_opts(s->opts, out);
        }
}

static void print_man(FILE *out);
static void print_man_conf(FILE *out);
static int check_table(FILE *out);

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
    /* Build-time generators (CMakeLists.txt) and the table's self-check. */
    if (strcmp(topic, "--man") == 0) {
        cli_stdout_data();
        print_man(out);
        return 0;
    }
    if (strcmp(topic, "--man-conf") == 0) {
        cli_stdout_data();
        print_man_conf(out);
        return 0;
    }
    if (strcmp(topic, "--check") == 0)
        return check_table(out);
    const cli_command *c = cli_find(topic, NULL);
    if (c) {
        print_command_help(c, out);
        return 0;
    }
    const char *names[64];
    int n = 0;
    for (c = cli_commands; c->name && n < 60; c++)
        names[n++] = c->name;
    names[n++] = "data-model";
    names[n++] = "exit-codes";
    const char *near = cli_nearest(topic, names, n);
    if (near)
        cli_error("no help for '%s' (did you mean '%s'?)", topic, near);
    else
        cli_error("no help for '%s' (try `churnwatch help`)", topic);
    return EXIT_USAGE;
}

/* Every --option a command's synopsis or description names is one it (or
 * one of its subcommands) accepts, or a global one. Returns 0, or
 * EXIT_INTERNAL after listing the strays. */
static int check_table(FILE *out)
{
    int bad = 0;
    for (const cli_command *c = cli_commands; c->name; c++) {
        const char *texts[64];
        int nt = 0;
        texts[nt++] = c->synopsis;
        texts[nt++] = c->description;
        for (const cli_command *s = c->subs; s && s->name && nt < 64; s++)
            texts[nt++] = s->synopsis;
        for (int t = 0; t < nt; t++)
            for (const char *p = texts[t]; p && (p = strstr(p, "--")) != NULL;) {
                p += 2;
                size_t l = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
                if (!l)
                    continue;
                int found =
                    (l == 6 && !strncmp(p, "config", 6)) || (l == 3 && !strncmp(p, "set", 3));
                const cli_option *lists[34];
                int nl = 0;
                lists[nl++] = c->opts;
                for (const cli_command *s = c->subs; s && s->name && nl < 34; s++)
                    lists[nl++] = s->opts;
                for (int i = 0; i < nl && !found; i++)
                    for (const cli_option *o = lists[i]; o && o->name; o++)
                        if (strlen(o->name) == l && !strncmp(o->name, p, l))
                            found = 1;
                /* Another command's option, named in prose with its command
                 * ("churnwatch metrics --every", "`evaluate --backfill`"). */
                for (const cli_command *d = cli_commands; d->name && !found; d++) {
                    char a[64], b[64];
                    snprintf(a, sizeof a, "churnwatch %s ", d->name);
                    snprintf(b, sizeof b, "`%s ", d->name);
                    if (d == c || (!strstr(texts[t], a) && !strstr(texts[t], b)))
                        continue;
                    for (const cli_option *o = d->opts; o && o->name; o++)
                        if (strlen(o->name) == l && !strncmp(o->name, p, l))
                            found = 1;
                }
                if (!found) {
                    fprintf(out, "%s: names --%.*s, which it does not accept\n", c->name, (int)l,
                            p);
                    bad = 1;
                }
                p += l;
            }
    }
    return bad ? EXIT_INTERNAL : 0;
}

/* ---------------------------------------------------------------------
 * man pages
 * ------------------------------------------------------------------- */

/* Writes text as roff body text: backslashes and dashes escaped, a line
 * starting with '.' or '\'' guarded, a blank line a new paragraph. */
static void roff_text(const char *s, FILE *out)
{
    int bol = 1;
    for (; *s; s++) {
        if (bol && *s == '\n') {
            fputs(".PP\n", out);
            continue;
        }
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", out);
        bol = 0;
        switch (*s) {
        case '\\': fputs("\\e", out); break;
        case '-': fputs("\\-", out); break;
        case '\n':
            fputc('\n', out);
            bol = 1;
            break;
        default: fputc(*s, out);
        }
    }
    if (!bol)
        fputc('\n', out);
}

static void roff_opts(const cli_option *o, FILE *out)
{
    for (const cli_option *first = o; o && o->name; o++) {
        char alias[64];
        const char *help = o->help ? o->help : alias_of(first, o, alias, sizeof alias);
        fputs(".TP\n\\fB\\-\\-", out);
        for (const char *p = o->name; *p; p++)
            fputs(*p == '-' ? "\\-" : (char[]){*p, 0}, out);
        fputs("\\fR", out);
        if (o->arg) {
            fputs(" \\fI", out);
            for (const char *p = o->arg; *p; p++)
                fputs(*p == '-' ? "\\-" : *p == '\\' ? "\\e" : (char[]){*p, 0}, out);
            fputs("\\fR", out);
        }
        fputc('\n', out);
        roff_text(help, out);
    }
}

/* A synopsis without the help's alignment: each form on a line of its own,
 * a form's continuation indented. */
static void roff_synopsis(const char *syn, FILE *out)
{
    fputs(".nf\n", out);
    for (int first = 1; *syn; first = 0) {
        syn += strspn(syn, " ");
        size_t l = strcspn(syn, "\n");
        char line[512];
        snprintf(line, sizeof line, "%s%.*s",
                 first                                  ? "churnwatch "
                 : strncmp(syn, "churnwatch ", 11) == 0 ? ""
                                                        : "    ",
                 (int)l, syn);
        roff_text(line, out);
        syn += l + (syn[l] == '\n');
    }
    fputs(".fi\n", out);
}

static void print_man(FILE *out)
{
    fprintf(out,
            ".\\\" churnwatch(1), generated by `churnwatch help --man` from the command\n"
            ".\\\" table (src/cli_table.c); do not edit.\n"
            ".TH CHURNWATCH 1 \"\" \"churnwatch %s\" \"User Commands\"\n"
            ".SH NAME\nchurnwatch \\- customer\\-health and churn early\\-warning engine\n"
            ".SH SYNOPSIS\n.B churnwatch\n"
            "[\\fB\\-\\-config\\fR \\fIF\\fR] [\\fB\\-\\-set\\fR \\fIK=V\\fR]... "
            "\\fIcommand\\fR [\\fIoptions\\fR]\n"
            ".SH DESCRIPTION\n",
            CW_VERSION);
    roff_text("churnwatch ingests a SaaS company's exports (accounts, subscriptions, users,\n"
              "product events, tickets...), computes point-in-time metrics and health scores,\n"
              "trains churn models, raises alerts and runs playbooks. Create the database\n"
              "with `churnwatch init` first; every other command refuses a missing one.\n",
              out);
    fputs(".SH GLOBAL OPTIONS\n", out);
    static const cli_option g[] = {
        {"config", 0, "F",
         "configuration file (default: $CHURNWATCH_CONFIG, else ./churnwatch.conf when "
         "present); see churnwatch.conf(5)"},
        {"set", 0, "K=V", "override one setting, e.g. --set ingest.max_errors=50"},
        {NULL, 0, NULL, NULL},
    };
    roff_opts(g, out);
    fputs(".SH COMMANDS\n", out);
    for (const cli_command *c = cli_commands; c->name; c++) {
        fprintf(out, ".SS %s\n", c->name);
        roff_text(c->summary, out);
        fputs(".PP\n", out);
        roff_synopsis(c->synopsis, out);
        for (const cli_command *s = c->subs; s && s->name; s++)
            roff_synopsis(s->synopsis, out);
        fputs(".PP\n", out);
        roff_text(c->description, out);
        roff_opts(c->opts, out);
        for (const cli_command *s = c->subs; s && s->name; s++)
            if (s->opts && (s == c->subs || s->opts != s[-1].opts)) {
                fprintf(out, ".PP\nOptions of \\fB%s %s\\fR", c->name, s->name);
                for (const cli_command *t = s + 1; t->name && t->opts == s->opts; t++)
                    fprintf(out, ", \\fB%s\\fR", t->name);
                fputs(":\n", out);
                roff_opts(s->opts, out);
            }
    }
    fputs(".SH EXIT STATUS\n.nf\n", out);
    roff_text(strchr(exit_codes_help, '\n') + 1, out);
    fputs(".fi\n.SH ENVIRONMENT\n.TP\n.B CHURNWATCH_CONFIG\n"
          "the configuration file when \\fB\\-\\-config\\fR is not given\n"
          ".SH SEE ALSO\n.BR churnwatch.conf (5)\n",
          out);
}

static void print_man_conf(FILE *out)
{
    fprintf(out,
            ".\\\" churnwatch.conf(5), generated by `churnwatch help --man-conf` from the\n"
            ".\\\" settings table (lib/core/config.c); do not edit.\n"
            ".TH CHURNWATCH.CONF 5 \"\" \"churnwatch %s\" \"File Formats\"\n"
            ".SH NAME\nchurnwatch.conf \\- churnwatch configuration file\n"
            ".SH DESCRIPTION\n",
            CW_VERSION);
    roff_text("An INI file: [section] headers, name = value lines, comments after ; or #.\n"
              "churnwatch reads the file named by --config, else $CHURNWATCH_CONFIG, else\n"
              "./churnwatch.conf when it exists. A command-line --set section.name=value wins\n"
              "over the file. `churnwatch config show` prints the settings in force;\n"
              "`churnwatch check-config` validates a file. Structured sections (scorecard,\n"
              "measures, groups, custom metrics, rules, playbooks, actions, templates,\n"
              "sources) are described in the documentation beside the source.\n",
              out);
    cw_setting_info si;
    char section[64] = "";
    for (int i = 0; cw_config_setting_info(i, &si); i++) {
        const char *dot = strchr(si.key, '.');
        size_t l = dot ? (size_t)(dot - si.key) : 0;
        if (l && (strlen(section) != l || strncmp(section, si.key, l) != 0)) {
            snprintf(section, sizeof section, "%.*s", (int)l, si.key);
            fprintf(out, ".SH [%s]\n", section);
        }
        fputs(".TP\n\\fB", out);
        for (const char *p = dot ? dot + 1 : si.key; *p; p++)
            fputs(*p == '-' ? "\\-" : (char[]){*p, 0}, out);
        fputs("\\fR = ", out);
        for (const char *p = si.def; *p; p++)
            fputs(*p == '-' ? "\\-" : *p == '\\' ? "\\e" : (char[]){*p, 0}, out);
        fputc('\n', out);
        char help[1024];
        if (si.enum_values)
            snprintf(help, sizeof help, "%s (one of %s)", si.help, si.enum_values);
        else if (si.is_int)
            snprintf(help, sizeof help, "%s (%lld to %lld)", si.help, (long long)si.min,
                     (long long)si.max);
        else
            snprintf(help, sizeof help, "%s", si.help);
        roff_text(help, out);
    }
    fputs(".SH SEE ALSO\n.BR churnwatch (1)\n", out);
}

/* ---------------------------------------------------------------------
 * completions
 * ------------------------------------------------------------------- */

/* The names of o not yet in seen (n of them, at most 256), space-separated,
 * each prefixed by pre; adds them to seen. */
static void word_list(const cli_option *o, const char *pre, FILE *out, const char **seen, int *n)
{
    for (; o && o->name; o++) {
        int dup = 0;
        for (int k = 0; k < *n && !dup; k++)
            dup = strcmp(seen[k], o->name) == 0;
        if (dup || *n >= 256)
            continue;
        fprintf(out, "%s%s%s", *n ? " " : "", pre, o->name);
        seen[(*n)++] = o->name;
    }
}

static void bash_arg_options(FILE *out)
{
    /* Every option taking a value, once. */
    const char *seen[256];
    int n = 0;
    fputs("--config|--set", out);
    for (const cli_command *c = cli_commands; c->name; c++) {
        const cli_option *lists[34];
        int nl = 0;
        lists[nl++] = c->opts;
        for (const cli_command *s = c->subs; s && s->name && nl < 34; s++)
            lists[nl++] = s->opts;
        for (int i = 0; i < nl; i++)
            for (const cli_option *o = lists[i]; o && o->name; o++) {
                if (!o->arg)
                    continue;
                int dup = 0;
                for (int k = 0; k < n && !dup; k++)
                    dup = strcmp(seen[k], o->name) == 0;
                if (!dup && n < 256) {
                    seen[n++] = o->name;
                    fprintf(out, "|--%s", o->name);
                }
            }
    }
}

static void print_bash(FILE *out)
{
    fputs("# bash completion for churnwatch; generated by `churnwatch completion bash`\n"
          "# from the command table (src/cli_table.c). Do not edit.\n"
          "_churnwatch()\n{\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    local cmd= sub= w i words\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        w=${COMP_WORDS[i]}\n"
          "        case $w in\n        ",
          out);
    bash_arg_options(out);
    fputs(") ((i++)) ;;\n"
          "        -*) ;;\n"
          "        *) if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi ;;\n"
          "        esac\n"
          "    done\n"
          "    case $prev in\n"
          "    --format) COMPREPLY=($(compgen -W 'table csv json jsonl' -- \"$cur\")); return ;;\n"
          "    --config|--db|--out|--rejects|--drop|--dump-matrix)\n"
          "        COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n    ",
          out);
    bash_arg_options(out);
    fputs(") return ;;\n"
          "    esac\n"
          "    case $cmd in\n"
          "    '') words='help --version --config --set",
          out);
    for (const cli_command *c = cli_commands; c->name; c++)
        fprintf(out, " %s", c->name);
    fputs("' ;;\n    help) words='data-model exit-codes", out);
    for (const cli_command *c = cli_commands; c->name; c++)
        fprintf(out, " %s", c->name);
    fputs("' ;;\n", out);
    for (const cli_command *c = cli_commands; c->name; c++) {
        fprintf(out, "    %s)\n", c->name);
        const char *seen[256];
        int n = 0;
        if (!c->subs) {
            fputs("        words='", out);
            word_list(c->opts, "--", out, seen, &n);
            fputs("' ;;\n", out);
            continue;
        }
        fputs("        case $sub in\n", out);
        for (const cli_command *s = c->subs; s->name; s++) {
            n = 0;
            fprintf(out, "        %s) words='", s->name);
            word_list(s->opts ? s->opts : c->opts, "--", out, seen, &n);
            fputs("' ;;\n", out);
        }
        /* No subcommand yet: the subcommands, and every option of any. */
        n = 0;
        fputs("        *) words='", out);
        for (const cli_command *s = c->subs; s->name; s++)
            fprintf(out, "%s%s", s == c->subs ? "" : " ", s->name);
        fputs(" ", out);
        word_list(c->opts, "--", out, seen, &n);
        for (const cli_command *s = c->subs; s->name; s++)
            word_list(s->opts, "--", out, seen, &n);
        fputs("' ;;\n        esac ;;\n", out);
    }
    fputs("    esac\n"
          "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "    if [[ ${#COMPREPLY[@]} -eq 0 && $cur != -* && -n $cmd ]]; then\n"
          "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "    fi\n"
          "}\n"
          "complete -F _churnwatch churnwatch\n",
          out);
}

/* Writes s for a zsh single-quoted _arguments description: brackets, colons
 * and quotes dropped; the first line only. */
static void zsh_desc(const char *s, FILE *out)
{
    for (; *s && *s != '\n'; s++)
        if (!strchr("[]:'\\`$", *s))
            fputc(*s, out);
}

static void zsh_arguments(const cli_option *o, FILE *out)
{
    fputs("_arguments -s", out);
    for (; o && o->name; o++) {
        fprintf(out, " \\\n            '--%s[", o->name);
        zsh_desc(o->help ? o->help : "alias", out);
        fputc(']', out);
        if (o->arg) {
            if (!strcmp(o->name, "format"))
                fputs(":format:(table csv json jsonl)", out);
            else if (!strcmp(o->name, "db") || !strcmp(o->name, "out") ||
                     !strcmp(o->name, "rejects") || !strcmp(o->name, "drop"))
                fputs(":file:_files", out);
            else {
                fputs(":", out);
                zsh_desc(o->arg, out);
                fputs(":", out);
            }
        }
        fputc('\'', out);
    }
    fputs(" \\\n            '*:file:_files'", out);
}

static void print_zsh(FILE *out)
{
    fputs("#compdef churnwatch\n"
          "# zsh completion for churnwatch; generated by `churnwatch completion zsh`\n"
          "# from the command table (src/cli_table.c). Do not edit.\n"
          "_churnwatch() {\n"
          "    local -a cmds subs\n"
          "    cmds=(\n",
          out);
    for (const cli_command *c = cli_commands; c->name; c++) {
        fprintf(out, "        '%s:", c->name);
        zsh_desc(c->summary, out);
        fputs("'\n", out);
    }
    fputs("        'help:show help for a command or topic'\n"
          "    )\n"
          "    if (( CURRENT == 2 )); then\n"
          "        _describe -t commands 'churnwatch command' cmds\n"
          "        return\n"
          "    fi\n"
          "    case $words[2] in\n",
          out);
    for (const cli_command *c = cli_commands; c->name; c++) {
        fprintf(out, "    %s)\n", c->name);
        if (!c->subs) {
            fputs("        ", out);
            zsh_arguments(c->opts, out);
            fputs(" ;;\n", out);
            continue;
        }
        fputs("        subs=(", out);
        for (const cli_command *s = c->subs; s->name; s++) {
            fprintf(out, " '%s:", s->name);
            zsh_desc(s->summary, out);
            fputc('\'', out);
        }
        fputs(" )\n"
              "        if (( CURRENT == 3 )); then\n"
              "            _describe -t subcommands 'subcommand' subs\n"
              "            return\n"
              "        fi\n"
              "        case $words[3] in\n",
              out);
        for (const cli_command *s = c->subs; s->name; s++) {
            fprintf(out, "        %s) ", s->name);
            zsh_arguments(s->opts ? s->opts : c->opts, out);
            fputs(" ;;\n", out);
        }
        fputs("        esac ;;\n", out);
    }
    fputs("    help) _describe -t commands 'topic' cmds ;;\n"
          "    esac\n"
          "}\n"
          "_churnwatch \"$@\"\n",
          out);
}

int cmd_completion(int argc, char **argv)
{
    if (argc != 2)
        return cli_unknown_sub("completion", argc > 1 ? argv[1] : NULL);
    cli_stdout_data();
    if (strcmp(argv[1], "bash") == 0)
        print_bash(stdout);
    else if (strcmp(argv[1], "zsh") == 0)
        print_zsh(stdout);
    else
        return cli_unknown_sub("completion", argv[1]);
    return 0;
}

/* ---------------------------------------------------------------------
 * init
 * ------------------------------------------------------------------- */

int cmd_init(int argc, char **argv)
{
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    int c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, "init", NULL, NULL)) != -1)
        rc = c == 'd' ? cli_override(cfg, "store.db", optarg) : EXIT_USAGE;
    if (rc == 0 && optind < argc) {
        cli_error("init: unexpected argument '%s'", argv[optind]);
        rc = EXIT_USAGE;
    }
    const char *path = rc == 0 ? cw_config_get(cfg, "store.db") : NULL;
    if (path && strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    struct stat sb;
    /* a server's database is opened (created or migrated) as it is */
    int existed = path && !cw_store_db_is_server(path) && stat(path, &sb) == 0;
    cw_store_opts so = {.readonly = existed,
                        .cache_kib = cw_config_get_int(cfg, "store.cache_mib") * 1024};
    if (rc == 0)
        rc = cli_store_password(cfg, &so);
    /* what is printed of the database: a connection string's password masked */
    char *shown = rc == 0 ? cw_mask_secrets(NULL, path) : NULL;
    if (rc == 0 && !shown)
        rc = EXIT_INTERNAL;
    cw_store *st = NULL;
    if (rc == 0 && existed) {
        /* Already there: open read-only, which checks it is a churnwatch
         * database and not from a newer build, and change nothing. */
        cw_error err = {CW_OK, ""};
        cw_status s = cw_store_open(path, &so, &st, &err);
        int version = s == CW_OK ? cw_store_schema_version(st) : 0;
        if (s != CW_OK || version <= 0) {
            cli_error("init: %s exists and is not a churnwatch database%s%s", shown,
                      err.msg[0] ? ": " : "", err.msg);
            rc = EXIT_IO;
        } else {
            fprintf(stderr, "init: %s is already a churnwatch database (schema %d); unchanged\n",
                    shown, version);
        }
    } else if (rc == 0) {
        cw_error err = {CW_OK, ""};
        cw_status s = cw_store_open(path, &so, &st, &err);
        if (s != CW_OK) {
            cli_error("init: %s", cw_error_why(&err));
            rc = cli_exit_code(s);
        } else {
            fprintf(stderr, "init: created %s (schema %d)\n", shown, cw_store_schema_version(st));
        }
    }
    free(shown);
    cw_store_close(st);
    cw_config_free(cfg);
    return rc;
}

int cli_list_opts(int argc, char **argv, const char *cmd, const char *sub, cli_format *fmt,
                  int64_t *offset, int64_t *limit)
{
    int rc = 0, c;
    optind = 1;
    while (rc == 0 && (c = cli_getopt(argc, argv, cmd, sub, NULL)) != -1) {
        switch (c) {
        case 'F': rc = cli_parse_format(optarg, CLI_FMTS_ALL, fmt); break;
        case 'l': rc = cli_parse_count("--limit", optarg, limit); break;
        case 'O': rc = cli_parse_count("--offset", optarg, offset); break;
        default: rc = EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        cli_error("%s %s: unexpected argument '%s'", cmd, sub, argv[optind]);
        rc = EXIT_USAGE;
    }
    return rc;
}
