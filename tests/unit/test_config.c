/*
 * test_config.c — the settings table: defaults, loading an INI file,
 * errors that point at file:line, CLI overrides that win over the file,
 * and the written configuration (every key, re-loadable); the strict INI
 * reader's rules (docs/configuration.md, "Syntax"): continuation lines only
 * where they mean something, duplicate keys and sections, long lines, NUL
 * bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/ini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every setting and its default, as documented. */
static const struct {
    const char *key, *def;
} defaults[] = {
    {"store.db", "churnwatch.db"},
    {"store.cache_mib", "256"},
    {"ingest.naive_timestamps", "utc"},
    {"ingest.max_errors", "20"},
    {"ingest.max_line_bytes", "1048576"},
    {"ingest.batch_rows", "1048576"},
    {"ingest.progress", "auto"},
    {"simulate.accounts", "500"},
    {"simulate.months", "12"},
    {"simulate.start", "2025-01-01"},
    {"simulate.seed", "42"},
};
#define N_DEFAULTS (sizeof defaults / sizeof defaults[0])

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/cw-test-config-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name; returns the path in buf. */
static const char *write_file(char *buf, size_t n, const char *name, const char *text)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
    FILE *f = fopen(buf, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_defaults(void **state)
{
    (void)state;
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(NULL, &c, &err), CW_OK);
    assert_non_null(c);
    assert_string_equal(err.msg, "");
    for (size_t i = 0; i < N_DEFAULTS; i++) {
        const char *v = cw_config_get(c, defaults[i].key);
        if (!v || strcmp(v, defaults[i].def) != 0)
            fail_msg("%s = '%s', want '%s'", defaults[i].key, v ? v : "(null)", defaults[i].def);
    }
    assert_int_equal(cw_config_get_int(c, "store.cache_mib"), 256);
    assert_int_equal(cw_config_get_int(c, "ingest.max_line_bytes"), 1048576);
    assert_int_equal(cw_config_get_int(c, "simulate.seed"), 42);
    assert_null(cw_config_get(c, "store.nope"));
    assert_null(cw_config_get(c, "db"));
    assert_null(cw_config_get(c, ""));
    assert_int_equal(cw_config_get_int(c, "no.such"), 0);
    cw_config_free(c);
    cw_config_free(NULL);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[512];
    write_file(path, sizeof path, "ok.ini",
               "; churnwatch configuration\n"
               "[store]\n"
               "db = /var/lib/churnwatch/cw.db\n"
               "cache_mib=64\n"
               "\n"
               "[ingest]\n"
               "  naive_timestamps = REJECT  \n"
               "progress = never\n"
               "# another comment style\n"
               "[simulate]\n"
               "seed = 9223372036854775807\n"
               "start = 2024-02-29\n");
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(path, &c, &err), CW_OK);
    assert_string_equal(err.msg, "");
    assert_string_equal(cw_config_get(c, "store.db"), "/var/lib/churnwatch/cw.db");
    assert_int_equal(cw_config_get_int(c, "store.cache_mib"), 64);
    assert_string_equal(cw_config_get(c, "ingest.naive_timestamps"), "REJECT");
    assert_string_equal(cw_config_get(c, "ingest.progress"), "never");
    assert_int_equal(cw_config_get_int(c, "simulate.seed"), INT64_MAX);
    assert_string_equal(cw_config_get(c, "simulate.start"), "2024-02-29");
    /* Untouched settings keep their defaults. */
    assert_string_equal(cw_config_get(c, "ingest.max_errors"), "20");
    assert_string_equal(cw_config_get(c, "simulate.accounts"), "500");
    cw_config_free(c);

    /* An empty file is all defaults. */
    write_file(path, sizeof path, "empty.ini", "");
    assert_int_equal(cw_config_load(path, &c, &err), CW_OK);
    assert_string_equal(cw_config_get(c, "store.db"), "churnwatch.db");
    cw_config_free(c);
}

