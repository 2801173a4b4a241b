/*
 * report_fmt.c — shared formatting of the report printers (report_fmt.h).
 */
#include "report_fmt.h"
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
