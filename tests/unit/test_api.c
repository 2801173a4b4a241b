/*
 * test_api.c — API tokens (lib/store/sql/store_tokens.c) and the read models
 * of the JSON API (lib/store/sql/store_api.c) on a hand-made store: four
 * accounts with scores and predictions whose order, counts, MRR at risk,
 * renewal window and goal trajectory are worked out below by hand, the
 * in-memory list (cache) against the SQL-only path, and the alerts
 * functions with and without an alerts table.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/api.h"
#include "store/sqlite/sqlite_int.h"
#include "testutil.h"

#include <sqlite3.h>

static cw_store *st;

static void exec(const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(cw_store_sqlite(st), sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

/* Day 20000 = 2024-10-04. Accounts (mrr, renewal day, score, colour, p):
 *   A1  10000  20010  30 red    0.60
 *   A2  20000  20100  55 yellow 0.40
 *   A3  30000  none   80 green  (no prediction)
 *   A4   5000  20005  35 red    0.60
 * Risk order (p desc, then score asc, then id): A1 (p .6, score 30),
 * A4 (p .6, score 35), A2 (.4), A3 (no p). MRR at risk: A1 6000, A4 3000,
 * A2 8000. Renewal within 7 days of day 20000: A4 (day 20005) only;
 * within 30: A1, A4. */
static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("api");
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_store_open(path_of("a.db"), NULL, &st, &err), CW_OK);
    exec("INSERT INTO accounts(id, account_id, name, segment, owner, contract_start, seats,"
         " mrr_minor, currency, renewal_date, status) VALUES"
         " (1, 'A1', 'Alpha', 'smb', 'ann', 0, 5, 10000, 'EUR', 20010*86400, 'active'),"
         " (2, 'A2', 'Beta', 'ent', 'bob', 0, 50, 20000, 'EUR', 20100*86400, 'active'),"
         " (3, 'A3', 'Gamma', 'smb', 'ann', 0, 9, 30000, 'EUR', NULL, 'active'),"
         " (4, 'A4', 'Delta Group', 'smb', NULL, 0, 2, 5000, 'EUR', 20005*86400, 'trial');"
         "INSERT INTO scores(day, account, scorecard, score, colour, change, contrib) VALUES"
         " (19993, 1, 'h', 50, 1, NULL, '{}'), (20000, 1, 'h', 30, 2, -20, '{\"usage\": -12}'),"
         " (20000, 2, 'h', 55, 1, 0, '{}'),"
         " (20000, 3, 'h', 80, 0, 5, '{\"usage\": 3, \"support\": -7.4}'),"
         " (20000, 4, 'h', 35, 2, NULL, '{}');"
         "INSERT INTO models(id, name, kind, created_at, active, meta, body)"
         " VALUES (7, 'm', 'logreg', 0, 1, '{}', x'00');"
         "INSERT INTO predictions(day, account, model, probability, drivers) VALUES"
         " (20000, 1, 7, 0.6, '[{\"metric\":\"active_users\",\"text\":\"Active users fell\"}]'),"
         " (20000, 2, 7, 0.4, '[]'), (20000, 4, 7, 0.6, '[]');"
         /* Goal: baseline 10 on day 19990, target 30 on day 20010: on day
          * 20000 (half way) the expected value is 20. */
         "INSERT INTO goals(goal_id, account, metric, unit, baseline, target, start_date,"
         " target_date) VALUES ('G1', 1, 'savings', '%', 10, 30, 19990*86400, 20010*86400);"
         "INSERT INTO goal_measurements(goal_id, measured_at, kind, value) VALUES"
         " ('G1', 19995*86400, 'actual', 12), ('G1', 19999*86400, 'actual', 17);");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cw_store_close(st);
    return tu_remove_tmpdir();
}

static cw_status list_ids(cw_api_cache *c, const cw_api_accounts_q *q, char *ids, size_t n,
                          int64_t *total)
{
    json_t *out = NULL;
    cw_status s = cw_api_accounts(st, c, q, &out);
    if (s != CW_OK)
        return s;
    ids[0] = '\0';
    size_t i, o = 0;
    json_t *it;
    json_array_foreach (json_object_get(out, "items"), i, it)
        o += (size_t)snprintf(ids + o, n - o, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(it, "id")));
    *total = json_integer_value(json_object_get(out, "total"));
    json_decref(out);
    return CW_OK;
}

