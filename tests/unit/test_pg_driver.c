/*
 * test_pg_driver.c — the PostgreSQL backend of the statement seam
 * (lib/store/pg/): placeholder rewriting and DDL translation without a
 * server; then, against the server named by CW_TEST_PG (a libpq connection
 * string; without it those tests are skipped, exit 77): every bind and
 * column type round-tripped, ?N / :name parameters, persistent statements
 * (one server plan reused over 1000 rows, a new one when the bound types
 * change), a streaming cursor over 5000 rows with statements run inside
 * its loop, error codes and messages, changes, every migration of the
 * store translated and applied in order, and connection errors that never
 * show a password; bulk inserts over COPY (100k awkward rows round-tripped,
 * the flush before any other statement, a duplicate key's error), and the
 * hash partitions of the big tables (rows read back through them, a query
 * by account pruned to one).
 *
 * The driver is compiled into this test with a store of its own (the
 * driver needs only cw_store_conn), so it does not depend on the store's
 * open path. Everything runs in a schema of its own, dropped at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "store/pg/pg_int.h"
#include "core/buf.h"
#include "bulk_rows.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The store, as far as the driver sees it. */
struct cw_store {
    void *conn;
};

void *cw_store_conn(cw_store *st)
{
    return st->conn;
}

static const char *conninfo; /* CW_TEST_PG */
static cw_store store, *st = &store;
static char schema[64];

#define DRV (&cw_pg_driver)

static cw_stmt *prep(const char *sql, unsigned flags)
{
    cw_stmt *q = NULL;
    int rc = DRV->prepare(st, sql, flags, &q);
    if (rc != CW_SQL_OK)
        fail_msg("prepare %s: %s", sql, DRV->errmsg(st));
    return q;
}

static void exec_ok(const char *sql)
{
    if (DRV->exec(st, sql) != CW_SQL_OK)
        fail_msg("exec %s: %s", sql, DRV->errmsg(st));
}

static int64_t scalar(const char *sql)
{
    cw_stmt *q = prep(sql, 0);
    int rc = cw_sql_step(q);
    if (rc != CW_SQL_ROW)
        fail_msg("%s: %d %s", sql, rc, DRV->errmsg(st));
    int64_t v = cw_sql_col_i64(q, 0);
    cw_sql_finalize(q);
    return v;
}

static void step_done(cw_stmt *q)
{
    int rc = cw_sql_step(q);
    if (rc != CW_SQL_DONE)
        fail_msg("step: %d %s", rc, DRV->errmsg(st));
}

/* ==== without a server ================================================= */

static void rewrite(const char *in, const char *want, int nparams)
{
    cw_pg_sql s;
    char *err = NULL;
    int rc = cw_pg_rewrite(in, &s, &err);
    if (rc != CW_SQL_OK)
        fail_msg("rewrite(%s): %s", in, err);
    if (strcmp(s.sql, want) != 0 || s.nparams != nparams)
        fail_msg("rewrite(%s) = \"%s\" (%d), want \"%s\" (%d)", in, s.sql, s.nparams, want,
                 nparams);
    cw_pg_sql_free(&s);
}

static void test_rewrite(void **state)
{
    (void)state;
    rewrite("SELECT 1", "SELECT 1", 0);
    rewrite("SELECT ?, ?, ?", "SELECT $1, $2, $3", 3);
    rewrite("SELECT ?2, ?1, ?2", "SELECT $2, $1, $2", 2);
    rewrite("SELECT ?, ?5, ?", "SELECT $1, $5, $6", 6);
    rewrite("SELECT :a, :b, :a, ?", "SELECT $1, $2, $1, $3", 3);
    rewrite("SELECT ?3, :x", "SELECT $3, $4", 4);
    /* quoted strings, quoted identifiers, comments, casts are not parameters */
    rewrite("SELECT '?', 'it''s ?:x', \"a?b\", \"q\"\"?\" -- ? :c\n, ?",
            "SELECT '?', 'it''s ?:x', \"a?b\", \"q\"\"?\" -- ? :c\n, $1", 1);
    rewrite("/* ? :y */ SELECT x::bigint, ?", "/* ? :y */ SELECT x::bigint, $1", 1);
    rewrite("SELECT E'\\'?', ?", "SELECT E'\\'?', $1", 1);
    rewrite("SELECT 'x?' || ?", "SELECT 'x?' || $1", 1);
    rewrite("WHERE \"user\" = :user_id AND a=?", "WHERE \"user\" = $1 AND a=$2", 2);
    rewrite("SELECT 'unterminated ?", "SELECT 'unterminated ?", 0);

    cw_pg_sql s;
    char *err = NULL;
    assert_int_equal(cw_pg_rewrite("SELECT :a, ?1, :bb, ?4", &s, &err), CW_SQL_OK);
    assert_int_equal(s.nparams, 4);
    assert_string_equal(s.sql, "SELECT $1, $1, $2, $4");
    assert_string_equal(s.names[1], ":a");
    assert_string_equal(s.names[2], ":bb");
    assert_null(s.names[3]);
    assert_int_equal(s.used[1] + s.used[2] + s.used[3] * 10 + s.used[4], 3);
    cw_pg_sql_free(&s);

    assert_int_equal(cw_pg_rewrite("SELECT ?0", &s, &err), CW_SQL_ERROR);
    assert_non_null(strstr(err, "?0"));
    free(err);
    assert_int_equal(cw_pg_rewrite("SELECT ?32767", &s, &err), CW_SQL_ERROR);
    free(err);
    assert_int_equal(cw_pg_rewrite("SELECT ?32766", &s, &err), CW_SQL_OK);
    assert_int_equal(s.nparams, 32766);
    cw_pg_sql_free(&s);
}

static void ddl(const char *in, const char *want)
{
    char *got = cw_pg_ddl(in);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("ddl(%s)\n = %s\nwant %s", in, got, want);
    free(got);
}

