/*
 * json.h — the one JSON writer (json.c). Every JSON text the product emits
 * goes through it: the hand-built documents of the CLI and the library
 * (rejects, exports, reports, outbox listings) call the value writers below,
 * and jansson trees (the HTTP API, stored model and alert documents) are
 * serialised by cw_json_dump instead of json_dumps, so both follow the same
 * rules:
 *
 *  - strings: '"' and '\\' escaped; \b \f \n \r \t in short form; other
 *    bytes below 0x20 and DEL (0x7f) as \u00xx (lowercase hex); each byte of
 *    invalid UTF-8 as \ufffd (U+FFFD); everything else verbatim (UTF-8 kept).
 *    A NULL string is written as null.
 *  - numbers: the shortest decimal that reads back as the same double
 *    (%.15g, %.16g, then %.17g), always in plain notation (2160000, never
 *    2.16e+06; 0.0000001, never 1e-07); integral values without a fraction
 *    (but with ".0" from 1e19 on, past the 64-bit integers a reader such as
 *    jansson accepts); -0 as 0; NaN and infinities as null (JSON has
 *    neither).
 */
#ifndef CW_CORE_JSON_H
#define CW_CORE_JSON_H

#include "core/buf.h"

#include <stdio.h>

struct json_t;

/* Flags of the number writer. */
enum {
    /* Append ".0" to an integral value, as jansson writes a real, so a
     * document read back by jansson keeps the value a real. */
    CW_JSON_POINT = 1
};

/* The longest text cw_json_fmt_num writes (1e308 in plain notation), NUL
 * included. */
#define CW_JSON_NUM_MAX 400

/* Formats v into out (at least CW_JSON_NUM_MAX bytes): rounded to at most
 * sig significant digits (1..17; 17 keeps every double exact), then the
 * shortest text that reads back as that value, in plain notation; "null"
 * for NaN and infinities. Returns the length. */
size_t cw_json_fmt_num(double v, int sig, unsigned flags, char *out);

/* Appends s[0..len) as a JSON string, null when s is NULL. Returns the
 * buffer's status (CW_ERR_TOOBIG, CW_ERR_NOMEM). */
cw_status cw_json_str(cw_buf *b, const char *s, size_t len);
/* The same for a NUL-terminated string (or NULL). */
cw_status cw_json_strz(cw_buf *b, const char *s);
/* Appends v, shortest round-trip (cw_json_fmt_num with 17 digits). */
cw_status cw_json_num(cw_buf *b, double v);
/* Appends v rounded to at most sig significant digits. */
cw_status cw_json_num_sig(cw_buf *b, double v, int sig);
/* Appends an integer. */
cw_status cw_json_int(cw_buf *b, long long v);
/* Appends null. */
cw_status cw_json_null(cw_buf *b);

/* The same writers onto a stdio stream (no allocation); write errors are
 * left to the stream's error flag. */
void cw_json_fstr(FILE *f, const char *s, size_t len);
void cw_json_fstrz(FILE *f, const char *s);
void cw_json_fnum(FILE *f, double v);
void cw_json_fnum_sig(FILE *f, double v, int sig);

/* Appends the jansson value j. flags are json_dumps' flags: JSON_COMPACT
 * (else ", " and ": " separators), JSON_SORT_KEYS, JSON_ESCAPE_SLASH and
 * JSON_REAL_PRECISION(n) (at most n significant digits; 0 means 17) are
 * honoured; JSON_INDENT and JSON_ENSURE_ASCII are not supported (CW_ERR_USAGE).
 * Objects keep their insertion order; any value may be the top level. Reals
 * are written with CW_JSON_POINT, integers as integers. */
cw_status cw_json_dump(cw_buf *b, const struct json_t *j, size_t flags);
/* json_dumps through cw_json_dump: a malloc'd string (caller frees), NULL
 * when j is NULL, on unsupported flags or when out of memory. */
char *cw_json_dumps(const struct json_t *j, size_t flags);

#endif