typedef struct bad_case {
    const char *name;
    const char *text;
    cw_status status;
    int line;
    const char *why; /* after "path:line: " */
} bad_case;

static const bad_case bad_cases[] = {
    {"unknown key", "[store]\ndb = a.db\nbogus = 1\n", CW_ERR_CONFIG, 3,
     "store.bogus: is not a known setting"},
    {"unknown section", "; x\n[nosuch]\ndb = 1\n", CW_ERR_CONFIG, 3,
     "nosuch.db: is not a known setting"},
    {"key outside a section", "db = a.db\n", CW_ERR_CONFIG, 1, ".db: is not a known setting"},
    {"not an integer", "[store]\ncache_mib = lots\n", CW_ERR_CONFIG, 2,
     "store.cache_mib: is not an integer"},
    {"integer with junk", "[ingest]\nmax_errors = 20x\n", CW_ERR_CONFIG, 2,
     "ingest.max_errors: is not an integer"},
    {"empty integer", "[ingest]\nmax_errors =\n", CW_ERR_CONFIG, 2,
     "ingest.max_errors: is not an integer"},
    {"integer overflow", "[simulate]\nseed = 9223372036854775808\n", CW_ERR_CONFIG, 2,
     "simulate.seed: is not an integer"},
    {"integer below range", "[store]\ncache_mib = 0\n", CW_ERR_CONFIG, 2,
     "store.cache_mib: is out of range"},
    {"integer above range", "\n\n[simulate]\nmonths = 121\n", CW_ERR_CONFIG, 4,
     "simulate.months: is out of range"},
    {"negative", "[simulate]\nseed = -1\n", CW_ERR_CONFIG, 2, "simulate.seed: is out of range"},
    {"invalid enum", "[ingest]\nnaive_timestamps = maybe\n", CW_ERR_CONFIG, 2,
     "ingest.naive_timestamps: is not one of the allowed values"},
    {"enum prefix", "[ingest]\nprogress = alway\n", CW_ERR_CONFIG, 2,
     "ingest.progress: is not one of the allowed values"},
    {"invalid date", "[simulate]\nstart = 2025-02-30\n", CW_ERR_CONFIG, 2,
     "simulate.start: is not a date"},
    {"first error wins", "[store]\ncache_mib = 0\nbogus = 1\n", CW_ERR_CONFIG, 2,
     "store.cache_mib: is out of range"},
    {"unclosed header", "[store\ndb = x\n", CW_ERR_CONFIG, 1,
     "a section header needs a closing ']'"},
    {"no equals sign", "[store]\ndb x.db\n", CW_ERR_CONFIG, 2,
     "expected [section], key = value, a comment or a blank line"},
    {"text after a header", "[store] db = x\n", CW_ERR_CONFIG, 1, "text after a section header"},
    {"no key", "[store]\n = x\n", CW_ERR_CONFIG, 2, "a key is missing before '='"},
    {"duplicate setting", "[store]\ndb = a.db\n\ndb = b.db\n", CW_ERR_CONFIG, 4,
     "[store] db: given again (first at line 2)"},
    {"continued setting", "[store]\ndb = a\n  .db\n", CW_ERR_CONFIG, 3,
     "[store] db: an indented line continues the value above"},
};

static void test_load_errors(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) {
        const bad_case *b = &bad_cases[k];
        char path[512], want[1024];
        write_file(path, sizeof path, "bad.ini", b->text);
        cw_config *c = (cw_config *)&c;
        cw_error err = {CW_OK, ""};
        cw_status s = cw_config_load(path, &c, &err);
        if (s != b->status)
            fail_msg("case '%s': status %d, want %d (%s)", b->name, (int)s, (int)b->status,
                     err.msg);
        assert_null(c);
        assert_true(err.msg[0] != 0);
        snprintf(want, sizeof want, "%s:%d: %s", path, b->line, b->why);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("case '%s': message '%s', want it to start with '%s'", b->name, err.msg, want);
        /* errmsg may be NULL: no message, no leak. */
        assert_int_equal(cw_config_load(path, &c, NULL), b->status);
        assert_null(c);
    }
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist.ini", tmpdir);
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(path, &c, &err), CW_ERR_IO);
    assert_null(c);
    assert_true(err.msg[0] != 0);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "cannot read"));
}