static void test_ddl_text(void **state)
{
    (void)state;
    ddl("CREATE TABLE a(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, r REAL, b BLOB NOT NULL,"
        " s TEXT DEFAULT 'user', active INTEGER NOT NULL DEFAULT 0);",
        "CREATE TABLE a(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL,"
        " r DOUBLE PRECISION, b BYTEA NOT NULL, s TEXT COLLATE \"C\" DEFAULT 'user',"
        " active BIGINT NOT NULL DEFAULT 0);");
    /* WITHOUT ROWID: no rowid alias; user is quoted as an identifier only */
    ddl("CREATE TABLE t(user INTEGER NOT NULL, user_id TEXT, k INTEGER PRIMARY KEY,"
        " PRIMARY KEY(user, k)) WITHOUT ROWID;\n"
        "CREATE INDEX t_user ON t(user);",
        "CREATE TABLE t(\"user\" BIGINT NOT NULL, user_id TEXT COLLATE \"C\", k BIGINT PRIMARY KEY,"
        " PRIMARY KEY(\"user\", k));\n"
        "CREATE INDEX t_user ON t(\"user\");");
    ddl("ALTER TABLE outbox ADD COLUMN last_at INTEGER;"
        "ALTER TABLE s ADD origin TEXT NOT NULL DEFAULT 'file';"
        "CREATE TABLE r(dest TEXT PRIMARY KEY, window INTEGER NOT NULL) WITHOUT ROWID;",
        "ALTER TABLE outbox ADD COLUMN last_at BIGINT;"
        "ALTER TABLE s ADD origin TEXT COLLATE \"C\" NOT NULL DEFAULT 'file';"
        "CREATE TABLE r(dest TEXT COLLATE \"C\" PRIMARY KEY, \"window\" BIGINT NOT NULL);");
    ddl("INSERT OR IGNORE INTO k(a) VALUES (1);",
        "INSERT INTO k(a) VALUES (1) ON CONFLICT DO NOTHING;");
    ddl("CREATE TABLE IF NOT EXISTS `q`(id integer primary key autoincrement, [x y] double,"
        " v VARCHAR(20), d DECIMAL(10,2)) STRICT",
        "CREATE TABLE IF NOT EXISTS \"q\"(id BIGINT GENERATED BY DEFAULT AS IDENTITY primary key,"
        " \"x y\" DOUBLE PRECISION, v VARCHAR(20), d DECIMAL(10,2))");
    /* comments and strings are left alone; a DESC key is no rowid alias */
    ddl("-- INTEGER user\nCREATE TABLE c(x INTEGER PRIMARY KEY DESC, y TEXT CHECK (y <> 'BLOB'));",
        "-- INTEGER user\nCREATE TABLE c(x BIGINT PRIMARY KEY DESC, y TEXT COLLATE \"C\" CHECK (y "
        "<> 'BLOB'));");
    ddl("", "");
    /* the big tables: hash partitions by account, account added to a key */
    {
        cw_buf want;
        cw_buf_init(&want, CW_BUF_MAX_DOC);
        cw_buf_adds(&want,
                    "CREATE TABLE user_metrics(day BIGINT NOT NULL, \"user\" BIGINT NOT NULL,"
                    " account BIGINT NOT NULL, PRIMARY KEY(day, \"user\", account))"
                    " PARTITION BY HASH (account)");
        for (int k = 0; k < 8; k++)
            cw_buf_addf(&want,
                        ";\nCREATE TABLE user_metrics_p%d PARTITION OF user_metrics"
                        " FOR VALUES WITH (MODULUS 8, REMAINDER %d)",
                        k, k);
        cw_buf_adds(&want, ";CREATE INDEX s ON scores(account);");
        ddl("CREATE TABLE user_metrics(day INTEGER NOT NULL, user INTEGER NOT NULL,"
            " account INTEGER NOT NULL, PRIMARY KEY(day, user)) WITHOUT ROWID;"
            "CREATE INDEX s ON scores(account);",
            cw_buf_str(&want));
        cw_buf_free(&want);
    }
    char *pg = cw_pg_ddl("CREATE TABLE scores(day INTEGER NOT NULL, account INTEGER NOT NULL,"
                         " PRIMARY KEY(day, account)) WITHOUT ROWID");
    assert_non_null(strstr(pg, "PRIMARY KEY(day, account)) PARTITION BY HASH (account);\n"));
    assert_non_null(strstr(pg, "scores_p7 PARTITION OF scores"));
    assert_null(strstr(pg, "account, account"));
    free(pg);
    pg = cw_pg_ddl("CREATE TABLE scorecards(hash TEXT PRIMARY KEY)");
    assert_null(strstr(pg, "PARTITION"));
    free(pg);
}

/* ---- the store's migrations, read from its source ---- */

typedef struct migration {
    char *desc, *sql;
} migration;
static migration migs[64];
static int nmigs;

/* Reads adjacent C string literals at *p (skipping blanks and comments)
 * into b; returns the position after them. */
static const char *c_strings(const char *p, cw_buf *b)
{
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' ||
               (p[0] == '/' && p[1] == '*') || (p[0] == '/' && p[1] == '/')) {
            if (p[0] == '/' && p[1] == '*')
                p = strstr(p + 2, "*/") + 2;
            else if (p[0] == '/')
                p = strchr(p, '\n');
            else
                p++;
        }
        if (*p != '"')
            return p;
        for (p++; *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                cw_buf_addc(b, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
            } else {
                cw_buf_addc(b, *p);
            }
        }
        p++;
    }
}

/* The migrations[] table of the store's source: lib/store/sqlite/ today,
 * lib/store/sql/ once the store's logic moves there. */
static void load_migrations(void)
{
    if (nmigs)
        return;
    const char *dirs[] = {"lib/store/sql", "lib/store/sqlite", "lib/store"};
    for (size_t d = 0; d < 3 && !nmigs; d++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CW_SOURCE_DIR, dirs[d]);
        DIR *dir = opendir(path);
        if (!dir)
            continue;
        struct dirent *e;
        while (!nmigs && (e = readdir(dir)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
                continue;
            char file[800];
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            cw_buf src;
            cw_buf_init(&src, CW_BUF_MAX_FILE);
            if (cw_buf_add_file(&src, file) != CW_OK) {
                cw_buf_free(&src);
                continue;
            }
            const char *p = strstr(cw_buf_str(&src), "migrations[] = {");
            if (p) {
                p += strlen("migrations[] = {");
                for (;;) {
                    cw_buf x, y;
                    cw_buf_init(&x, CW_BUF_MAX_DOC);
                    cw_buf_init(&y, CW_BUF_MAX_DOC);
                    p = c_strings(p, &x); /* blanks and comments before '{' */
                    if (*p != '{') {
                        cw_buf_free(&x);
                        cw_buf_free(&y);
                        break;
                    }
                    p = c_strings(p + 1, &x);
                    assert_true(*p == ',');
                    p = c_strings(p + 1, &y);
                    assert_true(*p == '}');
                    p = c_strings(p + 1, &x);
                    if (*p == ',')
                        p++;
                    assert_true(nmigs < 64);
                    migs[nmigs].desc = cw_buf_steal(&x, NULL);
                    migs[nmigs].sql = cw_buf_steal(&y, NULL);
                    nmigs++;
                }
            }
            cw_buf_free(&src);
        }
        closedir(dir);
    }
    if (nmigs == 0)
        fail_msg("no migrations[] table found under %s/lib/store", CW_SOURCE_DIR);
}

/* Every migration translates into text without SQLite's types or
 * WITHOUT ROWID, and with every user column quoted. */
static void test_ddl_migrations(void **state)
{
    (void)state;
    load_migrations();
    assert_true(nmigs >= 10);
    print_message("%d migrations\n", nmigs);
    for (int i = 0; i < nmigs; i++) {
        char *pg = cw_pg_ddl(migs[i].sql);
        assert_non_null(pg);
        const char *bad[] = {"WITHOUT ROWID", "INTEGER", " REAL",  " BLOB",
                             " user ",        "(user",   " user,", NULL};
        for (int k = 0; bad[k]; k++)
            if (strstr(pg, bad[k]))
                fail_msg("migration %d (%s): \"%s\" left in:\n%s", i + 1, migs[i].desc, bad[k], pg);
        free(pg);
    }
}

/* ==== against a server ================================================= */

