/*
 * test_reader.c — the streaming CSV / JSON Lines reader: RFC-4180 quoting,
 * line endings, BOM, delimiter detection, the bounds on record size and
 * column count (reported and skipped, reading resumes at the right line),
 * gzip input (whole and damaged) and open errors.
 *
 * Most cases are a table of (input, expected transcript): the transcript
 * renders every result of the reader in order, "LINE:[field][field]" for a
 * record, "LINE:BAD reason" for a skipped one, then "EOF" or
 * "LINE:FATAL reason", so a case states the line numbers, the fields and the
 * recovery in one string.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/util.h"
#include "ingest/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- transcript helpers --------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + (size_t)n + 1)
            nc *= 2;
        b->p = realloc(b->p, nc);
        assert_non_null(b->p);
        b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

enum { MODE_CSV, MODE_LINES };

/* Reads r to the end and returns the transcript (caller frees). raws, when
 * non-NULL, collects "<raw>" of every CSV record. */
static char *transcript(cw_reader *r, int mode, sbuf *raws)
{
    sbuf b = {0};
    sb_add(&b, "%s", "");
    for (int n = 0; n < 10000; n++) {
        cw_strref *f = NULL, raw = {0}, text = {0};
        int nf = -1;
        int64_t line = -1;
        const char *why = NULL;
        int rc = mode == MODE_CSV ? cw_csv_next(r, &f, &nf, &line, &raw, &why)
                                  : cw_line_next(r, &text, &line, &why);
        switch (rc) {
        case CW_READ_OK:
            sb_add(&b, "%lld:", (long long)line);
            if (mode == MODE_CSV) {
                assert_true(nf >= 1);
                for (int i = 0; i < nf; i++)
                    sb_add(&b, "[%.*s]", (int)f[i].len, f[i].s);
                if (raws)
                    sb_add(raws, "<%.*s>", (int)raw.len, raw.s);
            } else {
                sb_add(&b, "%.*s", (int)text.len, text.s);
            }
            sb_add(&b, "\n");
            break;
        case CW_READ_BAD: sb_add(&b, "%lld:BAD %s\n", (long long)line, why); break;
        case CW_READ_FATAL: sb_add(&b, "%lld:FATAL %s", (long long)line, why); return b.p;
        case CW_READ_EOF: sb_add(&b, "EOF"); return b.p;
        default: fail_msg("unexpected reader result %d", rc);
        }
    }
    fail_msg("reader did not reach the end");
    return NULL;
}

static char *read_mem(const char *in, size_t len, size_t max_record, int mode, sbuf *raws)
{
    cw_reader *r = NULL;
    assert_int_equal(cw_reader_open_mem(in, len, max_record, &r), CW_OK);
    assert_non_null(r);
    char *t = transcript(r, mode, raws);
    /* Every input byte is accounted for once the end is reached. */
    if (strcmp(t + strlen(t) - 3, "EOF") == 0) {
        assert_int_equal(cw_reader_bytes(r), (int64_t)len);
        assert_int_equal(cw_reader_offset(r), (int64_t)len);
    }
    cw_reader_close(r);
    return t;
}

/* ---- CSV table ------------------------------------------------------ */

typedef struct csv_case {
    const char *name;
    const char *in;
    size_t len;        /* 0 = strlen(in) */
    size_t max_record; /* 0 = default */
    const char *want;
} csv_case;

#define AFTER_QUOTE "BAD unexpected character after a closing quote"
#define TOO_LONG    "BAD record too long (exceeds max_line_bytes)"