static void test_set_overrides(void **state)
{
    (void)state;
    char path[512];
    write_file(path, sizeof path, "set.ini", "[store]\ncache_mib = 64\n[ingest]\nprogress=never\n");
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(path, &c, &err), CW_OK);
    /* The override wins over the file and over the default. */
    assert_int_equal(cw_config_set(c, "store.cache_mib", "1024", &err), CW_OK);
    assert_int_equal(cw_config_get_int(c, "store.cache_mib"), 1024);
    assert_int_equal(cw_config_set(c, "simulate.accounts", "12", &err), CW_OK);
    assert_int_equal(cw_config_get_int(c, "simulate.accounts"), 12);
    assert_int_equal(cw_config_set(c, "ingest.progress", "Always", &err), CW_OK);
    assert_string_equal(cw_config_get(c, "ingest.progress"), "Always");
    assert_int_equal(cw_config_set(c, "store.db", "", &err), CW_OK);
    assert_string_equal(cw_config_get(c, "store.db"), "");

    typedef struct {
        const char *key, *value, *why;
    } bad_set;
    static const bad_set bad[] = {
        {"store.cache_mib", "0", "store.cache_mib: '0' is out of range"},
        {"store.cache_mib", "12MB", "store.cache_mib: '12MB' is not an integer"},
        {"ingest.naive_timestamps", "local", "ingest.naive_timestamps: 'local' is not one of"},
        {"simulate.start", "tomorrow", "simulate.start: 'tomorrow' is not a date"},
        {"store.nope", "1", "store.nope: '1' is not a known setting"},
        {"cache_mib", "1", "cache_mib: '1' is not a known setting"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(cw_config_set(c, bad[k].key, bad[k].value, &err), CW_ERR_CONFIG);
        assert_true(err.msg[0] != 0);
        if (strncmp(err.msg, bad[k].why, strlen(bad[k].why)) != 0)
            fail_msg("set %s=%s: '%s', want '%s…'", bad[k].key, bad[k].value, err.msg, bad[k].why);
        assert_int_equal(cw_config_set(c, bad[k].key, bad[k].value, NULL), CW_ERR_CONFIG);
    }
    /* A rejected override leaves the previous value. */
    assert_int_equal(cw_config_get_int(c, "store.cache_mib"), 1024);
    assert_string_equal(cw_config_get(c, "ingest.naive_timestamps"), "utc");
    cw_config_free(c);
}

/* Reads f from the start into a malloc'd string. */
static char *slurp(FILE *f)
{
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    return s;
}

/* Structured sections are kept raw, in order, with their lines; section
 * types are matched whole ("rules" is not "rule"). */
static void test_structured_entries(void **state)
{
    (void)state;
    char path[512];
    write_file(path, sizeof path, "structured.ini",
               "[scorecard]\n"
               "cutoffs = 40, 70\n"
               "[store]\n"
               "db = x.db\n"
               "[rule.unused_licences]\n"
               "when = licence_activation < 0.5\n"
               "severity = warning\n");
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(path, &c, &err), CW_OK);
    const cw_config_entry *e;
    assert_int_equal(cw_config_entries(c, &e), 3);
    assert_string_equal(e[0].section, "scorecard");
    assert_string_equal(e[0].value, "40, 70");
    assert_int_equal(e[0].line, 2);
    assert_string_equal(e[2].section, "rule.unused_licences");
    assert_string_equal(e[2].key, "severity");
    assert_int_equal(e[2].line, 7);
    const char *name = NULL;
    assert_true(cw_config_section_is(e[1].section, "rule", &name));
    assert_string_equal(name, "unused_licences");
    assert_true(cw_config_section_is("scorecard", "scorecard", &name));
    assert_string_equal(name, "");
    assert_false(cw_config_section_is("rules.x", "rule", NULL));
    assert_string_equal(cw_config_path(c), path);
    assert_string_equal(cw_config_get(c, "store.db"), "x.db");
    cw_config_free(c);
    write_file(path, sizeof path, "unknown.ini", "[rules.x]\nwhen = 1\n");
    assert_int_equal(cw_config_load(path, &c, &err), CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, ":2: rules.x.when"));
}

