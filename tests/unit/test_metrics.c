/*
 * test_metrics.c — the metrics engine (lib/metrics/metrics.c) against small worlds
 * worked out by hand. Every fixture is written as CSV, ingested through
 * cw_ingest_files, computed with cw_metrics_run and read back through the
 * store's scans or cw_metrics_export. Each expected value is derived in the
 * comment beside it, so a failure says which definition moved. Edge cases
 * are the ones issue 3 lists (zero seats, no events, deactivation mid-window,
 * window boundaries, offsets, leap days, churn and reactivation, the exact
 * as-of cut), plus regressions for the bugs these tests found.
 *
 * Day arithmetic used throughout: 2025-01-01 is day 20089, 2025-04-11 is
 * day 20189 (D of the main world), 2024-02-29 is day 19782. In the main
 * world D = 2025-04-11, the window is [D-28, D) = [2025-03-14, 2025-04-11),
 * the previous window [D-56, D-28) = [2025-02-14, 2025-03-14), D-90 =
 * 2025-01-11, D-180 = 2024-10-13.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "churnwatch.h"
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NA   ((double)NAN)
#define MAXM 128

static char dbpath[300];
static cw_store *g_store;
static int g_fail;

/* ---- helpers ------------------------------------------------------------ */

/* Switches to the database file name in tmpdir (closing the open one). */
static void use_db(const char *name)
{
    cw_store_close(g_store);
    g_store = NULL;
    snprintf(dbpath, sizeof dbpath, "%s/%s", tmpdir, name);
}

static cw_store *db(void)
{
    if (!g_store) {
        cw_error err = {CW_OK, ""};
        if (cw_store_open(dbpath, NULL, &g_store, &err) != CW_OK)
            fail_msg("open %s: %s", dbpath, err.msg);
    }
    return g_store;
}

static int64_t unix_of(const char *s)
{
    int64_t t;
    const char *why = NULL;
    if (cw_time_parse(s, strlen(s), CW_TIME_NAIVE_UTC, &t, &why) != CW_OK)
        fail_msg("bad time %s: %s", s, why ? why : "?");
    return t;
}

static int64_t day_of(const char *s)
{
    return unix_of(s) / 86400;
}

/* Formats a day; eight rotating buffers, so up to eight calls may appear in
 * one expression. */
static const char *date_of(int64_t day)
{
    static char buf[8][16];
    static int k;
    k = (k + 1) % 8;
    return cw_time_format(day * 86400, CW_TIME_DATE, buf[k], sizeof buf[k]);
}

static void on_msg(int warning, const char *m, void *ud)
{
    (void)ud;
    if (!warning)
        print_error("ingest: %s\n", m);
}

/* The CSV text of each kind of a world; NULL = no such file. */
typedef struct world {
    const char *text[CW_KIND__COUNT];
} world;

/* Writes the world's files and ingests them in one run; any error fails. */
static void load(const world *w, const char *tag)
{
    const char *paths[CW_KIND__COUNT];
    size_t n = 0;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        if (!w->text[k])
            continue;
        char name[64];
        snprintf(name, sizeof name, "%s_%d.csv", tag, k);
        write_file(name, w->text[k]);
        paths[n++] = strdup(path_of(name));
    }
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.on_message = on_msg;
    cw_ingest_stats st;
    cw_status s = cw_ingest_files(db(), paths, n, &o, &st);
    for (size_t i = 0; i < n; i++)
        free((void *)paths[i]);
    assert_int_equal(s, CW_OK);
    assert_int_equal(st.rejected, 0);
}

/* Appends n events one second apart from ts (user NULL: account-level). */
static void add_events(FILE *f, const char *ts, const char *account, const char *user,
                       const char *event, int n)
{
    int64_t t = unix_of(ts);
    for (int i = 0; i < n; i++)
        fprintf(f, "%lld,%s,%s,%s\n", (long long)(t + i), account, user ? user : "", event);
}

static cw_status run(int64_t from, int64_t to, int every, int recompute, int user_history,
                     cw_metrics_stats *stats)
{
    cw_metrics_opts o;
    cw_metrics_opts_init(&o);
    o.from_day = from;
    o.to_day = to;
    o.every_days = every;
    o.recompute = recompute;
    o.user_history = user_history;
    cw_metrics_stats local;
    cw_status s = cw_metrics_run(db(), &o, stats ? stats : &local);
    if (s != CW_OK)
        print_error("metrics: %s\n", cw_store_errmsg(db()));
    return s;
}

static void run_ok(int64_t from, int64_t to, int every)
{
    assert_int_equal(run(from, to, every, 0, 0, NULL), CW_OK);
}

static int n_account_metrics(void)
{
    const cw_metric_info *m;
    int n = cw_metrics_catalog(&m), a = 0;
    for (int i = 0; i < n; i++)
        a += m[i].scope == CW_SCOPE_ACCOUNT;
    return a;
}

/* Position of an account metric in a snapshot vector. */
static int mi(const char *name)
{
    int i = cw_metric_index(name);
    if (i < 0 || i >= n_account_metrics())
        fail_msg("no account metric %s", name);
    return i;
}

/* Position of a user metric in a user vector. */
static int ui(const char *name)
{
    int i = cw_metric_index(name);
    if (i < n_account_metrics())
        fail_msg("no user metric %s", name);
    return i - n_account_metrics();
}

typedef struct id_query {
    const char *ext;
    int64_t id;
} id_query;

static cw_status on_id(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    (void)aux;
    id_query *q = ud;
    if (strlen(q->ext) == len && memcmp(q->ext, ext, len) == 0)
        q->id = id;
    return CW_OK;
}

static int64_t id_of(cw_kind kind, const char *ext)
{
    id_query q = {ext, 0};
    assert_int_equal(cw_store_get_ops(db())->load_ids(db(), kind, on_id, &q), CW_OK);
    if (!q.id)
        fail_msg("unknown %s", ext);
    return q.id;
}

typedef struct snap {
    int found, has_trend, has_peers, n;
    double v[MAXM], t[MAXM], p[MAXM];
} snap;

static cw_status on_acc_row(int64_t day, int64_t account, const double *vals, const double *trend,
                            const double *peers, int n, void *ud)
{
    (void)day, (void)account;
    snap *s = ud;
    s->found++;
    s->n = n;
    s->has_trend = trend != NULL;
    s->has_peers = peers != NULL;
    for (int i = 0; i < n && i < MAXM; i++) {
        s->v[i] = vals[i];
        s->t[i] = trend ? trend[i] : NA;
        s->p[i] = peers ? peers[i] : NA;
    }
    return CW_OK;
}

/* The stored snapshot of account ext on day (found = 0 when no row). */
static snap acc(const char *ext, int64_t day)
{
    snap s;
    memset(&s, 0, sizeof s);
    int64_t id = id_of(CW_KIND_ACCOUNTS, ext);
    assert_int_equal(
        cw_store_get_ops(db())->account_metrics_scan(db(), day, day, id, on_acc_row, &s), CW_OK);
    assert_true(s.found <= 1);
    /* built-ins, then one days_to_milestone entry per catalogued milestone */
    if (s.found)
        assert_true(s.n >= n_account_metrics());
    return s;
}

typedef struct usnap {
    int64_t user;
    int found, n;
    double v[MAXM];
} usnap;

static cw_status on_user_row(int64_t day, int64_t user, int64_t account, const double *vals, int n,
                             void *ud)
{
    (void)day, (void)account;
    usnap *s = ud;
    if (user != s->user)
        return CW_OK;
    s->found++;
    s->n = n;
    for (int i = 0; i < n && i < MAXM; i++)
        s->v[i] = vals[i];
    return CW_OK;
}

static usnap usr(const char *ext, int64_t day)
{
    usnap s;
    memset(&s, 0, sizeof s);
    s.user = id_of(CW_KIND_USERS, ext);
    assert_int_equal(cw_store_get_ops(db())->user_metrics_scan(db(), day, day, 0, on_user_row, &s),
                     CW_OK);
    assert_true(s.found <= 1);
    return s;
}

/* The first column of the first row of sql on the test database. */
static int64_t q_int(const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(dbpath, &h), SQLITE_OK);
    if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    int64_t v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -999;
    sqlite3_finalize(q);
    sqlite3_close(h);
    return v;
}

/* Stored user rows of a snapshot. */
static int64_t count_user_rows(int64_t day)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM user_metrics WHERE day=%lld", (long long)day);
    return q_int(sql);
}

/* Compares got with want (NaN = missing must stay missing); counts and
 * prints mismatches so one run shows them all. */
static int same(double got, double want)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

static void check(const char *what, const char *name, double got, double want, int line)
{
    if (!same(got, want)) {
        if (line > 0)
            print_error("line %d: ", line);
        print_error("%s %s = %.17g, want %.17g\n", what, name, got, want);
        g_fail++;
    }
}

#define CHECK_V(s, name, want) check("value", name, (s).v[mi(name)], want, __LINE__)
#define CHECK_T(s, name, want) check("trend", name, (s).t[mi(name)], want, __LINE__)
#define CHECK_P(s, name, want) check("peer", name, (s).p[mi(name)], want, __LINE__)
#define CHECK_U(s, name, want) check("user", name, (s).v[ui(name)], want, __LINE__)
#define DONE()                                                                                     \
    do {                                                                                           \
        int f_ = g_fail;                                                                           \
        g_fail = 0;                                                                                \
        assert_int_equal(f_, 0);                                                                   \
    } while (0)

typedef struct expect {
    const char *name;
    double want;
} expect;

/* Checks a whole vector against a table that must name every metric of the
 * scope exactly once (so a metric added to the catalogue needs a value). */
static void check_table(const char *what, const double *v, const expect *e, int ne, int user)
{
    const cw_metric_info *m;
    int n = cw_metrics_catalog(&m), na = n_account_metrics();
    int lo = user ? na : 0, hi = user ? n : na;
    for (int i = lo; i < hi; i++) {
        int hits = 0;
        for (int j = 0; j < ne; j++)
            hits += strcmp(e[j].name, m[i].name) == 0;
        if (hits != 1) {
            print_error("%s: metric %s listed %d times\n", what, m[i].name, hits);
            g_fail++;
        }
    }
    for (int j = 0; j < ne; j++) {
        int i = user ? ui(e[j].name) : mi(e[j].name);
        char label[64];
        snprintf(label, sizeof label, "%s value", what);
        check(label, e[j].name, v[i], e[j].want, 0);
    }
}

/* Runs cw_metrics_export into memory with its status in *status; returns
 * what it wrote (caller frees). */
static char *export_text(const cw_metrics_export_opts *o, cw_status *status)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    *status = cw_metrics_export(db(), o, f);
    fclose(f);
    return text;
}

/* Returns the line of text that starts with prefix (copied, caller frees),
 * or NULL. */
