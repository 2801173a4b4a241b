/*
 * test_actions.c — actions and delivery without a network: the template
 * renderer (placeholders, numbers, fallbacks, escaping, errors), load-time
 * checks of [action.X] / [template.X] with their file:line messages, the
 * backoff schedule worked out by hand, the webhook signature against the
 * RFC 4231 HMAC-SHA256 test vector, and the task and JSON Lines actions
 * through cw_deliver_run on a scratch database. HTTP and SMTP delivery are
 * tested end to end by tests/deliver.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "churnwatch.h"
#include "store/sqlite/sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *payload =
    "{\"alert_id\":12,\"rule\":\"unused_licences_30\",\"description\":\"Only 32% of licences "
    "active\",\"severity\":\"warning\",\"scope\":\"account\",\"account_id\":\"A-001\","
    "\"account_name\":\"Acme <Corp> & Co\",\"segment\":\"smb\",\"owner\":\"csm@example.com\","
    "\"user_id\":null,\"user_email\":null,\"opened_day\":\"2025-03-04\","
    "\"values\":{\"licence_activation\":0.32,\"tenure_days\":41,\"ratio\":1.0,\"tiny\":-0.001,"
    "\"flag\":true,\"off\":false,\"list\":[1,2]},\"health_score\":55.2,"
    "\"churn_probability\":null,\"playbook\":\"onboarding_rescue\"}";

/* Renders text and returns the malloc'd result, failing the test on error. */
static char *ok(const char *text, cw_escape esc)
{
    char *out = NULL;
    cw_error why = {CW_OK, ""};
    cw_status s = cw_template_render(text, payload, esc, &out, &why);
    if (s != CW_OK)
        fail_msg("render '%s': %s", text, why.msg);
    return out;
}

static void expect(const char *text, cw_escape esc, const char *want)
{
    char *got = ok(text, esc);
    assert_string_equal(got, want);
    free(got);
}

/* Renders text expecting an error whose reason contains want. */
static void expect_error(const char *text, const char *want)
{
    char *out = NULL;
    cw_error why = {CW_OK, ""};
    cw_status s = cw_template_render(text, payload, CW_ESCAPE_NONE, &out, &why);
    assert_int_equal(s, CW_ERR_INPUT);
    assert_null(out);
    if (!strstr(why.msg, want))
        fail_msg("'%s': reason '%s' lacks '%s'", text, why.msg, want);
}

static void test_render_placeholders(void **state)
{
    (void)state;
    expect("Hello {{account_name}}!", CW_ESCAPE_NONE, "Hello Acme <Corp> & Co!");
    expect("{{ account_id }}/{{segment}}", CW_ESCAPE_NONE, "A-001/smb");
    expect("no placeholders", CW_ESCAPE_NONE, "no placeholders");
    expect("", CW_ESCAPE_NONE, "");
    /* numbers: integers as they are; reals with at most two decimals */
    expect("{{alert_id}} {{values.tenure_days}} {{values.licence_activation}} {{health_score}}",
           CW_ESCAPE_NONE, "12 41 0.32 55.2");
    expect("{{values.ratio}} {{values.tiny}}", CW_ESCAPE_NONE, "1 0");
    expect("{{values.flag}}/{{values.off}} {{values.list}}", CW_ESCAPE_NONE, "yes/no [1,2]");
    /* fallbacks: used when the value is missing or null, not otherwise */
    expect("{{user_email|the whole account}}", CW_ESCAPE_NONE, "the whole account");
    expect("{{churn_probability|n/a}} {{values.nope|-}}", CW_ESCAPE_NONE, "n/a -");
    expect("{{owner|nobody}}", CW_ESCAPE_NONE, "csm@example.com");
    expect("{{user_email|}}x", CW_ESCAPE_NONE, "x");
    /* literal braces */
    expect("{{{{account_name}}", CW_ESCAPE_NONE, "{{account_name}}");
    expect("a } b { c", CW_ESCAPE_NONE, "a } b { c");
}

