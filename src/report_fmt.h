/*
 * report_fmt.h — what the `churnwatch report` printers share: money and
 * rates formatted into table cells, an aligned table printer, and JSON/CSV
 * string writers (to stdout).
 */
#ifndef CW_REPORT_FMT_H
#define CW_REPORT_FMT_H

#include <stddef.h>
#include <stdint.h>

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

#endif