static char *line_with(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return strndup(p, len);
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

static void expect_line(const char *text, const char *prefix, const char *want)
{
    char *got = line_with(text, prefix);
    if (!got)
        fail_msg("no line starting '%s' in:\n%s", prefix, text);
    assert_string_equal(got, want);
    free(got);
}

/* ---- the main world ------------------------------------------------------
 *
 * Account A1 (segment mid, contract 2025-01-01, tenure 100 at D):
 *   subscriptions: 2025-01-01 8 seats 40000; 2025-02-15T10:00Z 10 seats
 *   50000; 2025-05-01 12 seats 60000 (future, ignored). Annual.
 *   features (names sorted: admin 0, api 1, dashboards 2, forecasting 3,
 *   reports 4): report_created → reports (basic; milestone first_report due
 *   day 14; first value), dashboard_view → dashboards (basic), forecast_run
 *   → forecasting (advanced), api_call → api (advanced; milestone
 *   integration due day 30), sso_setup → admin (basic; milestone sso due
 *   day 60; never done by anyone), webhook_added → api (advanced; also
 *   completes integration; never seen). login is not in the catalogue.
 *   users: U1 ops, U2 ops, U3 sales, U4 role admin (no department), U5
 *   support (never active), U6 finance (deactivated 2025-03-25T12:00Z, mid
 *   window), U7 legal (provisioned exactly at D's midnight: not yet).
 * Account A2 (smb, contract 2025-03-01, ZERO seats, one user Z1).
 * Account A3 (smb, contract 2024-06-01, 5 seats, no users, NO events).
 */
static const char MAIN_ACCOUNTS[] =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
    "A1,Acme,mid,2025-01-01,12,60000,USD,active\n"
    "A2,Zero Seats,smb,2025-03-01,0,1000,USD,active\n"
    "A3,Silent,smb,2024-06-01,5,2500,USD,active\n";
static const char MAIN_SUBS[] = "account_id,effective_at,mrr_minor,currency,seats,billing_period\n"
                                "A1,2025-01-01,40000,USD,8,annual\n"
                                "A1,2025-02-15T10:00:00Z,50000,USD,10,annual\n"
                                "A1,2025-05-01,60000,USD,12,annual\n";
static const char MAIN_USERS[] =
    "user_id,account_id,role,department,provisioned_at,deactivated_at\n"
    "U1,A1,analyst,ops,2025-01-02,\n"
    "U2,A1,analyst,ops,2025-01-02,\n"
    "U3,A1,analyst,sales,2025-01-02,\n"
    "U4,A1,admin,,2025-01-02,\n"
    "U5,A1,viewer,support,2025-01-02,\n"
    "U6,A1,analyst,finance,2025-01-02,2025-03-25T12:00:00Z\n"
    "U7,A1,analyst,legal,2025-04-11T00:00:00Z,\n"
    "Z1,A2,engineer,eng,2025-03-01,\n";
static const char MAIN_FEATURES[] = "event,feature,tier,milestone,milestone_due_day,first_value\n"
                                    "report_created,reports,basic,first_report,14,true\n"
                                    "dashboard_view,dashboards,basic,,,\n"
                                    "forecast_run,forecasting,advanced,,,\n"
                                    "api_call,api,advanced,integration,30,\n"
                                    "sso_setup,admin,basic,sso,60,\n"
                                    "webhook_added,api,advanced,integration,30,\n";
static const char MAIN_TRAININGS[] = "user_id,account_id,course,completed_at\n"
                                     "U1,A1,basics,2025-02-01T10:00:00Z\n"
                                     "U4,A1,basics,2025-04-10T23:59:59Z\n"
                                     "U2,A1,basics,2025-04-11T00:00:00Z\n"
                                     "U6,A1,basics,2025-03-01\n";
static const char MAIN_TICKETS[] =
    "ticket_id,account_id,user_id,opened_at,closed_at,category,priority,satisfaction\n"
    "T1,A1,U1,2025-04-05T09:00:00Z,2025-04-05T13:00:00Z,introductory,,5\n"
    "T2,A1,U2,2025-03-20T10:00:00Z,2025-03-21T10:00:00Z,introductory,,3\n"
    "T3,A1,,2025-03-01T00:00:00Z,2025-03-03T00:00:00Z,advanced,,\n"
    "T4,A1,,2025-04-08T00:00:00Z,,bug,,\n"
    "T5,A1,,2025-04-09T12:00:00Z,2025-04-11T06:00:00Z,advanced,,2\n"
    "T6,A1,,2025-01-05T00:00:00Z,2025-01-06T00:00:00Z,introductory,,1\n"
    "T7,A1,,2025-01-08T00:00:00Z,2025-01-12T02:00:00Z,other,,4\n";
static const char MAIN_SURVEYS[] = "survey_id,account_id,user_id,type,sent_at,responded_at,score\n"
                                   "S1,A1,U1,nps,2025-01-04,2025-01-05,6\n"
                                   "S2,A1,U1,nps,2025-03-30,2025-04-01T10:00:00Z,9\n"
                                   "S3,A1,U2,nps,2025-03-30,2025-04-02,7\n"
                                   "S4,A1,U3,nps,2025-03-30,2025-04-03,3\n"
                                   "S5,A1,U4,nps,2025-03-30,,\n"
                                   "S6,A1,U5,csat,2025-04-05,2025-04-05,4\n"
                                   "S7,A1,,nps,,2025-04-02T12:00:00Z,10\n"
                                   "S8,A1,U6,exit,2025-03-25,2025-03-25,\n";
static const char MAIN_GOALS[] =
    "goal_id,account_id,metric,unit,baseline,target,start_date,target_date\n"
    "G1,A1,logistics cost savings,%,0,30,2025-01-01,2026-07-01\n"
    "G2,A1,hours per report,h,100,50,2025-02-01,2025-06-01\n"
    "G3,A1,not started,,0,10,2025-05-01,2025-12-01\n";
static const char MAIN_MEASURES[] = "goal_id,measured_at,kind,value\n"
                                    "G1,2025-04-01,expected,5\n"
                                    "G1,2025-03-31T12:00:00Z,actual,2.5\n"
                                    "G2,2025-03-01,actual,90\n"
                                    "G2,2025-04-01,actual,80\n"
                                    "G2,2025-04-11T00:00:00Z,actual,60\n";

static char *main_events(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fputs("ts,account_id,user_id,event\n", f);
    /* U1: D-1 3 reports + 1 forecast; D-8 2 dashboards; D-28 (the window's
     * first day) 1 login; D-40 (previous window) 2 reports; after D 1 login. */
    add_events(f, "2025-04-10T15:00:00Z", "A1", "U1", "report_created", 3);
    add_events(f, "2025-04-10T16:00:00Z", "A1", "U1", "forecast_run", 1);
    add_events(f, "2025-04-03T09:00:00Z", "A1", "U1", "dashboard_view", 2);
    add_events(f, "2025-03-14T00:00:00Z", "A1", "U1", "login", 1);
    add_events(f, "2025-03-02T10:00:00Z", "A1", "U1", "report_created", 2);
    add_events(f, "2025-04-13T10:00:00Z", "A1", "U1", "login", 1);
    /* U2: D-60 1 report (before the previous window); D-15 1 api + 1 report;
     * D-14 1 report; then silent. */
    add_events(f, "2025-02-10T10:00:00Z", "A1", "U2", "report_created", 1);
    add_events(f, "2025-03-27T10:00:00Z", "A1", "U2", "api_call", 1);
    add_events(f, "2025-03-27T11:00:00Z", "A1", "U2", "report_created", 1);
    add_events(f, "2025-03-28T10:00:00Z", "A1", "U2", "report_created", 1);
    /* U3: D-3 10 dashboards; D-2 5 dashboards + 5 forecasts; D-30 4
     * dashboards; D-29 (last second of the day before the window) 1 login. */
    add_events(f, "2025-04-08T10:00:00Z", "A1", "U3", "dashboard_view", 10);
    add_events(f, "2025-04-09T10:00:00Z", "A1", "U3", "dashboard_view", 5);
    add_events(f, "2025-04-09T11:00:00Z", "A1", "U3", "forecast_run", 5);
    add_events(f, "2025-03-12T10:00:00Z", "A1", "U3", "dashboard_view", 4);
    add_events(f, "2025-03-13T23:59:59Z", "A1", "U3", "login", 1);
    /* U4: one login at 01:00 +02:00 on 04-07 = 2025-04-06T23:00Z, D-5. */
    fputs("2025-04-07T01:00:00+02:00,A1,U4,login\n", f);
    /* U6 (deactivated 03-25): D-25 2 reports. U7: after D. */
    add_events(f, "2025-03-17T10:00:00Z", "A1", "U6", "report_created", 2);
    add_events(f, "2025-04-12T10:00:00Z", "A1", "U7", "login", 1);
    /* account-level: D-10 3 sync_run (not catalogued) + 1 api_call */
    add_events(f, "2025-04-01T08:00:00Z", "A1", NULL, "sync_run", 3);
    add_events(f, "2025-04-01T09:00:00Z", "A1", NULL, "api_call", 1);
    /* A2's only user: D-2 2 logins + 1 report. A3: nothing at all. */
    add_events(f, "2025-04-09T08:00:00Z", "A2", "Z1", "login", 2);
    add_events(f, "2025-04-09T09:00:00Z", "A2", "Z1", "report_created", 1);
    fclose(f);
    return text;
}

static void load_main(const char *tag)
{
    char *events = main_events();
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = MAIN_ACCOUNTS;
    w.text[CW_KIND_SUBSCRIPTIONS] = MAIN_SUBS;
    w.text[CW_KIND_USERS] = MAIN_USERS;
    w.text[CW_KIND_FEATURES] = MAIN_FEATURES;
    w.text[CW_KIND_EVENTS] = events;
    w.text[CW_KIND_TRAININGS] = MAIN_TRAININGS;
    w.text[CW_KIND_TICKETS] = MAIN_TICKETS;
    w.text[CW_KIND_SURVEYS] = MAIN_SURVEYS;
    w.text[CW_KIND_GOALS] = MAIN_GOALS;
    w.text[CW_KIND_GOAL_MEASUREMENTS] = MAIN_MEASURES;
    load(&w, tag);
    free(events);
}

#define D_MAIN 20189 /* 2025-04-11 */

/* Every account metric of A1 at D, derived by hand. */
static void test_main_account_vector(void **state)
{
    (void)state;
    load_main("main");
    assert_int_equal(day_of("2025-04-11"), D_MAIN);
    cw_metrics_stats st;
    assert_int_equal(run(D_MAIN, D_MAIN, 0, 0, 0, &st), CW_OK);
    assert_int_equal(st.snapshots_computed, 1);
    assert_int_equal(st.account_rows, 3);
    snap s = acc("A1", D_MAIN);
    assert_int_equal(s.found, 1);
    /* At D the provisioned users are U1-U5 (U6 was deactivated before D, U7
     * provisioned at D's midnight). Window events per provisioned user:
     * U1 3+1+2+1 = 7, U2 1+1+1 = 3, U3 10+5+5 = 20, U4 1, U5 0 → 31.
     * Active in the window: U1-U4 (4); ever active: U1-U4 (4). */
    const expect e[] = {
        {"tenure_days", 100},             /* 2025-01-01 → 2025-04-11 */
        {"milestones_due", 3},            /* due days 14, 30, 60 ≤ 100 */
        {"milestones_done", 2},           /* first_report 02-10, integration 03-27 */
        {"milestones_overdue", 1},        /* sso never done */
        {"time_to_first_value_days", 40}, /* first report 02-10 = day 20129 − 20089 */
        {"licence_activation", 0.4},      /* 4 ever active / 10 seats */
        {"active_licence_ratio", 0.4},    /* 4 active / 10 */
        {"licence_gap", 6},               /* 10 − 4 */
        {"training_completion", 0.2},     /* U1, U4 (23:59:59 before D); not U2 (at D), U6 gone */
        {"onboarding_on_track", 0},       /* a milestone is overdue */
        {"active_users", 4},
        /* users 31 + U6's 2 (deactivated users' events stay account events)
         * + 4 account-level = 37 */
        {"events_window", 37},
        /* previous window: U1 2 (D-40) + U3 4 + 1 (D-30, D-29) = 7 → (37−7)/7 */
        {"events_change_pct", 3000.0 / 7.0},
        {"active_days_per_user", 8.0 / 5.0}, /* 3+2+2+1+0 over 5 provisioned */
        {"weekly_consistency", 9.0 / 5.0},   /* 4+2+2+1+0 over 5 */
        {"dropped_off_users", 1},            /* U2: last active D-14 */
        {"dropped_off_share", 0.25},         /* 1 / 4 ever active */
        {"days_since_last_activity", 1},     /* U1 on D-1 */
        {"active_user_share", 0.8},          /* 4 / 5 */
        {"top_user_share", 20.0 / 31.0},     /* U3 */
        {"top10pct_share", 20.0 / 31.0},     /* ceil(5/10) = 1 user */
        /* sorted 0,1,3,7,20: 2·(1·0+2·1+3·3+4·7+5·20)/(5·31) − 6/5 = 92/155 */
        {"activity_gini", 92.0 / 155.0},
        {"departments_active", 3}, /* ops (U1, U2), sales (U3), role admin (U4) */
        /* reports, forecasting, dashboards, api (U2 and account-level) */
        {"features_used", 4},
        /* catalogue-feature events: U1 6, U2 3, U3 20, U6 2, account 1 = 32;
         * advanced: forecasts 1+5, api 1+1 = 8 */
        {"advanced_feature_share", 0.25},
        {"features_per_active_user", 7.0 / 4.0}, /* 3+2+2+0 over 4 */
        {"tickets_window", 4},                   /* T1, T2, T4, T5 */
        {"tickets_per_active_user", 1},          /* 4 / 4 */
        {"intro_ticket_share", 0.5},      /* opened since D-90: T1, T2 intro; T3, T5 advanced */
        {"intro_tickets_after_day90", 1}, /* T1 at tenure 94; T2 at 78 is not */
        {"open_tickets", 2},              /* T4 never closed, T5 closed after D */
        /* closed in [D-90, D): T1 4 h, T2 24 h, T3 48 h, T7 98 h → (24+48)/2 */
        {"median_resolve_hours", 36},
        {"ticket_csat", 4},   /* T1 5, T2 3, T7 4 (T5 closes after D, T6 before D-90) */
        {"nps_latest", 3},    /* S4 on 04-03 is the most recent answer */
        {"nps_category", -1}, /* 3 is a detractor */
        /* latest per respondent: U1 9 (S2 replaces S1), U2 7, U3 3,
         * anonymous 10 → (2 promoters − 1 detractor) / 4 */
        {"nps_account", 25},
        {"nps_change_90d", 125},             /* at D-90 only S1 (6) → −100; 25 − (−100) */
        {"survey_response_rate", 5.0 / 6.0}, /* sent S1-S6 (S7 unsent, S8 exit) */
        {"goals_active", 2},                 /* G3 starts after D */
        /* G1: checkpoint 5 on 04-01, then linear to 30 on 2026-07-01 (456
         * days): expected 5 + 25·10/456, achieved 2.5 → 114/253. G2:
         * expected 100 − 50·69/120 = 71.25, achieved 80 (60 at D unseen) →
         * −20/−28.75 = 16/23 = 176/253 */
        {"goal_attainment_worst", 114.0 / 253.0},
        {"goal_attainment_mean", 145.0 / 253.0},
        {"mrr_minor", 50000},     /* the 02-15 change */
        {"seats", 10},            /* not the accounts row's 12, not the future 12 */
        {"days_to_renewal", 265}, /* 2026-01-01 */
        {"seat_change_90d", 2},   /* 10 − 8 in force on D-90 = 01-11 */
        {"mrr_change_90d", 10000},
    };
    check_table("A1", s.v, e, (int)(sizeof e / sizeof e[0]), 0);
    /* No snapshot 28 days earlier: every trend is missing. A1 is alone in
     * (mid, 90-180 days): every present value ranks 50. */
    for (int m = 0; m < n_account_metrics(); m++) {
        check("trend", "(any)", s.t[m], NA, __LINE__);
        check("peer", "(any)", s.p[m], isnan(s.v[m]) ? NA : 50, __LINE__);
    }
    DONE();
}

/* Zero seats (A2) and an account with no events and no users (A3). */
static void test_zero_seats_and_no_events(void **state)
{
    (void)state;
    load_main("main");
    run_ok(D_MAIN, D_MAIN, 0);
    snap a2 = acc("A2", D_MAIN);
    assert_int_equal(a2.found, 1);
    const expect e2[] = {
        {"tenure_days", 41},              /* 2025-03-01 → 04-11 */
        {"milestones_due", 2},            /* 14, 30 ≤ 41 < 60 */
        {"milestones_done", 1},           /* Z1's report on 04-09 */
        {"milestones_overdue", 1},        /* integration */
        {"time_to_first_value_days", 39}, /* 04-09 − 03-01 */
        {"licence_activation", NA},       /* no seats: ratios per seat are missing */
        {"active_licence_ratio", NA},
        {"licence_gap", -1}, /* 0 seats − 1 active user */
        {"training_completion", NA},
        {"onboarding_on_track", 0},
        {"active_users", 1},
        {"events_window", 3},
        {"events_change_pct", NA}, /* previous window empty */
        {"active_days_per_user", 1},
        {"weekly_consistency", 1},
        {"dropped_off_users", 0},
        {"dropped_off_share", 0},
        {"days_since_last_activity", 2},
        {"active_user_share", 1},
        {"top_user_share", 1},
        {"top10pct_share", 1},
        {"activity_gini", 0},
        {"departments_active", 1},
        {"features_used", 1},
        {"advanced_feature_share", 0},
        {"features_per_active_user", 1},
        {"tickets_window", 0},
        {"tickets_per_active_user", 0},
        {"intro_ticket_share", NA},
        {"intro_tickets_after_day90", 0},
        {"open_tickets", 0},
        {"median_resolve_hours", NA},
        {"ticket_csat", NA},
        {"nps_latest", NA},
        {"nps_category", NA},
        {"nps_account", NA},
        {"nps_change_90d", NA},
        {"survey_response_rate", NA},
        {"goals_active", 0},
        {"goal_attainment_worst", NA},
        {"goal_attainment_mean", NA},
        {"mrr_minor", 1000},
        {"seats", 0},
        {"days_to_renewal", 324}, /* 2026-03-01 */
        {"seat_change_90d", NA},  /* D-90 is before the contract */
        {"mrr_change_90d", NA},
    };
    check_table("A2", a2.v, e2, (int)(sizeof e2 / sizeof e2[0]), 0);
    snap a3 = acc("A3", D_MAIN);
    assert_int_equal(a3.found, 1);
    const expect e3[] = {
        {"tenure_days", 314}, /* 2024-06-01 → 2025-04-11 */
        {"milestones_due", 3},
        {"milestones_done", 0},
        {"milestones_overdue", 3},
        {"time_to_first_value_days", NA},
        {"licence_activation", 0},
        {"active_licence_ratio", 0},
        {"licence_gap", 5},
        {"training_completion", 0},
        {"onboarding_on_track", 0},
        {"active_users", 0},
        {"events_window", 0},
        {"events_change_pct", NA},
        {"active_days_per_user", NA}, /* no provisioned users */
        {"weekly_consistency", NA},
        {"dropped_off_users", 0},
        {"dropped_off_share", NA},
        {"days_since_last_activity", NA},
        {"active_user_share", NA},
        {"top_user_share", NA},
        {"top10pct_share", NA},
        {"activity_gini", NA},
        {"departments_active", 0},
        {"features_used", 0},
        {"advanced_feature_share", NA},
        {"features_per_active_user", NA},
        {"tickets_window", 0},
        {"tickets_per_active_user", NA},
        {"intro_ticket_share", NA},
        {"intro_tickets_after_day90", 0},
        {"open_tickets", 0},
        {"median_resolve_hours", NA},
        {"ticket_csat", NA},
        {"nps_latest", NA},
        {"nps_category", NA},
        {"nps_account", NA},
        {"nps_change_90d", NA},
        {"survey_response_rate", NA},
        {"goals_active", 0},
        {"goal_attainment_worst", NA},
        {"goal_attainment_mean", NA},
        {"mrr_minor", 2500},
        {"seats", 5},
        {"days_to_renewal", 51}, /* 2025-06-01 */
        {"seat_change_90d", 0},
        {"mrr_change_90d", 0},
    };
    check_table("A3", a3.v, e3, (int)(sizeof e3 / sizeof e3[0]), 0);
    DONE();
}

/* Every user metric for A1's users at D; U6 (deactivated) and U7 (not yet
 * provisioned) have no row. Feature numbers are name order: admin 0, api
 * 1, dashboards 2, forecasting 3, reports 4. */
static void test_main_user_vectors(void **state)
{
    (void)state;
    load_main("main");
    run_ok(D_MAIN, D_MAIN, 0);
    usnap u1 = usr("U1", D_MAIN), u2 = usr("U2", D_MAIN), u3 = usr("U3", D_MAIN),
          u4 = usr("U4", D_MAIN), u5 = usr("U5", D_MAIN);
    assert_int_equal(u1.found + u2.found + u3.found + u4.found + u5.found, 5);
    assert_int_equal(usr("U6", D_MAIN).found, 0);
    assert_int_equal(usr("U7", D_MAIN).found, 0);
    assert_int_equal(usr("Z1", D_MAIN).found, 1);
    assert_int_equal(count_user_rows(D_MAIN), 6);
    const expect e1[] = {
        {"user_active_days", 3},            /* D-1, D-8, D-28 (first day of the window) */
        {"user_weeks_active_8", 4},         /* weeks 0, 1, 3 and 5 (D-40) */
        {"user_features_used", 3},          /* reports, forecasting, dashboards */
        {"user_advanced_features_used", 1}, /* forecasting */
        {"user_features_discovered", 2},    /* dashboards, forecasting; reports on D-40 */
        {"user_events_window", 7},
        {"user_events_change_pct", 250}, /* 2 → 7 */
        {"user_days_since_active", 1},
        {"user_dropped_off", 0},
        {"user_stop_feature", NA},
        {"user_trained", 1},
    };
    check_table("U1", u1.v, e1, (int)(sizeof e1 / sizeof e1[0]), 1);
    const expect e2[] = {
        {"user_active_days", 2},            /* D-15, D-14 */
        {"user_weeks_active_8", 2},         /* weeks 1 and 2; D-60 is past 8 weeks */
        {"user_features_used", 2},          /* api, reports */
        {"user_advanced_features_used", 1}, /* api */
        {"user_features_discovered", 1},    /* api on D-15; reports first on D-60 */
        {"user_events_window", 3},
        {"user_events_change_pct", NA}, /* nothing in the previous window */
        {"user_days_since_active", 14},
        {"user_dropped_off", 1},  /* silent for 14 days */
        {"user_stop_feature", 1}, /* api: the last feature first used before stopping */
        {"user_trained", 0},      /* the training at D's midnight is not before D */
    };
    check_table("U2", u2.v, e2, (int)(sizeof e2 / sizeof e2[0]), 1);
    const expect e3[] = {
        {"user_active_days", 2},         {"user_weeks_active_8", 2}, /* week 0, week 4 */
        {"user_features_used", 2},       {"user_advanced_features_used", 1},
        {"user_features_discovered", 1}, /* forecasting; dashboards first on D-30 */
        {"user_events_window", 20},      {"user_events_change_pct", 300}, /* 5 → 20 */
        {"user_days_since_active", 2},   {"user_dropped_off", 0},
        {"user_stop_feature", NA},       {"user_trained", 0},
    };
    check_table("U3", u3.v, e3, (int)(sizeof e3 / sizeof e3[0]), 1);
    const expect e4[] = {
        {"user_active_days", 1}, /* the +02:00 login is on 04-06 UTC */
        {"user_weeks_active_8", 1},
        {"user_features_used", 0}, /* login is not a catalogue feature */
        {"user_advanced_features_used", 0},
        {"user_features_discovered", 0},
        {"user_events_window", 1},
        {"user_events_change_pct", NA},
        {"user_days_since_active", 5}, /* not 4: the offset moved it a day back */
        {"user_dropped_off", 0},
        {"user_stop_feature", NA},
        {"user_trained", 1}, /* 23:59:59 the day before D */
    };
    check_table("U4", u4.v, e4, (int)(sizeof e4 / sizeof e4[0]), 1);
    const expect e5[] = {
        {"user_active_days", 0},
        {"user_weeks_active_8", 0},
        {"user_features_used", 0},
        {"user_advanced_features_used", 0},
        {"user_features_discovered", 0},
        {"user_events_window", 0},
        {"user_events_change_pct", NA},
        {"user_days_since_active", NA}, /* never active */
        {"user_dropped_off", 0},
        {"user_stop_feature", NA},
        {"user_trained", 0},
    };
    check_table("U5", u5.v, e5, (int)(sizeof e5 / sizeof e5[0]), 1);
    DONE();
}

/* U6 is deactivated on 2025-03-25T12:00Z: a snapshot on 03-21 counts it
 * (active in [02-21, 03-21) thanks to its 03-17 reports), D does not. */
static void test_deactivated_mid_window(void **state)
{
    (void)state;
    load_main("main");
    int64_t before = day_of("2025-03-21"), at_deact = day_of("2025-03-25"),
            after = day_of("2025-03-26");
    assert_int_equal(run(before, D_MAIN, 1, 0, 1, NULL), CW_OK);
    usnap u6 = usr("U6", before);
    assert_int_equal(u6.found, 1);
    check("user", "user_active_days", u6.v[ui("user_active_days")], 1, __LINE__);
    check("user", "user_events_window", u6.v[ui("user_events_window")], 2, __LINE__);
    check("user", "user_trained", u6.v[ui("user_trained")], 1, __LINE__); /* 03-01 */
    /* Window [02-21, 03-21): U1 (03-02, 03-14), U3 (03-12, 03-13), U6 (03-17). */
    snap s = acc("A1", before);
    CHECK_V(s, "active_users", 3);
    CHECK_V(s, "training_completion", 2.0 / 10.0); /* U1 and U6 */
    /* 03-25: deactivation at 12:00 that day is not before 03-25 00:00. */
    assert_int_equal(usr("U6", at_deact).found, 1);
    assert_int_equal(usr("U6", after).found, 0);
    s = acc("A1", after);
    /* window [02-26, 03-26): U1, U3 and U2 (03-27 is later) — U6 no longer */
    CHECK_V(s, "active_users", 2);
    /* ... but its events still count for the account: U1 2+1, U3 4+1, U6 2 */
    CHECK_V(s, "events_window", 10);
    assert_int_equal(usr("U6", D_MAIN).found, 0);
    DONE();
}

/* The as-of cut is exact: one more of everything stamped exactly at D's
 * midnight (D·86400, the first second not before D) changes nothing in
 * snapshot D — account values, trends, peers and user rows alike. */
static char *dump_all(int64_t day);

/* Fails naming the first entity and vector position where two dumps differ. */
static void expect_same_dump(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return;
    const char *la = a, *lb = b;
    while (*la && *lb) {
        size_t na = strcspn(la, "\n"), nb = strcspn(lb, "\n");
        if (na != nb || memcmp(la, lb, na) != 0) {
            /* tokens: "day entity:" then values, "|", part name, values ... */
            int tok = 0;
            const char *pa = la, *pb = lb;
            while (pa < la + na && pb < lb + nb) {
                size_t ta = strcspn(pa, " \n"), tb = strcspn(pb, " \n");
                if (ta != tb || memcmp(pa, pb, ta) != 0)
                    fail_msg("dumps differ in '%.*s' at token %d: %.*s vs %.*s",
                             (int)strcspn(la, ":"), la, tok, (int)ta, pa, (int)tb, pb);
                pa += ta + (pa[ta] == ' ');
                pb += tb + (pb[tb] == ' ');
                tok++;
            }
            fail_msg("dumps differ in '%.*s'", (int)strcspn(la, ":"), la);
        }
        la += na + (la[na] == '\n');
        lb += nb + (lb[nb] == '\n');
    }
    fail_msg("dumps differ in their number of rows:\n%s\n---\n%s", a, b);
}

static void test_as_of_exact(void **state)
{
    (void)state;
    use_db("without.db");
    load_main("main");
    run_ok(D_MAIN, D_MAIN, 0);
    char *without = dump_all(D_MAIN);

    use_db("with.db");
    load_main("main");
    world x = {{NULL}};
    x.text[CW_KIND_SUBSCRIPTIONS] = "account_id,effective_at,mrr_minor,currency,seats\n"
                                    "A1,2025-04-11T00:00:00Z,99900,USD,99\n";
    /* U5 deactivated at D (still provisioned at D); U8 provisioned at D. */
    x.text[CW_KIND_USERS] = "user_id,account_id,department,provisioned_at,deactivated_at\n"
                            "U5,A1,support,2025-01-02,2025-04-11T00:00:00Z\n"
                            "U8,A1,new,2025-04-11T00:00:00Z,\n";
    x.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n"
                             "2025-04-11T00:00:00Z,A1,U1,sso_setup\n"
                             "2025-04-11T00:00:00Z,A1,U5,api_call\n"
                             "2025-04-11T00:00:00Z,A1,U8,report_created\n"
                             "2025-04-11T00:00:00Z,A1,,sync_run\n"
                             "2025-04-11T00:00:00Z,A3,,report_created\n";
    x.text[CW_KIND_TRAININGS] = "user_id,account_id,course,completed_at\n"
                                "U3,A1,basics,2025-04-11T00:00:00Z\n";
    /* a new ticket, and T4 (open) closed exactly at D */
    x.text[CW_KIND_TICKETS] = "ticket_id,account_id,opened_at,closed_at,category,satisfaction\n"
                              "T8,A1,2025-04-11T00:00:00Z,2025-04-11T01:00:00Z,introductory,1\n"
                              "T4,A1,2025-04-08T00:00:00Z,2025-04-11T00:00:00Z,bug,\n";
    x.text[CW_KIND_SURVEYS] = "survey_id,account_id,user_id,type,sent_at,responded_at,score\n"
                              "S9,A1,U1,nps,2025-04-11T00:00:00Z,2025-04-11T00:00:00Z,0\n"
                              "S10,A1,U4,nps,,2025-04-11T00:00:00Z,0\n";
    x.text[CW_KIND_GOALS] = "goal_id,account_id,metric,baseline,target,start_date,target_date\n"
                            "G4,A1,starts at D,0,10,2025-04-11,2025-12-01\n";
    x.text[CW_KIND_GOAL_MEASUREMENTS] = "goal_id,measured_at,kind,value\n"
                                        "G1,2025-04-11T00:00:00Z,actual,30\n";
    load(&x, "extra");
    run_ok(D_MAIN, D_MAIN, 0);
    char *with = dump_all(D_MAIN);
    expect_same_dump(without, with);
    /* The same data one second earlier does change it (the test can fail). */
    use_db("earlier.db");
    load_main("main");
    world y = {{NULL}};
    y.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n"
                             "2025-04-10T23:59:59Z,A3,,report_created\n";
    load(&y, "earlier");
    run_ok(D_MAIN, D_MAIN, 0);
    char *earlier = dump_all(D_MAIN);
    assert_true(strcmp(without, earlier) != 0);
    CHECK_V(acc("A3", D_MAIN), "events_window", 1);
    DONE();
    free(without);
    free(with);
    free(earlier);
}

typedef struct dump_ctx {
    FILE *f;
    char **acc_ext, **user_ext;
    int64_t nacc, nusers;
} dump_ctx;

static cw_status collect_ext(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    (void)aux;
    char ***names = ud;
    if (id < 0 || id >= 1000)
        return CW_ERR_USAGE;
    (*names)[id] = strndup(ext, len);
    return CW_OK;
}

static void dump_num(FILE *f, double v)
{
    if (isnan(v))
        fputs(" NA", f);
    else
        fprintf(f, " %a", v);
}

static cw_status dump_acc(int64_t day, int64_t account, const double *vals, const double *trend,
                          const double *peers, int n, void *ud)
{
    dump_ctx *c = ud;
    fprintf(c->f, "%lld %s:", (long long)day, c->acc_ext[account]);
    for (int i = 0; i < n; i++)
        dump_num(c->f, vals[i]);
    fputs(" | trend", c->f);
    for (int i = 0; trend && i < n; i++)
        dump_num(c->f, trend[i]);
    fputs(" | peers", c->f);
    for (int i = 0; peers && i < n; i++)
        dump_num(c->f, peers[i]);
    fputc('\n', c->f);
    return CW_OK;
}

static cw_status dump_user(int64_t day, int64_t user, int64_t account, const double *vals, int n,
                           void *ud)
{
    dump_ctx *c = ud;
    fprintf(c->f, "%lld %s/%s:", (long long)day, c->acc_ext[account], c->user_ext[user]);
    for (int i = 0; i < n; i++)
        dump_num(c->f, vals[i]);
    fputc('\n', c->f);
    return CW_OK;
}

/* Every stored row of a snapshot as text, entities by external id. */
static char *dump_all(int64_t day)
{
    const cw_store_ops *ops = cw_store_get_ops(db());
    dump_ctx c = {NULL, calloc(1000, sizeof(char *)), calloc(1000, sizeof(char *)), 0, 0};
    assert_int_equal(ops->load_ids(db(), CW_KIND_ACCOUNTS, collect_ext, &c.acc_ext), CW_OK);
    assert_int_equal(ops->load_ids(db(), CW_KIND_USERS, collect_ext, &c.user_ext), CW_OK);
    char *text = NULL;
    size_t len = 0;
    c.f = open_memstream(&text, &len);
    assert_int_equal(ops->account_metrics_scan(db(), day, day, 0, dump_acc, &c), CW_OK);
    assert_int_equal(ops->user_metrics_scan(db(), day, day, 0, dump_user, &c), CW_OK);
    fclose(c.f);
    for (int i = 0; i < 1000; i++)
        free(c.acc_ext[i]), free(c.user_ext[i]);
    free(c.acc_ext);
    free(c.user_ext);
    return text;
}

/* ---- trends ------------------------------------------------------------- */

/* B1 (contract 2025-01-01, 5 seats): 3 logins on 02-20, 5 on 03-20. B2
 * (contract 2025-03-10) did not exist 28 days before 03-29. */
static void load_trend_world(void)
{
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = "account_id,name,segment,contract_start,seats,mrr_minor,"
                               "currency,status\n"
                               "B1,B1,smb,2025-01-01,5,1000,USD,active\n"
                               "B2,B2,smb,2025-03-10,5,1000,USD,active\n";
    w.text[CW_KIND_USERS] = "user_id,account_id,provisioned_at\nV1,B1,2025-01-01\n";
    char *ev = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&ev, &len);
    fputs("ts,account_id,user_id,event\n", f);
    add_events(f, "2025-02-20T10:00:00Z", "B1", "V1", "login", 3);
    add_events(f, "2025-03-20T10:00:00Z", "B1", "V1", "login", 5);
    fclose(f);
    w.text[CW_KIND_EVENTS] = ev;
    load(&w, "trend");
    free(ev);
}

