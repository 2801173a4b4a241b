/*
 * test_monitor.c — the store's small tables over the statement seam
 * (lib/store/sql/store_monitor.c, store_scores.c, store_model.c): run-log
 * ids from RETURNING, freshness of rows with two times, the integrity
 * check naming every table the migrations create, and the score and
 * prediction writers replacing a row written twice.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "health/score_db.h"
#include "model/model_int.h"
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
    snprintf(dir, sizeof dir, "/tmp/cw-test-monitor-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/m.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static cw_store *open_fresh(void)
{
    unlink(db);
    cw_store *st = NULL;
    assert_int_equal(cw_store_open(db, NULL, &st, NULL), CW_OK);
    return st;
}

static void exec(cw_store *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(cw_store_sqlite(st), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static int64_t scalar(cw_store *st, const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void test_run_log(void **state)
{
    (void)state;
    cw_store *st = open_fresh();
    cw_run_info r;
    int found = -1;
    assert_int_equal(cw_run_log_last(st, &r, &found), CW_OK);
    assert_int_equal(found, 0);
    int64_t a = 0, b = 0;
    assert_int_equal(cw_run_log_begin(st, 20000, 100, &a), CW_OK);
    assert_int_equal(cw_run_log_end(st, a, 150, 0), CW_OK);
    assert_int_equal(cw_run_log_begin(st, 20001, 200, &b), CW_OK);
    assert_true(a > 0 && b > a);
    assert_int_equal(cw_run_log_last(st, &r, &found), CW_OK);
    assert_int_equal(found, 1);
    assert_int_equal(r.id, b);
    assert_int_equal(r.day, 20001);
    assert_int_equal(r.ended_at, 0);
    assert_int_equal(r.exit_code, -1);
    assert_int_equal(cw_run_log_end(st, b, 260, 3), CW_OK);
    assert_int_equal(cw_run_log_last(st, &r, &found), CW_OK);
    assert_int_equal(r.ended_at, 260);
    assert_int_equal(r.exit_code, 3);
    cw_store_close(st);
}

/* The later of a row's two times counts; a NULL second time never does. */
static void test_health_two_times(void **state)
{
    (void)state;
    cw_store *st = open_fresh();
    cw_store_health h;
    assert_int_equal(cw_store_health_get(st, &h), CW_OK);
    assert_int_equal(h.data_latest_ts[CW_KIND_USERS], 0);
    assert_int_equal(h.data_latest_ts[CW_KIND_EVENTS], 0);
    exec(st, "INSERT INTO users(user_id, account, provisioned_at, deactivated_at)"
             " VALUES('a', 1, 100, 500), ('b', 1, 700, NULL), ('c', 1, 300, 200);"
             "INSERT INTO tickets(ticket_id, account, opened_at, closed_at, category)"
             " VALUES('t1', 1, 100, NULL, 'x'), ('t2', 1, 50, 900, 'x');");
    assert_int_equal(cw_store_health_get(st, &h), CW_OK);
    assert_int_equal(h.data_latest_ts[CW_KIND_USERS], 700);
    assert_int_equal(h.data_latest_ts[CW_KIND_TICKETS], 900);
    exec(st, "UPDATE users SET deactivated_at = 800 WHERE user_id = 'c'");
    assert_int_equal(cw_store_health_get(st, &h), CW_OK);
    assert_int_equal(h.data_latest_ts[CW_KIND_USERS], 800);
    cw_store_close(st);
}

/* A fresh store is sound; without any one of its tables the check names
 * it. Walking sqlite_master (not a list) also catches a table a new
 * migration adds but the check's list lacks. */
static void test_integrity_tables(void **state)
{
    (void)state;
    cw_store *st = open_fresh();
    char *problems = (char *)"unset";
    assert_int_equal(cw_store_integrity_check(st, &problems), CW_OK);
    assert_null(problems);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st),
                                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                                        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    char names[64][64];
    int n = 0;
    while (sqlite3_step(q) == SQLITE_ROW && n < 64)
        snprintf(names[n++], sizeof names[0], "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    assert_true(n > 30);
    for (int i = 0; i < n; i++) {
        char sql[4160], want[4160]; /* sized for any name (-Wformat-truncation at -O2) */
        snprintf(sql, sizeof sql, "SAVEPOINT t; DROP TABLE \"%s\";", names[i]);
        exec(st, sql);
        assert_int_equal(cw_store_integrity_check(st, &problems), CW_OK);
        snprintf(want, sizeof want, "table %s is missing\n", names[i]);
        if (!problems || strcmp(problems, want) != 0)
            fail_msg("dropped %s: got %s", names[i], problems ? problems : "(none)");
        free(problems);
        exec(st, "ROLLBACK TO t; RELEASE t;");
    }
    cw_store_close(st);
}