static void test_render_escaping(void **state)
{
    (void)state;
    /* Slack: only values are escaped, the template's own mrkdwn stays */
    expect("*{{account_name}}* <x>", CW_ESCAPE_SLACK, "*Acme &lt;Corp&gt; &amp; Co* <x>");
    expect("{{user_email|<none>}}", CW_ESCAPE_SLACK, "&lt;none&gt;");
    /* header: CR/LF in a value cannot start a new header line */
    const char *evil = "{\"account_name\":\"X\\r\\nBcc: victim@example.com\\tY\"}";
    char *out = NULL;
    cw_error why;
    assert_int_equal(cw_template_render("Hi {{account_name}}", evil, CW_ESCAPE_HEADER, &out, &why),
                     CW_OK);
    assert_string_equal(out, "Hi X  Bcc: victim@example.com Y");
    free(out);
    /* plain text keeps newlines */
    assert_int_equal(cw_template_render("{{account_name}}", evil, CW_ESCAPE_NONE, &out, &why),
                     CW_OK);
    assert_string_equal(out, "X\r\nBcc: victim@example.com\tY");
    free(out);
}

static void test_render_errors(void **state)
{
    (void)state;
    expect_error("Hi {{user_email}}", "{{user_email}}: the payload has no value");
    expect_error("{{values.missing}}", "{{values.missing}}: the payload has no value");
    expect_error("{{account_name", "without a closing");
    expect_error("{{}}", "empty placeholder name");
    expect_error("{{account name}}", "placeholder names are");
    expect_error("{{values..x}}", "empty part");
    char *out = NULL;
    cw_error why;
    assert_int_equal(cw_template_render("x", "[1,2]", CW_ESCAPE_NONE, &out, &why), CW_ERR_INPUT);
    assert_int_equal(cw_template_render("x", "{bad", CW_ESCAPE_NONE, &out, &why), CW_ERR_INPUT);
    assert_null(out);
    /* output bound: a 200 KiB value twice is over CW_TEMPLATE_MAX (256 KiB) */
    size_t n = 200 * 1024;
    char *big = malloc(n + 32);
    assert_non_null(big);
    memcpy(big, "{\"a\":\"", 6);
    memset(big + 6, 'x', n);
    memcpy(big + 6 + n, "\"}", 3);
    assert_int_equal(
        cw_template_render("{{account_name|}}{{a}}{{a}}", big, CW_ESCAPE_NONE, &out, &why),
        CW_ERR_TOOBIG);
    assert_null(out);
    assert_int_equal(cw_template_render("{{a}}", big, CW_ESCAPE_NONE, &out, &why), CW_OK);
    assert_int_equal(strlen(out), n);
    free(out);
    free(big);
}

static void test_template_check(void **state)
{
    (void)state;
    cw_error why;
    assert_int_equal(cw_template_check("{{account_name}} {{values.x}} {{user_email|-}} "
                                       "{{idem_key}} {{feature|-}} {{{{literal}}",
                                       &why),
                     CW_OK);
    assert_int_equal(cw_template_check("{{acount_name}}", &why), CW_ERR_CONFIG);
    assert_non_null(strstr(why.msg, "{{acount_name}} is not a field of the alert payload"));
    assert_int_equal(cw_template_check("{{values}}x{{values.}}", &why), CW_ERR_CONFIG);
    assert_int_equal(cw_template_check("{{owner", &why), CW_ERR_CONFIG);
}

/* Every stock template renders against the documented payload, and against
 * a payload where every nullable field is null. */