static void test_trends(void **state)
{
    (void)state;
    int64_t d1 = day_of("2025-03-01"), d2 = day_of("2025-03-29");
    assert_int_equal(d2 - d1, 28);
    /* One run computing both: trend(D2) = value(D2) − value(D1). */
    use_db("one_run.db");
    load_trend_world();
    run_ok(d1, d2, 28);
    snap a = acc("B1", d1), b = acc("B1", d2);
    CHECK_V(a, "events_window", 3);               /* [02-01, 03-01) */
    CHECK_V(b, "events_window", 5);               /* [03-01, 03-29) */
    CHECK_T(a, "events_window", NA);              /* no snapshot on 02-01 */
    CHECK_T(b, "tenure_days", 28);                /* 87 − 59 */
    CHECK_T(b, "events_window", 2);               /* 5 − 3 */
    CHECK_T(b, "days_since_last_activity", 0);    /* 9 (03-20 → 03-29) − 9 (02-20 → 03-01) */
    CHECK_V(b, "events_change_pct", 200.0 / 3.0); /* 3 → 5 */
    CHECK_T(b, "seats", 0);
    CHECK_T(b, "events_change_pct", NA); /* missing at D1 (no earlier events) */
    /* B2 is active at D2 but had no row at D1: no trend at all. */
    snap b2 = acc("B2", d2);
    assert_int_equal(acc("B2", d1).found, 0);
    assert_int_equal(b2.found, 1);
    for (int m = 0; m < n_account_metrics(); m++)
        check("trend", "B2 (any)", b2.t[m], NA, __LINE__);
    /* Two runs: the earlier snapshot is read back from the store. */
    use_db("two_runs.db");
    load_trend_world();
    run_ok(d1, d1, 0);
    run_ok(d2, d2, 0);
    snap c = acc("B1", d2);
    CHECK_T(c, "events_window", 2);
    cw_status st;
    cw_metrics_export_opts o = {
        .from_day = d2, .to_day = d2, .format = CW_FORMAT_TABLE, .metric = "events_window"};
    char *table = export_text(&o, &st);
    assert_int_equal(st, CW_OK);
    /* one metric over accounts: day, account, value, 28-day change, peer
     * percentile (B1 at 87 days is alone in smb × [30, 90); B2 at 19 days
     * is in the first band) */
    expect_line(table, "2025-03-29  B1",
                "2025-03-29  B1                            5           +2        50");
    free(table);
    CHECK_T(c, "tenure_days", 28);
    /* Without the earlier snapshot: missing. */
    use_db("alone.db");
    load_trend_world();
    run_ok(d2, d2, 0);
    snap d = acc("B1", d2);
    CHECK_T(d, "events_window", NA);
    CHECK_T(d, "tenure_days", NA);
    /* A snapshot 27 or 29 days earlier is not "28 days earlier". */
    use_db("off_by_one.db");
    load_trend_world();
    run_ok(d1 + 1, d1 + 1, 0);
    run_ok(d1 - 1, d1 - 1, 0);
    run_ok(d2, d2, 0);
    CHECK_T(acc("B1", d2), "tenure_days", NA);
    DONE();
}

