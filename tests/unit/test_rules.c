/*
 * test_rules.c — rules and alerts: loading (stock pack, overrides,
 * disabling, errors with file:line:col and suggestions), and the alert
 * lifecycle over several snapshot days built directly in account_metrics:
 * raise, dedup, hysteresis, auto-resolve, cooldown, ack, snooze, manual
 * resolve, gone, forward-only days; outbox rows exactly once per alert and
 * action, none for the control group; evaluating a day twice changes no
 * table. Expected alert ids, statuses and counts are worked out by hand in
 * the comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"
#include "testutil.h"

#define D0 20089 /* 2025-01-01 */

static cw_config *load_cfg(const char *name, const char *text)
{
    write_file(name, text);
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    if (cw_config_load(path_of(name), &c, &err) != CW_OK)
        fail_msg("config: %s", err.msg);
    return c;
}

/* Loads rules from text; returns the error (static until the next call) or
 * NULL. */
static const char *rules_error(const char *text)
{
    cw_config *c = load_cfg("bad.conf", text);
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    cw_status s = cw_rules_load(c, &r, &err);
    cw_rules_free(r);
    cw_config_free(c);
    if (s == CW_OK)
        return NULL;
    assert_int_equal(s, CW_ERR_CONFIG);
    assert_true(err.msg[0] != 0);
    static char msg[CW_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err.msg);
    return msg;
}

static void test_load(void **state)
{
    (void)state;
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(NULL, &r, &err), CW_OK);
    /* The stock pack: 16 rules, 11 playbooks, every playbook action stock. */
    assert_int_equal(cw_rules_count(r), 16);
    assert_int_equal(cw_playbooks_count(r), 11);
    const cw_rule *u = cw_rules_find(r, "unused_licences_30");
    assert_non_null(u);
    assert_int_equal(u->stock, 1);
    assert_int_equal(u->severity, CW_SEVERITY_WARNING);
    assert_string_equal(u->playbook, "onboarding_rescue");
    assert_string_equal(cw_rules_get(r, 0)->name, "churn_risk_jump"); /* by name */
    cw_rules_free(r);

    /* Overrides: keys set replace the stock ones; enabled = false alone
     * disables; a new rule and playbook join. */
    cw_config *c = load_cfg("ok.conf", "[rule.unused_licences_30]\n"
                                       "severity = critical\n"
                                       "\n"
                                       "[rule.nps_detractor]\n"
                                       "enabled = false\n"
                                       "\n"
                                       "[rule.mine]\n"
                                       "scope = user\n"
                                       "when = user_events_window == 0 and tenure_days > 10\n"
                                       "playbook = pb\n"
                                       "segment = smb, mid\n"
                                       "\n"
                                       "[playbook.pb]\n"
                                       "actions = csm_task, my_hook\n"
                                       "control_share = 0.25\n"
                                       "\n"
                                       "[action.my_hook]\n"
                                       "type = webhook\n");
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    assert_int_equal(cw_rules_count(r), 17);
    u = cw_rules_find(r, "unused_licences_30");
    assert_int_equal(u->severity, CW_SEVERITY_CRITICAL);
    assert_int_equal(u->overridden, 1);
    assert_string_equal(u->when, "tenure_days >= 30 and tenure_days < 60 and "
                                 "licence_activation < 0.3");
    assert_int_equal(cw_rules_find(r, "nps_detractor")->enabled, 0);
    const cw_rule *m = cw_rules_find(r, "mine");
    assert_int_equal(m->stock, 0);
    assert_int_equal(m->scope, CW_SCOPE_USER);
    assert_int_equal(m->cooldown_days, 30);
    assert_null(m->clear_when);
    assert_true(cw_playbooks_find(r, "pb")->control_share == 0.25);
    cw_rules_free(r);
    cw_config_free(c);
}

