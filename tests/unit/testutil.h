/*
 * testutil.h — scaffolding the data-driven unit tests share: a scratch
 * directory per test program, paths inside it, and fixture files written
 * into it. Include after <cmocka.h>; everything is static to the test.
 */
#ifndef CW_TESTUTIL_H
#define CW_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