static int server_setup(void **state)
{
    (void)state;
    char *err = NULL;
    if (cw_pg_connect(conninfo, NULL, 0, &store.conn, &err) != CW_OK) {
        print_error("%s\n", err);
        free(err);
        return -1;
    }
    snprintf(schema, sizeof schema, "cw_test_pg_%ld", (long)getpid());
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path TO %s", schema,
             schema, schema);
    if (DRV->exec(st, sql) != CW_SQL_OK) {
        print_error("%s\n", DRV->errmsg(st));
        return -1;
    }
    return 0;
}

static int server_teardown(void **state)
{
    (void)state;
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    DRV->exec(st, sql);
    cw_pg_disconnect(store.conn);
    store.conn = NULL;
    return 0;
}

static void test_session(void **state)
{
    (void)state;
    cw_stmt *q = prep("SELECT current_setting('TimeZone'), current_setting('client_encoding'),"
                      " current_setting('statement_timeout'), current_setting('application_name')",
                      0);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    assert_string_equal((const char *)cw_sql_col_text(q, 0), "UTC");
    assert_string_equal((const char *)cw_sql_col_text(q, 1), "UTF8");
    assert_string_equal((const char *)cw_sql_col_text(q, 2), "0");
    if (!getenv("PGAPPNAME") && !strstr(conninfo, "application_name"))
        assert_string_equal((const char *)cw_sql_col_text(q, 3), "churnwatch");
    assert_int_equal(cw_sql_step(q), CW_SQL_DONE);
    cw_sql_finalize(q);

    /* read-only: every transaction is */
    void *ro;
    char *err = NULL;
    assert_int_equal(cw_pg_connect(conninfo, NULL, 1, &ro, &err), CW_OK);
    cw_store rs = {ro};
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s.ro_probe(x BIGINT)", schema);
    assert_int_equal(DRV->exec(&rs, sql), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(&rs), "read-only"));
    cw_pg_disconnect(ro);
}

static void test_types(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE rt(n BIGINT, i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA)");
    unsigned char bytes[300];
    for (size_t k = 0; k < sizeof bytes; k++)
        bytes[k] = (unsigned char)(k * 7); /* NULs at 0 and 256/7… */
    bytes[10] = 0;
    const double dv[] = {0.1, -1e300, NAN, INFINITY, -INFINITY, 5e-324};
    const int64_t iv[] = {INT64_MIN, INT64_MAX, 0, -1, 42, 1};
    cw_stmt *ins = prep("INSERT INTO rt VALUES (?, ?, ?, ?, ?)", 0);
    for (int r = 0; r < 6; r++) {
        char text[64], mut[300];
        snprintf(text, sizeof text, "zürich ✓ row %d 'quote' \"dq\"", r);
        cw_sql_reset(ins);
        assert_int_equal(cw_sql_bind_i64(ins, 1, r), CW_SQL_OK);
        assert_int_equal(cw_sql_bind_i64(ins, 2, iv[r]), CW_SQL_OK);
        assert_int_equal(cw_sql_bind_double(ins, 3, dv[r]), CW_SQL_OK);
        memcpy(mut, bytes, sizeof bytes);
        if (r % 2) { /* copies: the caller's buffers change before the step */
            assert_int_equal(cw_sql_bind_text_copy(ins, 4, text, -1), CW_SQL_OK);
            assert_int_equal(cw_sql_bind_blob_copy(ins, 5, mut, sizeof mut), CW_SQL_OK);
            memset(text, 'X', 10);
            memset(mut, 0xEE, sizeof mut);
        } else { /* a text with a length and no NUL after it */
            char nonul[80];
            size_t tl = strlen(text);
            memcpy(nonul, text, tl);
            memset(nonul + tl, '#', sizeof nonul - tl);
            assert_int_equal(cw_sql_bind_text(ins, 4, nonul, (int)tl), CW_SQL_OK);
            assert_int_equal(cw_sql_bind_blob(ins, 5, mut, sizeof mut), CW_SQL_OK);
            step_done(ins);
            continue;
        }
        step_done(ins);
        assert_int_equal(DRV->changes(st), 1);
    }
    /* NULLs of every kind, and an empty blob and text */
    cw_sql_reset(ins);
    cw_sql_clear_bindings(ins);
    cw_sql_bind_i64(ins, 1, 6);
    step_done(ins);
    cw_sql_reset(ins);
    cw_sql_bind_i64(ins, 1, 7);
    cw_sql_bind_null(ins, 2);
    cw_sql_bind_text(ins, 4, "", 0);
    cw_sql_bind_blob(ins, 5, "", 0);
    step_done(ins);
    /* a text holding a NUL is refused at bind */
    assert_int_equal(cw_sql_bind_text(ins, 4, "a\0b", 3), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "NUL"));
    assert_int_equal(cw_sql_bind_i64(ins, 6, 1), CW_SQL_ERROR);
    cw_sql_finalize(ins);

    cw_stmt *q = prep("SELECT n, i, d, t, b FROM rt ORDER BY n", 0);
    assert_int_equal(cw_sql_col_count(q), 0);
    for (int r = 0; r < 6; r++) {
        assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
        assert_int_equal(cw_sql_col_count(q), 5);
        assert_string_equal(cw_sql_col_name(q, 3), "t");
        assert_int_equal(cw_sql_col_i64(q, 0), r);
        assert_int_equal(cw_sql_col_type(q, 1), CW_SQL_INTEGER);
        assert_true(cw_sql_col_i64(q, 1) == iv[r]);
        assert_int_equal(cw_sql_col_type(q, 2), CW_SQL_FLOAT);
        double d = cw_sql_col_double(q, 2);
        if (isnan(dv[r]))
            assert_true(isnan(d));
        else
            assert_true(d == dv[r]);
        char text[64];
        snprintf(text, sizeof text, "zürich ✓ row %d 'quote' \"dq\"", r);
        assert_int_equal(cw_sql_col_type(q, 3), CW_SQL_TEXT);
        assert_string_equal((const char *)cw_sql_col_text(q, 3), text);
        assert_int_equal(cw_sql_col_bytes(q, 3), (int)strlen(text));
        assert_int_equal(cw_sql_col_type(q, 4), CW_SQL_BLOB);
        assert_int_equal(cw_sql_col_bytes(q, 4), (int)sizeof bytes);
        const void *b = cw_sql_col_blob(q, 4);
        assert_non_null(b);
        assert_memory_equal(b, bytes, sizeof bytes);
        assert_ptr_equal(cw_sql_col_blob(q, 4), b); /* unescaped once per row */
    }
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW); /* row 6: NULLs */
    for (int c = 1; c < 5; c++) {
        assert_int_equal(cw_sql_col_type(q, c), CW_SQL_NULL);
        assert_null(cw_sql_col_text(q, c));
        assert_null(cw_sql_col_blob(q, c));
        assert_int_equal(cw_sql_col_bytes(q, c), 0);
    }
    assert_int_equal(cw_sql_col_i64(q, 1), 0);
    assert_true(cw_sql_col_double(q, 2) == 0.0);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW); /* row 7: empty text and blob */
    assert_int_equal(cw_sql_col_type(q, 3), CW_SQL_TEXT);
    assert_string_equal((const char *)cw_sql_col_text(q, 3), "");
    assert_int_equal(cw_sql_col_type(q, 4), CW_SQL_BLOB);
    assert_int_equal(cw_sql_col_bytes(q, 4), 0);
    assert_int_equal(cw_sql_step(q), CW_SQL_DONE);
    assert_null(cw_sql_col_text(q, 0)); /* no row */
    /* stepping after DONE runs it again */
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    assert_int_equal(cw_sql_col_i64(q, 0), 0);
    cw_sql_finalize(q);
}

