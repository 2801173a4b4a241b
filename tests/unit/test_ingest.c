/*
 * test_ingest.c — ingest through the library on small hand-written exports:
 * exact stored values, idempotency, atomicity (a bad row anywhere leaves the
 * database content identical), --skip-bad with rejects, reference checks,
 * kind detection and order independence, JSON Lines = CSV, gzip.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "testutil.h"

#include "churnwatch.h"
#include "core/util.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dbpath[300];

static const char ACCOUNTS[] =
    "account_id,name,segment,owner,contract_start,seats,mrr_minor,currency,renewal_date,status,"
    "churn_date,churn_reason\n"
    "A1,\"Acme, Inc.\",smb,jo@cs.example,2025-01-01,10,25000,USD,2026-01-01,active,,\n"
    "A2,Beta,mid,,2025-02-01,20,80000,USD,,churned,2025-06-01,price\n";
static const char USERS[] =
    "user_id,account_id,email,role,department,provisioned_at,deactivated_at\n"
    "U1,A1,u1@a.example,admin,ops,2025-01-02T10:00:00Z,\n"
    "U2,A1,u2@a.example,analyst,ops,2025-01-03,\n"
    "U3,A2,u3@b.example,viewer,,2025-02-02,2025-05-01\n";
/* Day numbers: 2025-01-05 = 20093, 2025-01-06 = 20094. The +02:00 event at
 * 01:00 local is 2025-01-04T23:00Z, day 20092. */
static const char EVENTS[] = "ts,account_id,user_id,event,value,event_id\n"
                             "2025-01-05T10:00:00Z,A1,U1,login,,e1\n"
                             "2025-01-05T10:05:00Z,A1,U1,report_created,3,e2\n"
                             "2025-01-05T10:06:00Z,A1,U1,report_created,4.5,e3\n"
                             "2025-01-05T01:00:00+02:00,A1,U2,login,,\n"
                             "2025-01-06T10:00:00Z,A1,U1,login,,e4\n"
                             "2025-01-06T10:00:00Z,A1,,sync_run,,\n"
                             "1736200000,A2,U3,login,,\n";

static cw_store *open_db(void)
{
    cw_store *st = NULL;
    cw_error err = {CW_OK, ""};
    cw_status s = cw_store_open(dbpath, NULL, &st, &err);
    if (s != CW_OK)
        fail_msg("open: %s", err.msg);
    return st;
}

typedef struct msgs {
    int errors, warnings;
    char first[512];
} msgs;

static void on_msg(int warning, const char *m, void *ud)
{
    msgs *c = ud;
    if (warning) {
        c->warnings++;
    } else {
        if (!c->errors)
            snprintf(c->first, sizeof c->first, "%s", m);
        c->errors++;
    }
}

static cw_status ingest(const char **names, size_t n, int skip_bad, const char *rejects,
                        cw_ingest_stats *stats, msgs *m)
{
    const char *paths[16];
    for (size_t i = 0; i < n; i++)
        paths[i] = strdup(path_of(names[i]));
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.skip_bad = skip_bad;
    o.rejects_path = rejects ? path_of(rejects) : NULL;
    o.on_message = on_msg;
    o.ud = m;
    cw_store *st = open_db();
    cw_status s = cw_ingest_files(st, paths, n, &o, stats);
    cw_store_close(st);
    for (size_t i = 0; i < n; i++)
        free((void *)paths[i]);
    return s;
}

/* ingest() with options set by the caller (o->on_message and ud are set here). */
static cw_status ingest_o(const char **names, size_t n, cw_ingest_opts *o, cw_ingest_stats *stats,
                          msgs *m)
{
    const char *paths[16];
    for (size_t i = 0; i < n; i++)
        paths[i] = strdup(path_of(names[i]));
    o->on_message = on_msg;
    o->ud = m;
    cw_store *st = open_db();
    cw_status s = cw_ingest_files(st, paths, n, o, stats);
    cw_store_close(st);
    for (size_t i = 0; i < n; i++)
        free((void *)paths[i]);
    return s;
}

/* A fingerprint of every table's content (not the file's bytes, which WAL
 * checkpoints may shuffle): the hash of all rows in primary-key order. */
static uint64_t fingerprint(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sqlite3_stmt *t;
    uint64_t h = 1;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_master WHERE type='table' "
                                        "ORDER BY name",
                                        -1, &t, NULL),
                     SQLITE_OK);
    while (sqlite3_step(t) == SQLITE_ROW) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1,2,3",
                 (const char *)sqlite3_column_text(t, 0));
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
            snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1",
                     (const char *)sqlite3_column_text(t, 0));
            assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
        }
        h = cw_hash64(sql, strlen(sql), h);
        while (sqlite3_step(q) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(q); c++) {
                const unsigned char *v = sqlite3_column_text(q, c);
                h = cw_hash64(v ? (const char *)v : "\x01NULL", v ? strlen((const char *)v) : 5,
                              h + (uint64_t)c);
            }
        sqlite3_finalize(q);
    }
    sqlite3_finalize(t);
    sqlite3_close(db);
    return h;
}