static void test_load_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        /* column: "when = " puts the value at 8; the name at offset 52 */
        {"[rule.x]\nwhen = licence_activation < 0.5 and tenure_days >= 30 and "
         "licence_activaton <= 90\n",
         "bad.conf:2:59: [rule.x] when: unknown metric 'licence_activaton' (did you mean "
         "licence_activation?)"},
        {"[rule.x]\nwhen   =  tenure_days >\n", "bad.conf:2:24: [rule.x] when: unexpected end"},
        {"[rule.x]\nwhen = user_trained == 0\n",
         "bad.conf:2:8: [rule.x] when: 'user_trained' is a user metric"},
        {"[rule.x]\nwhen = trend(health_score) < 0\n",
         "bad.conf:2:14: [rule.x] when: trend() takes an account metric; 'health_score' is a "
         "score"},
        /* (the section is located by its first key) */
        {"[rule.x]\nclear_when = seats > 1\n", "bad.conf:2: [rule.x]: 'when' is required"},
        {"[rule.x]\nwhen = seats > 1\nseverity = loud\n",
         "bad.conf:3: [rule.x] severity: 'loud' is not a severity"},
        {"[rule.x]\nwhen = seats > 1\nscope = team\n",
         "bad.conf:3: [rule.x] scope: 'team' is not a scope"},
        {"[rule.x]\nwhen = seats > 1\ncooldown_days = -1\n",
         "bad.conf:3: [rule.x] cooldown_days: '-1' is not a number of days"},
        {"[rule.x]\nwhen = seats > 1\nplaybook = nope\n",
         "bad.conf:3: [rule.x] playbook: no playbook named 'nope'"},
        {"[rule.x]\nwhen = seats > 1\ncolour = red\n",
         "bad.conf:3: [rule.x]: 'colour' is not a key of this section (keys: description, scope,"},
        {"[playbook.p]\nactions = csm_task, emali_login_reminder\n",
         "bad.conf:2: [playbook.p] actions: unknown action 'emali_login_reminder'"},
        {"[playbook.p]\nactions = csm_task\ncontrol_share = 0.6\n",
         "bad.conf:3: [playbook.p] control_share: '0.6' is not a share between 0 and 0.5"},
        {"[rule.unused_licences_30]\nwhen = tenure_dayz > 1\n",
         "bad.conf:2:8: [rule.unused_licences_30] when: unknown metric 'tenure_dayz' (did you "
         "mean tenure_days?)"},
        {"[rule.x]\nwhen = seats > 1\nenabled = maybe\n",
         "bad.conf:3: [rule.x] enabled: 'maybe' is not true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *err = rules_error(cases[i].text);
        if (!err)
            fail_msg("case %zu loaded", i);
        const char *e = strstr(err, "bad.conf");
        if (!e || strncmp(e, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu:\n got  %s\n want %s", i, err, cases[i].want);
    }
}

/* ---- lifecycle ------------------------------------------------------ */

#define NACC 40
static cw_store *st;
static int64_t acc_id[NACC + 1]; /* external A01..A40 -> internal id */
static int64_t user_id1;
static int m_ratio, m_tenure, na_cat, nu_cat;
static char catalog[8192];

/* Only this rule (and the user rule) can fire on the vectors below: every
 * other metric is missing, so the stock rules stay unknown. */
static const char *lifecycle_conf = "[rule.low_use]\n"
                                    "description = Low use\n"
                                    "when = active_licence_ratio < 0.3\n"
                                    "clear_when = active_licence_ratio >= 0.5\n"
                                    "cooldown_days = 5\n"
                                    "severity = critical\n"
                                    "playbook = pb\n"
                                    "\n"
                                    "[rule.quiet_user]\n"
                                    "scope = user\n"
                                    "when = user_events_window == 0 and user_tenure_days >= 10\n"
                                    "playbook = pb\n"
                                    "\n"
                                    "[playbook.pb]\n"
                                    "actions = csm_task, jsonl_log\n"
                                    "control_share = 0\n"
                                    "\n"
                                    "[rule.user_never_active]\n"
                                    "enabled = false\n";

static void setup_world(const char *db)
{
    char accounts[8192] = "account_id,name,segment,contract_start,seats,mrr_minor,currency,"
                          "status,owner\n";
    for (int i = 1; i <= NACC; i++)
        snprintf(accounts + strlen(accounts), sizeof accounts - strlen(accounts),
                 "A%02d,Acme %d,smb,2024-06-01,10,10000,EUR,active,csm%d@example.com\n", i, i, i);
    const char *names[] = {"accounts.csv", "users.csv"};
    const char *texts[] = {accounts, "user_id,account_id,email,provisioned_at\n"
                                     "U1,A01,u1@example.com,2025-01-01\n"};
    tu_load(db, 2, names, texts, &st);
    sqlite3 *h = cw_store_sqlite(st);
    sqlite3_stmt *q;
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT id FROM accounts WHERE account_id = ?", -1, &q, NULL),
        SQLITE_OK);
    for (int i = 1; i <= NACC; i++) {
        char ext[8];
        snprintf(ext, sizeof ext, "A%02d", i);
        sqlite3_bind_text(q, 1, ext, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        acc_id[i] = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT id FROM users WHERE user_id = 'U1'", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    user_id1 = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    const cw_metric_info *cat;
    int n = cw_metrics_catalog(&cat);
    catalog[0] = 0;
    na_cat = nu_cat = 0;
    for (int i = 0; i < n; i++) {
        if (cat[i].scope != CW_SCOPE_ACCOUNT) {
            nu_cat++;
            continue;
        }
        snprintf(catalog + strlen(catalog), sizeof catalog - strlen(catalog), "%s%s",
                 na_cat ? "," : "", cat[i].name);
        na_cat++;
    }
    m_ratio = cw_metric_index("active_licence_ratio");
    m_tenure = cw_metric_index("tenure_days");
}

/* Stores the snapshot of day D0 + d: account i gets active_licence_ratio
 * ratio[i] (no row at all when ratio[i] is -1); user U1 gets
 * user_events_window uev (no user rows when uev < 0). */
static void put_day(int d, const double *ratio, double uev)
{
    const cw_store_ops *ops = cw_store_get_ops(st);
    int64_t day = D0 + d;
    assert_int_equal(ops->begin(st), CW_OK);
    assert_int_equal(ops->snapshot_put(st, day, 28, catalog, NACC, 1), CW_OK);
    double v[128], t[128];
    for (int i = 1; i <= NACC; i++) {
        if (ratio[i] == -1)
            continue;
        for (int k = 0; k < na_cat; k++)
            v[k] = t[k] = NAN;
        v[m_ratio] = ratio[i];
        assert_int_equal(ops->account_metrics_put(st, day, acc_id[i], v, t, na_cat), CW_OK);
    }
    if (uev >= 0) {
        for (int k = 0; k < nu_cat; k++)
            v[k] = NAN;
        v[cw_metric_index("user_events_window") - na_cat] = uev;
        assert_int_equal(ops->user_metrics_put(st, day, user_id1, acc_id[1], v, nu_cat), CW_OK);
    }
    assert_int_equal(ops->commit(st), CW_OK);
}

/* Every row of the alert tables and the outbox, as text. */
static char *dump(void)
{
    static const char *const sql[] = {
        "SELECT * FROM alerts ORDER BY id", "SELECT * FROM alert_events ORDER BY id",
        "SELECT * FROM play_assignments ORDER BY alert", "SELECT * FROM alert_days ORDER BY day",
        "SELECT * FROM outbox ORDER BY id"};
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = 0;
    for (size_t k = 0; k < sizeof sql / sizeof sql[0]; k++) {
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st), sql[k], -1, &q, NULL), SQLITE_OK);
        while (sqlite3_step(q) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(q); c++) {
                const char *t = (const char *)sqlite3_column_text(q, c);
                size_t l = t ? strlen(t) : 4;
                while (n + l + 2 >= cap) {
                    cap *= 2;
                    out = realloc(out, cap);
                    assert_non_null(out);
                }
                memcpy(out + n, t ? t : "NULL", l);
                n += l;
                out[n++] = c + 1 < sqlite3_column_count(q) ? '|' : '\n';
                out[n] = 0;
            }
        sqlite3_finalize(q);
    }
    return out;
}