/* Server types the column calls map. */
static void test_server_types(void **state)
{
    (void)state;
    cw_stmt *q = prep("SELECT true, false, 7::int2, 8::int4, 9::oid, 2.5::float4, 3.75::numeric,"
                      " 42::numeric, 'v'::varchar, 'n'::name, '{\"a\":1}'::json, '[1]'::jsonb,"
                      " 'NaN'::float8, '-Infinity'::float8, sum(x), 12345678901234567890::numeric"
                      " FROM (VALUES (1::bigint), (2)) v(x)",
                      0);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    const int types[] = {CW_SQL_INTEGER, CW_SQL_INTEGER, CW_SQL_INTEGER, CW_SQL_INTEGER,
                         CW_SQL_INTEGER, CW_SQL_FLOAT,   CW_SQL_FLOAT,   CW_SQL_FLOAT,
                         CW_SQL_TEXT,    CW_SQL_TEXT,    CW_SQL_TEXT,    CW_SQL_TEXT,
                         CW_SQL_FLOAT,   CW_SQL_FLOAT,   CW_SQL_FLOAT,   CW_SQL_FLOAT};
    for (int c = 0; c < 16; c++)
        if (cw_sql_col_type(q, c) != types[c])
            fail_msg("column %d: type %d, want %d", c, cw_sql_col_type(q, c), types[c]);
    assert_int_equal(cw_sql_col_i64(q, 0), 1);
    assert_int_equal(cw_sql_col_i64(q, 1), 0);
    assert_string_equal((const char *)cw_sql_col_text(q, 0), "1");
    assert_true(cw_sql_col_double(q, 0) == 1.0);
    assert_int_equal(cw_sql_col_i64(q, 2), 7);
    assert_int_equal(cw_sql_col_i64(q, 3), 8);
    assert_int_equal(cw_sql_col_i64(q, 4), 9);
    assert_true(cw_sql_col_double(q, 5) == 2.5);
    assert_true(cw_sql_col_double(q, 6) == 3.75);
    assert_int_equal(cw_sql_col_i64(q, 6), 3); /* truncated, as SQLite casts */
    assert_int_equal(cw_sql_col_i64(q, 7), 42);
    assert_string_equal((const char *)cw_sql_col_text(q, 8), "v");
    assert_true(isnan(cw_sql_col_double(q, 12)));
    assert_int_equal(cw_sql_col_i64(q, 12), 0);
    assert_true(isinf(cw_sql_col_double(q, 13)) && cw_sql_col_double(q, 13) < 0);
    assert_int_equal(cw_sql_col_i64(q, 13), INT64_MIN);
    assert_int_equal(cw_sql_col_i64(q, 14), 3); /* sum(bigint) is numeric */
    assert_true(cw_sql_col_i64(q, 15) == INT64_MAX);
    cw_sql_finalize(q);
}

static void test_params(void **state)
{
    (void)state;
    cw_stmt *q = prep("SELECT ?1 + ?1, ?2::text || ?2, :a - :b, :a", 0);
    assert_int_equal(cw_sql_param_count(q), 4);
    assert_int_equal(cw_sql_param_index(q, ":a"), 3);
    assert_int_equal(cw_sql_param_index(q, ":b"), 4);
    assert_int_equal(cw_sql_param_index(q, ":c"), 0);
    cw_sql_bind_i64(q, 1, 21);
    cw_sql_bind_text(q, 2, "ab", -1);
    cw_sql_bind_i64(q, cw_sql_param_index(q, ":a"), 10);
    cw_sql_bind_i64(q, cw_sql_param_index(q, ":b"), 3);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    assert_int_equal(cw_sql_col_i64(q, 0), 42);
    assert_string_equal((const char *)cw_sql_col_text(q, 1), "abab");
    assert_int_equal(cw_sql_col_i64(q, 2), 7);
    assert_int_equal(cw_sql_col_i64(q, 3), 10);
    cw_sql_finalize(q);
    /* ?2 never used: the driver still sends it with a type */
    q = prep("SELECT CAST(?1 AS BIGINT), CAST(?3 AS BIGINT) IS NULL", 0);
    cw_sql_bind_i64(q, 1, 5);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    assert_int_equal(cw_sql_col_i64(q, 0), 5);
    assert_int_equal(cw_sql_col_i64(q, 1), 1);
    cw_sql_finalize(q);
    /* a double into a comparison, a NULL whose type the server infers */
    exec_ok("CREATE TABLE pp(a BIGINT, d DOUBLE PRECISION)");
    q = prep("INSERT INTO pp(a, d) VALUES (?, ?)", 0);
    cw_sql_bind_null(q, 1);
    cw_sql_bind_double(q, 2, 1.5);
    step_done(q);
    cw_sql_finalize(q);
    assert_int_equal(scalar("SELECT count(*) FROM pp WHERE a IS NULL AND d = 1.5"), 1);
}

static int64_t n_prepared(void)
{
    return scalar("SELECT count(*) FROM pg_prepared_statements");
}

static void test_persistent(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE kv(k BIGINT PRIMARY KEY, v TEXT, w DOUBLE PRECISION)");
    int64_t before = n_prepared();
    cw_stmt *q = prep("INSERT INTO kv(k, v, w) VALUES (?1, ?2, ?3)", CW_SQL_PERSISTENT);
    exec_ok("BEGIN");
    for (int i = 0; i < 1000; i++) {
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        cw_sql_reset(q);
        cw_sql_bind_i64(q, 1, i);
        cw_sql_bind_text(q, 2, v, -1);
        cw_sql_bind_double(q, 3, i / 4.0);
        step_done(q);
        assert_int_equal(DRV->changes(st), 1);
    }
    exec_ok("COMMIT");
    assert_int_equal(n_prepared(), before + 1); /* one plan for 1000 rows */
    /* a NULL where a text was: another type signature, another plan */
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 1000);
    cw_sql_bind_null(q, 2);
    cw_sql_bind_double(q, 3, 0);
    step_done(q);
    assert_int_equal(n_prepared(), before + 2);
    /* back to the first signature: its plan is reused */
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 1001);
    cw_sql_bind_text(q, 2, "x", -1);
    cw_sql_bind_i64(q, 3, 7); /* an integer into the float column: a third */
    step_done(q);
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 1002);
    cw_sql_bind_double(q, 3, 7);
    step_done(q);
    assert_int_equal(n_prepared(), before + 3);
    /* a constraint error on a persistent statement, then it goes on */
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 5);
    assert_int_equal(cw_sql_step(q), CW_SQL_CONSTRAINT);
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 1003);
    step_done(q);
    cw_sql_finalize(q);
    assert_int_equal(n_prepared(), before); /* finalize deallocates */
    assert_int_equal(scalar("SELECT count(*) FROM kv"), 1004);
    assert_int_equal(scalar("SELECT count(*) FROM kv WHERE v IS NULL"), 1);
    assert_int_equal(scalar("SELECT sum(k) FROM kv WHERE v = 'v' || k"), 999 * 1000 / 2);
    /* a persistent SELECT read row by row, over and over */
    q = prep("SELECT v FROM kv WHERE k = ?", CW_SQL_PERSISTENT);
    for (int i = 0; i < 1000; i += 37) {
        cw_sql_reset(q);
        cw_sql_bind_i64(q, 1, i);
        assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
        char v[32];
        snprintf(v, sizeof v, "v%d", i);
        assert_string_equal((const char *)cw_sql_col_text(q, 0), v);
        assert_int_equal(cw_sql_step(q), CW_SQL_DONE);
    }
    cw_sql_finalize(q);
}

