/*
 * test_scorecard.c — the health scorecard: parsing and its errors, points
 * from bands and linear maps, weights re-spread over missing data, stages,
 * segments, colours, the version hash, and `score` runs over stored
 * snapshots (change over 28 days, skip and rescore). Expected numbers are
 * worked out by hand in the comments.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/store.h"
#include "store/sqlite/sqlite_int.h"
#include "testutil.h"

#include <math.h>
#include <sqlite3.h>
#include <unistd.h>

static int setup(void **state)
{
    (void)state;
    tu_make_tmpdir("scorecard");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tu_remove_tmpdir();
}

/* Loads text as a configuration file and its scorecard; returns the status
 * and leaves the message in *err. */
static cw_status load(const char *text, cw_scorecard **sc, cw_error *err)
{
    write_file("sc.ini", text);
    cw_config *c = NULL;
    cw_error_clear(err);
    *sc = NULL;
    cw_status s = cw_config_load(path_of("sc.ini"), &c, err);
    if (s == CW_OK)
        s = cw_scorecard_load(c, sc, err);
    cw_config_free(c);
    return s;
}

static void expect_error(const char *text, const char *fragment)
{
    cw_scorecard *sc;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load(text, &sc, &err), CW_ERR_CONFIG);
    assert_null(sc);
    assert_true(err.msg[0] != 0);
    if (!strstr(err.msg, fragment))
        fail_msg("error '%s' lacks '%s'", err.msg, fragment);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *grp = "[group.usage]\nweight = 1\n";
    char buf[1024];
    /* the line of the misspelt metric's key */
    snprintf(buf, sizeof buf,
             "%s[measure.a]\nmetric = licence_activaton\ngroup = usage\n"
             "linear = 0:0, 1:100\n",
             grp);
    expect_error(buf, "sc.ini:4: [measure.a] metric: 'licence_activaton' is not an account metric");
    snprintf(buf, sizeof buf, "%s[measure.licence_activation]\ngroup = usage\n", grp);
    expect_error(buf, "[measure.licence_activation] bands: a measure needs bands");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = nope\nbands = else:1\n", grp);
    expect_error(buf, "sc.ini:4: [measure.seats] group: no [group.nope] section");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = usage\nbands = <1:0, 5:10, else:1\n",
             grp);
    expect_error(buf, "sc.ini:5: [measure.seats] bands: band '5' must start with <");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = usage\nbands = <1:0\n", grp);
    expect_error(buf, "sc.ini:5: [measure.seats] bands: bands need a final 'else:POINTS'");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = usage\nlinear = 0:0, 2:50, 1:100\n", grp);
    expect_error(buf, "ascending or descending");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = usage\nlinear = 0:0, 1:101\n", grp);
    expect_error(buf, "points must be a number in 0..100");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = usage\nweight = -2\nbands = else:1\n",
             grp);
    expect_error(buf, "sc.ini:5: [measure.seats] weight: '-2' is not a weight");
    snprintf(buf, sizeof buf, "%s[measure.seats]\ngroup = usage\nbands = else:1\ncolor = red\n",
             grp);
    expect_error(buf, "sc.ini:6: [measure.seats] color: is not a measure key");
    expect_error("[group.usage]\nweight.onboarding = 2\n[measure.seats]\ngroup = usage\n"
                 "bands = else:1\n",
                 "sc.ini:2: [group.usage] weight: a group needs a weight");
    snprintf(buf, sizeof buf,
             "[scorecard]\ngreen_from = 40\nred_below = 60\n%s"
             "[measure.seats]\ngroup = usage\nbands = else:1\n",
             grp);
    expect_error(buf, "red_below (60) is above green_from (40)");
    expect_error("[scorecard]\nname = x\n", "has no [measure.NAME] sections");
}

/* One group, one measure: the score is the measure's points. */
static double one(const char *points_line, double x)
{
    char buf[512];
    snprintf(buf, sizeof buf, "[group.g]\nweight = 1\n[measure.seats]\ngroup = g\n%s\n",
             points_line);
    cw_scorecard *sc;
    cw_error err = {CW_OK, ""};
    if (load(buf, &sc, &err) != CW_OK)
        fail_msg("%s", err.msg);
    double v = cw_scorecard_eval(sc, &x, 1, NULL, NULL, NULL);
    cw_scorecard_free(sc);
    return v;
}