/* ---- peers -------------------------------------------------------------- */

/* Peer groups are segment × tenure band (edges 30/90/180/365/730 days).
 * At D = 2025-06-01 (day 20240): P1-P4 are smb with tenures 90, 100, 120,
 * 179 (band [90, 180)); P5 is smb at 89 days (band [30, 90)); P6 is ent at
 * 100 days. Seats: P1 10, P2 20, P3 20, P4 40, P5 20, P6 20. P1-P3 have
 * events (days since last: 1, 3, 3); P4 has none. */
static void test_peer_percentiles(void **state)
{
    (void)state;
    int64_t D = day_of("2025-06-01");
    assert_int_equal(D, 20240);
    char acc_text[1024];
    snprintf(acc_text, sizeof acc_text,
             "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
             "P1,P1,smb,%s,10,100,USD,active\n"
             "P2,P2,smb,%s,20,100,USD,active\n"
             "P3,P3,smb,%s,20,100,USD,active\n"
             "P4,P4,smb,%s,40,100,USD,active\n"
             "P5,P5,smb,%s,20,100,USD,active\n"
             "P6,P6,ent,%s,20,100,USD,active\n",
             date_of(D - 90), date_of(D - 100), date_of(D - 120), date_of(D - 179), date_of(D - 89),
             date_of(D - 100));
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = acc_text;
    w.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n"
                             "2025-05-31T10:00:00Z,P1,,sync\n"
                             "2025-05-29T10:00:00Z,P2,,sync\n"
                             "2025-05-29T10:00:00Z,P3,,sync\n";
    load(&w, "peers");
    run_ok(D, D, 0);
    snap p[6];
    const char *ids[] = {"P1", "P2", "P3", "P4", "P5", "P6"};
    for (int i = 0; i < 6; i++) {
        p[i] = acc(ids[i], D);
        assert_int_equal(p[i].found, 1);
        assert_true(p[i].has_peers);
    }
    CHECK_V(p[0], "tenure_days", 90);
    CHECK_V(p[4], "tenure_days", 89);
    /* seats in {10, 20, 20, 40}: (below + equal/2) / 4 */
    CHECK_P(p[0], "seats", 100 * 0.5 / 4); /* 12.5 */
    CHECK_P(p[1], "seats", 100 * 2.0 / 4); /* 1 below + 2/2 → 50 */
    CHECK_P(p[2], "seats", 50);
    CHECK_P(p[3], "seats", 100 * 3.5 / 4); /* 87.5 */
    /* tenure 90, 100, 120, 179: ranks 12.5, 37.5, 62.5, 87.5 */
    CHECK_P(p[0], "tenure_days", 12.5);
    CHECK_P(p[1], "tenure_days", 37.5);
    CHECK_P(p[2], "tenure_days", 62.5);
    CHECK_P(p[3], "tenure_days", 87.5);
    /* P5 (89 days) and P6 (other segment) are alone in their groups */
    CHECK_P(p[4], "seats", 50);
    CHECK_P(p[5], "seats", 50);
    CHECK_P(p[4], "tenure_days", 50);
    /* missing values are left out of the group: {1, 3, 3} over n = 3 */
    CHECK_V(p[3], "days_since_last_activity", NA);
    CHECK_P(p[0], "days_since_last_activity", 100 * 0.5 / 3);
    CHECK_P(p[1], "days_since_last_activity", 100 * 2.0 / 3);
    CHECK_P(p[2], "days_since_last_activity", 100 * 2.0 / 3);
    CHECK_P(p[3], "days_since_last_activity", NA);
    /* events_window {1, 1, 1, 0}: P1-P3 have 1 below and 3 equal → 62.5;
     * P4 has 0 below and 1 equal → 12.5 */
    CHECK_P(p[0], "events_window", 100 * 2.5 / 4);
    CHECK_P(p[2], "events_window", 62.5);
    CHECK_P(p[3], "events_window", 12.5);
    DONE();
}