static const csv_case csv_cases[] = {
    {"simple", "a,b,c\n1,2,3\n", 0, 0, "1:[a][b][c]\n2:[1][2][3]\nEOF"},
    {"empty fields", "a,,c\n,,\nx,y,\n", 0, 0, "1:[a][][c]\n2:[][][]\n3:[x][y][]\nEOF"},
    {"quoted comma", "id,name\n1,\"Acme, Inc.\"\n", 0, 0, "1:[id][name]\n2:[1][Acme, Inc.]\nEOF"},
    {"doubled quotes", "a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n", 0, 0,
     "1:[a][b]\n2:[say \"hi\"][\"]\nEOF"},
    {"empty quoted field", "a,\"\",c\n", 0, 0, "1:[a][][c]\nEOF"},
    {"quotes inside an unquoted field", "a,b\"c,d\n", 0, 0, "1:[a][b\"c][d]\nEOF"},
    {"embedded newline", "a,b\n\"line1\nline2\",x\nnext,y\n", 0, 0,
     "1:[a][b]\n2:[line1\nline2][x]\n4:[next][y]\nEOF"},
    {"two embedded newlines", "\"1\n2\n3\",\"4\n5\"\nz\n", 0, 0, "1:[1\n2\n3][4\n5]\n5:[z]\nEOF"},
    {"embedded CRLF", "\"l1\r\nl2\",x\r\nz,w\r\n", 0, 0, "1:[l1\r\nl2][x]\n3:[z][w]\nEOF"},
    {"CRLF", "a,b\r\n1,2\r\n", 0, 0, "1:[a][b]\n2:[1][2]\nEOF"},
    {"bare CR", "a,b\r1,2\r", 0, 0, "1:[a][b]\n2:[1][2]\nEOF"},
    {"no final newline", "a,b\n1,2", 0, 0, "1:[a][b]\n2:[1][2]\nEOF"},
    {"no final newline, quoted", "a,b\n1,\"2\"", 0, 0, "1:[a][b]\n2:[1][2]\nEOF"},
    {"no final newline, CRLF file", "a,b\r\n1,2", 0, 0, "1:[a][b]\n2:[1][2]\nEOF"},
    {"BOM dropped", "\xEF\xBB\xBFid,name\n1,x\n", 0, 0, "1:[id][name]\n2:[1][x]\nEOF"},
    {"BOM only", "\xEF\xBB\xBF", 0, 0, "EOF"},
    {"BOM then blank lines", "\xEF\xBB\xBF\n\nid\n", 0, 0, "3:[id]\nEOF"},
    {"blank lines skipped", "a,b\n\n1,2\n\n\n3,4\n\n", 0, 0, "1:[a][b]\n3:[1][2]\n6:[3][4]\nEOF"},
    {"blank CRLF lines skipped", "a\r\n\r\nb\r\n\r\n", 0, 0, "1:[a]\n3:[b]\nEOF"},
    {"quoted empty line is a record", "a\n\"\"\nb\n", 0, 0, "1:[a]\n2:[]\n3:[b]\nEOF"},
    {"semicolon", "a;b;c\n1;2,5;3\n", 0, 0, "1:[a][b][c]\n2:[1][2,5][3]\nEOF"},
    {"semicolon, quoted header", "\"x,y\";b;c\n1;2;3\n", 0, 0, "1:[x,y][b][c]\n2:[1][2][3]\nEOF"},
    {"tab", "a\tb\tc\n1\t2\t3\n", 0, 0, "1:[a][b][c]\n2:[1][2][3]\nEOF"},
    {"tab with commas in data", "a\tb\n1,5\t2,5\n", 0, 0, "1:[a][b]\n2:[1,5][2,5]\nEOF"},
    {"comma wins a tie", "a,b;c\n1,2;3\n", 0, 0, "1:[a][b;c]\n2:[1][2;3]\nEOF"},
    {"delimiter from first record only", "a,b,c\n1;2;3;4;5\n", 0, 0,
     "1:[a][b][c]\n2:[1;2;3;4;5]\nEOF"},
    {"unterminated quote", "a,b\n1,\"oops\n2,3\n", 0, 0,
     "1:[a][b]\n2:BAD unterminated quoted field\nEOF"},
    {"unterminated quote at end", "a\n\"", 0, 0, "1:[a]\n2:BAD unterminated quoted field\nEOF"},
    {"character after closing quote", "a,b\n\"x\"y,2\n3,4\n", 0, 0,
     "1:[a][b]\n2:" AFTER_QUOTE "\n3:[3][4]\nEOF"},
    {"character after closing quote, CRLF", "a,b\r\n1,\"x\" \r\n3,4\r\n", 0, 0,
     "1:[a][b]\n2:" AFTER_QUOTE "\n3:[3][4]\nEOF"},
    {"character after a multi-line quoted field", "a\n\"x\ny\"z\nq\n", 0, 0,
     "1:[a]\n2:" AFTER_QUOTE "\n4:[q]\nEOF"},
    {"character after closing quote, last line", "a\n\"x\"y", 0, 0,
     "1:[a]\n2:" AFTER_QUOTE "\nEOF"},
    {"over-long record", "a,b\nxxxxxxxxxxxxxxxxxxxx,yy\nc,d\n", 0, 16,
     "1:[a][b]\n2:" TOO_LONG "\n3:[c][d]\nEOF"},
    {"over-long quoted record", "a,b\n\"xxxxxxxxxxxxxxxxxxxx\",y\nc,d\n", 0, 16,
     "1:[a][b]\n2:" TOO_LONG "\n3:[c][d]\nEOF"},
    {"over-long last record", "a,b\nxxxxxxxxxxxxxxxxxxxx", 0, 16, "1:[a][b]\n2:" TOO_LONG "\nEOF"},
    /* max_record bounds a record's text; its line ending does not count. */
    {"exactly max_record, LF", "xxxxxxxxxxxxxxx\n1\n", 0, 15, "1:[xxxxxxxxxxxxxxx]\n2:[1]\nEOF"},
    {"exactly max_record, CRLF", "xxxxxxxxxxxxxxx\r\n1\r\n", 0, 15,
     "1:[xxxxxxxxxxxxxxx]\n2:[1]\nEOF"},
    {"exactly max_record, quoted", "\"xxxxxxxxxxxxx\"\r\n1\r\n", 0, 15,
     "1:[xxxxxxxxxxxxx]\n2:[1]\nEOF"},
    {"one byte over max_record", "xxxxxxxxxxxxxxxx\n1\n", 0, 15, "1:" TOO_LONG "\n2:[1]\nEOF"},
    {"empty input", "", 0, 0, "EOF"},
    {"only newlines", "\n\r\n\n", 0, 0, "EOF"},
};