static void test_points(void **state)
{
    (void)state;
    const char *bands = "bands = <=0:100, <=1:50, <3:25, else:0";
    assert_float_equal(one(bands, -1), 100, 1e-12);
    assert_float_equal(one(bands, 0), 100, 1e-12);
    assert_float_equal(one(bands, 0.5), 50, 1e-12);
    assert_float_equal(one(bands, 1), 50, 1e-12);
    assert_float_equal(one(bands, 2.99), 25, 1e-12);
    assert_float_equal(one(bands, 3), 0, 1e-12);
    /* ascending anchors: clamp below 0.2 and above 0.8; 0.5 is halfway */
    const char *up = "linear = 0.2:0, 0.8:100";
    assert_float_equal(one(up, 0.1), 0, 1e-12);
    assert_float_equal(one(up, 0.5), 50, 1e-9);
    assert_float_equal(one(up, 0.65), 75, 1e-9);
    assert_float_equal(one(up, 2), 100, 1e-12);
    /* descending with a middle anchor: 0.7→0, 0.5→60, 0.25→100;
     * 0.6 is halfway between 0.7 and 0.5 → 30; 0.3 is 0.8 of the way
     * from 0.5 to 0.25 → 60 + 0.8·40 = 92 */
    const char *down = "linear = 0.7:0, 0.5:60, 0.25:100";
    assert_float_equal(one(down, 0.9), 0, 1e-12);
    assert_float_equal(one(down, 0.6), 30, 1e-9);
    assert_float_equal(one(down, 0.3), 92, 1e-9);
    assert_float_equal(one(down, 0.1), 100, 1e-12);
}

static const char *two_groups = "[scorecard]\n"
                                "green_from = 70\n"
                                "red_below = 40\n"
                                "[group.usage]\n"
                                "weight = 60\n"
                                "weight.onboarding = 20\n"
                                "[group.voice]\n"
                                "weight = 40\n"
                                "[measure.u1]\n"
                                "metric = active_licence_ratio\n"
                                "group = usage\n"
                                "linear = 0:0, 1:100\n"
                                "[measure.u2]\n"
                                "metric = events_change_pct\n"
                                "group = usage\n"
                                "weight = 3\n"
                                "bands = <-30:0, else:100\n"
                                "[measure.v1]\n"
                                "metric = nps_latest\n"
                                "group = voice\n"
                                "linear = 0:0, 10:100\n"
                                "[measure.late_tickets]\n"
                                "metric = intro_tickets_after_day90\n"
                                "group = voice\n"
                                "stage = established\n"
                                "missing = 100\n"
                                "bands = <=0:100, else:0\n"
                                "[measure.big_only]\n"
                                "metric = seats\n"
                                "group = voice\n"
                                "segments = enterprise, mid\n"
                                "bands = <100:0, else:100\n";