static void test_write(void **state)
{
    (void)state;
    char path[512];
    write_file(path, sizeof path, "w.ini", "[simulate]\nmonths = 24\n");
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(path, &c, &err), CW_OK);
    assert_int_equal(cw_config_set(c, "store.db", "/tmp/x.db", &err), CW_OK);

    FILE *f = tmpfile();
    assert_non_null(f);
    cw_config_write(c, f);
    char *out = slurp(f);
    fclose(f);
    /* Every key appears as "name = value" under its "[section]". */
    for (size_t i = 0; i < N_DEFAULTS; i++) {
        const char *key = defaults[i].key, *dot = strchr(key, '.');
        char section[64], line[160];
        snprintf(section, sizeof section, "[%.*s]\n", (int)(dot - key), key);
        snprintf(line, sizeof line, "\n%s = %s\n", dot + 1, cw_config_get(c, key));
        const char *sec = strstr(out, section);
        if (!sec)
            fail_msg("no section %s in:\n%s", section, out);
        const char *at = strstr(sec, line);
        const char *next = strchr(sec + 1, '[');
        while (next && next[-1] != '\n')
            next = strchr(next + 1, '[');
        if (!at || (next && at > next))
            fail_msg("no '%s' in section %s of:\n%s", line + 1, section, out);
    }
    /* Where a value came from is shown when it is not the default. */
    assert_non_null(strstr(out, "; from file, default 12\nmonths = 24\n"));
    assert_non_null(strstr(out, "; from override, default churnwatch.db\ndb = /tmp/x.db\n"));
    /* The written file loads back to the same values. */
    char again[512];
    write_file(again, sizeof again, "again.ini", out);
    cw_config *c2 = NULL;
    assert_int_equal(cw_config_load(again, &c2, &err), CW_OK);
    for (size_t i = 0; i < N_DEFAULTS; i++)
        assert_string_equal(cw_config_get(c2, defaults[i].key), cw_config_get(c, defaults[i].key));
    cw_config_free(c2);
    cw_config_free(c);
    free(out);

    /* With no configuration, the defaults are written (the example config). */
    f = tmpfile();
    assert_non_null(f);
    cw_config_write(NULL, f);
    out = slurp(f);
    fclose(f);
    for (size_t i = 0; i < N_DEFAULTS; i++) {
        char line[160];
        const char *dot = strchr(defaults[i].key, '.');
        snprintf(line, sizeof line, "\n%s = %s\n", dot + 1, defaults[i].def);
        if (!strstr(out, line))
            fail_msg("default output lacks '%s'", line + 1);
    }
    assert_null(strstr(out, "; from "));
    free(out);
}

/* Loads text through a file named name; returns the status, *c on success. */
static cw_status load_text(const char *name, const char *text, cw_config **c, cw_error *err)
{
    char path[512];
    write_file(path, sizeof path, name, text);
    cw_error_clear(err);
    return cw_config_load(path, c, err);
}

/* An indented line used to continue `when` or `description` silently (inih
 * appended it as a repeated key, the last one winning): now an error, except
 * where continuation means something ([source.*], [template.*]). */
