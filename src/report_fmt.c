/*
 * report_fmt.c — shared formatting of the report printers (report_fmt.h).
 */
#define _GNU_SOURCE /* fopencookie */
#include "report_fmt.h"
#include "churnwatch.h"
#include "core/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rf_money(int64_t minor, int exp, char *buf, size_t n)
{
    int64_t div = exp == 0 ? 1 : exp == 3 ? 1000 : 100;
    uint64_t v = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t major = v / (uint64_t)div, frac = v % (uint64_t)div;
    char digits[32], grouped[48];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, major);
    size_t g = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            grouped[g++] = ',';
        grouped[g++] = digits[i];
    }
    grouped[g] = '\0';
    int w = exp == 0
                ? snprintf(buf, n, "%s%s", minor < 0 ? "-" : "", grouped)
                : snprintf(buf, n, "%s%s.%0*" PRIu64, minor < 0 ? "-" : "", grouped, exp, frac);
    if (w < 0 || (size_t)w >= n) /* wider than a cell: say so rather than cut digits */
        snprintf(buf, n, "#");
}

void rf_money_d(double minor, int exp, char *buf, size_t n)
{
    if (isnan(minor) || fabs(minor) > 9e18)
        snprintf(buf, n, "-");
    else
        rf_money((int64_t)llround(minor), exp, buf, n);
}

void rf_rate(double v, const char *fmt, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
}

void rf_print_table(const char *const *head, int ncols, const char *cells, size_t cell_size,
                    int stride, int nrows, int left_last)
{
    int *w = calloc((size_t)ncols, sizeof *w);
    if (!w)
        return;
#define CELL_AT(r, c) (cells + ((size_t)(r) * (size_t)stride + (size_t)(c)) * cell_size)
    for (int c = 0; c < ncols; c++) {
        w[c] = (int)strlen(head[c]);
        for (int r = 0; r < nrows; r++)
            if ((int)strlen(CELL_AT(r, c)) > w[c])
                w[c] = (int)strlen(CELL_AT(r, c));
    }
    for (int r = -1; r < nrows; r++) {
        for (int c = 0; c < ncols; c++) {
            const char *v = r < 0 ? head[c] : CELL_AT(r, c);
            if (c == 0)
                printf("%-*s", w[c], v);
            else if (c == ncols - 1 && left_last)
                printf("  %s", v);
            else
                printf("  %*s", w[c], v);
        }
        putchar('\n');
    }
#undef CELL_AT
    free(w);
}

void rf_json_string(const char *s)
{
    cw_json_fstrz(stdout, s);
}

void rf_csv_string(const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            putchar('"');
        putchar(*p);
    }
    putchar('"');
}

/* fopencookie's write: decides at each line start whether the line is
 * passed, then copies it (a JSON array's separators around it). */
static ssize_t rows_write(void *cookie, const char *buf, size_t n)
{
    rf_rows *r = cookie;
    for (size_t i = 0; i < n;) {
        if (r->at_bol) {
            r->at_bol = 0;
            if (r->mode != RF_ROWS_JSON && r->mode != RF_ROWS_JSONL && r->line < r->head_lines) {
                r->emit = 1;
            } else if (r->mode == RF_ROWS_BLOCKS && buf[i] == ' ') {
                /* a block's continuation: as its first line */
            } else {
                r->emit = r->row >= r->offset && (r->limit < 0 || r->shown < r->limit);
                r->row++;
                if (r->emit && r->mode == RF_ROWS_JSON)
                    fputs(r->shown ? ",\n" : "\n", r->out);
                r->shown += r->emit;
            }
            r->line++;
        }
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t l = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
        if (r->emit)
            fwrite(buf + i, 1, nl && r->mode == RF_ROWS_JSON ? l - 1 : l, r->out);
        if (nl)
            r->at_bol = 1;
        i += l;
    }
    return (ssize_t)n;
}

FILE *rf_rows_begin(rf_rows *r, rf_rows_mode mode, int head_lines, int64_t offset, int64_t limit,
                    FILE *out)
{
    *r = (rf_rows){.out = out,
                   .mode = mode,
                   .head_lines = head_lines,
                   .at_bol = 1,
                   .offset = offset,
                   .limit = limit};
    r->f = fopencookie(r, "w", (cookie_io_functions_t){.write = rows_write});
    if (r->f && mode == RF_ROWS_JSON)
        fputc('[', out);
    return r->f;
}

void rf_rows_end(rf_rows *r)
{
    if (!r->f)
        return;
    fclose(r->f);
    r->f = NULL;
    if (r->mode == RF_ROWS_JSON)
        fputs(r->shown ? "\n]\n" : "]\n", r->out);
}

/* ---- the report skeleton ---- */