/* ---- recompute vs only-missing ------------------------------------------ */

static void test_recompute(void **state)
{
    (void)state;
    load_trend_world();
    int64_t D = day_of("2025-03-29");
    cw_metrics_stats st;
    assert_int_equal(run(D, D, 0, 0, 0, &st), CW_OK);
    assert_int_equal(st.snapshots_computed, 1);
    assert_int_equal(st.snapshots_skipped, 0);
    CHECK_V(acc("B1", D), "events_window", 5);
    /* more data arrives for the window */
    world w = {{NULL}};
    w.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n2025-03-25T10:00:00Z,B1,V1,login\n";
    load(&w, "late");
    /* default: only missing snapshots, so nothing is computed or changed */
    assert_int_equal(run(D, D, 0, 0, 0, &st), CW_OK);
    assert_int_equal(st.snapshots_computed, 0);
    assert_int_equal(st.snapshots_skipped, 1);
    assert_int_equal(st.account_rows, 0);
    CHECK_V(acc("B1", D), "events_window", 5);
    /* a series computes only the missing date */
    assert_int_equal(run(D - 7, D, 7, 0, 0, &st), CW_OK);
    assert_int_equal(st.snapshots_computed, 1);
    assert_int_equal(st.snapshots_skipped, 1);
    CHECK_V(acc("B1", D), "events_window", 5);
    CHECK_V(acc("B1", D - 7), "events_window", 5); /* [02-22, 03-22): the 03-20 logins */
    /* --recompute replaces the stored snapshot */
    assert_int_equal(run(D, D, 0, 1, 0, &st), CW_OK);
    assert_int_equal(st.snapshots_computed, 1);
    assert_int_equal(st.snapshots_skipped, 0);
    assert_int_equal(st.account_rows, 2);
    CHECK_V(acc("B1", D), "events_window", 6);
    CHECK_V(acc("B1", D), "days_since_last_activity", 4); /* 03-25 */
    assert_int_equal(q_int("SELECT count(*) FROM metric_snapshots"), 2);
    assert_int_equal(q_int("SELECT count(*) FROM account_metrics"), 4);
    DONE();
}

