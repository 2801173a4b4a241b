/*
 * reader.c — streaming record reader for CSV and JSON Lines exports.
 *
 * Input comes through zlib's gz* functions, which read gzip and plain files
 * alike, so ".gz" needs no special path. Records are parsed in place in one
 * bounded buffer: unquoted fields point straight into it, quoted fields are
 * unescaped into a scratch buffer sized for the longest accepted record, so
 * reading allocates nothing per row. Every record is bounded by max_record
 * bytes; a longer one is reported and skipped, never buffered without limit.
 * Real exports are accepted as they come: a UTF-8 BOM, CRLF or LF, RFC-4180
 * quoting with embedded delimiters and newlines, and ',' ';' or tab as the
 * delimiter (detected from the header).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/buf.h"
#include "core/util.h"
#include "ingest/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CW_MAX_COLUMNS 1024

struct cw_reader {
    gzFile gz;       /* NULL for memory input */
    const char *mem; /* memory input (borrowed) */
    size_t mem_len, mem_pos;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start, end) */
    int eof, fatal;
    const char *fatal_why;
    size_t max_record;
    int64_t line;  /* physical line number of buf[start] */
    int64_t bytes; /* bytes consumed by returned records */
    char delim;
    int started; /* BOM and delimiter handled */
    cw_strref *fields;
    int fcap;
    char *scratch;
};

static cw_status reader_alloc(size_t max_record, cw_reader **out)
{
    cw_reader *r = calloc(1, sizeof *r);
    if (!r)
        return CW_ERR_NOMEM;
    r->max_record = max_record ? max_record : (1u << 20);
    r->cap = r->max_record * 2 + 65536;
    if (r->cap < (1u << 20))
        r->cap = 1u << 20;
    r->buf = malloc(r->cap);
    r->scratch = malloc(r->max_record + 1);
    r->fcap = 32;
    r->fields = malloc(sizeof *r->fields * (size_t)r->fcap);
    r->line = 1;
    r->delim = ',';
    if (!r->buf || !r->scratch || !r->fields) {
        cw_reader_close(r);
        return CW_ERR_NOMEM;
    }
    *out = r;
    return CW_OK;
}

cw_status cw_reader_open(const char *path, size_t max_record, cw_reader **out, char **err)
{
    *out = NULL;
    int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err)
            *err = cw_strdupf("%s: cannot open: %s", path, strerror(errno));
        return CW_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        if (err)
            *err = cw_strdupf("%s: is a directory, not a file", path);
        return CW_ERR_IO;
    }
    cw_reader *r;
    if (reader_alloc(max_record, &r) != CW_OK) {
        close(fd);
        if (err)
            *err = cw_strdupf("%s: out of memory", path);
        return CW_ERR_NOMEM;
    }
    r->gz = gzdopen(fd, "rb");
    if (!r->gz) {
        close(fd);
        cw_reader_close(r);
        if (err)
            *err = cw_strdupf("%s: cannot open", path);
        return CW_ERR_IO;
    }
    gzbuffer(r->gz, 256 * 1024);
    *out = r;
    return CW_OK;
}

cw_status cw_reader_open_mem(const char *data, size_t len, size_t max_record, cw_reader **out)
{
    *out = NULL;
    cw_reader *r;
    cw_status s = reader_alloc(max_record, &r);
    if (s != CW_OK)
        return s;
    r->mem = data;
    r->mem_len = len;
    *out = r;
    return CW_OK;
}

void cw_reader_close(cw_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    free(r->buf);
    free(r->scratch);
    free(r->fields);
    free(r);
}

int64_t cw_reader_bytes(const cw_reader *r)
{
    return r->bytes;
}

int64_t cw_reader_offset(const cw_reader *r)
{
    if (r->gz)
        return (int64_t)gzoffset(r->gz);
    return (int64_t)r->mem_pos;
}

/* Moves unread bytes to the front and reads more. Returns the number of
 * bytes added; 0 at end of input or on a fatal error (r->fatal set). */
static size_t fill(cw_reader *r)
{
    if (r->eof || r->fatal)
        return 0;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t room = r->cap - r->end;
    if (room == 0)
        return 0;
    size_t got;
    if (r->gz) {
        int n = gzread(r->gz, r->buf + r->end, (unsigned)(room > (1u << 30) ? (1u << 30) : room));
        int zerr = Z_OK;
        gzerror(r->gz, &zerr);
        if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
            r->fatal = 1;
            r->fatal_why = zerr == Z_BUF_ERROR ? "truncated gzip stream (unexpected end of file)"
                                               : "corrupt gzip data or read error";
            return 0;
        }
        got = (size_t)n;
    } else {
        got = r->mem_len - r->mem_pos;
        if (got > room)
            got = room;
        memcpy(r->buf + r->end, r->mem + r->mem_pos, got);
        r->mem_pos += got;
    }
    if (got == 0)
        r->eof = 1;
    r->end += got;
    return got;
}

