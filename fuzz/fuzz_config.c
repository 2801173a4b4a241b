/*
 * fuzz_config.c — libFuzzer target for the configuration reader
 * (cw_ini_parse, cw_config_load_text) and the loaders of the sections it
 * keeps raw (rules and playbooks, actions and templates, the scorecard).
 *
 * Properties: nothing crashes or leaks; the reader reports lines in
 * increasing order, each within the input's line count, with no line end
 * or NUL inside a section, key or value, a header with a section name, a
 * key line with a key; it fails only with "NAME:LINE: why"; a configuration
 * that loads also has its structured sections parsed by their owners.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "core/ini.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct seen {
    int last_line, lines;
} seen;

static void check_text(const char *s)
{
    CHECK(s != NULL);
    CHECK(strchr(s, '\n') == NULL);
    CHECK(strlen(s) <= CW_INI_MAX_LINE);
}

static char *on_item(void *ud, const cw_ini_item *it)
{
    seen *sn = ud;
    CHECK(it->line > sn->last_line && it->line <= sn->lines);
    sn->last_line = it->line;
    check_text(it->section);
    check_text(it->key);
    check_text(it->value);
    CHECK(!(it->header && it->cont));
    if (it->header)
        CHECK(*it->section && !*it->key);
    else
        CHECK(*it->key);
    /* stop now and then, as a caller with an error would */
    return it->line % 97 == 0 ? cw_strdupf("stop") : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    seen sn = {0, 1};
    for (size_t i = 0; i < size; i++)
        sn.lines += data[i] == '\n';
    char *err = NULL;
    cw_status s = cw_ini_parse(text, size, "f", on_item, &sn, &err);
    CHECK(s == CW_OK || s == CW_ERR_CONFIG || s == CW_ERR_NOMEM);
    CHECK((s == CW_ERR_CONFIG) == (err != NULL));
    if (err) {
        CHECK(strncmp(err, "f:", 2) == 0);
        long line = strtol(err + 2, NULL, 10);
        CHECK(line >= 1 && line <= sn.lines);
    }
    free(err);

    cw_config *c = NULL;
    s = cw_config_load_text(text, size, "f", &c, &err);
    CHECK((s == CW_OK) == (c != NULL));
    free(err);
    if (!c)
        return 0;
    /* every failure carries a message */
    cw_error e;
    cw_rules *r = NULL;
    if (cw_rules_load(c, &r, &e) == CW_OK)
        cw_rules_free(r);
    else
        CHECK(e.msg[0] != 0);
    cw_actions *a = NULL;
    if (cw_actions_load(c, &a, &e) == CW_OK)
        cw_actions_free(a);
    else
        CHECK(e.msg[0] != 0);
    cw_scorecard *sc = NULL;
    if (cw_scorecard_load(c, &sc, &e) == CW_OK)
        cw_scorecard_free(sc);
    else
        CHECK(e.msg[0] != 0);
    cw_config_free(c);
    return 0;
}