static void test_stream(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE big AS SELECT g::bigint AS id, md5(g::text) AS h, decode(md5(g::text), "
            "'hex') AS b FROM generate_series(1, 5000) g");
    exec_ok("CREATE TABLE side(id BIGINT PRIMARY KEY)");
    cw_stmt *q = prep("SELECT id, h, b FROM big WHERE id >= ? ORDER BY id", CW_SQL_STREAM);
    cw_stmt *ins = prep("INSERT INTO side(id) VALUES (?)", CW_SQL_PERSISTENT);
    cw_stmt *look = prep("SELECT h FROM big WHERE id = ?", 0);
    cw_sql_bind_i64(q, 1, 1);
    int64_t n = 0, sum = 0;
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int64_t id = cw_sql_col_i64(q, 0);
        n++;
        sum += id;
        assert_int_equal(cw_sql_col_bytes(q, 2), 16);
        if (id % 100 == 0) { /* statements inside the loop */
            cw_sql_reset(ins);
            cw_sql_bind_i64(ins, 1, id);
            step_done(ins);
            cw_sql_reset(look);
            cw_sql_bind_i64(look, 1, id);
            assert_int_equal(cw_sql_step(look), CW_SQL_ROW);
            assert_string_equal((const char *)cw_sql_col_text(look, 0),
                                (const char *)cw_sql_col_text(q, 1));
        }
        if (id == 2500) { /* a cursor, not the whole result */
            assert_int_equal(scalar("SELECT count(*) FROM pg_cursors WHERE name LIKE 'cw_c%'"), 1);
            assert_true(cw_pg_in_txn(store.conn));
        }
    }
    assert_int_equal(rc, CW_SQL_DONE);
    assert_int_equal(n, 5000);
    assert_true(sum == 5000 * 5001 / 2);
    /* done: the cursor closed and the driver's transaction committed */
    assert_false(cw_pg_in_txn(store.conn));
    assert_int_equal(scalar("SELECT count(*) FROM pg_cursors WHERE name LIKE 'cw_c%'"), 0);
    void *other;
    char *err = NULL;
    assert_int_equal(cw_pg_connect(conninfo, NULL, 0, &other, &err), CW_OK);
    cw_store os = {other};
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.side", schema);
    cw_stmt *c = NULL;
    assert_int_equal(DRV->prepare(&os, sql, 0, &c), CW_SQL_OK);
    assert_int_equal(cw_sql_step(c), CW_SQL_ROW);
    assert_int_equal(cw_sql_col_i64(c, 0), 50);
    cw_sql_finalize(c);
    cw_pg_disconnect(other);

    /* nested streams; finalizing one early closes it and ends the
     * transaction when the last is gone */
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 4990);
    cw_stmt *inner = prep("SELECT id FROM big WHERE id <= ? ORDER BY id", CW_SQL_STREAM);
    n = 0;
    while (cw_sql_step(q) == CW_SQL_ROW) {
        cw_sql_reset(inner);
        cw_sql_bind_i64(inner, 1, 1500);
        int k = 0;
        while (cw_sql_step(inner) == CW_SQL_ROW)
            k++;
        assert_int_equal(k, 1500);
        n++;
        assert_true(cw_pg_in_txn(store.conn));
    }
    assert_int_equal(n, 11);
    assert_false(cw_pg_in_txn(store.conn));
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    cw_sql_finalize(q);
    assert_false(cw_pg_in_txn(store.conn));
    assert_int_equal(scalar("SELECT count(*) FROM pg_cursors WHERE name LIKE 'cw_c%'"), 0);

    /* inside the caller's transaction, which stays open */
    exec_ok("BEGIN");
    n = 0;
    while (cw_sql_step(inner) == CW_SQL_ROW)
        n++;
    assert_int_equal(n, 1500);
    assert_true(cw_pg_in_txn(store.conn));
    exec_ok("ROLLBACK");
    /* an error in the cursor's query: reported, transaction ended */
    cw_stmt *bad = prep("SELECT 1 / (id - 3000) FROM big ORDER BY id", CW_SQL_STREAM);
    n = 0;
    while ((rc = cw_sql_step(bad)) == CW_SQL_ROW)
        n++;
    assert_int_equal(rc, CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "division by zero"));
    assert_false(cw_pg_in_txn(store.conn));
    cw_sql_finalize(bad);
    cw_sql_finalize(inner);
    cw_sql_finalize(ins);
    cw_sql_finalize(look);
}

/* Nested statements inside a loop over a whole (non-stream) result. */
static void test_nested(void **state)
{
    (void)state;
    cw_stmt *outer = prep("SELECT g FROM generate_series(1, 20) g", 0);
    cw_stmt *inner = prep("SELECT ? * 2", 0);
    int64_t sum = 0;
    while (cw_sql_step(outer) == CW_SQL_ROW) {
        cw_sql_reset(inner);
        cw_sql_bind_i64(inner, 1, cw_sql_col_i64(outer, 0));
        assert_int_equal(cw_sql_step(inner), CW_SQL_ROW);
        sum += cw_sql_col_i64(inner, 0);
    }
    assert_int_equal(sum, 420);
    cw_sql_finalize(outer);
    cw_sql_finalize(inner);
}

