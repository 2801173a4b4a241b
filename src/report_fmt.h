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
 * them in one JSON array; RF_ROWS_BLOCKS passes whole blocks, a block being
 * a line that does not start with a space and the indented lines after it
 * (the table view of `metrics`: one block per snapshot and entity). */
typedef enum rf_rows_mode {
    RF_ROWS_TEXT,
    RF_ROWS_JSONL,
    RF_ROWS_JSON,
    RF_ROWS_BLOCKS
} rf_rows_mode;
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

/* The one skeleton of a report's output. A report describes its columns
 * once (rf_col) and fills one value per row and column (rf_set_*); the
 * skeleton prints the aligned table(s), CSV, one JSON document or JSON
 * Lines from that description. Money is kept in minor units and printed in
 * major units: grouped ("12,345.67") in the table, exact plain decimals
 * ("12345.67", as many decimals as the currency's exponent) in CSV and JSON,
 * with a `currency` field (an RF_CURRENCY column, or else one added after
 * the first column) whenever the report has a money column. An undefined value is "-" in the table,
 * empty in CSV and null in JSON. */
typedef enum rf_kind {
    RF_TEXT,    /* a string */
    RF_INT,     /* a whole number */
    RF_MONEY,   /* minor units of the report's currency */
    RF_PCT,     /* a rate or percentage: `decimals` in the table, `data_decimals` in CSV/JSON */
    RF_NUM,     /* any other number, as RF_PCT */
    RF_REAL,    /* a number to ten significant digits in CSV and JSON (plain
                   notation, cw_json_fmt_num); `decimals` in a table */
    RF_DATE,    /* a UTC day number, printed YYYY-MM-DD */
    RF_BOOL,    /* 1/0 in CSV, true/false in JSON, yes/no in the table */
    RF_TIME,    /* UTC seconds: YYYY-MM-DD in the table, ISO 8601 time otherwise */
    RF_CURRENCY /* the report's currency code (no value to set): where
                   it is placed, no currency column is added */
} rf_kind;
typedef struct rf_col {
    const char *name; /* CSV header and JSON key */
    rf_kind kind;
    unsigned tables;   /* bit t-1 set: shown in table t (rf_report_table);
                          RF_TABLE_ONLY: left out of CSV and JSON */
    const char *title; /* the table's heading (NULL: name) */
    int decimals;      /* RF_PCT / RF_NUM digits after the point in a table */
    const char *undef; /* an undefined value in the table and CSV (NULL: "-"
                          in the table, empty in CSV); JSON has null */
    int data_decimals; /* RF_PCT / RF_NUM digits in CSV and JSON (0: 4) */
} rf_col;
#define RF_TABLE_ONLY 0x80000000u
#define RF_CELL       72 /* a segment name (64 bytes) fits */
typedef struct rf_value {
    int null;
    int64_t i;
    double d;
    const char *s; /* RF_TEXT: text (points at buf, or borrowed) */
    char buf[RF_CELL];
} rf_value;
typedef struct rf_report {
    const rf_col *cols;
    int ncols, nrows;
    const char *currency; /* borrowed; NULL when the report has no money */
    int exp;              /* the currency's exponent */
    rf_value *v;          /* nrows × ncols, row-major */
    int left_last;        /* the table's last column is free text, left-aligned */
} rf_report;
/* Output shapes (the values of cli_format). */
enum { RF_FMT_TABLE, RF_FMT_CSV, RF_FMT_JSON, RF_FMT_JSONL };

/* Sets up r for nrows rows of cols (all values undefined until set);
 * returns 0, or -1 when out of memory. currency is borrowed. Release with
 * rf_report_free. */
int rf_report_init(rf_report *r, const rf_col *cols, int ncols, int nrows, const char *currency);
void rf_report_free(rf_report *r);
/* Value setters; a text is copied when it fits RF_CELL bytes, else
 * borrowed until the report is printed. rf_set_num/rf_set_money_d leave
 * the value undefined for NaN and infinities. */
void rf_set_text(rf_report *r, int row, int col, const char *s);
void rf_set_int(rf_report *r, int row, int col, int64_t v);
void rf_set_money(rf_report *r, int row, int col, int64_t minor);
void rf_set_money_d(rf_report *r, int row, int col, double minor);
void rf_set_num(rf_report *r, int row, int col, double v);
void rf_set_date(rf_report *r, int row, int col, int64_t day);
void rf_set_bool(rf_report *r, int row, int col, int v);
void rf_set_time(rf_report *r, int row, int col, int64_t ts_unix);
/* Writes minor units of a currency with exponent exp as an exact plain
 * decimal ("-1200.50") into buf (n >= 32). */
void rf_major(int64_t minor, int exp, char *buf, size_t n);
/* Prints table t (1, 2, ...): the columns whose `tables` has bit t-1, the
 * first left-aligned, the others right-aligned (rf_print_table). */
void rf_report_table(const rf_report *r, int t);
/* The same with the n columns cols, in that order, and the rows
 * [row0, row0+nrows); first_title (not NULL) heads the first column. */
void rf_report_table_cols(const rf_report *r, const int *cols, int n, int row0, int nrows,
                          const char *first_title);
/* Prints rows [offset, offset+limit) (limit < 0: all) as CSV (a header
 * line, then one line a row), JSONL (one object a line) or one JSON
 * document: {meta..., rows_key: [objects]} with the nmeta fields of meta
 * first; with rows_key NULL the
 * document is the bare array. */
typedef struct rf_meta {
    const char *key, *value; /* value NULL: null */
    int number;              /* value is a JSON number, written as is */
} rf_meta;
void rf_report_emit(const rf_report *r, int fmt, const rf_meta *meta, int nmeta,
                    const char *rows_key, int64_t offset, int64_t limit);

#endif