static void test_csv_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof csv_cases / sizeof csv_cases[0]; k++) {
        const csv_case *c = &csv_cases[k];
        size_t len = c->len ? c->len : strlen(c->in);
        char *got = read_mem(c->in, len, c->max_record, MODE_CSV, NULL);
        if (strcmp(got, c->want) != 0)
            fail_msg("case '%s':\n--- got ---\n%s\n--- want ---\n%s", c->name, got, c->want);
        free(got);
    }
}

/* A NUL byte is data to the reader (validation rejects it later). */
static void test_csv_nul_byte(void **state)
{
    (void)state;
    cw_reader *r = NULL;
    assert_int_equal(cw_reader_open_mem("a\0b,c\n", 6, 0, &r), CW_OK);
    cw_strref *f, raw;
    int nf;
    int64_t line;
    const char *why;
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_OK);
    assert_int_equal(nf, 2);
    assert_int_equal(f[0].len, 3);
    assert_memory_equal(f[0].s, "a\0b", 3);
    assert_int_equal(raw.len, 5);
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_EOF);
    cw_reader_close(r);
}

typedef struct raw_case {
    const char *in;
    const char *want; /* "<raw>" per record */
} raw_case;

static const raw_case raw_cases[] = {
    {"a,b\n1,2\n", "<a,b><1,2>"},
    {"a,b\r\n1,2\r\n", "<a,b><1,2>"},
    {"a,\"b,c\"\r\nx,y", "<a,\"b,c\"><x,y>"},
    {"\"l1\nl2\",x\n\nz\n", "<\"l1\nl2\",x><z>"},
    {"\xEF\xBB\xBFid;v\n1;\"a\"\"b\"\n", "<id;v><1;\"a\"\"b\">"},
    {"a\r\r\nb\n", "<a><b>"},
};

