/*
 * testutil.h — scaffolding the data-driven unit tests share: a scratch
 * directory per test program, paths inside it, and fixture files written
 * into it. Include after <cmocka.h>; everything is static to the test.
 */
#ifndef CW_TESTUTIL_H
#define CW_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churnwatch.h"

/* The test program's scratch directory (tu_make_tmpdir fills it). */
static char tmpdir[256];

/* Creates /tmp/cw-test-<prefix>-XXXXXX as the scratch directory. */
static inline void tu_make_tmpdir(const char *prefix)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cw-test-%s-XXXXXX", prefix);
    assert_non_null(mkdtemp(tmpdir));
}

/* Removes the scratch directory and all in it; 0 on success. */
static inline int tu_remove_tmpdir(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The path of name inside the scratch directory; the last four results stay
 * valid, so a call may take several paths. */
static inline const char *path_of(const char *name)
{
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Writes text to name in the scratch directory (replacing it). */
static inline void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Ingest messages: errors are printed (warnings are expected noise). */
static inline void tu_on_msg(int warning, const char *m, void *ud)
{
    (void)ud;
    if (!warning)
        print_error("ingest: %s\n", m);
}

/* Opens a fresh database db in the scratch directory into *st (closing none:
 * the caller closes the previous one) and ingests the n fixture texts as
 * files "<db>.<names[i]>" in one run; any error or rejected row fails. */
static inline void tu_load(const char *db, int n, const char *const *names,
                           const char *const *texts, cw_store **st)
{
    cw_error err = {CW_OK, ""};
    remove(path_of(db));
    if (cw_store_open(path_of(db), NULL, st, &err) != CW_OK)
        fail_msg("open: %s", err.msg);
    char *paths[16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        char fn[128];
        snprintf(fn, sizeof fn, "%s.%s", db, names[i]);
        write_file(fn, texts[i]);
        paths[i] = strdup(path_of(fn));
    }
    cw_ingest_opts o;
    cw_ingest_opts_init(&o);
    o.on_message = tu_on_msg;
    cw_ingest_stats ist;
    cw_status s = cw_ingest_files(*st, (const char *const *)paths, (size_t)n, &o, &ist);
    for (int i = 0; i < n; i++)
        free(paths[i]);
    assert_int_equal(s, CW_OK);
    assert_int_equal(ist.rejected, 0);
}

#endif
