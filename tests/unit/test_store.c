/*
 * test_store.c — the SQLite store: creation and migration on open,
 * re-opening without re-migrating, refusing a newer schema, read-only
 * opens, unsupported URLs, the backend interface's transactions, and the
 * summary of an empty store.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[128], db[200];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cw-test-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/s.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int user_version(void)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
    return v;
}

static void test_create_and_reopen(void **state)
{
    (void)state;
    cw_store *st = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(cw_store_schema_version(st), cw_store_latest_version());
    assert_true(cw_store_latest_version() >= 1);
    cw_store_summary sm;
    assert_int_equal(cw_store_summarize(st, &sm), CW_OK);
    for (int k = 1; k < CW_KIND__COUNT; k++)
        assert_int_equal(sm.rows[k], 0);
    assert_int_equal(sm.events, 0);
    assert_string_equal(sm.mrr_currency, "");
    cw_store_close(st);
    assert_int_equal(user_version(), cw_store_latest_version());
    /* Re-open: no migration runs again (it would fail on CREATE TABLE). */
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_OK);
    cw_store_close(st);
    /* "sqlite:" prefix is accepted. */
    char url[256];
    snprintf(url, sizeof url, "sqlite:%s", db);
    assert_int_equal(cw_store_open(url, NULL, &st, &err), CW_OK);
    cw_store_close(st);
    cw_store_close(NULL);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    cw_store *st = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_OK);
    cw_store_close(st);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", cw_store_latest_version() + 1);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    st = (cw_store *)0x1;
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_ERR_SCHEMA);
    assert_null(st);
    assert_true(err.msg[0] != 0);
    assert_non_null(strstr(err.msg, "newer"));
    unlink(db);
}

static void test_partial_migration_is_resumed(void **state)
{
    (void)state;
    /* A database at version 0 with an unrelated table: migration 1 applies. */
    unlink(db);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE unrelated(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    cw_store *st = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_OK);
    cw_store_close(st);
    assert_int_equal(user_version(), cw_store_latest_version());
    /* A database whose version-1 objects already exist but user_version is 0
     * (e.g. edited by hand): the migration fails cleanly, nothing changes. */
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=0", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    st = NULL;
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_ERR_DB);
    assert_null(st);
    assert_non_null(strstr(err.msg, "migration 1"));
    assert_int_equal(user_version(), 0);
    unlink(db);
}

static void test_readonly_and_urls(void **state)
{
    (void)state;
    cw_store *st = NULL;
    cw_error err = {CW_OK, ""};
    cw_store_opts ro = {.readonly = 1};
    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing.db", dir);
    assert_int_equal(cw_store_open(missing, &ro, &st, &err), CW_ERR_DB);
    assert_null(st);
    assert_true(err.msg[0] != 0);
    assert_int_not_equal(access(missing, F_OK), 0);
    /* a PostgreSQL URL goes to libpq (no server there); the message hides
     * the password */
    const char *pg = "postgres://u:Hunter2Secret@/x?host=/nonexistent-dir&port=1";
    assert_int_equal(cw_store_open(pg, NULL, &st, &err), CW_ERR_DB);
    assert_null(st);
    assert_int_equal(err.status, CW_ERR_DB);
    assert_non_null(strstr(err.msg, "cannot connect to PostgreSQL"));
    assert_null(strstr(err.msg, "Hunter2Secret"));
    /* sqlite: forces a file, whatever follows */
    assert_int_equal(cw_store_open("sqlite:host=/nonexistent-dir", NULL, &st, &err), CW_ERR_DB);
    assert_non_null(strstr(err.msg, "cannot open database"));
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.db", dir);
    assert_int_equal(cw_store_open(missing, NULL, &st, &err), CW_ERR_DB);
    /* the message names the path and the cause */
    assert_int_equal(err.status, CW_ERR_DB);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "cannot open database"));
    /* NULL: only the status */
    assert_int_equal(cw_store_open(pg, NULL, &st, NULL), CW_ERR_DB);
}

/* cw_store_why: the handle's message when there is one, else the status's
 * name (issue 16: the one helper for what to tell the user). */
static void test_store_why(void **state)
{
    (void)state;
    cw_store *st = NULL;
    assert_int_equal(cw_store_open(db, NULL, &st, NULL), CW_OK);
    assert_string_equal(cw_store_errmsg(st), "");
    assert_string_equal(cw_store_why(st, CW_ERR_NOTFOUND), "not found");
    assert_int_equal(cw_store_set_error(st, CW_ERR_USAGE, "day %d is in the past", 3),
                     CW_ERR_USAGE);
    assert_string_equal(cw_store_why(st, CW_ERR_USAGE), "day 3 is in the past");
    assert_string_equal(cw_store_why(NULL, CW_ERR_IO), "input/output error");
    /* a failing call on the handle leaves its cause there */
    const cw_store_ops *ops = cw_store_get_ops(st);
    assert_int_equal(ops->commit(st), CW_ERR_DB);
    assert_non_null(strstr(cw_store_why(st, CW_ERR_DB), "commit"));
    cw_store_close(st);
}