int rf_report_init(rf_report *r, const rf_col *cols, int ncols, int nrows, const char *currency)
{
    *r = (rf_report){.cols = cols, .ncols = ncols, .nrows = nrows, .currency = currency};
    r->exp = currency ? cw_currency_exponent(currency) : 2;
    size_t n = (size_t)ncols * (size_t)(nrows > 0 ? nrows : 1);
    r->v = calloc(n, sizeof *r->v);
    if (!r->v)
        return -1;
    for (size_t i = 0; i < n; i++)
        r->v[i].null = 1;
    return 0;
}

void rf_report_free(rf_report *r)
{
    if (!r)
        return;
    free(r->v);
    r->v = NULL;
}

static rf_value *at(rf_report *r, int row, int col)
{
    rf_value *v = &r->v[(size_t)row * (size_t)r->ncols + (size_t)col];
    v->null = 0;
    return v;
}

void rf_set_text(rf_report *r, int row, int col, const char *s)
{
    if (!s)
        return;
    rf_value *v = at(r, row, col);
    if (strlen(s) < sizeof v->buf) {
        memcpy(v->buf, s, strlen(s) + 1);
        v->s = v->buf;
    } else {
        v->s = s;
    }
}

void rf_set_int(rf_report *r, int row, int col, int64_t x)
{
    at(r, row, col)->i = x;
}

void rf_set_money(rf_report *r, int row, int col, int64_t minor)
{
    at(r, row, col)->i = minor;
}

void rf_set_money_d(rf_report *r, int row, int col, double minor)
{
    if (!isnan(minor) && fabs(minor) <= 9e18)
        at(r, row, col)->i = (int64_t)llround(minor);
}

void rf_set_num(rf_report *r, int row, int col, double x)
{
    if (isfinite(x))
        at(r, row, col)->d = x;
}

void rf_set_date(rf_report *r, int row, int col, int64_t day)
{
    if (day >= 0)
        at(r, row, col)->i = day;
}

void rf_set_bool(rf_report *r, int row, int col, int b)
{
    at(r, row, col)->i = b != 0;
}

void rf_set_time(rf_report *r, int row, int col, int64_t ts_unix)
{
    at(r, row, col)->i = ts_unix;
}

void rf_major(int64_t minor, int exp, char *buf, size_t n)
{
    if (exp > 6) /* no currency has more; the bound keeps the width small */
        exp = 6;
    uint64_t div = 1;
    for (int k = 0; k < exp; k++)
        div *= 10;
    uint64_t v = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    if (exp <= 0)
        snprintf(buf, n, "%s%" PRIu64, minor < 0 ? "-" : "", v);
    else
        snprintf(buf, n, "%s%" PRIu64 ".%0*" PRIu64, minor < 0 ? "-" : "", v / div, exp % 7,
                 v % div);
}

/* One value as text: table (grouped money, table decimals) or data
 * (exact major units, 4 decimals); "" when undefined in data, "-" in the
 * table. Returns the text (buf or the value's own string). */
static const char *cell_text(const rf_report *r, int row, int col, int table, char *buf, size_t n)
{
    const rf_col *c = &r->cols[col];
    const rf_value *v = &r->v[(size_t)row * (size_t)r->ncols + (size_t)col];
    if (c->kind == RF_CURRENCY)
        return r->currency ? r->currency : "";
    if (v->null)
        return c->undef ? c->undef : table ? "-" : "";
    switch (c->kind) {
    case RF_TEXT: return v->s;
    case RF_INT: snprintf(buf, n, "%" PRId64, v->i); break;
    case RF_MONEY:
        if (table)
            rf_money(v->i, r->exp, buf, n);
        else
            rf_major(v->i, r->exp, buf, n);
        break;
    case RF_PCT:
    case RF_NUM:
        snprintf(buf, n, "%.*f",
                 table              ? c->decimals
                 : c->data_decimals ? c->data_decimals
                                    : 4,
                 v->d);
        break;
    case RF_DATE: cw_time_format(v->i * 86400, CW_TIME_DATE, buf, n); break;
    case RF_REAL:
        if (table)
            snprintf(buf, n, "%.*f", c->decimals, v->d);
        else if (n >= CW_JSON_NUM_MAX)
            cw_json_fmt_num(v->d, 10, 0, buf);
        break;
    case RF_TIME: cw_time_format(v->i, table ? CW_TIME_DATE : CW_TIME_TIMESTAMP, buf, n); break;
    case RF_CURRENCY: break;
    case RF_BOOL: snprintf(buf, n, "%s", table ? (v->i ? "yes" : "no") : v->i ? "1" : "0"); break;
    }
    return buf;
}

