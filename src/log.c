/*
 * log.c — `--log-format json`: structured logs for log shippers. Every line
 * the program writes to stderr (errors, warnings, the run's stage lines,
 * the delivery log, the server's access log) becomes one JSON object on a
 * line of its own:
 *
 *   {"ts":"2026-12-07T12:00:00.123Z","level":"info","msg":"…","fields":{…}}
 *
 * Rather than change every fprintf(stderr, …), main() puts a stream in
 * front of stderr that gathers bytes into lines and writes each line as an
 * object in one write(2) (lines of the server's threads never interleave).
 * The level is read from the line ("churnwatch: …" is an error, a line
 * with "warning:" a warning, the rest information); cli_log() writes an
 * object with fields of its own (the access log's route, status and
 * duration; a run's exit code). Secrets in a line are masked (core/mask.h).
 * In the default text format nothing changes.
 */
#define _GNU_SOURCE /* fopencookie */
#include "cli.h"
#include "core/mask.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 16384 /* a longer line is written in pieces */

typedef struct log_stream {
    char line[LOG_LINE_MAX];
    size_t n;
} log_stream;

static log_stream g_ls;
static int g_json;
static const char *g_cmd = "";
static int g_fd = 2;

/* A growing string for one object, bounded by the line's size. */
typedef struct jbuf {
    char *p;
    size_t n, cap;
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 512) + n;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void jb_str(jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    jb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jb_put(b, e, 2);
        } else if (c == '\n') {
            jb_put(b, "\\n", 2);
        } else if (c == '\t') {
            jb_put(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jb_put(b, e, 6);
        } else {
            jb_put(b, (const char *)&c, 1);
        }
    }
    jb_put(b, "\"", 1);
}

/* Starts an object: ts and level. */
static void jb_begin(jbuf *b, const char *level)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t t = tv.tv_sec;
    gmtime_r(&t, &tm);
    char ts[64];
    snprintf(ts, sizeof ts,
             "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    jb_put(b, ts, strlen(ts));
    jb_str(b, level, strlen(level));
}

/* Ends an object with the fields every line has (the command, the pid)
 * after the caller's own; writes it in one write(2). */
static void jb_end(jbuf *b, int nfields)
{
    char pid[48];
    jb_put(b, nfields ? ",\"cmd\":" : "\"cmd\":", nfields ? 7 : 6);
    jb_str(b, g_cmd, strlen(g_cmd));
    snprintf(pid, sizeof pid, ",\"pid\":%ld}}\n", (long)getpid());
    jb_put(b, pid, strlen(pid));
    if (b->p) {
        size_t done = 0;
        while (done < b->n) {
            ssize_t w = write(g_fd, b->p + done, b->n - done);
            if (w <= 0)
                break;
            done += (size_t)w;
        }
    }
    free(b->p);
}

static void emit_line(const char *s, size_t n)
{
    if (n == 0)
        return;
    char *line = malloc(n + 1);
    if (!line)
        return;
    memcpy(line, s, n);
    line[n] = '\0';
    char *shown = cw_mask_secrets(NULL, line);
    const char *msg = shown ? shown : CW_MASK;
    const char *level = "info";
    if (strstr(msg, "warning:"))
        level = "warn";
    else if (strncmp(msg, "churnwatch: ", 12) == 0)
        level = "error";
    if (strncmp(msg, "churnwatch: ", 12) == 0)
        msg += 12;
    jbuf b = {0};
    jb_begin(&b, level);
    jb_put(&b, ",\"msg\":", 7);
    jb_str(&b, msg, strlen(msg));
    jb_put(&b, ",\"fields\":{", 11);
    jb_end(&b, 0);
    free(shown);
    free(line);
}

static ssize_t log_write(void *cookie, const char *buf, size_t n)
{
    log_stream *k = cookie;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            emit_line(k->line, k->n);
            k->n = 0;
        } else if (buf[i] != '\r') {
            if (k->n == sizeof k->line) {
                emit_line(k->line, k->n);
                k->n = 0;
            }
            k->line[k->n++] = buf[i];
        }
    }
    return (ssize_t)n;
}

static int log_close(void *cookie)
{
    log_stream *k = cookie;
    emit_line(k->line, k->n);
    k->n = 0;
    return 0;
}

static FILE *g_log_file;

static void log_flush_at_exit(void)
{
    if (g_log_file) {
        fflush(g_log_file);
        log_close(&g_ls);
    }
}

int cli_log_init(const char *format, const char *cmd)
{
    if (strcmp(format, "text") == 0)
        return 0;
    if (strcmp(format, "json") != 0) {
        cli_error("--log-format %s: expected text or json", format);
        return EXIT_USAGE;
    }
    cookie_io_functions_t io = {NULL, log_write, NULL, log_close};
    FILE *f = fopencookie(&g_ls, "w", io);
    if (!f)
        return EXIT_INTERNAL;
    setvbuf(f, NULL, _IONBF, 0);
    g_cmd = cmd ? cmd : "";
    g_fd = fileno(cli_raw_stderr());
    g_json = 1;
    fflush(stderr);
    stderr = g_log_file = f;
    atexit(log_flush_at_exit);
    return 0;
}

int cli_log_is_json(void)
{
    return g_json;
}

void cli_log(const char *level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    if (!g_json) {
        /* text: "msg key=value ..." */
        fputs(msg, stderr);
        const char *k;
        while ((k = va_arg(ap, const char *)) != NULL) {
            const char *v = va_arg(ap, const char *);
            fprintf(stderr, " %s=%s", k[0] == '#' ? k + 1 : k, v ? v : "");
        }
        fputc('\n', stderr);
        va_end(ap);
        return;
    }
    jbuf b = {0};
    jb_begin(&b, level);
    char *shown = cw_mask_secrets(NULL, msg);
    jb_put(&b, ",\"msg\":", 7);
    jb_str(&b, shown ? shown : CW_MASK, strlen(shown ? shown : CW_MASK));
    free(shown);
    jb_put(&b, ",\"fields\":{", 11);
    int nf = 0;
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        int raw = k[0] == '#';
        if (nf++)
            jb_put(&b, ",", 1);
        jb_str(&b, k + raw, strlen(k + raw));
        jb_put(&b, ":", 1);
        if (!v) {
            jb_put(&b, "null", 4);
        } else if (raw) {
            jb_put(&b, v, strlen(v));
        } else {
            char *m = cw_mask_secrets(NULL, v);
            jb_str(&b, m ? m : CW_MASK, strlen(m ? m : CW_MASK));
            free(m);
        }
    }
    va_end(ap);
    jb_end(&b, nf);
}