/* Every query is asked of the SQL path and of the cache: same answer. */
static void expect_list(cw_api_cache *c, const cw_api_accounts_q *q, const char *want,
                        int64_t want_total)
{
    char a[256], b[256];
    int64_t ta, tb;
    assert_int_equal(list_ids(NULL, q, a, sizeof a, &ta), CW_OK);
    assert_int_equal(list_ids(c, q, b, sizeof b, &tb), CW_OK);
    assert_string_equal(a, want);
    assert_string_equal(b, want);
    assert_int_equal(ta, want_total);
    assert_int_equal(tb, want_total);
}

static void test_accounts_list(void **state)
{
    (void)state;
    cw_api_cache *c = cw_api_cache_new();
    cw_api_accounts_q q;
    cw_api_accounts_q_init(&q);
    expect_list(c, &q, "A1,A4,A2,A3", 4);
    q.desc = 0; /* least risky first: no prediction still last */
    expect_list(c, &q, "A2,A4,A1,A3", 4);
    cw_api_accounts_q_init(&q);
    q.colour = 2;
    expect_list(c, &q, "A1,A4", 2);
    cw_api_accounts_q_init(&q);
    q.sort = "mrr_at_risk";
    expect_list(c, &q, "A2,A1,A4,A3", 4);
    q.sort = "name";
    expect_list(c, &q, "A1,A2,A4,A3", 4); /* Alpha, Beta, Delta Group, Gamma */
    q.sort = "renewal";
    expect_list(c, &q, "A4,A1,A2,A3", 4);
    q.sort = "change";
    q.desc = 1;
    expect_list(c, &q, "A3,A2,A1,A4", 4);
    cw_api_accounts_q_init(&q);
    q.renewal_days = 7;
    expect_list(c, &q, "A4", 1);
    q.renewal_days = 30;
    expect_list(c, &q, "A1,A4", 2);
    cw_api_accounts_q_init(&q);
    q.owner = "ann";
    expect_list(c, &q, "A1,A3", 2);
    cw_api_accounts_q_init(&q);
    q.search = "GROUP";
    expect_list(c, &q, "A4", 1);
    cw_api_accounts_q_init(&q);
    q.status = "trial";
    expect_list(c, &q, "A4", 1);
    cw_api_accounts_q_init(&q);
    q.limit = 2;
    q.offset = 1;
    expect_list(c, &q, "A4,A2", 4);

    /* The row itself: MRR at risk rounded, days to renewal, sparkline. */
    cw_api_accounts_q_init(&q);
    json_t *out;
    assert_int_equal(cw_api_accounts(st, c, &q, &out), CW_OK);
    json_t *a1 = json_array_get(json_object_get(out, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(a1, "mrr_at_risk_minor")), 6000);
    assert_int_equal(json_integer_value(json_object_get(a1, "days_to_renewal")), 10);
    assert_string_equal(json_string_value(json_object_get(a1, "colour")), "red");
    assert_string_equal(json_string_value(json_object_get(a1, "top_driver")), "Active users fell");
    json_t *tr = json_object_get(a1, "trend");
    assert_int_equal(json_array_size(tr), 2);
    assert_true(json_real_value(json_array_get(tr, 0)) == 50.0);
    assert_true(json_real_value(json_array_get(tr, 1)) == 30.0);
    assert_string_equal(json_string_value(json_object_get(out, "as_of")), "2024-10-04");
    /* No prediction: the measure that cost the most points. */
    json_t *a3 = json_array_get(json_object_get(out, "items"), 3);
    assert_string_equal(json_string_value(json_object_get(a3, "top_driver")),
                        "support (-7 points)");
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(out, "items"), 2), "top_driver")));
    json_decref(out);

    /* The cache follows a commit made through another connection. */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path_of("a.db"), &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h, "UPDATE accounts SET owner='zed' WHERE id=3", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    cw_api_accounts_q_init(&q);
    q.owner = "zed";
    expect_list(c, &q, "A3", 1);

    cw_api_accounts_q_init(&q);
    q.sort = "nonsense";
    assert_int_equal(cw_api_accounts(st, c, &q, &out), CW_ERR_USAGE);
    cw_api_accounts_q_init(&q);
    q.limit = 501;
    assert_int_equal(cw_api_accounts(st, NULL, &q, &out), CW_ERR_USAGE);
    cw_api_cache_free(c);
}