static void test_ops_transactions(void **state)
{
    (void)state;
    cw_store *st = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_store_open(db, NULL, &st, &err), CW_OK);
    const cw_store_ops *ops = cw_store_get_ops(st);
    assert_int_equal(ops->begin(st), CW_OK);
    const unsigned char *cells, *hashes;
    size_t nc = 99, nh = 99;
    int64_t events = -1;
    assert_int_equal(ops->load_event_day(st, 1, 20000, &events, &cells, &nc, &hashes, &nh), CW_OK);
    assert_int_equal(events, 0);
    assert_int_equal(nc, 0);
    assert_int_equal(nh, 0);
    unsigned char h[16] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
    unsigned char cb[2 * CW_CELL_BYTES];
    cw_event_cell in[2] = {{0, 3, 1, 0.0}, {2, 3, 7, 2.5}}, out;
    cw_cell_encode(cb, &in[0]);
    cw_cell_encode(cb + CW_CELL_BYTES, &in[1]);
    assert_int_equal(ops->save_event_day(st, 1, 20000, 8, cb, 2, h, 2), CW_OK);
    assert_int_equal(ops->load_event_day(st, 1, 20000, &events, &cells, &nc, &hashes, &nh), CW_OK);
    assert_int_equal(events, 8);
    assert_int_equal(nc, 2);
    assert_int_equal(nh, 2);
    assert_memory_equal(hashes, h, 16);
    cw_cell_decode(cells + CW_CELL_BYTES, &out);
    assert_int_equal(out.user, 2);
    assert_int_equal(out.event, 3);
    assert_int_equal(out.n, 7);
    assert_true(out.vsum == 2.5);
    assert_int_equal(ops->rollback(st), CW_OK);
    cw_store_summary sm;
    assert_int_equal(cw_store_summarize(st, &sm), CW_OK);
    assert_int_equal(sm.events, 0); /* rolled back */
    assert_int_equal(ops->begin(st), CW_OK);
    assert_int_equal(ops->save_event_day(st, 1, 20000, 8, cb, 2, h, 2), CW_OK);
    assert_int_equal(ops->save_event_day(st, 2, 20001, 1, cb, 1, h, 1), CW_OK);
    assert_int_equal(ops->commit(st), CW_OK);
    assert_int_equal(cw_store_summarize(st, &sm), CW_OK);
    assert_int_equal(sm.events, 9);
    assert_int_equal(sm.event_days, 2);
    assert_int_equal(sm.first_event_ts, 20000LL * 86400);
    assert_int_equal(sm.last_event_ts, 20001LL * 86400);
    cw_store_close(st);
    unlink(db);
}

/* The outbox queues a key once: a second enqueue of the same key keeps the
 * first payload. */
static void test_outbox_enqueue(void **state)
{
    (void)state;
    cw_store *st = NULL;
    assert_int_equal(cw_store_open(db, NULL, &st, NULL), CW_OK);
    int ins = -1;
    assert_int_equal(cw_outbox_enqueue(st, "csm_task", "alert:1:csm_task", "{\"a\":1}", 100, &ins),
                     CW_OK);
    assert_int_equal(ins, 1);
    assert_int_equal(cw_outbox_enqueue(st, "csm_task", "alert:1:csm_task", "{\"a\":2}", 200, &ins),
                     CW_OK);
    assert_int_equal(ins, 0);
    assert_int_equal(cw_outbox_enqueue(st, "mail", "alert:1:mail", "{}", 300, NULL), CW_OK);
    sqlite3 *h = cw_store_sqlite(st);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT count(*), min(payload), min(status), min(next_at)"
                                        " FROM outbox",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    assert_string_equal((const char *)sqlite3_column_text(q, 1), "{\"a\":1}");
    assert_int_equal(sqlite3_column_int(q, 2), CW_OUTBOX_PENDING);
    assert_int_equal(sqlite3_column_int(q, 3), 100);
    sqlite3_finalize(q);
    cw_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_partial_migration_is_resumed),
        cmocka_unit_test(test_store_why),
        cmocka_unit_test(test_readonly_and_urls),
        cmocka_unit_test(test_ops_transactions),
        cmocka_unit_test(test_outbox_enqueue),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