static int64_t count(const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Status of the alert of rule low_use opened for account i on day d. */
static int status_of(int64_t id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT status FROM alerts WHERE id = %lld", (long long)id);
    return (int)count(sql);
}

static void evaluate(const cw_rules *r, int d, cw_evaluate_stats *e)
{
    cw_status s = cw_alerts_evaluate(st, r, D0 + d, 1700000000 + d, e);
    if (s != CW_OK)
        fail_msg("evaluate day %d: %s", d, cw_store_errmsg(st));
}

static void evaluate_twice(const cw_rules *r, int d, cw_evaluate_stats *e)
{
    evaluate(r, d, e);
    char *before = dump();
    cw_evaluate_stats again;
    evaluate(r, d, &again);
    char *after = dump();
    assert_string_equal(before, after);
    assert_int_equal(again.already_evaluated, 1);
    assert_int_equal(again.opened + again.resolved + again.gone + again.queued, 0);
    free(before);
    free(after);
}

static void test_lifecycle(void **state)
{
    (void)state;
    setup_world("life.db");
    cw_config *c = load_cfg("life.conf", lifecycle_conf);
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    double ratio[NACC + 1];
    for (int i = 1; i <= NACC; i++)
        ratio[i] = 0.9; /* healthy unless set below */
    cw_evaluate_stats e;

    /* No snapshot yet: not found. */
    assert_int_equal(cw_alerts_evaluate(st, r, D0 + 1, 0, &e), CW_ERR_NOTFOUND);

    /* Day 1: A01 0.2 fires (alert 1); A02 0.4 is between the thresholds
     * (nothing); U1 (provisioned day 0, tenure 1) is quiet but too new. */
    ratio[1] = 0.2, ratio[2] = 0.4;
    put_day(1, ratio, 0);
    evaluate_twice(r, 1, &e);
    assert_int_equal(e.accounts, NACC);
    assert_int_equal(e.users, 1);
    assert_int_equal(e.opened, 1);
    assert_int_equal(e.queued, 2);
    assert_int_equal(count("SELECT count(*) FROM alerts"), 1);
    assert_int_equal(status_of(1), CW_ALERT_OPEN);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE idem_key = 'alert:1:csm_task'"), 1);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE idem_key = 'alert:1:jsonl_log'"), 1);

    /* The payload carries the documented fields. */
    {
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st),
                                            "SELECT payload FROM outbox WHERE idem_key = "
                                            "'alert:1:csm_task'",
                                            -1, &q, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal(
            (const char *)sqlite3_column_text(q, 0),
            "{\"alert_id\":1,\"rule\":\"low_use\",\"description\":\"Low use\",\"severity\":"
            "\"critical\",\"scope\":\"account\",\"account_id\":\"A01\",\"account_name\":\"Acme "
            "1\",\"segment\":\"smb\",\"owner\":\"csm1@example.com\",\"user_id\":null,"
            "\"user_email\":null,\"opened_day\":\"2025-01-02\",\"values\":{"
            "\"active_licence_ratio\":0.2},\"health_score\":null,\"churn_probability\":null,"
            "\"playbook\":\"pb\"}");
        sqlite3_finalize(q);
    }

    /* Day 2: A01 0.4 (between: stays open, no new alert); A02 0.2 opens
     * alert 2. */
    ratio[1] = 0.4, ratio[2] = 0.2;
    put_day(2, ratio, 0);
    evaluate_twice(r, 2, &e);
    assert_int_equal(e.opened, 1);
    assert_int_equal(e.resolved, 0);
    assert_int_equal(status_of(1), CW_ALERT_OPEN);
    assert_int_equal(status_of(2), CW_ALERT_OPEN);

    /* Day 3: A01 0.6 clears: alert 1 auto-resolved on day 3. */
    ratio[1] = 0.6;
    put_day(3, ratio, 0);
    evaluate_twice(r, 3, &e);
    assert_int_equal(e.resolved, 1);
    assert_int_equal(status_of(1), CW_ALERT_RESOLVED);
    assert_int_equal(count("SELECT closed_day FROM alerts WHERE id = 1"), D0 + 3);

    /* Day 4: A01 0.1 fires again, but the cooldown (5 days from day 3)
     * holds it back until day 8. */
    ratio[1] = 0.1;
    put_day(4, ratio, 0);
    evaluate_twice(r, 4, &e);
    assert_int_equal(e.opened, 0);
    assert_int_equal(e.cooling, 1);
    put_day(7, ratio, 0);
    evaluate_twice(r, 7, &e);
    assert_int_equal(e.cooling, 1);

    /* Day 8: re-armed: alert 3 for A01. U1 now has tenure 8: not yet. */
    put_day(8, ratio, 0);
    evaluate_twice(r, 8, &e);
    assert_int_equal(e.opened, 1);
    assert_int_equal(status_of(3), CW_ALERT_OPEN);
    assert_int_equal(count("SELECT account FROM alerts WHERE id = 3"), acc_id[1]);

    /* Ack alert 2, then snooze it until day 10: hidden from the list. */
    assert_int_equal(cw_alert_update(st, 2, CW_ALERT_DO_ACK, -1, "dana", "calling", 1), CW_OK);
    assert_int_equal(status_of(2), CW_ALERT_ACKED);
    assert_int_equal(cw_alert_update(st, 2, CW_ALERT_DO_SNOOZE, D0 + 8, "dana", NULL, 2),
                     CW_ERR_USAGE); /* not after the clock */
    assert_int_equal(cw_alert_update(st, 2, CW_ALERT_DO_SNOOZE, D0 + 10, "dana", "holiday", 2),
                     CW_OK);
    assert_int_equal(status_of(2), CW_ALERT_SNOOZED);
    cw_alerts_query q = {.today = D0 + 8};
    cw_alert_list l;
    assert_int_equal(cw_alerts_list(st, &q, &l), CW_OK);
    assert_int_equal(l.n, 1); /* alert 3 only */
    assert_int_equal(l.alerts[0].id, 3);
    int64_t opened3 = l.alerts[0].opened_day;
    cw_alert_list_free(&l);
    /* --opened-since: the opening day itself is in, the day after is not */
    q.opened_from = opened3;
    assert_int_equal(cw_alerts_list(st, &q, &l), CW_OK);
    assert_int_equal(l.n, 1);
    cw_alert_list_free(&l);
    q.opened_from = opened3 + 1;
    assert_int_equal(cw_alerts_list(st, &q, &l), CW_OK);
    assert_int_equal(l.n, 0);
    cw_alert_list_free(&l);
    q.opened_from = 0;

    /* Day 9: still snoozed, still firing; day 10: the snooze ran out while
     * firing: open again, listed again. */
    put_day(9, ratio, 0);
    evaluate_twice(r, 9, &e);
    assert_int_equal(status_of(2), CW_ALERT_SNOOZED);
    put_day(10, ratio, 0);
    evaluate_twice(r, 10, &e);
    assert_int_equal(e.unsnoozed, 1);
    assert_int_equal(status_of(2), CW_ALERT_OPEN);
    q.today = D0 + 10;
    assert_int_equal(cw_alerts_list(st, &q, &l), CW_OK);
    assert_int_equal(l.n, 3); /* 2, 3 and the user alert 4 below */
    cw_alert_list_free(&l);

    /* U1 reaches tenure 10 on day 10: alert 4 (user scope), with the user
     * in the payload. */
    assert_int_equal(count("SELECT count(*) FROM alerts WHERE rule = 'quiet_user'"), 1);
    assert_int_equal(count("SELECT id FROM alerts WHERE rule = 'quiet_user'"), 4);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE idem_key = 'alert:4:csm_task' AND "
                           "payload LIKE '%\"user_id\":\"U1\",\"user_email\":\"u1@example.com\""
                           "%\"values\":{\"user_events_window\":0,\"user_tenure_days\":10}%'"),
                     1);

    /* Resolve alert 3 by hand on the clock day 10: closed, and A01 (still
     * firing) re-arms only on day 15. */
    assert_int_equal(cw_alert_update(st, 3, CW_ALERT_DO_RESOLVE, -1, "dana", "fixed", 3), CW_OK);
    assert_int_equal(status_of(3), CW_ALERT_CLOSED_MANUAL);
    assert_int_equal(cw_alert_update(st, 3, CW_ALERT_DO_ACK, -1, "dana", NULL, 3), CW_ERR_USAGE);
    assert_int_equal(cw_alert_update(st, 99, CW_ALERT_DO_ACK, -1, "dana", NULL, 3),
                     CW_ERR_NOTFOUND);
    /* Day 11: A03 fires (alert 5); A01 cools; a missing ratio for A02 keeps
     * alert 2 open (unknown neither raises nor clears). */
    ratio[3] = 0.1, ratio[2] = NAN;
    put_day(11, ratio, 0);
    evaluate_twice(r, 11, &e);
    assert_int_equal(e.opened, 1);
    assert_int_equal(e.cooling, 1);
    assert_int_equal(status_of(2), CW_ALERT_OPEN);
    assert_int_equal(count("SELECT account FROM alerts WHERE id = 5"), acc_id[3]);

    /* Day 12: A03 has left the snapshot (churned): alert 5 gone. No user
     * rows that day: the user alert is left alone. */
    ratio[3] = -1;
    put_day(12, ratio, -1);
    evaluate_twice(r, 12, &e);
    assert_int_equal(e.gone, 1);
    assert_int_equal(status_of(5), CW_ALERT_CLOSED_GONE);
    assert_int_equal(status_of(4), CW_ALERT_OPEN);

    /* Day 15: A01 re-arms after the manual resolve: alert 6. */
    put_day(15, ratio, 0);
    evaluate_twice(r, 15, &e);
    assert_int_equal(e.opened, 1);
    assert_int_equal(count("SELECT account FROM alerts WHERE id = 6"), acc_id[1]);

    /* Alerts move forward: an earlier day is refused. */
    assert_int_equal(cw_alerts_evaluate(st, r, D0 + 14, 0, &e), CW_ERR_USAGE);

    /* Exactly two outbox rows per alert with a playbook (no control). */
    assert_int_equal(count("SELECT count(*) FROM alerts"), 6);
    assert_int_equal(count("SELECT count(*) FROM outbox"), 12);
    assert_int_equal(count("SELECT count(DISTINCT idem_key) FROM outbox"), 12);

    /* The history of alert 2: opened, queued, acked, snoozed, unsnoozed. */
    {
        sqlite3_stmt *qq;
        assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st),
                                            "SELECT group_concat(kind, ',') FROM (SELECT kind "
                                            "FROM alert_events WHERE alert = 2 ORDER BY id)",
                                            -1, &qq, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(qq), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(qq, 0), "1,8,2,3,4");
        sqlite3_finalize(qq);
    }
    cw_rules_free(r);
    cw_config_free(c);
    cw_store_close(st);
    st = NULL;
}