/* First read: drop a UTF-8 BOM and detect the delimiter from the first line. */
static void start(cw_reader *r)
{
    r->started = 1;
    while (r->end - r->start < 4096 && fill(r) > 0)
        ;
    if (r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0) {
        r->start += 3;
        r->bytes += 3;
    }
    int counts[3] = {0, 0, 0}, inq = 0;
    for (size_t i = r->start; i < r->end; i++) {
        char c = r->buf[i];
        if (c == '"')
            inq = !inq;
        else if (!inq && c == '\n')
            break;
        else if (!inq)
            counts[0] += c == ',', counts[1] += c == ';', counts[2] += c == '\t';
    }
    if (counts[1] > counts[0] && counts[1] >= counts[2])
        r->delim = ';';
    else if (counts[2] > counts[0] && counts[2] > counts[1])
        r->delim = '\t';
}

int cw_reader_peek(cw_reader *r)
{
    if (!r->started)
        start(r);
    for (;;) {
        for (size_t i = r->start; i < r->end; i++) {
            char c = r->buf[i];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
                return (unsigned char)c;
        }
        if (r->end - r->start >= r->cap || fill(r) == 0)
            return -1;
    }
}

/* Discards input up to and including the next newline (after an over-long
 * record). Returns 0 at end of input. */
static int skip_line(cw_reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            r->bytes += nl + 1 - (r->buf + r->start);
            r->start = (size_t)(nl + 1 - r->buf);
            r->line++;
            return 1;
        }
        r->bytes += r->end - r->start;
        r->start = r->end;
        if (fill(r) == 0)
            return 0;
    }
}

static int too_long(cw_reader *r, int64_t *line, const char **why)
{
    *line = r->line;
    *why = "record too long (exceeds max_line_bytes)";
    skip_line(r);
    return r->fatal ? CW_READ_FATAL : CW_READ_BAD;
}

/* Skips the rest of a bad record whose text from its start b up to p has
 * been parsed (with newlines inside quoted fields): resumes after the line
 * that p is on, so an embedded newline is not taken for the record's end. */
static int skip_bad(cw_reader *r, const char *b, const char *p, int newlines)
{
    r->bytes += p - b;
    r->start += (size_t)(p - b);
    r->line += newlines;
    skip_line(r);
    return r->fatal ? CW_READ_FATAL : CW_READ_BAD;
}

static int add_field(cw_reader *r, int nf, const char *s, size_t len)
{
    if (nf >= r->fcap) {
        if (r->fcap >= CW_MAX_COLUMNS)
            return -1;
        int nc = r->fcap * 2;
        cw_strref *f = realloc(r->fields, sizeof *f * (size_t)nc);
        if (!f)
            return -1;
        r->fields = f;
        r->fcap = nc;
    }
    r->fields[nf].s = s;
    r->fields[nf].len = len;
    return 0;
}