/* User rows are stored for the last snapshot of a run unless user_history;
 * metric_snapshots counts each snapshot's own rows. */
static void test_user_history_and_counts(void **state)
{
    (void)state;
    load_main("main");
    int64_t a = D_MAIN - 7;
    cw_metrics_stats st;
    assert_int_equal(run(a, D_MAIN, 7, 0, 0, &st), CW_OK);
    assert_int_equal(count_user_rows(a), 0);
    assert_int_equal(count_user_rows(D_MAIN), 6); /* U1-U5, Z1 */
    assert_int_equal(st.user_rows, 6);
    assert_int_equal(st.account_rows, 6); /* 3 accounts × 2 */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT accounts FROM metric_snapshots WHERE day=%d", D_MAIN);
    assert_int_equal(q_int(sql), 3);
    snprintf(sql, sizeof sql, "SELECT users FROM metric_snapshots WHERE day=%d", D_MAIN);
    assert_int_equal(q_int(sql), 6);
    snprintf(sql, sizeof sql, "SELECT users FROM metric_snapshots WHERE day=%lld", (long long)a);
    assert_int_equal(q_int(sql), 0);
    snprintf(sql, sizeof sql, "SELECT window_days FROM metric_snapshots WHERE day=%d", D_MAIN);
    assert_int_equal(q_int(sql), 28);
    /* with user history both snapshots keep user rows; on D-7 (04-04) U6
     * is deactivated and U7 not yet provisioned, so again U1-U5 and Z1 */
    assert_int_equal(run(a, D_MAIN, 7, 1, 1, &st), CW_OK);
    assert_int_equal(count_user_rows(a), 6);
    assert_int_equal(count_user_rows(D_MAIN), 6);
    snprintf(sql, sizeof sql, "SELECT users FROM metric_snapshots WHERE day=%lld", (long long)a);
    assert_int_equal(q_int(sql), 6);
}

/* ---- churn and reactivation --------------------------------------------- */

/* C1: monthly, contract 2025-01-01; 5 seats 10000 from 01-01, cancelled
 * (mrr 0) on 03-01, back with 4 seats 8000 on 05-10. C2: churned on
 * 2025-03-10 per the accounts row, no subscriptions. */
static void test_churn_and_reactivation(void **state)
{
    (void)state;
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] =
        "account_id,name,segment,contract_start,seats,mrr_minor,currency,status,churn_date\n"
        "C1,C1,smb,2025-01-01,4,8000,USD,active,\n"
        "C2,C2,smb,2025-01-01,3,3000,USD,churned,2025-03-10\n";
    w.text[CW_KIND_SUBSCRIPTIONS] =
        "account_id,effective_at,mrr_minor,currency,seats,billing_period\n"
        "C1,2025-01-01,10000,USD,5,monthly\n"
        "C1,2025-03-01,0,USD,0,monthly\n"
        "C1,2025-05-10,8000,USD,4,monthly\n";
    w.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n"
                             "2025-04-01T10:00:00Z,C1,,sync\n";
    load(&w, "churn");
    int64_t from = day_of("2025-02-15"), to = day_of("2025-05-12");
    run_ok(from, to, 1);
    snap s = acc("C1", from);
    assert_int_equal(s.found, 1);
    CHECK_V(s, "mrr_minor", 10000);
    CHECK_V(s, "seats", 5);
    CHECK_V(s, "days_to_renewal", 14); /* monthly: next is 03-01 */
    /* 03-01: the cancellation at 00:00 that day is not before 03-01 */
    s = acc("C1", day_of("2025-03-01"));
    assert_int_equal(s.found, 1);
    CHECK_V(s, "mrr_minor", 10000);
    CHECK_V(s, "days_to_renewal", 0);
    /* the gap: no rows, even with an event on 04-01 */
    assert_int_equal(acc("C1", day_of("2025-03-02")).found, 0);
    assert_int_equal(acc("C1", day_of("2025-04-14")).found, 0);
    assert_int_equal(acc("C1", day_of("2025-05-10")).found, 0);
    /* back on 05-11 */
    s = acc("C1", day_of("2025-05-11"));
    assert_int_equal(s.found, 1);
    CHECK_V(s, "tenure_days", 130); /* tenure counts from contract_start */
    CHECK_V(s, "mrr_minor", 8000);
    CHECK_V(s, "seats", 4);
    /* the new contract renews monthly from 05-10: next is 06-10 */
    CHECK_V(s, "days_to_renewal", 30);
    CHECK_V(s, "seat_change_90d", -1);          /* 5 in force on 02-10 */
    CHECK_V(s, "mrr_change_90d", -2000);        /* 10000 then */
    CHECK_V(s, "days_since_last_activity", 40); /* 04-01, during the gap */
    CHECK_T(s, "mrr_minor", NA);                /* no row on 04-13 */
    CHECK_V(acc("C1", day_of("2025-05-12")), "days_to_renewal", 29);
    /* C2: last row on its churn date, none after */
    assert_int_equal(acc("C2", day_of("2025-03-10")).found, 1);
    assert_int_equal(acc("C2", day_of("2025-03-11")).found, 0);
    DONE();
}

/* ---- leap days, offsets, window boundaries ------------------------------ */

/* L1: contract 2024-02-01, events on 2024-02-29 (one given as 23:30 -01:00
 * on 02-28). L2: contract 2024-01-15. L3: contract 2024-02-29. All annual
 * (billing period unknown: a year). */
static void test_leap_day(void **state)
{
    (void)state;
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = "account_id,name,segment,contract_start,seats,mrr_minor,"
                               "currency,status\n"
                               "L1,L1,smb,2024-02-01,2,100,USD,active\n"
                               "L2,L2,smb,2024-01-15,2,100,USD,active\n"
                               "L3,L3,smb,2024-02-29,2,100,USD,active\n";
    w.text[CW_KIND_USERS] = "user_id,account_id,provisioned_at\nLU1,L1,2024-02-01\n";
    w.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n"
                             "2024-02-29T12:00:00Z,L1,LU1,login\n"
                             "2024-02-29T12:00:01Z,L1,LU1,login\n"
                             "2024-02-28T23:30:00-01:00,L1,LU1,login\n";
    load(&w, "leap");
    int64_t mar1 = day_of("2024-03-01");
    assert_int_equal(mar1 - day_of("2024-02-29"), 1);
    run_ok(mar1, mar1, 0);
    snap s = acc("L1", mar1);
    CHECK_V(s, "tenure_days", 29); /* February 2024 has 29 days */
    CHECK_V(s, "events_window", 3);
    CHECK_V(s, "days_since_last_activity", 1);
    CHECK_V(s, "days_to_renewal", 337); /* 2025-02-01, a civil year after */
    usnap u = usr("LU1", mar1);
    CHECK_U(u, "user_active_days", 1);
    CHECK_U(u, "user_events_window", 3);
    s = acc("L2", mar1);
    CHECK_V(s, "tenure_days", 46);
    CHECK_V(s, "days_to_renewal", 320); /* 2025-01-15, not 365 days later (01-14) */
    /* 2024-03-28 − 28 = 2024-02-29: inside; 03-29's window starts 03-01 */
    int64_t m28 = day_of("2024-03-28");
    run_ok(m28, m28 + 1, 1);
    CHECK_V(acc("L1", m28), "events_window", 3);
    CHECK_V(acc("L1", m28 + 1), "events_window", 0);
    /* L3's anniversary in 2025 is 02-28; its tenure crosses no leap day */
    int64_t f28 = day_of("2025-02-28");
    run_ok(f28, f28 + 1, 1);
    s = acc("L3", f28);
    CHECK_V(s, "tenure_days", 365);
    CHECK_V(s, "days_to_renewal", 0);
    s = acc("L3", f28 + 1);
    CHECK_V(s, "tenure_days", 366);
    CHECK_V(s, "days_to_renewal", 364); /* 2026-02-28 */
    DONE();
}

/* Offsets and the edges of the window, on a one-user account. D =
 * 2025-03-01: 01:00 +02:00 on 03-01 is 02-28 23:00 UTC (inside); 23:30
 * −01:00 on 02-28 is 03-01 00:30 UTC (day D: outside); 02-01 00:00Z (D-28)
 * is the window's first day; 01-31 23:59:59Z (D-29) is the previous
 * window's last second. */
static void test_offsets_and_boundaries(void **state)
{
    (void)state;
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = "account_id,name,segment,contract_start,seats,mrr_minor,"
                               "currency,status\n"
                               "E1,E1,smb,2024-12-01,2,100,USD,active\n";
    w.text[CW_KIND_USERS] = "user_id,account_id,provisioned_at\nEU,E1,2024-12-01\n";
    w.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event\n"
                             "2025-03-01T01:00:00+02:00,E1,EU,login\n"
                             "2025-02-28T23:30:00-01:00,E1,EU,login\n"
                             "2025-02-01T00:00:00Z,E1,EU,login\n"
                             "2025-01-31T23:59:59Z,E1,EU,login\n";
    load(&w, "edges");
    int64_t D = day_of("2025-03-01");
    assert_int_equal(run(D, D + 1, 1, 0, 1, NULL), CW_OK);
    snap s = acc("E1", D);
    CHECK_V(s, "events_window", 2);       /* 02-28 and 02-01 */
    CHECK_V(s, "events_change_pct", 100); /* 1 (01-31) → 2 */
    CHECK_V(s, "days_since_last_activity", 1);
    usnap u = usr("EU", D);
    CHECK_U(u, "user_active_days", 2);
    CHECK_U(u, "user_days_since_active", 1);
    /* D+1 = 03-02: window [02-02, 03-02) holds 02-28 and 03-01; 02-01 left */
    s = acc("E1", D + 1);
    CHECK_V(s, "events_window", 2);
    CHECK_V(s, "events_change_pct", 0); /* [01-05, 02-02) holds 01-31 and 02-01: 2 → 2 */
    CHECK_V(s, "days_since_last_activity", 1);
    u = usr("EU", D + 1);
    CHECK_U(u, "user_active_days", 2);
    DONE();
}