static void test_weights_and_missing(void **state)
{
    (void)state;
    cw_scorecard *sc;
    cw_error err = {CW_OK, ""};
    if (load(two_groups, &sc, &err) != CW_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(cw_scorecard_measures(sc), 5);
    double c[5], mx[5];
    /* Established, smb (big_only does not apply), u1 = 0.5 → 50 pts,
     * u2 = 0 → 100, v1 = 2 → 20, late_tickets missing → 100 by policy.
     * usage: (1·50 + 3·100)/4 = 87.5; voice: (20 + 100)/2 = 60;
     * score = 0.6·87.5 + 0.4·60 = 76.5. Contributions: u1 0.6·¼·50 = 7.5,
     * u2 0.6·¾·100 = 45, v1 0.4·½·20 = 4, late 0.4·½·100 = 20. */
    double in[5] = {0.5, 0, 2, NAN, 500};
    double s = cw_scorecard_eval(sc, in, 1, "smb", c, mx);
    assert_float_equal(s, 76.5, 1e-9);
    assert_float_equal(c[0], 7.5, 1e-9);
    assert_float_equal(c[1], 45, 1e-9);
    assert_float_equal(c[2], 4, 1e-9);
    assert_float_equal(c[3], 20, 1e-9);
    assert_true(isnan(c[4]));
    assert_float_equal(mx[0] + mx[1] + mx[2] + mx[3], 100, 1e-9);
    assert_int_equal(cw_scorecard_colour(sc, s), CW_GREEN);
    /* v1 missing (dropped): voice keeps late_tickets alone → 100;
     * score = 0.6·87.5 + 0.4·100 = 92.5 */
    in[2] = NAN;
    assert_float_equal(cw_scorecard_eval(sc, in, 1, "smb", c, NULL), 92.5, 1e-9);
    assert_true(isnan(c[2]));
    /* Enterprise: big_only applies (500 seats → 100); voice = (20+100+100)/3 */
    in[2] = 2;
    s = cw_scorecard_eval(sc, in, 1, "enterprise", c, NULL);
    assert_float_equal(s, 0.6 * 87.5 + 0.4 * (220.0 / 3), 1e-9);
    assert_float_equal(c[4], 0.4 * 100 / 3, 1e-9);
    /* "enter" is not a listed segment, nor a prefix match */
    cw_scorecard_eval(sc, in, 1, "enter", c, NULL);
    assert_true(isnan(c[4]));
    /* Onboarding: late_tickets does not apply, usage weighs 20 vs 40:
     * usage 87.5, voice 20 → (20·87.5 + 40·20)/60 = 42.5 → yellow */
    s = cw_scorecard_eval(sc, in, 0, "smb", c, NULL);
    assert_float_equal(s, (20 * 87.5 + 40 * 20) / 60.0, 1e-9);
    assert_int_equal(cw_scorecard_colour(sc, s), CW_YELLOW);
    /* The whole voice group missing: usage carries all the weight */
    double none[5] = {0.5, 0, NAN, NAN, NAN};
    assert_float_equal(cw_scorecard_eval(sc, none, 0, "smb", NULL, NULL), 87.5, 1e-9);
    /* Nothing at all: no score */
    double empty[5] = {NAN, NAN, NAN, NAN, NAN};
    assert_true(isnan(cw_scorecard_eval(sc, empty, 0, "smb", NULL, NULL)));
    /* Cut-offs: green from 70 inclusive, red below 40 exclusive */
    assert_int_equal(cw_scorecard_colour(sc, 70), CW_GREEN);
    assert_int_equal(cw_scorecard_colour(sc, 69.99), CW_YELLOW);
    assert_int_equal(cw_scorecard_colour(sc, 40), CW_YELLOW);
    assert_int_equal(cw_scorecard_colour(sc, 39.99), CW_RED);
    assert_int_equal(cw_scorecard_stage(sc, 89), 0);
    assert_int_equal(cw_scorecard_stage(sc, 90), 1);
    cw_scorecard_free(sc);
}

static void test_hash_and_default(void **state)
{
    (void)state;
    cw_scorecard *a, *b, *c;
    cw_error err = {CW_OK, ""};
    assert_int_equal(load(two_groups, &a, &err), CW_OK);
    assert_int_equal(load(two_groups, &b, &err), CW_OK);
    assert_string_equal(cw_scorecard_hash(a), cw_scorecard_hash(b));
    assert_int_equal(strlen(cw_scorecard_hash(a)), 16);
    /* One weight changed: another version */
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", two_groups);
    char *w = strstr(buf, "weight = 3");
    w[9] = '4';
    assert_int_equal(load(buf, &c, &err), CW_OK);
    assert_string_not_equal(cw_scorecard_hash(a), cw_scorecard_hash(c));
    cw_scorecard_free(a);
    cw_scorecard_free(b);
    cw_scorecard_free(c);
    /* No scorecard sections: the built-in default, valid, from the seeds */
    cw_scorecard *d;
    assert_int_equal(cw_scorecard_load(NULL, &d, &err), CW_OK);
    assert_string_equal(cw_scorecard_name(d), "default");
    assert_true(cw_scorecard_measures(d) >= 15);
    int families = 0;
    const char *seen[16];
    for (int i = 0; i < cw_scorecard_measures(d); i++) {
        cw_measure_info m;
        cw_scorecard_measure_info(d, i, &m);
        assert_true(cw_metric_index(m.metric) >= 0);
        int dup = 0;
        for (int k = 0; k < families; k++)
            dup |= strcmp(seen[k], m.group) == 0;
        if (!dup)
            seen[families++] = m.group;
    }
    assert_int_equal(families, 7);
    cw_scorecard_free(d);
}

/* ---- runs over stored snapshots ------------------------------------- */

static const char *accounts_csv =
    "account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
    "A1,Alpha,smb,2024-01-01,10,10000,EUR,active\n"
    "A2,Beta,enterprise,2024-01-01,200,90000,EUR,active\n";

/* Stores a snapshot for day with the two accounts' vectors: everything
 * missing but tenure (365), active_licence_ratio, events_change_pct,
 * nps_latest and seats. */
static void put_snapshot(cw_store *st, int64_t day, const double a1[4], const double a2[4])
{
    const cw_store_ops *ops = cw_store_get_ops(st);
    const cw_metric_info *cat;
    int n = cw_metrics_catalog(&cat), na = 0;
    char names[8192] = "";
    size_t l = 0;
    for (int i = 0; i < n; i++)
        if (cat[i].scope == CW_SCOPE_ACCOUNT) {
            l += (size_t)snprintf(names + l, sizeof names - l, "%s%s", na ? "," : "", cat[i].name);
            na++;
        }
    assert_int_equal(ops->begin(st), CW_OK);
    assert_int_equal(ops->snapshot_put(st, day, 28, names, 2, 0), CW_OK);
    const double *src[2] = {a1, a2};
    for (int a = 0; a < 2; a++) {
        double v[128];
        for (int i = 0; i < na; i++)
            v[i] = NAN;
        v[cw_metric_index("tenure_days")] = 365;
        v[cw_metric_index("active_licence_ratio")] = src[a][0];
        v[cw_metric_index("events_change_pct")] = src[a][1];
        v[cw_metric_index("nps_latest")] = src[a][2];
        v[cw_metric_index("seats")] = src[a][3];
        assert_int_equal(ops->account_metrics_put(st, day, a + 1, v, NULL, na), CW_OK);
    }
    assert_int_equal(ops->commit(st), CW_OK);
}

static int64_t count(cw_store *st, const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static double real(cw_store *st, const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    double v = sqlite3_column_type(q, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void test_run(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv"};
    const char *texts[] = {accounts_csv};
    cw_store *st;
    tu_load("run.db", 1, names, texts, &st);
    cw_scorecard *sc;
    cw_error err = {CW_OK, ""};
    if (load(two_groups, &sc, &err) != CW_OK)
        fail_msg("%s", err.msg);
    int64_t d0 = cw_days_from_civil(2025, 3, 1), d1 = d0 + 28;
    /* A1 day 0: u1 0.5→50, u2 -10→100, v1 8→80, late missing→100:
     * 0.6·87.5 + 0.4·90 = 88.5. Day 28: u1 0.2→20, u2 -40→0, v1 8:
     * usage (20+0)/4 = 5, voice 90 → 0.6·5 + 0.4·90 = 39 (red), change -49.5.
     * A2 (enterprise, 200 seats → big_only 100) day 0: u1 1→100, u2 0→100,
     * v1 missing: voice (100+100)/2 = 100 → 100; day 28 the same. */
    put_snapshot(st, d0, (double[]){0.5, -10, 8, 10}, (double[]){1, 0, NAN, 200});
    put_snapshot(st, d1, (double[]){0.2, -40, 8, 10}, (double[]){1, 0, NAN, 200});
    cw_score_stats stats;
    assert_int_equal(cw_score_run(st, sc, NULL, &stats), CW_OK);
    assert_int_equal(stats.days_scored, 2);
    assert_int_equal(stats.rows, 4);
    assert_int_equal(stats.colour_count[CW_RED], 1);
    assert_int_equal(stats.colour_count[CW_GREEN], 1);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT score FROM scores WHERE account=1 AND day=%lld",
             (long long)d0);
    assert_float_equal(real(st, sql), 88.5, 1e-9);
    snprintf(sql, sizeof sql, "SELECT score FROM scores WHERE account=1 AND day=%lld",
             (long long)d1);
    assert_float_equal(real(st, sql), 39, 1e-9);
    snprintf(sql, sizeof sql, "SELECT change FROM scores WHERE account=1 AND day=%lld",
             (long long)d1);
    assert_float_equal(real(st, sql), -49.5, 1e-9);
    snprintf(sql, sizeof sql, "SELECT change FROM scores WHERE account=1 AND day=%lld",
             (long long)d0);
    assert_true(isnan(real(st, sql))); /* nothing 28 days before the first snapshot */
    snprintf(sql, sizeof sql, "SELECT colour FROM scores WHERE account=1 AND day=%lld",
             (long long)d1);
    assert_int_equal(count(st, sql), CW_RED);
    /* contributions add up to the score: u1 0.6·¼·20 = 3, u2 0,
     * v1 0.4·½·80 = 16, late 20 */
    snprintf(sql, sizeof sql, "SELECT contrib FROM scores WHERE account=1 AND day=%lld",
             (long long)d1);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0),
                        "{\"u1\":3,\"u2\":0,\"v1\":16,\"late_tickets\":20}");
    sqlite3_finalize(q);
    assert_int_equal(count(st, "SELECT count(*) FROM scorecards"), 1);
    /* A second run skips both days; --recompute rescores them */
    assert_int_equal(cw_score_run(st, sc, NULL, &stats), CW_OK);
    assert_int_equal(stats.days_scored, 0);
    assert_int_equal(stats.days_skipped, 2);
    cw_score_opts o;
    cw_score_opts_init(&o);
    o.recompute = 1;
    o.from_day = o.to_day = d1;
    assert_int_equal(cw_score_run(st, sc, &o, &stats), CW_OK);
    assert_int_equal(stats.days_scored, 1);
    assert_int_equal(count(st, "SELECT count(*) FROM scores"), 4);
    /* Export: riskiest first, as JSON Lines */
    FILE *f = fopen(path_of("out.jsonl"), "w+");
    cw_score_export_opts x;
    cw_score_export_opts_init(&x);
    x.format = CW_FORMAT_JSON;
    assert_int_equal(cw_score_export(st, sc, &x, f), CW_OK);
    rewind(f);
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\"account_id\":\"A1\""));
    assert_non_null(strstr(line, "\"score\":39,\"colour\":\"red\",\"change\":-49.5"));
    /* the weakest measure first: u2 lost all its 45 points */
    assert_non_null(strstr(line, "\"measures\":[{\"name\":\"u2\""));
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\"account_id\":\"A2\""));
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    /* A changed scorecard: the stored day is another version's */
    cw_scorecard *other;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", two_groups);
    strstr(buf, "weight = 3")[9] = '1';
    assert_int_equal(load(buf, &other, &err), CW_OK);
    f = fopen(path_of("out2.txt"), "w");
    assert_int_equal(cw_score_export(st, other, &x, f), CW_ERR_USAGE);
    fclose(f);
    assert_non_null(strstr(cw_store_errmsg(st), "--recompute"));
    /* …and a run rescores both days with it */
    assert_int_equal(cw_score_run(st, other, NULL, &stats), CW_OK);
    assert_int_equal(stats.days_scored, 2);
    assert_int_equal(count(st, "SELECT count(DISTINCT scorecard) FROM scores"), 1);
    assert_int_equal(count(st, "SELECT count(*) FROM scorecards"), 2);
    cw_scorecard_free(other);
    cw_scorecard_free(sc);
    cw_store_close(st);
}

static void test_no_snapshots(void **state)
{
    (void)state;
    const char *names[] = {"accounts.csv"};
    const char *texts[] = {accounts_csv};
    cw_store *st;
    tu_load("empty.db", 1, names, texts, &st);
    cw_scorecard *sc;
    cw_error err = {CW_OK, ""};
    assert_int_equal(cw_scorecard_load(NULL, &sc, &err), CW_OK);
    assert_int_equal(cw_score_run(st, sc, NULL, NULL), CW_ERR_NOTFOUND);
    assert_non_null(strstr(cw_store_errmsg(st), "churnwatch metrics"));
    assert_int_equal(count(st, "SELECT count(*) FROM scorecards"), 0);
    cw_scorecard_free(sc);
    cw_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_points),
        cmocka_unit_test(test_weights_and_missing),
        cmocka_unit_test(test_hash_and_default),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_no_snapshots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