static void test_stock_templates(void **state)
{
    (void)state;
    cw_config *cfg;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(NULL, &cfg, &err), CW_OK);
    cw_actions *a;
    assert_int_equal(cw_actions_load(cfg, &a, &err), CW_OK);
    const cw_action *const *list;
    int n = cw_actions_list(a, &list);
    const char *names[] = {"csm_task",
                           "email_feature_tip",
                           "email_login_reminder",
                           "email_training_invitation",
                           "email_value_summary",
                           "inapp_message",
                           "jsonl_log",
                           "slack_alert"};
    assert_int_equal(n, 8);
    const char *nulls =
        "{\"alert_id\":1,\"rule\":\"r\",\"description\":\"d\",\"severity\":\"critical\","
        "\"scope\":\"user\",\"account_id\":\"A\",\"account_name\":\"N\",\"segment\":null,"
        "\"owner\":null,\"user_id\":null,\"user_email\":null,\"opened_day\":\"2025-01-01\","
        "\"values\":{},\"health_score\":null,\"churn_probability\":null,\"playbook\":null}";
    for (int i = 0; i < n; i++) {
        assert_string_equal(list[i]->name, names[i]);
        assert_int_equal(list[i]->stock, 1);
        if (!list[i]->tmpl)
            continue;
        const cw_template *t = cw_actions_template(a, list[i]->tmpl);
        assert_non_null(t);
        cw_error why;
        assert_int_equal(cw_template_check(t->body, &why), CW_OK);
        const char *texts[2] = {t->subject ? t->subject : "", t->body};
        for (int k = 0; k < 2; k++) {
            char *out;
            assert_int_equal(cw_template_render(texts[k], payload, CW_ESCAPE_NONE, &out, &why),
                             CW_OK);
            free(out);
            if (cw_template_render(texts[k], nulls, CW_ESCAPE_NONE, &out, &why) != CW_OK)
                fail_msg("stock template %s with nulls: %s", t->name, why.msg);
            free(out);
        }
    }
    char *out;
    cw_error why;
    const cw_template *t = cw_actions_template(a, "csm_task");
    assert_int_equal(cw_template_render(t->subject, payload, CW_ESCAPE_HEADER, &out, &why), CW_OK);
    assert_string_equal(out, "Acme <Corp> & Co: Only 32% of licences active");
    free(out);
    /* The feature tip names the feature where the user stopped ("feature",
     * set beside user_stop_feature) and falls back without it. */
    t = cw_actions_template(a, "feature_tip");
    const char *stopped = "{\"account_name\":\"N\",\"values\":{\"user_stop_feature\":2},"
                          "\"feature\":\"reports\"}";
    assert_int_equal(cw_template_render(t->body, stopped, CW_ESCAPE_NONE, &out, &why), CW_OK);
    assert_non_null(strstr(out, "You have been using reports. Did you know"));
    free(out);
    assert_int_equal(cw_template_render(t->body, payload, CW_ESCAPE_NONE, &out, &why), CW_OK);
    assert_non_null(strstr(out, "You have been using the product. Did you know"));
    free(out);
    cw_actions_free(a);
    cw_config_free(cfg);
}

/* Writes text as a config file, loads it and its actions; returns the
 * status of cw_actions_load with the message in *err on failure. */
static cw_status load_conf(const char *text, cw_config **cfg, cw_actions **a, cw_error *err)
{
    FILE *f = fopen(path_of("t.conf"), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    cw_error_clear(err);
    *a = NULL;
    cw_status s = cw_config_load(path_of("t.conf"), cfg, err);
    if (s != CW_OK)
        fail_msg("config: %s", err->msg);
    return cw_actions_load(*cfg, a, err);
}

static void conf_error(const char *text, const char *want)
{
    cw_config *cfg;
    cw_actions *a;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load_conf(text, &cfg, &a, &err), CW_ERR_CONFIG);
    assert_null(a);
    char full[600];
    snprintf(full, sizeof full, "%s:%s", path_of("t.conf"), want);
    if (strcmp(err.msg, full) != 0)
        fail_msg("got '%s'\nwant '%s'", err.msg, full);
    cw_config_free(cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    conf_error("[action.x]\nurl = http://h/\n", "2: [action.x] type: missing (task, email, "
                                                "webhook, slack, inapp or jsonl)");
    conf_error("[action.x]\ntype = fax\n",
               "2: [action.x] type: 'fax': expected task, email, webhook, slack, inapp or jsonl");
    conf_error("[action.x]\ntype = webhook\nurl = http://h/\nto = user\n",
               "4: [action.x] to: not used by an action of type webhook");
    conf_error("[action.x]\ntype = webhook\ncolour = red\n",
               "3: [action.x] colour: not an action key (type, to, template, url, secret, "
               "secret_env, file, cta_url, due_days, timeout_ms, max_attempts, "
               "rate_per_minute)");
    conf_error("[action.x]\ntype = email\nto = someone\ntemplate = login_reminder\n",
               "3: [action.x] to: 'someone': expected user, owner or an e-mail address");
    conf_error("[action.x]\ntype = email\nto = user\ntemplate = nope\n",
               "4: [action.x] template: no [template.nope]");
    conf_error("[action.x]\ntype = email\ntemplate = login_reminder\n",
               "2: [action.x] to: missing (user, owner or an address)");
    conf_error("[action.x]\ntype = webhook\n", "2: [action.x] url: missing");
    conf_error("[action.x]\ntype = webhook\nurl = http://h/\nsecret_env = CW_TEST_UNSET_VAR\n",
               "4: [action.x] secret_env: environment variable CW_TEST_UNSET_VAR is not set");
    conf_error("[action.x]\ntype = webhook\nurl = http://h/\nmax_attempts = 0\n",
               "4: [action.x] max_attempts: '0': expected an integer in 1..1000");
    conf_error("[action.x]\ntype = webhook\nurl = http://h/\ntimeout_ms = 5s\n",
               "4: [action.x] timeout_ms: '5s': expected an integer in 100..600000");
    conf_error("[template.t]\nsubject = a\n", "2: [template.t] body: a template needs one");
    conf_error("[template.t]\nbody = Hi {{acount_name}}\n",
               "2: [template.t] body: {{acount_name}} is not a field of the alert payload "
               "(docs/rules.md); metric values are {{values.NAME}}");
    conf_error("[template.t]\nbody = x\nfooter = y\n",
               "3: [template.t] footer: not a template key (subject, body)");
    conf_error("[template.t]\nbody = x\n[action.x]\ntype = email\nto = owner\ntemplate = t\n",
               "6: [action.x] template: [template.t] has no subject (a e-mail needs one)");
    conf_error("[action.inapp_message]\ncta_url = https://x/{{nope}}\n",
               "2: [action.inapp_message] cta_url: {{nope}} is not a field of the alert payload "
               "(docs/rules.md); metric values are {{values.NAME}}");
}

/* The e-mail settings are checked with the actions. */
static void test_mail_settings(void **state)
{
    (void)state;
    cw_config *cfg;
    cw_actions *a = NULL;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_config_load(NULL, &cfg, &err), CW_OK);
    assert_int_equal(cw_config_set(cfg, "deliver.from", "nobody", &err), CW_OK);
    assert_int_equal(cw_actions_load(cfg, &a, &err), CW_ERR_CONFIG);
    assert_string_equal(err.msg, "deliver.from: 'nobody' is not an e-mail address");
    assert_int_equal(cw_config_set(cfg, "deliver.from", "cw@example.org", &err), CW_OK);
    assert_int_equal(cw_config_set(cfg, "deliver.smtp_url", "http://mail:25", &err), CW_OK);
    assert_int_equal(cw_actions_load(cfg, &a, &err), CW_ERR_CONFIG);
    assert_string_equal(err.msg,
                        "deliver.smtp_url: 'http://mail:25' is not an smtp:// or smtps:// URL");
    assert_null(a);
    cw_config_free(cfg);
}