/* Control group: with control_share 0.5 over 40 alerts, each alert is held
 * out exactly when the hash of "<id>:<playbook>" falls below 0.5 — held-out
 * alerts get no outbox row, the others one per action. */
static void test_control(void **state)
{
    (void)state;
    setup_world("ctl.db");
    cw_config *c = load_cfg("ctl.conf", "[rule.low_use]\n"
                                        "when = active_licence_ratio < 0.3\n"
                                        "playbook = half\n"
                                        "\n"
                                        "[playbook.half]\n"
                                        "actions = csm_task, jsonl_log, slack_alert\n"
                                        "control_share = 0.5\n");
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    double ratio[NACC + 1];
    for (int i = 1; i <= NACC; i++)
        ratio[i] = 0.1;
    put_day(1, ratio, -1);
    cw_evaluate_stats e;
    evaluate_twice(r, 1, &e);
    assert_int_equal(e.opened, NACC);
    int64_t held = 0;
    for (int64_t id = 1; id <= NACC; id++) {
        char key[64], sql[200];
        int n = snprintf(key, sizeof key, "%lld:half", (long long)id);
        uint64_t h = cw_hash64(key, (size_t)n, 0x9e3779b97f4a7c15ULL);
        int control = (double)(h >> 11) * 0x1.0p-53 < 0.5;
        held += control;
        snprintf(sql, sizeof sql, "SELECT control FROM play_assignments WHERE alert = %lld",
                 (long long)id);
        assert_int_equal(count(sql), control);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE idem_key LIKE 'alert:%lld:%%'",
                 (long long)id);
        assert_int_equal(count(sql), control ? 0 : 3);
    }
    assert_int_equal(e.held_out, held);
    assert_int_equal(e.queued, 3 * (NACC - held));
    assert_true(held > 0 && held < NACC);
    cw_rules_free(r);
    cw_config_free(c);
    cw_store_close(st);
    st = NULL;
}

