/*
 * jsondiff.h — the differential check of lib/ingest/jsonscan.c against jansson,
 * shared by tests/unit/test_jsonscan.c and fuzz/fuzz_jsonscan.c: both read
 * one line; they must accept and reject the same lines, and an accepted
 * line must give the same tree (key order, decoded keys and strings, the
 * same integer and the same double for every number) and the same texts
 * ingest makes of scalars (%lld, %.17g).
 */
#ifndef CW_JSONDIFF_H
#define CW_JSONDIFF_H

#include "ingest/jsonscan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compares a jansson value with the scanner's; NULL when equal, else a
 * static description of the first difference. */
static const char *jd_same(cw_jscan *js, json_t *j, cw_jval v, int depth)
{
    char a[64], b[64];
    cw_strref t;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (v.type != CW_JSON_OBJECT)
            return "object vs other type";
        const char *key, *pos = NULL;
        json_t *jv;
        cw_jval k, sv;
        json_object_foreach (j, key, jv) {
            if (!cw_json_member_next(v, &pos, &k, &sv))
                return "fewer members";
            if (!cw_json_string(js, k, &t) || t.len != strlen(key) || memcmp(t.s, key, t.len))
                return "different key";
            const char *d = jd_same(js, jv, sv, depth + 1);
            if (d)
                return d;
            cw_jval g = cw_json_get(js, v, key, strlen(key));
            if (g.s != sv.s || g.type != sv.type)
                return "cw_json_get found another member";
        }
        if (cw_json_member_next(v, &pos, &k, &sv))
            return "more members";
        if (depth == 0) {
            const cw_jmember *mem;
            size_t n = cw_jscan_members(js, &mem);
            if (n != json_object_size(j))
                return "top-level member count";
            size_t i = 0;
            json_object_foreach (j, key, jv) {
                if (mem[i].key.len != strlen(key) || memcmp(mem[i].key.s, key, mem[i].key.len))
                    return "top-level key";
                i++;
            }
        }
        return NULL;
    }
    case JSON_ARRAY: {
        if (v.type != CW_JSON_ARRAY)
            return "array vs other type";
        const char *pos = NULL;
        cw_jval el;
        size_t i;
        json_t *je;
        json_array_foreach (j, i, je) {
            if (!cw_json_next(v, &pos, &el))
                return "fewer elements";
            const char *d = jd_same(js, je, el, depth + 1);
            if (d)
                return d;
            if (i < 4 && cw_json_at(v, i).s != el.s)
                return "cw_json_at found another element";
        }
        return cw_json_next(v, &pos, &el) ? "more elements" : NULL;
    }
    case JSON_STRING:
        if (v.type != CW_JSON_STRING)
            return "string vs other type";
        if (!cw_json_string(js, v, &t))
            return "string: out of memory";
        if (t.len != json_string_length(j) || memcmp(t.s, json_string_value(j), t.len))
            return "different string";
        return NULL;
    case JSON_INTEGER:
        if (v.type != CW_JSON_INTEGER)
            return "integer vs other type";
        if (cw_json_integer(v) != (long long)json_integer_value(j))
            return "different integer";
        snprintf(a, sizeof a, "%lld", (long long)json_integer_value(j));
        t = cw_json_integer_text(v);
        if (t.len != strlen(a) || memcmp(t.s, a, t.len))
            return "different integer text";
        return NULL;
    case JSON_REAL: {
        if (v.type != CW_JSON_REAL)
            return "real vs other type";
        double x = json_real_value(j), y = cw_json_real(v);
        if (memcmp(&x, &y, sizeof x) != 0)
            return "different real";
        snprintf(a, sizeof a, "%.17g", x);
        snprintf(b, sizeof b, "%.17g", y);
        if (strcmp(a, b))
            return "different real text";
        /* The mapping's form: the shortest of %.15g..%.17g that reads
         * back (lib/ingest/mapping.c real_text). */
        if (cw_json_real_short(v, b, sizeof b)) {
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(a, sizeof a, "%.*g", prec, x);
                if (strtod(a, NULL) == x)
                    break;
            }
            if (strcmp(a, b))
                return "different shortest real text";
        }
        return NULL;
    }
    case JSON_TRUE: return v.type == CW_JSON_TRUE ? NULL : "true vs other";
    case JSON_FALSE: return v.type == CW_JSON_FALSE ? NULL : "false vs other";
    case JSON_NULL: return v.type == CW_JSON_NULL ? NULL : "null vs other";
    }
    return "unknown jansson type";
}

/* Reads s[0..len) both ways; NULL when they agree. When both reject,
 * *same_msg (if given) says whether the column and the message are
 * jansson's too (messages are not part of the contract). */
static const char *jd_check_msg(cw_jscan *js, const char *s, size_t len, int *same_msg)
{
    json_error_t jerr;
    json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    cw_jval root;
    int col = 0;
    const char *why = NULL;
    cw_status st = cw_jscan_parse(js, s, len, &root, &col, &why);
    const char *d = NULL;
    if (st == CW_ERR_NOMEM)
        d = NULL; /* not a disagreement */
    else if (!j && st == CW_OK)
        d = "scanner accepts what jansson rejects";
    else if (j && st != CW_OK)
        d = "scanner rejects what jansson accepts";
    else if (j)
        d = jd_same(js, j, root, 0);
    else if (col < 0 || !why || !why[0])
        d = "rejected without a column and a reason";
    if (same_msg)
        *same_msg = !j && st == CW_ERR_INPUT && col == jerr.column && strcmp(why, jerr.text) == 0;
    json_decref(j);
    return d;
}

static inline const char *jd_check(cw_jscan *js, const char *s, size_t len)
{
    return jd_check_msg(js, s, len, NULL);
}

#endif