static void test_config_overrides(void **state)
{
    (void)state;
    setenv("CW_TEST_HOOK_SECRET", "from-env", 1);
    cw_config *cfg;
    cw_actions *a;
    cw_error err = {CW_OK, ""};
    cw_status s = load_conf("[template.login_reminder]\n"
                            "body = Line one {{account_name}}\\nline two\n"
                            "[template.mine]\n"
                            "subject = S {{rule}}\n"
                            "body = first\n"
                            "  second\n"
                            "[action.slack_alert]\n"
                            "url = https://hooks.example.com/T1\n"
                            "rate_per_minute = 10\n"
                            "[action.hook]\n"
                            "type = webhook\n"
                            "url = https://example.com/in\n"
                            "secret_env = CW_TEST_HOOK_SECRET\n"
                            "max_attempts = 4\n"
                            "[action.mail_csm]\n"
                            "type = email\n"
                            "to = CSM-Team@example.com\n"
                            "template = mine\n",
                            &cfg, &a, &err);
    if (s != CW_OK)
        fail_msg("%s", err.msg);
    const cw_action *x = cw_actions_find(a, "slack_alert");
    assert_non_null(x);
    assert_int_equal(x->stock, 0);
    assert_int_equal(x->type, CW_ACTION_SLACK);
    assert_string_equal(x->url, "https://hooks.example.com/T1");
    assert_string_equal(x->tmpl, "slack_alert"); /* kept from the stock action */
    assert_int_equal(x->rate_per_minute, 10);
    x = cw_actions_find(a, "hook");
    assert_string_equal(x->secret, "from-env");
    assert_int_equal(x->max_attempts, 4);
    x = cw_actions_find(a, "mail_csm");
    assert_string_equal(x->to, "CSM-Team@example.com");
    const cw_template *t = cw_actions_template(a, "login_reminder");
    assert_string_equal(t->body, "Line one {{account_name}}\nline two");
    assert_string_equal(t->subject, "Your {{account_name}} workspace is waiting for you");
    t = cw_actions_template(a, "mine");
    assert_string_equal(t->body, "first\nsecond");
    assert_int_equal(cw_actions_find(a, "csm_task")->stock, 1);
    assert_null(cw_actions_find(a, "nope"));
    const cw_action *const *list;
    assert_int_equal(cw_actions_list(a, &list), 10);
    cw_actions_free(a);
    cw_config_free(cfg);
}