/* A score written twice for the same account and day keeps the last. */
static void test_scores_upsert(void **state)
{
    (void)state;
    cw_store *st = open_fresh();
    score_db *d = NULL;
    assert_int_equal(cw_score_db_open(st, &d), CW_OK);
    assert_int_equal(cw_score_db_put_scorecard(d, "h1", "{}", 10), CW_OK);
    assert_int_equal(cw_score_db_put_scorecard(d, "h1", "{\"other\":1}", 20), CW_OK);
    assert_int_equal(cw_score_db_put(d, 100, 1, "h1", 50, 1, NAN, "[]", 2), CW_OK);
    assert_int_equal(cw_score_db_put(d, 100, 2, "h0", 70, 0, 5, "[]", 2), CW_OK);
    assert_int_equal(cw_score_db_put(d, 100, 1, "h1", 40, 2, -10, "[1]", 3), CW_OK);
    int64_t rows = 0, same = 0, day = 0;
    assert_int_equal(cw_score_db_day_status(d, 100, "h1", &rows, &same), CW_OK);
    assert_int_equal(rows, 2);
    assert_int_equal(same, 1);
    assert_int_equal(cw_score_db_day_status(d, 101, "h1", &rows, &same), CW_OK);
    assert_int_equal(rows, 0);
    assert_int_equal(same, 0);
    assert_int_equal(cw_score_db_latest_day(d, 0, 99, &day), CW_OK);
    assert_int_equal(day, -1);
    assert_int_equal(cw_score_db_latest_day(d, 0, 200, &day), CW_OK);
    assert_int_equal(day, 100);
    double prev[3] = {-1, -1, -1};
    assert_int_equal(cw_score_db_prev(d, 90, 100, prev, 3), CW_OK);
    assert_true(prev[0] == -1 && prev[1] == 40 && prev[2] == 70);
    cw_score_db_close(d);
    assert_int_equal(scalar(st, "SELECT colour FROM scores WHERE account = 1"), 2);
    assert_int_equal(scalar(st, "SELECT change FROM scores WHERE account = 1"), -10);
    assert_int_equal(scalar(st, "SELECT created_at FROM scorecards"), 10);
    cw_store_close(st);
}

/* Models round-trip their body; activation keeps exactly one active;
 * predictions written twice keep the last. */
static void test_models_predictions(void **state)
{
    (void)state;
    cw_store *st = open_fresh();
    int64_t a = 0, b = 0, id = 0;
    const unsigned char body[] = {0, 1, 2, 0, 255};
    assert_int_equal(
        cw_store_model_save(st, "m1", CW_MODEL_LOGREG, "{}", body, sizeof body, 1, 10, &a), CW_OK);
    assert_int_equal(cw_store_model_save(st, "m2", CW_MODEL_XGBOOST, "{\"k\":1}", "", 0, 1, 20, &b),
                     CW_OK);
    assert_true(a > 0 && b > a);
    char *name, *kind, *meta;
    void *got;
    size_t len;
    assert_int_equal(cw_store_model_load(st, 0, &id, &name, &kind, &meta, &got, &len), CW_OK);
    assert_int_equal(id, b);
    assert_int_equal(len, 0);
    assert_string_equal(kind, "xgboost");
    free(name), free(kind), free(meta), free(got);
    assert_int_equal(cw_store_model_activate(st, a), CW_OK);
    assert_int_equal(scalar(st, "SELECT sum(active) FROM models"), 1);
    assert_int_equal(cw_store_model_load(st, 0, &id, &name, &kind, &meta, &got, &len), CW_OK);
    assert_int_equal(id, a);
    assert_string_equal(name, "m1");
    assert_int_equal(len, sizeof body);
    assert_memory_equal(got, body, sizeof body);
    free(name), free(kind), free(meta), free(got);
    assert_int_equal(cw_store_model_load(st, 99, &id, &name, &kind, &meta, &got, &len),
                     CW_ERR_NOTFOUND);
    cw_prediction rows[3] = {{.account = 1, .probability = 0.1, .drivers_json = (char *)"[]"},
                             {.account = 2, .probability = 0.2, .drivers_json = (char *)"[]"},
                             {.account = 1, .probability = 0.3, .drivers_json = (char *)"[2]"}};
    assert_int_equal(cw_store_predictions_put(st, 100, a, 3, rows), CW_OK);
    assert_int_equal(scalar(st, "SELECT count(*) FROM predictions"), 2);
    assert_int_equal(scalar(st, "SELECT CAST(probability * 10 AS INTEGER) FROM predictions"
                                " WHERE account = 1"),
                     3);
    assert_int_equal(cw_store_predictions_clear(st, 100, a), CW_OK);
    assert_int_equal(scalar(st, "SELECT count(*) FROM predictions"), 0);
    cw_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_log),
        cmocka_unit_test(test_health_two_times),
        cmocka_unit_test(test_integrity_tables),
        cmocka_unit_test(test_scores_upsert),
        cmocka_unit_test(test_models_predictions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
