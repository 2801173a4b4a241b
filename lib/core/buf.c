/*
 * buf.c — the bounded growable byte buffer (buf.h). Capacity doubles from
 * 64 bytes, capped at max + 1 (the NUL), so appending n bytes one at a time
 * costs O(n) copies in all.
 */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cw_buf_init(cw_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->err = CW_OK;
}

void cw_buf_free(cw_buf *b)
{
    if (!b)
        return;
    free(b->p);
    cw_buf_init(b, b->max);
}

void cw_buf_reset(cw_buf *b)
{
    b->len = 0;
    b->err = CW_OK;
    if (b->p)
        b->p[0] = '\0';
}

char *cw_buf_steal(cw_buf *b, size_t *len)
{
    if (b->err) {
        cw_buf_free(b);
        return NULL;
    }
    char *p = b->p ? b->p : calloc(1, 1);
    if (len)
        *len = p ? b->len : 0;
    cw_buf_init(b, b->max);
    return p;
}

static cw_status fail(cw_buf *b, cw_status s)
{
    b->err = s;
    return s;
}

cw_status cw_buf_reserve(cw_buf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (n > b->max || b->len > b->max - n)
        return fail(b, CW_ERR_TOOBIG);
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return CW_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->p, cap);
    if (!p)
        return fail(b, CW_ERR_NOMEM);
    if (!b->p)
        p[0] = '\0';
    b->p = p;
    b->cap = cap;
    return CW_OK;
}

cw_status cw_buf_add(cw_buf *b, const void *p, size_t n)
{
    cw_status s = cw_buf_reserve(b, n);
    if (s)
        return s;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return CW_OK;
}

cw_status cw_buf_adds(cw_buf *b, const char *s)
{
    return cw_buf_add(b, s, strlen(s));
}

cw_status cw_buf_addc(cw_buf *b, char c)
{
    return cw_buf_add(b, &c, 1);
}

cw_status cw_buf_vaddf(cw_buf *b, const char *fmt, va_list ap)
{
    if (b->err)
        return b->err;
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int k = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (k < 0)
        return fail(b, CW_ERR_USAGE);
    if ((size_t)k < sizeof small)
        return cw_buf_add(b, small, (size_t)k);
    cw_status s = cw_buf_reserve(b, (size_t)k);
    if (s)
        return s;
    vsnprintf(b->p + b->len, (size_t)k + 1, fmt, ap);
    b->len += (size_t)k;
    return CW_OK;
}

cw_status cw_buf_addf(cw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cw_status s = cw_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return s;
}

cw_status cw_buf_add_file(cw_buf *b, const char *path)
{
    if (b->err)
        return b->err;
    FILE *f = fopen(path, "rb");
    if (!f)
        return CW_ERR_IO;
    char chunk[16384];
    cw_status s = CW_OK;
    for (;;) {
        size_t k = fread(chunk, 1, sizeof chunk, f);
        if (k && (s = cw_buf_add(b, chunk, k)) != CW_OK)
            break;
        if (k < sizeof chunk) {
            if (ferror(f))
                s = CW_ERR_IO;
            break;
        }
    }
    fclose(f);
    return s;
}
