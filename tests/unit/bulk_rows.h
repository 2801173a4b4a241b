/*
 * bulk_rows.h — the rows of the bulk-insert tests, the same on both
 * backends (test_sql_seam.c over SQLite, test_pg_driver.c over
 * PostgreSQL): row i of table (id, n, d, t, b) written with cw_sql_bulk_*
 * and checked through the column calls. The values are the awkward ones:
 * INT64_MIN/MAX, NaN, ±Inf, -0.0, a denormal, NULL in every column, empty
 * text and blob, UTF-8 with tabs, newlines, backslashes and "\N", blobs
 * with NUL bytes and COPY's special characters.
 */
#ifndef CW_TEST_BULK_ROWS_H
#define CW_TEST_BULK_ROWS_H

#include "store/sql.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct bulk_row {
    int64_t n;
    int n_null;
    double d;
    int d_null;
    char t[96];
    int t_null;
    unsigned char b[16];
    size_t blen;
    int b_null;
} bulk_row;

static void bulk_row_of(int i, bulk_row *r)
{
    memset(r, 0, sizeof *r);
    r->n = (int64_t)((uint64_t)i * 0x9E3779B97F4A7C15ull);
    if (i == 1)
        r->n = INT64_MIN;
    if (i == 2)
        r->n = INT64_MAX;
    r->n_null = i % 4 == 0 && i > 4;
    switch (i % 8) {
    case 0: r->d = NAN; break;
    case 1: r->d = INFINITY; break;
    case 2: r->d = -INFINITY; break;
    case 3: r->d_null = 1; break;
    case 4: r->d = -0.0; break;
    case 5: r->d = 4.9406564584124654e-324 * (i % 1000 + 1); break;
    default: r->d = ((double)i / 7.0) * pow(10.0, i % 40 - 20); break;
    }
    r->t_null = i % 5 == 0;
    if (i % 5 == 1)
        r->t[0] = '\0';
    else if (!r->t_null)
        snprintf(r->t, sizeof r->t, "ü€😀\t%d\n\\N\\\r '\",;|\\.", i);
    r->b_null = i % 6 == 0;
    if (!r->b_null && i % 6 != 1) {
        const unsigned char b[] = {
            0,   (unsigned char)i, (unsigned char)(i >> 8), '\\', '\n', '\t', 0xff, 0, 'N', '.',
            '\r'};
        memcpy(r->b, b, sizeof b);
        r->blen = sizeof b;
    }
}

/* Appends row i to b (id, n, d, t, b) and ends it. */
static int bulk_put(cw_bulk *b, int i)
{
    bulk_row r;
    bulk_row_of(i, &r);
    int rc = cw_sql_bulk_i64(b, i);
    rc |= r.n_null ? cw_sql_bulk_null(b) : cw_sql_bulk_i64(b, r.n);
    rc |= r.d_null ? cw_sql_bulk_null(b) : cw_sql_bulk_double(b, r.d);
    rc |= cw_sql_bulk_text(b, r.t_null ? NULL : r.t, -1);
    rc |= cw_sql_bulk_blob(b, r.b_null ? NULL : r.blen ? (const void *)r.b : "", r.blen);
    if (rc != CW_SQL_OK)
        return rc;
    return cw_sql_bulk_row(b);
}

/* Checks the current row of q (SELECT id, n, d, t, b … ORDER BY id) is row
 * i. sqlite: the backend is SQLite, which stores a NaN as NULL and -0.0 in
 * a REAL column as the integer 0 (read back as 0.0): the store keeps its
 * doubles in blobs, which keep every bit. Returns NULL or what differs. */
static const char *bulk_check(cw_stmt *q, int i, int sqlite)
{
    bulk_row r;
    bulk_row_of(i, &r);
    int nan_null = sqlite;
    if (sqlite && r.d == 0.0)
        r.d = 0.0;
    if (cw_sql_col_i64(q, 0) != i)
        return "id";
    if (r.n_null ? cw_sql_col_type(q, 1) != CW_SQL_NULL : cw_sql_col_i64(q, 1) != r.n)
        return "n";
    int dnull = r.d_null || (nan_null && isnan(r.d));
    if (dnull != (cw_sql_col_type(q, 2) == CW_SQL_NULL))
        return "d (NULL)";
    double d = cw_sql_col_double(q, 2);
    if (!dnull && (isnan(r.d) ? !isnan(d) : memcmp(&d, &r.d, sizeof d) != 0))
        return "d";
    if (r.t_null != (cw_sql_col_type(q, 3) == CW_SQL_NULL))
        return "t (NULL)";
    if (!r.t_null && ((size_t)cw_sql_col_bytes(q, 3) != strlen(r.t) ||
                      strcmp((const char *)cw_sql_col_text(q, 3), r.t) != 0))
        return "t";
    if (r.b_null != (cw_sql_col_type(q, 4) == CW_SQL_NULL))
        return "b (NULL)";
    if (!r.b_null && ((size_t)cw_sql_col_bytes(q, 4) != r.blen ||
                      (r.blen && memcmp(cw_sql_col_blob(q, 4), r.b, r.blen) != 0)))
        return "b";
    return NULL;
}

#endif /* CW_TEST_BULK_ROWS_H */