static int64_t q_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -999;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static double q_real(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    double v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_double(q, 0) : -999;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* Finds the rollup cell(s) of a user (NULL = account-level) and event on a
 * day (-1 = any day, then the first found) through the store's scan. */
typedef struct cell_query {
    int64_t user, event, day;
    int64_t n, found_day, cells;
    double vsum;
} cell_query;

static cw_status on_day(int64_t account, int64_t day, const cw_event_cell *c, size_t n, void *ud)
{
    (void)account;
    cell_query *q = ud;
    for (size_t i = 0; i < n; i++)
        if (c[i].user == q->user && c[i].event == q->event && (q->day < 0 || q->day == day)) {
            if (!q->cells++)
                q->found_day = day;
            q->n += c[i].n;
            q->vsum += c[i].vsum;
        }
    return CW_OK;
}

static cell_query cell(const char *user, const char *event, int64_t day)
{
    char sql[256];
    cell_query q = {0, 0, day, 0, -1, 0, 0.0};
    if (user) {
        snprintf(sql, sizeof sql, "SELECT id FROM users WHERE user_id='%s'", user);
        q.user = q_int(sql);
    }
    snprintf(sql, sizeof sql, "SELECT id FROM event_names WHERE name='%s'", event);
    q.event = q_int(sql);
    cw_store *st = open_db();
    assert_int_equal(cw_store_get_ops(st)->scan_event_days(st, 0, INT64_MAX, on_day, &q), CW_OK);
    cw_store_close(st);
    return q;
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("ingest");
    snprintf(dbpath, sizeof dbpath, "%s/t.db", tmpdir);
    write_file("accounts.csv", ACCOUNTS);
    write_file("users.csv", USERS);
    write_file("events.csv", EVENTS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_tmpdir();
}

static int fresh(void **state)
{
    (void)state;
    char p[400];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    return 0;
}

static void test_values_exact(void **state)
{
    (void)state;
    /* Named in the "wrong" order: ingest applies accounts, users, events. */
    const char *names[] = {"events.csv", "users.csv", "accounts.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 3, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(m.errors, 0);
    assert_true(st.committed);
    assert_int_equal(st.rows_read[CW_KIND_ACCOUNTS], 2);
    assert_int_equal(st.rows_read[CW_KIND_USERS], 3);
    assert_int_equal(st.rows_read[CW_KIND_EVENTS], 7);
    assert_int_equal(st.rows_written[CW_KIND_EVENTS], 7);
    assert_int_equal(q_int("SELECT sum(events) FROM event_days"), 7);
    /* Account-days: A1 on 20092, 20093, 20094; A2 on 20094. */
    assert_int_equal(q_int("SELECT count(*) FROM event_days"), 4);
    /* U1 report_created on day 20093: two events, values 3 + 4.5. */
    cell_query c = cell("U1", "report_created", 20093);
    assert_int_equal(c.n, 2);
    assert_true(c.vsum == 7.5);
    assert_int_equal(c.cells, 1);
    /* U1 logins: one on 20093, one on 20094. */
    c = cell("U1", "login", -1);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.cells, 2);
    /* The +02:00 event lands on the previous UTC day. */
    assert_int_equal(cell("U2", "login", -1).found_day, 20092);
    /* Account-level event: user 0. */
    c = cell(NULL, "sync_run", -1);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.found_day, 20094);
    /* 1736200000 = 2025-01-06T21:46:40Z, day 20094. */
    assert_int_equal(cell("U3", "login", -1).found_day, 20094);
    assert_int_equal(q_int("SELECT contract_start FROM accounts WHERE account_id='A1'"),
                     1735689600);
    assert_int_equal(q_int("SELECT mrr_minor FROM accounts WHERE account_id='A2'"), 80000);
    assert_int_equal(q_int("SELECT count(*) FROM accounts WHERE name='Acme, Inc.'"), 1);
    assert_int_equal(q_int("SELECT deactivated_at FROM users WHERE user_id='U3'"), 1746057600);
    cw_store *s = open_db();
    cw_store_summary sm;
    assert_int_equal(cw_store_summarize(s, &sm), CW_OK);
    assert_int_equal(sm.events, 7);
    assert_int_equal(sm.accounts_active, 1);
    assert_int_equal(sm.accounts_churned, 1);
    assert_int_equal(sm.mrr_active_minor, 25000);
    assert_string_equal(sm.mrr_currency, "USD");
    assert_int_equal(sm.users_active, 2);
    cw_store_close(s);
}

static void test_idempotent(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv", "events.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 3, 0, NULL, &st, &m), CW_OK);
    uint64_t once = fingerprint();
    assert_int_equal(ingest(names, 3, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(fingerprint(), once);
    for (int k = 1; k < CW_KIND__COUNT; k++)
        assert_int_equal(st.rows_written[k], 0);
    assert_int_equal(st.duplicates, 7);
    assert_int_equal(st.rows_unchanged, 5);
    /* An overlapping export: two old events (one with id, one content-hashed)
     * and one new: only the new one counts. */
    write_file("overlap.csv", "ts,account_id,user_id,event,value,event_id\n"
                              "2025-01-05T10:00:00Z,A1,U1,login,,e1\n"
                              "2025-01-05T01:00:00+02:00,A1,U2,login,,\n"
                              "2025-01-07T09:00:00Z,A1,U2,login,,\n");
    const char *ov[] = {"overlap.csv"};
    assert_int_equal(ingest(ov, 1, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(st.rows_written[CW_KIND_EVENTS], 1);
    assert_int_equal(st.duplicates, 2);
    /* The new login merged into U2's cells: one on 20092, one on 20096. */
    cell_query c = cell("U2", "login", -1);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.cells, 2);
    assert_int_equal(q_int("SELECT sum(events) FROM event_days"), 8);
}

static void test_changed_row_updates(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 1, 0, NULL, &st, &m), CW_OK);
    write_file("accounts2.csv",
               "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
               "A1,\"Acme, Inc.\",smb,2025-01-01,12,30000,USD,active\n");
    const char *n2[] = {"accounts2.csv"};
    assert_int_equal(ingest(n2, 1, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(st.rows_written[CW_KIND_ACCOUNTS], 1);
    assert_int_equal(q_int("SELECT seats FROM accounts WHERE account_id='A1'"), 12);
    assert_int_equal(q_int("SELECT count(*) FROM accounts"), 2);
}

/* Each bad file must fail, name the line and field, and leave the content
 * exactly as it was. */
static void test_atomic_bad_rows(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv", "events.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 3, 0, NULL, &st, &m), CW_OK);
    uint64_t before = fingerprint();
    static const struct {
        const char *name, *text, *expect;
    } cases[] = {
        {"ev_bad_date.csv",
         "ts,account_id,user_id,event\n2025-01-08T10:00:00Z,A1,U1,login\n2025-02-30T10:00:00Z,A1,"
         "U1,login\n2025-01-08T11:00:00Z,A1,U1,login\n",
         "ev_bad_date.csv:3: field 'ts'"},
        {"ev_cols.csv",
         "ts,account_id,user_id,event\n2025-01-08T10:00:00Z,A1,U1,login\n2025-01-08,A1\n",
         "ev_cols.csv:3: expected 4 fields"},
        {"ev_unknown_acct.csv", "ts,account_id,user_id,event\n2025-01-08T10:00:00Z,A7,U1,login\n",
         "field 'account_id': unknown account 'A7'"},
        {"ev_wrong_user.csv", "ts,account_id,user_id,event\n2025-01-08T10:00:00Z,A1,U3,login\n",
         "belongs to another account"},
        {"acct_neg.csv",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nA9,X,smb,2025-01-"
         "01,-3,100,USD,active\n",
         "acct_neg.csv:2: field 'seats': must not be negative"},
        {"acct_utf8.csv",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nA9,Bad\xC3\x28,"
         "smb,2025-01-01,3,100,USD,active\n",
         "field 'name': is not valid UTF-8"},
        {"acct_dup.csv",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nA9,X,smb,2025-01-"
         "01,3,100,USD,active\nA9,Y,smb,2025-01-01,3,100,USD,active\n",
         "acct_dup.csv:3: field 'account_id': duplicate key, first seen at line 2"},
        {"acct_churn.csv",
         "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nA9,X,smb,2025-01-"
         "01,3,100,USD,churned\n",
         "field 'churn_date': is required when status is churned"},
        {"empty.csv", "", "empty.csv: empty file"},
        {"unknown.csv", "colour,shape\nred,square\n", "cannot tell the kind"},
        {"missing_col.csv", "ts,account_id,user_id,value\n2025-01-08T10:00:00Z,A1,U1,3\n",
         "candidates: events (needs event), users (needs provisioned_at), "
         "trainings (needs course, completed_at); give --kind or use a --preset/--source"},
        {"quote.csv", "ts,account_id,user_id,event\n2025-01-08T10:00:00Z,A1,U1,\"login\n",
         "unterminated quoted field"},
        {"users_bad_email.csv",
         "user_id,account_id,email,provisioned_at\nU9,A1,not-an-email,2025-01-01\n",
         "field 'email': is not an e-mail address"},
        {"bad.jsonl",
         "{\"ts\":\"2025-01-08T10:00:00Z\",\"account_id\":\"A1\",\"event\":\"x\"}\n{\"ts\": "
         "oops}\n",
         "bad.jsonl:2: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i].name, cases[i].text);
        const char *n1[] = {cases[i].name};
        msgs mm = {0};
        cw_status s = ingest(n1, 1, 0, NULL, &st, &mm);
        if (s == CW_OK)
            fail_msg("%s: expected failure", cases[i].name);
        assert_false(st.committed);
        if (!strstr(mm.first, cases[i].expect))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].name, mm.first, cases[i].expect);
        assert_true(fingerprint() == before);
    }
}