/* Backoff with base 60 s, cap 3600 s, worked out by hand: 60, 120, 240,
 * 480, 960, 1920, then the cap. */
static void test_backoff(void **state)
{
    (void)state;
    const int64_t want[] = {60, 120, 240, 480, 960, 1920, 3600, 3600, 3600};
    for (int i = 0; i < 9; i++)
        assert_int_equal(cw_deliver_backoff(i + 1, 60, 3600, 0, "k"), want[i]);
    assert_int_equal(cw_deliver_backoff(0, 60, 3600, 0, "k"), 60);
    assert_int_equal(cw_deliver_backoff(1000, 60, 21600, 0, "k"), 21600); /* no overflow */
    /* jitter 20%: within (0.8 d, d], reproducible, and spread over keys */
    int distinct = 0;
    int64_t first = -1;
    for (int k = 0; k < 50; k++) {
        char key[32];
        snprintf(key, sizeof key, "alert:%d:x", k);
        for (int i = 1; i <= 8; i++) {
            int64_t d = cw_deliver_backoff(i, 60, 3600, 20, key);
            int64_t full = want[i - 1];
            assert_true(d <= full && d >= full - full / 5);
            assert_int_equal(d, cw_deliver_backoff(i, 60, 3600, 20, key));
        }
        int64_t d3 = cw_deliver_backoff(3, 60, 3600, 20, key);
        if (first < 0)
            first = d3;
        distinct += d3 != first;
    }
    assert_true(distinct > 25);
    assert_int_equal(cw_deliver_backoff(1, 1, 10, 100, "k") >= 1, 1);
}

/* RFC 4231 test case 7 (key 131 x 0xaa): its data contains one ". ", so it
 * splits into timestamp "." body. */
