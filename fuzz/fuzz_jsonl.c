/*
 * fuzz_jsonl.c — libFuzzer target for the JSON Lines path: cw_line_next
 * splits the input into lines, jansson parses each, and every key of an
 * object is mapped to an events field (cw_schema_field_index) and its value
 * validated (cw_validate_field), then the row's cross-field rules run. The
 * key set also goes through kind detection. Checks the reader's contract
 * (line lengths within the limit, lines increasing, all bytes consumed)
 * besides the sanitizers.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "ingest/reader.h"
#include "ingest/schema.h"
#include "ingest/validate.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define MAX_LINE 512

/* The text of a JSON scalar as a CSV cell would carry it; 0 for objects and arrays. */
static int scalar_text(json_t *v, char *buf, size_t n, const char **s, size_t *len)
{
    int w;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 1;
    case JSON_INTEGER: w = snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: w = snprintf(buf, n, "%.17g", json_real_value(v)); break;
    case JSON_TRUE: w = snprintf(buf, n, "true"); break;
    case JSON_FALSE: w = snprintf(buf, n, "false"); break;
    case JSON_NULL: w = 0, buf[0] = '\0'; break;
    default: return 0;
    }
    CHECK(w >= 0 && (size_t)w < n);
    *s = buf;
    *len = (size_t)w;
    return 1;
}

static void check_object(const cw_kind_def *kd, json_t *obj)
{
    cw_value vals[CW_MAX_FIELDS];
    int seen[CW_MAX_FIELDS] = {0}, all_ok = 1;
    char num[CW_MAX_FIELDS][64];
    cw_strref keys[64];
    int nkeys = 0;
    const char *key;
    json_t *val;
    json_object_foreach (obj, key, val) {
        size_t klen = strlen(key);
        if (nkeys < 64)
            keys[nkeys++] = (cw_strref){key, klen};
        int i = cw_schema_field_index(kd, key, klen);
        CHECK(i >= -1 && i < kd->nfields);
        if (i < 0 || seen[i])
            continue;
        const char *s;
        size_t len;
        if (!scalar_text(val, num[i], sizeof num[i], &s, &len))
            continue;
        char why[128] = "";
        seen[i] = 1;
        int ok = cw_validate_field(&kd->fields[i], s, len, 1, &vals[i], why, sizeof why);
        CHECK(ok || why[0]);
        if (ok && vals[i].present)
            CHECK(vals[i].s >= s && vals[i].s + vals[i].len <= s + len);
        all_ok &= ok;
    }
    int amb = 0;
    cw_kind k = cw_schema_detect(keys, nkeys, &amb);
    CHECK(k >= CW_KIND_NONE && k < CW_KIND__COUNT);
    for (int i = 0; i < kd->nfields; i++)
        if (!seen[i]) {
            char why[128] = "";
            all_ok &= cw_validate_field(&kd->fields[i], "", 0, 1, &vals[i], why, sizeof why);
        }
    if (all_ok) {
        int field = -1;
        char why[128] = "";
        if (!cw_validate_row(kd, vals, &field, why, sizeof why))
            CHECK(field >= 0 && field < kd->nfields && why[0]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cw_kind_def *kd = cw_kind_get(CW_KIND_EVENTS);
    cw_reader *r = NULL;
    if (cw_reader_open_mem((const char *)data, size, MAX_LINE, &r) != CW_OK)
        return 0;
    int64_t prev_line = 0;
    for (;;) {
        cw_strref text;
        int64_t line = 0;
        const char *why = NULL;
        int rc = cw_line_next(r, &text, &line, &why);
        if (rc == CW_READ_EOF)
            break;
        CHECK(rc == CW_READ_OK || rc == CW_READ_BAD);
        CHECK(line > prev_line);
        prev_line = line;
        if (rc == CW_READ_BAD) {
            CHECK(why && why[0]);
            continue;
        }
        CHECK(text.len > 0 && text.len <= MAX_LINE);
        CHECK(memchr(text.s, '\n', text.len) == NULL);
        json_error_t jerr;
        json_t *root = json_loadb(text.s, text.len, JSON_ALLOW_NUL, &jerr);
        if (!root)
            continue;
        if (json_is_object(root))
            check_object(kd, root);
        json_decref(root);
    }
    CHECK(cw_reader_bytes(r) == (int64_t)size);
    cw_reader_close(r);
    return 0;
}