static void test_csv_raw_text(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof raw_cases / sizeof raw_cases[0]; k++) {
        sbuf raws = {0};
        sb_add(&raws, "%s", "");
        free(read_mem(raw_cases[k].in, strlen(raw_cases[k].in), 0, MODE_CSV, &raws));
        if (strcmp(raws.p, raw_cases[k].want) != 0)
            fail_msg("raw of '%s': got '%s', want '%s'", raw_cases[k].in, raws.p,
                     raw_cases[k].want);
        free(raws.p);
    }
}

/* Builds n comma-separated fields "f0,f1,..." followed by tail. */
static char *wide_record(int n, const char *first, const char *tail)
{
    sbuf b = {0};
    sb_add(&b, "%s", first);
    for (int i = 1; i < n; i++)
        sb_add(&b, ",f%d", i);
    sb_add(&b, "\n%s", tail);
    return b.p;
}

static void test_csv_column_limit(void **state)
{
    (void)state;
    /* 1024 columns is the limit and fine. */
    char *in = wide_record(1024, "f0", "x\n");
    cw_reader *r = NULL;
    assert_int_equal(cw_reader_open_mem(in, strlen(in), 0, &r), CW_OK);
    cw_strref *f, raw;
    int nf;
    int64_t line;
    const char *why;
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_OK);
    assert_int_equal(nf, 1024);
    assert_int_equal(line, 1);
    assert_int_equal(f[1023].len, 5);
    assert_memory_equal(f[1023].s, "f1023", 5);
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_OK);
    assert_int_equal(nf, 1);
    assert_int_equal(line, 2);
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_EOF);
    cw_reader_close(r);
    free(in);

    /* 1025 is reported and skipped; the next record reads fine. */
    in = wide_record(1025, "f0", "ok,1\n");
    char *got = read_mem(in, strlen(in), 0, MODE_CSV, NULL);
    assert_string_equal(got, "1:BAD too many columns (more than 1024)\n2:[ok][1]\nEOF");
    free(got);
    free(in);

    /* The same when the record began with a multi-line quoted field. */
    in = wide_record(1100, "\"a\nb\"", "ok,1\n");
    got = read_mem(in, strlen(in), 0, MODE_CSV, NULL);
    assert_string_equal(got, "1:BAD too many columns (more than 1024)\n3:[ok][1]\nEOF");
    free(got);
    free(in);
}

/* A record far longer than the read buffer: skipped without buffering it. */
static void test_csv_huge_record_skipped(void **state)
{
    (void)state;
    size_t big = 5u << 19; /* 2.5 MiB */
    char *in = malloc(big + 64);
    assert_non_null(in);
    size_t n = 0;
    memcpy(in + n, "a,b\n", 4), n += 4;
    memset(in + n, 'x', big), n += big;
    memcpy(in + n, "\nc,d\n", 5), n += 5;
    static const size_t limits[] = {16, 0 /* default 1 MiB */};
    for (size_t k = 0; k < 2; k++) {
        char *got = read_mem(in, n, limits[k], MODE_CSV, NULL);
        assert_string_equal(got, "1:[a][b]\n2:" TOO_LONG "\n3:[c][d]\nEOF");
        free(got);
        got = read_mem(in, n, limits[k], MODE_LINES, NULL);
        assert_string_equal(got,
                            "1:a,b\n2:BAD record too long (exceeds max_line_bytes)\n3:c,d\nEOF");
        free(got);
    }
    free(in);
}

/* Input several times the buffer size, with quoted multi-line fields that
 * straddle refills: every record arrives intact and on its line. */