static void test_continuation_changes_no_rule(void **state)
{
    (void)state;
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load_text("cont.ini",
                               "[rule.x]\nwhen = licence_activation < 0.5\n"
                               "    or health_score < 99\n",
                               &c, &err),
                     CW_ERR_CONFIG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "cont.ini:3: [rule.x] when: an indented line continues"));
    assert_int_equal(load_text("cont.ini",
                               "[rule.x]\ndescription = one\n\tenabled = false\n"
                               "when = licence_activation < 0.5\n",
                               &c, &err),
                     CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "cont.ini:3: [rule.x] description: an indented line"));
    /* An indented first key of a section is a key; indented comments stay comments. */
    assert_int_equal(load_text("cont.ini",
                               "[rule.x]\n  when = licence_activation < 0.5\n  ; note\n"
                               "# note\nseverity = critical ; inline\n",
                               &c, &err),
                     CW_OK);
    const cw_config_entry *e;
    assert_int_equal(cw_config_entries(c, &e), 2);
    assert_string_equal(e[0].value, "licence_activation < 0.5");
    assert_string_equal(e[1].value, "critical");
    cw_config_free(c);
    /* Where continuation is meaningful: a source value joins with a space,
     * a template body with a new line; the entry keeps the key's line. */
    assert_int_equal(load_text("cont.ini",
                               "[source.s]\nstatus.map = a=active,\n    b=trial\n"
                               "[template.t]\nsubject = Hi\nbody = one\n  two\n\tthree\n",
                               &c, &err),
                     CW_OK);
    assert_int_equal(cw_config_entries(c, &e), 3);
    assert_string_equal(e[0].value, "a=active, b=trial");
    assert_int_equal(e[0].line, 2);
    assert_string_equal(e[2].value, "one\ntwo\nthree");
    assert_int_equal(e[2].line, 6);
    /* config show writes the body back as continuation lines, which read
     * back to the same body. */
    FILE *f = tmpfile();
    assert_non_null(f);
    cw_config_write(c, f);
    char *out = slurp(f);
    fclose(f);
    assert_non_null(strstr(out, "body = one\n    two\n    three\n"));
    cw_config_free(c);
    assert_int_equal(load_text("again.ini", out, &c, &err), CW_OK);
    assert_int_equal(cw_config_entries(c, &e), 3);
    assert_string_equal(e[2].value, "one\ntwo\nthree");
    cw_config_free(c);
    free(out);
}

/* A repeated key used to keep the last value: an error in every section. */
static void test_duplicate_key_is_error(void **state)
{
    (void)state;
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load_text("dup.ini",
                               "[rule.x]\nwhen = licence_activation < 0.5\nseverity = warning\n"
                               "when = health_score < 99\n",
                               &c, &err),
                     CW_ERR_CONFIG);
    assert_null(c);
    assert_string_equal(strstr(err.msg, "dup.ini:"),
                        "dup.ini:4: [rule.x] when: given again (first at line 2); a key is given "
                        "once per section");
    assert_int_equal(load_text("dup.ini", "[template.t]\nbody = a\nbody = b\n", &c, &err),
                     CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "dup.ini:3: [template.t] body: given again"));
    assert_int_equal(load_text("dup.ini", "[metric.m]\ntype = count\ntype = sum\n", &c, &err),
                     CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "dup.ini:3: [metric.m] type: given again"));
    /* The same key in two sections is two keys. */
    assert_int_equal(load_text("dup.ini",
                               "[rule.x]\nwhen = licence_activation < 0.5\n"
                               "[rule.y]\nwhen = licence_activation < 0.5\n",
                               &c, &err),
                     CW_OK);
    cw_config_free(c);
}

/* A second header of a section is an error rather than a merge: merged
 * keys would change a rule far from where the reader looks. */
static void test_duplicate_section_is_error(void **state)
{
    (void)state;
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load_text("dups.ini",
                               "[rule.x]\nwhen = licence_activation < 0.5\n[store]\ndb = a\n"
                               "[ rule.x ]\nenabled = false\n",
                               &c, &err),
                     CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "dups.ini:5: [rule.x]: the section was begun at line 1; write "
                                    "each section once"));
    assert_int_equal(load_text("dups.ini", "[store]\ndb = a\n[store]\ncache_mib = 1\n", &c, &err),
                     CW_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "dups.ini:3: [store]: the section was begun at line 1"));
}