static void test_account_detail(void **state)
{
    (void)state;
    json_t *a;
    assert_int_equal(cw_api_account(st, "nope", &a), CW_ERR_NOTFOUND);
    assert_int_equal(cw_api_account(st, "A1", &a), CW_OK);
    assert_int_equal(json_array_size(json_object_get(a, "scores")), 2);
    assert_true(json_real_value(json_object_get(a, "probability")) == 0.6);
    json_t *g = json_array_get(json_object_get(a, "goals"), 0);
    assert_true(json_real_value(json_object_get(g, "expected_now")) == 20.0);
    assert_true(json_real_value(json_object_get(g, "actual_latest")) == 17.0);
    json_t *score = json_object_get(a, "score");
    assert_true(json_number_value(json_object_get(json_object_get(score, "contrib"), "usage")) ==
                -12.0);
    assert_int_equal(json_array_size(json_object_get(a, "alerts")), 0);
    json_decref(a);
}

static void test_alerts(void **state)
{
    (void)state;
    json_t *out;
    /* No alert yet: an empty list, and updates are "not found". */
    assert_int_equal(cw_api_alerts_list(st, "open", NULL, 10, 0, 100 * 86400, &out), CW_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
    assert_int_equal(cw_api_alert_update(st, 1, CW_ALERT_ACK, 0, 0, 100, NULL, &out),
                     CW_ERR_NOTFOUND);
    /* On the alerts' clock at day 100: alert 1 open on A1 (opened day 90),
     * 2 open on A2 (day 95), 3 auto-resolved on A2. */
    exec("INSERT INTO alert_days(day, at, opened, closed) VALUES (100, 0, 3, 1);"
         "INSERT INTO alerts(id, rule, scope, account, user, status, severity, opened_day,"
         " last_firing_day, closed_day, vals, playbook, created_at) VALUES"
         " (1, 'r', 1, 1, 0, 1, 1, 90, 100, NULL, '{\"x\":0.5,\"y\":null}', NULL, 0),"
         " (2, 'r', 1, 2, 0, 1, 2, 95, 100, NULL, '{}', NULL, 0),"
         " (3, 'r', 1, 2, 0, 4, 1, 80, 90, 90, '{}', NULL, 0);");
    assert_int_equal(cw_api_alerts_list(st, NULL, NULL, 10, 0, 0, &out), CW_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "id")), 2);
    json_t *first = json_array_get(items, 1);
    assert_string_equal(json_string_value(json_object_get(first, "status")), "open");
    assert_string_equal(json_string_value(json_object_get(first, "severity")), "warning");
    assert_string_equal(json_string_value(json_object_get(first, "message")), "x 0.5, y n/a");
    assert_string_equal(json_string_value(json_object_get(first, "opened_at")), "1970-04-01");
    json_decref(out);
    /* Snooze 2 for 3 days from the clock: until day 103 = 1970-04-14. */
    assert_int_equal(cw_api_alert_update(st, 2, CW_ALERT_SNOOZE, 0, 3, 500, NULL, &out), CW_OK);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "snoozed");
    assert_string_equal(json_string_value(json_object_get(out, "snoozed_until")), "1970-04-14");
    json_decref(out);
    assert_int_equal(cw_api_alerts_list(st, "open", NULL, 10, 0, 0, &out), CW_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    json_decref(out);
    /* The clock reaches day 103: the snoozed alert is due again. */
    exec("INSERT INTO alert_days(day, at, opened, closed) VALUES (103, 0, 0, 0);");
    assert_int_equal(cw_api_alerts_list(st, "open", NULL, 10, 0, 0, &out), CW_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    json_decref(out);
    /* A date on the clock must be after it. */
    assert_int_equal(cw_api_alert_update(st, 1, CW_ALERT_SNOOZE, 103 * 86400, 0, 500, NULL, &out),
                     CW_ERR_USAGE);
    assert_int_equal(cw_api_alerts_list(st, "all", "A2", 10, 0, 0, &out), CW_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    json_decref(out);
    assert_int_equal(cw_api_alerts_list(st, "resolved", NULL, 10, 0, 0, &out), CW_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "items"), 0), "resolution")),
                        "auto");
    json_decref(out);
    /* Ack, then resolve by hand: one history, as `churnwatch alerts` writes it. */
    assert_int_equal(cw_api_alert_update(st, 1, CW_ALERT_ACK, 0, 0, 600, "ann", &out), CW_OK);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "acknowledged");
    assert_string_equal(json_string_value(json_object_get(out, "acked_by")), "ann");
    assert_string_equal(json_string_value(json_object_get(out, "updated_by")), "ann");
    json_decref(out);
    assert_int_equal(cw_api_alert_update(st, 1, CW_ALERT_RESOLVE, 0, 0, 700, "token:ci", &out),
                     CW_OK);
    assert_string_equal(json_string_value(json_object_get(out, "resolution")), "by hand");
    assert_string_equal(json_string_value(json_object_get(out, "acked_by")), "ann");
    assert_string_equal(json_string_value(json_object_get(out, "updated_by")), "token:ci");
    assert_string_equal(json_string_value(json_object_get(out, "updated_at")),
                        "1970-01-01T00:11:40Z");
    json_decref(out);
    assert_int_equal(cw_api_alert_update(st, 3, CW_ALERT_ACK, 0, 0, 800, NULL, &out), CW_ERR_USAGE);
    assert_int_equal(cw_api_alert_update(st, 99, CW_ALERT_ACK, 0, 0, 800, NULL, &out),
                     CW_ERR_NOTFOUND);
    assert_int_equal(cw_api_alerts_list(st, "bogus", NULL, 10, 0, 0, &out), CW_ERR_USAGE);
}