void rf_report_table_cols(const rf_report *r, const int *cols, int n, int row0, int nrows,
                          const char *first_title)
{
    const char *head[64];
    if (n > 64)
        n = 64;
    for (int k = 0; k < n; k++)
        head[k] = r->cols[cols[k]].title ? r->cols[cols[k]].title : r->cols[cols[k]].name;
    if (first_title && n > 0)
        head[0] = first_title;
    char *cells = calloc((size_t)(nrows > 0 ? nrows : 1) * (size_t)(n > 0 ? n : 1), RF_CELL);
    if (!cells)
        return;
    for (int i = 0; i < nrows; i++)
        for (int k = 0; k < n; k++) {
            char *cell = cells + ((size_t)i * (size_t)n + (size_t)k) * RF_CELL;
            const char *s = cell_text(r, row0 + i, cols[k], 1, cell, RF_CELL);
            if (s != cell)
                snprintf(cell, RF_CELL, "%s", s);
        }
    rf_print_table(head, n, cells, RF_CELL, n, nrows, r->left_last);
    free(cells);
}

void rf_report_table(const rf_report *r, int t)
{
    unsigned bit = 1u << (t - 1);
    int shown[64], ns = 0;
    for (int c = 0; c < r->ncols && ns < 64; c++)
        if (r->cols[c].tables & bit)
            shown[ns++] = c;
    rf_report_table_cols(r, shown, ns, 0, r->nrows, NULL);
}

/* Whether a currency column is to be added after the first column. */
static int has_money(const rf_report *r)
{
    int money = 0;
    for (int c = 0; c < r->ncols; c++) {
        if (r->cols[c].kind == RF_CURRENCY)
            return 0;
        money |= r->cols[c].kind == RF_MONEY;
    }
    return money && r->currency != NULL;
}

static void emit_csv_row(const rf_report *r, int row, int money)
{
    char buf[CW_JSON_NUM_MAX];
    for (int c = 0; c < r->ncols; c++) {
        if (r->cols[c].tables & RF_TABLE_ONLY)
            continue;
        if (c)
            putchar(',');
        const char *s = cell_text(r, row, c, 0, buf, sizeof buf);
        if (r->cols[c].kind == RF_TEXT || r->cols[c].undef)
            rf_csv_string(s);
        else
            fputs(s, stdout);
        if (c == 0 && money) {
            putchar(',');
            rf_csv_string(r->currency);
        }
    }
    putchar('\n');
}

static void emit_json_row(const rf_report *r, int row, int money)
{
    char buf[CW_JSON_NUM_MAX];
    putchar('{');
    for (int c = 0; c < r->ncols; c++) {
        const rf_col *col = &r->cols[c];
        const rf_value *v = &r->v[(size_t)row * (size_t)r->ncols + (size_t)c];
        if (col->tables & RF_TABLE_ONLY)
            continue;
        if (c)
            putchar(',');
        rf_json_string(col->name);
        putchar(':');
        if (v->null && col->kind != RF_CURRENCY)
            fputs("null", stdout);
        else if (col->kind == RF_TEXT || col->kind == RF_DATE || col->kind == RF_TIME ||
                 col->kind == RF_CURRENCY)
            rf_json_string(cell_text(r, row, c, 0, buf, sizeof buf));
        else if (col->kind == RF_BOOL)
            fputs(v->i ? "true" : "false", stdout);
        else
            fputs(cell_text(r, row, c, 0, buf, sizeof buf), stdout);
        if (c == 0 && money) {
            fputs(",\"currency\":", stdout);
            rf_json_string(r->currency);
        }
    }
    putchar('}');
}

void rf_report_emit(const rf_report *r, int fmt, const rf_meta *meta, int nmeta,
                    const char *rows_key, int64_t offset, int64_t limit)
{
    int money = has_money(r);
    int64_t from = offset < r->nrows ? offset : r->nrows;
    int64_t to = limit >= 0 && from + limit < r->nrows ? from + limit : r->nrows;
    if (fmt == RF_FMT_CSV) {
        for (int c = 0; c < r->ncols; c++) {
            if (r->cols[c].tables & RF_TABLE_ONLY)
                continue;
            printf("%s%s", c ? "," : "", r->cols[c].name);
            if (c == 0 && money)
                fputs(",currency", stdout);
        }
        putchar('\n');
        for (int64_t i = from; i < to; i++)
            emit_csv_row(r, (int)i, money);
        return;
    }
    if (fmt == RF_FMT_JSONL) {
        for (int64_t i = from; i < to; i++) {
            emit_json_row(r, (int)i, money);
            putchar('\n');
        }
        return;
    }
    if (rows_key) {
        putchar('{');
        for (int k = 0; k < nmeta; k++) {
            rf_json_string(meta[k].key);
            putchar(':');
            if (meta[k].number && meta[k].value)
                fputs(meta[k].value, stdout);
            else
                rf_json_string(meta[k].value);
            putchar(',');
        }
        rf_json_string(rows_key);
        putchar(':');
    }
    putchar('[');
    for (int64_t i = from; i < to; i++) {
        fputs(i > from ? ",\n" : "\n", stdout);
        emit_json_row(r, (int)i, money);
    }
    fputs(rows_key ? "]}\n" : "]\n", stdout);
}