static void test_errors(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE u(k BIGINT PRIMARY KEY, v TEXT NOT NULL)");
    exec_ok("INSERT INTO u VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    assert_int_equal(DRV->changes(st), 3);
    cw_stmt *q = prep("INSERT INTO u VALUES (?, ?)", 0);
    cw_sql_bind_i64(q, 1, 1);
    cw_sql_bind_text(q, 2, "dup", -1);
    assert_int_equal(cw_sql_step(q), CW_SQL_CONSTRAINT);
    assert_int_equal(DRV->errcode(st), CW_SQL_CONSTRAINT);
    const char *m = DRV->errmsg(st);
    assert_non_null(strstr(m, "duplicate key value violates unique constraint"));
    assert_non_null(strstr(m, "Key (k)=(1) already exists"));
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, 9);
    cw_sql_bind_null(q, 2);
    if (cw_sql_step(q) != CW_SQL_CONSTRAINT) /* NOT NULL is class 23 too */
        fail_msg("NOT NULL: %s", DRV->errmsg(st));
    cw_sql_finalize(q);
    /* an error the server finds at run time: prepare succeeds, step fails */
    q = prep("SELEC 1", 0);
    assert_int_equal(cw_sql_step(q), CW_SQL_ERROR);
    assert_int_equal(DRV->errcode(st), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "syntax error"));
    cw_sql_finalize(q);
    assert_int_equal(DRV->exec(st, "SELECT * FROM no_such_table"), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "no_such_table"));
    cw_stmt *bad = NULL;
    assert_int_equal(DRV->prepare(st, "SELECT ?0", 0, &bad), CW_SQL_ERROR);
    assert_null(bad);
    /* changes: UPDATE, DELETE, INSERT … RETURNING; a SELECT leaves it */
    q = prep("UPDATE u SET v = v || '!' WHERE k >= ?", 0);
    cw_sql_bind_i64(q, 1, 2);
    step_done(q);
    assert_int_equal(DRV->changes(st), 2);
    cw_sql_finalize(q);
    assert_int_equal(scalar("SELECT count(*) FROM u"), 3);
    assert_int_equal(DRV->changes(st), 2);
    q = prep("INSERT INTO u VALUES (10, 'x'), (11, 'y') RETURNING k", 0);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    assert_int_equal(cw_sql_col_i64(q, 0), 10);
    assert_int_equal(DRV->changes(st), 2);
    cw_sql_finalize(q);
    exec_ok("DELETE FROM u WHERE k > 1");
    assert_int_equal(DRV->changes(st), 4);
    /* multi-statement exec, and a transaction the server aborted */
    exec_ok("BEGIN; INSERT INTO u VALUES (20, 'z'); COMMIT");
    exec_ok("BEGIN");
    assert_int_equal(DRV->exec(st, "INSERT INTO u VALUES (1, 'dup')"), CW_SQL_CONSTRAINT);
    assert_true(cw_pg_in_txn(store.conn));
    assert_int_equal(DRV->exec(st, "SELECT 1"), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "aborted"));
    exec_ok("ROLLBACK");
    assert_false(cw_pg_in_txn(store.conn));
}

/* A lock timeout is BUSY (retry later). */
static void test_busy(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE lk(x BIGINT)");
    void *other;
    char *err = NULL;
    assert_int_equal(cw_pg_connect(conninfo, NULL, 0, &other, &err), CW_OK);
    cw_store os = {other};
    char sql[256];
    snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s.lk IN ACCESS EXCLUSIVE MODE", schema);
    assert_int_equal(DRV->exec(&os, sql), CW_SQL_OK);
    exec_ok("SET lock_timeout TO '100ms'");
    assert_int_equal(DRV->exec(st, "INSERT INTO lk VALUES (1)"), CW_SQL_BUSY);
    assert_int_equal(DRV->errcode(st), CW_SQL_BUSY);
    exec_ok("RESET lock_timeout");
    DRV->exec(&os, "ROLLBACK");
    cw_pg_disconnect(other);
}

/* ---- bulk insert (COPY) ---- */

#define BULK_ROWS 100000

static cw_bulk *bulk_open(const char *table, const char *cols, int ncols)
{
    cw_bulk *b = NULL;
    if (DRV->bulk_open(st, table, cols, ncols, &b) != CW_SQL_OK)
        fail_msg("bulk_open %s: %s", table, DRV->errmsg(st));
    return b;
}

/* 100k rows in one transaction, several COPYs of 4 MiB, read back exactly. */
static void test_bulk_roundtrip(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE bulk_t(id BIGINT PRIMARY KEY, n BIGINT, d DOUBLE PRECISION, t TEXT,"
            " b BYTEA)");
    exec_ok("BEGIN");
    cw_bulk *b = bulk_open("bulk_t", "id, n,d,t ,b", 5);
    for (int i = 1; i <= BULK_ROWS; i++)
        if (bulk_put(b, i) != CW_SQL_OK)
            fail_msg("row %d: %s", i, DRV->errmsg(st));
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    exec_ok("COMMIT");
    assert_int_equal(scalar("SELECT count(*) FROM bulk_t"), BULK_ROWS);
    cw_stmt *q = prep("SELECT id, n, d, t, b FROM bulk_t ORDER BY id", CW_SQL_STREAM);
    int i = 0, rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const char *bad = bulk_check(q, ++i, 0);
        if (bad)
            fail_msg("row %d: %s differs", i, bad);
    }
    assert_int_equal(rc, CW_SQL_DONE);
    assert_int_equal(i, BULK_ROWS);
    cw_sql_finalize(q);
    /* the server sees the special values as such */
    assert_int_equal(scalar("SELECT count(*) FROM bulk_t WHERE d = 'NaN'"), BULK_ROWS / 8);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_t WHERE d = '-Infinity'"), BULK_ROWS / 8);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_t WHERE t = ''"), BULK_ROWS / 5);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_t WHERE octet_length(b) = 11"
                            " AND get_byte(b, 0) = 0"),
                     BULK_ROWS - BULK_ROWS / 6 - (BULK_ROWS + 5) / 6);
    exec_ok("DROP TABLE bulk_t");
}

/* Rows held in the buffer are sent before any other statement: a SELECT,
 * a persistent statement, a stream, a COMMIT. */
static void test_bulk_autoflush(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE bulk_f(id BIGINT PRIMARY KEY, \"user\" TEXT)");
    cw_bulk *b = bulk_open("bulk_f", "id,user", 2);
    for (int i = 1; i <= 10; i++) {
        assert_int_equal(cw_sql_bulk_i64(b, i), CW_SQL_OK);
        assert_int_equal(cw_sql_bulk_text(b, "u", -1), CW_SQL_OK);
        assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    }
    assert_int_equal(scalar("SELECT count(*) FROM bulk_f"), 10);
    /* a half-appended row is not sent; it completes later */
    cw_sql_bulk_i64(b, 11);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_f"), 10);
    cw_sql_bulk_text(b, NULL, 0);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    cw_stmt *q = prep("SELECT count(*) FROM bulk_f WHERE id > ?", CW_SQL_PERSISTENT);
    cw_sql_bind_i64(q, 1, 0);
    assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
    assert_int_equal(cw_sql_col_i64(q, 0), 11);
    cw_sql_finalize(q);
    /* inside a streaming loop: each FETCH sees the rows appended so far */
    exec_ok("BEGIN");
    q = prep("SELECT id FROM bulk_f ORDER BY id", CW_SQL_STREAM);
    int n = 0;
    while (cw_sql_step(q) == CW_SQL_ROW) {
        cw_sql_bulk_i64(b, 1000 + cw_sql_col_i64(q, 0));
        cw_sql_bulk_null(b);
        assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
        n++;
    }
    cw_sql_finalize(q);
    assert_int_equal(n, 11);
    exec_ok("COMMIT");
    assert_int_equal(scalar("SELECT count(*) FROM bulk_f WHERE \"user\" IS NULL"), 12);
    /* ROLLBACK drops what is held rather than sending it */
    exec_ok("BEGIN");
    cw_sql_bulk_i64(b, 5000);
    cw_sql_bulk_null(b);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    exec_ok("ROLLBACK");
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_f"), 22);
    exec_ok("DROP TABLE bulk_f");
}