static cw_status count_tokens(const cw_token_info *t, void *ud)
{
    int *n = ud;
    n[0]++;
    if (t->revoked_at_unix)
        n[1]++;
    assert_int_equal(strlen(t->prefix), CW_TOKEN_PREFIX);
    return CW_OK;
}

static void test_tokens(void **state)
{
    (void)state;
    char r[CW_TOKEN_LEN + 1], w[CW_TOKEN_LEN + 1];
    int64_t rid, wid;
    assert_int_equal(cw_token_create(st, CW_ROLE_READ, "r", 1000, 0, r, &rid), CW_OK);
    assert_int_equal(cw_token_create(st, CW_ROLE_WRITE, NULL, 1000, 0, w, &wid), CW_OK);
    assert_int_equal(strlen(r), CW_TOKEN_LEN);
    assert_memory_equal(r, "cw_", 3);
    assert_int_equal(
        strspn(r + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_string_not_equal(r, w);
    cw_token_role role;
    int64_t id;
    assert_int_equal(cw_token_verify(st, r, strlen(r), 1000, &role, &id, NULL, 0), CW_OK);
    assert_int_equal(role, CW_ROLE_READ);
    assert_int_equal(id, rid);
    assert_int_equal(cw_token_verify(st, w, strlen(w), 1000, &role, NULL, NULL, 0), CW_OK);
    assert_int_equal(role, CW_ROLE_WRITE);
    char bad[CW_TOKEN_LEN + 1];
    memcpy(bad, r, sizeof bad);
    bad[CW_TOKEN_LEN - 1] = bad[CW_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(cw_token_verify(st, bad, strlen(bad), 1000, &role, NULL, NULL, 0),
                     CW_ERR_NOTFOUND);
    assert_int_equal(cw_token_verify(st, r, CW_TOKEN_LEN - 1, 1000, &role, NULL, NULL, 0),
                     CW_ERR_NOTFOUND);
    assert_int_equal(cw_token_verify(st, "", 0, 1000, &role, NULL, NULL, 0), CW_ERR_NOTFOUND);
    /* Only the hash is stored. */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st),
                                        "SELECT length(hash), instr(hash, ?) FROM api_tokens"
                                        " WHERE id = ?",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, r + CW_TOKEN_PREFIX, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, rid);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 32);
    assert_int_equal(sqlite3_column_int(q, 1), 0);
    sqlite3_finalize(q);
    assert_int_equal(cw_token_revoke(st, rid, 2000), CW_OK);
    assert_int_equal(cw_token_verify(st, r, strlen(r), 1000, &role, NULL, NULL, 0),
                     CW_ERR_NOTFOUND);
    assert_int_equal(cw_token_revoke(st, rid, 2000), CW_ERR_NOTFOUND);
    int n[2] = {0, 0};
    assert_int_equal(cw_token_list(st, count_tokens, n), CW_OK);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 1);
    /* An expiring token works until its second, and not from it on; its
     * name comes back for the audit trail ("token:NAME"). */
    char e[CW_TOKEN_LEN + 1], name[16];
    int64_t eid;
    assert_int_equal(cw_token_create(st, CW_ROLE_WRITE, "ci job", 1000, 1000 + 30 * 86400, e, &eid),
                     CW_OK);
    assert_int_equal(
        cw_token_verify(st, e, strlen(e), 1000 + 30 * 86400 - 1, &role, &id, name, sizeof name),
        CW_OK);
    assert_string_equal(name, "ci job");
    assert_int_equal(id, eid);
    assert_int_equal(cw_token_verify(st, e, strlen(e), 1000 + 30 * 86400, &role, NULL, NULL, 0),
                     CW_ERR_NOTFOUND);
}

