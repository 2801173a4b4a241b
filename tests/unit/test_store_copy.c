/*
 * test_store_copy.c — store/store_copy.h: the list of tables to copy covers
 * every table and column of a freshly migrated database (names, column
 * order, keys, text keys, identity keys), so a new table cannot be
 * forgotten; a copy keeps every value's type (integer, real incl.
 * infinities and subnormals, text with a NUL byte, empty text and blob, NULL) and gives
 * equal digests; a non-empty destination is refused unless replace; one
 * changed value changes the digest.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "store/store_copy.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[128];

static const char *db_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cw-test-copy-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static cw_store *open_store(const char *name, int readonly)
{
    cw_store *st = NULL;
    cw_store_opts o = {.readonly = readonly};
    cw_error err = {CW_OK, ""};
    cw_status s = cw_store_open(db_path(name), &o, &st, &err);
    if (s != CW_OK)
        print_error("open %s: %s\n", name, cw_error_why(&err));
    assert_int_equal(s, CW_OK);
    return st;
}

static sqlite3 *open_raw(const char *name)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path(name), &db), SQLITE_OK);
    return db;
}

static void exec_raw(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        print_error("%s: %s\n", sql, err);
    assert_null(err);
}

static const cw_copy_table *find_table(const char *name)
{
    for (int i = 0; i < cw_copy_ntables; i++)
        if (strcmp(cw_copy_tables[i].name, name) == 0)
            return &cw_copy_tables[i];
    return NULL;
}

/* The columns of t from PRAGMA table_info, in order, and its key columns
 * in key order with their text bits, checked against the list's entry. */
static void check_columns(sqlite3 *db, const cw_copy_table *t)
{
    char sql[128], cols[1024] = "", key[8][64] = {{0}};
    unsigned text_keys = 0;
    int nkey = 0;
    sqlite3_stmt *q;
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", t->name);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 1);
        const char *type = (const char *)sqlite3_column_text(q, 2);
        int pk = sqlite3_column_int(q, 5);
        size_t l = strlen(cols);
        snprintf(cols + l, sizeof cols - l, "%s%s", l ? "," : "", name);
        if (pk > 0 && pk <= 8) {
            snprintf(key[pk - 1], sizeof key[0], "%s", name);
            if (strcmp(type, "TEXT") == 0)
                text_keys |= 1u << (pk - 1);
            nkey = pk > nkey ? pk : nkey;
        }
    }
    sqlite3_finalize(q);
    char keys[256] = "";
    for (int i = 0; i < nkey; i++) {
        size_t l = strlen(keys);
        snprintf(keys + l, sizeof keys - l, "%s%s", i ? "," : "", key[i]);
    }
    if (strcmp(cols, t->cols) != 0)
        print_error("%s: columns are %s\n", t->name, cols);
    assert_string_equal(cols, t->cols);
    assert_string_equal(keys, t->key);
    assert_int_equal(text_keys, t->text_keys);
    assert_int_equal(t->identity, strcmp(t->key, "id") == 0);
}

static void test_list_covers_schema(void **state)
{
    (void)state;
    cw_store_close(open_store("fresh.db", 0));
    sqlite3 *db = open_raw("fresh.db");
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                                        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    int n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        const cw_copy_table *t = find_table(name);
        if (!t)
            print_error("table %s is not in cw_copy_tables (lib/store/sql/store_copy.c)\n", name);
        assert_non_null(t);
        check_columns(db, t);
        n++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(n, cw_copy_ntables);
}

/* Rows whose values exercise every type and edge of the encoding. */
static void plant(const char *name)
{
    sqlite3 *db = open_raw(name);
    exec_raw(db, "INSERT INTO accounts VALUES(7,'A7','Acme','smb',NULL,20000,5,1000,'EUR',"
                 "NULL,'active',NULL,NULL);"
                 "INSERT INTO accounts VALUES(3,'A3','Zed','mid','o',20000,5,1000,'EUR',"
                 "NULL,'active',NULL,'');"
                 "INSERT INTO goals VALUES('g1',7,'m',NULL,-0.0,9e999,1,2);"
                 "INSERT INTO goals VALUES('G2',3,'m','u',0.1,-9e999,1,2);"
                 "INSERT INTO goal_measurements VALUES('g1',5,'actual',1e308);"
                 "INSERT INTO goal_measurements VALUES('g1',5,'Actual',4.9e-324);"
                 "INSERT INTO models VALUES(4,'m','logreg',1,1,'{}',x'');"
                 "INSERT INTO models VALUES(9,'n','logreg',2,0,'{}',x'00ff00');"
                 "INSERT INTO backtests VALUES(2,1,'a'||char(0)||'b','');"
                 "INSERT INTO scores VALUES(20000,7,'h',55.5,1,NULL,'[]');");
    sqlite3_close(db);
}