static void test_signature(void **state)
{
    (void)state;
    char key[132];
    memset(key, 0xaa, 131);
    key[131] = 0;
    const char *ts = "This is a test using a larger than block-size key and a larger than "
                     "block-size data";
    const char *body = " The key needs to be hashed before being used by the HMAC algorithm.";
    char sig[80];
    cw_deliver_sign(key, ts, body, strlen(body), sig, sizeof sig);
    assert_string_equal(sig, "v1=9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    /* the body length is honoured (bodies are not NUL-terminated strings to it) */
    cw_deliver_sign(key, ts,
                    " The key needs to be hashed before being used by the HMAC "
                    "algorithm.TRAILING",
                    strlen(body), sig, sizeof sig);
    assert_string_equal(sig, "v1=9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
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

/* Who closed the (one) task: "ann" once dismissed by her. */
static cw_status closed_by_ann(const cw_task *t, void *ud)
{
    (void)ud;
    assert_int_equal(t->status, CW_TASK_DISMISSED);
    assert_non_null(t->closed_by);
    assert_string_equal(t->closed_by, "ann");
    return CW_OK;
}

static cw_status count_task(const cw_task *t, void *ud)
{
    int *n = ud;
    (*n)++;
    assert_string_equal(t->account, "A-001");
    assert_string_equal(t->assignee, "csm@example.com");
    assert_string_equal(t->title, "Acme <Corp> & Co: Only 32% of licences active");
    assert_int_equal(t->due_day, cw_days_from_civil(2025, 3, 9) * 86400); /* 03-04 + 5 */
    assert_non_null(strstr(t->body, "Health score: 55.2. Churn probability: n/a."));
    return CW_OK;
}

/* The task and JSON Lines actions through the whole run: a key queued twice
 * is one message; a task is written once even if delivered twice. */
static void test_deliver_task_jsonl(void **state)
{
    (void)state;
    char conf[600];
    snprintf(conf, sizeof conf,
             "[deliver]\njitter_pct = 0\n[action.csm_task]\ndue_days = 5\n[action.jsonl_log]\nfile "
             "= %s\n"
             "[action.broken]\ntype = email\nto = user\ntemplate = login_reminder\n",
             path_of("out.jsonl"));
    cw_config *cfg;
    cw_actions *a;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load_conf(conf, &cfg, &a, &err), CW_OK);
    cw_store *st;
    assert_int_equal(cw_store_open(path_of("d.db"), NULL, &st, &err), CW_OK);
    int ins;
    int64_t t0 = cw_days_from_civil(2025, 3, 5) * 86400;
    assert_int_equal(cw_outbox_enqueue(st, "csm_task", "alert:12:csm_task", payload, t0, &ins),
                     CW_OK);
    assert_int_equal(ins, 1);
    assert_int_equal(cw_outbox_enqueue(st, "csm_task", "alert:12:csm_task", payload, t0, &ins),
                     CW_OK);
    assert_int_equal(ins, 0);
    assert_int_equal(cw_outbox_enqueue(st, "jsonl_log", "alert:12:jsonl_log", payload, t0, NULL),
                     CW_OK);
    /* no user e-mail in the payload: dead at once, with the reason */
    assert_int_equal(cw_outbox_enqueue(st, "broken", "alert:12:broken", payload, t0, NULL), CW_OK);
    /* an action the configuration does not know: retried (a config fix can save it) */
    assert_int_equal(cw_outbox_enqueue(st, "gone", "alert:12:gone", payload, t0, NULL), CW_OK);
    cw_deliver_opts o = {.now = t0, .out = stdout};
    cw_deliver_stats ds;
    assert_int_equal(cw_deliver_run(st, cfg, a, &o, &ds), CW_OK);
    assert_int_equal(ds.attempted, 4);
    assert_int_equal(ds.delivered, 2);
    assert_int_equal(ds.dead, 1);
    assert_int_equal(ds.retrying, 1);
    assert_int_equal(scalar(st, "SELECT status FROM outbox WHERE action='broken'"), 2);
    assert_int_equal(scalar(st, "SELECT next_at FROM outbox WHERE action='gone'") - t0, 60);
    int n = 0;
    assert_int_equal(cw_tasks_scan(st, CW_TASK_OPEN, NULL, count_task, &n), CW_OK);
    assert_int_equal(n, 1);
    /* a second delivery of the same key (e.g. after retry) adds no task */
    int64_t id = scalar(st, "SELECT id FROM outbox WHERE action='csm_task'");
    assert_int_equal(cw_outbox_retry(st, id, t0), CW_ERR_USAGE); /* delivered: refused */
    assert_int_equal(sqlite3_exec(cw_store_sqlite(st),
                                  "UPDATE outbox SET status=0 WHERE action='csm_task'", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    assert_int_equal(cw_deliver_run(st, cfg, a, &o, &ds), CW_OK);
    assert_int_equal(ds.delivered, 1);
    n = 0;
    assert_int_equal(cw_tasks_scan(st, -1, "csm@example.com", count_task, &n), CW_OK);
    assert_int_equal(n, 1);
    int64_t tid = scalar(st, "SELECT id FROM tasks");
    assert_int_equal(cw_task_close(st, tid, CW_TASK_DISMISSED, t0, "ann"), CW_OK);
    assert_int_equal(scalar(st, "SELECT status FROM tasks"), 2);
    assert_int_equal(cw_tasks_scan(st, CW_TASK_DISMISSED, NULL, closed_by_ann, NULL), CW_OK);
    assert_int_equal(cw_task_close(st, tid + 100, CW_TASK_DONE, t0, NULL), CW_ERR_NOTFOUND);
    /* the JSON line */
    FILE *f = fopen(path_of("out.jsonl"), "r");
    assert_non_null(f);
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "{\"idempotency_key\":\"alert:12:jsonl_log\",\"action\":"
                                 "\"jsonl_log\",\"alert\":{\"alert_id\":12,"));
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    /* purge: only delivered rows before the date */
    int64_t del;
    assert_int_equal(cw_outbox_purge(st, t0 + 1, &del), CW_OK);
    assert_int_equal(del, 2);
    assert_int_equal(scalar(st, "SELECT count(*) FROM outbox"), 2);
    cw_store_close(st);
    cw_actions_free(a);
    cw_config_free(cfg);
}

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("actions");
    unsetenv("CW_TEST_UNSET_VAR");
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
        cmocka_unit_test(test_render_placeholders),
        cmocka_unit_test(test_render_escaping),
        cmocka_unit_test(test_render_errors),
        cmocka_unit_test(test_template_check),
        cmocka_unit_test(test_stock_templates),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_overrides),
        cmocka_unit_test(test_mail_settings),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_deliver_task_jsonl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