static void test_passwords(void **state)
{
    (void)state;
    char h1[CW_PASSWORD_HASH_MAX], h2[CW_PASSWORD_HASH_MAX];
    assert_int_equal(cw_password_hash("correct horse battery", h1), CW_OK);
    assert_int_equal(cw_password_hash("correct horse battery", h2), CW_OK);
    assert_memory_equal(h1, "scrypt$15$8$3$", 14);
    assert_string_not_equal(h1, h2); /* a salt of its own */
    assert_true(cw_password_verify("correct horse battery", h1));
    assert_true(cw_password_verify("correct horse battery", h2));
    assert_false(cw_password_verify("correct horse batterY", h1));
    assert_false(cw_password_verify("", h1));
    assert_false(cw_password_verify("correct horse battery", "scrypt$15$8$3$"));
    assert_false(cw_password_verify("correct horse battery", "scrypt$40$8$3$AAAA$AAAA"));
    assert_false(cw_password_verify("x", NULL));
    /* A stored lower cost still verifies (the parameters are read from the
     * hash): RFC 7914's test vector 2, "password" / "NaCl", N=1024 r=8 p=16,
     * first 32 bytes, in base64url. */
    assert_true(cw_password_verify(
        "password", "scrypt$10$8$16$TmFDbA$_bq-HJ00cgB4VucZDQHp_nxq18vII3gw53N2Y0s3MWI"));
    assert_false(cw_password_verify(
        "passwore", "scrypt$10$8$16$TmFDbA$_bq-HJ00cgB4VucZDQHp_nxq18vII3gw53N2Y0s3MWI"));
}

static cw_status count_users(const cw_app_user *u, void *ud)
{
    int *n = ud;
    (*n)++;
    assert_non_null(cw_user_role_name(u->role));
    return CW_OK;
}