static void evaluate_flags(const cw_rules *r, int d, unsigned flags, cw_evaluate_stats *e)
{
    cw_status s = cw_alerts_evaluate_ex(st, r, D0 + d, 1700000000 + d, flags, e);
    if (s != CW_OK)
        fail_msg("evaluate day %d: %s", d, cw_store_errmsg(st));
}

/* Backfill: day 1 opens all 40 alerts without running the playbook (no
 * outbox row, no play assignment, one "backfilled" event each; twice
 * changes nothing); day 2 without backfill keeps them silent while A01
 * clears; day 3 (cooldown 1) A01 fires again: a new alert, and only it
 * gets the control draw and its 3 messages. */
static void test_backfill(void **state)
{
    (void)state;
    setup_world("bf.db");
    cw_config *c = load_cfg("bf.conf", "[rule.low_use]\n"
                                       "when = active_licence_ratio < 0.3\n"
                                       "cooldown_days = 1\n"
                                       "playbook = half\n"
                                       "\n"
                                       "[playbook.half]\n"
                                       "actions = csm_task, jsonl_log, slack_alert\n"
                                       "control_share = 0.5\n");
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    double ratio[NACC + 1];
    for (int i = 1; i <= NACC; i++)
        ratio[i] = 0.1;
    put_day(1, ratio, -1);
    cw_evaluate_stats e;
    evaluate_flags(r, 1, CW_EVALUATE_BACKFILL, &e);
    assert_int_equal(e.opened, NACC);
    assert_int_equal(e.backfilled, NACC);
    assert_int_equal(e.queued + e.held_out, 0);
    char *before = dump();
    evaluate_flags(r, 1, CW_EVALUATE_BACKFILL, &e);
    char *after = dump();
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(count("SELECT count(*) FROM outbox"), 0);
    assert_int_equal(count("SELECT count(*) FROM play_assignments"), 0);
    assert_int_equal(count("SELECT count(*) FROM alert_events WHERE kind = 10 AND note = 'half'"),
                     NACC);
    assert_int_equal(count("SELECT count(*) FROM alert_events WHERE kind IN (8, 9)"), 0);
    assert_string_equal(cw_alert_event_name(CW_AEV_BACKFILLED), "backfilled");

    ratio[1] = 0.9;
    put_day(2, ratio, -1);
    evaluate_twice(r, 2, &e);
    assert_int_equal(e.opened + e.queued + e.backfilled, 0);
    assert_int_equal(e.resolved, 1);
    assert_int_equal(status_of(1), CW_ALERT_RESOLVED);

    ratio[1] = 0.1;
    put_day(3, ratio, -1);
    evaluate_twice(r, 3, &e);
    assert_int_equal(e.opened, 1);
    int64_t id = NACC + 1;
    char key[64];
    int n = snprintf(key, sizeof key, "%lld:half", (long long)id);
    uint64_t h = cw_hash64(key, (size_t)n, 0x9e3779b97f4a7c15ULL);
    int control = (double)(h >> 11) * 0x1.0p-53 < 0.5;
    assert_int_equal(e.held_out, control);
    assert_int_equal(e.queued, control ? 0 : 3);
    assert_int_equal(count("SELECT count(*) FROM play_assignments"), 1);
    assert_int_equal(count("SELECT alert FROM play_assignments"), id);
    assert_int_equal(count("SELECT count(*) FROM outbox"), control ? 0 : 3);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE idem_key LIKE 'alert:41:%'"),
                     control ? 0 : 3);
    cw_rules_free(r);
    cw_config_free(c);
    cw_store_close(st);
    st = NULL;
}