/* A duplicate key fails the COPY: CW_SQL_CONSTRAINT naming the table, at
 * flush or at the statement that flushed; bad input is refused early. */
static void test_bulk_errors(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE bulk_d(id BIGINT PRIMARY KEY, v DOUBLE PRECISION)");
    exec_ok("INSERT INTO bulk_d VALUES (3, 0)");
    cw_bulk *b = bulk_open("bulk_d", "id,v", 2);
    for (int i = 1; i <= 5; i++) {
        cw_sql_bulk_i64(b, i);
        cw_sql_bulk_double(b, i);
        assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    }
    assert_int_equal(cw_sql_bulk_flush(b), CW_SQL_CONSTRAINT);
    print_message("  %s\n", DRV->errmsg(st));
    assert_non_null(strstr(DRV->errmsg(st), "COPY bulk_d: duplicate key"));
    assert_int_equal(scalar("SELECT count(*) FROM bulk_d"), 1); /* all or nothing */
    /* at the next statement, inside a transaction that it fails */
    exec_ok("BEGIN");
    cw_sql_bulk_i64(b, 3);
    cw_sql_bulk_double(b, 1);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    assert_int_equal(DRV->exec(st, "UPDATE bulk_d SET v = 1"), CW_SQL_CONSTRAINT);
    assert_non_null(strstr(DRV->errmsg(st), "bulk_d"));
    assert_int_equal(DRV->exec(st, "SELECT 1"), CW_SQL_ERROR); /* the transaction failed */
    exec_ok("ROLLBACK");
    /* a row of the wrong width, a NUL in a text, a value that does not fit */
    cw_sql_bulk_i64(b, 7);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "a row of 1 fields for 2 columns"));
    cw_sql_bulk_i64(b, 7);
    cw_sql_bulk_i64(b, 7);
    assert_int_equal(cw_sql_bulk_i64(b, 7), CW_SQL_ERROR);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_ERROR);
    cw_sql_bulk_i64(b, 8);
    assert_int_equal(cw_sql_bulk_text(b, "a\0b", 3), CW_SQL_ERROR);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_ERROR);
    cw_sql_bulk_i64(b, 9); /* an integer into a double: 9.0 */
    cw_sql_bulk_i64(b, 9);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_d WHERE v = 9"), 1);
    exec_ok("CREATE TABLE bulk_i(id BIGINT)");
    b = bulk_open("bulk_i", "id", 1);
    cw_sql_bulk_double(b, 3.5); /* not an integer: the server says so */
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_ERROR);
    print_message("  %s\n", DRV->errmsg(st));
    assert_non_null(strstr(DRV->errmsg(st), "COPY bulk_i: invalid input syntax"));
    /* names */
    assert_int_equal(DRV->bulk_open(st, "bulk_d; DROP", "id", 1, &b), CW_SQL_ERROR);
    assert_null(b);
    assert_int_equal(DRV->bulk_open(st, "bulk_d", "id,", 2, &b), CW_SQL_ERROR);
    assert_int_equal(DRV->bulk_open(st, "bulk_d", "id,v", 3, &b), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "2 columns named, 3 expected"));
    assert_int_equal(DRV->bulk_open(st, "no_such", "id", 1, &b), CW_SQL_OK);
    cw_sql_bulk_i64(b, 1);
    cw_sql_bulk_row(b);
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_ERROR);
    assert_non_null(strstr(DRV->errmsg(st), "no_such"));
    exec_ok("DROP TABLE bulk_d; DROP TABLE bulk_i");
}

/* Plan lines scanning a partition of table (its indexes are not counted). */
static int partition_scans(const char *line, const char *table)
{
    char pat[64];
    snprintf(pat, sizeof pat, " on %s_p", table);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == ' ' || *p == '\0';
}

/* The partitioned tables of the migrated schema: 8 hash partitions each;
 * rows (written with COPY) land in several and read back whole through the
 * parent; a query by account is pruned to one partition; user_metrics' key
 * (day, "user", account) still refuses a duplicate. */
static void check_partitions(void)
{
    const char *tables[] = {"event_days",   "account_metrics", "account_peers",
                            "user_metrics", "scores",          "predictions"};
    for (size_t t = 0; t < 6; t++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent"
                 " WHERE p.relname = '%s' AND p.relkind = 'p'"
                 " AND p.relnamespace = to_regnamespace(current_schema())",
                 tables[t]);
        if (scalar(sql) != 8)
            fail_msg("%s: not 8 partitions", tables[t]);
    }
    cw_bulk *b = bulk_open("account_metrics", "day, account, vals, trend", 4);
    for (int a = 1; a <= 64; a++)
        for (int day = 100; day < 110; day++) {
            cw_sql_bulk_i64(b, day);
            cw_sql_bulk_i64(b, a);
            cw_sql_bulk_blob(b, "\0v", 2);
            cw_sql_bulk_null(b);
            assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
        }
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    assert_int_equal(scalar("SELECT count(*) FROM account_metrics"), 640);
    assert_int_equal(scalar("SELECT count(DISTINCT tableoid) FROM account_metrics"), 8);
    assert_int_equal(scalar("SELECT count(*) FROM account_metrics_p0") +
                         scalar("SELECT count(*) FROM account_metrics_p1"),
                     scalar("SELECT count(*) FROM account_metrics WHERE tableoid IN"
                            " ('account_metrics_p0'::regclass, 'account_metrics_p1'::regclass)"));
    assert_int_equal(
        scalar("SELECT sum(octet_length(vals)) FROM account_metrics WHERE account = 5"), 20);
    cw_stmt *q = prep("EXPLAIN SELECT day FROM account_metrics WHERE account = 5", 0);
    int scans = 0;
    while (cw_sql_step(q) == CW_SQL_ROW) {
        const char *line = (const char *)cw_sql_col_text(q, 0);
        print_message("  %s\n", line);
        scans += partition_scans(line, "account_metrics");
    }
    cw_sql_finalize(q);
    assert_int_equal(scans, 1);
    /* the same with a parameter: pruned when the plan is made or run */
    q = prep("EXPLAIN SELECT day FROM scores WHERE account = ?", 0);
    cw_sql_bind_i64(q, 1, 5);
    scans = 0;
    while (cw_sql_step(q) == CW_SQL_ROW)
        scans += partition_scans((const char *)cw_sql_col_text(q, 0), "scores");
    cw_sql_finalize(q);
    assert_int_equal(scans, 1);
    exec_ok("INSERT INTO user_metrics(day, \"user\", account, vals) VALUES (1, 7, 3, '')");
    assert_int_equal(
        DRV->exec(st,
                  "INSERT INTO user_metrics(day, \"user\", account, vals) VALUES (1, 7, 3, '')"),
        CW_SQL_CONSTRAINT);
    exec_ok("INSERT INTO user_metrics(day, \"user\", account, vals) VALUES (1, 7, 3, 'x')"
            " ON CONFLICT(day, \"user\", account) DO UPDATE SET vals = excluded.vals");
    assert_int_equal(scalar("SELECT octet_length(vals) FROM user_metrics"), 1);
}

