/*
 * reader.h — streaming CSV records and lines from plain or gzip files (reader.c).
 */
#ifndef CW_INGEST_READER_H
#define CW_INGEST_READER_H

#include "core/util.h"

/* ---- reader.c: streaming records from plain or gzip files ----------- */

typedef struct cw_reader cw_reader;

/* Opens path ("-" = stdin; gzip detected from content). max_record bounds
 * one record's bytes. On success *out is a reader the caller closes with
 * cw_reader_close(). On failure returns CW_ERR_IO with *err a message the
 * caller frees. */
cw_status cw_reader_open(const char *path, size_t max_record, cw_reader **out, char **err);
/* Opens an in-memory buffer (borrowed for the reader's lifetime); for tests and fuzzing. */
cw_status cw_reader_open_mem(const char *data, size_t len, size_t max_record, cw_reader **out);
void cw_reader_close(cw_reader *r); /* accepts NULL */

/* Outcome of reading one record. */
enum { CW_READ_EOF = 0, CW_READ_OK = 1, CW_READ_BAD = 2, CW_READ_FATAL = 3 };

/* Reads the next CSV record. On CW_READ_OK, fields and nfields are borrowed
 * until the next call on this handle; *line is the physical line the record starts on and
 * *raw the record's text. On CW_READ_BAD the record was skipped (reason in
 * *why: over-long line, unterminated quote…) and reading may continue. On
 * CW_READ_FATAL (I/O error, corrupt gzip) *why explains and reading stops.
 * Blank lines are skipped. The delimiter (',', ';' or tab) is detected from
 * the first record; a UTF-8 BOM is dropped; CRLF and LF both end records. */
int cw_csv_next(cw_reader *r, cw_strref **fields, int *nfields, int64_t *line, cw_strref *raw,
                const char **why);
/* Reads the next non-blank line (for JSON Lines), same contract. */
int cw_line_next(cw_reader *r, cw_strref *text, int64_t *line, const char **why);
/* Input bytes consumed (uncompressed) and the file offset (compressed). */
int64_t cw_reader_bytes(const cw_reader *r);
int64_t cw_reader_offset(const cw_reader *r);
/* Peeks at the first non-blank byte of the input (after a BOM), or -1. */
int cw_reader_peek(cw_reader *r);

/* Reads the rest of the input (a whole JSON document) into a NUL-terminated
 * buffer of at most max bytes (caller frees with free()). Returns CW_OK,
 * or CW_ERR_INPUT with a static reason in *why. */
cw_status cw_reader_slurp(cw_reader *r, size_t max, char **out, size_t *len, const char **why);

#endif /* CW_INGEST_READER_H */