static void exec_sql(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(cw_store_sqlite(st), sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

/* Segment filter, scores and predictions: a rule limited to segments mid
 * and ent fires only for A01 and A02 (made mid); a rule on health_colour
 * and churn_probability_change reads that day's scores and the active
 * model's predictions (an inactive model's are ignored), and the payload
 * carries health_score and churn_probability. */
static void test_segment_and_scores(void **state)
{
    (void)state;
    setup_world("seg.db");
    cw_config *c = load_cfg("seg.conf", "[rule.mid_low]\n"
                                        "when = active_licence_ratio < 0.3\n"
                                        "segment = mid, ent\n"
                                        "\n"
                                        "[rule.red_jump]\n"
                                        "when = health_colour == 2 and churn_probability_change "
                                        ">= 0.15\n"
                                        "playbook = p\n"
                                        "\n"
                                        "[playbook.p]\n"
                                        "actions = jsonl_log\n");
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    exec_sql("UPDATE accounts SET segment = 'mid' WHERE account_id IN ('A01', 'A02')");
    double ratio[NACC + 1];
    for (int i = 1; i <= NACC; i++)
        ratio[i] = 0.1;
    put_day(30, ratio, -1);
    char sql[1024];
    /* Day 30: A03 red (score 20.5), A04 red but without a jump, A05 green
     * with a jump. Probabilities: A03 0.5 now, 0.2 on day 1 (the latest at
     * least 28 days earlier; day 5 is too recent) -> change 0.3; A04 0.5 vs
     * 0.45 -> 0.05; A05 0.9 vs 0.1. Model 2 is inactive and would make A04
     * jump. */
    snprintf(sql, sizeof sql,
             "INSERT INTO models VALUES(1,'m','logreg',0,1,'{}',x'00'),"
             "(2,'old','logreg',0,0,'{}',x'00');"
             "INSERT INTO scores VALUES(%d,%lld,'c',20.5,2,NULL,'{}'),"
             "(%d,%lld,'c',25,2,NULL,'{}'),(%d,%lld,'c',90,0,NULL,'{}');"
             "INSERT INTO predictions VALUES(%d,%lld,1,0.5,'[]'),(%d,%lld,1,0.2,'[]'),"
             "(%d,%lld,1,0.45,'[]'),(%d,%lld,1,0.5,'[]'),(%d,%lld,1,0.45,'[]'),"
             "(%d,%lld,2,0.9,'[]'),(%d,%lld,2,0.1,'[]'),"
             "(%d,%lld,1,0.9,'[]'),(%d,%lld,1,0.1,'[]');",
             D0 + 30, (long long)acc_id[3], D0 + 30, (long long)acc_id[4], D0 + 30,
             (long long)acc_id[5], D0 + 30, (long long)acc_id[3], D0 + 1, (long long)acc_id[3],
             D0 + 5, (long long)acc_id[3], D0 + 30, (long long)acc_id[4], D0 + 2,
             (long long)acc_id[4], D0 + 30, (long long)acc_id[4], D0 + 1, (long long)acc_id[4],
             D0 + 30, (long long)acc_id[5], D0 + 1, (long long)acc_id[5]);
    exec_sql(sql);
    cw_evaluate_stats e;
    evaluate_twice(r, 30, &e);
    assert_int_equal(count("SELECT count(*) FROM alerts WHERE rule = 'mid_low'"), 2);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM alerts WHERE rule = 'mid_low' AND account IN (%lld, %lld)",
             (long long)acc_id[1], (long long)acc_id[2]);
    assert_int_equal(count(sql), 2);
    assert_int_equal(count("SELECT count(*) FROM alerts WHERE rule = 'red_jump'"), 1);
    snprintf(sql, sizeof sql, "SELECT account FROM alerts WHERE rule = 'red_jump'");
    assert_int_equal(count(sql), acc_id[3]);
    assert_int_equal(
        count("SELECT count(*) FROM outbox WHERE payload LIKE '%\"values\":{\"health_colour\":2,"
              "\"churn_probability_change\":0.3},\"health_score\":20.5,\"churn_probability\":0.5,"
              "\"playbook\":\"p\"}'"),
        1);
    cw_rules_free(r);
    cw_config_free(c);
    cw_store_close(st);
    st = NULL;
}

/* Custom metrics are names too, found in the day's vector by the
 * snapshot's catalog: a snapshot whose catalog lists days_to_milestone:a
 * and then the custom metric puts it at position na + 1. A custom metric
 * missing from the snapshot is missing (the rule on it stays quiet). */
static void test_custom_metric(void **state)
{
    (void)state;
    setup_world("cm.db");
    cw_config *c = load_cfg("cm.conf", "[metric.x_rate]\n"
                                       "type = count\n"
                                       "events = *\n"
                                       "\n"
                                       "[metric.y_rate]\n"
                                       "type = count\n"
                                       "events = *\n"
                                       "\n"
                                       "[rule.x_high]\n"
                                       "when = x_rate > 5 and trend(x_rate) > 0\n"
                                       "\n"
                                       "[rule.y_high]\n"
                                       "when = y_rate > 5\n");
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    const cw_store_ops *ops = cw_store_get_ops(st);
    char cat2[9000];
    snprintf(cat2, sizeof cat2, "%s,days_to_milestone:a,x_rate", catalog);
    int64_t day = D0 + 40;
    assert_int_equal(ops->begin(st), CW_OK);
    assert_int_equal(ops->snapshot_put(st, day, 28, cat2, NACC, 0), CW_OK);
    double v[130], t[130];
    for (int i = 1; i <= NACC; i++) {
        for (int k = 0; k < na_cat + 2; k++)
            v[k] = t[k] = NAN;
        v[na_cat] = 6;                  /* days_to_milestone:a */
        v[na_cat + 1] = i <= 3 ? 6 : 5; /* x_rate: A01..A03 above 5 */
        t[na_cat + 1] = i == 3 ? -1 : 2;
        assert_int_equal(ops->account_metrics_put(st, day, acc_id[i], v, t, na_cat + 2), CW_OK);
    }
    assert_int_equal(ops->commit(st), CW_OK);
    cw_evaluate_stats e;
    evaluate_twice(r, 40, &e);
    /* A01 and A02 (A03's trend is negative); y_rate is not in the snapshot. */
    assert_int_equal(count("SELECT count(*) FROM alerts"), 2);
    assert_int_equal(count("SELECT count(*) FROM alerts WHERE rule = 'x_high' AND vals = "
                           "'{\"x_rate\":6,\"trend(x_rate)\":2}'"),
                     2);
    cw_rules_free(r);
    cw_config_free(c);
    cw_store_close(st);
    st = NULL;
}

/* Newcombe's hybrid score interval, checked against Newcombe (1998),
 * Table II, example (a): 56/70 vs 48/80 gives 0.2000 with 95% limits
 * 0.0524 and 0.3339. */
/* The stopped-after-feature payload names the feature: user_stop_feature
 * 1 among the features "forecasting", "reports", "Alerts" (byte order:
 * Alerts 0, forecasting 1, reports 2) is "forecasting"; the payload's
 * "feature" follows "values", and an account rule's payload has none. */
static void test_stop_feature_name(void **state)
{
    (void)state;
    setup_world("feat.db");
    exec_sql("INSERT INTO features(event, feature, tier) VALUES"
             " ('report_run', 'reports', 'core'), ('report_export', 'reports', 'core'),"
             " ('forecast_run', 'forecasting', 'advanced'), ('alert_set', 'Alerts', 'core')");
    cw_config *c = load_cfg("feat.conf", "[rule.stopped]\n"
                                         "scope = user\n"
                                         "when = not missing(user_stop_feature)\n"
                                         "playbook = tip\n"
                                         "\n"
                                         "[rule.low_use]\n"
                                         "when = active_licence_ratio < 0.3\n"
                                         "playbook = tip\n"
                                         "\n"
                                         "[playbook.tip]\n"
                                         "actions = email_feature_tip\n"
                                         "control_share = 0\n"
                                         "\n"
                                         "[rule.user_never_active]\n"
                                         "enabled = false\n");
    cw_rules *r = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_rules_load(c, &r, &err), CW_OK);
    double ratio[NACC + 1];
    for (int i = 1; i <= NACC; i++)
        ratio[i] = 0.9;
    ratio[2] = 0.1;
    put_day(1, ratio, -1);
    const cw_store_ops *ops = cw_store_get_ops(st);
    double v[128];
    for (int k = 0; k < nu_cat; k++)
        v[k] = NAN;
    v[cw_metric_index("user_stop_feature") - na_cat] = 1;
    assert_int_equal(ops->begin(st), CW_OK);
    assert_int_equal(ops->user_metrics_put(st, D0 + 1, user_id1, acc_id[1], v, nu_cat), CW_OK);
    assert_int_equal(ops->commit(st), CW_OK);
    cw_evaluate_stats e;
    evaluate(r, 1, &e);
    assert_int_equal(e.opened, 2);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE payload LIKE"
                           " '%\"values\":{\"user_stop_feature\":1},\"feature\":\"forecasting\",%'"
                           " AND payload LIKE '%\"rule\":\"stopped\"%'"),
                     1);
    assert_int_equal(count("SELECT count(*) FROM outbox WHERE payload LIKE '%\"feature\"%'"), 1);
    cw_rules_free(r);
    cw_config_free(c);
    cw_store_close(st);
    st = NULL;
}

static void test_newcombe(void **state)
{
    (void)state;
    double d, lo, hi;
    cw_newcombe_diff(56, 70, 48, 80, 1.959964, &d, &lo, &hi);
    assert_true(fabs(d - 0.2) < 1e-12);
    assert_true(fabs(lo - 0.0524) < 5e-5);
    assert_true(fabs(hi - 0.3339) < 5e-5);
    /* (d): 0/10 vs 0/20: limits -0.1611 and 0.2775. */
    cw_newcombe_diff(0, 10, 0, 20, 1.959964, &d, &lo, &hi);
    assert_true(fabs(lo + 0.1611) < 5e-5);
    assert_true(fabs(hi - 0.2775) < 5e-5);
    cw_newcombe_diff(1, 0, 0, 5, 1.959964, &d, &lo, &hi);
    assert_true(isnan(d));
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("rules");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_tmpdir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),          cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_lifecycle),     cmocka_unit_test(test_control),
        cmocka_unit_test(test_backfill),      cmocka_unit_test(test_segment_and_scores),
        cmocka_unit_test(test_custom_metric), cmocka_unit_test(test_stop_feature_name),
        cmocka_unit_test(test_newcombe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
