/*
 * fuzz_time.c — libFuzzer target for cw_time_parse.
 *
 * The input is one timestamp, parsed in both naive modes. Properties: a
 * failure carries a reason; a success lies in the accepted range; accepting
 * it without naive_utc implies the same value with it; and formatting the
 * value and parsing that back gives the value again (the date-only form
 * gives the day's midnight).
 */
#include "churnwatch.h"
#include "churnwatch.h"

#include <stdint.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int64_t t[2] = {0, 0};
    int ok[2];
    for (int naive = 0; naive < 2; naive++) {
        const char *why = NULL;
        cw_status st = cw_time_parse(s, size, naive ? CW_TIME_NAIVE_UTC : 0, &t[naive], &why);
        ok[naive] = st == CW_OK;
        if (!ok[naive]) {
            CHECK(st == CW_ERR_INPUT && why && why[0]);
            continue;
        }
        CHECK(t[naive] >= 0 && t[naive] < 4102444800LL);
        char buf[32];
        int64_t back = -1;
        cw_time_format(t[naive], CW_TIME_TIMESTAMP, buf, sizeof buf);
        CHECK(strlen(buf) == 20);
        CHECK(cw_time_parse(buf, strlen(buf), 0, &back, NULL) == CW_OK && back == t[naive]);
        cw_time_format(t[naive], CW_TIME_DATE, buf, sizeof buf);
        CHECK(strlen(buf) == 10);
        CHECK(cw_time_parse(buf, strlen(buf), 0, &back, NULL) == CW_OK &&
              back == t[naive] - t[naive] % 86400);
    }
    if (ok[0])
        CHECK(ok[1] && t[0] == t[1]);
    return 0;
}