/* Every migration, translated, applied in order (each in its own
 * transaction, as the store does), in a schema of its own. */
static void test_migrations_apply(void **state)
{
    (void)state;
    load_migrations();
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s_mig; SET search_path TO %s_mig", schema, schema);
    exec_ok(sql);
    for (int i = 0; i < nmigs; i++) {
        char *pg = cw_pg_ddl(migs[i].sql);
        assert_non_null(pg);
        exec_ok("BEGIN");
        if (DRV->exec(st, pg) != CW_SQL_OK)
            fail_msg("migration %d (%s): %s\n%s", i + 1, migs[i].desc, DRV->errmsg(st), pg);
        exec_ok("COMMIT");
        free(pg);
    }
    print_message("applied %d migrations\n", nmigs);
    /* identity keys number rows; "user" is a column; blobs are bytea */
    cw_stmt *q =
        prep("INSERT INTO accounts(account_id, name, segment, contract_start, seats,"
             " mrr_minor, currency, status) VALUES (?, 'n', 's', 0, 1, 100, 'EUR', 'active')"
             " RETURNING id",
             0);
    for (int i = 1; i <= 2; i++) {
        char id[16];
        snprintf(id, sizeof id, "A%d", i);
        cw_sql_reset(q);
        cw_sql_bind_text(q, 1, id, -1);
        assert_int_equal(cw_sql_step(q), CW_SQL_ROW);
        assert_int_equal(cw_sql_col_i64(q, 0), i);
    }
    cw_sql_finalize(q);
    exec_ok("INSERT INTO trainings(\"user\", course, completed_at, account) VALUES (1, 'c', 0, 1)");
    q = prep("INSERT INTO event_days(account, day, events, cells, hashes) VALUES (1, 2, 3, ?, ?)",
             0);
    cw_sql_bind_blob(q, 1, "\0\1\2", 3);
    cw_sql_bind_blob(q, 2, "", 0);
    step_done(q);
    cw_sql_finalize(q);
    assert_int_equal(scalar("SELECT octet_length(cells) FROM event_days"), 3);
    assert_int_equal(scalar("SELECT count(*) FROM information_schema.columns WHERE"
                            " table_schema = current_schema()"
                            " AND data_type IN ('integer', 'real', 'numeric')"),
                     0);
    assert_int_equal(scalar("SELECT provisional FROM users UNION ALL SELECT 0 LIMIT 1"), 0);
    assert_int_equal(scalar("SELECT count(*) FROM information_schema.columns WHERE"
                            " table_schema = current_schema() AND table_name = 'subscriptions'"
                            " AND column_name = 'origin' AND column_default LIKE '''file''%'"),
                     1);
    check_partitions();
    snprintf(sql, sizeof sql, "DROP SCHEMA %s_mig CASCADE; SET search_path TO %s", schema, schema);
    exec_ok(sql);
}

/* ---- connecting ---- */

static void connect_fails(const char *ci, const char *password, const char *secret,
                          const char *want)
{
    void *c = (void *)1;
    char *err = NULL;
    assert_int_not_equal(cw_pg_connect(ci, password, 0, &c, &err), CW_OK);
    assert_null(c);
    assert_non_null(err);
    if (strstr(err, secret))
        fail_msg("the error shows the password: %s", err);
    if (want && !strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
    print_message("  %s\n", err);
    free(err);
}

static void test_connect_errors(void **state)
{
    (void)state;
    /* no server at that socket */
    connect_fails("host=/nonexistent-dir port=1 user=u password=Hunter2Secret", NULL,
                  "Hunter2Secret", "password=***");
    connect_fails("host=/nonexistent-dir port=1 password = 'Hunter2 Secret'", NULL, "Hunter2",
                  "password = ***");
    connect_fails("postgresql://u:Hunter2Secret@/db?host=/nonexistent-dir&port=1", NULL,
                  "Hunter2Secret", "postgresql://u:***@");
    connect_fails("postgres:///db?host=/nonexistent-dir&port=1&password=Hunter2Secret", NULL,
                  "Hunter2Secret", "password=***");
    connect_fails("host=/nonexistent-dir port=1", "Hunter2Secret", "Hunter2Secret", NULL);
    /* libpq quotes the malformed piece, password and all */
    connect_fails("postgresql://u:Hunter%zz2Secret@localhost/db", NULL, "Hunter", NULL);
    connect_fails("host=x password=Hunter2Secret junk", NULL, "Hunter2Secret", NULL);
    connect_fails("host=x password='Hunter2Secret", NULL, "Hunter2Secret", NULL);
    /* a real server, a wrong database: the message is the server's */
    if (conninfo) {
        char ci[512];
        snprintf(ci, sizeof ci, "%s dbname=no_such_db_cw password=Hunter2Secret", conninfo);
        connect_fails(ci, NULL, "Hunter2Secret", "no_such_db_cw");
    }
}

/* What makes `store.db` warn: a password anywhere libpq would read one. */
static void test_has_password(void **state)
{
    (void)state;
    assert_true(cw_pg_conninfo_has_password("postgresql://u:pw@h/db"));
    assert_true(cw_pg_conninfo_has_password("postgres:///db?host=/s&password=pw"));
    assert_true(cw_pg_conninfo_has_password("host=/s dbname=db password = 'a b'"));
    assert_false(cw_pg_conninfo_has_password("postgresql://u@h/db?sslmode=require"));
    assert_false(cw_pg_conninfo_has_password("postgresql://u:@h/db"));
    assert_false(cw_pg_conninfo_has_password("host=/s dbname=db user=u"));
    assert_false(cw_pg_conninfo_has_password("host=x password='unterminated"));
    assert_false(cw_pg_conninfo_has_password(NULL));
}

static void free_migrations(void)
{
    for (int i = 0; i < nmigs; i++) {
        free(migs[i].desc);
        free(migs[i].sql);
    }
    nmigs = 0;
}

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_rewrite),        cmocka_unit_test(test_ddl_text),
        cmocka_unit_test(test_ddl_migrations), cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_has_password),
    };
    const struct CMUnitTest server[] = {
        cmocka_unit_test(test_session),        cmocka_unit_test(test_types),
        cmocka_unit_test(test_server_types),   cmocka_unit_test(test_params),
        cmocka_unit_test(test_persistent),     cmocka_unit_test(test_stream),
        cmocka_unit_test(test_nested),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_busy),           cmocka_unit_test(test_migrations_apply),
        cmocka_unit_test(test_bulk_roundtrip), cmocka_unit_test(test_bulk_autoflush),
        cmocka_unit_test(test_bulk_errors),
    };
    conninfo = getenv("CW_TEST_PG");
    if (conninfo && !*conninfo)
        conninfo = NULL;
    int rc = cmocka_run_group_tests_name("offline", offline, NULL, NULL);
    if (!conninfo) {
        free_migrations();
        fprintf(stderr, "test_pg_driver: CW_TEST_PG is not set: the server tests are skipped\n");
        return rc ? rc : 77;
    }
    rc |= cmocka_run_group_tests_name("server", server, server_setup, server_teardown);
    free_migrations();
    return rc;
}