static void test_csv_many_records_across_refills(void **state)
{
    (void)state;
    sbuf in = {0};
    const int n = 150000;
    for (int i = 0; i < n; i++) {
        if (i % 3 == 0)
            sb_add(&in, "%d,\"q%d\nz\",%d\n", i, i, i * 7);
        else
            sb_add(&in, "%d,plain-%d,%d\r\n", i, i, i * 7);
    }
    assert_true(in.len > (3u << 20));
    cw_reader *r = NULL;
    assert_int_equal(cw_reader_open_mem(in.p, in.len, 0, &r), CW_OK);
    int64_t want_line = 1;
    char want[64];
    for (int i = 0; i < n; i++) {
        cw_strref *f, raw;
        int nf;
        int64_t line;
        const char *why;
        int rc = cw_csv_next(r, &f, &nf, &line, &raw, &why);
        if (rc != CW_READ_OK || nf != 3 || line != want_line)
            fail_msg("record %d: rc %d nf %d line %lld (want %lld)", i, rc, nf, (long long)line,
                     (long long)want_line);
        int wl = snprintf(want, sizeof want, "%d", i);
        assert_int_equal(f[0].len, wl);
        assert_memory_equal(f[0].s, want, (size_t)wl);
        wl = i % 3 == 0 ? snprintf(want, sizeof want, "q%d\nz", i)
                        : snprintf(want, sizeof want, "plain-%d", i);
        if (f[1].len != (size_t)wl || memcmp(f[1].s, want, (size_t)wl) != 0)
            fail_msg("record %d: field 2 '%.*s', want '%s'", i, (int)f[1].len, f[1].s, want);
        wl = snprintf(want, sizeof want, "%d", i * 7);
        assert_memory_equal(f[2].s, want, (size_t)wl);
        want_line += i % 3 == 0 ? 2 : 1;
    }
    cw_strref *f, raw;
    int nf;
    int64_t line;
    const char *why;
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_EOF);
    assert_int_equal(cw_reader_bytes(r), (int64_t)in.len);
    cw_reader_close(r);
    free(in.p);
}

/* ---- JSON Lines ----------------------------------------------------- */

static const csv_case line_cases[] = {
    {"lines", "{\"a\":1}\n\n  \n{\"b\":2}\r\nlast", 0, 0, "1:{\"a\":1}\n4:{\"b\":2}\n5:last\nEOF"},
    {"BOM dropped", "\xEF\xBB\xBF{}\n", 0, 0, "1:{}\nEOF"},
    {"blank lines only", "\n \t\n\r\n", 0, 0, "EOF"},
    {"empty", "", 0, 0, "EOF"},
    {"text kept whole", " {\"a\": \"x,\\\"y\"} \n", 0, 0, "1: {\"a\": \"x,\\\"y\"} \nEOF"},
    {"exactly max_record", "0123456789abcdef\n0123456789abcdef\r\nz\n", 0, 16,
     "1:0123456789abcdef\n2:0123456789abcdef\n3:z\nEOF"},
    {"one byte over", "0123456789abcdefg\nz\n", 0, 16,
     "1:BAD line too long (exceeds max_line_bytes)\n2:z\nEOF"},
    {"far over", "short\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nok\n", 0, 16,
     "1:short\n2:BAD record too long (exceeds max_line_bytes)\n3:ok\nEOF"},
    {"far over, last line", "short\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0, 16,
     "1:short\n2:BAD record too long (exceeds max_line_bytes)\nEOF"},
};

static void test_line_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof line_cases / sizeof line_cases[0]; k++) {
        const csv_case *c = &line_cases[k];
        char *got = read_mem(c->in, strlen(c->in), c->max_record, MODE_LINES, NULL);
        if (strcmp(got, c->want) != 0)
            fail_msg("case '%s':\n--- got ---\n%s\n--- want ---\n%s", c->name, got, c->want);
        free(got);
    }
}

