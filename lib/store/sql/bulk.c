/*
 * store/sql/bulk.c — the names of a bulk insert (store/sql.h,
 * cw_sql_bulk_open), checked and quoted once for every driver. Kept apart
 * from sql.c so a driver's test links it without the store.
 */
#include "store/sql.h"
#include "core/buf.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* The length of the lower-case identifier at s, 0 when there is none. */
static size_t ident_len(const char *s)
{
    size_t n = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
        n++;
    return n;
}

char *cw_sql_bulk_columns(const char *table, const char *cols, int ncols, char **err)
{
    *err = NULL;
    if (!table || ident_len(table) != strlen(table)) {
        *err = cw_strdupf("bulk insert: bad table name \"%s\"", table ? table : "");
        return NULL;
    }
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_LINE);
    int n = 0;
    for (const char *p = cols ? cols : ""; *p;) {
        while (*p == ' ')
            p++;
        size_t len = ident_len(p);
        const char *e = p + len;
        while (*e == ' ')
            e++;
        if (len == 0 || (*e != ',' && *e != '\0') || (*e == ',' && !e[1])) {
            *err = cw_strdupf("bulk insert into %s: bad column list \"%s\"", table, cols);
            cw_buf_free(&b);
            return NULL;
        }
        cw_buf_addf(&b, "%s\"%.*s\"", n++ ? "," : "", (int)len, p);
        p = *e ? e + 1 : e;
    }
    if (n == 0 || n != ncols) {
        *err = cw_strdupf("bulk insert into %s: %d columns named, %d expected", table, n, ncols);
        cw_buf_free(&b);
        return NULL;
    }
    char *out = cw_buf_steal(&b, NULL);
    if (!out)
        *err = cw_strdupf("out of memory");
    return out;
}