/* A shorter window (metrics.window_days = 7) moves every window metric. */
static void test_window_setting(void **state)
{
    (void)state;
    load_trend_world();
    int64_t D = day_of("2025-03-29");
    cw_metrics_opts o;
    cw_metrics_opts_init(&o);
    o.from_day = o.to_day = D;
    o.window_days = 7;
    cw_metrics_stats st;
    assert_int_equal(cw_metrics_run(db(), &o, &st), CW_OK);
    snap s = acc("B1", D);
    CHECK_V(s, "events_window", 0);        /* [03-22, 03-29): the 03-20 logins are out */
    CHECK_V(s, "events_change_pct", -100); /* 5 in [03-15, 03-22), 0 now */
    CHECK_V(s, "active_users", 0);
    CHECK_V(s, "days_since_last_activity", 9); /* not a window metric */
    assert_int_equal(q_int("SELECT window_days FROM metric_snapshots"), 7);
    DONE();
}

/* ---- distribution metrics ----------------------------------------------- */

/* H4: four users with 0, 0, 0, 10 window events. H11: eleven users, user
 * k with k events (1..11). */
static void test_gini_and_top_shares(void **state)
{
    (void)state;
    char *users = NULL, *events = NULL;
    size_t ul = 0, el = 0;
    FILE *fu = open_memstream(&users, &ul), *fe = open_memstream(&events, &el);
    fputs("user_id,account_id,provisioned_at\n", fu);
    fputs("ts,account_id,user_id,event\n", fe);
    for (int i = 1; i <= 4; i++)
        fprintf(fu, "H4U%d,H4,2025-01-01\n", i);
    add_events(fe, "2025-03-20T10:00:00Z", "H4", "H4U4", "login", 10);
    for (int i = 1; i <= 11; i++) {
        char id[16];
        snprintf(id, sizeof id, "H11U%d", i);
        fprintf(fu, "%s,H11,2025-01-01\n", id);
        add_events(fe, "2025-03-20T10:00:00Z", "H11", id, "login", i);
    }
    fclose(fu);
    fclose(fe);
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = "account_id,name,segment,contract_start,seats,mrr_minor,"
                               "currency,status\n"
                               "H4,H4,smb,2025-01-01,4,100,USD,active\n"
                               "H11,H11,smb,2025-01-01,20,100,USD,active\n";
    w.text[CW_KIND_USERS] = users;
    w.text[CW_KIND_EVENTS] = events;
    load(&w, "gini");
    int64_t D = day_of("2025-04-01");
    run_ok(D, D, 0);
    snap h4 = acc("H4", D), h11 = acc("H11", D);
    /* 0,0,0,10: 2·(4·10)/(4·10) − 5/4 = 0.75 */
    CHECK_V(h4, "activity_gini", 0.75);
    CHECK_V(h4, "top_user_share", 1);
    CHECK_V(h4, "top10pct_share", 1); /* ceil(4/10) = 1 user */
    CHECK_V(h4, "active_user_share", 0.25);
    /* 1..11 (sum 66): top user 11/66; top 10% = ceil(11/10) = 2 users →
     * (11+10)/66; Gini 2·Σk²/(11·66) − 12/11 = 1012/726 − 792/726 = 10/33 */
    CHECK_V(h11, "top_user_share", 11.0 / 66.0);
    CHECK_V(h11, "top10pct_share", 21.0 / 66.0);
    CHECK_V(h11, "activity_gini", 10.0 / 33.0);
    CHECK_V(h11, "active_licence_ratio", 11.0 / 20.0);
    CHECK_V(h11, "licence_gap", 9);
    free(users);
    free(events);
    DONE();
}

/* ---- outcomes: the seeds' example ----------------------------------------
 * "lower logistics costs by 30% (in 18 months); 5% expected within the
 * first 3 months, only 2.5% achieved after 3 months" → attainment 0.5.
 * O1 has the agreed checkpoint (expected 5 on 2025-04-01); O2 has none (the
 * straight line gives 30·90/546 on 04-01); O3's 2.5 is measured at 04-01
 * 00:00, not before the snapshot. Snapshot D = 2025-04-01. */
static void test_goal_attainment_seeds(void **state)
{
    (void)state;
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = "account_id,name,segment,contract_start,seats,mrr_minor,"
                               "currency,status\n"
                               "O1,O1,smb,2025-01-01,4,100,USD,active\n"
                               "O2,O2,smb,2025-01-01,4,100,USD,active\n"
                               "O3,O3,smb,2025-01-01,4,100,USD,active\n";
    w.text[CW_KIND_GOALS] = "goal_id,account_id,metric,unit,baseline,target,start_date,"
                            "target_date\n"
                            "GO1,O1,logistics cost savings,%,0,30,2025-01-01,2026-07-01\n"
                            "GO2,O2,logistics cost savings,%,0,30,2025-01-01,2026-07-01\n"
                            "GO3,O3,logistics cost savings,%,0,30,2025-01-01,2026-07-01\n";
    w.text[CW_KIND_GOAL_MEASUREMENTS] = "goal_id,measured_at,kind,value\n"
                                        "GO1,2025-04-01,expected,5\n"
                                        "GO1,2025-03-31T12:00:00Z,actual,2.5\n"
                                        "GO2,2025-03-31T12:00:00Z,actual,2.5\n"
                                        "GO3,2025-04-01,expected,5\n"
                                        "GO3,2025-04-01T00:00:00Z,actual,2.5\n";
    load(&w, "goals");
    int64_t D = day_of("2025-04-01");
    assert_int_equal(D - day_of("2025-01-01"), 90);
    assert_int_equal(day_of("2026-07-01") - day_of("2025-01-01"), 546);
    run_ok(D, D, 0);
    snap o1 = acc("O1", D), o2 = acc("O2", D), o3 = acc("O3", D);
    CHECK_V(o1, "goals_active", 1);
    CHECK_V(o1, "goal_attainment_worst", 0.5); /* 2.5 / 5 */
    CHECK_V(o1, "goal_attainment_mean", 0.5);
    CHECK_V(o2, "goal_attainment_worst", 2.5 / (30.0 * 90.0 / 546.0));
    CHECK_V(o3, "goal_attainment_worst", 0); /* achieved = baseline as of D */
    /* after the target date the expectation is the target: 2.5 / 30 */
    int64_t late = day_of("2026-08-01");
    run_ok(late, late, 0);
    CHECK_V(acc("O2", late), "goal_attainment_worst", 2.5 / 30.0);
    DONE();
}

/* ---- export ------------------------------------------------------------- */

static void test_export(void **state)
{
    (void)state;
    load_main("main");
    run_ok(D_MAIN, D_MAIN, 0);
    cw_status s;
    cw_metrics_export_opts o = {
        .from_day = D_MAIN, .to_day = D_MAIN, .format = CW_FORMAT_CSV, .account = "A1"};
    char *t = export_text(&o, &s);
    assert_int_equal(s, CW_OK);
    /* long form: a header, then one line per metric, in catalogue order */
    expect_line(t, "day,", "day,account_id,metric,value,trend_28d,peer_pct");
    expect_line(t, "2025-04-11,A1,tenure_days,", "2025-04-11,A1,tenure_days,100,,50");
    expect_line(t, "2025-04-11,A1,licence_activation,", "2025-04-11,A1,licence_activation,0.4,,50");
    /* values are written so that they read back exactly */
    expect_line(t, "2025-04-11,A1,top_user_share,",
                "2025-04-11,A1,top_user_share,0.6451612903225806,,50");
    expect_line(t, "2025-04-11,A1,events_change_pct,",
                "2025-04-11,A1,events_change_pct,428.57142857142856,,50");
    expect_line(t, "2025-04-11,A1,nps_category,", "2025-04-11,A1,nps_category,-1,,50");
    int lines = 0;
    for (const char *p = t; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + n_account_metrics() + 3); /* + 3 milestones */
    /* days to each milestone: first_report 02-10 and integration 03-27 from
     * contract_start 01-01 (40 and 85 days); sso never reached: empty */
    expect_line(t, "2025-04-11,A1,days_to_milestone:first_report,",
                "2025-04-11,A1,days_to_milestone:first_report,40,,50");
    expect_line(t, "2025-04-11,A1,days_to_milestone:integration,",
                "2025-04-11,A1,days_to_milestone:integration,85,,50");
    expect_line(t, "2025-04-11,A1,days_to_milestone:sso,",
                "2025-04-11,A1,days_to_milestone:sso,,,");
    free(t);
    /* A3's missing values are empty */
    cw_metrics_export_opts o3 = {.from_day = D_MAIN,
                                 .to_day = D_MAIN,
                                 .format = CW_FORMAT_CSV,
                                 .account = "A3",
                                 .metric = "activity_gini"};
    t = export_text(&o3, &s);
    assert_int_equal(s, CW_OK);
    expect_line(t, "2025-04-11,A3,", "2025-04-11,A3,activity_gini,,,");
    free(t);
    /* JSON Lines: one object per account and day; missing is null */
    cw_metrics_export_opts oj = {.from_day = D_MAIN,
                                 .to_day = D_MAIN,
                                 .format = CW_FORMAT_JSON,
                                 .account = "A1",
                                 .metric = "tenure_days"};
    t = export_text(&oj, &s);
    assert_int_equal(s, CW_OK);
    assert_string_equal(t, "{\"day\":\"2025-04-11\",\"account_id\":\"A1\",\"values\":{"
                           "\"tenure_days\":100},\"trend_28d\":{\"tenure_days\":null},"
                           "\"peer_pct\":{\"tenure_days\":50}}\n");
    free(t);
    /* user metrics, wide CSV */
    cw_metrics_export_opts ou = {
        .from_day = D_MAIN, .to_day = D_MAIN, .format = CW_FORMAT_CSV, .account = "A1", .users = 1};
    t = export_text(&ou, &s);
    assert_int_equal(s, CW_OK);
    expect_line(t, "day,",
                "day,user_id,account_id,user_active_days,user_weeks_active_8,"
                "user_features_used,user_advanced_features_used,user_features_discovered,"
                "user_events_window,user_events_change_pct,user_days_since_active,"
                "user_dropped_off,user_stop_feature,user_trained");
    expect_line(t, "2025-04-11,U2,", "2025-04-11,U2,A1,2,2,2,1,1,3,,14,1,1,0");
    expect_line(t, "2025-04-11,U5,", "2025-04-11,U5,A1,0,0,0,0,0,0,,,0,,0");
    assert_null(line_with(t, "2025-04-11,U6,"));
    free(t);
    /* latest snapshot when no date is given */
    cw_metrics_export_opts ol = {
        .to_day = -1, .format = CW_FORMAT_CSV, .account = "A2", .metric = "seats"};
    t = export_text(&ol, &s);
    assert_int_equal(s, CW_OK);
    expect_line(t, "2025-04-11,A2,", "2025-04-11,A2,seats,0,,50");
    free(t);
    /* the table for people: whole numbers in full, four digits otherwise */
    cw_metrics_export_opts ot = {
        .from_day = D_MAIN, .to_day = D_MAIN, .format = CW_FORMAT_TABLE, .account = "A1"};
    t = export_text(&ot, &s);
    assert_int_equal(s, CW_OK);
    expect_line(
        t, "  mrr_minor ",
        "  mrr_minor                               50000                     50  minor units");
    expect_line(t, "  top_user_share ",
                "  top_user_share                         0.6452                     50  ratio");
    free(t);
    /* errors */
    cw_metrics_export_opts bad = {
        .from_day = D_MAIN, .to_day = D_MAIN, .format = CW_FORMAT_CSV, .account = "nobody"};
    free(export_text(&bad, &s));
    assert_int_equal(s, CW_ERR_NOTFOUND);
    cw_metrics_export_opts wrong = {
        .from_day = D_MAIN, .to_day = D_MAIN, .format = CW_FORMAT_CSV, .metric = "user_trained"};
    free(export_text(&wrong, &s));
    assert_int_equal(s, CW_ERR_USAGE);
    cw_metrics_export_opts none = {
        .from_day = D_MAIN + 1, .to_day = D_MAIN + 1, .format = CW_FORMAT_CSV};
    free(export_text(&none, &s));
    assert_int_equal(s, CW_ERR_NOTFOUND);
}