static void test_users_sessions(void **state)
{
    (void)state;
    int64_t ann, bob;
    assert_int_equal(
        cw_user_add(st, "ann", "Ann@Example.com", CW_USER_CSM, "ann's long secret", 1000, &ann),
        CW_OK);
    assert_int_equal(
        cw_user_add(st, "bob", "bob@example.com", CW_USER_VIEWER, "bob's long secret", 1000, &bob),
        CW_OK);
    /* taken name or e-mail (any case), bad fields, short password */
    assert_int_equal(cw_user_add(st, "ann", "x@example.com", 0, "0123456789", 1000, NULL),
                     CW_ERR_USAGE);
    assert_int_equal(cw_user_add(st, "ann2", "ANN@example.com", 0, "0123456789", 1000, NULL),
                     CW_ERR_USAGE);
    assert_int_equal(cw_user_add(st, "a b", "c@example.com", 0, "0123456789", 1000, NULL),
                     CW_ERR_USAGE);
    assert_int_equal(cw_user_add(st, "cat", "not-an-address", 0, "0123456789", 1000, NULL),
                     CW_ERR_USAGE);
    assert_int_equal(cw_user_add(st, "cat", "c@example.com", 3, "0123456789", 1000, NULL),
                     CW_ERR_USAGE);
    assert_int_equal(cw_user_add(st, "cat", "c@example.com", 0, "012345678", 1000, NULL),
                     CW_ERR_USAGE);
    cw_app_user u;
    char stored[CW_PASSWORD_HASH_MAX];
    assert_int_equal(cw_user_find(st, "ann@EXAMPLE.com", &u, stored), CW_OK);
    assert_int_equal(u.id, ann);
    assert_string_equal(u.email, "ann@example.com");
    assert_true(cw_password_verify("ann's long secret", stored));
    assert_int_equal(cw_user_find(st, "nobody", &u, stored), CW_ERR_NOTFOUND);
    int n = 0;
    assert_int_equal(cw_user_list(st, count_users, &n), CW_OK);
    assert_int_equal(n, 2);
    /* a session: idle 100 s, absolute at 5000 */
    char sid[CW_SESSION_LEN + 1], csrf[CW_CSRF_LEN + 1], c2[CW_CSRF_LEN + 1];
    assert_int_equal(cw_session_create(st, ann, 1000, 5000, 100, sid, csrf), CW_OK);
    assert_int_equal(strlen(sid), CW_SESSION_LEN);
    int64_t seen;
    assert_int_equal(cw_session_check(st, sid, strlen(sid), 1099, 100, &u, c2, &seen), CW_OK);
    assert_string_equal(u.name, "ann");
    assert_string_equal(c2, csrf);
    assert_int_equal(seen, 1000);
    assert_int_equal(cw_session_check(st, sid, strlen(sid), 1100, 100, &u, c2, NULL),
                     CW_ERR_NOTFOUND); /* idle */
    assert_int_equal(cw_session_touch(st, sid, strlen(sid), 1090), CW_OK);
    assert_int_equal(cw_session_check(st, sid, strlen(sid), 1150, 100, &u, c2, NULL), CW_OK);
    assert_int_equal(cw_session_check(st, sid, strlen(sid), 5000, 1 << 20, &u, c2, NULL),
                     CW_ERR_NOTFOUND); /* absolute */
    char bad[CW_SESSION_LEN + 1];
    memcpy(bad, sid, sizeof bad);
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    assert_int_equal(cw_session_check(st, bad, strlen(bad), 1150, 100, &u, c2, NULL),
                     CW_ERR_NOTFOUND);
    /* disabling, a new password and removal end sessions */
    assert_int_equal(cw_user_disable(st, "ann", 0, 1160), CW_OK);
    assert_int_equal(cw_session_check(st, sid, strlen(sid), 1160, 100, &u, c2, NULL),
                     CW_ERR_NOTFOUND);
    assert_int_equal(cw_user_find(st, "ann", &u, stored), CW_ERR_NOTFOUND);
    assert_int_equal(cw_user_disable(st, "ann", 1, 1170), CW_OK);
    assert_int_equal(cw_session_create(st, ann, 1200, 5000, 100, sid, csrf), CW_OK);
    assert_int_equal(cw_user_passwd(st, "ann", "a new long secret", 1210), CW_OK);
    assert_int_equal(cw_session_check(st, sid, strlen(sid), 1210, 100, &u, c2, NULL),
                     CW_ERR_NOTFOUND);
    assert_int_equal(cw_user_find(st, "ann", &u, stored), CW_OK);
    assert_false(cw_password_verify("ann's long secret", stored));
    assert_true(cw_password_verify("a new long secret", stored));
    assert_int_equal(cw_user_set_role(st, "ann", CW_USER_ADMIN), CW_OK);
    assert_int_equal(cw_user_find(st, "ann", &u, stored), CW_OK);
    assert_int_equal(u.role, CW_USER_ADMIN);
    assert_int_equal(cw_session_end(st, sid, strlen(sid)), CW_OK);
    assert_int_equal(cw_user_remove(st, "bob"), CW_OK);
    assert_int_equal(cw_user_remove(st, "bob"), CW_ERR_NOTFOUND);
    assert_int_equal(cw_user_passwd(st, "bob", "0123456789", 1), CW_ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounts_list), cmocka_unit_test(test_account_detail),
        cmocka_unit_test(test_alerts),        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_passwords),     cmocka_unit_test(test_users_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
