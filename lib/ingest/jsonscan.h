/*
 * jsonscan.h — the JSON Lines scanner (jsonscan.c): validates one line as
 * jansson does with JSON_REJECT_DUPLICATES (same accept/reject, same
 * values) without building a tree, then reads values out of the validated
 * bytes. Nothing is allocated per line once the scanner's buffers have
 * grown to the longest line. Internal to the library and its tests.
 */
#ifndef CW_JSONSCAN_H
#define CW_JSONSCAN_H

#include "core/util.h"

#include <stdint.h>

enum {
    CW_JSON_ABSENT = 0,
    CW_JSON_OBJECT,
    CW_JSON_ARRAY,
    CW_JSON_STRING,
    CW_JSON_INTEGER,
    CW_JSON_REAL,
    CW_JSON_TRUE,
    CW_JSON_FALSE,
    CW_JSON_NULL
};

/* jansson's JSON_PARSER_MAX_DEPTH: values nested deeper are rejected. */
#define CW_JSON_MAX_DEPTH 2048

/* A value inside validated text. Strings: the bytes between the quotes
 * (esc: they hold escapes); containers: from the bracket to its match;
 * numbers and literals: their text. type CW_JSON_ABSENT: no value. */
typedef struct cw_jval {
    const char *s;
    uint32_t len; /* lines are far below 4 GiB (ingest.max_line_bytes) */
    uint16_t type;
    uint16_t esc; /* 16 bytes: passed and returned in registers */
} cw_jval;

/* A member of the top-level object, or of an object one level down: its
 * key decoded (not NUL-ended). sub, nsub: for a top-level member whose
 * value is an object, where that object's members are (see
 * cw_jscan_submembers). */
typedef struct cw_jmember {
    cw_strref key;
    cw_jval val;
    uint32_t sub, nsub;
} cw_jmember;

typedef struct cw_jscan cw_jscan;
struct cw_map_step;

/* A scanner with empty buffers (caller frees with cw_jscan_free), or NULL
 * when out of memory. */
cw_jscan *cw_jscan_new(void);
/* Frees js; accepts NULL. */
void cw_jscan_free(cw_jscan *js);

/* Validates s[0..len) as one JSON text whose top level is an object or an
 * array (*root). Returns CW_OK; CW_ERR_INPUT with *col and *why as
 * jansson words them ("duplicate object key near '\"a\"'", the column, in
 * characters, of the token's last one; *why valid until the next parse);
 * or CW_ERR_NOMEM. Values read
 * from this text stay valid until the next parse. */
cw_status cw_jscan_parse(cw_jscan *js, const char *s, size_t len, cw_jval *root, int *col,
                         const char **why);
/* The members of the last parsed top-level object, in order. */
size_t cw_jscan_members(const cw_jscan *js, const cw_jmember **out);
/* The members of a top-level member's value when it is an object (m from
 * cw_jscan_members), in order: recorded by the same pass that validated
 * them, so a reader of nested keys needs no walk over the bytes. */
size_t cw_jscan_submembers(const cw_jscan *js, const cw_jmember *m, const cw_jmember **out);
/* Per-line storage for one reader of the parsed top-level object obj (a
 * mapping's resolved paths): n values, NULL when obj is not that object or
 * n exceeds CW_JSCAN_SLOTS. *fresh is 1 when the caller must fill them:
 * first asked for since the parse, or last asked for by another owner. */
#define CW_JSCAN_SLOTS 64
cw_jval *cw_jscan_slots(cw_jscan *js, const void *owner, cw_jval obj, size_t n, int *fresh);
/* Whether a string decode failed for memory since the last parse. */
int cw_jscan_nomem(const cw_jscan *js);

/* In a validated object: the value of key (compared exactly, after
 * unescaping); ABSENT when obj is not an object or lacks the key. Uses the
 * member list when obj is the last parsed top-level object. */
cw_jval cw_json_get(const cw_jscan *js, cw_jval obj, const char *key, size_t klen);
/* The i-th element of a validated array; ABSENT when out of range. */
cw_jval cw_json_at(cw_jval arr, size_t i);
/* Iterates the elements of a validated array: start with *pos = NULL;
 * returns 1 with *el, 0 at the end. */
int cw_json_next(cw_jval arr, const char **pos, cw_jval *el);
/* Iterates the members of a validated object the same way: *key is the
 * raw key (a string value: cw_json_string gives its text). */
int cw_json_member_next(cw_jval obj, const char **pos, cw_jval *key, cw_jval *val);
/* Walks a mapping path (keys, then array indexes) from root. */
cw_jval cw_json_path(const cw_jscan *js, cw_jval root, const struct cw_map_step *steps, int n);

/* A string's text: into the line when it has no escapes, else unescaped
 * into js's per-line scratch (valid until the next parse). 0 when out of
 * memory (and cw_jscan_nomem says so). */
int cw_json_string(cw_jscan *js, cw_jval v, cw_strref *out);
/* A number as jansson holds it: an integer's value, or a real's double. */
long long cw_json_integer(cw_jval v);
double cw_json_real(cw_jval v);
/* A real's shortest text that reads back as the same double (the
 * mapping's form), when it can be had from the number's own text: 1 with
 * buf set, 0 when the caller must format the double. */
int cw_json_real_short(cw_jval v, char *buf, size_t n);
/* An integer's "%lld" text without formatting: its own digits ("-0" is
 * "0"). */
cw_strref cw_json_integer_text(cw_jval v);

#endif