static void test_bad_options(void **state)
{
    (void)state;
    load_trend_world();
    cw_metrics_opts o;
    cw_metrics_opts_init(&o);
    assert_int_equal(o.window_days, 28);
    o.from_day = 20200;
    o.to_day = 20100;
    o.every_days = 7;
    cw_metrics_stats st;
    assert_int_equal(cw_metrics_run(db(), &o, &st), CW_ERR_USAGE);
    o.from_day = 0;
    o.to_day = 200000;
    o.every_days = 1;
    assert_int_equal(cw_metrics_run(db(), &o, &st), CW_ERR_USAGE);
    assert_int_equal(q_int("SELECT count(*) FROM metric_snapshots"), 0);
}

/* docs/metrics.md defines every metric of the catalogue (as `name`). */
static void test_docs_cover_catalogue(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/docs/metrics.md", CW_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *doc = calloc(1, 1 << 20);
    assert_non_null(doc);
    size_t n = fread(doc, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(n > 0);
    const cw_metric_info *m;
    int nm = cw_metrics_catalog(&m);
    for (int i = 0; i < nm; i++) {
        char needle[96];
        snprintf(needle, sizeof needle, "| `%s` |", m[i].name);
        if (!strstr(doc, needle)) {
            print_error("docs/metrics.md does not define %s\n", m[i].name);
            g_fail++;
        }
    }
    free(doc);
    DONE();
}

/* ---- fixture plumbing --------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("metrics");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_tmpdir();
}

/* Each test starts on an empty database. */
static int fresh(void **state)
{
    (void)state;
    cw_store_close(g_store);
    g_store = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*.db*", tmpdir);
    if (system(cmd) != 0)
        return -1;
    use_db("t.db");
    g_fail = 0;
    return 0;
}

static int close_db(void **state)
{
    (void)state;
    cw_store_close(g_store);
    g_store = NULL;
    return 0;
}

/* ---- custom metrics from the primitives -----------------------------------
 * Account C1 (4 seats); snapshot D = 2025-04-01, window [03-04, 04-01),
 * previous window [02-04, 03-04).
 *   CU1 report_created values 2, 2 (03-20) and 5 (03-25); 0, 0 in February
 *   CU2 report_created value 1 (03-10), login (03-10); CU3 login (03-30)
 *   CU1 report_created at 2025-04-01T00:00:00Z: not before D, ignored.
 * count 4, sum 10, distinct users 2, change (4 − 2)/2 = +100 %, days since
 * the last report 04-01 − 03-25 = 7, per seat 4/4 = 1, ratio with the
 * built-in events_window (6) = 4/6, all events per active user 6/3 = 2. */
typedef struct custom_row {
    int found, n;
    double v[MAXM];
} custom_row;

static cw_status on_custom_row(int64_t day, int64_t account, const double *vals,
                               const double *trend, const double *peers, int n, void *ud)
{
    (void)day, (void)account, (void)trend, (void)peers;
    custom_row *r = ud;
    r->found++;
    r->n = n;
    for (int i = 0; i < n && i < MAXM; i++)
        r->v[i] = vals[i];
    return CW_OK;
}

static void test_custom_metrics(void **state)
{
    (void)state;
    world w = {{NULL}};
    w.text[CW_KIND_ACCOUNTS] = "account_id,name,segment,contract_start,seats,mrr_minor,"
                               "currency,status\nC1,C1,smb,2025-01-01,4,100,USD,active\n";
    w.text[CW_KIND_USERS] = "user_id,account_id,provisioned_at\nCU1,C1,2025-01-01\n"
                            "CU2,C1,2025-01-01\nCU3,C1,2025-01-01\n";
    w.text[CW_KIND_EVENTS] = "ts,account_id,user_id,event,value\n"
                             "2025-02-10T10:00:00Z,C1,CU1,report_created,0\n"
                             "2025-02-11T10:00:00Z,C1,CU1,report_created,0\n"
                             "2025-03-10T07:00:00Z,C1,CU2,login,\n"
                             "2025-03-10T08:00:00Z,C1,CU2,report_created,1\n"
                             "2025-03-20T10:00:00Z,C1,CU1,report_created,2\n"
                             "2025-03-20T10:00:01Z,C1,CU1,report_created,2\n"
                             "2025-03-25T09:00:00Z,C1,CU1,report_created,5\n"
                             "2025-03-30T07:00:00Z,C1,CU3,login,\n"
                             "2025-04-01T00:00:00Z,C1,CU1,report_created,9\n";
    load(&w, "custom");
    static const cw_custom_metric defs[] = {
        {"reports", CW_CUSTOM_COUNT, "report_created", 0, CW_PER_NONE, NULL, NULL, NULL, NULL},
        {"report_value", CW_CUSTOM_SUM, "report_created", 0, CW_PER_NONE, NULL, NULL, NULL, NULL},
        {"reporters", CW_CUSTOM_DISTINCT_USERS, "report_created", 0, CW_PER_NONE, NULL, NULL, NULL,
         NULL},
        {"report_change", CW_CUSTOM_PCT_CHANGE, "report_created", 0, CW_PER_NONE, NULL, NULL, NULL,
         NULL},
        {"days_since_report", CW_CUSTOM_DAYS_SINCE, "report_created", 0, CW_PER_NONE, NULL, NULL,
         NULL, NULL},
        {"reports_per_seat", CW_CUSTOM_COUNT, "report_created, nosuchevent", 0, CW_PER_SEAT, NULL,
         NULL, NULL, NULL},
        {"reports_share", CW_CUSTOM_RATIO, NULL, 0, CW_PER_NONE, "reports", "events_window", NULL,
         NULL},
        {"events_per_user", CW_CUSTOM_COUNT, "*", 0, CW_PER_ACTIVE_USER, NULL, NULL, NULL, NULL},
        /* built-ins restated through the primitives must agree with them */
        {"all_events", CW_CUSTOM_COUNT, "*", 0, CW_PER_NONE, NULL, NULL, NULL, NULL},
        {"all_change", CW_CUSTOM_PCT_CHANGE, "*", 0, CW_PER_NONE, NULL, NULL, NULL, NULL},
        {"all_recency", CW_CUSTOM_DAYS_SINCE, "*", 0, CW_PER_NONE, NULL, NULL, NULL, NULL},
        {"all_users", CW_CUSTOM_DISTINCT_USERS, "*", 0, CW_PER_NONE, NULL, NULL, NULL, NULL},
    };
    const int nc = (int)(sizeof defs / sizeof defs[0]);
    int64_t D = day_of("2025-04-01");
    cw_metrics_opts o;
    cw_metrics_opts_init(&o);
    o.from_day = o.to_day = D;
    o.custom = defs;
    o.ncustom = nc;
    cw_metrics_stats st;
    assert_int_equal(cw_metrics_run(db(), &o, &st), CW_OK);
    custom_row r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cw_store_get_ops(db())->account_metrics_scan(
                         db(), D, D, id_of(CW_KIND_ACCOUNTS, "C1"), on_custom_row, &r),
                     CW_OK);
    assert_int_equal(r.found, 1);
    int base = n_account_metrics();
    assert_int_equal(r.n, base + nc);
    /* all events: 6 in the window, 2 in the previous one (+200 %), the last
     * on 03-30 (2 days), by 3 users */
    static const double want[] = {4, 10, 2, 100, 7, 1, 4.0 / 6.0, 2, 6, 200, 2, 3};
    assert_true(same(r.v[mi("events_window")], r.v[base + 8]));
    assert_true(same(r.v[mi("events_change_pct")], r.v[base + 9]));
    assert_true(same(r.v[mi("days_since_last_activity")], r.v[base + 10]));
    assert_true(same(r.v[mi("active_users")], r.v[base + 11]));
    for (int i = 0; i < nc; i++)
        if (!same(r.v[base + i], want[i]))
            fail_msg("%s: got %.17g, want %.17g", defs[i].name, r.v[base + i], want[i]);
    assert_true(same(r.v[mi("events_window")], 6));
    /* The export names them. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cw_metrics_export_opts x = {.from_day = D,
                                .to_day = D,
                                .format = CW_FORMAT_CSV,
                                .account = "C1",
                                .metric = "reports_share",
                                .custom = defs,
                                .ncustom = nc};
    assert_int_equal(cw_metrics_export(db(), &x, f), CW_OK);
    fclose(f);
    assert_non_null(strstr(buf, ",C1,reports_share,0.66666666666666"));
    free(buf);
}

/* The compute worker thread changes nothing: a weekly history of the main
 * world computed on one thread and on two gives identical stored vectors,
 * trends, peers and user rows. */
static void test_threads_same_result(void **state)
{
    (void)state;
    char *dumps[2];
    for (int t = 1; t <= 2; t++) {
        use_db(t == 1 ? "one_thread.db" : "two_threads.db");
        load_main(t == 1 ? "t1" : "t2");
        cw_metrics_opts o;
        cw_metrics_opts_init(&o);
        o.from_day = D_MAIN - 28;
        o.to_day = D_MAIN;
        o.every_days = 7;
        o.user_history = 1;
        o.threads = t;
        cw_metrics_stats st;
        assert_int_equal(cw_metrics_run(db(), &o, &st), CW_OK);
        assert_int_equal(st.snapshots_computed, 5);
        dumps[t - 1] = dump_all(D_MAIN);
    }
    expect_same_dump(dumps[0], dumps[1]);
    free(dumps[0]);
    free(dumps[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_main_account_vector, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_zero_seats_and_no_events, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_main_user_vectors, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_deactivated_mid_window, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_as_of_exact, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_trends, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_peer_percentiles, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_recompute, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_user_history_and_counts, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_churn_and_reactivation, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_leap_day, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_offsets_and_boundaries, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_window_setting, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_gini_and_top_shares, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_goal_attainment_seeds, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_export, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_bad_options, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_docs_cover_catalogue, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_custom_metrics, fresh, close_db),
        cmocka_unit_test_setup_teardown(test_threads_same_result, fresh, close_db),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
