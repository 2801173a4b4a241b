/*
 * test_config_scale.c — loading is linear in the configuration's size:
 * 100,000 rules, 1,000 playbooks over 200 actions are read, compiled and
 * linked (cw_config_load, cw_rules_load, cw_actions_load). Loading used to
 * look each section up by scanning all the others (8k rules 0.36 s, 200k
 * not done in 60 s); the guard is ctest's TIMEOUT (tests/CMakeLists.txt),
 * far above the linear time and far below the quadratic one, rather than a
 * wall-clock assertion. bench/config.sh measures it (docs/benchmarks.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "churnwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_RULES = 100000, N_PLAYBOOKS = 1000, N_ACTIONS = 200 };

static void test_many_rules_load_linearly(void **state)
{
    (void)state;
    char path[] = "/tmp/cw-test-scale-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    for (int a = 0; a < N_ACTIONS; a++)
        fprintf(f, "[action.a%d]\ntype = jsonl\nfile = alerts-%d.jsonl\n\n", a, a);
    for (int p = 0; p < N_PLAYBOOKS; p++)
        fprintf(f, "[playbook.p%d]\nactions = a%d, csm_task\n\n", p, p % N_ACTIONS);
    /* Written in reverse name order, so that sorting has work to do. */
    for (int i = N_RULES - 1; i >= 0; i--) {
        fprintf(f, "[rule.r%06d]\ndescription = generated rule %d\n", i, i);
        fprintf(f, "when = licence_activation < 0.%d and health_score < 50\n", i % 10);
        if (i % 10 == 0)
            fprintf(f, "playbook = p%d\n", (i / 10) % N_PLAYBOOKS);
        fprintf(f, "\n");
    }
    assert_int_equal(fclose(f), 0);

    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    cw_status s = cw_config_load(path, &c, &err);
    if (s != CW_OK)
        fail_msg("%s", err.msg);
    cw_rules *r = NULL;
    s = cw_rules_load(c, &r, &err);
    if (s != CW_OK)
        fail_msg("%s", err.msg);
    /* the stock rules and playbooks come on top */
    assert_true(cw_rules_count(r) > N_RULES);
    assert_true(cw_playbooks_count(r) > N_PLAYBOOKS);
    const cw_rule *ru = cw_rules_find(r, "r000000");
    assert_non_null(ru);
    assert_string_equal(ru->playbook, "p0");
    assert_non_null(cw_playbooks_find(r, "p999"));
    ru = cw_rules_find(r, "r099999");
    assert_non_null(ru);
    assert_string_equal(ru->description, "generated rule 99999");
    for (int i = 1; i < cw_rules_count(r); i++)
        assert_true(strcmp(cw_rules_get(r, i - 1)->name, cw_rules_get(r, i)->name) < 0);
    cw_actions *acts = NULL;
    s = cw_actions_load(c, &acts, &err);
    if (s != CW_OK)
        fail_msg("%s", err.msg);
    assert_non_null(cw_actions_find(acts, "a199"));
    cw_actions_free(acts);
    cw_rules_free(r);
    cw_config_free(c);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_rules_load_linearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
