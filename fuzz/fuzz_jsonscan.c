/*
 * fuzz_jsonscan.c — libFuzzer target for the JSON Lines scanner
 * (lib/ingest/jsonscan.c): the input is one line, read by the scanner and by
 * jansson with JSON_REJECT_DUPLICATES (the parser it replaces); any
 * disagreement — accepting what jansson rejects or the reverse, another
 * tree, another decoded string, integer, double or text — aborts, as
 * tests/unit/jsondiff.h defines it. The scanner is reused across inputs,
 * as ingest reuses it across lines.
 */
#include "../tests/unit/jsondiff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cw_jscan *js;
    if (!js && !(js = cw_jscan_new()))
        return 0;
    /* An exact-size copy: the sanitizers catch a read past the line. */
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    const char *d = jd_check(js, line, size);
    if (d) {
        fprintf(stderr, "jsonscan disagrees with jansson: %s\n", d);
        __builtin_trap();
    }
    free(line);
    return 0;
}
