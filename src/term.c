/*
 * term.c — what churnwatch prints for people cannot drive their terminal.
 *
 * Data (an account name, a ticket's text, a bad value quoted in an ingest
 * error, a request path in the access log) may hold control bytes: ESC ] 0;
 * ... BEL sets the terminal's title, other sequences move the cursor, clear
 * the screen or rewrite what the user sees. Rather than escape every printf,
 * main() puts an escaping stream in front of stderr (always: messages,
 * warnings, logs) and stdout (tables and other text). Commands printing a
 * machine format (csv, json, JSON Lines) call cli_stdout_data(), which gives
 * the real stdout back when it is not a terminal: redirected data stays byte
 * for byte what is stored. On a terminal every format is escaped.
 *
 * Escaped: C0 controls but tab and newline, DEL, the C1 controls (U+0080..
 * U+009F, UTF-8 C2 80..C2 9F) and stray bytes 0x80..0x9F that are no part
 * of a UTF-8 sequence (C1 on an 8-bit terminal), each as \xNN. Other UTF-8
 * (and other invalid bytes, which terminals show as U+FFFD) pass through.
 */
#define _GNU_SOURCE /* fopencookie */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct esc_stream {
    FILE *raw; /* where the escaped bytes go */
    int need;  /* continuation bytes still expected in a UTF-8 sequence */
    int pend;  /* a C2 lead byte seen, its follower not yet */
} esc_stream;

static esc_stream g_err, g_out;
static FILE *g_raw_err, *g_raw_out, *g_esc_out, *g_esc_err;

static size_t put_hex(char *o, unsigned char b)
{
    static const char hex[] = "0123456789abcdef";
    o[0] = '\\';
    o[1] = 'x';
    o[2] = hex[b >> 4];
    o[3] = hex[b & 15];
    return 4;
}

/* Escapes n bytes of buf into o (room for 8 bytes per input byte, plus 4
 * for a pending C2), carrying the UTF-8 state in k across calls. */
static size_t esc_chunk(esc_stream *k, const unsigned char *buf, size_t n, char *o)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = buf[i];
        if (k->pend) {
            k->pend = 0;
            if (b >= 0x80 && b <= 0x9f) { /* U+0080..U+009F: a C1 control */
                w += put_hex(o + w, 0xc2);
                w += put_hex(o + w, b);
                continue;
            }
            o[w++] = (char)0xc2;
            k->need = 1;
        }
        if (b < 0x80) {
            k->need = 0;
            if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f)
                w += put_hex(o + w, b);
            else
                o[w++] = (char)b;
        } else if (b < 0xc0) {
            if (k->need > 0) {
                k->need--;
                o[w++] = (char)b;
            } else if (b <= 0x9f) {
                w += put_hex(o + w, b);
            } else {
                o[w++] = (char)b;
            }
        } else if (b == 0xc2) {
            k->need = 0;
            k->pend = 1;
        } else {
            k->need = b < 0xe0 ? 1 : b < 0xf0 ? 2 : b < 0xf5 ? 3 : 0;
            o[w++] = (char)b;
        }
    }
    return w;
}

static ssize_t esc_write(void *cookie, const char *buf, size_t n)
{
    esc_stream *k = cookie;
    char o[4096 + 4];
    size_t done = 0;
    while (done < n) {
        size_t take = n - done < 512 ? n - done : 512; /* 512 * 8 fits in o */
        size_t w = esc_chunk(k, (const unsigned char *)buf + done, take, o);
        if (w && fwrite(o, 1, w, k->raw) != w)
            return done ? (ssize_t)done : -1;
        done += take;
    }
    /* The escaping stream does the buffering; an fflush on it reaches the
     * file (serve's "listening on" line, the order of stderr and stdout). */
    if (fflush(k->raw) != 0)
        return -1;
    return (ssize_t)n;
}

static int esc_close(void *cookie)
{
    esc_stream *k = cookie;
    if (k->pend) {
        k->pend = 0;
        fputc(0xc2, k->raw);
    }
    return fflush(k->raw);
}

static FILE *esc_open(esc_stream *k, FILE *raw, int mode)
{
    cookie_io_functions_t io = {NULL, esc_write, NULL, esc_close};
    k->raw = raw;
    FILE *f = fopencookie(k, "w", io);
    if (f)
        setvbuf(f, NULL, mode, mode == _IONBF ? 0 : BUFSIZ);
    return f;
}

/* Flushes f and a C2 lead byte still waiting for its follower (k). */
static void esc_drain(FILE *f, esc_stream *k)
{
    fflush(f);
    if (k->pend) {
        k->pend = 0;
        fputc(0xc2, k->raw);
        fflush(k->raw);
    }
}

static void term_flush_at_exit(void)
{
    /* Before stdio's own clean-up flushes the real streams. */
    if (g_esc_out)
        esc_drain(g_esc_out, &g_out);
    if (g_esc_err)
        esc_drain(g_esc_err, &g_err);
}

void cli_term_init(void)
{
    g_raw_err = stderr;
    g_raw_out = stdout;
    FILE *e = esc_open(&g_err, g_raw_err, _IONBF);
    FILE *o = esc_open(&g_out, g_raw_out, isatty(1) ? _IOLBF : _IOFBF);
    if (!e || !o) { /* out of memory at start: print as before */
        if (e)
            fclose(e);
        if (o)
            fclose(o);
        return;
    }
    stderr = g_esc_err = e;
    stdout = g_esc_out = o;
    atexit(term_flush_at_exit);
}

void cli_stdout_data(void)
{
    if (g_esc_out && stdout == g_esc_out && !isatty(1)) {
        esc_drain(g_esc_out, &g_out);
        stdout = g_raw_out;
    }
}

FILE *cli_raw_stderr(void)
{
    return g_raw_err ? g_raw_err : stderr;
}