int cw_csv_next(cw_reader *r, cw_strref **fields, int *nfields, int64_t *line, cw_strref *raw,
                const char **why)
{
    if (!r->started)
        start(r);
again:
    if (r->fatal) {
        *line = r->line;
        *why = r->fatal_why;
        return CW_READ_FATAL;
    }
    const char delim = r->delim;
    const char *b = r->buf + r->start, *e = r->buf + r->end, *p = b;
    int nf = 0, newlines = 0;
    size_t sl = 0;
    if (p == e) {
        if (fill(r) > 0 || r->fatal)
            goto again;
        return CW_READ_EOF;
    }
    for (;;) {
        if (p < e && *p == '"') {
            /* Quoted field: unescape "" into scratch. */
            const char *q = p + 1;
            size_t fstart = sl;
            for (;;) {
                const char *qu = memchr(q, '"', (size_t)(e - q));
                const char *stop = qu ? qu : e;
                for (const char *c = q; c < stop; c++)
                    newlines += *c == '\n';
                if (sl + (size_t)(stop - q) > r->max_record)
                    return too_long(r, line, why);
                memcpy(r->scratch + sl, q, (size_t)(stop - q));
                sl += (size_t)(stop - q);
                if (!qu || qu + 1 == e) {
                    if (!r->eof)
                        goto need_more;
                    if (!qu) {
                        *line = r->line;
                        *why = "unterminated quoted field";
                        r->bytes += e - b;
                        r->line += newlines + 1;
                        r->start = r->end;
                        return CW_READ_BAD;
                    }
                    p = qu + 1;
                    break;
                }
                if (qu[1] == '"') {
                    r->scratch[sl++] = '"';
                    q = qu + 2;
                    continue;
                }
                p = qu + 1;
                break;
            }
            if (add_field(r, nf++, r->scratch + fstart, sl - fstart) < 0)
                goto too_many;
            if (p < e && *p != delim && *p != '\n' && *p != '\r') {
                *line = r->line;
                *why = "unexpected character after a closing quote";
                return skip_bad(r, b, p, newlines);
            }
        } else {
            const char *q = p;
            while (q < e && *q != delim && *q != '\n' && *q != '\r')
                q++;
            if (q == e && !r->eof)
                goto need_more;
            if (add_field(r, nf++, p, (size_t)(q - p)) < 0)
                goto too_many;
            p = q;
        }
        if (p == e) {
            if (!r->eof)
                goto need_more;
            break;
        }
        if (*p == delim) {
            p++;
            continue;
        }
        if (*p == '\r') {
            if (p + 1 == e && !r->eof)
                goto need_more;
            p += (p + 1 < e && p[1] == '\n') ? 2 : 1;
            break;
        }
        p++; /* '\n' */
        break;
    }
    {
        size_t reclen = (size_t)(p - b);
        int64_t recline = r->line;
        r->line += newlines + (p > b && (p[-1] == '\n' || p[-1] == '\r'));
        r->start += reclen;
        r->bytes += (int64_t)reclen;
        /* The limit is on the record's text: its line ending does not count,
         * so LF and CRLF files accept the same records (as cw_line_next). */
        size_t rl = reclen;
        while (rl && (b[rl - 1] == '\n' || b[rl - 1] == '\r'))
            rl--;
        if (rl > r->max_record) {
            *line = recline;
            *why = "record too long (exceeds max_line_bytes)";
            return CW_READ_BAD;
        }
        /* A blank line is one empty unquoted field: skip it. */
        if (nf == 1 && r->fields[0].len == 0 && (b == p || *b != '"'))
            goto again;
        raw->s = b;
        raw->len = rl;
        *fields = r->fields;
        *nfields = nf;
        *line = recline;
        return CW_READ_OK;
    }
need_more:
    /* Incomplete, so at most a trailing '\r' of it is line ending. */
    if ((size_t)(e - b) > r->max_record + 1)
        return too_long(r, line, why);
    if (fill(r) == 0 && !r->eof && !r->fatal)
        return too_long(r, line, why);
    goto again;
too_many:
    *line = r->line;
    *why = "too many columns (more than 1024)";
    return skip_bad(r, b, p, newlines);
}

int cw_line_next(cw_reader *r, cw_strref *text, int64_t *line, const char **why)
{
    if (!r->started)
        start(r);
    for (;;) {
        if (r->fatal) {
            *line = r->line;
            *why = r->fatal_why;
            return CW_READ_FATAL;
        }
        const char *b = r->buf + r->start;
        size_t avail = r->end - r->start;
        const char *nl = memchr(b, '\n', avail > r->max_record + 2 ? r->max_record + 2 : avail);
        if (!nl) {
            if (avail > r->max_record + 1)
                return too_long(r, line, why);
            if (!r->eof) {
                fill(r);
                continue;
            }
            if (avail == 0)
                return CW_READ_EOF;
        }
        size_t len = nl ? (size_t)(nl - b) : avail;
        size_t consumed = nl ? len + 1 : len;
        int64_t l = r->line;
        r->start += consumed;
        r->bytes += (int64_t)consumed;
        r->line++;
        while (len && (b[len - 1] == '\r'))
            len--;
        if (len > r->max_record) {
            *line = l;
            *why = "line too long (exceeds max_line_bytes)";
            return CW_READ_BAD;
        }
        size_t i = 0;
        while (i < len && (b[i] == ' ' || b[i] == '\t'))
            i++;
        if (i == len)
            continue;
        text->s = b;
        text->len = len;
        *line = l;
        return CW_READ_OK;
    }
}

cw_status cw_reader_slurp(cw_reader *r, size_t max, char **out, size_t *len, const char **why)
{
    if (!r->started)
        start(r);
    cw_buf b;
    cw_buf_init(&b, max);
    for (;;) {
        size_t avail = r->end - r->start;
        cw_status s = cw_buf_add(&b, r->buf + r->start, avail);
        r->start += avail;
        r->bytes += (int64_t)avail;
        if (s == CW_ERR_TOOBIG) {
            cw_buf_free(&b);
            *why = "document too large to read whole";
            return CW_ERR_INPUT;
        }
        if (s != CW_OK) {
            cw_buf_free(&b);
            return s;
        }
        if (r->fatal) {
            cw_buf_free(&b);
            *why = r->fatal_why;
            return CW_ERR_INPUT;
        }
        if (r->eof)
            break;
        fill(r);
    }
    *out = cw_buf_steal(&b, len);
    return *out ? CW_OK : CW_ERR_NOMEM;
}
