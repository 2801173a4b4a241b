/*
 * fuzz_template.c — libFuzzer target for the action template renderer
 * (cw_template_render, cw_template_check).
 *
 * The input is a template, optionally followed by a NUL byte and a JSON
 * payload (else a fixed alert payload is used). Properties: the renderer
 * never crashes or leaks; a success yields a string within CW_TEMPLATE_MAX
 * and a failure a reason and no output; with the header escape the output
 * holds no CR or LF taken from a value (the fixed payload's values carry
 * them, the template text here has none), and with the Slack escape no raw
 * '<' or '>' from a value; a template the load-time check accepts renders
 * against a payload that has every documented field.
 */
#include "churnwatch.h"
#include "churnwatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static const char *fixed =
    "{\"alert_id\":1,\"rule\":\"r\\r\\n<x>\",\"description\":\"d\\n<!channel>\","
    "\"severity\":\"warning\",\"scope\":\"user\",\"account_id\":\"A\\r\",\"account_name\":"
    "\"<N>\\n\",\"segment\":\"s\",\"owner\":\"o\",\"user_id\":\"u\",\"user_email\":\"e\","
    "\"opened_day\":\"2025-01-01\",\"values\":{\"x\":\"<v>\\r\\n\"},\"feature\":\"f<\\n\","
    "\"health_score\":1.5,"
    "\"churn_probability\":0.25,\"playbook\":\"p\",\"action\":\"a\",\"idem_key\":\"k\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    size_t tl = strlen(buf);
    const char *payload = tl < size ? buf + tl + 1 : fixed;
    int has_ctl = memchr(buf, '\r', tl) || memchr(buf, '\n', tl);
    int has_angle = memchr(buf, '<', tl) || memchr(buf, '>', tl);
    for (int esc = 0; esc < 3; esc++) {
        char *out = NULL;
        cw_error why = {CW_OK, ""};
        cw_status s = cw_template_render(buf, payload, (cw_escape)esc, &out, &why);
        if (s == CW_OK) {
            CHECK(out != NULL && strlen(out) < CW_TEMPLATE_MAX);
            if (payload == fixed && esc == CW_ESCAPE_HEADER && !has_ctl)
                CHECK(!strchr(out, '\r') && !strchr(out, '\n'));
            if (payload == fixed && esc == CW_ESCAPE_SLACK && !has_angle)
                CHECK(!strchr(out, '<') && !strchr(out, '>'));
        } else {
            CHECK(out == NULL && why.msg[0] != 0);
        }
        free(out);
    }
    cw_error why;
    if (cw_template_check(buf, &why) == CW_OK) {
        /* every name the check accepts exists in the fixed payload, except
         * values.* names other than x: those may render as missing */
        char *out = NULL;
        cw_status s = cw_template_render(buf, fixed, CW_ESCAPE_NONE, &out, &why);
        CHECK(s == CW_OK || strstr(why.msg, "{{values.") || s == CW_ERR_TOOBIG);
        free(out);
    }
    free(buf);
    return 0;
}