/* "type:value|" of column c: reals as %.17g, texts and blobs as their
 * length and hex bytes. */
static void append_value(char *out, size_t cap, size_t *len, sqlite3_stmt *q, int c)
{
    int type = sqlite3_column_type(q, c);
    if (type == SQLITE_FLOAT) {
        *len += (size_t)snprintf(out + *len, cap - *len, "%d:%.17g|", type,
                                 sqlite3_column_double(q, c));
        return;
    }
    if (type == SQLITE_INTEGER) {
        *len += (size_t)snprintf(out + *len, cap - *len, "%d:%lld|", type,
                                 (long long)sqlite3_column_int64(q, c));
        return;
    }
    const unsigned char *p = sqlite3_column_blob(q, c);
    int n = sqlite3_column_bytes(q, c);
    *len += (size_t)snprintf(out + *len, cap - *len, "%d:%d:", type, n);
    for (int i = 0; i < n && *len + 8 < cap; i++)
        *len += (size_t)snprintf(out + *len, cap - *len, "%02x", p[i]);
    out[(*len)++] = '|';
}

/* Every table's rows, values and types, in key order. */
static char *dump(const char *name)
{
    sqlite3 *db = open_raw(name);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (int i = 0; i < cw_copy_ntables; i++) {
        char sql[1024];
        const cw_copy_table *t = &cw_copy_tables[i];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY %s", t->name, t->key);
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
        while (sqlite3_step(q) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(q); c++) {
                append_value(out, cap, &len, q, c);
                assert_true(len < cap - 64);
            }
            out[len++] = '\n';
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return out;
}

static void test_copy_keeps_types(void **state)
{
    (void)state;
    cw_store_close(open_store("src.db", 0));
    cw_store_close(open_store("dst.db", 0));
    plant("src.db");
    cw_store *src = open_store("src.db", 1), *dst = open_store("dst.db", 0);
    cw_db_digest a, b, c;
    assert_int_equal(cw_db_copy(src, dst, NULL, &a), CW_OK);
    assert_int_equal(cw_db_digest_compute(dst, &b, NULL, NULL), CW_OK);
    assert_int_equal(cw_db_digest_compute(src, &c, NULL, NULL), CW_OK);
    assert_memory_equal(a.all, b.all, CW_DIGEST_LEN);
    assert_memory_equal(a.all, c.all, CW_DIGEST_LEN);
    assert_int_equal(a.total_rows, 10);
    /* a second copy is refused: the destination has rows */
    assert_int_equal(cw_db_copy(src, dst, NULL, &c), CW_ERR_USAGE);
    assert_non_null(strstr(cw_store_errmsg(dst), "not empty"));
    cw_copy_opts o = {.replace = 1};
    assert_int_equal(cw_db_copy(src, dst, &o, &c), CW_OK);
    assert_memory_equal(a.all, c.all, CW_DIGEST_LEN);
    cw_store_close(src);
    cw_store_close(dst);
    char *da = dump("src.db"), *db = dump("dst.db");
    assert_string_equal(da, db);
    assert_non_null(strstr(da, "4:0:|"));       /* the empty blob stayed a blob */
    assert_non_null(strstr(da, "3:3:610062|")); /* "a\0b" kept its NUL */
    assert_non_null(strstr(da, "2:inf|"));
    free(da);
    free(db);
    /* one changed value: that table's digest and the whole one change */
    sqlite3 *raw = open_raw("dst.db");
    exec_raw(raw, "UPDATE goals SET baseline = 0.5 WHERE goal_id = 'g1'");
    sqlite3_close(raw);
    dst = open_store("dst.db", 1);
    assert_int_equal(cw_db_digest_compute(dst, &b, NULL, NULL), CW_OK);
    cw_store_close(dst);
    assert_memory_not_equal(a.all, b.all, CW_DIGEST_LEN);
    for (int i = 0; i < a.ntables; i++) {
        int same = memcmp(a.sha[i], b.sha[i], CW_DIGEST_LEN) == 0;
        assert_int_equal(same, strcmp(a.table[i], "goals") != 0);
    }
}

static void test_digest_hex(void **state)
{
    (void)state;
    cw_store_close(open_store("empty.db", 0));
    cw_store *st = open_store("empty.db", 1);
    cw_db_digest d;
    assert_int_equal(cw_db_digest_compute(st, &d, NULL, NULL), CW_OK);
    cw_store_close(st);
    char hex[2 * CW_DIGEST_LEN + 1];
    cw_db_digest_hex(d.sha[0], hex);
    /* an empty table: the SHA-256 of nothing */
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(d.total_rows, 0);
    assert_int_equal(d.ntables, cw_copy_ntables);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_covers_schema),
        cmocka_unit_test(test_copy_keeps_types),
        cmocka_unit_test(test_digest_hex),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
