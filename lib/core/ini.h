/*
 * ini.h — the strict INI reader under the configuration (config.c).
 */
#ifndef CW_CORE_INI_H
#define CW_CORE_INI_H

#include "churnwatch.h"
#include <stddef.h>

/* ---- INI reader (config.c) ------------------------------------------ */

/* Longest accepted INI line, bytes without its line end (docs/configuration.md). */
#define CW_INI_MAX_LINE 65536

/* One meaningful line of INI text, as cw_ini_parse reports it. */
typedef struct cw_ini_item {
    const char *section; /* "" before the first header */
    const char *key;     /* "" for a header; for a continuation, the key it continues */
    const char *value;   /* blanks around it and an inline " ;" comment removed */
    int line;            /* 1-based */
    int header;          /* a [section] line */
    int cont;            /* an indented line after a key: continues that key's value */
} cw_ini_item;

/* Returns NULL to go on, or a message (heap, without file:line; the
 * reader frees it) that stops the parse. */
typedef char *(*cw_ini_fn)(void *ud, const cw_ini_item *it);

/* Reads text[0..len) strictly: [section] headers, key = value, whole-line
 * ; and # comments, inline comments after a blank and ';', indented
 * continuation lines (reported, never joined: the caller decides), CRLF
 * and a UTF-8 BOM. A NUL byte, a line over CW_INI_MAX_LINE bytes, a line
 * that is neither, or fn's message stops it with CW_ERR_CONFIG and
 * *errmsg = "file:line: why" (CW_ERR_NOMEM without a message). */
cw_status cw_ini_parse(const char *text, size_t len, const char *file, cw_ini_fn fn, void *ud,
                       char **errmsg);

/* cw_config_load over text[0..len) named `name` (kept borrowed as the
 * configuration's path; the fuzz target and tests use it). */
cw_status cw_config_load_text(const char *text, size_t len, const char *name, cw_config **out,
                              char **errmsg);

#endif /* CW_CORE_INI_H */
