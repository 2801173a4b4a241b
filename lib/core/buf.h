/*
 * buf.h — the one growable byte buffer (buf.c), after curl's dynbuf: every
 * buffer has a maximum size fixed at init, so input that would grow it past
 * that is an error (CW_ERR_TOOBIG), never a runaway allocation.
 *
 * The bytes are always NUL-terminated (the NUL is not counted in len and not
 * counted against max). The first failure is sticky: later adds do nothing
 * and return the same status until cw_buf_reset, so a writer may add many
 * pieces and check cw_buf_status once. A failed add leaves the content as it
 * was before that add.
 */
#ifndef CW_CORE_BUF_H
#define CW_CORE_BUF_H

#include "churnwatch.h"

#include <stdarg.h>
#include <stddef.h>

typedef struct cw_buf {
    char *p;       /* NULL until the first add; NUL-terminated after */
    size_t len;    /* bytes held, without the NUL */
    size_t cap;    /* bytes allocated */
    size_t max;    /* len never exceeds this */
    cw_status err; /* first failure, CW_OK if none */
} cw_buf;

/* Sizes for callers that have no better bound. */
#define CW_BUF_MAX_LINE ((size_t)1 << 20)  /* a line of text, a short document */
#define CW_BUF_MAX_DOC  ((size_t)1 << 30)  /* a whole generated document */
#define CW_BUF_MAX_FILE ((size_t)64 << 20) /* a configuration file read whole */

/* Makes b empty with maximum size max (> 0); allocates nothing. */
void cw_buf_init(cw_buf *b, size_t max);
/* Frees b's memory and leaves it empty with the same max; accepts NULL. */
void cw_buf_free(cw_buf *b);
/* Empties b (and clears a sticky error), keeping its memory for reuse. */
void cw_buf_reset(cw_buf *b);
/* Returns b's bytes as a malloc'd NUL-terminated string (caller frees; an
 * empty string when nothing was added) and leaves b empty; NULL when b
 * holds an error or on allocation failure (b is then freed). */
char *cw_buf_steal(cw_buf *b, size_t *len);

/* Makes room for n more bytes. Returns CW_OK, CW_ERR_TOOBIG when len + n
 * would exceed max, CW_ERR_NOMEM. */
cw_status cw_buf_reserve(cw_buf *b, size_t n);
/* Appends n bytes of p. Returns as cw_buf_reserve. */
cw_status cw_buf_add(cw_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
cw_status cw_buf_adds(cw_buf *b, const char *s);
/* Appends one byte. */
cw_status cw_buf_addc(cw_buf *b, char c);
/* Appends printf-formatted text. */
cw_status cw_buf_addf(cw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cw_status cw_buf_vaddf(cw_buf *b, const char *fmt, va_list ap);

/* Appends the whole file at path. Returns CW_OK, CW_ERR_IO when it cannot
 * be opened or read, CW_ERR_TOOBIG when it would exceed max (b then keeps
 * what fitted and the sticky error), CW_ERR_NOMEM. */
cw_status cw_buf_add_file(cw_buf *b, const char *path);

/* The bytes ("" when empty), borrowed until the next add, reset or free. */
static inline const char *cw_buf_str(const cw_buf *b)
{
    return b->p ? b->p : "";
}
/* The first failure since init or reset (CW_OK if none). */
static inline cw_status cw_buf_status(const cw_buf *b)
{
    return b->err;
}

#endif
