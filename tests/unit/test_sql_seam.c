/*
 * test_sql_seam.c — the statement seam (lib/store/sql.h) over a SQLite
 * store opened the ordinary way (cw_store_open), on scratch tables: bulk
 * insert (cw_sql_bulk_*) of 100k awkward rows read back exactly (the same
 * rows as test_pg_driver's, tests/unit/bulk_rows.h), rows visible to a
 * SELECT between appends, a duplicate key's error naming the table, rows
 * of the wrong width and bad names refused.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "store/sql.h"
#include "bulk_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BULK_ROWS 100000

static char path[64];
static cw_store *st;

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "test_sql_seam.%ld.db", (long)getpid());
    cw_error err = {CW_OK, ""};
    if (cw_store_open(path, NULL, &st, &err) != CW_OK) {
        print_error("%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cw_store_close(st);
    char p[96];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static void exec_ok(const char *sql)
{
    if (cw_sql_exec(st, sql) != CW_SQL_OK)
        fail_msg("%s: %s", sql, cw_sql_errmsg(st));
}

static int64_t scalar(const char *sql)
{
    int64_t v;
    int isnull;
    if (cw_sql_scalar_i64(st, sql, &v, &isnull) != CW_OK)
        fail_msg("%s: %s", sql, cw_sql_errmsg(st));
    return v;
}

static cw_bulk *bulk_open(const char *table, const char *cols, int ncols)
{
    cw_bulk *b = NULL;
    if (cw_sql_bulk_open(st, table, cols, ncols, &b) != CW_SQL_OK)
        fail_msg("bulk_open %s: %s", table, cw_sql_errmsg(st));
    return b;
}

static void test_bulk_roundtrip(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE bulk_t(id INTEGER PRIMARY KEY, n INTEGER, d REAL, t TEXT, b BLOB)");
    exec_ok("BEGIN");
    cw_bulk *b = bulk_open("bulk_t", "id, n,d,t ,b", 5);
    for (int i = 1; i <= BULK_ROWS; i++)
        if (bulk_put(b, i) != CW_SQL_OK)
            fail_msg("row %d: %s", i, cw_sql_errmsg(st));
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    exec_ok("COMMIT");
    assert_int_equal(scalar("SELECT count(*) FROM bulk_t"), BULK_ROWS);
    cw_stmt *q = NULL;
    assert_int_equal(
        cw_sql_prepare(st, "SELECT id, n, d, t, b FROM bulk_t ORDER BY id", CW_SQL_STREAM, &q),
        CW_SQL_OK);
    int i = 0, rc;
    /* SQLite: NaN is NULL, -0.0 is 0.0 (bulk_check) */
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const char *bad = bulk_check(q, ++i, 1);
        if (bad)
            fail_msg("row %d: %s differs", i, bad);
    }
    assert_int_equal(rc, CW_SQL_DONE);
    assert_int_equal(i, BULK_ROWS);
    cw_sql_finalize(q);
    exec_ok("DROP TABLE bulk_t");
}

/* Each row is inserted when it ends: a SELECT in between sees them all. */
static void test_bulk_visible(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE bulk_f(id INTEGER PRIMARY KEY, user TEXT)");
    exec_ok("BEGIN");
    cw_bulk *b = bulk_open("bulk_f", "id,user", 2);
    for (int i = 1; i <= 10; i++) {
        assert_int_equal(cw_sql_bulk_i64(b, i), CW_SQL_OK);
        assert_int_equal(cw_sql_bulk_text(b, "u", -1), CW_SQL_OK);
        assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
        assert_int_equal(scalar("SELECT count(*) FROM bulk_f"), i);
    }
    assert_int_equal(cw_sql_bulk_flush(b), CW_SQL_OK);
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    exec_ok("COMMIT");
    assert_int_equal(scalar("SELECT count(*) FROM bulk_f WHERE \"user\" = 'u'"), 10);
    exec_ok("DROP TABLE bulk_f");
}

static void test_bulk_errors(void **state)
{
    (void)state;
    exec_ok("CREATE TABLE bulk_d(id INTEGER PRIMARY KEY, v REAL)");
    exec_ok("INSERT INTO bulk_d VALUES (3, 0)");
    cw_bulk *b = bulk_open("bulk_d", "id,v", 2);
    int rc = CW_SQL_OK;
    for (int i = 1; i <= 5 && rc == CW_SQL_OK; i++) {
        cw_sql_bulk_i64(b, i);
        cw_sql_bulk_double(b, i);
        rc = cw_sql_bulk_row(b);
    }
    assert_int_equal(rc, CW_SQL_CONSTRAINT);
    print_message("  %s\n", cw_sql_errmsg(st));
    assert_non_null(strstr(cw_sql_errmsg(st), "bulk_d"));
    /* the row of the wrong width, too many fields */
    cw_sql_bulk_i64(b, 7);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_ERROR);
    print_message("  %s\n", cw_sql_errmsg(st));
    assert_non_null(strstr(cw_sql_errmsg(st), "a row of 1 fields for 2 columns"));
    cw_sql_bulk_i64(b, 7);
    cw_sql_bulk_i64(b, 7);
    assert_int_equal(cw_sql_bulk_i64(b, 7), CW_SQL_ERROR);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_ERROR);
    /* the statement is usable after errors */
    cw_sql_bulk_i64(b, 9);
    cw_sql_bulk_i64(b, 9);
    assert_int_equal(cw_sql_bulk_row(b), CW_SQL_OK);
    assert_int_equal(cw_sql_bulk_close(b), CW_SQL_OK);
    assert_int_equal(scalar("SELECT count(*) FROM bulk_d"), 4);
    /* names */
    assert_int_equal(cw_sql_bulk_open(st, "bulk_d; DROP", "id", 1, &b), CW_SQL_ERROR);
    assert_null(b);
    assert_non_null(strstr(cw_sql_errmsg(st), "bad table name"));
    assert_int_equal(cw_sql_bulk_open(st, "bulk_d", "id,v", 3, &b), CW_SQL_ERROR);
    assert_non_null(strstr(cw_sql_errmsg(st), "2 columns named, 3 expected"));
    assert_int_equal(cw_sql_bulk_open(st, "bulk_d", "Id", 1, &b), CW_SQL_ERROR);
    assert_int_equal(cw_sql_bulk_open(st, "no_such", "id", 1, &b), CW_SQL_ERROR);
    assert_non_null(strstr(cw_sql_errmsg(st), "no_such"));
    exec_ok("DROP TABLE bulk_d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_roundtrip),
        cmocka_unit_test(test_bulk_visible),
        cmocka_unit_test(test_bulk_errors),
    };
    return cmocka_run_group_tests_name("sql_seam", tests, setup, teardown);
}