static void test_peek(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {"\xEF\xBB\xBF  \r\n\t{\"a\":1}\n", '{'},
        {"id,name\n", 'i'},
        {"", -1},
        {" \n\n", -1},
        {"\xEF\xBB\xBF", -1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cw_reader *r = NULL;
        assert_int_equal(cw_reader_open_mem(cases[k].in, strlen(cases[k].in), 0, &r), CW_OK);
        assert_int_equal(cw_reader_peek(r), cases[k].want);
        /* Peeking consumes nothing. */
        assert_int_equal(cw_reader_peek(r), cases[k].want);
        cw_reader_close(r);
    }
    /* After a peek, records still start at line 1. */
    cw_reader *r = NULL;
    const char *in = "\n{\"a\":1}\n";
    assert_int_equal(cw_reader_open_mem(in, strlen(in), 0, &r), CW_OK);
    assert_int_equal(cw_reader_peek(r), '{');
    char *got = transcript(r, MODE_LINES, NULL);
    assert_string_equal(got, "2:{\"a\":1}\nEOF");
    free(got);
    cw_reader_close(r);
    cw_reader_close(NULL);
}

/* ---- files and gzip ------------------------------------------------- */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/cw-test-reader-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* Rows "id-i,i*i,text" with enough variety that gzip cannot squeeze them to nothing. */
static sbuf make_rows(int n)
{
    sbuf b = {0};
    sb_add(&b, "id,square,text\n");
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        sb_add(&b, "id-%d,%lld,\"t %016llx, %d\"\n", i, (long long)i * i, (unsigned long long)x,
               i % 97);
    }
    return b;
}

static void write_gz(const char *path, const char *data, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Copies the first n bytes of src to dst, flipping byte flip_at when >= 0. */
static void copy_damaged(const char *src, const char *dst, long n, long flip_at)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    for (long i = 0; i < n; i++) {
        int c = fgetc(in);
        assert_true(c != EOF);
        if (i == flip_at)
            c ^= 0x5a;
        fputc(c, out);
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void check_rows(cw_reader *r, int n)
{
    cw_strref *f, raw;
    int nf;
    int64_t line;
    const char *why;
    char want[64];
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_OK);
    assert_int_equal(nf, 3);
    for (int i = 0; i < n; i++) {
        int rc = cw_csv_next(r, &f, &nf, &line, &raw, &why);
        if (rc != CW_READ_OK)
            fail_msg("row %d: %d (%s)", i, rc, rc == CW_READ_OK ? "" : why);
        assert_int_equal(line, i + 2);
        int wl = snprintf(want, sizeof want, "id-%d", i);
        assert_int_equal(f[0].len, wl);
        assert_memory_equal(f[0].s, want, (size_t)wl);
    }
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), CW_READ_EOF);
}

static void test_gzip_file(void **state)
{
    (void)state;
    const int n = 30000;
    sbuf rows = make_rows(n);
    char path[512];
    path_in_tmp(path, sizeof path, "rows.csv.gz");
    write_gz(path, rows.p, rows.len);
    long gzsize = file_size(path);
    assert_true(gzsize < (long)rows.len);

    cw_reader *r = NULL;
    char *err = NULL;
    assert_int_equal(cw_reader_open(path, 0, &r, &err), CW_OK);
    assert_non_null(r);
    assert_null(err);
    check_rows(r, n);
    assert_int_equal(cw_reader_bytes(r), (int64_t)rows.len);
    assert_int_equal(cw_reader_offset(r), gzsize);
    cw_reader_close(r);

    /* The same bytes uncompressed read the same way (gzip is detected from content). */
    path_in_tmp(path, sizeof path, "rows.csv");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(rows.p, 1, rows.len, f), rows.len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(cw_reader_open(path, 0, &r, &err), CW_OK);
    check_rows(r, n);
    assert_int_equal(cw_reader_bytes(r), (int64_t)rows.len);
    cw_reader_close(r);
    free(rows.p);
}