static void test_long_line(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 2, 0, NULL, &st, &m), CW_OK);
    uint64_t before = fingerprint();
    size_t n = 2u << 20;
    char *big = malloc(n + 200);
    assert_non_null(big);
    int h = snprintf(big, 200, "ts,account_id,user_id,event\n2025-01-08T10:00:00Z,A1,U1,");
    memset(big + h, 'x', n);
    memcpy(big + h + n, "\n2025-01-08T10:00:00Z,A1,U1,login\n", 35);
    write_file("long.csv", big);
    free(big);
    const char *n1[] = {"long.csv"};
    msgs mm = {0};
    assert_int_equal(ingest(n1, 1, 0, NULL, &st, &mm), CW_ERR_INPUT);
    assert_non_null(strstr(mm.first, "long.csv:2: record too long"));
    assert_true(fingerprint() == before);
}

static void test_skip_bad(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 2, 0, NULL, &st, &m), CW_OK);
    write_file("mixed.csv", "ts,account_id,user_id,event,value\n"
                            "2025-01-08T10:00:00Z,A1,U1,login,\n"
                            "2025-01-08T10:00:00Z,A1,U1,login,abc\n"
                            "2025-01-09T10:00:00Z,A1,U2,login,\n"
                            "2025-13-01T10:00:00Z,A1,U2,login,\n");
    const char *n1[] = {"mixed.csv"};
    msgs mm = {0};
    assert_int_equal(ingest(n1, 1, 1, "rejects.jsonl", &st, &mm), CW_OK);
    assert_true(st.committed);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(st.rows_written[CW_KIND_EVENTS], 2);
    assert_int_equal(q_int("SELECT sum(events) FROM event_days"), 2);
    FILE *f = fopen(path_of("rejects.jsonl"), "r");
    assert_non_null(f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        assert_non_null(strstr(line, "\"file\":"));
        assert_non_null(strstr(line, lines == 1 ? "\"line\":3" : "\"line\":5"));
        assert_non_null(strstr(line, lines == 1 ? "\"field\":\"value\"" : "\"field\":\"ts\""));
    }
    fclose(f);
    assert_int_equal(lines, 2);
}