/* inih cut lines at 199 bytes and read the rest as a bogus line: a 4,096
 * byte expression (docs/rules.md) must read whole, as must any line up to
 * CW_INI_MAX_LINE; a longer one is an error naming its line. */
static void test_long_lines_read_whole(void **state)
{
    (void)state;
    size_t cap = CW_INI_MAX_LINE + 256;
    char *text = malloc(cap), *when = malloc(cap);
    assert_non_null(text);
    assert_non_null(when);
    size_t n = (size_t)snprintf(when, cap, "licence_activation < 0.5");
    while (n + 28 <= 4096)
        n += (size_t)snprintf(when + n, cap - n, " or licence_activation < 0.5");
    snprintf(text, cap, "[rule.long]\nwhen = %s\nseverity = critical\n", when);
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load_text("long.ini", text, &c, &err), CW_OK);
    const cw_config_entry *e;
    assert_int_equal(cw_config_entries(c, &e), 2);
    assert_int_equal(strlen(e[0].value), n);
    assert_int_equal(e[1].line, 3);
    cw_rules *r = NULL;
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    const cw_rule *ru = cw_rules_find(r, "long");
    assert_non_null(ru);
    assert_string_equal(ru->when, when);
    cw_rules_free(r);
    cw_config_free(c);
    /* Exactly CW_INI_MAX_LINE bytes (CRLF not counted), then one more. */
    for (int over = 0; over <= 1; over++) {
        size_t len = (size_t)snprintf(text, cap, "[store]\r\ndb = ");
        size_t fill = CW_INI_MAX_LINE - 5 + (size_t)over;
        memset(text + len, 'x', fill);
        memcpy(text + len + fill, "\r\n", 3);
        cw_status s = load_text("long.ini", text, &c, &err);
        if (!over) {
            assert_int_equal(s, CW_OK);
            assert_int_equal(strlen(cw_config_get(c, "store.db")), fill);
            cw_config_free(c);
        } else {
            assert_int_equal(s, CW_ERR_CONFIG);
            assert_non_null(strstr(err.msg, "long.ini:2: line longer than 65536 bytes"));
        }
    }
    free(text);
    free(when);
}

/* A NUL byte used to end the value there (fgets): an error naming the line. */
static void test_nul_byte_is_error(void **state)
{
    (void)state;
    static const char text[] = "[rule.x]\nwhen = licence_activation < 0.5\0 or true\n";
    cw_config *c = (cw_config *)&c;
    char *err = NULL;
    assert_int_equal(cw_config_load_text(text, sizeof text - 1, "nul.ini", &c, &err),
                     CW_ERR_CONFIG);
    assert_null(c);
    assert_string_equal(err, "nul.ini:2: a NUL byte in the line");
    free(err);
    /* The reader also takes a BOM, CRLF and a last line without a line end. */
    static const char ok[] = "\xEF\xBB\xBF[store]\r\ndb = a.db\r\n[ingest]\nmax_errors = 7";
    assert_int_equal(cw_config_load_text(ok, sizeof ok - 1, "ok.ini", &c, &err), CW_OK);
    assert_string_equal(cw_config_get(c, "store.db"), "a.db");
    assert_int_equal(cw_config_get_int(c, "ingest.max_errors"), 7);
    cw_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_set_overrides),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_structured_entries),
        cmocka_unit_test(test_continuation_changes_no_rule),
        cmocka_unit_test(test_duplicate_key_is_error),
        cmocka_unit_test(test_duplicate_section_is_error),
        cmocka_unit_test(test_long_lines_read_whole),
        cmocka_unit_test(test_nul_byte_is_error),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