/* Reads path to the end; returns the last result and its reason. */
static int drain(const char *path, const char **last_why, int *nrecords)
{
    cw_reader *r = NULL;
    char *err = NULL;
    assert_int_equal(cw_reader_open(path, 0, &r, &err), CW_OK);
    int rc, n = 0;
    do {
        cw_strref *f, raw;
        int nf;
        int64_t line;
        const char *why = NULL;
        rc = cw_csv_next(r, &f, &nf, &line, &raw, &why);
        n += rc == CW_READ_OK;
        *last_why = why;
    } while (rc == CW_READ_OK || rc == CW_READ_BAD);
    /* Reading after the end keeps reporting it. */
    cw_strref *f, raw;
    int nf;
    int64_t line;
    const char *why = NULL;
    assert_int_equal(cw_csv_next(r, &f, &nf, &line, &raw, &why), rc);
    cw_reader_close(r);
    *nrecords = n;
    return rc;
}

static void test_gzip_damaged(void **state)
{
    (void)state;
    const int n = 30000;
    sbuf rows = make_rows(n);
    char whole[512], cut[512];
    path_in_tmp(whole, sizeof whole, "whole.csv.gz");
    path_in_tmp(cut, sizeof cut, "damaged.csv.gz");
    write_gz(whole, rows.p, rows.len);
    long size = file_size(whole);
    assert_true(size > 4096);

    /* Truncated anywhere after the magic number: FATAL "truncated", never EOF. */
    const long cuts[] = {2, 10, 11, 100, size / 3, size / 2, size - 8, size - 4, size - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        copy_damaged(whole, cut, cuts[k], -1);
        const char *why = NULL;
        int got = 0;
        int rc = drain(cut, &why, &got);
        if (rc != CW_READ_FATAL || !why || !strstr(why, "truncated"))
            fail_msg("cut at %ld of %ld: result %d (%s) after %d records", cuts[k], size, rc,
                     why ? why : "-", got);
        assert_true(got <= n);
    }

    /* A damaged byte in the compressed data: FATAL, reason names the damage. */
    const long flips[] = {size / 4, size / 2, size - 6};
    for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
        copy_damaged(whole, cut, size, flips[k]);
        const char *why = NULL;
        int got = 0;
        int rc = drain(cut, &why, &got);
        if (rc != CW_READ_FATAL || !why || !(strstr(why, "corrupt") || strstr(why, "truncated")))
            fail_msg("flip at %ld of %ld: result %d (%s)", flips[k], size, rc, why ? why : "-");
    }
    free(rows.p);
}

static void test_open_errors(void **state)
{
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "no-such-file.csv");
    cw_reader *r = (cw_reader *)&r; /* must be reset to NULL */
    char *err = NULL;
    assert_int_equal(cw_reader_open(path, 0, &r, &err), CW_ERR_IO);
    assert_null(r);
    assert_non_null(err);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, "No such file"));
    free(err);
    /* err may be NULL. */
    assert_int_equal(cw_reader_open(path, 0, &r, NULL), CW_ERR_IO);
    assert_null(r);

    /* An empty file is simply empty. */
    path_in_tmp(path, sizeof path, "empty.csv");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cw_reader_open(path, 0, &r, &err), CW_OK);
    cw_strref *fl, raw;
    int nf;
    int64_t line;
    const char *why;
    assert_int_equal(cw_csv_next(r, &fl, &nf, &line, &raw, &why), CW_READ_EOF);
    assert_int_equal(cw_reader_peek(r), -1);
    cw_reader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_table),
        cmocka_unit_test(test_csv_nul_byte),
        cmocka_unit_test(test_csv_raw_text),
        cmocka_unit_test(test_csv_column_limit),
        cmocka_unit_test(test_csv_huge_record_skipped),
        cmocka_unit_test(test_csv_many_records_across_refills),
        cmocka_unit_test(test_line_table),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_gzip_file),
        cmocka_unit_test(test_gzip_damaged),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