/* Users from events: with provision_users, a row naming an unknown user
 * creates it (account from the row, provisioned_at = its earliest event,
 * lowered when an earlier one comes later in the run or in a later run);
 * a users export then fills in its fields without duplicating it; unknown
 * accounts stay errors. Times: 2025-01-01 = 1735689600. */
static void test_provision_users(void **state)
{
    (void)state;
    const char *acc[] = {"accounts.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(acc, 1, 0, NULL, &st, &m), CW_OK);
    write_file("ev_prov.csv", "ts,account_id,user_id,event\n"
                              "2025-01-10T10:00:00Z,A1,P1,login\n"
                              "2025-01-05T08:00:00Z,A1,P1,login\n"
                              "2025-01-07T00:00:00Z,A1,P2,login\n"
                              "2025-01-07T00:00:00Z,A1,,sync\n");
    const char *ev[] = {"ev_prov.csv"};
    cw_ingest_opts o;
    /* Off (the default): unknown users are errors and nothing lands. */
    cw_ingest_opts_init(&o);
    msgs m0 = {0};
    assert_int_equal(ingest_o(ev, 1, &o, &st, &m0), CW_ERR_INPUT);
    assert_int_equal(st.rejected, 3);
    assert_non_null(strstr(m0.first, "ev_prov.csv:2: field 'user_id': unknown user 'P1'"));
    assert_int_equal(q_int("SELECT count(*) FROM users"), 0);
    /* On: P1 and P2 created once each; P1 at its earlier event (line 3). */
    cw_ingest_opts_init(&o);
    o.provision_users = 1;
    msgs m1 = {0};
    assert_int_equal(ingest_o(ev, 1, &o, &st, &m1), CW_OK);
    assert_int_equal(st.provisioned_users, 2);
    assert_int_equal(st.rows_written[CW_KIND_EVENTS], 4);
    assert_int_equal(q_int("SELECT count(*) FROM users"), 2);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P1'"), 1736064000);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P2'"), 1736208000);
    assert_int_equal(q_int("SELECT count(*) FROM users u JOIN accounts a ON a.id = u.account"
                           " WHERE a.account_id = 'A1' AND u.provisional = 1"),
                     2);
    /* A later run with an earlier event of P1 lowers it; P2 stays. */
    write_file("ev_prov2.csv", "ts,account_id,user_id,event\n"
                               "2025-01-03T00:00:00Z,A1,P1,report\n"
                               "2025-01-09T00:00:00Z,A1,P2,report\n");
    const char *ev2[] = {"ev_prov2.csv"};
    msgs m2 = {0};
    assert_int_equal(ingest_o(ev2, 1, &o, &st, &m2), CW_OK);
    assert_int_equal(st.provisioned_users, 0);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P1'"), 1735862400);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P2'"), 1736208000);
    /* The users export: same users, its fields; never a duplicate. */
    write_file("users_prov.csv", "user_id,account_id,email,role,department,provisioned_at\n"
                                 "P1,A1,p1@a.example,admin,ops,2025-01-01\n");
    const char *us[] = {"users_prov.csv"};
    msgs m3 = {0};
    assert_int_equal(ingest(us, 1, 0, NULL, &st, &m3), CW_OK);
    assert_int_equal(q_int("SELECT count(*) FROM users"), 2);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P1'"), 1735689600);
    assert_int_equal(q_int("SELECT provisional FROM users WHERE user_id='P1'"), 0);
    assert_int_equal(q_int("SELECT count(*) FROM users WHERE user_id='P1' AND"
                           " email='p1@a.example' AND role='admin'"),
                     1);
    /* The export's provisioned_at is the truth: an earlier event no longer
     * lowers it; P2, still provisional, is lowered (2025-01-02). */
    write_file("ev_prov3.csv", "ts,account_id,user_id,event\n"
                               "2024-12-31T00:00:00Z,A1,P1,login\n"
                               "2025-01-02T00:00:00Z,A1,P2,login\n");
    const char *ev3[] = {"ev_prov3.csv"};
    msgs m4 = {0};
    assert_int_equal(ingest_o(ev3, 1, &o, &st, &m4), CW_OK);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P1'"), 1735689600);
    assert_int_equal(q_int("SELECT provisioned_at FROM users WHERE user_id='P2'"), 1735776000);
    /* Unknown accounts stay errors. */
    write_file("ev_prov4.csv", "ts,account_id,user_id,event\n2025-01-05T00:00:00Z,A9,P3,login\n");
    const char *ev4[] = {"ev_prov4.csv"};
    msgs m5 = {0};
    assert_int_equal(ingest_o(ev4, 1, &o, &st, &m5), CW_ERR_INPUT);
    assert_non_null(strstr(m5.first, "unknown account 'A9'"));
    assert_int_equal(q_int("SELECT count(*) FROM users"), 2);
}

/* Quarantine: with skip_bad and quarantine the bad rows are kept in the
 * store with their reasons (and the rejects file) while the good land; a
 * clean run afterwards is "the last run" with 0. */
static void test_quarantine(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 2, 0, NULL, &st, &m), CW_OK);
    write_file("q.csv", "ts,account_id,user_id,event,value\n"
                        "2025-01-08T10:00:00Z,A1,U1,login,\n"
                        "2025-01-08T10:00:00Z,A1,U1,login,abc\n"
                        "2025-01-09T10:00:00Z,A1,U2,login,\n"
                        "2025-13-01T10:00:00Z,A1,U2,login,\n");
    const char *q[] = {"q.csv"};
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.skip_bad = o.quarantine = 1;
    o.rejects_path = path_of("q_rejects.jsonl");
    msgs m1 = {0};
    assert_int_equal(ingest_o(q, 1, &o, &st, &m1), CW_OK);
    assert_int_equal(st.quarantined, 2);
    assert_int_equal(st.rows_written[CW_KIND_EVENTS], 2);
    assert_int_equal(q_int("SELECT count(*) FROM quarantine"), 2);
    assert_int_equal(q_int("SELECT count(*) FROM quarantine WHERE line=3 AND field='value' AND"
                           " error='is not a number: ''abc''' AND"
                           " record='2025-01-08T10:00:00Z,A1,U1,login,abc'"),
                     1);
    assert_int_equal(q_int("SELECT count(*) FROM quarantine WHERE line=5 AND field='ts' AND"
                           " error='''2025-13-01T10:00:00Z'' is an impossible date'"),
                     1);
    assert_int_equal(q_int("SELECT rows*10 + quarantined FROM quarantine_runs"), 42);
    cw_store *s = open_db();
    cw_quarantine_counts qc;
    assert_int_equal(cw_quarantine_counts_get(s, &qc), CW_OK);
    assert_int_equal(qc.total, 2);
    assert_int_equal(qc.last_run, 2);
    assert_int_equal(qc.runs, 1);
    cw_store_close(s);
    /* Without quarantine (plain skip_bad), nothing is kept in the store. */
    cw_ingest_opts_init(&o);
    o.skip_bad = 1;
    msgs m2 = {0};
    assert_int_equal(ingest_o(q, 1, &o, &st, &m2), CW_OK);
    assert_int_equal(st.quarantined, 0);
    assert_int_equal(q_int("SELECT count(*) FROM quarantine"), 2);
    /* A clean quarantining run: the last run kept 0. */
    o.quarantine = 1;
    const char *ev[] = {"events.csv"};
    msgs m3 = {0};
    assert_int_equal(ingest_o(ev, 1, &o, &st, &m3), CW_OK);
    s = open_db();
    assert_int_equal(cw_quarantine_counts_get(s, &qc), CW_OK);
    assert_int_equal(qc.total, 2);
    assert_int_equal(qc.last_run, 0);
    assert_int_equal(qc.runs, 2);
    cw_store_close(s);
}

