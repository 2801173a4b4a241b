/*
 * report_fmt.h — what the `churnwatch report` printers share: money and
 * rates formatted into table cells, an aligned table printer, and JSON/CSV
 * string writers (to stdout).
 */
#ifndef CW_REPORT_FMT_H
#define CW_REPORT_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Minor units → major units with thousands separators ("12,345.67"), exp
 * digits after the point; "#" when it does not fit in n bytes. */
void rf_money(int64_t minor, int exp, char *buf, size_t n);
/* The same for a (possibly fractional) double, rounded; "-" when NaN. */
void rf_money_d(double minor, int exp, char *buf, size_t n);
/* v with printf format fmt, or "-" when NaN. */
void rf_rate(double v, const char *fmt, char *buf, size_t n);
/* Prints nrows rows of ncols cells under head: cells is a flat array of
 * cell_size-byte strings, stride cells per row. The first column is left-
 * aligned, the others right-aligned; left_last leaves the last column
 * unpadded (free text). */
void rf_print_table(const char *const *head, int ncols, const char *cells, size_t cell_size,
                    int stride, int nrows, int left_last);
/* Writes s as a JSON string, or null when s is NULL. */
void rf_json_string(const char *s);
/* Writes s as a CSV field, quoted when it holds a comma, quote or line
 * break; nothing when s is NULL. */
void rf_csv_string(const char *s);

/* The one skeleton of a listing's output: the rows are written, one a line,
 * to the stream rf_rows_begin returns, which applies --offset and --limit
 * and the document shape of --format on the way to out, without holding the
 * rows in memory. RF_ROWS_TEXT passes head_lines header lines (a table's
 * title and column names, a CSV header) and then the selected rows;
 * RF_ROWS_JSONL passes the selected objects, one a line; RF_ROWS_JSON wraps
 * them in one JSON array. */
typedef enum rf_rows_mode { RF_ROWS_TEXT, RF_ROWS_JSONL, RF_ROWS_JSON } rf_rows_mode;
typedef struct rf_rows {
    FILE *f, *out;
    rf_rows_mode mode;
    int head_lines, at_bol, emit;
    int64_t offset, limit, line, row, shown;
} rf_rows;
/* Opens the filtering stream over out (limit < 0: all rows); NULL when out
 * of memory. The caller writes the rows to it, then calls rf_rows_end. */
FILE *rf_rows_begin(rf_rows *r, rf_rows_mode mode, int head_lines, int64_t offset, int64_t limit,
                    FILE *out);
/* Flushes and closes the stream and ends the document. */
void rf_rows_end(rf_rows *r);

#endif