/* Money says its unit: *_major is read in the currency's major units, a
 * bare mrr is a file error saying how to declare it; mrr_cents is minor. */
static void test_money_units(void **state)
{
    (void)state;
    write_file("acc_major.csv", "account_id,name,segment,contract_start,seats,mrr_major,currency,"
                                "status\n"
                                "M1,One,smb,2025-01-01,1,\"$1,200.50\",USD,active\n"
                                "M2,Two,smb,2025-01-01,1,1000,JPY,active\n"
                                "M3,Three,smb,2025-01-01,1,10.5,USD,active\n");
    const char *a[] = {"acc_major.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(a, 1, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(q_int("SELECT mrr_minor FROM accounts WHERE account_id='M1'"), 120050);
    assert_int_equal(q_int("SELECT mrr_minor FROM accounts WHERE account_id='M2'"), 1000);
    assert_int_equal(q_int("SELECT mrr_minor FROM accounts WHERE account_id='M3'"), 1050);
    write_file("acc_cents.csv", "account_id,name,segment,contract_start,seats,mrr_cents,currency,"
                                "status\nM4,Four,smb,2025-01-01,1,1000,USD,active\n");
    const char *c[] = {"acc_cents.csv"};
    assert_int_equal(ingest(c, 1, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(q_int("SELECT mrr_minor FROM accounts WHERE account_id='M4'"), 1000);
    uint64_t before = fingerprint();
    write_file("acc_bare.csv", "account_id,name,segment,contract_start,seats,mrr,currency,status\n"
                               "M5,Five,smb,2025-01-01,1,10,USD,active\n");
    const char *b[] = {"acc_bare.csv"};
    msgs mb = {0};
    assert_int_equal(ingest(b, 1, 0, NULL, &st, &mb), CW_ERR_INPUT);
    assert_int_equal(mb.errors, 1); /* not also "missing required column" */
    assert_non_null(strstr(mb.first, "acc_bare.csv:1: column 'mrr' is money without a unit: name "
                                     "it mrr_minor (minor units, e.g. cents) or mrr_major (major "
                                     "units, e.g. dollars), or declare the unit in a "
                                     "[source.NAME] mapping (mrr_minor.unit = major"));
    write_file("subs_bare.jsonl", "{\"account_id\":\"M1\",\"effective_at\":\"2025-01-01\","
                                  "\"mrr\":10,\"currency\":\"USD\",\"seats\":1}\n");
    const char *sb[] = {"subs_bare.jsonl"};
    msgs ms = {0};
    assert_int_equal(ingest(sb, 1, 0, NULL, &st, &ms), CW_ERR_INPUT);
    assert_non_null(strstr(ms.first, "subs_bare.jsonl:1: key 'mrr' is money without a unit"));
    write_file("journey_bare.csv",
               "visitor_id,stage,at,cost,currency\nv1,visit,2025-01-01,5,USD\n");
    const char *jb[] = {"journey_bare.csv"};
    msgs mj = {0};
    assert_int_equal(ingest(jb, 1, 0, NULL, &st, &mj), CW_ERR_INPUT);
    assert_non_null(strstr(mj.first, "column 'cost' is money without a unit: name it cost_minor"));
    write_file("acc_badmajor.csv",
               "account_id,name,segment,contract_start,seats,mrr_major,currency,"
               "status\nM6,Six,smb,2025-01-01,1,\"12,00\",USD,active\n");
    const char *bm[] = {"acc_badmajor.csv"};
    msgs mm = {0};
    assert_int_equal(ingest(bm, 1, 0, NULL, &st, &mm), CW_ERR_INPUT);
    assert_non_null(strstr(mm.first, "field 'mrr_minor': '12,00' is not an amount of money"));
    write_file("acc_year.csv", "account_id,name,segment,contract_start,seats,mrr_minor,currency,"
                               "status\nM7,Seven,smb,2025,1,100,USD,active\n");
    const char *y[] = {"acc_year.csv"};
    msgs my = {0};
    assert_int_equal(ingest(y, 1, 0, NULL, &st, &my), CW_ERR_INPUT);
    assert_non_null(strstr(
        my.first, "acc_year.csv:2: field 'contract_start': '2025' is not a date or timestamp"));
    assert_int_equal(fingerprint(), before);
}

static void test_jsonl_equals_csv(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv", "events.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 3, 0, NULL, &st, &m), CW_OK);
    uint64_t csv = fingerprint();
    fresh(NULL);
    write_file(
        "accounts.jsonl",
        "{\"account_id\":\"A1\",\"name\":\"Acme, "
        "Inc.\",\"segment\":\"smb\",\"owner\":\"jo@cs.example\","
        "\"contract_start\":\"2025-01-01\",\"seats\":10,\"mrr_minor\":25000,\"currency\":\"USD\","
        "\"renewal_date\":\"2026-01-01\",\"status\":\"active\",\"churn_date\":null}\n"
        "\r\n"
        "{\"account_id\":\"A2\",\"name\":\"Beta\",\"segment\":\"mid\",\"contract_start\":\"2025-02-"
        "01\","
        "\"seats\":20,\"mrr_minor\":80000,\"currency\":\"USD\",\"status\":\"churned\","
        "\"churn_date\":\"2025-06-01\",\"churn_reason\":\"price\"}\n");
    write_file("events.jsonl",
               "{\"ts\":\"2025-01-05T10:00:00Z\",\"account_id\":\"A1\",\"user_id\":\"U1\","
               "\"event\":\"login\",\"event_id\":\"e1\"}\n"
               "{\"ts\":\"2025-01-05T10:05:00Z\",\"account_id\":\"A1\",\"user_id\":\"U1\","
               "\"event\":\"report_created\",\"value\":3,\"event_id\":\"e2\"}\n"
               "{\"ts\":\"2025-01-05T10:06:00Z\",\"account_id\":\"A1\",\"user_id\":\"U1\","
               "\"event\":\"report_created\",\"value\":4.5,\"event_id\":\"e3\"}\n"
               "{\"ts\":\"2025-01-05T01:00:00+02:00\",\"account_id\":\"A1\",\"user_id\":\"U2\","
               "\"event\":\"login\"}\n"
               "{\"ts\":\"2025-01-06T10:00:00Z\",\"account_id\":\"A1\",\"user_id\":\"U1\","
               "\"event\":\"login\",\"event_id\":\"e4\"}\n"
               "{\"ts\":\"2025-01-06T10:00:00Z\",\"account_id\":\"A1\",\"user_id\":null,\"event\":"
               "\"sync_run\"}\n"
               "{\"ts\":1736200000,\"account_id\":\"A2\",\"user_id\":\"U3\",\"event\":\"login\","
               "\"extra\":1}\n");
    const char *n2[] = {"events.jsonl", "accounts.jsonl", "users.csv"};
    msgs mm = {0};
    assert_int_equal(ingest(n2, 3, 0, NULL, &st, &mm), CW_OK);
    assert_int_equal(mm.errors, 0);
    assert_int_equal(mm.warnings, 1); /* the unknown "extra" key */
    /* The ingest log differs (paths); compare the data itself. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM ingest_log", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    uint64_t j = fingerprint();
    fresh(NULL);
    assert_int_equal(ingest(names, 3, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM ingest_log", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_true(fingerprint() == j);
    (void)csv;
}

static void test_gzip_and_truncated(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv", "users.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 2, 0, NULL, &st, &m), CW_OK);
    uint64_t before = fingerprint();
    /* A gzip big enough that cutting it leaves a partial stream. */
    gzFile gz = gzopen(path_of("ev.csv.gz"), "wb");
    assert_non_null(gz);
    gzputs(gz, "ts,account_id,user_id,event,event_id\n");
    for (int i = 0; i < 20000; i++)
        gzprintf(gz, "2025-01-%02dT10:%02d:00Z,A1,U%d,login,g%d\n", 5 + i % 20, i % 60, 1 + i % 2,
                 i);
    gzclose(gz);
    FILE *f = fopen(path_of("ev.csv.gz"), "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    f = fopen(path_of("trunc.csv.gz"), "wb");
    fwrite(buf, 1, (size_t)size / 2, f);
    fclose(f);
    free(buf);
    const char *t1[] = {"trunc.csv.gz"};
    msgs mm = {0};
    assert_int_not_equal(ingest(t1, 1, 1, NULL, &st, &mm), CW_OK);
    assert_non_null(strstr(mm.first, "gzip"));
    assert_true(fingerprint() == before);
    const char *g1[] = {"ev.csv.gz"};
    assert_int_equal(ingest(g1, 1, 0, NULL, &st, &m), CW_OK);
    assert_int_equal(q_int("SELECT sum(events) FROM event_days"), 20000);
}

static void test_all_kinds(void **state)
{
    (void)state;
    write_file("subs.csv", "account_id,effective_at,mrr_minor,currency,seats,plan,billing_period\n"
                           "A1,2025-01-01,25000,USD,10,team,monthly\n"
                           "A2,2025-02-01,80000,USD,20,business,annual\n"
                           "A2,2025-06-01,0,USD,0,,\n");
    write_file("features.csv", "event,feature,tier,milestone,milestone_due_day,first_value\n"
                               "login,Login,basic,,,false\n"
                               "report_created,Reports,basic,first report,30,true\n");
    write_file("trainings.csv",
               "user_id,account_id,course,completed_at\nU1,A1,Basics,2025-01-10\n");
    write_file("tickets.csv", "ticket_id,account_id,user_id,opened_at,closed_at,category,priority,"
                              "satisfaction\nT1,A1,U1,2025-01-10T09:00:00Z,2025-01-10T12:00:00Z,"
                              "introductory,normal,4\nT2,A1,,2025-01-11T09:00:00Z,,bug,high,\n");
    write_file("surveys.csv",
               "survey_id,account_id,user_id,type,sent_at,responded_at,score,reason,"
               "comment\nS1,A1,U1,nps,2025-03-01,2025-03-02,9,,\"great, \"\"really\"\"\"\n"
               "S2,A1,U2,nps,2025-03-01,,,,\nS3,A2,,exit,,2025-06-01,,price,too expensive\n");
    write_file("goals.csv",
               "goal_id,account_id,metric,unit,baseline,target,start_date,target_date\n"
               "G1,A1,logistics cost savings,%,0,30,2025-01-01,2026-01-01\n");
    write_file("gm.csv", "goal_id,measured_at,kind,value\nG1,2025-04-01,actual,2.5\n"
                         "G1,2025-04-01,expected,5\n");
    write_file("journey.csv", "visitor_id,stage,at,source,campaign,cost_minor,currency,account_id\n"
                              "V1,visit,2024-12-01,paid_search,winter,150,USD,\n"
                              "V1,lead,2024-12-03,paid_search,winter,,,\n"
                              "V1,paid,2025-01-01,paid_search,winter,,,A1\n");
    const char *names[] = {"journey.csv", "gm.csv",        "goals.csv",    "surveys.csv",
                           "tickets.csv", "trainings.csv", "features.csv", "subs.csv",
                           "users.csv",   "accounts.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 10, 0, NULL, &st, &m), CW_OK);
    int64_t expect[CW_KIND__COUNT] = {0, 2, 3, 3, 2, 0, 1, 2, 3, 1, 2, 3};
    for (int k = 1; k < CW_KIND__COUNT; k++)
        if (k != CW_KIND_EVENTS)
            assert_int_equal(st.rows_written[k], expect[k]);
    assert_int_equal(q_int("SELECT count(*) FROM surveys WHERE comment='great, \"really\"'"), 1);
    assert_int_equal(q_int("SELECT count(*) FROM surveys WHERE responded_at IS NULL"), 1);
    assert_true(q_real("SELECT value FROM goal_measurements WHERE kind='expected'") == 5.0);
    assert_int_equal(q_int("SELECT first_value FROM features WHERE event='report_created'"), 1);
    assert_int_equal(q_int("SELECT cost_minor FROM journey WHERE stage='visit'"), 150);
    /* A measurement of an unknown goal is rejected. */
    write_file("gm2.csv", "goal_id,measured_at,kind,value\nG9,2025-04-01,actual,1\n");
    const char *n2[] = {"gm2.csv"};
    msgs mm = {0};
    assert_int_equal(ingest(n2, 1, 0, NULL, &st, &mm), CW_ERR_INPUT);
    assert_non_null(strstr(mm.first, "unknown goal 'G9'"));
}

/* After the first bad row nothing is written, yet later files that refer to
 * rows of the failed run must not be reported as unknown references: the
 * user sees the one real error, not a cascade. */
static void test_no_error_cascade(void **state)
{
    (void)state;
    write_file("acc_bad.csv",
               "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
               "A1,X,smb,2025-01-01,3,100,USD,active\n"
               "A2,Y,smb,2025-01-01,-1,100,USD,active\n"
               "A3,Z,smb,2025-01-01,3,100,USD,active\n");
    write_file("users3.csv",
               "user_id,account_id,provisioned_at\nU1,A1,2025-01-01\nU3,A3,2025-01-01\n");
    write_file("goals3.csv", "goal_id,account_id,metric,baseline,target,start_date,target_date\n"
                             "G1,A3,cost,0,10,2025-01-01,2025-12-31\n");
    write_file("gm3.csv", "goal_id,measured_at,value\nG1,2025-03-01,2\n");
    write_file("ev3.csv", "ts,account_id,user_id,event\n2025-01-05T10:00:00Z,A3,U3,login\n");
    const char *names[] = {"gm3.csv", "ev3.csv", "goals3.csv", "users3.csv", "acc_bad.csv"};
    cw_ingest_stats st;
    msgs m = {0};
    assert_int_equal(ingest(names, 5, 0, NULL, &st, &m), CW_ERR_INPUT);
    assert_int_equal(m.errors, 1);
    if (!strstr(m.first, "acc_bad.csv:3: field 'seats'"))
        fail_msg("got: %s", m.first);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(q_int("SELECT count(*) FROM accounts"), 0);
}

static void test_stdin_needs_kind(void **state)
{
    (void)state;
    const char *names[] = {"-"};
    cw_ingest_stats st;
    msgs m = {0};
    cw_store *s = open_db();
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.on_message = on_msg;
    o.ud = &m;
    assert_int_equal(cw_ingest_files(s, names, 1, &o, &st), CW_ERR_USAGE);
    assert_non_null(strstr(m.first, "--kind"));
    cw_store_close(s);
}

/* Every error message of one ingest, one per line. */
typedef struct all_msgs {
    char text[4096];
} all_msgs;

static void on_all(int warning, const char *m, void *ud)
{
    all_msgs *a = ud;
    size_t l = strlen(a->text);
    if (!warning)
        snprintf(a->text + l, sizeof a->text - l, "%s\n", m);
}

/* A full disk (issue 22): the database cannot grow (PRAGMA max_page_count,
 * SQLite's SQLITE_FULL, as ENOSPC gives) in the middle of an ingest. The
 * error says "disk full" with the failing operation, the rollback after it
 * does not replace it ("cannot rollback - no transaction is active"), and
 * the database keeps what it had. */
static void test_disk_full_reported(void **state)
{
    (void)state;
    const char *base[] = {"accounts.csv", "users.csv"};
    cw_ingest_stats stats;
    msgs m0 = {0};
    assert_int_equal(ingest(base, 2, 0, NULL, &stats, &m0), CW_OK);
    FILE *f = fopen(path_of("many_events.csv"), "w");
    assert_non_null(f);
    fputs("ts,account_id,user_id,event,value,event_id\n", f);
    for (int i = 0; i < 20000; i++)
        fprintf(f, "2025-01-%02dT10:%02d:%02dZ,A1,U1,report_created,%d,ev-%d-padding-padding\n",
                1 + i % 28, i / 60 % 60, i % 60, i, i);
    fclose(f);
    cw_store *st = open_db();
    sqlite3 *db = cw_store_sqlite(st);
    int pages = (int)q_int("PRAGMA page_count");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%d", pages + 4);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    const char *paths[] = {path_of("many_events.csv")};
    all_msgs a = {""};
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.on_message = on_all;
    o.ud = &a;
    cw_status s = cw_ingest_files(st, paths, 1, &o, &stats);
    assert_int_equal(s, CW_ERR_DB);
    assert_false(stats.committed);
    if (!strstr(a.text, "disk full: ") || strstr(a.text, "rollback"))
        fail_msg("messages: %s", a.text);
    if (!strstr(cw_store_errmsg(st), "disk full: "))
        fail_msg("errmsg: %s", cw_store_errmsg(st));
    /* The store still works on that connection once there is room again. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL),
                     SQLITE_OK);
    cw_store_close(st);
    assert_int_equal(q_int("SELECT count(*) FROM event_days"), 0);
    assert_int_equal(q_int("SELECT count(*) FROM ingest_log WHERE path LIKE '%many_events%'"), 0);
    assert_int_equal(q_int("SELECT count(*) FROM accounts"), 2);
    st = open_db();
    db = cw_store_sqlite(st);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    cw_store_close(st);
}

/* A rejects file that cannot be written (here /dev/full: ENOSPC) fails the
 * ingest with the system's reason, and nothing is committed. */
static void test_rejects_write_error(void **state)
{
    (void)state;
    write_file("bad_rows.csv", "account_id,name,segment,contract_start,seats,mrr_minor,currency,"
                               "status\nB1,B,smb,2025-01-01,many,100,USD,active\n");
    const char *paths[] = {path_of("bad_rows.csv")};
    all_msgs a = {""};
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.skip_bad = 1;
    o.rejects_path = "/dev/full";
    o.on_message = on_all;
    o.ud = &a;
    cw_ingest_stats stats;
    cw_store *st = open_db();
    assert_int_equal(cw_ingest_files(st, paths, 1, &o, &stats), CW_ERR_IO);
    cw_store_close(st);
    if (!strstr(a.text, "/dev/full") || !strstr(a.text, strerror(ENOSPC)))
        fail_msg("messages: %s", a.text);
    assert_int_equal(q_int("SELECT count(*) FROM accounts"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_values_exact, fresh),
        cmocka_unit_test_setup(test_idempotent, fresh),
        cmocka_unit_test_setup(test_changed_row_updates, fresh),
        cmocka_unit_test_setup(test_atomic_bad_rows, fresh),
        cmocka_unit_test_setup(test_long_line, fresh),
        cmocka_unit_test_setup(test_skip_bad, fresh),
        cmocka_unit_test_setup(test_jsonl_equals_csv, fresh),
        cmocka_unit_test_setup(test_gzip_and_truncated, fresh),
        cmocka_unit_test_setup(test_all_kinds, fresh),
        cmocka_unit_test_setup(test_no_error_cascade, fresh),
        cmocka_unit_test_setup(test_stdin_needs_kind, fresh),
        cmocka_unit_test_setup(test_provision_users, fresh),
        cmocka_unit_test_setup(test_quarantine, fresh),
        cmocka_unit_test_setup(test_money_units, fresh),
        cmocka_unit_test_setup(test_disk_full_reported, fresh),
        cmocka_unit_test_setup(test_rejects_write_error, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
